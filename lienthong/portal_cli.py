"""``lienthong portal ...``: the National Public Service Portal sync, from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import orjson
import typer

from lienthong.api_client import KeyOption, UrlOption, api, show
from lienthong.default_config import ConfigOption, config_file
from router.errors import ConfigError
from router.state import StateUnavailable
from schemas.units import parse_duration

if TYPE_CHECKING:
    from adapters.state.postgres import PostgresStateStore
    from connectors.portal.catalogue import NeedsReport, SyncReport
    from connectors.portal.connector import PortalConnector
    from connectors.portal.sync import ReconcileReport

portal_app = typer.Typer(no_args_is_help=True, help="The National Public Service Portal sync.")


def since_of(value: str | None, now: float) -> float | None:
    """``--since``: a duration back from now (``24h``, ``7d``) or an RFC 3339 instant."""
    if value is None:
        return None
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a duration (24h, 7d) nor a date-time") from None
    if instant.tzinfo is None:
        raise typer.BadParameter(f"{value!r} has no offset, e.g. 2024-05-02T00:00:00+07:00")
    return instant.timestamp()


@contextlib.asynccontextmanager
async def _shared_state(store: PostgresStateStore | None) -> AsyncIterator[None]:
    """The shared state database (state.postgres) open while the connectors use it."""
    if store is None:
        yield
        return
    await store.start()
    try:
        yield
    finally:
        await store.close()


async def _reconcile(
    connectors: list[PortalConnector], shared: PostgresStateStore | None, since: float | None
) -> list[ReconcileReport]:
    reports = []
    async with _shared_state(shared):
        for connector in connectors:
            await connector.open()
            try:
                reports.append(await connector.reconcile(since=since))
            finally:
                await connector.aclose()
    return reports


catalogue_app = typer.Typer(no_args_is_help=True, help="The procedure catalogue read from the portal.")
portal_app.add_typer(catalogue_app, name="catalogue")


def _portal_connectors(
    config: Path | None,
) -> tuple[list[PortalConnector], frozenset[str], PostgresStateStore | None]:
    """The configuration's portal connectors, the procedures whose needs it configures, and the
    shared state database their sync state lives in (state.postgres; not started yet)."""
    from prometheus_client import CollectorRegistry

    from adapters.state.postgres import PostgresStateStore
    from connectors.base import ConnectorDeps
    from connectors.portal.connector import from_settings
    from lienthong.loading import load

    try:
        settings, _ = load(config_file(config))
        postgres = settings.state.postgres
        shared = (
            None
            if postgres is None
            else PostgresStateStore(postgres.dsn, pool_size=1, timeout_s=postgres.timeout_s)
        )
        deps = ConnectorDeps(CollectorRegistry(), Path(settings.transport.path).parent, shared_state=shared)
        connectors = [from_settings(c, deps) for c in settings.connectors if c.kind == "portal"]
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    if not connectors:
        typer.echo(f"{config}: no connector of kind portal", err=True)
        raise typer.Exit(2)
    return connectors, frozenset(settings.catalogue.procedures), shared


async def _catalogue(
    connectors: list[PortalConnector],
    configured: frozenset[str],
    shared: PostgresStateStore | None,
    *,
    sync: bool,
) -> list[tuple[SyncReport | None, NeedsReport]]:
    out: list[tuple[SyncReport | None, NeedsReport]] = []
    async with _shared_state(shared):
        for connector in connectors:
            connector.configured_procedures = lambda: configured
            await connector.open()
            try:
                synced = await connector.sync_catalogue() if sync else None
                out.append((synced, await connector.needs_report()))
            finally:
                await connector.aclose()
    return out


def _run_catalogue(config: Path | None, *, sync: bool, json: bool) -> None:
    from connectors.portal.catalogue import CatalogueError

    connectors, configured, shared = _portal_connectors(config)
    try:
        results = asyncio.run(_catalogue(connectors, configured, shared, sync=sync))
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except StateUnavailable as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(1) from None
    except CatalogueError as error:
        typer.echo(f"catalogue sync failed, nothing changed: {error.detail}", err=True)
        raise typer.Exit(1) from None
    for connector, (synced, needs) in zip(connectors, results, strict=True):
        if json:
            document: dict[str, Any] = {"connector": connector.name, "needs": needs.as_dict()}
            if synced is not None:
                document["sync"] = synced.as_dict()
            typer.echo(orjson.dumps(document).decode())
            continue
        for line in [*(synced.lines() if synced is not None else []), *needs.lines()]:
            typer.echo(f"{connector.name}: {line}" if not line.startswith(" ") else line)
    if any(synced is not None and synced.failed for synced, _ in results):
        raise typer.Exit(1)


@catalogue_app.command("sync")
def catalogue_sync(
    config: ConfigOption = None,
    json: Annotated[bool, typer.Option("--json", help="print the reports as JSON")] = False,
) -> None:
    """Read the procedure catalogue from the portal (LayDanhSachTTHC, LayThuTuc, LayDanhMucCoQuan,
    LayDanhMucLinhVuc) into the bus's; print what changed and the procedures whose evidence needs
    are not configured yet. Exit 1 if the portal's catalogue could not be read (nothing changed)
    or some procedures could not (they keep what was read before)."""
    _run_catalogue(config, sync=True, json=json)


@catalogue_app.command("report")
def catalogue_report(
    config: ConfigOption = None,
    json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """List the imported procedures whose evidence needs are not configured (``procedures:``)."""
    _run_catalogue(config, sync=False, json=json)


@portal_app.command("reconcile")
def reconcile(
    config: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="only dossiers with events since: a duration back (24h) or a date-time")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Compare the bus's last known state of each dossier with the portal's (TraCuuHoSo), re-sync
    the drift, print a report. Exit 1 if some drift could not be repaired."""
    connectors, _, shared = _portal_connectors(config)
    try:
        reports = asyncio.run(_reconcile(connectors, shared, since_of(since, time.time())))
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except StateUnavailable as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(1) from None
    for connector, report in zip(connectors, reports, strict=True):
        if json:
            typer.echo(orjson.dumps({"connector": connector.name, **report.as_dict()}).decode())
        else:
            for line in report.lines():
                typer.echo(f"{connector.name}: {line}" if not line.startswith(" ") else line)
    if any(report.failed for report in reports):
        raise typer.Exit(1)


