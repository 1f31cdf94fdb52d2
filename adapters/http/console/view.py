"""The console's HTML: the page and login templates (``templates/`` beside this module) filled in, and
the live part rendered from :class:`Figures`. Every value is escaped here, once, on its way out."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from functools import cache
from html import escape
from importlib import resources
from string import Template

from adapters.http.console.figures import AuditSection, Figures, Scalar, Section

# the folders beside this module, shipped as package data
TEMPLATES = "templates"
STATIC = "static"
STATIC_FILES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CIRCUIT_CLASS = {"closed": "ok", "half_open": "warn", "half-open": "warn", "open": "bad"}


@cache
def _read(folder: str, name: str) -> str:
    return resources.files("adapters.http.console").joinpath(folder, name).read_text(encoding="utf-8")


def template(name: str) -> str:
    return _read(TEMPLATES, name)


def static_file(name: str) -> str:
    """A file the page loads (script, style, icon); :data:`STATIC_FILES` names them."""
    return _read(STATIC, name)


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Scalar) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return escape(str(value))


def _table(name: str, headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table whose cells are already-escaped HTML."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty" data-table="{name}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _replay_form(csrf: str, subscription: str, letter: int | None, label: str) -> str:
    target = f'<input type="hidden" name="id" value="{letter}">' if letter is not None else ""
    return (
        '<form method="post" action="/console/replay" class="inline">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="subscription" value="{escape(subscription)}">'
        f'{target}<button type="submit">{escape(label)}</button></form>'
    )


def _release_form(csrf: str) -> str:
    """Release a dossier the portal sync holds (the same as ``lienthong portal release``)."""
    return (
        '<form method="post" action="/console/portal/release" class="release">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label>Held dossier <input name="dossier" required maxlength="128"></label> '
        '<label>Reason <input name="reason" required maxlength="500" size="50"></label> '
        '<button type="submit">release</button></form>'
    )


def _portal_moves(figures: Figures, csrf: str) -> str:
    if not figures.portal_moves.configured:
        return ""
    return (
        "</section><section><h2>Portal sync: unusual status moves</h2>"
        + _section("portal-moves", figures.portal_moves)
        + _release_form(csrf)
    )


def _types(figures: Figures) -> str:
    rows = (
        [
            f'<span data-type="{escape(t.type)}">{escape(t.type)}</span>',
            f'<span data-figure="received">{t.received}</span>',
            f'<span data-figure="rejected" class="{"bad" if t.rejected else ""}">{t.rejected}</span>',
            f'<span data-figure="per-minute">{"–" if t.per_minute is None else f"{t.per_minute:.1f}"}</span>',
        ]
        for t in figures.types
    )
    return _table("types", ["event type", "received", "rejected", "per minute"], rows, "no event types")


def _subscriptions(figures: Figures, csrf: str) -> str:
    rows = []
    for s in figures.subscriptions:
        status = s.status
        circuit = escape(status.circuit)
        rows.append(
            [
                f'<span data-subscription="{escape(status.name)}">{escape(status.name)}</span>',
                escape(status.system),
                escape(", ".join(status.types)),
                f'<span data-figure="lag">{status.lag}</span>',
                f'<span data-figure="delivered">{s.delivered}</span>',
                f'<span data-figure="failed-attempts">{s.failed_attempts}</span>',
                f'<span data-figure="dead-lettered">{s.dead_lettered}</span>',
                f'<span data-figure="circuit" class="{CIRCUIT_CLASS.get(status.circuit, "")}">{circuit}</span>',
                f'<span data-figure="dead-letters">{status.dead_letters}</span>'
                + (" " + _replay_form(csrf, status.name, None, "replay all") if status.dead_letters else ""),
            ]
        )
    headers = [
        "subscription",
        "system",
        "types",
        "lag",
        "delivered",
        "failed calls",
        "dead-lettered",
        "circuit",
        "dead letters",
    ]
    return _table("subscriptions", headers, rows, "no subscriptions")


def _dead_letters(figures: Figures, csrf: str) -> str:
    rows = (
        [
            f'<span data-dead-letter="{d.id}">{d.id}</span>',
            escape(d.subscription),
            escape(d.subject),
            escape(d.event_id),
            escape(d.reason),
            str(d.attempts),
            f'<span class="error">{escape(d.last_error[:300])}</span>',
            _utc(d.failed_at_ms / 1000),
            _replay_form(csrf, d.subscription, d.id, "replay"),
        ]
        for d in figures.dead_letters
    )
    headers = [
        "id",
        "subscription",
        "subject",
        "event",
        "reason",
        "attempts",
        "last error",
        "failed at (UTC)",
        "",
    ]
    return _table("dead-letters", headers, rows, "no dead letters waiting")


def _section(name: str, section: Section) -> str:
    if not section.configured:
        return f'<p class="empty" data-table="{name}">not configured</p>'
    if section.error:
        return f'<p class="bad" data-table="{name}">unavailable ({escape(section.error)})</p>'
    columns = list(section.rows[0]) if section.rows else []
    rows = ([_section_cell(column, row.get(column)) for column in columns] for row in section.rows)
    return _table(name, columns, rows, "nothing to show yet")


def _section_cell(column: str, value: Scalar) -> str:
    """A cell of an optional part's table; a circuit's state in the colours of the subscriptions'."""
    if column == "circuit" and isinstance(value, str) and value in CIRCUIT_CLASS:
        return f'<span class="{CIRCUIT_CLASS[value]}">{_cell(value)}</span>'
    return _cell(value)


def _audit(section: AuditSection) -> str:
    if not section.configured:
        return '<p class="empty" data-table="audit">not configured</p>'
    if section.error:
        return f'<p class="bad" data-table="audit">unavailable ({escape(section.error)})</p>'
    rows = (
        [
            str(r.seq),
            _utc(r.at),
            escape(r.requester),
            escape(r.official),
            escape(r.dataset),
            escape(r.purpose),
            escape(r.outcome),
            escape(r.provider),
            escape(r.request_id),
        ]
        for r in section.records
    )
    headers = [
        "#",
        "at (UTC)",
        "requester",
        "official",
        "dataset",
        "purpose",
        "outcome",
        "provider",
        "request",
    ]
    return _table("audit", headers, rows, "no audit entries yet")


def live(figures: Figures, csrf: str) -> str:
    """The part of the page the script replaces every few seconds."""
    return "".join(
        [
            f'<p class="updated">figures of <time data-figure="updated">{_utc(figures.at)}</time> UTC</p>',
            "<section><h2>Event types</h2>",
            _types(figures),
            "</section><section><h2>Subscriptions</h2>",
            _subscriptions(figures, csrf),
            '</section><section id="dead-letters"><h2>Dead letters</h2>',
            _dead_letters(figures, csrf),
            "</section><section><h2>Portal sync</h2>",
            _section("portal", figures.portal),
            _portal_moves(figures, csrf),
            "</section><section><h2>Evidence providers</h2>",
            _section("evidence", figures.evidence),
            "</section><section><h2>Latest audit entries</h2>",
            _audit(figures.audit),
            "</section>",
        ]
    )


def page(figures: Figures, operator: str, csrf: str, notice: str) -> str:
    return Template(template("page.html")).substitute(
        operator=escape(operator),
        csrf=escape(csrf),
        notice=f'<p class="notice" role="status">{escape(notice)}</p>' if notice else "",
        live=live(figures, csrf),
    )


def login(message: str) -> str:
    return Template(template("login.html")).substitute(
        message=f'<p class="bad" role="alert">{escape(message)}</p>' if message else ""
    )
