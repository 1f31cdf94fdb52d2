"""Publishing through a shared dedup store (router.state.PublishDedup), as on Kafka with
``state.postgres``: two publishers on one store stand for two processes of a bus. The store is the
SQLite adapter (the PostgreSQL one keeps the same contract: tests/contract/test_state_contract.py);
the log is the embedded one, counted so that what the store kept out of it shows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from adapters.embedded import EmbeddedLog
from adapters.state import SqliteStateStore
from router.envelope import CloudEvent, dedup_id, from_structured
from router.errors import Unavailable
from router.metrics import NoMetrics
from router.policy import Policy, Rule
from router.ports import AppendResult, Message
from router.publishing import INBOUND_TOPIC, Publisher
from router.state import Claim, ClaimState, Placed, PublishDedup
from schemas.registry import SchemaRegistry
from tests.support.bus import ONESTOP
from tests.support.events import status_changed


class CountingLog(EmbeddedLog):
    """The embedded log, counting the messages handed to it."""

    appended = 0

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        self.appended += len(messages)
        return await super().append(topic, messages, retry_for_s=retry_for_s)


Parts = tuple[CountingLog, SqliteStateStore, SqliteStateStore]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    log = CountingLog(tmp_path / "log.db", durability="os")
    await log.start()
    await log.create_topic(INBOUND_TOPIC, 4)
    first, second = SqliteStateStore(tmp_path / "state.db"), SqliteStateStore(tmp_path / "state.db")
    await first.start()
    await second.start()
    yield log, first, second
    await first.close()
    await second.close()
    await log.close()


def publisher(log: EmbeddedLog, store: SqliteStateStore, dedup: PublishDedup | None = None) -> Publisher:
    """A publisher on ``store``'s dedup (or ``dedup``, wrapping it)."""
    registry = SchemaRegistry.load(None, "BACKWARD")
    policy = Policy([Rule(systems=(ONESTOP,), publish=("dossier.*",))])
    return Publisher(registry, policy, log, NoMetrics(), dedup=dedup or store.dedup)


def event(number: int, sequence: int = 1) -> CloudEvent:
    return from_structured(status_changed(number, sequence))


async def test_the_same_event_through_two_publishers_is_appended_once(parts: Parts) -> None:
    log, first, second = parts
    [accepted] = await publisher(log, first).publish(ONESTOP, [event(1)], batch=False)
    [again] = await publisher(log, second).publish(ONESTOP, [event(1)], batch=False)
    assert (accepted.duplicate, again.duplicate) == (False, True)
    assert log.appended == 1
    assert await publisher(log, second).accepted_before(ONESTOP, event(1).id)


async def test_a_batch_appends_its_new_events_and_one_copy_of_a_repeated_one(parts: Parts) -> None:
    log, first, second = parts
    await publisher(log, first).publish(ONESTOP, [event(1)], batch=False)
    answers = await publisher(log, second).publish(
        ONESTOP, [event(1), event(2), event(2), event(3)], batch=True
    )
    assert [a.duplicate for a in answers] == [True, False, True, False]
    assert log.appended == 3


class CountingDedup:
    """A store's dedup, recording the ids of each claim and settle (one entry per statement)."""

    def __init__(self, dedup: PublishDedup) -> None:
        self._dedup = dedup
        self.claims: list[list[str]] = []
        self.settles: list[list[str]] = []

    async def claim(self, topic: str, dedup_ids: Sequence[str]) -> Mapping[str, Claim]:
        self.claims.append(list(dedup_ids))
        return await self._dedup.claim(topic, dedup_ids)

    async def settle(self, topic: str, placed: Sequence[Placed]) -> None:
        self.settles.append([p.dedup_id for p in placed])
        await self._dedup.settle(topic, placed)

    async def release(self, topic: str, dedup_ids: Sequence[str]) -> None:
        await self._dedup.release(topic, dedup_ids)

    async def seen(self, topic: str, dedup_id: str) -> bool:
        return await self._dedup.seen(topic, dedup_id)


async def test_a_batch_claims_its_ids_at_once_and_settles_them_at_once(parts: Parts) -> None:
    log, first, _ = parts
    await publisher(log, first).publish(ONESTOP, [event(0)], batch=False)
    counting = CountingDedup(first.dedup)
    batch = [event(n) for n in range(100)] + [event(7)]
    answers = await publisher(log, first, counting).publish(ONESTOP, batch, batch=True)
    ids = [dedup_id(ONESTOP, e.id) for e in batch]
    # one claim of the batch's distinct ids; one settle of those appended (not the duplicate)
    assert counting.claims == [ids[:100]]
    assert counting.settles == [ids[1:100]]
    assert [a.duplicate for a in answers] == [True] + [False] * 99 + [True]
    assert log.appended == 100


async def test_an_event_another_process_is_appending_is_refused_for_a_retry(parts: Parts) -> None:
    log, first, second = parts
    held = dedup_id(ONESTOP, event(1).id)
    assert (await first.dedup.claim(INBOUND_TOPIC, [held]))[held].state is ClaimState.MINE
    with pytest.raises(Unavailable, match="another process"):
        await publisher(log, second).publish(ONESTOP, [event(2), event(1)], batch=True)
    assert log.appended == 0
    # what the refused call claimed was given back: the retry appends it
    [accepted] = await publisher(log, second).publish(ONESTOP, [event(2)], batch=False)
    assert not accepted.duplicate


async def test_a_failed_append_gives_its_claims_back(parts: Parts) -> None:
    log, first, _ = parts
    await log.close()
    with pytest.raises(Unavailable):
        await publisher(log, first).publish(ONESTOP, [event(1)], batch=False)
    held = dedup_id(ONESTOP, event(1).id)
    assert (await first.dedup.claim(INBOUND_TOPIC, [held]))[held].state is ClaimState.MINE


async def test_the_store_out_of_reach_refuses_the_publish(parts: Parts) -> None:
    log, first, _ = parts
    (first.path).unlink()
    first.path.mkdir()  # the file replaced by a folder: SQLite cannot open it
    await first.close()
    with pytest.raises(Unavailable, match="shared state store"):
        await publisher(log, first).publish(ONESTOP, [event(1)], batch=False)
    assert log.appended == 0
