"""What a consumer group's coordinator says a member owns: the authority on an assignment.

A member's own view of its partitions lags the group's: a process paused past its session (a
long GC pause, a frozen VM) still believes it owns partitions that the group gave to another
member, until its next heartbeat is refused. The coordinator's description of the group
(DescribeGroups) holds the assignment of its current generation, member by member.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError, for_code

STABLE = "Stable"


async def assigned_to(
    admin: AIOKafkaAdminClient, group: str, topic: str, member_id: str
) -> frozenset[int] | None:
    """The partitions of ``topic`` that the group's current generation assigns to ``member_id``
    (empty when the member is not in the group); None while the group is rebalancing, when the
    assignment is not settled yet."""
    responses = await admin.describe_consumer_groups([group])
    for response in responses:
        for error_code, group_id, state, _protocol_type, _protocol, members, *_ in response.groups:
            if group_id != group:
                continue
            if error_code:
                error: KafkaError = for_code(error_code)(f"describing the group {group!r}")
                raise error
            if state != STABLE:
                return None
            for member, _client_id, _host, _metadata, assignment in members:
                if member != member_id or not assignment:
                    continue
                decoded = ConsumerProtocolMemberAssignment.decode(assignment)
                return frozenset(
                    p for name, partitions in decoded.assignment if name == topic for p in partitions
                )
            return frozenset()
    raise KafkaError(f"the coordinator did not describe the group {group!r}")
