"""The ``lienthong`` command line.

A command imports what it uses when it runs (here and in the ``*_cli`` modules of its groups):
``lienthong --help``, a mistyped argument or a call of a running bus's API then start without
loading the bus, its web stack and every connector (seconds on a small machine). A test keeps it
so (tests/unit/lienthong/test_cli_startup.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from lienthong.api_client import KeyOption, UrlOption, api, fail, show
from lienthong.audit_cli import audit_app
from lienthong.datasets_cli import datasets_app
from lienthong.db_cli import db_app
from lienthong.default_config import ConfigOption, config_file
from lienthong.logs import LogFormat
from lienthong.portal_cli import portal_app
from lienthong.results_cli import app as results_app
from router.bus import MAX_PAGE, MAX_REPLAY
from router.directory import new_api_key
from router.errors import ConfigError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="lienthong: the data-sharing bus.",
)
config_app = typer.Typer(no_args_is_help=True, help="Configuration files.")
schemas_app = typer.Typer(no_args_is_help=True, help="The event contracts.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters, through a running bus's API.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of systems.")
docs_app = typer.Typer(no_args_is_help=True, help="Documents generated from the configuration.")
app.add_typer(config_app, name="config")
app.add_typer(schemas_app, name="schemas")
app.add_typer(dlq_app, name="dlq")
app.add_typer(keys_app, name="keys")
app.add_typer(docs_app, name="docs")
app.add_typer(results_app, name="results")
app.add_typer(portal_app, name="portal")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(datasets_app, name="datasets")


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="overrides http.host")] = None,
    port: Annotated[int | None, typer.Option(help="overrides http.port", min=0, max=65535)] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="json (one object per line) or text; default: text at a terminal, else json"),
    ] = None,
) -> None:
    """Run the bus: HTTP API, router and deliveries, until SIGTERM or Ctrl-C."""
    from lienthong.serving import serve as run

    try:
        run(config_file(config), host=host, port=port, log_format=log_format)
    except ConfigError as error:
        raise fail(str(error)) from None


@app.command()
def demo(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="exit after the summary (status 1 if a step failed)")] = False,
    free_ports: Annotated[
        bool, typer.Option(help="the bus and simulators on free ports (when 8080 or 92xx are taken)")
    ] = False,
    summary_json: Annotated[
        Path | None, typer.Option(help="also write the summary to this JSON file")
    ] = None,
) -> None:
    """Try it on one machine: simulators of every agency system, the bus, and a narrated scenario;
    then serve until Ctrl-C. For production, run `lienthong serve`."""
    # demo material, loaded by this command only: production code never imports lienthong.demo
    from lienthong.demo.show import run as run_demo

    try:
        status = run_demo(config_file(config), once=once, free_ports=free_ports, summary_json=summary_json)
    except ConfigError as error:
        raise fail(str(error)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(status)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate a configuration file; exit 2 with every problem if it is invalid. Configured
    datasets (kind: soap, rest) are compared with their WSDL or OpenAPI document."""
    from lienthong.config.contracts import check_contracts
    from lienthong.loading import load

    try:
        path = config_file(config)
        settings, _ = load(path)
        unchecked = asyncio.run(check_contracts(path, settings))
    except ConfigError as error:
        raise fail(str(error)) from None
    for note in unchecked:
        typer.echo(f"{path}: warning: {note}", err=True)
    typer.echo(
        f"{path}: valid ({len(settings.systems)} systems, {len(settings.subscriptions)} subscriptions)"
    )


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="contracts folder (default: packaged)")
    ] = None,
) -> None:
    """Check every contract against the 2020-12 metaschema and its versions' compatibility, and
    (for the packaged contracts) the datasets' response schemas."""
    from schemas import dataset_schemas
    from schemas.registry import SchemaRegistry

    try:
        registry = SchemaRegistry.load(directory)
    except ConfigError as error:
        raise fail(str(error)) from None
    for info in registry.types():
        versions = ", ".join(str(v) for v in info.versions)
        typer.echo(f"{info.name}: versions {versions} ({info.compatibility}) ok")
    if directory is None:
        try:
            datasets = dataset_schemas.shipped()
        except ConfigError as error:
            raise fail(str(error)) from None
        for name, found in sorted(datasets.versions.items()):
            versions = ", ".join(str(v) for v in found)
            typer.echo(f"dataset {name}: versions {versions} (BACKWARD) ok")


