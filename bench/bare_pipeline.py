"""The bare pipeline: the least code that takes events over HTTP, makes them durable and delivers them
to a webhook, the floor of ``bench.end_to_end`` and ``bench.latency``.

Run: ``python -m bench.bare_pipeline --port N --target URL [--batch 500] [--durability fsync|os]
[--kafka BOOTSTRAP]``

Starlette under uvicorn set up as the bus's own server (uvloop, httptools, no access log).
``POST /v1/events`` takes a CloudEvent or a batch, ``orjson.loads`` it and answers 202 once the
events are durable; one task reads them back in order and POSTs them with aiohttp to ``--target``,
``--batch`` at a time (a JSON array as ``application/cloudevents-batch+json``; one event alone as
``application/cloudevents+json``), each POST awaited before the next. No validation, routing,
dedup, retries or authentication: what the bus does beyond that is what the ratio prices.

Durable, on SQLite (the default): the rows are inserted into a table in WAL mode with the
``synchronous`` the bus's embedded log uses for the same ``--durability``, one transaction per
request, on the event loop's thread. On Kafka (``--kafka``): two hops through aiokafka, as the bus's
Kafka transport makes them: the request's events go to an inbound topic, a consumer copies each to
a delivery topic, a second consumer's records are POSTed; every producer idempotent with
``acks=all`` and ``linger_ms=0``. ``GET /readyz`` answers 200 once the pipeline runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SYNCHRONOUS = {"fsync": "FULL", "os": "NORMAL"}  # adapters/embedded/tables.py's, for the same setting
BATCH = "application/cloudevents-batch+json"
ONE = "application/cloudevents+json"
PARTITIONS = 8  # as the bus's topics in the benches
ACCEPTED = b'{"accepted":true}'

Deliver = Callable[[list[bytes]], Awaitable[None]]


def poster(session: aiohttp.ClientSession, target: str) -> Deliver:
    """POSTs a list of serialised events to ``target``: an array, or one event alone."""

    async def deliver(events: list[bytes]) -> None:
        if len(events) == 1:
            body, kind = events[0], ONE
        else:
            body, kind = b"[" + b",".join(events) + b"]", BATCH
        async with session.post(target, data=body, headers={"Content-Type": kind}) as reply:
            await reply.read()
            if reply.status >= 300:
                raise SystemExit(f"the receiver answered {reply.status}")

    return deliver


def parsed(body: bytes) -> list[Any]:
    events = orjson.loads(body)
    return events if isinstance(events, list) else [events]


class SqlitePipeline:
    """One table in WAL mode; inserts on the request, one reader task delivering in order."""

    def __init__(self, path: Path, durability: str, batch: int) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
        self.db.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, id TEXT, subject TEXT, event BLOB)")
        self.batch = batch
        self.written = asyncio.Event()

    async def publish(self, body: bytes) -> None:
        rows = [(e.get("id"), e.get("subject"), orjson.dumps(e)) for e in parsed(body)]
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO log (id, subject, event) VALUES (?, ?, ?)", rows)
        self.db.execute("COMMIT")
        self.written.set()

    async def run(self, deliver: Deliver) -> None:
        done = 0
        while True:
            rows = self.db.execute(
                "SELECT seq, event FROM log WHERE seq > ? ORDER BY seq LIMIT ?", (done, self.batch)
            ).fetchall()
            if not rows:
                self.written.clear()
                await self.written.wait()
                continue
            await deliver([event for _, event in rows])
            done = rows[-1][0]

    async def close(self) -> None:
        self.db.close()


class KafkaPipeline:
    """Two hops through aiokafka: inbound topic -> delivery topic -> the webhook."""

    def __init__(self, bootstrap: str, batch: int) -> None:
        run = uuid.uuid4().hex[:8]
        self.inbound, self.delivery = f"bare-{run}.inbound", f"bare-{run}.delivery"
        self.batch = batch
        self.bootstrap = bootstrap

    async def start(self) -> None:
        """Creates the two topics and starts the clients (aiokafka's want the running loop)."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (self.inbound, self.delivery)])
        finally:
            await admin.close()

        def producer() -> AIOKafkaProducer:
            return AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all", linger_ms=0
            )

        def consumer(topic: str) -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                topic,
                bootstrap_servers=self.bootstrap,
                group_id=f"{topic}.bare",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )

        self.producer, self.router = producer(), producer()
        self.routing, self.delivering = consumer(self.inbound), consumer(self.delivery)
        for client in (self.producer, self.router, self.routing, self.delivering):
            await client.start()

    async def publish(self, body: bytes) -> None:
        sent = [
            await self.producer.send(self.inbound, orjson.dumps(e), key=str(e.get("subject", "")).encode())
            for e in parsed(body)
        ]
        await asyncio.gather(*sent)

    async def route(self) -> None:
        while True:
            batches = await self.routing.getmany(timeout_ms=500)
            sent = [
                await self.router.send(self.delivery, r.value, key=r.key)
                for records in batches.values()
                for r in records
            ]
            if sent:
                await asyncio.gather(*sent)
                await self.routing.commit()

    async def run(self, deliver: Deliver) -> None:
        routing = asyncio.create_task(self.route())
        try:
            while True:
                batches = await self.delivering.getmany(timeout_ms=500, max_records=self.batch)
                values = [r.value for records in batches.values() for r in records if r.value is not None]
                for start in range(0, len(values), self.batch):
                    await deliver(values[start : start + self.batch])
                if values:
                    await self.delivering.commit()
        finally:
            routing.cancel()

    async def close(self) -> None:
        for client in (self.routing, self.delivering, self.producer, self.router):
            with contextlib.suppress(Exception):
                await client.stop()


def app(pipeline: SqlitePipeline | KafkaPipeline, target: str) -> Starlette:
    ready = asyncio.Event()

    async def publish(request: Request) -> Response:
        await pipeline.publish(await request.body())
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    async def readyz(request: Request) -> Response:
        return Response(b"{}", status_code=200 if ready.is_set() else 503, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if isinstance(pipeline, KafkaPipeline):
            await pipeline.start()
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(pipeline.run(poster(session, target)))
            ready.set()
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pipeline.close()

    return Starlette(
        routes=[Route("/v1/events", publish, methods=["POST"]), Route("/readyz", readyz, methods=["GET"])],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the webhook receiver's URL")
    parser.add_argument("--batch", type=int, default=500, help="events per webhook POST")
    parser.add_argument("--durability", choices=sorted(SYNCHRONOUS), default="fsync")
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="two aiokafka hops instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lienthong-bare-") as folder:
        pipeline = (
            KafkaPipeline(args.kafka, args.batch)
            if args.kafka
            else SqlitePipeline(Path(folder) / "bare.db", args.durability, args.batch)
        )
        uvicorn.run(
            app(pipeline, args.target),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            loop="uvloop",
            http="httptools",
            access_log=False,
        )


if __name__ == "__main__":
    main()
