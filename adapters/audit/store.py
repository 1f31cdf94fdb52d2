"""SqliteAuditLog: the :class:`router.audit.AuditLog` port over one SQLite file, hash-chained.

Who does what (the embedded log's threads, :mod:`adapters.embedded.writer` and
:mod:`~adapters.embedded.reader`, reused):

- The event loop never touches SQLite. Records are appended by the writer thread; reads (a
  subject's records, the latest) go to the reader thread, and a chain check to a thread of its own.
- Group commit (:mod:`~adapters.audit.group_commit`): records arriving while a write is in
  flight go to the writer together, as one job, one transaction, one fsync. Only one append is
  ever in flight, so the chain's head (the last number and hash, kept by the writer thread) needs
  no locking; a failing write (disk full, database locked past ``busy_timeout_s``) reaches the
  callers as :class:`~router.audit.AuditUnavailable`, and a caller waits at most
  ``write_timeout_s``.
- Health: the writer thread runs, and the last write succeeded. After a failure, each health
  check tries a small write (the probe) until one succeeds, so the store recovers by itself when
  the disk is freed or the lock released.

- Keys: each record is linked with an HMAC under the current chain key (:mod:`~adapters.audit.keys`),
  never stored in the file. A log whose newest record is under a retired key gets a rotation
  record first (:mod:`~adapters.audit.rotation`).
- Checkpoints: the head is signed and handed to the witnesses when the log opens, every so many
  records or seconds, and when it closes (:mod:`~adapters.audit.publisher`); a witness that is
  away is retried and never holds up a record.

One process per file (the embedded log's advisory lock), since the chain's head is in memory.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from adapters.audit import queries
from adapters.audit.chain import EMPTY, Anchor, ChainRow, Head, as_text, chain_row, link_v2
from adapters.audit.group_commit import GroupCommit
from adapters.audit.keys import KeyRing, KeyRingSource, chain_key_source
from adapters.audit.metrics import AuditMetrics
from adapters.audit.publisher import CheckpointPolicy, CheckpointPublisher
from adapters.audit.rotation import rotation_record
from adapters.audit.signing import PublicKey, SignerSource, signing_key_source
from adapters.audit.subjects import KeySource, SubjectHasher
from adapters.audit.tables import VERSION, AuditFileError, connect
from adapters.audit.verify import Verification, verify_file
from adapters.audit.witnesses import FileWitness, Witness, default_witness_file
from adapters.embedded.lock import ProcessLock
from adapters.embedded.reader import Reader
from adapters.embedded.writer import Txn, Writer
from router.audit import AccessRecord, AuditUnavailable, ChainProblem, StoredAccessRecord
from router.errors import ConfigError
from router.ports import TransportError

log = logging.getLogger("lienthong.audit")

_KEY_CHECK = "subject_key_check"
LOG_ID = "log_id"
_INSERT = (
    "INSERT INTO access_records (seq, at_us, request_id, requester, official, dataset, subject_hash,"
    " purpose, procedure, dossier, outcome, provider, cache_hit, official_basis, key_id, previous_hash,"
    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PROBE = "INSERT INTO meta (name, value) VALUES ('probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
_HEAD = "SELECT seq, hash, key_id FROM access_records ORDER BY seq DESC LIMIT 1"
_Query = Callable[[sqlite3.Connection], list[StoredAccessRecord]]


class Checkpointing:
    """How the store's head is checkpointed: the signing key (or where to get it at start), the
    witnesses, when; ``public_key``, when pinned in the configuration, must be the signing key's."""

    def __init__(
        self,
        signer: SignerSource,
        witnesses: Sequence[Witness],
        policy: CheckpointPolicy | None = None,
        public_key: PublicKey | None = None,
    ) -> None:
        self.signer = signer
        self.witnesses = tuple(witnesses)
        self.policy = policy or CheckpointPolicy()
        self.public_key = public_key

    @classmethod
    def beside(cls, database: Path, policy: CheckpointPolicy | None = None) -> Checkpointing:
        """A signing key file and a witness file beside the database: for tests and trials."""
        return cls(
            signing_key_source(database, "LIENTHONG_AUDIT_SIGNING_KEY", environ={}),
            [FileWitness(default_witness_file(database))],
            policy,
        )


