"""The tables of the embedded log and how connections to its file are opened.

Layout decisions, measured rather than guessed (bench/embedded_log.py, and its figures in
docs/benchmarks.md):

- A message's rowid is its position: ``(partition id << OFFSET_BITS) | offset``, where the
  partition id is the row of ``partitions``. So each partition is one contiguous rowid range of
  the ``messages`` b-tree: a fetch is a sequential range scan, retention deletes a range, and there
  is no secondary index to maintain on append. Event-sized rows (0.5-2 KiB) stay inline in a rowid
  table; in a WITHOUT ROWID table clustered on (topic, partition, offset) they spill to overflow
  pages, which measured 2-3x slower to append.
- The small, key-addressed tables (``dedup``, ``group_offsets``) are WITHOUT ROWID: one b-tree
  each, no rowid indirection.
- ``dedup`` holds the dedup ids within the retention window. Its entries are deleted together with
  the messages they name (``messages.dedup_id``), which lets retention expire them without a
  timestamp index that every append would have to maintain.
- ``partitions.next_offset_floor`` is only written when retention deletes messages: at startup a
  partition's next offset is max(floor, highest stored offset + 1), so offsets are never reused even
  when retention has emptied a partition, and appends never update a counter row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from adapters.private_files import create_private
from adapters.sqlite_wal import use_wal
from router.ports import TransportError

VERSION = 1

Durability = Literal["fsync", "os"]

# A message's rowid is (partition id << OFFSET_BITS) | offset: 2^21 partitions in a file, each with
# 2^42 offsets (over 13 years at 10,000 messages/s in one partition), within SQLite's signed 64 bits.
OFFSET_BITS = 42
MAX_OFFSET = (1 << OFFSET_BITS) - 1
MAX_PARTITION_ID = (1 << (63 - OFFSET_BITS)) - 1

# "fsync": every commit is fsynced to the write-ahead log, so an acknowledged append survives a power
# loss. "os": commits reach the operating system, which survives a crash or kill -9 of the process
# but not of the machine; the WAL is fsynced at checkpoints only.
_SYNCHRONOUS: dict[str, str] = {"fsync": "FULL", "os": "NORMAL"}
BUSY_TIMEOUT_S = 10.0

TABLES = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0)
);
CREATE TABLE IF NOT EXISTS partitions (
    id INTEGER PRIMARY KEY CHECK (id > 0 AND id < 2097152),
    topic_id INTEGER NOT NULL,
    partition_no INTEGER NOT NULL,
    next_offset_floor INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic_id, partition_no)
);
CREATE TABLE IF NOT EXISTS messages (
    position INTEGER PRIMARY KEY,  -- (partitions.id << 42) | offset
    ts INTEGER NOT NULL,
    msg_key TEXT NOT NULL,
    msg_value BLOB NOT NULL,
    headers BLOB NOT NULL,
    dedup_id TEXT
);
CREATE TABLE IF NOT EXISTS dedup (
    topic_id INTEGER NOT NULL,
    dedup_id TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no INTEGER NOT NULL,
    PRIMARY KEY (topic_id, dedup_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    partition_no INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    -- AUTOINCREMENT: ids are never reused, so list pagination (after_id) and replay stay stable.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    event_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_at_ms INTEGER NOT NULL,
    replayed_at_ms INTEGER,
    topic TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no INTEGER NOT NULL,
    msg_key TEXT NOT NULL,
    msg_value BLOB NOT NULL,
    msg_headers BLOB NOT NULL,
    msg_ts INTEGER NOT NULL,
    UNIQUE (subscription, event_id, topic, partition_no, offset_no)
);
CREATE INDEX IF NOT EXISTS dead_letters_held
    ON dead_letters (subscription, subject) WHERE replayed_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS dead_letters_subject ON dead_letters (subscription, subject);
-- Subjects a purge left with no letter at all: their holds ended (through_id: the highest letter
-- id when it was made). A new letter of the subject deletes its row.
CREATE TABLE IF NOT EXISTS dead_letter_purges (
    subscription TEXT NOT NULL,
    subject TEXT NOT NULL,
    through_id INTEGER NOT NULL,
    PRIMARY KEY (subscription, subject)
) WITHOUT ROWID;
"""


def connect(path: Path, durability: Durability, *, writer: bool) -> sqlite3.Connection:
    """Opens the log file; the writer also creates the tables. Raises TransportError."""
    try:
        create_private(path)  # events and dead letters: for the bus's user only
        # isolation_level=None: the writer issues BEGIN/COMMIT itself (group commit).
        conn = sqlite3.connect(path, isolation_level=None, cached_statements=128)
    except sqlite3.Error as exc:
        raise TransportError(f"cannot open the log {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if writer:
            mode = use_wal(conn, BUSY_TIMEOUT_S)
            if mode != "wal":
                raise TransportError(f"the log {path} cannot use write-ahead logging (journal mode {mode})")
        conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: the dedup index stays hot
        if writer:
            _migrate(conn, path)
        else:
            conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise TransportError(f"cannot open the log {path}: {exc}") from exc
    except TransportError:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, VERSION):
        raise TransportError(f"the log {path} has format version {version}; this build reads {VERSION}")
    conn.executescript(f"BEGIN IMMEDIATE; {TABLES} PRAGMA user_version = {VERSION}; COMMIT;")
