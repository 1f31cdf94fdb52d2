"""What ``lienthong audit verify`` checks, and what it says.

By default the log is checked against the latest checkpoint its witnesses hold: the configured
file witnesses are read, webhook witnesses are asked (GET), or the sources given with
``--checkpoints``; each checkpoint's signature is checked with the signing key's public key (the
one pinned in the configuration, ``--public-key``, or the signing key's own where it is at hand).
Then the chain is walked with the chain keys: every link must be an HMAC under a key of the log,
and the checkpointed head must still be there, unchanged. A log of format 1 has no keys and no
checkpoints: it is walked with SHA-256, and the report says what that cannot show.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.audit import checkpoints
from adapters.audit.chain import Anchor, Head, head_anchor
from adapters.audit.signing import PublicKey
from adapters.audit.tables import V1, AuditFileError
from adapters.audit.verify import Verification, log_id_of, verify_file
from adapters.audit.witnesses import default_witness_file
from adapters.state import PostgresStateStore
from adapters.state.postgres_audit import PostgresAuditLog
from lienthong.audit_wiring import chain_keys, signer
from lienthong.config import Settings
from router.audit import AuditUnavailable
from router.errors import ConfigError

SHOWN_PROBLEMS = 100
READ_TIMEOUT_S = 10.0
# the most read of a witness's answer to GET (docs/audit.md, "The witness protocol"): some hundred
# thousand checkpoints; a longer answer is refused rather than read into memory
MAX_CHECKPOINTS_BYTES = 64 * 1024 * 1024
_CHAIN_ALONE = "--no-checkpoints checks the chain alone"


class CannotCheck(Exception):
    """The log could not be checked (exit 2): the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Request:
    database: Path
    named_file: bool  # --file given: the configured witnesses may be another log's
    head: Head | None = None
    sources: tuple[str, ...] = ()  # --checkpoints
    no_checkpoints: bool = False
    public_key: str | None = None


@dataclass(slots=True)
class Report:
    lines: list[str] = field(default_factory=list)  # problems and notes, for stdout
    summary: str = ""
    code: int = 0


def verify(settings: Settings, request: Request) -> Report:
    path = request.database
    try:
        version, log_id = log_id_of(path)
    except (sqlite3.Error, AuditFileError) as error:
        raise CannotCheck(f"cannot read the audit log {path}: {error}") from None
    anchors: list[Anchor] = [head_anchor(request.head)] if request.head is not None else []
    notes: list[str] = []
    witness_problems: list[str] = []
    latest: checkpoints.Witnessed | None = None
    unwitnessed = ""  # why no checkpoint counts, when the witnesses were read and none does
    if version == V1:
        notes.append(
            "note: a log of format 1: a plain SHA-256 chain, which whoever can write the file can "
            "recompute; it has no keys and no checkpoints (docs/audit.md, Logs of format 1)"
        )
        keys = None
    else:
        try:
            keys = chain_keys(settings.audit, path, create=False)()
        except ConfigError as error:
            raise CannotCheck(f"cannot check the chain without its keys: {error}") from None
        if request.no_checkpoints:
            notes.append(
                "note: not checked against a checkpoint (--no-checkpoints): its newest records could "
                "have been removed unnoticed"
            )
        else:
            reading = _reading(settings, request, log_id)
            witness_problems += reading.problems
            notes += [f"note: {note}" for note in reading.notes]
            latest = reading.latest
            if latest is not None:
                anchors.append(Anchor(latest.checkpoint.head, latest.name))
            else:
                unwitnessed = _none_found(log_id, reading)
    try:
        result = verify_file(path, keys=keys, anchors=anchors)
    except (sqlite3.Error, AuditFileError) as error:
        raise CannotCheck(f"cannot read the audit log {path}: {error}") from None
    if unwitnessed and result.records:  # an empty log has nothing to lose
        witness_problems.append(unwitnessed)
    return _report(path, result, latest, witness_problems, notes)


def _none_found(log_id: str, reading: checkpoints.Reading) -> str:
    because = (
        f"the witnesses hold {reading.other_logs} checkpoint(s) of other logs only: this log was "
        "replaced, or its checkpoints go elsewhere (--checkpoints)"
        if reading.other_logs
        else "the witnesses never took one, or what they held was removed"
    )
    return f"no checkpoint of this log (id {log_id}) with a valid signature: {because}"


def _reading(settings: Settings, request: Request, log_id: str) -> checkpoints.Reading:
    keys = _public_keys(settings, request)
    sources = request.sources or _default_sources(settings, request)
    return checkpoints.read([_read(source, log_id) for source in sources], log_id, keys)


