"""Released personal data stays with its recipient at every step after configuration: the router
enqueues an addressed event only for its recipient's subscriptions (whatever their filters say),
a delivery drops a queued message addressed to another system, and a dead-letter listing shows
no data of a letter addressed to another system (router.recipients)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from router.bus import Bus
from router.dead_letter_reading import DeadLetterReading
from router.delivery import SubscriptionDelivery
from router.directory import System
from router.envelope import CloudEvent, attributes_of
from router.errors import MalformedEvent
from router.evidence.catalogue import Dataset, PersonalData
from router.metrics import NoMetrics
from router.policy import Policy, Rule
from router.ports import DeadLetter, DeadLetterQuery, Message, StoredMessage
from router.publishing import EventChecks
from router.routing import Router
from router.subscriptions import SinkSpec, Subscription
from schemas.registry import SchemaRegistry
from tests.support.dead_letters import MemoryDeadLetters
from tests.support.messages import stored
from tests.support.paths import DATA
from tests.unit.router.delivery.fakes import ScriptedSink

COLLECTED, STATUS = "dossier.evidence.collected", "dossier.status.changed"
ONESTOP, PORTAL, WAREHOUSE = "000.00.00.H49/motcua", "000.00.00.G22/dvcqg", "000.00.00.H49/khodulieu"
BROKER = "000.00.00.H49/truclienthong"
EXAMPLES = DATA / "events"
OPERATOR = System("000.00.00.H49/vanhanh", "000.00.00.H49", "vanhanh")
RECORD = {"personalId": "001099012345", "fullName": "Nguyễn Văn An"}
RELEASED = {
    "dossierCode": "000.00.00.H49-261127-0001",
    "procedureCode": "1.001612",
    "found": [
        {
            "dataset": "citizen.identity",
            "key": {"personal_id": RECORD["personalId"]},
            "data": RECORD,
            "provenance": {
                "provider": "population",
                "retrievedAt": "2026-11-27T03:12:45Z",
                "cacheHit": False,
            },
        }
    ],
}


def subscription(name: str, system: str, types: tuple[str, ...] = ()) -> Subscription:
    return Subscription(name, system, types, (), SinkSpec("webhook"))


# the portal sees every type (as a wildcard subscription or a filter left out would make it)
WILDCARD = subscription("portal-everything", PORTAL)
RECIPIENT = subscription("onestop-evidence", ONESTOP, (COLLECTED,))
OTHER = subscription("warehouse-evidence", WAREHOUSE, (COLLECTED, STATUS))


class Everything:
    def may_subscribe(self, system_id: str, event_type: str) -> bool:
        return True


class Appends:
    """A transport that only remembers what was appended where."""

    def __init__(self) -> None:
        self.topics: dict[str, list[str]] = {}

    async def append(self, topic: str, messages: Sequence[Message], **_: Any) -> None:
        self.topics.setdefault(topic, []).extend(attributes_of(m.headers)["id"] for m in messages)


def event(n: int, event_type: str, recipient: str | None) -> StoredMessage:
    extensions: dict[str, str | int | bool] = {} if recipient is None else {"recipient": recipient}
    return stored(
        f"e-{n}", event_type=event_type, extensions=extensions, offset=n, topic="inbound", data=RELEASED
    )


async def routed(*messages: StoredMessage) -> dict[str, list[str]]:
    transport = Appends()
    router = Router(
        [WILDCARD, RECIPIENT, OTHER], Everything(), transport, NoMetrics(),  # type: ignore[arg-type]
        released_types={COLLECTED},
    )  # fmt: skip
    await router.handle({0: list(messages)})
    return transport.topics


async def test_released_data_is_enqueued_for_its_recipient_only() -> None:
    assert await routed(event(1, COLLECTED, ONESTOP)) == {RECIPIENT.topic: ["e-1"]}


async def test_a_released_type_that_names_no_recipient_goes_to_nobody() -> None:
    assert await routed(event(1, COLLECTED, None)) == {}


async def test_any_event_that_names_a_recipient_is_for_that_system_only() -> None:
    # contracts that leave the declaration out (a deployment's own schemas.path) change nothing
    assert await routed(event(1, STATUS, WAREHOUSE)) == {OTHER.topic: ["e-1"]}
    assert await routed(event(2, STATUS, None)) == {WILDCARD.topic: ["e-2"], OTHER.topic: ["e-2"]}


async def test_a_delivery_drops_a_message_addressed_to_another_system() -> None:
    # queued by a version of the bus without the rule, or a replayed dead letter: not sent, not dead-lettered
    sink, store = ScriptedSink(), MemoryDeadLetters()
    delivery = SubscriptionDelivery(WILDCARD, sink, store)
    mine = event(3, COLLECTED, PORTAL)
    await delivery.handle({0: [event(1, STATUS, None), event(2, COLLECTED, ONESTOP), mine]})
    assert sink.delivered == ["e-1", "e-3"]
    assert store.letters == []


def letter(n: int, message: StoredMessage, subscription: Subscription) -> DeadLetter:
    return DeadLetter(n, subscription.name, f"e-{n}", "d", "budget_exhausted", 3, "HTTP 503", 0, message)


async def test_a_dead_letter_listing_shows_no_data_released_to_another_system() -> None:
    store = MemoryDeadLetters()
    store.letters = [
        letter(1, event(1, COLLECTED, ONESTOP), WILDCARD),  # queued for the portal by a bus without the rule
        letter(2, event(2, STATUS, None), WILDCARD),
        letter(3, event(3, COLLECTED, ONESTOP), RECIPIENT),
    ]
    datasets = {
        "citizen.identity": Dataset(
            "citizen.identity", "population", ("personal_id",), PersonalData.PERSONAL, {}
        )
    }
    nothing: Any = None
    bus = Bus(
        nothing, nothing, nothing, nothing, nothing, store, [WILDCARD, RECIPIENT], lambda name: None,
        reading=DeadLetterReading(lambda: datasets),
    )  # fmt: skip
    portal = System(PORTAL, "000.00.00.G22", "dvcqg")
    shown = await bus.dead_letters(portal, WILDCARD.name, DeadLetterQuery())
    assert [(d.id, d.message.value) for d in shown] == [(1, b""), (2, orjson.dumps(RELEASED))]
    assert dict(shown[0].message.headers)["ce_type"] == COLLECTED.encode()  # its attributes stay
    # nothing released is shown, so reading the listing is no access to record
    assert (
        bus._reading is not None and bus._reading(shown, request_id="r", requester=PORTAL, official="") == []
    )
    onestop = System(ONESTOP, "000.00.00.H49", "motcua")
    [own] = await bus.dead_letters(onestop, RECIPIENT.name, DeadLetterQuery())
    assert orjson.loads(own.message.value) == RELEASED


def test_an_event_of_a_released_type_must_name_its_recipient() -> None:
    # without one no subscription would receive it: refused at publishing, and on Kafka's inbound
    checks = EventChecks(SchemaRegistry.load(), Policy([Rule(systems=(BROKER,), publish=(COLLECTED,))]))
    data = orjson.loads((EXAMPLES / COLLECTED / "valid-complete.json").read_bytes())
    event = CloudEvent(id="c-1", source=BROKER, type=COLLECTED, subject=data["dossierCode"], data=data)
    problem, _ = checks.check(event)
    assert isinstance(problem, MalformedEvent)
    assert [e.pointer for e in problem.errors] == ["/recipient"]
    event.extensions["recipient"] = ONESTOP
    assert checks.check(event)[0] is None