@dlq_app.command("list")
def dlq_list(
    subscription: str,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="at most this many (default: every one, page by page)")
    ] = None,
    after: Annotated[int, typer.Option(min=0, help="list letters after this id")] = 0,
    subject: Annotated[str | None, typer.Option(help="only the letters of this subject")] = None,
    replayed: Annotated[bool, typer.Option(help="include replayed letters")] = False,
    page_size: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="letters asked per request")] = MAX_PAGE,
) -> None:
    """List the dead letters of a subscription (JSON lines), in id order.

    With --limit, when more letters follow, says on stderr which --after lists the next ones."""
    listed = 0
    with api(url, key) as client:
        while True:
            params: dict[str, str | int | bool] = {
                "limit": page_size if limit is None else min(page_size, limit - listed),
                "after": after,
                "include_replayed": replayed,
            }
            if subject is not None:
                params["subject"] = subject
            response = client.get(f"/v1/subscriptions/{subscription}/dead-letters", params=params)
            for letter in show(response):
                sys.stdout.write(orjson.dumps(letter).decode() + "\n")
                listed += 1
            next_after = response.headers.get("X-Next-After")
            if next_after is None:
                return
            after = int(next_after)
            if limit is not None and listed >= limit:
                typer.echo(f"more dead letters follow: list them with --after {after}", err=True)
                return


@dlq_app.command("replay")
def dlq_replay(
    subscription: str,
    ids: Annotated[list[int] | None, typer.Option("--id", help="a dead letter id (repeatable)")] = None,
    subject: Annotated[str | None, typer.Option(help="every letter of this subject")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every letter not yet replayed")] = False,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    round_size: Annotated[
        int, typer.Option(min=1, max=MAX_REPLAY, help="letters replayed per request (each one audited)")
    ] = MAX_REPLAY,
) -> None:
    """Put dead letters back on the subscription's delivery queue, oldest first.

    A request replays at most --round-size letters; the command asks again until none of the
    letters named remain, but never replays more letters than were waiting when it began: a sink
    that still refuses makes new dead letters of the copies, which must not be replayed in a loop."""
    if not ids and subject is None and not everything:
        raise fail("name what to replay: --id N (repeatable), --subject S, or --all")
    with api(url, key) as client:
        waiting = int(show(client.get(f"/v1/subscriptions/{subscription}"))["dead_letters"])
        replayed = rounds = 0
        more = waiting > 0
        while more and replayed < waiting:
            body = {
                "ids": ids or [],
                "subject": subject,
                "all": everything,
                "limit": min(round_size, waiting - replayed),
            }
            reply = show(client.post(f"/v1/subscriptions/{subscription}/dead-letters/replay", json=body))
            more = bool(reply.get("more", False))
            if reply["replayed"] == 0:
                break
            replayed += reply["replayed"]
            rounds += 1
            if more:
                typer.echo(
                    f"round {rounds}: replayed {reply['replayed']} dead letter(s), more follow", err=True
                )
    typer.echo(f"replayed {replayed} dead letter(s)" + (f" in {rounds} rounds" if rounds > 1 else ""))
    if more and replayed >= waiting:
        typer.echo(
            f"stopped: {waiting} dead letter(s) were waiting when the replay began, and more are now"
            " (new ones, perhaps from this replay if the sink still refuses): replay again when the"
            " cause is fixed",
            err=True,
        )


