"""A fetch position the log no longer has: retention below it goes on from the first message
retained, a log that lost its newest messages goes on from its new end; never the beginning of a
log that still holds what the group has read. (Pure logic: a stand-in for aiokafka's consumer
that answers the offsets; the broker cases need retention or an unclean election to happen.)"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from adapters.kafka.consumer import KafkaConsumer
from adapters.kafka.options import KafkaOptions
from adapters.kafka.transport import KafkaTransport

TOPIC = "deliver.portal"


class Offsets:
    """aiokafka's consumer as far as the out-of-range path uses it: a fetch that fails with the
    positions out of range, the log's start and end, and seeks."""

    def __init__(self, out_of_range: dict[TopicPartition, int], starts: dict[int, int], ends: dict[int, int]):
        self._error = OffsetOutOfRangeError(out_of_range)
        self._starts, self._ends = starts, ends
        self.seeks: dict[int, int] = {}
        self.to_beginning: list[int] = []

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[Any]]:
        raise self._error

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._starts[tp.partition] for tp in partitions}

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._ends[tp.partition] for tp in partitions}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp.partition] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.to_beginning.extend(tp.partition for tp in partitions)


async def test_below_the_start_goes_to_the_first_retained_past_the_end_to_the_new_end() -> None:
    transport = KafkaTransport(KafkaOptions(bootstrap_servers=("127.0.0.1:1",)))
    consumer = KafkaConsumer(transport, "router", TOPIC)
    name = transport.options.topic(TOPIC)
    stand_in = Offsets(
        {TopicPartition(name, 0): 5, TopicPartition(name, 1): 900},
        starts={0: 120, 1: 0},
        ends={0: 400, 1: 750},
    )
    consumer._consumer = stand_in
    assert await consumer.fetch(100, 0.1) == {}
    assert stand_in.seeks == {0: 120, 1: 750}
    assert stand_in.to_beginning == []
