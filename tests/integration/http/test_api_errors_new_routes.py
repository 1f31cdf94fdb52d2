"""The routes added with the evidence exchange, the audit log and the console, attacked: every one
refuses callers without a key (401) or without the right (403); hostile bodies, paths, query
values and content types are each a problem+json with a stable code, never a 500; personal IDs
never reach the bus's log nor, in clear, the audit database; the console refuses forged sessions,
missing or foreign CSRF tokens and cross-origin posts.

One bus (a child process under uvicorn) with the registry simulators, an audit log, a system
granted ``read_access_log`` and one subscription, like tests/integration/http/test_api_errors.py for
the older routes."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, OPERATOR, OUTSIDER, PORTAL, BusConfig, BusProcess
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    evidence_config,
    query_body,
    transport_firm,
)
from tests.support.receiver import Receiver

TAX, MANAGER, _ = transport_firm()
UNKNOWN_CITIZEN = "001099000777"  # a well-formed personal ID no registry holds
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}
PROBLEM = "application/problem+json"
COOKIE = "lienthong_console"
INT64_PAST = str(1 << 63)  # one past SQLite's largest integer
HUGE = "9" * 40


def query(dataset: Any = "citizen.identity", **changes: Any) -> dict[str, Any]:
    return query_body(dataset, {"personal_id": MANAGER}, **changes)


@pytest.fixture(scope="module")
def bus_config(
    servers: dict[str, SimulatorServer], tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = evidence_config(
            tmp_path_factory.mktemp("new-routes"), {name: server.url for name, server in servers.items()}
        )
        config.extra_policies += [
            {"systems": [PORTAL], "read_access_log": True},
            {
                "systems": [ONESTOP],
                "request": [
                    {
                        "datasets": ["citizen.identity"],
                        "procedures": ["1.002861"],
                        "purposes": ["identity_verification"],
                    }
                ],
            },
        ]
        yield config.subscribe("portal", receiver.url)


def problem_of(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == PROBLEM, reply.text
    body: dict[str, Any] = reply.json()
    assert (body["code"], body["type"], body["status"]) == (code, f"/problems/{code}", status)
    assert body["detail"]
    return body


def send(
    bus: BusProcess,
    method: str,
    path: str,
    system: str | None,
    *,
    key: str | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> httpx.Response:
    sent = dict(headers or {})
    token = key if key is not None else (bus.config.keys[system] if system else None)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    # a client of its own per request: a failed request must not break the next one's connection
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        return client.request(method, path, content=content, headers=sent, json=json)


# --- default deny ---------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/evidence:query", query()),
    ("GET", f"/v1/subjects/{MANAGER}/access-log", None),
    ("POST", "/v1/admin/reload", None),
    ("DELETE", "/v1/subscriptions/portal/dead-letters?all=true", None),
    ("GET", "/v1/stats", None),
    ("GET", "/v1/portal/catalogue/report", None),
    ("GET", "/v1/asyncapi.json", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"Bearer not-a-key",
        b"Bearer lt_" + b"0" * 40,
        b"Basic dXNlcjpwYXNz",
        "Bearer é".encode(),
        b"Bearer",
    ],
)
def test_every_new_route_refuses_a_caller_without_a_valid_key(
    bus: BusProcess, method: str, path: str, body: Any, authorization: bytes | None
) -> None:
    headers = {} if authorization is None else {b"Authorization": authorization}
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        reply = client.request(method, path, json=body, headers=headers)
    problem_of(reply, 401, "unauthenticated")
    assert reply.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "body", "system", "status", "code"),
    [
        ("POST", "/v1/evidence:query", query(), OUTSIDER, 403, "data_request_denied"),
        ("POST", "/v1/evidence:query", query(), PORTAL, 403, "data_request_denied"),
        ("GET", f"/v1/subjects/{MANAGER}/access-log", None, ONESTOP, 403, "access_log_denied"),
        ("GET", f"/v1/subjects/{MANAGER}/access-log", None, OUTSIDER, 403, "access_log_denied"),
        ("POST", "/v1/admin/reload", None, ONESTOP, 403, "forbidden"),
        ("POST", "/v1/admin/reload", None, PORTAL, 403, "forbidden"),
        # another system's subscription does not exist for the caller; its own needs the admin grant
        ("DELETE", "/v1/subscriptions/portal/dead-letters?all=true", None, ONESTOP, 404, "not_found"),
        ("DELETE", "/v1/subscriptions/portal/dead-letters?all=true", None, PORTAL, 403, "forbidden"),
        ("GET", "/v1/subscriptions/portal/dead-letters", None, OUTSIDER, 404, "not_found"),
    ],
)
def test_every_new_route_refuses_a_caller_without_the_right(
    bus: BusProcess, method: str, path: str, body: Any, system: str, status: int, code: str
) -> None:
    problem_of(send(bus, method, path, system, json=body, headers=OFFICIAL), status, code)


def test_stats_and_asyncapi_show_a_caller_only_its_own(bus: BusProcess) -> None:
    stats = send(bus, "GET", "/v1/stats?agency=000.00.00.H49", OUTSIDER).json()
    assert stats["scope"] == OUTSIDER.split("/")[0]
    assert all(portal["agencies"] == [] for portal in stats["portal"])
    document = send(bus, "GET", "/v1/asyncapi.json", OUTSIDER).text
    assert "portal" not in orjson.loads(document).get("operations", {})
    assert bus.config.subscriptions[0]["sink"]["webhook"]["url"] not in document


# --- hostile input: problem+json, never a 500 ---------------------------------------------------

JSON = {"Content-Type": "application/json", **OFFICIAL}


def _raw(value: Any) -> bytes:
    return orjson.dumps(value)


EVIDENCE_BODIES: list[tuple[str, bytes, int, str]] = [
    ("empty", b"", 400, "invalid_evidence_query"),
    ("truncated", b'{"dataset": "citizen.identity", ', 400, "invalid_evidence_query"),
    ("invalid utf-8", b'{"dataset": "\xff\xfe"}', 400, "invalid_evidence_query"),
    ("nested deep", b"[" * 5000 + b"]" * 5000, 400, "invalid_evidence_query"),
    ("nested deep object", b'{"a":' * 2000 + b"1" + b"}" * 2000, 400, "invalid_evidence_query"),
    ("array", b"[]", 400, "invalid_evidence_query"),
    ("null", b"null", 400, "invalid_evidence_query"),
    ("string", b'"citizen.identity"', 400, "invalid_evidence_query"),
    ("oversized", _raw({**query(), "dossier": "x" * 20_000}), 413, "payload_too_large"),
    ("subject not an object", _raw(query(subject=["x"])), 400, "invalid_evidence_query"),
    ("subject value a number", _raw(query(subject={"personal_id": 1})), 400, "invalid_evidence_query"),
    (
        "subject value nested",
        _raw(query(subject={"personal_id": {"$ne": ""}})),
        400,
        "invalid_evidence_query",
    ),
    ("too many keys", _raw(query(subject={f"k{i}": "1" for i in range(50)})), 400, "invalid_evidence_query"),
    ("unknown key", _raw(query(subject={"tax_code": TAX})), 400, "invalid_evidence_query"),
    ("key too long", _raw(query(subject={"personal_id": "1" * 300})), 400, "invalid_evidence_query"),
    (
        "lone surrogate",
        rb'{"dataset":"citizen.identity","subject":{"personal_id":"\ud800"},'
        rb'"procedure":"1.002861","purpose":"dossier_processing"}',
        400,
        "invalid_evidence_query",
    ),
    ("dataset traversal", _raw(query(dataset="../../etc/passwd")), 400, "invalid_evidence_query"),
    ("dataset unknown", _raw(query(dataset="citizen.secrets")), 404, "unknown_dataset"),
    ("dataset a number", _raw(query(dataset=7)), 400, "invalid_evidence_query"),
    ("purpose unknown", _raw(query(purpose="marketing")), 403, "data_request_denied"),
    ("procedure malformed", _raw(query(procedure="1.002861; DROP TABLE")), 400, "invalid_evidence_query"),
    ("missing fields", _raw({"dataset": "citizen.identity"}), 400, "invalid_evidence_query"),
    ("subject unknown", _raw(query(subject={"personal_id": UNKNOWN_CITIZEN})), 404, "subject_not_found"),
    # not a personal ID: refused by the bus before any provider or the audit log sees it
    ("id with markup", _raw(query(subject={"personal_id": "<a>&x;]]>"})), 400, "invalid_evidence_query"),
    (
        "id of foreign digits",
        _raw(query(subject={"personal_id": "٠٠١٠٩٩٠١٢٣٤٥"})),
        400,
        "invalid_evidence_query",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [pytest.param(body, status, code, id=name) for name, body, status, code in EVIDENCE_BODIES],
)
def test_hostile_evidence_queries(bus: BusProcess, body: bytes, status: int, code: str) -> None:
    problem_of(send(bus, "POST", "/v1/evidence:query", ONESTOP, content=body, headers=JSON), status, code)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ({"Content-Type": "application/json; charset=latin-1"}, 415, "unsupported_media_type"),
        ({"X-Deadline-Ms": "-1"}, 400, "invalid_evidence_query"),
        ({"X-Deadline-Ms": "nan"}, 400, "invalid_evidence_query"),
        ({"X-Deadline-Ms": "1e309"}, 400, "invalid_evidence_query"),
        ({"Request-Timeout": "0"}, 400, "invalid_evidence_query"),
        ({"Request-Timeout": "soon"}, 400, "invalid_evidence_query"),
        ({"X-Official-Id": "x" * 300}, 400, "invalid_evidence_query"),
    ],
)
def test_hostile_evidence_headers(bus: BusProcess, headers: dict[str, str], status: int, code: str) -> None:
    sent = {**JSON, **headers}
    problem_of(
        send(bus, "POST", "/v1/evidence:query", ONESTOP, content=_raw(query()), headers=sent), status, code
    )


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/subjects/" + "1" * 5000 + "/access-log", 400, "invalid_subject_id"),
        ("/v1/subjects/%2e%2e%2f%2e%2e%2fetc%2fpasswd/access-log", 404, "not_found"),
        ("/v1/subjects/..%2F..%2Fetc/access-log", 404, "not_found"),
        (
            "/v1/subjects/%D9%A0%D9%A0%D9%A1%D9%A0%D9%A9%D9%A9%D9%A0%D9%A1%D9%A2%D9%A3%D9%A4%D9%A5/access-log",
            400,
            "invalid_subject_id",
        ),
        (f"/v1/subjects/{MANAGER}%00/access-log", 400, "invalid_subject_id"),
        (f"/v1/subjects/{MANAGER}%20/access-log", 400, "invalid_subject_id"),
        ("/v1/subjects/'%20OR%201=1--/access-log", 400, "invalid_subject_id"),
        (f"/v1/subjects/{MANAGER}/access-log?before=0", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?before=-1", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?before=1e3", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?limit=0", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?limit=-5", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?limit=100000", 400, "invalid_request"),
        (f"/v1/subjects/{MANAGER}/access-log?limit=abc", 400, "invalid_request"),
        ("/v1/stats?agency=" + "x" * 100, 400, "invalid_request"),
    ],
)
def test_hostile_paths_and_paging(bus: BusProcess, path: str, status: int, code: str) -> None:
    problem_of(send(bus, "GET", path, PORTAL), status, code)


@pytest.mark.parametrize("before", [INT64_PAST, HUGE, str((1 << 63) - 1)])
def test_a_before_past_every_record_is_the_first_page(bus: BusProcess, before: str) -> None:
    reply = send(
        bus, "GET", f"/v1/subjects/{MANAGER}/access-log?before={before}&limit=1", PORTAL, headers=OFFICIAL
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["subject"] == MANAGER


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("DELETE", "/v1/subscriptions/portal/dead-letters", {}, 400, "invalid_request"),  # names nothing
        ("DELETE", "/v1/subscriptions/portal/dead-letters?all=1", {}, 400, "invalid_request"),
        ("DELETE", f"/v1/subscriptions/portal/dead-letters?id={INT64_PAST}", {}, 200, ""),
        ("DELETE", f"/v1/subscriptions/portal/dead-letters?id={HUGE}", {}, 200, ""),
        ("DELETE", "/v1/subscriptions/portal/dead-letters?id=-1", {}, 200, ""),
        ("DELETE", "/v1/subscriptions/portal/dead-letters?id=x", {}, 400, "invalid_request"),
        ("DELETE", "/v1/subscriptions/portal/dead-letters?all=maybe", {}, 400, "invalid_request"),
        ("DELETE", "/v1/subscriptions/portal/dead-letters?subject=" + "x" * 3000, {}, 400, "invalid_request"),
        ("DELETE", "/v1/subscriptions/" + "x" * 5000 + "/dead-letters?all=true", {}, 404, "not_found"),
        ("DELETE", "/v1/subscriptions/%E2%80%AE/dead-letters?all=true", {}, 404, "not_found"),
        ("GET", f"/v1/subscriptions/portal/dead-letters?after={HUGE}", {}, 200, ""),
        ("POST", "/v1/admin/reload", {"X-Official-Id": "x" * 300}, 400, "invalid_request"),
        ("PUT", "/v1/admin/reload", {}, 405, "method_not_allowed"),
        ("GET", "/v1/evidence:query", {}, 405, "method_not_allowed"),
        ("DELETE", "/v1/events", {}, 405, "method_not_allowed"),
        ("POST", "/v1/stats", {}, 405, "method_not_allowed"),
    ],
)
def test_hostile_operator_requests(
    bus: BusProcess, method: str, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    reply = send(bus, method, path, OPERATOR, headers=headers)
    if code:
        problem_of(reply, status, code)
    else:
        assert reply.status_code == status, reply.text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/stats", "GET"),
        ("PUT", "/v1/admin/reload", "POST"),
        ("POST", "/v1/asyncapi.json", "GET"),
        ("POST", "/v1/subjects/000000000001/access-log", "GET"),
        ("PUT", "/console/login", "GET, POST"),
    ],
)
def test_a_405_names_the_methods_of_the_path_whichever_router_serves_it(
    bus: BusProcess, method: str, path: str, allowed: str
) -> None:
    reply = send(bus, method, path, OPERATOR)
    problem_of(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == allowed  # RFC 9110: a 405 says what is allowed


# --- personal data ----------------------------------------------------------------------------


def test_minimisation_applies_to_a_record_served_from_the_cache(bus: BusProcess) -> None:
    subject = {"personal_id": MANAGER}
    whole = send(
        bus,
        "POST",
        "/v1/evidence:query",
        ONESTOP,
        headers=OFFICIAL,
        json=query(subject=subject, purpose="identity_verification"),
    )
    narrow = send(bus, "POST", "/v1/evidence:query", ONESTOP, headers=OFFICIAL, json=query(subject=subject))
    assert whole.status_code == 200 and narrow.status_code == 200, (whole.text, narrow.text)
    assert narrow.json()["provenance"]["cache_hit"] is True
    assert set(narrow.json()["data"]) == {"personalId", "fullName", "sex", "dateOfBirth"}
    assert set(whole.json()["data"]) > set(narrow.json()["data"])


def test_personal_ids_are_in_neither_the_log_nor_the_audit_file_in_clear(bus: BusProcess) -> None:
    for subject in (MANAGER, UNKNOWN_CITIZEN):
        send(
            bus,
            "POST",
            "/v1/evidence:query",
            ONESTOP,
            headers=OFFICIAL,
            json=query(subject={"personal_id": subject}),
        )
        send(bus, "GET", f"/v1/subjects/{subject}/access-log", PORTAL, headers=OFFICIAL)
        send(bus, "GET", f"/v1/subjects/{subject}/access-log", ONESTOP)  # refused, recorded
    page = send(bus, "GET", f"/v1/subjects/{UNKNOWN_CITIZEN}/access-log", PORTAL, headers=OFFICIAL).json()
    assert {e["outcome"] for e in page["entries"]} >= {"subject_not_found", "access_log_denied", "released"}
    log = bus.log.read_bytes()
    files = [bus.config.directory / name for name in ("audit.db", "audit.db-wal")]
    audit = b"".join(path.read_bytes() for path in files if path.exists())
    for subject in (MANAGER, UNKNOWN_CITIZEN):
        assert subject.encode() not in log
        assert subject.encode() not in audit
        assert subject.encode("utf-16-le") not in audit


def test_the_access_log_is_withheld_while_its_reading_cannot_be_recorded(bus: BusProcess) -> None:
    """Another process holds the audit database's write lock: the reading cannot be recorded, so
    the report is not released."""
    audit = sqlite3.connect(bus.config.directory / "audit.db", timeout=10, isolation_level=None)
    try:
        audit.execute("BEGIN EXCLUSIVE")
        withheld = send(bus, "GET", f"/v1/subjects/{MANAGER}/access-log", PORTAL, headers=OFFICIAL)
        audit.execute("ROLLBACK")
    finally:
        audit.close()
    problem_of(withheld, 503, "audit_unavailable")
    assert "entries" not in withheld.json()
    assert send(bus, "GET", f"/v1/subjects/{MANAGER}/access-log", PORTAL, headers=OFFICIAL).status_code == 200


# --- the console ----------------------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def console(bus: BusProcess) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in operator's browser: its client (holding the cookie) and the page's CSRF token."""
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        login = client.post("/console/login", data={"api_key": bus.config.keys[OPERATOR]})
        assert login.status_code == 303, login.text
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/console").text)
        assert found is not None
        yield client, found.group(1)


