"""The ``lienthong`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from connectors.simulation import Faults, SimulatorServer
from connectors.simulators import SYSTEMS, factory
from lienthong.runtime import load
from lienthong.runtime import serve as run
from router.directory import new_api_key
from router.errors import ConfigError
from schemas.registry import SchemaRegistry

DEFAULT_CONFIG = Path("examples/lienthong.yaml")
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="the configuration file (YAML)", envvar="LIENTHONG_CONFIG")
]

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
app.add_typer(config_app, name="config")
app.add_typer(schemas_app, name="schemas")
app.add_typer(dlq_app, name="dlq")
app.add_typer(keys_app, name="keys")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def serve(
    config: ConfigOption = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="overrides http.host")] = None,
    port: Annotated[int | None, typer.Option(help="overrides http.port", min=0, max=65535)] = None,
) -> None:
    """Run the bus: HTTP API, router and deliveries, until SIGTERM or Ctrl-C."""
    try:
        run(config, host=host, port=port)
    except ConfigError as error:
        raise _fail(str(error)) from None


@config_app.command("check")
def config_check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate a configuration file; exit 2 with every problem if it is invalid."""
    try:
        settings, _ = load(config)
    except ConfigError as error:
        raise _fail(str(error)) from None
    typer.echo(
        f"{config}: valid ({len(settings.systems)} systems, {len(settings.subscriptions)} subscriptions)"
    )


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="contracts folder (default: packaged)")
    ] = None,
) -> None:
    """Check every contract against the 2020-12 metaschema and its versions' compatibility."""
    try:
        registry = SchemaRegistry.load(directory)
    except ConfigError as error:
        raise _fail(str(error)) from None
    for info in registry.types():
        versions = ", ".join(str(v) for v in info.versions)
        typer.echo(f"{info.name}: versions {versions} ({info.compatibility}) ok")


def _api(url: str, key: str | None) -> httpx.Client:
    if not key:
        raise _fail(
            "give the API key of an operator or of the subscribing system: --key or LIENTHONG_API_KEY"
        )
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _show(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            problem = response.json()
            raise _fail(f"{response.status_code} {problem.get('code')}: {problem.get('detail')}", 1)
        except ValueError:
            raise _fail(f"{response.status_code}: {response.text[:500]}", 1) from None
    return response.json()


UrlOption = Annotated[str, typer.Option(help="the bus's base URL", envvar="LIENTHONG_URL")]
KeyOption = Annotated[str | None, typer.Option(help="API key", envvar="LIENTHONG_API_KEY")]


@dlq_app.command("list")
def dlq_list(
    subscription: str,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    after: Annotated[int, typer.Option(min=0, help="list letters after this id")] = 0,
    replayed: Annotated[bool, typer.Option(help="include replayed letters")] = False,
) -> None:
    """List the dead letters of a subscription (JSON lines)."""
    with _api(url, key) as client:
        params: dict[str, str | int | bool] = {"limit": limit, "after": after, "include_replayed": replayed}
        letters = _show(client.get(f"/v1/subscriptions/{subscription}/dead-letters", params=params))
    for letter in letters:
        sys.stdout.write(orjson.dumps(letter).decode() + "\n")


@dlq_app.command("replay")
def dlq_replay(
    subscription: str,
    ids: Annotated[list[int] | None, typer.Option("--id", help="a dead letter id (repeatable)")] = None,
    subject: Annotated[str | None, typer.Option(help="every letter of this subject")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every letter not yet replayed")] = False,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
) -> None:
    """Put dead letters back on the subscription's delivery queue."""
    if not ids and subject is None and not everything:
        raise _fail("name what to replay: --id N (repeatable), --subject S, or --all")
    body = {"ids": ids or [], "subject": subject, "all": everything}
    with _api(url, key) as client:
        reply = _show(client.post(f"/v1/subscriptions/{subscription}/dead-letters/replay", json=body))
    typer.echo(f"replayed {reply['replayed']} dead letter(s)")


@keys_app.command("new")
def keys_new(system: Annotated[str, typer.Argument(help="the system id, e.g. 000.00.00.H49/motcua")]) -> None:
    """Make a new API key: give the key to the system, put the hash in the configuration."""
    try:
        key, digest = new_api_key(system)
    except ValueError as error:
        raise _fail(str(error)) from None
    typer.echo(f"key:  {key}\nhash: {digest}")


@app.command()
def simulate(
    system: Annotated[str, typer.Argument(help=f"one of: {', '.join(SYSTEMS)}")],
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
) -> None:
    """Run a simulator of an agency system (a real server with seeded data and fault flags)."""
    try:
        create = factory(system)
    except ValueError as error:
        raise _fail(str(error)) from None
    faults = Faults(latency, error_rate, outage_after, outage_for, slow_rate, slow, fault_seed)
    application, _ = create(faults) if seed is None else create(faults, seed=seed)
    typer.echo(f"{system} simulator on http://{host}:{port}", err=True)
    SimulatorServer(application, host=host, port=port).run()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
