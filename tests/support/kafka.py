"""The Kafka broker of the tests: named by LIENTHONG_KAFKA_BOOTSTRAP (``deploy/kafka/kafka start``
runs one on 127.0.0.1:19092). Without it Kafka tests skip with the reason; with
LIENTHONG_REQUIRE_KAFKA=1 (CI) a Kafka test that would skip fails instead (tests/conftest.py)."""

from __future__ import annotations

import os
import uuid

import pytest

BOOTSTRAP_ENV = "LIENTHONG_KAFKA_BOOTSTRAP"
REQUIRE_ENV = "LIENTHONG_REQUIRE_KAFKA"


def kafka_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def kafka_bootstrap() -> tuple[str, ...]:
    """The broker's addresses, or a skip (a failure when Kafka is required) when none is set."""
    value = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if not value:
        reason = f"{BOOTSTRAP_ENV} is not set: start a broker with deploy/kafka/kafka start and set it to 127.0.0.1:19092"
        if kafka_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return tuple(part.strip() for part in value.split(",") if part.strip())


def unique(prefix: str) -> str:
    """A topic or group name no other test (or earlier run on the same broker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