def _public_keys(settings: Settings, request: Request) -> list[PublicKey]:
    text = request.public_key or settings.audit.checkpoints.public_key
    if text is not None:
        try:
            return [PublicKey.parse(text)]
        except ValueError as error:
            raise CannotCheck(f"--public-key: {error}") from None
    try:
        return [signer(settings.audit, request.database, create=False)().public]
    except ConfigError as error:
        raise CannotCheck(
            f"cannot check the checkpoints' signatures without the public key: {error}. Pin it "
            f"(audit.checkpoints.public_key), give --public-key, or {_CHAIN_ALONE}"
        ) from None


def _default_sources(settings: Settings, request: Request) -> list[str]:
    audit = settings.audit
    if request.named_file and request.database.resolve() != audit.path.resolve():
        # another log than the configured one: its checkpoints are beside it, if anywhere
        return [str(default_witness_file(request.database))]
    return [str(w.path) if w.kind == "file" else w.url for w in audit.checkpoints.witnesses] or [
        str(default_witness_file(audit.path))
    ]


def _read(source: str, log_id: str) -> tuple[str, str]:
    """A witness's checkpoints as text: a file's lines, or a webhook witness's answer to GET."""
    fix = f"give --checkpoints FILE|URL, or {_CHAIN_ALONE}"
    if source.startswith(("http://", "https://")):
        try:
            return source, _get(source, log_id)
        except httpx.HTTPError as error:
            raise CannotCheck(f"cannot read the checkpoints at {source}: {error}; {fix}") from None
        except CannotCheck as error:
            raise CannotCheck(f"cannot read the checkpoints at {source}: {error}; {fix}") from None
    try:
        return source, Path(source).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CannotCheck(f"cannot read the checkpoints in {source}: {reason}; {fix}") from None


def _get(url: str, log_id: str) -> str:
    """A witness's answer to GET, read no further than ``MAX_CHECKPOINTS_BYTES``."""
    with httpx.stream("GET", url, params={"log": log_id}, timeout=READ_TIMEOUT_S) as response:
        if response.status_code != 200:
            raise CannotCheck(f"it answered {response.status_code}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_CHECKPOINTS_BYTES:
                raise CannotCheck(f"its answer is larger than {MAX_CHECKPOINTS_BYTES} bytes")
        return body.decode(response.encoding or "utf-8", errors="replace")


def verify_shared(settings: Settings, head: Head | None) -> Report:
    """The deployment's one chain in the state database (``state.postgres``), walked with the
    chain keys; against ``head`` when given. It has no checkpoints (docs/audit.md)."""
    postgres = settings.state.postgres
    assert postgres is not None
    try:
        keys = chain_keys(settings.audit, settings.audit.path, create=False)
        keys()
    except ConfigError as error:
        raise CannotCheck(f"cannot check the chain without its keys: {error}") from None

    async def walk() -> Verification:
        store = PostgresStateStore(postgres.dsn, pool_size=1, timeout_s=postgres.timeout_s)
        try:
            log = PostgresAuditLog(store, b"", keys)
            return await log.check([head_anchor(head)] if head is not None else [])
        finally:
            await store.close()

    try:
        result = asyncio.run(walk())
    except AuditUnavailable as error:
        raise CannotCheck(str(error.detail)) from None
    note = (
        "note: the shared log in PostgreSQL has no witnessed checkpoints yet: keep the head this "
        "prints and give it to the next verify (--head) to show that nothing after it was removed"
    )
    return _report(f"the audit log in the state database ({postgres.dsn_env})", result, None, [], [note])


def _report(
    path: Path | str,
    result: Verification,
    latest: checkpoints.Witnessed | None,
    witness_problems: list[str],
    notes: list[str],
) -> Report:
    report = Report(lines=list(notes))
    # in the order of the records they name (a run's summary comes at its end, a head's check at it)
    shown = sorted(result.problems[:SHOWN_PROBLEMS], key=lambda problem: problem.seq)
    report.lines += [f"record {problem.seq}: {problem.detail}" for problem in shown]
    if result.problem_count > len(shown):
        report.lines.append(f"... and {result.problem_count - len(shown)} more problems")
    report.lines += [f"checkpoints: {problem}" for problem in witness_problems]
    if result.intact and not witness_problems:
        matched = f"; it holds {latest.name}" if latest is not None else ""
        report.summary = f"{path}: {result.records} records, chain intact; head {result.head}{matched}"
        return report
    report.code = 1
    count, witnessed = result.problem_count, len(witness_problems)
    with_checkpoints = f" and {witnessed} with its checkpoints" if witnessed else ""
    if count:
        report.summary = (
            f"{path}: the chain is broken ({count} problem{'' if count == 1 else 's'} in "
            f"{result.records} records){with_checkpoints}"
        )
    else:
        report.summary = (
            f"{path}: {result.records} records, chain intact, but its checkpoints are not sound "
            f"({witnessed} problem{'' if witnessed == 1 else 's'})"
        )
    return report
