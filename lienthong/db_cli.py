"""``lienthong db``: the shared state database (``state.postgres``).

The bus migrates the schema when it starts; ``lienthong db migrate`` does it beforehand (a
deployment step run once, before the processes roll out), under the same advisory lock, so it is
safe while processes start.
"""

from __future__ import annotations

import asyncio

import typer

from lienthong.default_config import ConfigOption, config_file
from router.errors import ConfigError

db_app = typer.Typer(no_args_is_help=True, help="The shared state database (state.postgres).")


@db_app.command("migrate")
def migrate(config: ConfigOption = None) -> None:
    """Apply the schema versions the database does not hold yet; print what was applied."""
    from adapters.state import PostgresStateStore
    from lienthong.config import load_settings
    from router.state import StateUnavailable

    try:
        settings = load_settings(config_file(config))
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    postgres = settings.state.postgres
    if postgres is None:
        typer.echo(
            "no state.postgres in the configuration: the state is in the process's SQLite files", err=True
        )
        raise typer.Exit(2)

    async def run() -> tuple[list[int], list[int]]:
        store = PostgresStateStore(postgres.dsn, pool_size=1, timeout_s=postgres.timeout_s)
        try:
            return await store.migrate(), await store.versions()
        finally:
            await store.close()

    try:
        applied, held = asyncio.run(run())
    except StateUnavailable as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(2) from None
    done = ", ".join(map(str, applied)) if applied else "none (up to date)"
    typer.echo(f"applied: {done}; the database holds versions {', '.join(map(str, held))}")
