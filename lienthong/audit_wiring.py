"""The audit store from the ``audit:`` settings: where its keys come from, its witnesses, when it
checkpoints. The bus (lienthong.runtime) and ``lienthong audit`` read the keys the same way."""

from __future__ import annotations

from pathlib import Path

from adapters.audit import AuditMetrics, Checkpointing, SqliteAuditLog, subject_key_source
from adapters.audit.keys import KeyRingSource, chain_key_source
from adapters.audit.publisher import CheckpointPolicy
from adapters.audit.signing import PublicKey, SignerSource, signing_key_source
from adapters.audit.witnesses import FileWitness, WebhookWitness, Witness, default_witness_file
from adapters.state import PostgresStateStore
from adapters.state.postgres_audit import PostgresAuditLog
from lienthong.config.settings import AuditSettings


def chain_keys(audit: AuditSettings, database: Path, *, create: bool) -> KeyRingSource:
    return chain_key_source(database, audit.chain_key_env, audit.retired_chain_keys_env, create=create)


def signer(audit: AuditSettings, database: Path, *, create: bool) -> SignerSource:
    return signing_key_source(database, audit.checkpoints.signing_key_env, create=create)


def pinned_key(audit: AuditSettings) -> PublicKey | None:
    text = audit.checkpoints.public_key
    return None if text is None else PublicKey.parse(text)


def witnesses(audit: AuditSettings) -> list[Witness]:
    found: list[Witness] = []
    for witness in audit.checkpoints.witnesses:
        if witness.kind == "file" and witness.path is not None:
            found.append(FileWitness(witness.path, witness.name))
        elif witness.kind == "webhook":
            found.append(
                WebhookWitness(
                    witness.url, timeout_s=witness.timeout_s, headers=dict(witness.headers), name=witness.name
                )
            )
    return found or [FileWitness(default_witness_file(audit.path))]


def audit_log(audit: AuditSettings, metrics: AuditMetrics) -> SqliteAuditLog:
    """The store (not started). Keys in the environment that are too short fail here (ConfigError)."""
    checkpoints = Checkpointing(
        signer(audit, audit.path, create=True),
        witnesses(audit),
        CheckpointPolicy(
            every_records=audit.checkpoints.every_records, interval_s=audit.checkpoints.interval_s
        ),
        pinned_key(audit),
    )
    return SqliteAuditLog(
        audit.path,
        subject_key_source(audit.path, audit.subject_key_env),
        chain_keys=chain_keys(audit, audit.path, create=True),
        checkpoints=checkpoints,
        metrics=metrics,
    )


def shared_audit_log(
    audit: AuditSettings, store: PostgresStateStore, metrics: AuditMetrics
) -> PostgresAuditLog:
    """The deployment's audit log in the state database (``state.postgres``). Its keys come from
    the environment, as every process needs the same: a key file beside one process's
    ``audit.path`` is read if present, never created (a key made by one process would be
    another's mismatch)."""
    return PostgresAuditLog(
        store,
        subject_key_source(audit.path, audit.subject_key_env, create=False),
        chain_keys(audit, audit.path, create=False),
        metrics=metrics,
    )
