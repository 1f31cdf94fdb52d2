"""The audit store: access records in a hash chain in one SQLite file (docs/audit.md)."""

from adapters.audit.chain import Head
from adapters.audit.metrics import AuditMetrics
from adapters.audit.store import SqliteAuditLog
from adapters.audit.subjects import subject_key_source
from adapters.audit.verify import Verification, verify_file

__all__ = ["AuditMetrics", "Head", "SqliteAuditLog", "Verification", "subject_key_source", "verify_file"]
