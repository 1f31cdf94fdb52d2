"""Suite-wide hooks: with LIENTHONG_REQUIRE_KAFKA=1 (CI), a Kafka test that skips fails the run."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from pluggy import Result

from tests.support.kafka import REQUIRE_ENV, kafka_required


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and kafka_required() and item.get_closest_marker("kafka") is not None:
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=1 but this Kafka test was skipped: {report.longrepr}"
