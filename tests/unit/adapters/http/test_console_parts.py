"""The console's pure parts: session cookies and CSRF tokens, the per-minute rates, the counters
read from a Prometheus registry, and the escaping of everything the page shows."""

from __future__ import annotations

import dataclasses
import re

import pytest
from prometheus_client import CollectorRegistry

from adapters.http.console import view
from adapters.http.console.figures import (
    AuditSection,
    Figures,
    RateWindow,
    Section,
    SubscriptionFigures,
    TypeFigures,
    counter_totals,
)
from adapters.http.console.sessions import (
    MAX_REVOKED,
    SECRET_ENV,
    LocalRevocations,
    SessionSigner,
    console_secret,
)
from adapters.metrics import PrometheusMetrics
from router.audit import StoredAccessRecord
from router.bus import SubscriptionStatus
from router.ports import DeadLetter
from tests.support.messages import stored

KEY_HASH = "sha256:" + "ab" * 32
HOSTILE = '<script>alert("x")</script>&'


# --- sessions ------------------------------------------------------------------------------------


def test_a_session_reads_back_until_it_expires() -> None:
    signer = SessionSigner(b"s" * 32, ttl_s=60)
    session, cookie = signer.issue("000.00.00.H49/vanhanh", KEY_HASH, now=1000.0)
    assert signer.read(cookie, now=1059.0) == session
    assert session.key_fingerprint == signer.fingerprint(KEY_HASH)
    assert KEY_HASH.removeprefix("sha256:") not in cookie  # the cookie does not carry the key hash
    assert signer.read(cookie, now=1060.0) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # another signature
        lambda c: c.split(".")[0],  # no signature
        lambda c: "x" + c,  # another payload
        lambda c: "%%%.%%%",  # not base64
        lambda c: "",
        lambda c: c + "A" * 2000,  # too long to be ours
    ],
)
def test_a_tampered_cookie_is_no_session(tamper: object) -> None:
    signer = SessionSigner(b"s" * 32, ttl_s=60)
    _, cookie = signer.issue("000.00.00.H49/vanhanh", KEY_HASH, now=1000.0)
    assert callable(tamper)
    assert signer.read(tamper(cookie), now=1001.0) is None


async def test_a_revoked_session_reads_as_none_and_others_stay() -> None:
    signer = SessionSigner(b"s" * 32, ttl_s=3600)
    ended, ended_cookie = signer.issue("000.00.00.H49/vanhanh", KEY_HASH)
    kept, kept_cookie = signer.issue("000.00.00.H49/vanhanh", KEY_HASH)
    await signer.revoke(ended)
    assert await signer.current(ended_cookie) is None
    assert signer.read(ended_cookie) == ended  # the cookie itself is sound: the revocation refuses it
    assert await signer.current(kept_cookie) == kept


async def test_a_revocation_kept_elsewhere_refuses_the_session_in_every_signer() -> None:
    shared = LocalRevocations()  # stands for the shared store: two processes, one list
    one, two = SessionSigner(b"s" * 32, 3600, shared), SessionSigner(b"s" * 32, 3600, shared)
    session, cookie = one.issue("000.00.00.H49/vanhanh", KEY_HASH)
    assert await two.current(cookie) == session
    await one.revoke(session)
    assert await two.current(cookie) is None


@pytest.mark.slow  # fills the revocation list to its bound
async def test_revocations_are_bounded_and_forgotten_once_expired() -> None:
    revocations = LocalRevocations()
    for n in range(MAX_REVOKED):
        revocations.add(f"session-{n}", float(n), 0.0)
    revocations.add("latest", float(MAX_REVOKED) + 60, 0.0)
    assert len(revocations._revoked) <= MAX_REVOKED
    assert await revocations.revoked("latest")  # the newest revocation is kept
    revocations.add(
        "latest", float(MAX_REVOKED) + 60, float(MAX_REVOKED) + 1
    )  # every earlier one has expired by then
    assert list(revocations._revoked) == ["latest"]


def test_another_secret_reads_no_session() -> None:
    _, cookie = SessionSigner(b"a" * 32, ttl_s=60).issue("000.00.00.H49/vanhanh", KEY_HASH, now=0)
    assert SessionSigner(b"b" * 32, ttl_s=60).read(cookie, now=1) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    signer = SessionSigner(b"s" * 32, ttl_s=60)
    first, _ = signer.issue("000.00.00.H49/vanhanh", KEY_HASH)
    second, _ = signer.issue("000.00.00.H49/vanhanh", KEY_HASH)
    assert signer.csrf_ok(first, signer.csrf_token(first))
    assert not signer.csrf_ok(first, signer.csrf_token(second))
    assert not signer.csrf_ok(first, None)
    assert not signer.csrf_ok(first, "")


