"""Routing at publish (Router.at_publish) sends each event where the router's loop sends it
(Router.handle): by type, policy, filters and recipient, and stamps the copy with the publish's time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.envelope import CloudEvent, attributes_of, to_message
from router.filters import Exact
from router.metrics import NoMetrics
from router.ports import Message, StoredMessage
from router.received import RECEIVED_AT_HEADER
from router.routing import Router
from router.subscriptions import SinkSpec, Subscription

COLLECTED, STATUS, OTHER_TYPE = "dossier.evidence.collected", "dossier.status.changed", "dossier.other"
ONESTOP, PORTAL, WAREHOUSE = "000.00.00.H49/motcua", "000.00.00.G22/dvcqg", "000.00.00.H49/khodulieu"

SUBSCRIPTIONS = [
    Subscription("portal-everything", PORTAL, (), (), SinkSpec("webhook")),
    Subscription("onestop-evidence", ONESTOP, (COLLECTED,), (), SinkSpec("webhook")),
    Subscription("warehouse", WAREHOUSE, (COLLECTED, STATUS), (), SinkSpec("webhook")),
    Subscription("portal-h49", PORTAL, (STATUS,), (Exact("subject", "h49-5"),), SinkSpec("webhook")),
]


class NotOther:
    def may_subscribe(self, system_id: str, event_type: str) -> bool:
        return event_type != OTHER_TYPE or system_id != PORTAL


class Appends:
    def __init__(self) -> None:
        self.topics: dict[str, list[str]] = {}

    async def append(self, topic: str, messages: Sequence[Message], **_: Any) -> None:
        self.topics.setdefault(topic, []).extend(attributes_of(m.headers)["id"] for m in messages)


def router(transport: Appends) -> Router:
    return Router(
        SUBSCRIPTIONS, NotOther(), transport, NoMetrics(), released_types={COLLECTED},  # type: ignore[arg-type]
        clock=lambda: 1_700_000_000.123,
    )  # fmt: skip


def events() -> list[CloudEvent]:
    out = []
    for n, (event_type, recipient) in enumerate(
        [(STATUS, None), (COLLECTED, ONESTOP), (COLLECTED, None), (STATUS, WAREHOUSE), (OTHER_TYPE, None)] * 2
    ):
        extensions: dict[str, str | int | bool] = {} if recipient is None else {"recipient": recipient}
        out.append(
            CloudEvent(f"e-{n}", ONESTOP, event_type, subject=f"h49-{n}", data={}, extensions=extensions)
        )
    return out


async def test_each_event_goes_where_the_routers_loop_sends_it() -> None:
    published = [(event, to_message(event)) for event in events()]
    loop = Appends()
    stored = [
        StoredMessage("inbound", 0, n, m.key, m.value, m.headers, 1) for n, (_, m) in enumerate(published)
    ]
    await router(loop).handle({0: stored})

    routed = router(Appends()).at_publish(published)

    at_publish: dict[str, list[str]] = {}
    for (event, _), copy in zip(published, routed, strict=True):
        for topic in copy.topics if copy is not None else ():
            at_publish.setdefault(topic, []).append(event.id)
        if copy is not None:
            assert copy.headers == ((RECEIVED_AT_HEADER, b"1700000000123"),)
    assert at_publish == loop.topics
    assert at_publish[SUBSCRIPTIONS[3].topic] == ["e-5"]  # the filter looked at the subject
