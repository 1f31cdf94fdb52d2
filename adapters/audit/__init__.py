"""The audit store: access records in a keyed chain in one SQLite file, its head checkpointed to
witnesses (docs/audit.md)."""

from adapters.audit.chain import Anchor, Head
from adapters.audit.metrics import AuditMetrics
from adapters.audit.store import Checkpointing, SqliteAuditLog
from adapters.audit.subjects import subject_key_source
from adapters.audit.verify import Verification, verify_file

__all__ = [
    "Anchor",
    "AuditMetrics",
    "Checkpointing",
    "Head",
    "SqliteAuditLog",
    "Verification",
    "subject_key_source",
    "verify_file",
]
