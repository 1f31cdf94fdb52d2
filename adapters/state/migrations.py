"""The PostgreSQL schema of the shared state, as numbered versions applied in order.

A version is applied once, in a transaction with its row in ``schema_versions``; versions are only
ever added, never edited (a deployed database holds them). Several processes starting at once take
turns on a session advisory lock (:data:`LOCK_ID`): the first applies, the others find the work done.
"""

from __future__ import annotations

# pg_advisory_lock's key for migrations: any constant the deployment's other users of the database
# do not use ("lienthong" in ASCII, 8 bytes)
LOCK_ID = 0x6C69656E74686F6E
# pg_try_advisory_lock's key of the bus's leader (PostgresStateStore.leads): the one above plus one
LEADER_LOCK_ID = LOCK_ID + 1

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
    (
        3,
        """
        -- The portal connectors' sync state, per connector (its name) and dossier: a dossier whose
        -- partition moves to another process carries on there. The record and the collected
        -- datasets are JSON as the connector wrote them; due_at and finished_at are copies of the
        -- record's dates (yyyyMMddHHmmss) for the figures.
        CREATE TABLE portal_dossier (
            connector text NOT NULL,
            code text NOT NULL,
            agency text NOT NULL,
            status integer,
            record bytea,
            synced_digest text,
            pending_since double precision,
            event_time double precision NOT NULL,
            version integer NOT NULL DEFAULT 0,
            channel text,
            return_method text,
            due_at text COLLATE "C",
            finished_at text COLLATE "C",
            datasets bytea NOT NULL,
            components bytea NOT NULL,
            PRIMARY KEY (connector, code)
        );
        CREATE INDEX portal_dossier_event_time ON portal_dossier (connector, event_time);
        CREATE INDEX portal_dossier_pending ON portal_dossier (connector) WHERE pending_since IS NOT NULL;
        CREATE TABLE portal_applied (
            connector text NOT NULL,
            event_id text NOT NULL,
            code text NOT NULL,
            at double precision NOT NULL,
            PRIMARY KEY (connector, event_id)
        );
        CREATE TABLE portal_step (
            seq bigserial PRIMARY KEY,
            connector text NOT NULL,
            event_id text NOT NULL,
            code text NOT NULL,
            status integer NOT NULL,
            at text NOT NULL,
            UNIQUE (connector, event_id)
        );
        CREATE INDEX portal_step_code ON portal_step (connector, code);
        CREATE TABLE portal_accepted_move (
            connector text NOT NULL,
            code text NOT NULL,
            from_status integer NOT NULL,
            to_status integer NOT NULL,
            at double precision NOT NULL,
            official text NOT NULL,
            reason text NOT NULL,
            PRIMARY KEY (connector, code, from_status, to_status)
        );
        CREATE TABLE portal_unusual_move (
            seq bigserial PRIMARY KEY,
            connector text NOT NULL,
            event_id text NOT NULL,
            code text NOT NULL,
            from_status integer NOT NULL,
            to_status integer NOT NULL,
            at double precision NOT NULL,
            accepted boolean NOT NULL,
            UNIQUE (connector, event_id)
        );
        """,
    ),
    (
        4,
        """
        -- Console sessions ended by a sign-out, refused by every process until they expire
        CREATE TABLE console_revocations (
            session_id text PRIMARY KEY,
            expires_at double precision NOT NULL
        );
        CREATE INDEX console_revocations_expiry ON console_revocations (expires_at);
        """,
    ),
    (
        5,
        """
        -- The portal connectors' procedure catalogue, per connector: entries as JSON with the
        -- digest of what the portal said; withdrawn ones marked (gone_since), never deleted.
        CREATE TABLE portal_catalogue_procedure (
            connector text NOT NULL,
            code text NOT NULL,
            entry bytea NOT NULL,
            digest text NOT NULL,
            synced_at double precision NOT NULL,
            gone_since double precision,
            PRIMARY KEY (connector, code)
        );
        CREATE TABLE portal_catalogue_register (
            connector text NOT NULL,
            kind text NOT NULL,
            code text NOT NULL,
            entry bytea NOT NULL,
            digest text NOT NULL,
            gone_since double precision,
            PRIMARY KEY (connector, kind, code)
        );
        CREATE TABLE portal_catalogue_sync_run (
            connector text NOT NULL,
            at double precision NOT NULL,
            report bytea NOT NULL
        );
        CREATE TABLE portal_catalogue_last_sync (
            connector text PRIMARY KEY,
            at double precision NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- The attempts at a dossier's evidence collection while it is retried, per collector (its
        -- system): the partial result goes out on the last attempt, whichever process makes it.
        CREATE TABLE evidence_attempts (
            collector text NOT NULL,
            dossier text NOT NULL,
            attempts integer NOT NULL,
            first_at double precision NOT NULL,
            last_at double precision NOT NULL,
            PRIMARY KEY (collector, dossier)
        );
        CREATE INDEX evidence_attempts_last ON evidence_attempts (last_at);
        """,
    ),
    (
        7,
        """
        -- Subjects a purge of dead letters left with no letter at all: the process that holds one
        -- (on_dead_letter: hold_subject) lifts its hold when it reads it here. through_id is the
        -- highest letter id when the purge was made. A new letter of the subject deletes its row.
        CREATE TABLE dead_letter_purges (
            subscription text NOT NULL,
            subject text NOT NULL,
            through_id bigint NOT NULL,
            PRIMARY KEY (subscription, subject)
        );
        CREATE INDEX dead_letters_subject ON dead_letters (subscription, subject, id);
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
