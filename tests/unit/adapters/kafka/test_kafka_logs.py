"""The rate limit on Kafka client logs: one line per condition and window, then the count."""

from __future__ import annotations

import logging

import pytest

from adapters.kafka.logs import RateLimit, rate_limit_kafka_logs

CONNECT = "Unable connect to node with id %s: %s"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def passed(limit: RateLimit, records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if limit.filter(r)]


def test_a_condition_passes_once_per_window_then_with_the_count() -> None:
    clock = Clock()
    limit = RateLimit(window_s=30, clock=clock)
    first = passed(limit, [record(CONNECT, 1, f"refused {n}") for n in range(5000)])
    assert [r.getMessage() for r in first] == ["Unable connect to node with id 1: refused 0"]
    assert first[0].levelno == logging.WARNING and first[0].levelname == "WARNING"
    clock.now += 29.9
    assert passed(limit, [record(CONNECT, 1, "refused")]) == []
    clock.now += 12.1
    (summary,) = passed(limit, [record(CONNECT, 2, "refused"), record(CONNECT, 2, "refused")])
    assert summary.getMessage() == (
        "Unable connect to node with id 2: refused (5000 more like this in the last 42 s)"
    )
    clock.now += 30
    (alone,) = passed(limit, [record(CONNECT, 1, "refused")])
    assert (
        alone.getMessage() == "Unable connect to node with id 1: refused (1 more like this in the last 30 s)"
    )
    clock.now += 30
    (quiet,) = passed(limit, [record(CONNECT, 1, "refused")])
    assert "more like this" not in quiet.getMessage()


def test_conditions_are_told_apart_by_logger_and_template() -> None:
    limit = RateLimit(window_s=30, clock=Clock())
    records = [
        record(CONNECT, 1, "x"),
        record("Unable to update metadata from %s", [1]),
        record(CONNECT, 1, "x", name="aiokafka.conn"),
        record(CONNECT, 1, "x", level=logging.WARNING),
    ]
    assert len(passed(limit, records)) == 3


def test_info_lines_differ_by_their_text_and_stay_info() -> None:
    limit = RateLimit(window_s=30, clock=Clock())
    discovered = "Discovered coordinator %s for group %s"
    records = [record(discovered, 1, group, level=logging.INFO) for group in ("router", "portal", "router")]
    out = passed(limit, records)
    assert [r.getMessage() for r in out] == [
        "Discovered coordinator 1 for group router",
        "Discovered coordinator 1 for group portal",
    ]
    assert all(r.levelno == logging.INFO for r in out)


def test_the_number_of_conditions_is_bounded() -> None:
    limit = RateLimit(window_s=30, clock=Clock())
    assert len(passed(limit, [record(f"formatted by hand {n}") for n in range(5000)])) == 5000
    assert len(limit._conditions) <= 1000


def test_the_filter_is_on_every_aiokafka_logger_and_the_adapters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import aiokafka.conn  # noqa: F401 - its logger must exist to be found

    limit = RateLimit(window_s=30, clock=Clock())
    rate_limit_kafka_logs(limit)
    rate_limit_kafka_logs(limit)  # twice: still one filter each
    names = ["aiokafka", "aiokafka.conn", "aiokafka.consumer.fetcher", "adapters.kafka.transport"]
    try:
        for name in names:
            assert logging.getLogger(name).filters.count(limit) == 1
        with caplog.at_level(logging.WARNING):
            for _ in range(100):
                logging.getLogger("aiokafka.conn").error(CONNECT, 1, "refused")
        assert [r.levelname for r in caplog.records if r.name == "aiokafka.conn"] == ["WARNING"]
    finally:
        for name in logging.Logger.manager.loggerDict:
            logger = logging.getLogger(name)
            if limit in logger.filters:
                logger.removeFilter(limit)


def test_a_condition_that_does_not_come_back_still_has_its_count_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 10 s outage: the held-back records are counted in one line once the window has passed,
    written by flush on the condition's own logger, through the filter itself."""
    clock = Clock()
    limit = RateLimit(window_s=30, clock=clock)
    logger = logging.getLogger("aiokafka.flush-test")
    logger.addFilter(limit)
    try:
        with caplog.at_level(logging.INFO, logger="aiokafka.flush-test"):
            for n in range(700):
                logger.error(CONNECT, 1, f"refused {n}")
            limit.flush()  # the window is still open: nothing to tell yet
            assert [r.getMessage() for r in caplog.records] == ["Unable connect to node with id 1: refused 0"]
            clock.now += 31
            limit.flush()
            limit.flush()  # told once
            messages = [r.getMessage() for r in caplog.records]
            assert messages[1:] == [f"699 more like this in the last 31 s: {CONNECT}"]
            assert caplog.records[1].levelno == logging.WARNING
            logger.error(CONNECT, 1, "refused again")  # the next one goes through without a count
            assert caplog.records[-1].getMessage() == "Unable connect to node with id 1: refused again"
    finally:
        logger.removeFilter(limit)
