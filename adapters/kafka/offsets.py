"""A consumer group's committed offsets, read so that "none yet" and "cannot tell now" differ.

aiokafka reads an OffsetFetch answer without its group-level error. For about half a second after
a broker restart, while the group coordinator loads the group, the broker answers with no
partitions and that error; aiokafka takes it for "no committed offset" (``committed()`` returns
None, and a member positioning a partition would reset it to ``auto_offset_reset``). A partition
the group never committed comes back with offset -1; so a partition asked for and missing from
the answer means that the cluster cannot tell now, never that there is no offset.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


class OffsetsUnknown(KafkaError):  # type: ignore[misc]
    """The cluster did not say (a coordinator loading or moving): ask again later."""

    retriable = True


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int | None]:
    """The committed offset of each partition (None: the group never committed it)."""
    answer = await admin.list_consumer_group_offsets(group, partitions=list(partitions))
    missing = [tp for tp in partitions if tp not in answer]
    if missing:
        raise OffsetsUnknown(f"no committed offsets of {group!r} for {len(missing)} partitions in the answer")
    return {tp: (answer[tp].offset if answer[tp].offset >= 0 else None) for tp in partitions}
