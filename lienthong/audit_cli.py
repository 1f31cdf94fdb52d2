"""``lienthong audit``: check the audit log's chain, and read it, on the machine that holds it.

Both commands open the file read-only and without the bus's lock, so they run while the bus
writes it (they see the records committed when they start). Exit codes of ``verify``: 0 the chain
is intact, 1 it is broken (each problem names its record), 2 the log could not be checked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from adapters.audit import Head, verify_file
from adapters.audit.queries import records
from adapters.audit.schema import AuditFileError, connect
from adapters.audit.subjects import SubjectHasher, subject_key_source
from lienthong.config import Settings, load_settings
from lienthong.default_config import ConfigOption, config_file
from router.access_report import rfc3339
from router.directory import Directory
from router.errors import ConfigError

audit_app = typer.Typer(no_args_is_help=True, help="The audit log of personal-data access.")

FileOption = Annotated[
    Path | None, typer.Option("--file", help="the audit database (default: audit.path of the configuration)")
]
SHOWN_PROBLEMS = 100


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config_file(config))
    except ConfigError as error:
        raise _fail(str(error)) from None


def _database(config: Path | None, file: Path | None) -> Path:
    path = file if file is not None else _settings(config).audit.path
    if not path.is_file():
        raise _fail(f"no audit log at {path}")
    return path


@audit_app.command("verify")
def verify(
    config: ConfigOption = None,
    file: FileOption = None,
    head: Annotated[
        str | None,
        typer.Option(help="a head printed by an earlier verify (SEQ:HASH): that record must still be there"),
    ] = None,
) -> None:
    """Check the hash chain: exit 1 naming every changed, removed or inserted record."""
    try:
        expected = None if head is None else Head.parse(head)
    except ValueError as error:
        raise _fail(str(error)) from None
    path = _database(config, file)
    try:
        result = verify_file(path, expected_head=expected)
    except (sqlite3.Error, AuditFileError) as error:
        raise _fail(f"cannot read the audit log {path}: {error}") from None
    if result.intact:
        typer.echo(f"{path}: {result.records} records, chain intact; head {result.head}")
        return
    for problem in result.problems[:SHOWN_PROBLEMS]:
        typer.echo(f"record {problem.seq}: {problem.detail}")
    if result.problem_count > SHOWN_PROBLEMS:
        typer.echo(f"... and {result.problem_count - SHOWN_PROBLEMS} more problems")
    count = result.problem_count
    raise _fail(
        f"{path}: the chain is broken ({count} problem{'' if count == 1 else 's'} in {result.records} records)",
        1,
    )


@audit_app.command("show")
def show(
    config: ConfigOption = None,
    file: FileOption = None,
    subject: Annotated[
        str | None, typer.Option(help="whose records: a personal ID or tax code (default: anyone's)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    before: Annotated[int | None, typer.Option(min=1, help="only records numbered below this")] = None,
) -> None:
    """Print the newest records, of one subject or of all (needs the subject key for --subject)."""
    settings = _settings(config)
    path = file if file is not None else settings.audit.path
    if not path.is_file():
        raise _fail(f"no audit log at {path}")
    digest = None
    if subject is not None:
        try:
            key = subject_key_source(path, settings.audit.subject_key_env, create=False)()
            digest = SubjectHasher(key)(subject)
        except ConfigError as error:
            raise _fail(str(error)) from None
    try:
        conn = connect(path, busy_timeout_s=10.0, writer=False)
        try:
            found = records(conn, digest, limit=limit, before=before)
        finally:
            conn.close()
    except (sqlite3.Error, AuditFileError) as error:
        raise _fail(f"cannot read the audit log {path}: {error}") from None
    directory: Directory = settings.directory
    for record in found:
        system = directory.get(record.requester)
        who = (
            f"{record.requester} ({system.member_name})"
            if system and system.member_name
            else record.requester
        )
        typer.echo(
            f"{record.seq}\t{rfc3339(record.at)}\t{who}\t{record.official or '-'}\t{record.dataset}\t"
            f"{record.purpose or '-'}\t{record.procedure or '-'}\t{record.dossier or '-'}\t{record.outcome}"
        )
