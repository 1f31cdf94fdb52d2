"""The audit database: its tables, and how connections to it are opened.

One table of records, numbered in chain order (``seq``, assigned by the writer from the chain's
head, never by SQLite), an index to find a subject's records newest first, and a small ``meta``
table (the log's id, the subject key's check value, the health probe). Commits are fsynced
(``synchronous=FULL``, WAL): a record the store has acknowledged survives a power loss.

The file's format version is SQLite's ``user_version``: 2 since records are keyed (a ``key_id``
column, HMAC links: :mod:`adapters.audit.chain`). The ``official_basis`` column (how the bus knows
the official: a verified token's issuer, or asserted) is added to a file of format 2 that lacks
it when the writer opens it; readers of such a file read it as empty, which is what its records'
links cover. A file of format 1 is still read (verified,
shown) but never written: its chain is plain SHA-256, and the store refuses to extend it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.private_files import create_private
from adapters.sqlite_wal import use_wal

VERSION = 2
V1 = 1
READABLE = (V1, VERSION)

TABLES = """
CREATE TABLE IF NOT EXISTS access_records (
    seq INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    requester TEXT NOT NULL,
    official TEXT NOT NULL,
    dataset TEXT NOT NULL,
    subject_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    procedure TEXT NOT NULL,
    dossier TEXT NOT NULL,
    outcome TEXT NOT NULL,
    provider TEXT NOT NULL,
    cache_hit INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    official_basis TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS access_records_by_subject ON access_records (subject_hash, seq);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


class AuditFileError(Exception):
    """The audit database cannot be opened or is not one this build reads."""


def connect(
    path: Path, *, busy_timeout_s: float, writer: bool, readable: tuple[int, ...] = READABLE
) -> sqlite3.Connection:
    """A connection to the audit database; the writer's creates the tables (and the file). A
    reader accepts the format versions in ``readable`` (:func:`version_of` tells which)."""
    if writer:
        create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    else:
        # Readers never create the file: a mistyped path is an error, not an empty log.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(1, int(busy_timeout_s * 1000))}")
        if writer:
            mode = use_wal(conn, busy_timeout_s)
            if mode != "wal":
                raise AuditFileError(f"the audit log {path} cannot use write-ahead logging ({mode})")
            conn.execute("PRAGMA synchronous = FULL")
            _migrate(conn, path)
        else:
            version = version_of(conn)
            if version not in readable:
                raise AuditFileError(f"{path} is not an audit log of this build (format version {version})")
    except BaseException:
        conn.close()
        raise
    return conn


def version_of(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = version_of(conn)
    if version == V1:
        raise AuditFileError(
            f"the audit log {path} is of format 1, a plain SHA-256 chain that anyone who can write the "
            f"file can recompute; this build writes format 2 (keyed) only. Move it aside (lienthong "
            "audit verify --file <it> still checks it; keep it as long as the law requires) and start "
            "again: a new log is made (docs/audit.md, Logs of format 1)"
        )
    if version not in (0, VERSION):
        raise AuditFileError(
            f"the audit log {path} has format version {version}; this build writes {VERSION}"
        )
    conn.executescript(f"BEGIN IMMEDIATE; {TABLES} PRAGMA user_version = {VERSION}; COMMIT;")
    if not has_official_basis(conn):
        conn.execute("ALTER TABLE access_records ADD COLUMN official_basis TEXT NOT NULL DEFAULT ''")


def has_official_basis(conn: sqlite3.Connection) -> bool:
    """Whether the records table has the ``official_basis`` column (format 2 files may lack it)."""
    return any(row[1] == "official_basis" for row in conn.execute("PRAGMA table_info(access_records)"))


def official_basis_column(conn: sqlite3.Connection) -> str:
    """The ``official_basis`` column for a SELECT, empty text for a file without it."""
    return "official_basis" if has_official_basis(conn) else "'' AS official_basis"
