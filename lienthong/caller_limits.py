"""Limits per caller, wired to a running bus: the rate-limit middleware of the HTTP API
(adapters/http/rate_limit.py) on the in-process store, the failed-authentication counter, and the
watch of distinct subjects each system reads (fed by the audit store, exposed as a gauge).

The store is :class:`router.rate_limits.LocalRateStore`: each replica keeps its own counts, so a
deployment of N replicas admits up to N times a limit. A shared store (the PostgreSQL of the
deployment, once it has one) plugs in as another :class:`router.rate_limits.RateStore`.
"""

from __future__ import annotations

from fastapi import FastAPI

from adapters.caller_metrics import DistinctSubjectsCollector
from adapters.http.rate_limit import FailedAuthentications, RateLimitedRequests, RateLimitMiddleware
from lienthong.runtime import Runtime
from router.directory import System
from router.rate_limits import CallerLimiter, LocalRateStore
from router.refusal_windows import RefusalWindows
from router.subject_watch import DistinctSubjects


def add_caller_limits(app: FastAPI, runtime: Runtime) -> None:
    """Limits ``app``'s callers by the ``limits:`` of the configuration in force (a reload reaches
    them), and watches the distinct subjects each system reads."""

    def identify(key: str) -> System | None:
        return runtime.bus.directory.authenticate(key)

    app.add_middleware(
        RateLimitMiddleware,
        limiter=CallerLimiter(LocalRateStore(), lambda: runtime.settings.limits),
        identify=identify,
        failures=FailedAuthentications(runtime.metrics_registry),
        refusals=RateLimitedRequests(runtime.metrics_registry),
    )
    subjects = DistinctSubjects(lambda: runtime.settings.limits.distinct_subjects_window_s)
    runtime.audit.watchers.append(subjects.saw_records)
    runtime.metrics_registry.register(DistinctSubjectsCollector(subjects))


def refused_reads(runtime: Runtime) -> RefusalWindows:
    """The aggregation of refused access-report reads, by the window in force."""
    return RefusalWindows(lambda: runtime.settings.limits.refused_reads_window_s)
