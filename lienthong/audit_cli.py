"""``lienthong audit``: check the audit log's chain against its witnessed checkpoints, read it,
and show its keys' ids, on the machine that holds it.

The commands open the file read-only and without the bus's lock, so they run while the bus
writes it (they see the records committed when they start). Exit codes of ``verify``: 0 the chain
is intact and holds its latest checkpoint, 1 it is broken or a checkpoint is forged (each problem
names its record or line), 2 the log could not be checked (lienthong.audit_verify).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lienthong.default_config import ConfigOption, config_file
from router.errors import ConfigError

if TYPE_CHECKING:
    from lienthong.audit_verify import Report
    from lienthong.config import Settings

audit_app = typer.Typer(no_args_is_help=True, help="The audit log of personal-data access.")

FileOption = Annotated[
    Path | None, typer.Option("--file", help="the audit database (default: audit.path of the configuration)")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    from lienthong.config import load_settings

    try:
        return load_settings(config_file(config))
    except ConfigError as error:
        raise _fail(str(error)) from None


@audit_app.command("verify")
def verify(
    config: ConfigOption = None,
    file: FileOption = None,
    head: Annotated[
        str | None,
        typer.Option(help="a head printed by an earlier verify (SEQ:HASH): that record must still be there"),
    ] = None,
    checkpoints: Annotated[
        list[str] | None,
        typer.Option(
            "--checkpoints",
            help="a witness's checkpoints, a file or a URL (repeatable; default: the configured witnesses)",
        ),
    ] = None,
    no_checkpoints: Annotated[
        bool, typer.Option("--no-checkpoints", help="check the chain alone, against no checkpoint")
    ] = False,
    public_key: Annotated[
        str | None,
        typer.Option(help="the checkpoint signing key's public key (base64; default: the configured one)"),
    ] = None,
) -> None:
    """Check the chain against its latest witnessed checkpoint: exit 1 naming every changed,
    removed or inserted record, and every forged checkpoint. With state.postgres (and no --file),
    the deployment's one chain in the state database."""
    from adapters.audit import Head
    from lienthong.audit_verify import CannotCheck, Request, verify_shared
    from lienthong.audit_verify import verify as run_verify

    try:
        expected = None if head is None else Head.parse(head)
    except ValueError as error:
        raise _fail(str(error)) from None
    settings = _settings(config)
    if file is None and settings.state.postgres is not None:
        try:
            shared = verify_shared(settings, expected)
        except CannotCheck as error:
            raise _fail(str(error)) from None
        _say(shared)
        return
    path = file if file is not None else settings.audit.path
    if not path.is_file():
        raise _fail(f"no audit log at {path}")
    request = Request(
        database=path,
        named_file=file is not None,
        head=expected,
        sources=tuple(checkpoints or ()),
        no_checkpoints=no_checkpoints,
        public_key=public_key,
    )
    try:
        report = run_verify(settings, request)
    except CannotCheck as error:
        raise _fail(str(error)) from None
    _say(report)


def _say(report: Report) -> None:
    for line in report.lines:
        typer.echo(line)
    if report.code == 0:
        typer.echo(report.summary)
        return
    raise _fail(report.summary, report.code)


@audit_app.command("keys")
def keys(config: ConfigOption = None, file: FileOption = None) -> None:
    """Print the ids of the chain keys and the checkpoint signing key's public key (to pin it in
    audit.checkpoints.public_key and give it to the witnesses); never a secret."""
    from lienthong.audit_wiring import chain_keys, signer

    settings = _settings(config)
    path = file if file is not None else settings.audit.path
    try:
        ring = chain_keys(settings.audit, path, create=False)()
        public = signer(settings.audit, path, create=False)().public
    except ConfigError as error:
        raise _fail(str(error)) from None
    typer.echo(f"chain key (current): {ring.current.id}")
    for key_id in ring.ids:
        if key_id != ring.current.id:
            typer.echo(f"chain key (retired): {key_id}")
    typer.echo(f"checkpoint public key: {public.text} (id {public.id})")


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
    import sqlite3

    from adapters.audit.queries import records
    from adapters.audit.subjects import SubjectHasher, subject_key_source
    from adapters.audit.tables import AuditFileError, connect
    from router.access_report import rfc3339

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
    directory = settings.directory
    for record in found:
        system = directory.get(record.requester)
        who = (
            f"{record.requester} ({system.member_name})"
            if system and system.member_name
            else record.requester
        )
        # how the bus knew the official, beside them: [verified:<issuer>] or [asserted]
        official = record.official or "-"
        if record.official_basis:
            official = f"{official} [{record.official_basis}]"
        typer.echo(
            f"{record.seq}\t{rfc3339(record.at)}\t{who}\t{official}\t{record.dataset}\t"
            f"{record.purpose or '-'}\t{record.procedure or '-'}\t{record.dossier or '-'}\t{record.outcome}"
        )
