"""A replayed dead letter is a new message on the delivery queue: retention counts its age from
the replay, not from the original publish, so an old letter replayed is not deleted unread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from adapters.embedded.deadletters import EmbeddedDeadLetters
from router.bus import Bus, ReplayRequest
from router.directory import System
from router.ports import DeadLetterQuery, Message, NewDeadLetter, StoredMessage
from router.subscriptions import SinkSpec, Subscription

MakeLog = Callable[..., Awaitable[EmbeddedLog]]

PORTAL = System("000.00.00.G22/dvcqg", "000.00.00.G22", "dvcqg")
SUBSCRIPTION = Subscription("portal", PORTAL.id, ("dossier.status.changed",), (), SinkSpec("webhook"))
EIGHT_DAYS_AGO_MS = int(time.time() * 1000) - 8 * 86_400_000


def bus_over(log: EmbeddedLog, dead_letters: EmbeddedDeadLetters) -> Bus:
    # only what replay reads: the subscription, its owner, the log and the dead letters
    nothing: Any = None
    return Bus(nothing, nothing, nothing, nothing, log, dead_letters, [SUBSCRIPTION], lambda name: None)


async def test_an_old_letter_replayed_survives_retention(make_log: MakeLog) -> None:
    log = await make_log(retention_s=86_400, retention_interval_s=0.02)
    dead_letters = EmbeddedDeadLetters(log)
    published = StoredMessage(
        SUBSCRIPTION.topic, 0, 0, "G22.99-241101-0001", b'{"status": 4}',
        (("ce_id", b"e-1"),), EIGHT_DAYS_AGO_MS,
    )  # fmt: skip
    await dead_letters.add(
        [NewDeadLetter("portal", "e-1", published.key, "budget_exhausted", 7, "HTTP 503", published)]
    )

    replayed = await bus_over(log, dead_letters).replay(PORTAL, "portal", ReplayRequest(everything=True))
    assert [letter.event_id for letter in replayed] == ["e-1"]

    # A witness as old as the letter, appended after the replay in another topic: once retention
    # has deleted it, a retention pass has run over every partition since the replay.
    await log.append("witness", [Message("w", b"old", timestamp_ms=EIGHT_DAYS_AGO_MS)])
    witness = partition_for("w", log.default_partitions)
    for _ in range(2000):
        if (await log.start_offsets("witness"))[witness] == 1:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("no retention pass ran")

    partition = partition_for(published.key, log.default_partitions)
    copies = await log.read(SUBSCRIPTION.topic, partition, 0, 10)
    assert [(m.key, m.value) for m in copies] == [(published.key, published.value)]
    assert await dead_letters.list(DeadLetterQuery(subscription="portal")) == []  # marked replayed
