"""``lienthong datasets try``: one lookup of a dataset through its configured connector, to see a
new dataset (its connection, credentials, platform, mapping and schema) work before any system
uses it. The lookup itself is lienthong.datasets_try, loaded when the command runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import orjson
import typer

from lienthong.api_client import fail
from lienthong.default_config import ConfigOption, config_file
from router.errors import ConfigError

datasets_app = typer.Typer(
    no_args_is_help=True, help="The dataset catalogue (datasets: in the configuration)."
)


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
    from prometheus_client import CollectorRegistry

    from connectors.base import ConnectorDeps
    from lienthong.datasets_try import subject_key, try_audited
    from lienthong.loading import load
    from router.providers import ProviderFault

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
