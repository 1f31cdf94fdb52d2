"""PostgresAuditLog: the :class:`router.audit.AuditLog` port in the shared PostgreSQL database: one
hash chain for the whole deployment, whichever process writes.

The records, their keyed links and the verification are those of the SQLite log
(:mod:`adapters.audit.chain`, :class:`adapters.audit.verify.RowCheck`); what differs is who
serialises appends. Here the database does: an append is one transaction that locks the chain's head
row (``SELECT ... FOR UPDATE`` on ``audit_head``), links its records after it, inserts them and
moves the head. A second process's append waits on the row lock and links after the first, so the
chain stays one line however many processes write. Within a process, records arriving while an
append is in flight go together in the next transaction (group commit, as the SQLite log does).

A head under a retired chain key gets its rotation record inside the first append under the new
key, in the same locked transaction: two processes started with a new key at once rotate once.

Failures (the database unreachable, a statement timing out) reach the caller as
:class:`~router.audit.AuditUnavailable`: the data is withheld. Checkpoints (the signed head handed to
witnesses) are the SQLite log's alone for now: the keyed links protect these records against anyone
without the chain key, the checkpoints would add protection against whoever holds it.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from adapters.audit.chain import EMPTY, GENESIS, Anchor, ChainRow, Head, as_text, chain_row, link_v2
from adapters.audit.group_commit import GroupCommit
from adapters.audit.keys import KeyRing, KeyRingSource
from adapters.audit.metrics import AuditMetrics
from adapters.audit.queries import MAX_LIMIT
from adapters.audit.rotation import KeyEpochs, rotation_record
from adapters.audit.subjects import KeySource, SubjectHasher
from adapters.audit.verify import MAX_PROBLEMS, RowCheck, Verification
from adapters.state.postgres import PostgresStateStore
from router.audit import AccessRecord, AuditUnavailable, ChainProblem, StoredAccessRecord
from router.errors import ConfigError
from router.state import StateUnavailable

log = logging.getLogger("lienthong.audit")

_KEY_CHECK = "subject_key_check"
_LOG_ID = "log_id"
_INSERT = (
    "INSERT INTO access_records (seq, at_us, request_id, requester, official, dataset, subject_hash,"
    " purpose, procedure, dossier, outcome, provider, cache_hit, official_basis, key_id, previous_hash,"
    " hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
)
_READ = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, previous_hash, hash, official_basis FROM access_records"
)
_BY_SUBJECT = _READ + " WHERE subject_hash = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
_LATEST = _READ + " WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
_WALK = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, official_basis, key_id, previous_hash, hash"
    " FROM access_records ORDER BY seq"
)
_NO_BOUND = 1 << 62


class PostgresAuditLog:
    """The deployment's audit log in the state database of ``store`` (started by its owner)."""

    def __init__(
        self,
        store: PostgresStateStore,
        key: bytes | KeySource,
        chain_keys: KeyRing | KeyRingSource,
        *,
        metrics: AuditMetrics | None = None,
        write_timeout_s: float = 5.0,
    ) -> None:
        self._store = store
        self._key_source: KeySource = (lambda: key) if isinstance(key, bytes) else key
        self._ring_source: KeyRingSource = (
            (lambda: chain_keys) if isinstance(chain_keys, KeyRing) else chain_keys
        )
        self._hasher: SubjectHasher | None = None
        self._ring: KeyRing | None = None
        self.metrics = metrics or AuditMetrics()
        self.write_timeout_s = write_timeout_s
        self.log_id = ""
        self._head = EMPTY
        self._commits: GroupCommit[ChainRow] = GroupCommit(
            self._write, self.metrics, timeout_s=write_timeout_s, describe=_describe
        )
        self._started = False
        self._closed = False
        self.watchers: list[Callable[[Sequence[AccessRecord]], None]] = []

    @property
    def head(self) -> Head:
        """The chain's head as this process last wrote or read it."""
        return self._head

    async def start(self) -> None:
        """Checks the subject key against the database's, and that the head's chain key is held;
        ConfigError for a key problem, :class:`AuditUnavailable` when the database is away."""
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        if self._started:
            return
        hasher = SubjectHasher(self._key_source())
        ring = self._ring_source()
        try:
            async with self._store.connection() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO audit_meta (name, value) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING",
                    _KEY_CHECK,
                    hasher.check,
                    _LOG_ID,
                    secrets.token_hex(16),
                )
                meta = dict(await conn.fetch("SELECT name, value FROM audit_meta"))
                await conn.execute(
                    "INSERT INTO audit_head (id, seq, hash, key_id) VALUES (1, 0, $1, $2) ON CONFLICT DO NOTHING",
                    GENESIS,
                    ring.current.id,
                )
                head = await conn.fetchrow("SELECT seq, hash, key_id FROM audit_head WHERE id = 1")
        except StateUnavailable as error:
            raise AuditUnavailable(f"cannot open the audit log: {error.detail}") from None
        if meta[_KEY_CHECK] != hasher.check:
            raise ConfigError(
                "the audit log in the state database was written with another subject key: with this "
                "one, no earlier record could be found by its subject. Set the key it was written with"
            )
        seq, head_key = int(head["seq"]), str(head["key_id"])
        if seq > 0 and not ring.holds(head_key):
            raise ConfigError(
                f"the newest record of the audit log is linked under chain key {head_key}, which is not "
                f"among the keys given (current {ring.current.id}): give that key as the current key, or "
                "among the retired keys to rotate from it (docs/audit.md, Rotating the chain key)"
            )
        self.log_id = str(meta[_LOG_ID])
        self._head = Head(seq, str(head["hash"]))
        self._hasher, self._ring, self._started = hasher, ring, True
        self.metrics.head(seq)
        if seq > 0 and head_key != ring.current.id:
            await self.record([])  # the rotation record, before anything else
        log.info("audit log (log %s, in the state database) opened at head %s", self.log_id, self._head)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._commits.drain()

    # --- the AuditLog port -------------------------------------------------------------------

    async def record(self, records: Sequence[AccessRecord]) -> None:
        """Appends the records (none: only a rotation due, if any) in one locked transaction."""
        try:
            if not self._started or self._closed:
                raise AuditUnavailable("the audit log is not open")
            rows = [self._row(record) for record in records]
        except AuditUnavailable:
            self.metrics.failed()
            raise
        await self._commits.submit(rows)
        for watcher in self.watchers:
            watcher(records)

    async def for_subject(
        self, subject: str, *, limit: int = 100, before: int | None = None
    ) -> list[StoredAccessRecord]:
        digest = self._require_hasher()(subject)
        if not digest:
            return []
        return await self._read(_BY_SUBJECT, digest, _bound(before), _limit(limit))

    async def latest(self, limit: int = 50, *, before: int | None = None) -> list[StoredAccessRecord]:
        return await self._read(_LATEST, _bound(before), _limit(limit))

    async def verify(self) -> list[ChainProblem]:
        return (await self.check()).problems

    async def check(self, anchors: Sequence[Anchor] = (), max_problems: int = MAX_PROBLEMS) -> Verification:
        """The whole chain walked in one snapshot, a page at a time, against ``anchors``."""
        ring = self._ring if self._ring is not None else self._ring_source()
        result = Verification(format=2)
        check = RowCheck(result, ring.link, KeyEpochs(), anchors, max_problems)
        try:
            async with self._store.connection() as conn, conn.transaction(isolation="repeatable_read"):
                result.log_id = str(
                    await conn.fetchval("SELECT value FROM audit_meta WHERE name = $1", _LOG_ID) or ""
                )
                cursor = await conn.cursor(_WALK)
                while rows := await cursor.fetch(1000):
                    check.feed([tuple(row) for row in rows])
        except StateUnavailable as error:
            raise AuditUnavailable(f"cannot read the audit log: {error.detail}") from None
        return check.finish()

    async def healthy(self) -> bool:
        return self._started and not self._closed and await self._store.healthy()

    # --- writing ---------------------------------------------------------------------------

    def _row(self, record: AccessRecord) -> ChainRow:
        """A record as the writer needs it, checked here so that a bad one fails only its caller."""
        return chain_row(record, self._require_hasher(), refuse_nul=True)

    async def _write(self, rows: list[ChainRow]) -> None:
        head = await self._append(rows)
        self._head = head
        self.metrics.head(head.seq)

    async def _append(self, rows: list[ChainRow]) -> Head:
        """One transaction: the head locked, a rotation record first if the head is under another
        key, the rows linked after it, the head moved."""
        ring = self._require_ring()
        key = ring.current
        async with self._store.connection() as conn, conn.transaction():
            head = await conn.fetchrow("SELECT seq, hash, key_id FROM audit_head WHERE id = 1 FOR UPDATE")
            seq, previous, head_key = int(head["seq"]), str(head["hash"]), str(head["key_id"])
            if head_key != key.id and seq > 0:
                if not ring.holds(head_key):
                    raise AuditUnavailable(f"the audit log's head is under chain key {head_key}, not held")
                rows = [self._row(rotation_record(uuid.uuid4().hex, head_key, key.id)), *rows]
                log.warning("audit log: chain key %s replaced by %s", head_key, key.id)
            at_us = time.time_ns() // 1000
            params: list[tuple[Any, ...]] = []
            for texts, cache_hit, basis in rows:
                seq += 1
                digest = link_v2(key.secret, as_text(at_us, texts, cache_hit, key.id, basis), previous)
                params.append((seq, at_us, *texts, int(cache_hit), basis, key.id, previous, digest))
                previous = digest
            if params:
                await conn.executemany(_INSERT, params)
            await conn.execute(
                "UPDATE audit_head SET seq = $1, hash = $2, key_id = $3 WHERE id = 1", seq, previous, key.id
            )
        return Head(seq, previous)

    # --- reading ---------------------------------------------------------------------------

    def _require_ring(self) -> KeyRing:
        if self._ring is None:
            raise AuditUnavailable("the audit log is not open")
        return self._ring

    def _require_hasher(self) -> SubjectHasher:
        if self._hasher is None:
            raise AuditUnavailable("the audit log is not open")
        return self._hasher

    async def _read(self, query: str, *args: Any) -> list[StoredAccessRecord]:
        if not self._started or self._closed:
            raise AuditUnavailable("the audit log is not open")
        try:
            async with self._store.connection() as conn:
                rows = await conn.fetch(query, *args)
        except StateUnavailable as error:
            raise AuditUnavailable(f"cannot read the audit log: {error.detail}") from None
        return [_stored(row) for row in rows]


def _bound(before: int | None) -> int:
    return _NO_BOUND if before is None else min(before, _NO_BOUND)


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("limit must be positive")
    return min(limit, MAX_LIMIT)


def _stored(row: Any) -> StoredAccessRecord:
    return StoredAccessRecord(
        seq=int(row["seq"]),
        at=int(row["at_us"]) / 1e6,
        request_id=row["request_id"],
        requester=row["requester"],
        official=row["official"],
        dataset=row["dataset"],
        subject_hash=row["subject_hash"],
        purpose=row["purpose"],
        procedure=row["procedure"],
        dossier=row["dossier"],
        outcome=row["outcome"],
        provider=row["provider"],
        cache_hit=bool(row["cache_hit"]),
        previous_hash=row["previous_hash"],
        hash=row["hash"],
        official_basis=row["official_basis"],
    )


def _describe(error: Exception) -> str:
    """A write's failure for the log and the callers: the state store's own detail, when it is one."""
    return error.detail if isinstance(error, StateUnavailable) else repr(error)
