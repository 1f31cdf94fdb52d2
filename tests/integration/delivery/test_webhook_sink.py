"""The webhook sink against a real HTTP receiver (uvicorn on 127.0.0.1), alone and under
SubscriptionDelivery."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest

from adapters.aiohttp_session import LazySession
from adapters.webhook import (
    MAX_DETAIL_CHARS,
    USER_AGENT,
    WebhookSink,
    encode_header_value,
    new_http_client,
    parse_retry_after,
    webhook_sink_factory,
)
from router import envelope
from router.delivery import RETRIES_EXHAUSTED, SubscriptionDelivery, idempotency_key
from router.envelope import CloudEvent, to_message
from router.errors import ConfigError
from router.ports import StoredMessage
from router.sinks import SinkError
from router.subscriptions import BreakerPolicy, OnDeadLetter, RetryPolicy, SinkSpec, Subscription
from simulators.server import ServerTls, SimulatorServer
from tests.support.dead_letters import MemoryDeadLetters
from tests.support.messages import stored
from tests.support.receiver import Fault, Receiver
from tests.support.tls import new_authority

SUBJECT = 'Hồ sơ 000.00.00.H49-250101-0001 "100%"'


@pytest.fixture
def receiver(receiver: Receiver) -> Receiver:
    """The module's receiver (tests/integration/conftest.py), emptied for each test."""
    receiver.reset()
    return receiver


@pytest.fixture
async def client() -> AsyncIterator[LazySession]:
    async with new_http_client() as shared:
        yield shared


def sink_for(client: LazySession, receiver: Receiver, **options: object) -> WebhookSink:
    sink = webhook_sink_factory(client)(SinkSpec("webhook", {"url": receiver.url, **options}))
    assert isinstance(sink, WebhookSink)
    return sink


async def send_failing(sink: WebhookSink, message: StoredMessage) -> SinkError:
    with pytest.raises(SinkError) as caught:
        await sink.send([message], "key-1")
    return caught.value


# --- what the receiver gets --------------------------------------------------------------------


async def test_binary_mode_carries_the_attributes_as_percent_encoded_ce_headers(
    client: LazySession, receiver: Receiver
) -> None:
    message = stored(
        "evt-1",
        SUBJECT,
        data={"trang_thai": 4, "ghi_chú": "đã tiếp nhận"},
        extensions={"count": 3, "flag": True},
    )
    sink = sink_for(client, receiver, headers={"Authorization": "Bearer s3cret"})
    await sink.send([message], "evt-1")
    [(headers, body)] = receiver.received
    assert body == message.value
    assert orjson.loads(body) == {"trang_thai": 4, "ghi_chú": "đã tiếp nhận"}
    assert headers["content-type"] == "application/json"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "evt-1"
    assert headers["ce-type"] == "dossier.status.changed"
    assert headers["ce-source"] == "000.00.00.H49/motcua"
    assert headers["ce-subject"] == encode_header_value(SUBJECT)
    assert headers["ce-subject"].isascii() and " " not in headers["ce-subject"]
    assert '"' not in headers["ce-subject"]
    assert unquote(headers["ce-subject"]) == SUBJECT
    assert headers["idempotency-key"] == "evt-1"
    assert headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("lienthong/")
    assert headers["authorization"] == "Bearer s3cret"
    # typed extensions are header text in binary mode; the bus's record of their types stays home
    assert (headers["ce-count"], headers["ce-flag"]) == ("3", "true")
    assert not any(name.startswith("lienthong") for name in headers)
    # and a CloudEvents reader gets the same event back
    event = envelope.from_http_binary(headers.items(), headers["content-type"], orjson.loads(body))
    assert (event.id, event.subject, event.type) == ("evt-1", SUBJECT, "dossier.status.changed")


async def test_an_id_outside_printable_ascii_is_encoded_alike_in_ce_id_and_idempotency_key(
    client: LazySession, receiver: Receiver
) -> None:
    await sink_for(client, receiver).send([stored("hồ sơ #1")], "hồ sơ #1")
    [(headers, _)] = receiver.received
    assert headers["ce-id"] == headers["idempotency-key"] == "h%E1%BB%93%20s%C6%A1%20#1"


