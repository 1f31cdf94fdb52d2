"""``lienthong datasets try``: one lookup of a dataset through its configured connector, to see a
new dataset (its connection, credentials, platform, mapping and schema) work before any system
uses it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from prometheus_client import CollectorRegistry

from adapters import reply_sizes
from connectors.base import ConnectorDeps
from connectors.kinds import builder
from lienthong.api_client import fail
from lienthong.config.settings import Settings
from lienthong.datasets_try_audit import RELEASED, access, opened_audit_log
from lienthong.default_config import ConfigOption, config_file
from lienthong.evidence import DatasetValidator
from lienthong.loading import load
from router.audit import AuditUnavailable
from router.errors import ConfigError, LienthongError
from router.evidence.errors import InvalidEvidenceQuery
from router.evidence.service import EvidenceService
from router.providers import ProviderFault, RequestContext
from schemas.dataset_schemas import shipped

datasets_app = typer.Typer(
    no_args_is_help=True, help="The dataset catalogue (datasets: in the configuration)."
)


class _NoPolicy:
    """``datasets try`` asks as the operator at the console: no system's policy applies."""

    def may_request(self, system_id: str, dataset: str, procedure: str, purpose: str) -> bool:
        return True


@dataclass(slots=True)
class Outcome:
    """What one try gave: the record or the error, the replies' sizes and the time taken."""

    record: dict[str, Any] | None = None
    error: LienthongError | None = None
    replies: list[int] = field(default_factory=list)
    seconds: float = 0.0


def subject_key(settings: Settings, dataset: str, subjects: list[str]) -> dict[str, str]:
    """The key of the lookup: ``field=value`` pairs, or one bare value for a dataset keyed by
    one field. A ConfigError says what the dataset is keyed by."""
    entry = settings.catalogue.datasets.get(dataset)
    if entry is None:
        known = ", ".join(sorted(settings.catalogue.datasets)) or "none"
        raise ConfigError(f"no dataset {dataset!r} in the catalogue of {settings.source}; known: {known}")
    key: dict[str, str] = {}
    for subject in subjects:
        name, given, value = subject.partition("=")
        if not given:
            if len(entry.key) != 1:
                raise ConfigError(
                    f"{dataset} is keyed by {', '.join(entry.key)}: give each as --subject NAME=VALUE"
                )
            name, value = entry.key[0], subject
        key[name] = value
    return key


async def try_dataset(
    settings: Settings, dataset: str, key: dict[str, str], procedure: str, deps: ConnectorDeps
) -> Outcome:
    """One lookup of ``dataset`` through its provider's connector, as the evidence service makes
    it (key check, provider, the dataset's schema), without policy, minimisation, cache or audit."""
    entry = settings.catalogue.datasets[dataset]
    connectors = {c.name: c for c in settings.connectors}
    connector = builder(connectors[entry.provider].kind)(connectors[entry.provider], deps)
    outcome = Outcome()
    await connector.start()
    try:
        provider = connector.provider()
        providers = {entry.provider: provider} if provider is not None else {}
        service = EvidenceService(
            settings.catalogue, providers, _NoPolicy(), None, validate=DatasetValidator(shipped())
        )
        started = time.monotonic()
        with reply_sizes.measured() as outcome.replies:
            try:
                outcome.record = await service.lookup(dataset, key, RequestContext(procedure=procedure))
            except LienthongError as error:
                outcome.error = error
        outcome.seconds = time.monotonic() - started
    finally:
        await connector.aclose()
    return outcome


async def try_audited(
    settings: Settings, dataset: str, key: dict[str, str], procedure: str, reason: str, deps: ConnectorDeps
) -> Outcome:
    """:func:`try_dataset`, recorded in the deployment's audit log when the dataset holds personal
    data: the log is opened before the registry is asked (a log that cannot be written asks no
    one), and the access written before the record is returned; AuditUnavailable withholds it.
    A lookup that failed is recorded with its error code, as the evidence service records it;
    a malformed identifier names nobody and is not recorded."""
    entry = settings.catalogue.datasets[dataset]
    if not entry.personal:
        return await try_dataset(settings, dataset, key, procedure, deps)
    try:
        async with opened_audit_log(settings, dataset) as audit:
            outcome = await try_dataset(settings, dataset, key, procedure, deps)
            if isinstance(outcome.error, InvalidEvidenceQuery):
                return outcome
            word = RELEASED if outcome.error is None else outcome.error.code
            await audit.record([access(entry, key, procedure, reason, word, outcome.record)])
    except ConfigError:
        raise  # a key problem, or the SQLite log held by a running bus (AuditLogHeld)
    except LienthongError as error:
        # no audit, no data: the record is withheld whatever the lookup gave
        return Outcome(error=AuditUnavailable(f"the access could not be recorded: {error.detail}"))
    return outcome


@datasets_app.command("try")
def try_command(
    name: Annotated[str, typer.Argument(help="the dataset, e.g. business.registration")],
    subject: Annotated[
        list[str],
        typer.Option(help="the subject's identifier (NAME=VALUE for a dataset keyed by several fields)"),
    ],
    procedure: Annotated[str, typer.Option(help="the procedure code the registry is told (MaDVC)")] = "",
    reason: Annotated[
        str,
        typer.Option(
            help="why this subject is looked up, for the audit log (required for a dataset holding personal data)"
        ),
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Look a dataset up once through its configured connector and print the mapped record, the
    raw reply's size and the time taken, or the error with its stable code (exit 1).

    The lookup takes the whole path of an evidence query (the connector with its credentials and
    platform, the key check, the mapping, the dataset's schema) but policy aside: no system's
    policy, no minimisation, no cache. Use test subjects.

    A dataset holding personal data (personal_data: personal or sensitive) needs --reason: the
    lookup is recorded in the deployment's audit log before the record is printed, with the
    operator as cli:<login user>@<hostname> (the account the command runs as, which the operating
    system vouches for), the subject, the dataset, the procedure and purpose
    "datasets-try: <reason>". If it cannot be recorded nothing is printed (audit_unavailable,
    exit 1). The audit log is the shared one with state.postgres, else the SQLite file of
    audit.path, which a running bus holds: then the lookup is refused (exit 2)."""
    try:
        path = config_file(config)
        settings, _ = load(path)
        key = subject_key(settings, name, subject)
        if settings.catalogue.datasets[name].personal and not reason.strip():
            raise ConfigError(
                f"{name} holds personal data: its lookup is recorded in the audit log; "
                "say why with --reason TEXT"
            )
        deps = ConnectorDeps(CollectorRegistry(), Path(settings.transport.path).parent)
        outcome = asyncio.run(try_audited(settings, name, key, procedure, reason.strip(), deps))
    except ConfigError as error:
        raise fail(str(error)) from None
    replies = outcome.replies
    size = f"{sum(replies)} bytes in {len(replies)} {'reply' if len(replies) == 1 else 'replies'}"
    took = f"{outcome.seconds * 1000:.0f} ms"
    refused = outcome.error
    if refused is not None:
        if isinstance(refused, ProviderFault):
            # the operator trying a dataset sees what the server's log shows, to fix a mapping
            # by; a requester's problem never carries it (router.providers.ProviderFault)
            typer.echo(f"the provider's own message: {refused.operator_text}", err=True)
        raise fail(f"{name}: {refused.code}: {refused.detail} ({size}, {took})", 1)
    typer.echo(orjson.dumps(outcome.record, option=orjson.OPT_INDENT_2).decode())
    provider = settings.catalogue.datasets[name].provider
    typer.echo(f"{name} from {provider}: {size}, {took}", err=True)