def _post(client: httpx.Client, path: str, content: bytes, **headers: str) -> httpx.Response:
    # a client of its own carrying the same cookie: one failed request must not spoil the others
    cookie = client.cookies.get(COOKIE)
    assert cookie is not None
    with httpx.Client(base_url=client.base_url, cookies={COOKIE: cookie}, timeout=30) as fresh:
        return fresh.post(path, content=content, headers={**FORM, **headers})


@pytest.mark.parametrize(
    ("form", "headers", "status", "code"),
    [
        (b"subscription=portal", {}, 403, "forbidden"),  # no CSRF token
        (b"subscription=portal&csrf=" + b"0" * 64, {}, 403, "forbidden"),
        (b"subscription=portal&csrf=%C3%A9", {}, 403, "forbidden"),  # not ASCII
        (b"subscription=portal&csrf=%00", {}, 403, "forbidden"),
        (b"subscription=portal&csrf={csrf}", {"Origin": "http://evil.example"}, 403, "forbidden"),
        (b"subscription=portal&csrf={csrf}", {"Origin": "null"}, 403, "forbidden"),
        (b"subscription=portal&csrf={csrf}&id=%C2%B2", {}, 404, "not_found"),  # "²".isdigit()
        (b"subscription=portal&csrf={csrf}&id=" + HUGE.encode(), {}, 404, "not_found"),
        (b"subscription=portal&csrf={csrf}&id=" + INT64_PAST.encode(), {}, 404, "not_found"),
        (b"subscription=portal&csrf={csrf}&id=-1", {}, 404, "not_found"),
        (b"subscription=nosuch&csrf={csrf}", {}, 404, "not_found"),
        (b"&".join(b"f%d=1" % i for i in range(40)) + b"&csrf={csrf}", {}, 413, "payload_too_large"),
        (b"csrf={csrf}&subscription=" + b"x" * 5000, {}, 413, "payload_too_large"),
        (b"\xff\xfe&csrf={csrf}", {}, 404, "not_found"),  # undecodable: no subscription named
    ],
)
def test_hostile_console_forms(
    console: tuple[httpx.Client, str], form: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    client, csrf = console
    problem_of(
        _post(client, "/console/replay", form.replace(b"{csrf}", csrf.encode()), **headers), status, code
    )


def test_a_form_that_is_not_a_form_is_415(console: tuple[httpx.Client, str]) -> None:
    client, csrf = console
    reply = _post(
        client, "/console/replay", orjson.dumps({"csrf": csrf}), **{"Content-Type": "application/json"}
    )
    problem_of(reply, 415, "unsupported_media_type")


def _resigned(payload: str, changes: dict[str, Any]) -> str:
    fields = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return base64.urlsafe_b64encode(orjson.dumps({**fields, **changes})).rstrip(b"=").decode()


def test_a_tampered_or_foreign_session_cookie_signs_nobody_in(
    bus: BusProcess, console: tuple[httpx.Client, str]
) -> None:
    cookie = console[0].cookies[COOKIE]
    payload, _, mac = cookie.partition(".")
    forged = [
        payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:],
        _resigned(payload, {"s": ONESTOP}) + "." + mac,  # another system, the operator's MAC
        _resigned(payload, {"e": 4e12}) + "." + mac,  # a longer life
        payload + ".",
        "." + mac,
        "x" * 2000,
        "!!!.???",
    ]
    for value in forged:
        with httpx.Client(base_url=bus.url, cookies={COOKIE: value}, timeout=30) as client:
            problem_of(client.get("/console/live"), 401, "unauthenticated")
            assert client.get("/console", follow_redirects=False).headers["location"] == "/console/login"


def test_the_console_refuses_keys_without_the_admin_grant_and_cross_origin_sign_in(bus: BusProcess) -> None:
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        refused = client.post("/console/login", data={"api_key": bus.config.keys[PORTAL]})
        assert refused.status_code == 403 and COOKIE not in refused.cookies
        wrong = client.post("/console/login", data={"api_key": "lt_nope"})
        assert wrong.status_code == 401 and COOKIE not in wrong.cookies
        foreign = client.post(
            "/console/login", data={"api_key": bus.config.keys[OPERATOR]}, headers={"Origin": "http://evil"}
        )
        problem_of(foreign, 403, "forbidden")
        assert COOKIE not in foreign.cookies


def test_logout_clears_the_cookie(bus: BusProcess) -> None:
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        client.post("/console/login", data={"api_key": bus.config.keys[OPERATOR]})
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/console").text)
        assert found is not None
        problem_of(client.post("/console/logout", data={"x": "1"}), 403, "forbidden")  # no CSRF token
        out = client.post("/console/logout", data={"csrf": found.group(1)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert 'lienthong_console=""' in out.headers["set-cookie"]
        assert "Max-Age=0" in out.headers["set-cookie"]
        problem_of(client.get("/console/live"), 401, "unauthenticated")
