"""The router's transactional hand-off (Router.handle_atomically): each inbound partition's routed
copies and rejects go to one commit with that partition's next offset, the same messages the
at-least-once path appends; a partition whose commit fails fails the batch, after the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import pytest

from router.directory import Directory, System
from router.envelope import attributes_of, from_structured, to_message
from router.metrics import NoMetrics
from router.policy import Policy, Rule
from router.ports import AppendResult, Message, StoredMessage, Transport, TransportError
from router.publishing import EventChecks
from router.routing import INBOUND_DEAD_LETTERS, InboundChecks, Router
from router.subscriptions import SinkSpec, Subscription
from schemas.registry import SchemaRegistry
from tests.support.bus import ONESTOP, PORTAL
from tests.support.events import status_changed


class AppendedMessages:
    """The router's port to the log, recording what it appends."""

    def __init__(self) -> None:
        self.appended: dict[str, list[Message]] = {}

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        self.appended.setdefault(topic, []).extend(messages)
        return [AppendResult(0, n) for n, _ in enumerate(messages)]


def router(log: AppendedMessages) -> Router:
    systems = [System(id=s, member=s.split("/")[0], name=s.split("/")[1]) for s in (ONESTOP, PORTAL)]
    policy = Policy(
        [Rule(systems=(ONESTOP,), publish=("dossier.*",)), Rule(systems=(PORTAL,), subscribe=("dossier.*",))]
    )
    checks = InboundChecks(Directory(systems), EventChecks(SchemaRegistry.load(), policy))
    subscription = Subscription("portal", PORTAL, ("dossier.status.changed",), (), SinkSpec("webhook", {}))
    return Router([subscription], policy, cast(Transport, log), NoMetrics(), checks)


def stored(partition: int, offset: int, event: dict[str, object]) -> StoredMessage:
    message = to_message(from_structured(event))
    return StoredMessage("inbound", partition, offset, message.key, message.value, message.headers, 0)


BATCHES = {
    0: [stored(0, 10, status_changed(1, 0)), stored(0, 11, status_changed(1, 1))],
    3: [
        stored(3, 40, status_changed(2, 0)),
        StoredMessage("inbound", 3, 41, "k", b"not json", (("ce_specversion", b"1.0"),), 0),
    ],
}


def ids(messages: Sequence[Message]) -> list[str]:
    return [attributes_of(m.headers).get("id", "") for m in messages]


async def test_each_partition_commits_its_copies_and_rejects_with_its_next_offset() -> None:
    commits: dict[int, tuple[dict[str, list[str]], int]] = {}

    async def commit(partition: int, appends: Mapping[str, Sequence[Message]], next_offset: int) -> None:
        commits[partition] = ({topic: ids(messages) for topic, messages in appends.items()}, next_offset)

    log = AppendedMessages()
    await router(log).handle_atomically(BATCHES, commit)
    assert log.appended == {}  # nothing outside the commits
    first, second = (str(status_changed(1, n)["id"]) for n in (0, 1))
    assert commits[0] == ({"deliver.portal": [first, second]}, 12)
    routed, rejected = commits[3][0]["deliver.portal"], commits[3][0][INBOUND_DEAD_LETTERS]
    assert (routed, len(rejected), commits[3][1]) == ([str(status_changed(2, 0)["id"])], 1, 42)
    # the at-least-once path appends the very same messages
    await router(log).handle(BATCHES)
    assert sorted(ids(log.appended["deliver.portal"])) == sorted([first, second, *routed])
    assert len(log.appended[INBOUND_DEAD_LETTERS]) == 1


async def test_a_failed_commit_fails_the_batch_after_the_other_partitions() -> None:
    committed: list[int] = []

    async def commit(partition: int, appends: Mapping[str, Sequence[Message]], next_offset: int) -> None:
        if partition == 0:
            raise TransportError("the transaction failed")
        committed.append(partition)

    with pytest.raises(TransportError, match="the transaction failed"):
        await router(AppendedMessages()).handle_atomically(BATCHES, commit)
    assert committed == [3]