@dlq_app.command("purge")
def dlq_purge(
    subscription: str,
    ids: Annotated[list[int] | None, typer.Option("--id", help="a dead letter id (repeatable)")] = None,
    subject: Annotated[str | None, typer.Option(help="every letter of this subject")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every letter, replayed or not")] = False,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
) -> None:
    """Delete dead letters for good (an operator's key; the bus audits it)."""
    if not ids and subject is None and not everything:
        raise fail("name what to purge: --id N (repeatable), --subject S, or --all")
    params: dict[str, str | list[int]] = {"all": "true"} if everything else {}
    if ids:
        params["id"] = ids
    if subject is not None:
        params["subject"] = subject
    purged = rounds = 0
    with api(url, key) as client:
        while True:  # the bus purges at most MAX_REPLAY a call: a full round may leave more
            reply = show(client.delete(f"/v1/subscriptions/{subscription}/dead-letters", params=params))
            purged, rounds = purged + reply["purged"], rounds + 1
            if reply["purged"] < MAX_REPLAY:
                break
    typer.echo(f"purged {purged} dead letter(s)" + (f" in {rounds} rounds" if rounds > 1 else ""))


@app.command("reload")
def reload_config(url: UrlOption = "http://127.0.0.1:8080", key: KeyOption = None) -> None:
    """Ask a running bus to read its configuration file again (POST /v1/admin/reload)."""
    with api(url, key) as client:
        response = client.post("/v1/admin/reload")
    if response.status_code == 422:
        for problem in response.json().get("errors", []):
            typer.echo(problem.get("text") or problem.get("detail"), err=True)
        raise fail("the configuration was refused; the running one is unchanged", 1)
    reply = show(response)
    typer.echo(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode())


@docs_app.command("asyncapi")
def docs_asyncapi(
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option(help="the bus's base URL in the document (default: from http.host and http.port)"),
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0 document (JSON): every event type and every subscription."""
    from adapters.http.asyncapi import document as asyncapi_document
    from lienthong.loading import load

    try:
        settings, registry = load(config_file(config))
    except ConfigError as error:
        raise fail(str(error)) from None
    bus_url = url or f"http://{settings.http.host}:{settings.http.port}"
    document = asyncapi_document(registry, settings.subscriptions, bus_url=bus_url, policy=settings.policy)
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


@keys_app.command("new")
def keys_new(system: Annotated[str, typer.Argument(help="the system id, e.g. 000.00.00.H49/motcua")]) -> None:
    """Make a new API key: give the key to the system, put the hash in the configuration."""
    try:
        key, digest = new_api_key(system)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"key:  {key}\nhash: {digest}")


# simulators.systems.SYSTEMS' names (a test checks them), written out so that the CLI does not load
# the simulators to list them
SIMULATED_SYSTEMS = "population, business, vehicle, onestop, portal, citizen_store, gateway, land, insurance"


@app.command()
def simulate(
    system: Annotated[str, typer.Argument(help=f"one of: {SIMULATED_SYSTEMS}")],
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8090,
    host: str = "127.0.0.1",
    seed: Annotated[int | None, typer.Option(help="the data's seed (default: the shared one)")] = None,
    latency: Annotated[float, typer.Option(min=0, help="seconds added to every reply")] = 0.0,
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="share of requests answered 503")] = 0.0,
    outage_after: Annotated[float | None, typer.Option(min=0, help="an outage starts this late (s)")] = None,
    outage_for: Annotated[float, typer.Option(min=0, help="and lasts this long (s)")] = 0.0,
    slow_rate: Annotated[float, typer.Option(min=0, max=1, help="share of replies held back")] = 0.0,
    slow: Annotated[float, typer.Option(min=0, help="seconds a slow reply is held back")] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="seed of the fault draws")] = 0,
    state: Annotated[
        Path | None, typer.Option(help="a file keeping the simulator's state across restarts (portal)")
    ] = None,
) -> None:
    """Run a simulator of an agency system (a real server with seeded data and fault flags)."""
    # demo material, loaded by this command only: production code never imports lienthong.demo
    from lienthong.demo.simulate import simulator_server

    faults = {
        "latency_s": latency,
        "error_rate": error_rate,
        "outage_after_s": outage_after,
        "outage_for_s": outage_for,
        "slow_rate": slow_rate,
        "slow_s": slow,
        "seed": fault_seed,
    }
    try:
        server = simulator_server(system, host, port, faults, seed=seed, state=state)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"{system} simulator on http://{host}:{port}", err=True)
    server.run()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
