"""The consume loops of a running bus (its workers): each subscription's loop, started on its
delivery or drained and stopped alone (as a reload removes or changes the subscription), and the
router's loop. Stopping them all belongs to the runtime's shutdown (Runtime.stop), in its order."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from adapters.embedded import EmbeddedLog
from router.consuming import MAX_MESSAGES, ConsumeLoop, Handler
from router.delivery import SubscriptionDelivery
from router.ports import Consumer, Transport
from router.publishing import INBOUND_TOPIC, RoutingAtPublish
from router.routing import Router
from router.subscriptions import Subscription

ROUTER_GROUP = "router"


def routing_at_publish(transport: Transport, router: Router) -> RoutingAtPublish | None:
    """How the publisher of ``router``'s configuration routes on ``transport``: in the publish's
    own append on the embedded log (no router loop reads the inbound topic back); None on Kafka,
    where agencies may produce into the inbound topic directly and the router's loop checks and
    routes what it reads."""
    if isinstance(transport, EmbeddedLog):
        return RoutingAtPublish(router, transport, ROUTER_GROUP)
    return None


@dataclass(frozen=True, slots=True)
class Worker:
    """A running consume loop: its delivery (None for the router), consumer and task."""

    loop: ConsumeLoop
    consumer: Consumer
    task: asyncio.Task[None]
    delivery: SubscriptionDelivery | None = None


class Workers:
    """The running consume loops: the subscriptions', by name, and the router's once started."""

    def __init__(
        self, transport: Transport, drain_timeout_s: float, *, max_messages: int = MAX_MESSAGES
    ) -> None:
        """``max_messages``: what a loop fetches at most at a time (the transport's own figure)."""
        self._transport = transport
        self._drain_timeout_s = drain_timeout_s
        self._max_messages = max_messages
        self.subscriptions: dict[str, Worker] = {}
        self.router: Worker | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.subscriptions

    def running(self) -> list[Worker]:
        return [*self.subscriptions.values(), *([self.router] if self.router else [])]

    async def start(self, subscription: Subscription, delivery: SubscriptionDelivery) -> None:
        """Starts ``delivery`` and the loop that feeds it ``subscription``'s queue; none for a
        Kafka-native subscriber, which reads the queue itself."""
        if not subscription.delivered_by_bus:
            return
        await delivery.start()
        consumer = self._transport.consumer(subscription.group, subscription.topic)
        await consumer.start()
        loop = ConsumeLoop(
            f"deliver {subscription.name}", consumer, delivery.handle, max_messages=self._max_messages
        )
        task = asyncio.create_task(loop.run(), name=loop.name)
        self.subscriptions[subscription.name] = Worker(loop, consumer, task, delivery)

    async def start_router(
        self, route: Handler, consumer: Consumer | None = None, *, commits: bool = True
    ) -> None:
        """Starts the loop that hands the inbound topic's batches to ``route``: read by
        ``consumer`` (a member of the router group), whose offsets ``route`` commits itself
        when ``commits`` is False (transactional routing)."""
        if consumer is None:
            consumer = self._transport.consumer(ROUTER_GROUP, INBOUND_TOPIC)
        await consumer.start()
        loop = ConsumeLoop("router", consumer, route, max_messages=self._max_messages, commits=commits)
        self.router = Worker(loop, consumer, asyncio.create_task(loop.run(), name=loop.name))

    async def catch_up_router(self, route: Handler) -> None:
        """Routes what the inbound topic holds past the router group's committed offsets, then
        returns. A bus that routes at publish runs it once at start, before anything publishes:
        the log then moves the group's offsets with every publish (RoutingAtPublish), which is
        only right once the group has read everything before (a log written by a bus that routed
        in a loop, stopped with a backlog)."""
        consumer = self._transport.consumer(ROUTER_GROUP, INBOUND_TOPIC)
        await consumer.start()
        try:
            while batches := await consumer.fetch(self._max_messages, 0.0):
                await route(batches)
                await consumer.commit({p: msgs[-1].offset + 1 for p, msgs in batches.items() if msgs})
        finally:
            await consumer.close()

    async def drain(self, name: str) -> None:
        """Stops one subscription's loop as a shutdown would: the batch in hand is finished and
        committed (within the drain timeout; what is cut short is delivered again by the next
        loop of the group), then its consumer leaves the group and its sink is closed."""
        worker = self.subscriptions.pop(name)
        worker.loop.stop()
        assert worker.delivery is not None
        worker.delivery.drain()
        _, pending = await asyncio.wait([worker.task], timeout=self._drain_timeout_s)
        worker.delivery.stop()
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker.task
        with contextlib.suppress(Exception):
            await worker.consumer.close()
        await worker.delivery.close()