def test_the_secret_comes_from_the_environment_or_is_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert console_secret() != console_secret()
    monkeypatch.setenv(SECRET_ENV, "k" * 40)
    assert console_secret() == b"k" * 40
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ValueError, match="at least 32"):
        console_secret()


# --- figures -------------------------------------------------------------------------------------


def test_rates_span_the_window_and_wait_for_a_second_sample() -> None:
    rates = RateWindow(window_s=60)
    assert rates.add(0.0, {"a": 0}) == {"a": None}
    assert rates.add(0.5, {"a": 5}) == {"a": None}  # under a second: no rate yet
    assert rates.add(30.0, {"a": 30, "b": 6}) == {"a": 60.0, "b": 12.0}
    assert rates.add(90.0, {"a": 90, "b": 6}) == {"a": 60.0, "b": 0.0}  # base moved to t=30


def test_counters_are_summed_over_the_other_labels() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.event_received("dossier.submitted", "000.00.00.H49/motcua", 3)
    metrics.event_received("dossier.submitted", "000.00.00.H56/motcua", 2)
    metrics.event_rejected("dossier.submitted", "000.00.00.H49/motcua", "schema_violation")
    assert counter_totals(registry, "lienthong_events_received", "type") == {("dossier.submitted",): 5}
    assert counter_totals(registry, "lienthong_events_rejected", "type") == {("dossier.submitted",): 1}
    assert counter_totals(registry, "lienthong_events_routed", "subscription") == {}


# --- escaping ------------------------------------------------------------------------------------


def hostile_figures() -> Figures:
    status = SubscriptionStatus(
        name="portal",
        system="000.00.00.G22/dvcqg",
        types=(HOSTILE,),
        sink="webhook",
        lag=4,
        dead_letters=1,
        circuit="open",
        on_dead_letter="continue",
        batch_size=1,
    )
    letter = DeadLetter(
        id=7,
        subscription="portal",
        event_id=HOSTILE,
        subject=HOSTILE,
        reason="rejected_by_sink",
        attempts=1,
        last_error=HOSTILE,
        failed_at_ms=1_700_000_000_000,
        message=stored("e-1"),
    )
    record = StoredAccessRecord(
        seq=1,
        at=1_700_000_000.0,
        request_id=HOSTILE,
        requester="000.00.00.H49/motcua",
        official=HOSTILE,
        dataset="population.citizen",
        subject_hash="00",
        purpose=HOSTILE,
        procedure="1.000001",
        dossier="d",
        outcome="released",
        provider="population",
        cache_hit=False,
        previous_hash="",
        hash="",
    )
    return Figures(
        at=1_700_000_000.0,
        types=[TypeFigures(HOSTILE, 3, 1, None)],
        subscriptions=[SubscriptionFigures(status, 2, 1, 5)],
        dead_letters=[letter],
        portal=Section(configured=True, rows=[{HOSTILE: HOSTILE, "behind": 3, "ok": True, "lag_s": 1.5}]),
        evidence=Section(configured=True, error="ConnectError"),
        audit=AuditSection(configured=True, records=[record]),
    )


def test_every_shown_value_is_escaped() -> None:
    html = view.page(hostile_figures(), HOSTILE, "c5rf", "")
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") >= 9
    # the only scripts are the bus's own file
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/console/static/console.js" defer>']


def test_sections_show_their_rows_errors_and_forms() -> None:
    html = view.live(hostile_figures(), "c5rf")
    assert '<span data-figure="circuit" class="bad">open</span>' in html
    assert '<p class="bad" data-table="evidence">unavailable (ConnectError)</p>' in html
    assert "<td>yes</td>" in html and "<td>1.50</td>" in html
    # a circuit in an optional part's table, coloured as the subscriptions' are
    provider = Section(configured=True, rows=[{"provider": "vehicle", "circuit": "open", "calls": 2}])
    figures = dataclasses.replace(hostile_figures(), evidence=provider)
    assert '<td><span class="bad">open</span></td><td>2</td>' in view.live(figures, "c5rf")
    # the replay forms: one letter, and the whole subscription
    assert html.count('name="csrf" value="c5rf"') == 2
    assert '<input type="hidden" name="id" value="7">' in html


def test_the_portal_release_form_shows_with_the_unusual_moves_only() -> None:
    assert "/console/portal/release" not in view.live(hostile_figures(), "c5rf")
    moves = Section(configured=True, rows=[{"dossier": HOSTILE, "from": 2, "to": 10}])
    html = view.live(dataclasses.replace(hostile_figures(), portal_moves=moves), "c5rf")
    assert '<form method="post" action="/console/portal/release"' in html
    assert html.count('name="csrf" value="c5rf"') == 3  # the two replay forms and the release
    moves_table = html[html.index('data-table="portal-moves"') :]
    assert "<script>alert" not in moves_table and "&lt;script&gt;" in moves_table
