"""The transport contract suite runs against every transport: the embedded log and Kafka.

``backend`` opens transports of one kind; each call to ``backend.open()`` makes a new instance on
the same storage (the same SQLite file, the same broker), so restarts can be tested. Topic and group
names are unique per test: the Kafka broker is shared by the whole run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.embedded import EmbeddedLog
from adapters.kafka import KafkaOptions, KafkaTransport
from router.ports import Transport
from tests.support.kafka import kafka_bootstrap, unique

PARTITIONS = 4


class Backend:
    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self._path = tmp_path / "log.db"
        self._bootstrap = kafka_bootstrap() if kind == "kafka" else ()
        self.opened: list[Transport] = []

    def name(self, prefix: str) -> str:
        return unique(prefix)

    async def open(self) -> Transport:
        transport: Transport
        if self.kind == "kafka":
            transport = KafkaTransport(
                KafkaOptions(self._bootstrap, default_partitions=PARTITIONS, namespace="contract.")
            )
        else:
            transport = EmbeddedLog(self._path, default_partitions=PARTITIONS, durability="os")
        await transport.start()
        self.opened.append(transport)
        return transport

    async def close_all(self) -> None:
        for transport in self.opened:
            await transport.close()
        self.opened.clear()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = Backend(request.param, tmp_path)
    yield opened
    await opened.close_all()
