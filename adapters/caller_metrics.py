"""``lienthong_caller_distinct_subjects``: per system, the distinct subjects it read over the
sliding window of router.subject_watch, computed when Prometheus scrapes (so the gauge falls as
reads leave the window, without a read to update it)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from router.subject_watch import DistinctSubjects


class DistinctSubjectsCollector(Collector):
    def __init__(self, watch: DistinctSubjects) -> None:
        self._watch = watch

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "lienthong_caller_distinct_subjects",
            "Distinct subjects (people, enterprises) whose personal data each system was released "
            "over the sliding window limits.distinct_subjects_window.",
            labels=["system"],
        )
        for system, count in sorted(self._watch.counts().items()):
            family.add_metric([system], count)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