class SqliteAuditLog:
    """The audit log of one process, in the SQLite file at ``path``.

    ``key`` is the secret that subjects are hashed with, or where to get it at :meth:`start`
    (:func:`adapters.audit.subjects.subject_key_source`); ``chain_keys`` the chain keys, or where
    to get them (default: the key file beside the database); ``checkpoints`` the signing key and
    the witnesses (default: :meth:`Checkpointing.beside`)."""

    def __init__(
        self,
        path: Path,
        key: bytes | KeySource,
        *,
        chain_keys: KeyRing | KeyRingSource | None = None,
        checkpoints: Checkpointing | None = None,
        metrics: AuditMetrics | None = None,
        busy_timeout_s: float = 2.0,
        write_timeout_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self._key_source: KeySource = (lambda: key) if isinstance(key, bytes) else key
        self._hasher: SubjectHasher | None = None
        if chain_keys is None:
            chain_keys = chain_key_source(
                self.path, "LIENTHONG_AUDIT_CHAIN_KEY", "LIENTHONG_AUDIT_RETIRED_CHAIN_KEYS", environ={}
            )
        self._ring_source: KeyRingSource = (
            (lambda: chain_keys) if isinstance(chain_keys, KeyRing) else chain_keys
        )
        self._ring: KeyRing | None = None
        self._checkpointing = checkpoints or Checkpointing.beside(self.path)
        self._publisher: CheckpointPublisher | None = None
        self.log_id = ""
        self.metrics = metrics or AuditMetrics()
        self.write_timeout_s = write_timeout_s
        self._lock = ProcessLock(self.path)
        self._writer = Writer(
            partial(connect, self.path, busy_timeout_s=busy_timeout_s, writer=True),
            name="lienthong-audit-writer",
        )
        self._reader = Reader(
            partial(connect, self.path, busy_timeout_s=busy_timeout_s, writer=False, readable=(VERSION,)),
            name="lienthong-audit-reader",
        )
        self._head = EMPTY  # the writer thread's, once started
        self._commits: GroupCommit[ChainRow] = GroupCommit(
            self._write, self.metrics, timeout_s=write_timeout_s
        )
        self._started = False
        self._closed = False
        # told of the records once written (lienthong_caller_distinct_subjects counts the reads)
        self.watchers: list[Callable[[Sequence[AccessRecord]], None]] = []

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Opens (or creates) the file; raises :class:`AuditUnavailable` if it cannot, and
        ConfigError for a key problem (missing, too short, not the one the log was written with)."""
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        if self._started:
            return
        hasher = SubjectHasher(self._key_source())
        ring = self._ring_source()
        signer = self._checkpointing.signer()
        pinned = self._checkpointing.public_key
        if pinned is not None and pinned.id != signer.public.id:
            raise ConfigError(
                f"the audit signing key's public key is {signer.public.text}, not the one the "
                "configuration pins (audit.checkpoints.public_key): witnesses and verify would refuse "
                "its checkpoints. Set the signing key that goes with it, or pin this key"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except (OSError, TransportError) as error:
            raise AuditUnavailable(f"cannot open the audit log {self.path}: {error}") from error
        self._ring = ring
        try:
            _, head_key = await self._writer.start(partial(self._open, hasher.check, ring))
        except ConfigError:
            self._lock.release()
            raise
        except Exception as error:
            self._lock.release()
            raise AuditUnavailable(f"cannot open the audit log {self.path}: {error}") from error
        self._hasher = hasher
        self._started = True
        if head_key != ring.current.id:
            await self._rotate(head_key, ring.current.id)
        self.metrics.head(self._head.seq)
        self._publisher = CheckpointPublisher(
            signer, self._checkpointing.witnesses, self._checkpointing.policy, self.metrics
        )
        self._publisher.start(self.log_id, self._head, ring.current.id)
        # The head in the process's log, besides the checkpoint the witnesses are handed.
        log.info("audit log %s (log %s) opened at head %s", self.path, self.log_id, self._head)

    async def _rotate(self, old: str, new: str) -> None:
        """The rotation record, linked under the new key, before anything else is written."""
        try:
            await self.record([rotation_record(uuid.uuid4().hex, old, new)])
        except AuditUnavailable:
            await self.close()
            raise
        log.warning("audit log %s: chain key %s replaced by %s", self.path, old, new)

    async def close(self) -> None:
        """Writes what was handed over so far, then stops the threads."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        await self._commits.drain()
        try:
            await self._writer.close()
            await self._reader.close()
            if self._publisher is not None:
                await self._publisher.close()  # the last head, checkpointed
        finally:
            self._lock.release()
        log.info("audit log %s closed at head %s", self.path, self._head)

    # --- the AuditLog port -------------------------------------------------------------------

    async def record(self, records: Sequence[AccessRecord]) -> None:
        if not records:
            return
        try:
            rows = [self._row(record) for record in records]
            if not self._started or self._closed:
                raise AuditUnavailable(f"the audit log {self.path} is not open")
        except AuditUnavailable:
            self.metrics.failed()
            raise
        await self._commits.submit(rows)
        for watcher in self.watchers:
            watcher(records)

    async def for_subject(
        self, subject: str, *, limit: int = 100, before: int | None = None
    ) -> list[StoredAccessRecord]:
        """The records about ``subject`` numbered below ``before`` (all when None), newest first."""
        digest = self._require_hasher()(subject)
        if not digest:
            return []
        return await self._read(partial(queries.records, subject_hash=digest, limit=limit, before=before))

    async def latest(self, limit: int = 50, *, before: int | None = None) -> list[StoredAccessRecord]:
        return await self._read(partial(queries.records, subject_hash=None, limit=limit, before=before))

    async def verify(self) -> list[ChainProblem]:
        return (await self.check()).problems

    async def check(self, anchors: Sequence[Anchor] = ()) -> Verification:
        """The whole chain checked, on a thread of its own (reads continue meanwhile), against
        ``anchors`` and the latest checkpoint this process signed."""
        ring = self._ring if self._ring is not None else self._ring_source()
        latest = self._publisher.latest if self._publisher is not None else None
        if latest is not None:
            anchors = [*anchors, Anchor(latest.head, f"checkpoint {latest.seq} (signed at {latest.when})")]
        try:
            return await asyncio.to_thread(verify_file, self.path, keys=ring, anchors=anchors)
        except (sqlite3.Error, AuditFileError) as error:
            raise AuditUnavailable(f"cannot read the audit log {self.path}: {error}") from error

    async def healthy(self) -> bool:
        """The writer runs and can write: after a failed write, a probe write must succeed."""
        if not self._started or self._closed or not self._writer.alive:
            return False
        if not self._commits.last_failed:
            return True
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await self._writer.submit(_probe)
        except (TransportError, TimeoutError):
            return False
        self._commits.last_failed = False
        return True

    @property
    def head(self) -> Head:
        """The chain's head as of the last commit."""
        return self._head

    # --- writing ---------------------------------------------------------------------------

    def _row(self, record: AccessRecord) -> ChainRow:
        """A record as the writer needs it, checked here so that a bad one fails only its caller."""
        return chain_row(record, self._require_hasher())

    async def _write(self, rows: list[ChainRow]) -> None:
        """One job of the writer thread: the rows appended in one transaction."""
        await self._writer.submit(partial(self._append, rows))

    def _append(self, rows: list[ChainRow], txn: Txn) -> None:
        """Writer thread: numbers and links the rows after the head, under the current chain key,
        and inserts them."""
        key = self._require_ring().current
        key_id = key.id
        seq, previous = self._head.seq, self._head.hash
        at_us = time.time_ns() // 1000
        params = []
        for texts, cache_hit, basis in rows:
            seq += 1
            digest = link_v2(key.secret, as_text(at_us, texts, cache_hit, key_id, basis), previous)
            params.append((seq, at_us, *texts, int(cache_hit), basis, key_id, previous, digest))
            previous = digest
        txn.conn.executemany(_INSERT, params)
        head = Head(seq, previous)
        txn.after_commit(partial(setattr, self, "_head", head))
        txn.in_loop(partial(self._committed, head, key_id))

    def _committed(self, head: Head, key_id: str) -> None:
        """Event loop, after a commit: the head may be due for a checkpoint."""
        self.metrics.head(head.seq)
        if self._publisher is not None:
            self._publisher.advanced(head, key_id)

    def _open(self, key_check: str, ring: KeyRing, conn: sqlite3.Connection) -> tuple[Head, str]:
        """Writer thread, first thing: the subject key is the log's own, the chain key of its
        newest record is held; the log's id, where the chain ends and under which key."""
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (_KEY_CHECK,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (_KEY_CHECK, key_check))
        elif row[0] != key_check:
            raise ConfigError(
                f"the audit log {self.path} was written with another subject key: with this one, no "
                "earlier record could be found by its subject. Set the key it was written with, or "
                "move the file away to start a new log (keep it: it still verifies)"
            )
        found = conn.execute("SELECT value FROM meta WHERE name = ?", (LOG_ID,)).fetchone()
        if found is None:
            self.log_id = secrets.token_hex(16)
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (LOG_ID, self.log_id))
        else:
            self.log_id = str(found[0])
        last = conn.execute(_HEAD).fetchone()
        if last is None:
            self._head = EMPTY
            return self._head, ring.current.id
        self._head, head_key = Head(int(last[0]), str(last[1])), str(last[2])
        if not ring.holds(head_key):
            raise ConfigError(
                f"the newest record of the audit log {self.path} is linked under chain key {head_key}, "
                f"which is not among the keys given (current {ring.current.id}): give that key as the "
                "current key, or among the retired keys to rotate from it (docs/audit.md, Rotating "
                "the chain key)"
            )
        return self._head, head_key

    # --- reading ---------------------------------------------------------------------------

    def _require_ring(self) -> KeyRing:
        if self._ring is None:
            raise AuditUnavailable(f"the audit log {self.path} is not open")
        return self._ring

    def _require_hasher(self) -> SubjectHasher:
        if self._hasher is None:
            raise AuditUnavailable(f"the audit log {self.path} is not open")
        return self._hasher

    async def _read(self, query: _Query) -> list[StoredAccessRecord]:
        if not self._started or self._closed:
            raise AuditUnavailable(f"the audit log {self.path} is not open")
        try:
            return await self._reader.run(query)
        except TransportError as error:
            raise AuditUnavailable(f"cannot read the audit log: {error}") from error


def _probe(txn: Txn) -> None:
    txn.conn.execute(_PROBE, (str(time.time_ns()),))