@portal_app.command("release")
def release(
    dossier: Annotated[str, typer.Argument(help="the held dossier's code (MaHoSo)")],
    reason: Annotated[str, typer.Option(help="why it is released: one line, recorded in the audit log")],
    official_token: Annotated[
        str | None,
        typer.Option(
            help="the operator's signed identity token (X-Official-Token)", envvar="LIENTHONG_OFFICIAL_TOKEN"
        ),
    ] = None,
    official: Annotated[
        str | None,
        typer.Option(help="the operator's id, where the system may assert it (X-Official-Id)"),
    ] = None,
    connector: Annotated[
        str | None, typer.Option(help="the portal connector (default: the only one)")
    ] = None,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
) -> None:
    """Release a dossier the portal sync holds, through a running bus's API: the status moves its
    waiting events make are accepted for it, and its dead letters replayed in order; audited with
    the official and the reason. Exit 1 with the bus's problem when it refuses."""
    headers = {}
    if official_token is not None:
        headers["X-Official-Token"] = official_token
    if official is not None:
        headers["X-Official-Id"] = official
    params = {} if connector is None else {"connector": connector}
    with api(url, key, headers) as client:
        done = show(
            client.post(
                f"/v1/portal/dossiers/{quote(dossier, safe='')}/release",
                json={"reason": reason},
                params=params,
            )
        )
    moves = ", ".join(f"{m['from']} -> {m['to']}" for m in done["accepted_moves"]) or "none"
    replayed = sum(len(ids) for ids in done["replayed"].values())
    typer.echo(
        f"{done['connector']}: dossier {done['dossier']} released: moves accepted: {moves}; "
        f"{replayed} dead letter(s) replayed in order"
    )
