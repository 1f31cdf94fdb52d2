"""The PostgreSQL schema of the shared state, as numbered versions applied in order.

A version is applied once, in a transaction with its row in ``schema_versions``; versions are only
ever added, never edited (a deployed database holds them). Several processes starting at once take
turns on a session advisory lock (:data:`LOCK_ID`): the first applies, the others find the work done.
"""

from __future__ import annotations

# pg_advisory_lock's key for migrations: any constant the deployment's other users of the database
# do not use ("lienthong" in ASCII, 8 bytes)
LOCK_ID = 0x6C69656E74686F6E

VERSIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        -- Publish dedup: one row per (topic, dedup id) claimed; settled once appended (where it
        -- landed), expired after the retention window.
        CREATE TABLE publish_dedup (
            topic text NOT NULL,
            dedup_id text NOT NULL,
            claimant text NOT NULL,
            claimed_at timestamptz NOT NULL,
            settled_at timestamptz,
            partition_no integer,
            offset_no bigint,
            PRIMARY KEY (topic, dedup_id)
        );
        CREATE INDEX publish_dedup_settled ON publish_dedup (settled_at);

        -- The audit log: one chain for the deployment. The head row is what appends lock
        -- (SELECT ... FOR UPDATE), so that appends from every process are serialised.
        CREATE TABLE audit_meta (name text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE audit_head (
            id smallint PRIMARY KEY CHECK (id = 1),
            seq bigint NOT NULL,
            hash text NOT NULL,
            key_id text NOT NULL
        );
        CREATE TABLE access_records (
            seq bigint PRIMARY KEY,
            at_us bigint NOT NULL,
            request_id text NOT NULL,
            requester text NOT NULL,
            official text NOT NULL,
            dataset text NOT NULL,
            subject_hash text NOT NULL,
            purpose text NOT NULL,
            procedure text NOT NULL,
            dossier text NOT NULL,
            outcome text NOT NULL,
            provider text NOT NULL,
            cache_hit smallint NOT NULL,
            official_basis text NOT NULL,
            key_id text NOT NULL,
            previous_hash text NOT NULL,
            hash text NOT NULL
        );
        CREATE INDEX access_records_subject ON access_records (subject_hash, seq);
        """,
    ),
    (
        2,
        """
        -- Delivery dead letters of every process, each with a copy of its message (the topic's
        -- retention does not take them). Unique per (subscription, event, message position): a
        -- worker that dead-letters again after a crash adds nothing.
        CREATE TABLE dead_letters (
            id bigserial PRIMARY KEY,
            subscription text NOT NULL,
            event_id text NOT NULL,
            subject text NOT NULL,
            reason text NOT NULL,
            attempts integer NOT NULL,
            last_error text NOT NULL,
            failed_at_ms bigint NOT NULL,
            replayed_at_ms bigint,
            topic text NOT NULL,
            partition_no integer NOT NULL,
            offset_no bigint NOT NULL,
            msg_key text NOT NULL,
            msg_value bytea NOT NULL,
            msg_headers bytea NOT NULL,
            msg_ts bigint NOT NULL,
            UNIQUE (subscription, event_id, topic, partition_no, offset_no)
        );
        CREATE INDEX dead_letters_held ON dead_letters (subscription, subject) WHERE replayed_at_ms IS NULL;
        """,
    ),
)

CURRENT = VERSIONS[-1][0]

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_versions (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
