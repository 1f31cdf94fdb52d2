"""How to reach a Kafka cluster: bootstrap servers, security, and the sizes the adapter relies on.

The security settings are passed through to aiokafka as they are named there (``security_protocol``,
``sasl_mechanism``, ``sasl_plain_username``...); the TLS files become an ``ssl_context``, which is
how aiokafka takes them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# How the router's consume -> check -> route -> produce loop commits (docs/kafka.md, "Routing"):
# "transactional": the routed messages and the inbound offsets in one Kafka transaction, so a
# crash between them routes nothing twice; "at_least_once": append, then commit the offsets.
Routing = Literal["transactional", "at_least_once"]

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of every aiokafka client (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        if self.protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    bootstrap_servers: tuple[str, ...]
    security: KafkaSecurity = KafkaSecurity()
    # Partitions and replicas of the topics the bus creates (existing topics are left as they are).
    default_partitions: int = 8
    replication_factor: int = 1
    # The largest message, on every side: producer requests, topic max.message.bytes, consumer
    # fetches. CloudEvents over HTTP are at most 1 MiB of body, plus headers.
    max_message_bytes: int = 4 * MiB
    client_id: str = "lienthong"
    # How long an append waits for the brokers (aiokafka's producer request timeout, 40 s by
    # default). Past it the append fails: the HTTP API answers 503 and the publisher retries
    # rather than hanging while a broker is away.
    append_timeout_ms: int = 5000
    # Prefixed to every topic and group name on the cluster, so that several buses (or test runs)
    # can share one cluster; the core sees the names without it.
    namespace: str = ""
    routing: Routing = "at_least_once"
    # How long aiokafka holds a record batch open for more records. 0: a batch leaves as soon as
    # the broker's connection is free; the records of concurrent appends still travel together,
    # gathered while the previous request is in flight (aiokafka sends one request per broker at
    # a time), so an append waits only when something else is on the way (docs/kafka.md).
    linger_ms: int = 0

    @property
    def isolation_level(self) -> str:
        """What consumers read: only committed transactions when the router writes in them."""
        return "read_committed" if self.routing == "transactional" else "read_uncommitted"

    def topic(self, name: str) -> str:
        return self.namespace + name

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            # Host and process in the client id: the broker's view of a consumer group (which
            # member owns which partitions) then names the process, for operators and tests.
            "client_id": f"{self.client_id}-{socket.gethostname()}-{os.getpid()}",
            **self.security.client_kwargs(),
        }