async def test_structured_mode(client: LazySession, receiver: Receiver) -> None:
    extensions: dict[str, str | int | bool] = {"correlationid": "c-1", "count": 3, "flag": False}
    message = stored("evt-2", SUBJECT, data={"n": 1}, extensions=extensions)
    await sink_for(client, receiver, mode="structured").send([message], "evt-2")
    [(headers, body)] = receiver.received
    assert headers["content-type"] == envelope.STRUCTURED
    assert "ce-id" not in headers
    event = envelope.from_structured(orjson.loads(body))
    assert (event.id, event.subject, event.data) == ("evt-2", SUBJECT, {"n": 1})
    assert event.extensions == extensions
    assert type(event.extensions["count"]) is int and type(event.extensions["flag"]) is bool


async def test_a_batch_is_one_cloudevents_batch_body(client: LazySession, receiver: Receiver) -> None:
    messages = [
        stored(f"evt-{i}", "dossier-7", offset=i, data={"i": i}, extensions={"rank": i, "last": i == 2})
        for i in range(3)
    ]
    key = idempotency_key(messages)
    await sink_for(client, receiver).send(messages, key)
    [(headers, body)] = receiver.received
    assert headers["content-type"] == envelope.BATCH
    assert headers["idempotency-key"] == key
    events = envelope.from_batch(orjson.loads(body))
    assert [(e.id, e.data) for e in events] == [("evt-0", {"i": 0}), ("evt-1", {"i": 1}), ("evt-2", {"i": 2})]
    assert [e.extensions for e in events] == [
        {"rank": 0, "last": False},
        {"rank": 1, "last": False},
        {"rank": 2, "last": True},
    ]


async def test_connections_are_kept_alive_between_calls(client: LazySession, receiver: Receiver) -> None:
    sink = sink_for(client, receiver)
    for i in range(3):
        await sink.send([stored(f"evt-{i}")], f"evt-{i}")
    ports = {request.client_port for request in receiver.requests}
    assert len(ports) == 1


# --- how failures are judged -------------------------------------------------------------------


async def test_503_with_retry_after_seconds_is_retryable_with_that_delay(
    client: LazySession, receiver: Receiver
) -> None:
    receiver.fail_next(Fault(503, {"Retry-After": "7"}, b"maintenance"))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert (error.retryable, error.status, error.retry_after_s) == (True, 503, 7.0)
    assert error.detail == "HTTP 503 Service Unavailable: maintenance"


async def test_429_with_retry_after_date_is_retryable(client: LazySession, receiver: Receiver) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    receiver.fail_next(Fault(429, {"Retry-After": when}))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert error.retryable and error.status == 429
    assert error.retry_after_s is not None and 3000 < error.retry_after_s <= 3600


@pytest.mark.parametrize("status", [408, 425, 500, 502, 504])
async def test_transient_statuses_are_retryable(client: LazySession, receiver: Receiver, status: int) -> None:
    receiver.fail_next(Fault(status))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert error.retryable and error.status == status and error.retry_after_s is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 413, 422])
async def test_other_4xx_are_not_retryable(client: LazySession, receiver: Receiver, status: int) -> None:
    receiver.fail_next(Fault(status, body=b'{"detail": "unknown dossier"}'))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert not error.retryable and error.status == status
    assert "unknown dossier" in error.detail


