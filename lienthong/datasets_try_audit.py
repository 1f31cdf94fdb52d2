"""The audit record of ``lienthong datasets try`` on a dataset that holds personal data: who ran it
(the operator as the machine knows them), whose data, which dataset, procedure and reason, in the
deployment's audit log, written before the record is printed (no audit, no data, as for the API).

The log is the one the configuration names: the shared one in the state database with
``state.postgres``, else the SQLite file of ``audit.path``, which one process at a time may write
(adapters.embedded.lock): a running bus holds it, and the lookup is then refused."""

from __future__ import annotations

import os
import pwd
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

from adapters.audit import AuditMetrics
from adapters.embedded.lock import ProcessLock
from adapters.state import PostgresStateStore
from lienthong.audit_wiring import audit_log, shared_audit_log
from lienthong.config.settings import Settings
from router.audit import AccessRecord, AuditLog
from router.errors import ConfigError
from router.evidence.catalogue import Dataset
from router.ports import TransportError

PURPOSE = "datasets-try"
RELEASED = "released"
# how the bus knows the operator: the operating system's account running the command
OS_USER = "os-user"


class AuditLogHeld(ConfigError):
    """The SQLite audit log is held by another process (a running bus)."""


def login_user() -> str:
    """The account the command runs as, from the process's user id (which the kernel vouches
    for), not from ``USER`` or ``LOGNAME``, which anyone may set."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def operator() -> tuple[str, str]:
    """The requester (``cli:<login user>@<hostname>``) and the official (the login user)."""
    user = login_user()
    return f"cli:{user}@{socket.gethostname()}", user


def held_by_another(database: Path) -> bool:
    """Whether another process holds the lock of the SQLite file ``database`` (a folder or lock
    file that cannot be made is the store's to report, when it opens)."""
    lock = ProcessLock(database)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError:
        return False
    except TransportError as error:
        return isinstance(error.__cause__, BlockingIOError)
    lock.release()
    return False


@asynccontextmanager
async def opened_audit_log(settings: Settings, dataset: str) -> AsyncIterator[AuditLog]:
    """The deployment's audit log, started, and closed on leaving. AuditLogHeld when a running
    bus holds the SQLite file; AuditUnavailable when it cannot be opened; ConfigError for a key
    problem."""
    metrics = AuditMetrics(CollectorRegistry())
    postgres = settings.state.postgres
    if postgres is None:
        path = settings.audit.path
        if held_by_another(path):
            raise AuditLogHeld(
                f"{dataset} holds personal data, so its lookup is recorded in the audit log {path}, "
                "and a running bus holds that file (one process per file). Stop the bus, use a test "
                "configuration with its own data folder, or run the bus on the shared state "
                "(state.postgres)"
            )
        log = audit_log(settings.audit, metrics)
        await log.start()
        try:
            yield log
        finally:
            await log.close()
        return
    store = PostgresStateStore(
        postgres.dsn,
        retention_s=settings.transport.retention_s,
        pool_size=postgres.pool_size,
        timeout_s=postgres.timeout_s,
    )
    await store.start()
    try:
        shared = shared_audit_log(settings.audit, store, metrics)
        await shared.start()
        try:
            yield shared
        finally:
            await shared.close()
    finally:
        await store.close()


def access(
    dataset: Dataset,
    key: dict[str, str],
    procedure: str,
    reason: str,
    outcome: str,
    record: dict[str, object] | None,
) -> AccessRecord:
    """The record of one try, shaped as the evidence service's (router.evidence.service)."""
    requester, official = operator()
    return AccessRecord(
        request_id=uuid.uuid4().hex,
        requester=requester,
        official=official,
        official_basis=OS_USER,
        dataset=dataset.name,
        subject=dataset.subject_of(key, record),
        purpose=f"{PURPOSE}: {reason}",
        procedure=procedure,
        dossier="",
        outcome=outcome,
        provider=dataset.provider,
    )
