"""Suite-wide hooks.

- The fast loop: every test under tests/integration, tests/faults and tests/deploy starts the bus,
  a server, a broker or a browser, and so does every Kafka test; each is marked ``slow``, so that
  ``pytest -m "not slow"`` (``make test-fast``) runs the unit and contract tests alone. A unit test
  that is slow for another reason carries the mark itself.
- With LIENTHONG_REQUIRE_KAFKA=1 (CI), a Kafka test that skips fails the run; with
  LIENTHONG_REQUIRE_POSTGRES=1, a PostgreSQL test (marked ``postgres``) that skips does."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
from pluggy import Result

from tests.support.kafka import REQUIRE_ENV, kafka_required
from tests.support.postgres import REQUIRE_ENV as POSTGRES_REQUIRE_ENV
from tests.support.postgres import postgres_required

TESTS = Path(__file__).resolve().parent
SLOW_FOLDERS = frozenset({"integration", "faults", "deploy"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if folder in SLOW_FOLDERS or item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and kafka_required() and item.get_closest_marker("kafka") is not None:
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=1 but this Kafka test was skipped: {report.longrepr}"
    if report.skipped and postgres_required() and item.get_closest_marker("postgres") is not None:
        report.outcome = "failed"
        report.longrepr = f"{POSTGRES_REQUIRE_ENV}=1 but this PostgreSQL test was skipped: {report.longrepr}"