async def test_a_redirect_is_not_followed_and_not_retryable(client: LazySession, receiver: Receiver) -> None:
    receiver.fail_next(Fault(307, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert not error.retryable and error.status == 307
    assert "redirects are not followed" in error.detail
    assert [r.path for r in receiver.requests] == ["/events"]


async def test_a_huge_error_body_is_cut(client: LazySession, receiver: Receiver) -> None:
    receiver.fail_next(Fault(400, body=b"x" * 2_000_000))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert len(error.detail) <= MAX_DETAIL_CHARS + 40


async def test_a_slow_receiver_times_out_retryably(client: LazySession, receiver: Receiver) -> None:
    receiver.fail_next(Fault(200, delay_s=1.5))
    error = await send_failing(sink_for(client, receiver, timeout_s=0.2), stored("evt-1"))
    assert error.retryable and error.status is None
    assert "no answer within 0.2s" in error.detail


async def test_a_dropped_connection_is_retryable(client: LazySession, receiver: Receiver) -> None:
    receiver.fail_next(Fault(drop=True))
    error = await send_failing(sink_for(client, receiver), stored("evt-1"))
    assert error.retryable and error.status is None


async def test_a_stopped_receiver_is_retryable(client: LazySession) -> None:
    receiver = Receiver().start()
    sink = sink_for(client, receiver)
    receiver.stop()
    error = await send_failing(sink, stored("evt-1"))
    assert error.retryable and error.status is None
    assert "ClientConnectorError" in error.detail


async def test_an_event_without_data_goes_without_content_type(
    client: LazySession, receiver: Receiver
) -> None:
    # In binary mode Content-Type is the event's datacontenttype: none may be made up for it.
    message = to_message(CloudEvent(id="evt-1", source="000.00.00.H49/motcua", type="dossier.status.changed"))
    no_data = StoredMessage("deliver.test", 0, 0, message.key, message.value, message.headers, 0)
    await sink_for(client, receiver).send([no_data], "evt-1")
    [(headers, body)] = receiver.received
    assert body == b"" and "content-type" not in headers and headers["ce-id"] == "evt-1"


async def test_a_2xx_in_an_encoding_the_bus_cannot_decode_is_still_delivered(
    client: LazySession, receiver: Receiver
) -> None:
    # Some proxies compress whatever the client asked; only the status counts.
    receiver.fail_next(Fault(200, {"Content-Encoding": "br"}, b"\x0b\x02\x80ok\x03"))
    await sink_for(client, receiver).send([stored("evt-1")], "evt-1")
    assert len(receiver.received) == 1


async def test_a_url_that_is_not_http_is_a_permanent_failure(client: LazySession) -> None:
    # the factory refuses it at load; a sink built directly still says so without retrying
    error = await send_failing(WebhookSink(client, "ftp://127.0.0.1/x"), stored("evt-1"))
    assert not error.retryable and "unsupported URL" in error.detail


async def test_a_certificate_that_fails_verification_is_retryable(
    client: LazySession, tmp_path: Path
) -> None:
    """An expired or unknown certificate is the receiver's to fix: its events wait for it instead
    of going to dead letters at the first attempt."""
    authority = new_authority(tmp_path, "a CA the bus does not trust")
    leaf = authority.issue(tmp_path, "receiver", server=True)
    reached: list[str] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = SimulatorServer(receiver, tls=ServerTls(str(leaf.cert), str(leaf.key))).start()
    try:
        sink = WebhookSink(client, f"https://127.0.0.1:{server.port}/events")
        error = await send_failing(sink, stored("evt-1"))
    finally:
        server.stop()
    assert error.retryable and "certificate" in error.detail.lower()
    assert reached == []


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", lambda: now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), lambda: now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), lambda: now) == 0.0
    assert parse_retry_after("soon", lambda: now) is None
    assert parse_retry_after("²", lambda: now) is None
    assert parse_retry_after(None) is None


def test_the_percent_encoding_of_the_cloudevents_http_binding() -> None:
    assert encode_header_value("plain-ASCII_value.~!#$&'()*+,/:;<=>?@[]^`{|}") == (
        "plain-ASCII_value.~!#$&'()*+,/:;<=>?@[]^`{|}"
    )
    assert encode_header_value('a b"c%d') == "a%20b%22c%25d"
    assert encode_header_value("Đà Nẵng") == "%C4%90%C3%A0%20N%E1%BA%B5ng"
    # the edges of printable ASCII: controls, DEL and the non-breaking space are encoded
    assert encode_header_value("a\tb\x7fc\u00a0") == "a%09b%7Fc%C2%A0"
    assert encode_header_value("") == ""


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({}, "'url' is required"),
        ({"url": "ftp://127.0.0.1/x"}, "http or https"),
        ({"url": "http://127.0.0.1/x", "mode": "soap"}, "'mode'"),
        ({"url": "http://127.0.0.1/x", "timeout_s": 0}, "'timeout_s'"),
        ({"url": "http://127.0.0.1/x", "headers": {"Idempotency-Key": "x"}}, "set by the bus"),
        ({"url": "http://127.0.0.1/x", "headers": {"ce-id": "x"}}, "set by the bus"),
        ({"url": "http://127.0.0.1/x", "headers": {"X-Token": "é"}}, "printable ASCII"),
        ({"url": "http://127.0.0.1/x", "headers": {"X-A:inj": "v"}}, "not a header name"),
        ({"url": "http://127.0.0.1/x", "headers": {"Bad Name": "v"}}, "not a header name"),
        ({"url": "http://127.0.0.1/a\r\nX-Injected: y"}, "printable ASCII without spaces"),
        ({"url": "http://h\x00/x"}, "printable ASCII without spaces"),
        ({"url": "http://đà-nẵng.vn/x"}, "xn-- form"),
        ({"url": "http://" + "a" * 70 + ".vn/x"}, "not a valid host name"),
        ({"url": "http://user:secret@127.0.0.1/x"}, "may not carry credentials"),
    ],
)
async def test_bad_options_are_config_errors(
    client: LazySession, options: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        webhook_sink_factory(client)(SinkSpec("webhook", options))


# --- end to end: SubscriptionDelivery + WebhookSink + a real receiver --------------------------


def subscription(url: str, **overrides: object) -> Subscription:
    settings: dict[str, object] = {
        "name": "portal-status",
        "system": "000.00.00.G22/portal",
        "types": (),
        "filters": (),
        "sink": SinkSpec("webhook", {"url": url, "timeout_s": 2}),
        "retry": RetryPolicy(max_attempts=4, max_elapsed_s=10, initial_backoff_s=0.005, max_backoff_s=0.02),
        "breaker": BreakerPolicy(failure_threshold=1000, reset_timeout_s=0.05),
    }
    settings.update(overrides)
    return Subscription(**settings)  # type: ignore[arg-type]


def queue(subjects: list[str], per_subject: int, partitions: int) -> dict[int, list[StoredMessage]]:
    out: dict[int, list[StoredMessage]] = {p: [] for p in range(partitions)}
    for n in range(per_subject):
        for index, subject in enumerate(subjects):
            partition = index % partitions
            out[partition].append(
                stored(
                    f"{subject}#{n}", subject, partition=partition, offset=len(out[partition]), data={"n": n}
                )
            )
    return out


def delivered_by_subject(receiver: Receiver) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for headers, _ in receiver.received:
        out.setdefault(unquote(headers["ce-subject"]), []).append(headers["ce-id"])
    return out


@pytest.mark.parametrize("batch_size", [1, 4])
async def test_events_arrive_in_order_per_subject_despite_failures(
    client: LazySession, receiver: Receiver, batch_size: int
) -> None:
    subjects = [f"dossier-{i}" for i in range(6)]
    batches = queue(subjects, per_subject=8, partitions=3)
    receiver.fail_next(Fault(503), Fault(drop=True), Fault(429, {"Retry-After": "0"}))
    receiver.fail_when(lambda r: "dossier-2#3" in r.body.decode() + str(r.headers), Fault(502), times=2)
    receiver.fail_when(
        lambda r: "dossier-4#5" in r.body.decode() + str(r.headers), Fault(200, delay_s=1.0), times=1
    )
    sink = webhook_sink_factory(client)(SinkSpec("webhook", {"url": receiver.url, "timeout_s": 0.3}))
    store = MemoryDeadLetters()
    delivery = SubscriptionDelivery(subscription(receiver.url, batch_size=batch_size), sink, store)

    await delivery.handle(batches)

    assert store.letters == []
    if batch_size > 1:
        got = [e.id for _, body in receiver.received for e in envelope.from_batch(orjson.loads(body))]
        by_subject: dict[str, list[str]] = {}
        for event_id in got:
            by_subject.setdefault(event_id.split("#")[0], []).append(event_id)
    else:
        by_subject = delivered_by_subject(receiver)
    # the timed-out call may have been taken by the receiver too (that is what Idempotency-Key is
    # for); apart from that, every event once and in order
    for subject in subjects:
        deduplicated = list(dict.fromkeys(by_subject[subject]))
        assert deduplicated == [f"{subject}#{n}" for n in range(8)]
    assert any(r.status is None for r in receiver.requests)  # the faults really happened
    assert sum(1 for r in receiver.requests if r.status in (502, 503, 429)) >= 3


async def test_dead_letters_after_the_budget_and_the_rest_is_delivered(
    client: LazySession, receiver: Receiver
) -> None:
    receiver.fail_when(lambda r: r.headers.get("ce-subject") == "broken", Fault(503, body=b"down for repair"))
    sink = webhook_sink_factory(client)(SinkSpec("webhook", {"url": receiver.url}))
    store = MemoryDeadLetters()
    delivery = SubscriptionDelivery(
        subscription(
            receiver.url,
            on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
            retry=RetryPolicy(max_attempts=3, max_elapsed_s=10, initial_backoff_s=0.005, max_backoff_s=0.02),
        ),
        sink,
        store,
    )
    batches = queue(["fine", "broken"], per_subject=3, partitions=1)

    await delivery.handle(batches)

    assert delivered_by_subject(receiver) == {"fine": ["fine#0", "fine#1", "fine#2"]}
    letters = [(d.event_id, d.reason, d.attempts) for d in store.letters]
    assert letters == [
        ("broken#0", RETRIES_EXHAUSTED, 3),
        ("broken#1", "held_subject", 0),
        ("broken#2", "held_subject", 0),
    ]
    assert store.letters[0].last_error == "HTTP 503 Service Unavailable: down for repair"
    assert sum(1 for r in receiver.requests if r.headers.get("ce-subject") == "broken") == 3
