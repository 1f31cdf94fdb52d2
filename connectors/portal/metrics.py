"""The portal sync's metrics (names are relied on by the alert rules and the dashboard).

- ``lienthong_portal_calls_total{operation,outcome}``: calls to the portal; operation is
  ``login`` or a service (``TraCuuHoSo``, ``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``, the
  catalogues); outcome ``ok``, ``not_found`` (a lookup with an empty result),
  ``already_exists``, ``session_expired``, ``rejected``, ``malformed``, ``unavailable``.
- ``lienthong_portal_held_transitions_total{reason}``: events held and dead-lettered instead of
  forwarded (reasons in :data:`connectors.portal.status_machine.HOLD_REASONS`).
- ``lienthong_portal_unusual_moves_total{from,to}``: status moves the status machine's table does
  not list that were forwarded (``status_policy: forward``, or accepted by an operator's release).
- ``lienthong_portal_releases_total``: held dossiers released by an operator.
- ``lienthong_portal_sync_lag_seconds``: histogram, from the event entering the bus to the
  portal acknowledging it.
- ``lienthong_portal_unsynced_dossiers``: dossiers the portal is behind on; and
  ``lienthong_portal_oldest_unsynced_seconds``: how long the longest-waiting one has waited.
- ``lienthong_portal_reconciled_dossiers_total{result}``: dossiers checked by reconciliation
  (``in_sync``, ``repaired``, ``failed``, ``skipped``: saved by another process meanwhile).
- The scorecard, per agency: ``lienthong_portal_dossiers{agency}``,
  ``lienthong_portal_online_submission_ratio{agency}``,
  ``lienthong_portal_online_processing_ratio{agency}``, ``lienthong_portal_on_time_ratio{agency}``.
- The 766 scorecard (:mod:`router.scorecard`) of the current month and quarter, per agency
  (``period`` is ``month`` or ``quarter``): ``lienthong_portal_scorecard_received{agency,period}``,
  ``lienthong_portal_scorecard_finished{agency,period}``,
  ``lienthong_portal_scorecard_on_time_ratio{agency,period}``,
  ``lienthong_portal_scorecard_online_submission_ratio{agency,period}``,
  ``lienthong_portal_scorecard_online_services_ratio{agency,period}``.
- The catalogue: ``lienthong_portal_catalogue_procedures{state}`` (``listed``, ``withdrawn``,
  ``missing_needs``) and ``lienthong_portal_catalogue_syncs_total{outcome}`` (``ok``, ``failed``).
- ``lienthong_portal_truncated_texts_total{field}``: texts cut to their length cap before sending.
- ``lienthong_portal_unknown_databases_total``: connected databases named by an event that are
  neither a MaCSDL code nor in the ``database_codes`` code book, left out of DSKetNoiCSDL.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.portal.state import AgencyFigures
from connectors.portal.status_machine import HOLD_REASONS

LAG_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    900.0,
    3600.0,
    21600.0,
    86400.0,
)


class PortalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "lienthong_portal_calls", "Calls to the portal.", ("operation", "outcome"), registry=registry
        )
        self.held = Counter(
            "lienthong_portal_held_transitions",
            "Dossier events held (dead-lettered) instead of forwarded to the portal.",
            ("reason",),
            registry=registry,
        )
        for reason in HOLD_REASONS:
            self.held.labels(reason)
        self.unusual = Counter(
            "lienthong_portal_unusual_moves",
            "Status moves the status table does not list, forwarded to the portal.",
            ("from", "to"),
            registry=registry,
        )
        self.releases = Counter(
            "lienthong_portal_releases",
            "Held dossiers released by an operator (lienthong portal release).",
            registry=registry,
        )
        self.lag = Histogram(
            "lienthong_portal_sync_lag_seconds",
            "From an event entering the bus to the portal acknowledging it.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.unsynced = Gauge(
            "lienthong_portal_unsynced_dossiers", "Dossiers the portal is behind on.", registry=registry
        )
        self.oldest = Gauge(
            "lienthong_portal_oldest_unsynced_seconds",
            "How long the dossier longest behind on the portal has been waiting.",
            registry=registry,
        )
        self.reconciled = Counter(
            "lienthong_portal_reconciled_dossiers",
            "Dossiers checked against the portal by reconciliation.",
            ("result",),
            registry=registry,
        )
        self.dossiers = Gauge(
            "lienthong_portal_dossiers",
            "Dossiers synchronised to the portal.",
            ("agency",),
            registry=registry,
        )
        self.online_submission = Gauge(
            "lienthong_portal_online_submission_ratio",
            "Share of dossiers submitted online.",
            ("agency",),
            registry=registry,
        )
        self.online_processing = Gauge(
            "lienthong_portal_online_processing_ratio",
            "Share of returned dossiers submitted and returned online.",
            ("agency",),
            registry=registry,
        )
        self.on_time = Gauge(
            "lienthong_portal_on_time_ratio",
            "Share of processed dossiers that ended by their promised date (NgayHenTra).",
            ("agency",),
            registry=registry,
        )
        self.truncated = Counter(
            "lienthong_portal_truncated_texts",
            "Texts cut to the portal's length cap (GhiChu, TrichYeuHoSo, TenGiayTo, TenTepDinhKem, NguoiXuLy).",
            ("field",),
            registry=registry,
        )
        self.unknown_databases = Counter(
            "lienthong_portal_unknown_databases",
            "Connected databases left out of DSKetNoiCSDL: neither a MaCSDL code nor in the code book.",
            registry=registry,
        )

        self.scorecard_received = Gauge(
            "lienthong_portal_scorecard_received",
            "Dossiers received in the current period (766 scorecard).",
            ("agency", "period"),
            registry=registry,
        )
        self.scorecard_finished = Gauge(
            "lienthong_portal_scorecard_finished",
            "Dossiers whose processing ended in the current period (766 scorecard).",
            ("agency", "period"),
            registry=registry,
        )
        self.scorecard_on_time = Gauge(
            "lienthong_portal_scorecard_on_time_ratio",
            "Share of the dossiers ended in the period that ended on time, supplement time deducted (766 §2.1).",
            ("agency", "period"),
            registry=registry,
        )
        self.scorecard_online_submission = Gauge(
            "lienthong_portal_scorecard_online_submission_ratio",
            "Share of the dossiers received in the period that were submitted online (KenhThucHien 2).",
            ("agency", "period"),
            registry=registry,
        )
        self.scorecard_online_services = Gauge(
            "lienthong_portal_scorecard_online_services_ratio",
            "Share of the agency's procedures offered online that received an online dossier in the period.",
            ("agency", "period"),
            registry=registry,
        )
        self.catalogue_procedures = Gauge(
            "lienthong_portal_catalogue_procedures",
            "Procedures of the catalogue read from the portal: listed, withdrawn, listed without needs configured.",
            ("state",),
            registry=registry,
        )
        self.catalogue_syncs = Counter(
            "lienthong_portal_catalogue_syncs",
            "Catalogue syncs from the portal.",
            ("outcome",),
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.catalogue_syncs.labels(outcome)

    def scorecard(self, period: str, agencies: Sequence[Mapping[str, Any]]) -> None:
        """The gauges of one period from :func:`router.scorecard.scorecard`'s agency rows."""
        for row in agencies:
            agency = str(row["agency"])
            self.scorecard_received.labels(agency, period).set(row["received"])
            self.scorecard_finished.labels(agency, period).set(row["finished"])
            for gauge, key in (
                (self.scorecard_on_time, "on_time_rate"),
                (self.scorecard_online_submission, "online_submission_rate"),
                (self.scorecard_online_services, "online_services_rate"),
            ):
                value = row.get(key)  # NaN: no dossier to judge in the period so far
                gauge.labels(agency, period).set(math.nan if value is None else value)

    def catalogue(self, listed: int, withdrawn: int, missing_needs: int) -> None:
        self.catalogue_procedures.labels("listed").set(listed)
        self.catalogue_procedures.labels("withdrawn").set(withdrawn)
        self.catalogue_procedures.labels("missing_needs").set(missing_needs)

    def watch_unsynced(self, pending: Callable[[], dict[str, float]]) -> None:
        """The two unsynced gauges read ``pending()`` (dossier -> since when) at each scrape."""
        self.unsynced.set_function(lambda: len(pending()))

        def oldest() -> float:
            since = pending()
            return max(0.0, time.time() - min(since.values())) if since else 0.0

        self.oldest.set_function(oldest)

    def call(self, operation: str, outcome: str) -> None:
        self.calls.labels(operation, outcome).inc()

    def figures(self, rows: Sequence[AgencyFigures]) -> None:
        for row in rows:
            self.dossiers.labels(row.agency).set(row.dossiers)
            for gauge, value in (
                (self.online_submission, row.online_submission_rate),
                (self.online_processing, row.online_processing_rate),
                (self.on_time, row.on_time_rate),
            ):
                if value is not None:
                    gauge.labels(row.agency).set(value)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, PortalMetrics] = weakref.WeakKeyDictionary()


def portal_metrics(registry: CollectorRegistry) -> PortalMetrics:
    """The registry's portal metrics (registered once, shared by every portal connector in it)."""
    metrics = _BY_REGISTRY.get(registry)
    if metrics is None:
        metrics = _BY_REGISTRY[registry] = PortalMetrics(registry)
    return metrics
