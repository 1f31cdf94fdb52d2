"""The portal connector: a sink for dossier events (``sink: {connector: {name: portal}}``),
periodic reconciliation and the operators' figures.

Options (``connectors[].options`` in the configuration):

- ``agency_code`` (required): ``madonvi``, the province's agency code as the portal knows it;
- ``username_env``, ``password_env`` (required with the portal's envelope): the names of the environment variables holding
  the portal account (read when the bus starts; never written in the file);
- ``auth_path``, ``integration_path``, ``share_path``: the portal's three endpoints, paths under
  ``url`` or absolute URLs (default ``/auth/login``, ``/adapter/service``, ``/adapter/share``);
- ``dstcode``: a ``dstcode`` header for the portal's gateway, on every service call and on the
  login when not empty (off by default);
- ``session_max_age``: a session older than this is renewed before the next call (default 10m);
- ``codes``: how replies are judged, e.g. ``{success: ["0"], already_exists: ["0", "3", "-3"],
  session_expired: ["99"]}`` (session_expired is empty by default: HTTP 401 always counts);
  ``already_exists_message``: the text that, with one of those codes, says a create found the
  dossier there already (default "đã tồn tại", compared case-insensitively);
- ``envelope``: ``portal`` (default, the portal's own) or ``bridge`` (a provincial bridge that
  holds the portal session: ``bridge: {create_url, update_url, progress_url, lookup_url,
  create_params, update_params, progress_params, lookup_params, bearer_env}``; the bridge takes
  no ``username_env``/``password_env``);
- ``database_codes``: dataset -> MaCSDL (a numeric string of the portal's code book), for
  DSKetNoiCSDL; empty by default, since the code book is not public;
- the dossier body (docs/portal.md, Mapping): ``agency_names`` (agency code -> name, for
  DonViXuLy), ``dataset_components`` (dataset -> the MaThanhPhanHoSo its record stands for),
  ``data_store_datasets`` (datasets served by the citizen data store, default
  [result.document]), ``fee_kind_codes`` and ``payment_method_codes`` (LoaiPhiLePhi and
  HinhThucThu of the events' words), ``result_codes`` (procedure -> MaGiayToKetQua),
  ``online_payment`` (``portal`` or ``gateway``: DuocThanhToanTrucTuyen 1 or 2) and
  ``text_limits`` (field -> characters; defaults GhiChu 2000, TrichYeuHoSo 1000, TenGiayTo 2000,
  TenTepDinhKem 4000, NguoiXuLy 50);
- ``reconcile_every``: a duration; ``serve`` then reconciles that often (off by default);
  ``reconcile_window``: how far back each run looks (default 30d);
- ``figures_every``: how often the scorecard gauges are refreshed (default 30s);
- ``status_policy``: ``forward`` (default) sends every status move real clients send, counting
  and listing those the status table does not list; ``strict`` holds them as dead letters until an
  operator releases the dossier (``lienthong portal release``);
- ``state_file``: the sync state's SQLite file (default ``portal-<name>.db`` in the bus's data
  folder);
- ``catalogue_every``: a duration; ``serve`` then syncs the procedure catalogue from the portal
  that often, counted from the last sync (at once when it never synced; off by default: a sync
  makes one call per procedure, some 2,000);
  ``catalogue_max_items``: the most items a catalogue reply may hold (default 20000);
  ``catalogue_file``: its SQLite file (default ``portal-<name>-catalogue.db``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from adapters.rest import RestEndpoint, RestProvider
from adapters.state.catalogue_postgres import PostgresCatalogue
from adapters.state.portal_postgres import PostgresPortalState
from adapters.state.postgres import PostgresStateStore
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.catalogue import (
    DEFAULT_MAX_ITEMS,
    CatalogueError,
    CatalogueStore,
    CatalogueSync,
    NeedsReport,
    SyncReport,
)
from connectors.portal.catalogue_calls import ClientCatalogueCalls
from connectors.portal.envelope import (
    BridgeEnvelope,
    BridgeUrl,
    Credentials,
    Envelope,
    Paths,
    PortalEnvelope,
)
from connectors.portal.mapping import PAID_ON_PORTAL, PAID_VIA_GATEWAY, TEXT_LIMITS, BodyOptions
from connectors.portal.metrics import PortalMetrics, portal_metrics
from connectors.portal.scorecard_feed import dossier_of, offer_of
from connectors.portal.session import Codes, PortalClient, PortalError
from connectors.portal.state import AgencyFigures, SyncStateStore
from connectors.portal.status_machine import StatusPolicy
from connectors.portal.sync import DossierEvent, Held, PortalSync, ReconcileReport
from router.errors import ConfigError
from router.identifiers import is_agency_code
from router.ports import StoredMessage
from router.providers import DataProvider
from router.scorecard import PERIODS, Query, period_bounds, scorecard
from router.sinks import Sink, SinkError
from router.subscriptions import SinkSpec
from schemas.units import parse_duration

log = logging.getLogger("lienthong.portal")

DEFAULT_WINDOW_S = 30 * 86400.0
DEFAULT_FIGURES_EVERY_S = 30.0
_CODE_KEYS = ("success", "already_exists", "session_expired")
ENVELOPES = ("portal", "bridge")
# the options that only the portal's own envelope uses (a bridge holds the session itself)
PORTAL_ONLY = (
    "username_env",
    "password_env",
    "auth_path",
    "integration_path",
    "share_path",
    "dstcode",
    "session_max_age",
)
_BRIDGE_URLS = ("create", "update", "progress", "lookup")
_BRIDGE_KEYS = frozenset(
    {*(f"{n}_url" for n in _BRIDGE_URLS), *(f"{n}_params" for n in _BRIDGE_URLS), "bearer_env"}
)


def read_event(message: StoredMessage) -> DossierEvent:
    """The dossier event of a delivered message (Kafka binary mode)."""
    raw_type = message.header("ce_type")
    raw_id = message.header("ce_id")
    if raw_type is None or raw_id is None:
        raise Held("invalid_event", "the message carries no CloudEvents type or id")
    try:
        data = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        raise Held("invalid_event", "the event's data is not JSON") from None
    if not isinstance(data, dict):
        raise Held("invalid_event", "the event's data is not an object")
    dossier = str(data.get("dossierCode") or message.key)
    return DossierEvent(
        id=raw_id.decode("utf-8", "replace"),
        type=raw_type.decode("utf-8", "replace"),
        dossier=dossier,
        data=data,
        time=message.timestamp_ms / 1000,
    )


class PortalSink:
    """Delivers dossier events to the portal, one after another in the order given."""

    def __init__(self, sync: PortalSync) -> None:
        self._sync = sync

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        for message in messages:
            try:
                event = read_event(message)
            except Held as held:
                self._sync.metrics.held.labels(held.reason).inc()
                raise SinkError(held.detail, retryable=False) from None
            try:
                await self._sync.apply(event)
            except Held as held:  # counted by the sync
                raise SinkError(held.detail, retryable=False) from None
            except PortalError as error:
                raise SinkError(f"portal: {error.detail}", retryable=error.retryable) from None

    async def close(self) -> None:
        """The connector owns the portal client; it closes it."""


class PortalConnector:
    def __init__(
        self,
        name: str,
        sync: PortalSync,
        *,
        credentials: Mapping[str, str],
        reconcile_every_s: float | None = None,
        reconcile_window_s: float = DEFAULT_WINDOW_S,
        figures_every_s: float = DEFAULT_FIGURES_EVERY_S,
        catalogue: CatalogueSync | None = None,
        catalogue_every_s: float | None = None,
        shared_state: PostgresStateStore | None = None,
    ) -> None:
        self._name = name
        # with the state shared by several processes, the periodic reconciliation and catalogue
        # sync run on the bus's leader only: one pass over the dossiers per round, not one per
        # process racing the others' events
        self._shared_state = shared_state
        self.sync = sync
        self.catalogue = catalogue
        self.catalogue_every_s = catalogue_every_s
        # the procedure codes whose evidence needs are configured (``procedures:``); the bus
        # sets it to read the configuration of the moment
        self.configured_procedures: Callable[[], Collection[str]] = frozenset
        self._credential_envs = credentials
        # MaGiayToKetQua per procedure as configured; the catalogue's fills the rest
        self._configured_result_codes = dict(sync.body.result_codes)
        self.reconcile_every_s = reconcile_every_s
        self.reconcile_window_s = reconcile_window_s
        self.figures_every_s = figures_every_s
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def metrics(self) -> PortalMetrics:
        return self.sync.metrics

    def provider(self) -> DataProvider | None:
        return None

    def sink(self, spec: SinkSpec) -> Sink | None:
        return PortalSink(self.sync)

    async def start(self) -> None:
        """Opens the sync state and starts the figures' refresh and, when configured, the
        periodic reconciliation. Missing credentials do not stop the bus: they are logged, and
        every portal call fails (retryably: the events wait in order) until they are set."""
        await self.open(strict=False)
        self._tasks.append(asyncio.create_task(self._refresh_figures(), name=f"{self._name} figures"))
        if self.reconcile_every_s is not None:
            self._tasks.append(
                asyncio.create_task(self._reconcile_periodically(), name=f"{self._name} reconcile")
            )
        if self.catalogue is not None and self.catalogue_every_s is not None:
            self._tasks.append(
                asyncio.create_task(self._sync_catalogue_periodically(), name=f"{self._name} catalogue")
            )

    async def open(self, *, strict: bool = True) -> None:
        """Reads the credentials and opens the sync state; ``strict``: missing credentials are a
        ConfigError (the command line) rather than a logged error (``serve``)."""
        if self._started:
            return
        missing = [env for env in self._credential_envs.values() if not os.environ.get(env)]
        if missing:
            problem = (
                f"connector {self._name!r} (portal): set the environment variable(s) {', '.join(missing)} "
                "to the portal account's user name and password (or the bridge's token)"
            )
            if strict:
                raise ConfigError(problem)
            log.error("%s; until then no call reaches the portal", problem)
            self.sync.client.credentials = Credentials(missing=problem)
        else:
            self.sync.client.credentials = Credentials(
                **{field: os.environ[env] for field, env in self._credential_envs.items()}
            )
        await self.sync.start()
        if self.catalogue is not None:
            await self.catalogue.store.open()
            await self._take_result_codes()
        self._started = True

    async def reconcile(self, *, since: float | None = None) -> ReconcileReport:
        return await self.sync.reconcile(since=since)

    # --- the catalogue -------------------------------------------------------------------------

    def _catalogue(self) -> CatalogueSync:
        if self.catalogue is None:
            raise CatalogueError(f"connector {self._name!r} has no catalogue")
        return self.catalogue

    async def sync_catalogue(self) -> SyncReport:
        """Reads the portal's catalogue into the bus's (CatalogueError: nothing changed)."""
        try:
            report = await self._catalogue().sync()
        except CatalogueError:
            self.metrics.catalogue_syncs.labels("failed").inc()
            raise
        await self._take_result_codes()
        await self.needs_report()
        # counted once everything the sync feeds is in place: the gauges, the result codes
        self.metrics.catalogue_syncs.labels("ok").inc()
        return report

    async def _take_result_codes(self) -> None:
        """MaGiayToKetQua from the catalogue: each procedure's one result code (KETQUATHUCHIEN),
        under what ``result_codes`` configures, which wins."""
        entries = await self._catalogue().store.procedures()
        from_catalogue = {entry.code: code for entry in entries if (code := entry.result_code)}
        self.sync.body = replace(
            self.sync.body, result_codes={**from_catalogue, **self._configured_result_codes}
        )

    async def needs_report(self) -> NeedsReport:
        """The imported procedures whose evidence needs are not configured."""
        catalogue = self._catalogue()
        report = await catalogue.needs_report(self.configured_procedures())
        counts = await catalogue.store.counts()
        self.metrics.catalogue(counts["listed"], counts["withdrawn"], len(report.missing))
        return report

    async def _leads(self) -> bool:
        """Whether this process does the work one process does for all (always, unshared)."""
        return self._shared_state is None or await self._shared_state.leads()

    async def _sync_catalogue_periodically(self) -> None:
        """Syncs when the last sync is ``catalogue_every`` old (at once if never), so that a
        restart does not cost the portal a sync."""
        assert self.catalogue_every_s is not None
        last = await self._catalogue().store.last_sync()
        if last is not None:
            await asyncio.sleep(max(0.0, last + self.catalogue_every_s - time.time()))
        while True:
            if not await self._leads():
                await asyncio.sleep(self.catalogue_every_s)
                continue
            try:
                report = await self.sync_catalogue()
            except CatalogueError as error:
                log.warning("%s: the catalogue sync failed: %s", self._name, error.detail)
            except Exception:
                log.warning("%s: the catalogue sync failed", self._name, exc_info=True)
            else:
                for line in report.lines():
                    log.info("%s: catalogue: %s", self._name, line)
            await asyncio.sleep(self.catalogue_every_s)

    # --- the scorecard ----------------------------------------------------------------------------

    async def scorecard(self, query: Query) -> dict[str, Any]:
        """The 766 figures (:mod:`router.scorecard`) of the dossiers the bus sent the portal."""
        return (await self.scorecards([query]))[0]

    async def scorecards(self, queries: Sequence[Query]) -> list[dict[str, Any]]:
        """Several scorecards from one read of the sync state, computed off the event loop."""
        starts = [q.start.timestamp() for q in queries if q.start is not None]
        # a dossier's latest event is at or after its reception and its end: a safe first cut
        since = min(starts) if len(starts) == len(queries) else None
        histories = await self.sync.store.histories(since=since)
        offer = None
        durations: dict[str, timedelta | None] = {}
        if self.catalogue is not None:
            # the procedures offered online are those the portal lists; a withdrawn one still
            # gives its legal maximum to its dossiers
            offer = offer_of(await self.catalogue.store.procedures())
            every = await self.catalogue.store.procedures(withdrawn=True)
            durations = {p.code: p.legal_maximum for p in every}

        def compute() -> list[dict[str, Any]]:
            dossiers = [dossier_of(*row) for row in histories]
            return [scorecard(dossiers, query, offer, durations.get) for query in queries]

        return await asyncio.to_thread(compute)

    async def refresh_scorecard(self, now: float | None = None) -> None:
        """The scorecard gauges: the current month and quarter, per agency."""
        moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        queries = [Query(period, *period_bounds(moment, period)) for period in PERIODS]
        for query, figures in zip(queries, await self.scorecards(queries), strict=True):
            self.metrics.scorecard(query.period, figures["agencies"])

    async def figures(self, agencies: Sequence[str] | None = None) -> list[AgencyFigures]:
        rows = await self.sync.store.figures(agencies)
        if agencies is None:
            self.metrics.figures(rows)
        return rows

    async def unsynced(self) -> Mapping[str, float]:
        """The dossiers the portal is behind on, read from the sync state: with the shared state
        (state.postgres), those of every process of the bus."""
        return await self.sync.store.unsynced()

    async def console_rows(self) -> list[dict[str, str | int | float | None]]:
        """The operator console's portal section: one row per agency."""
        rows = await self.figures()
        pending = await self.unsynced()
        now = time.time()
        oldest = round(now - min(pending.values()), 1) if pending else 0.0
        return [
            {
                "agency": row.agency,
                "dossiers": row.dossiers,
                "online submission": row.online_submission_rate,
                "online processing": row.online_processing_rate,
                "on time": row.on_time_rate,
                "not in sync": row.unsynced,
                "oldest unsynced (s)": oldest,
            }
            for row in rows
        ]

    async def _refresh_figures(self) -> None:
        while True:
            try:
                await self.figures()
                await self.refresh_scorecard()
                # the unsynced gauges: the dossiers of every process sharing the sync state
                self.sync.pending = dict(await self.unsynced())
            except Exception:  # the gauges keep their last values; the next round tries again
                log.warning("%s: the scorecard figures were not refreshed", self._name, exc_info=True)
            await asyncio.sleep(self.figures_every_s)

    async def _reconcile_periodically(self) -> None:
        assert self.reconcile_every_s is not None
        while True:
            await asyncio.sleep(self.reconcile_every_s)
            if not await self._leads():
                continue
            started = time.time()
            try:
                report = await self.sync.reconcile(since=started - self.reconcile_window_s)
            except Exception:
                log.warning("%s: reconciliation failed", self._name, exc_info=True)
                continue
            for line in report.lines():
                log.info("%s: reconciliation: %s", self._name, line)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.sync.client.aclose()
        await self.sync.store.close()
        if self.catalogue is not None:
            await self.catalogue.store.close()
        self._started = False


def _option_text(settings: ConnectorSettings, key: str, *, required: bool = False, default: str = "") -> str:
    value = settings.options.get(key, default)
    if (required and not value) or not isinstance(value, str):
        raise ConfigError(
            f"connector {settings.name!r} (portal): option {key!r} must be a string"
            + (" (required)" if required else "")
        )
    return value


def _option_duration(settings: ConnectorSettings, key: str, default: float | None) -> float | None:
    if key not in settings.options:
        return default
    try:
        seconds = parse_duration(settings.options[key])
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"connector {settings.name!r} (portal): option {key!r}: {error}; write e.g. 10m"
        ) from None
    if seconds <= 0:
        raise ConfigError(f"connector {settings.name!r} (portal): option {key!r} must be positive")
    return seconds


def _option_count(settings: ConnectorSettings, key: str, default: int = DEFAULT_MAX_ITEMS) -> int:
    value = settings.options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1_000_000:
        raise ConfigError(
            f"connector {settings.name!r} (portal): option {key!r} must be a whole number from 1 to 1000000"
        )
    return value


def _problem(settings: ConnectorSettings, where: str, what: str) -> ConfigError:
    return ConfigError(f"connector {settings.name!r} (portal): options.{where}: {what}")


def _path_or_url(settings: ConnectorSettings, where: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or not (value.startswith("/") or value.startswith(("http://", "https://")))
        or any(c.isspace() for c in value)
    ):
        raise _problem(settings, where, f"{value!r} is not a path (starting with /) or an http(s) URL")
    return value


def _code_list(settings: ConnectorSettings, where: str, codes: object, *, empty: bool) -> frozenset[str]:
    if (
        not isinstance(codes, list)
        or (not codes and not empty)
        or not all(isinstance(code, str | int) and not isinstance(code, bool) for code in codes)
    ):
        needs = "a list of error codes" if empty else "a non-empty list of error codes"
        raise _problem(settings, where, f'must be {needs}, e.g. ["0"]')
    return frozenset(protocol.code_of(code) for code in codes)


def _codes(settings: ConnectorSettings) -> Codes:
    given: Any = settings.options.get("codes", {})
    if not isinstance(given, Mapping):
        raise _problem(settings, "codes", f"maps some of {', '.join(_CODE_KEYS)} to lists of error codes")
    for key in given:
        if key not in _CODE_KEYS:
            raise _problem(settings, f"codes.{key}", f"is not one of {', '.join(_CODE_KEYS)}")
    defaults = Codes()
    values: dict[str, Any] = {
        key: _code_list(settings, f"codes.{key}", given[key], empty=key != "success")
        if key in given
        else getattr(defaults, key)
        for key in _CODE_KEYS
    }
    message = settings.options.get("already_exists_message", defaults.already_exists_message)
    if not isinstance(message, str) or not message.strip():
        raise _problem(settings, "already_exists_message", "must be a non-empty text, e.g. đã tồn tại")
    return Codes(**values, already_exists_message=message)


def _bridge_url(settings: ConnectorSettings, spec: Mapping[str, Any], name: str) -> BridgeUrl | None:
    url = spec.get(f"{name}_url")
    params: Any = spec.get(f"{name}_params", {})
    if url is None:
        if f"{name}_params" in spec:
            raise _problem(settings, f"bridge.{name}_params", f"given without bridge.{name}_url")
        return None
    url = _path_or_url(settings, f"bridge.{name}_url", url)
    if not isinstance(params, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool) for k, v in params.items()
    ):
        raise _problem(
            settings,
            f"bridge.{name}_params",
            'maps query parameter names to text, e.g. {MaDinhDanhDV: "{agency}", isUpdating: "True"}',
        )
    return BridgeUrl(url, {k: str(v) for k, v in params.items()})


def _envelope(settings: ConnectorSettings, agency: str) -> tuple[Envelope, dict[str, str]]:
    """The envelope and the credentials' environment variables (field -> variable)."""
    kind = settings.options.get("envelope", "portal")
    if kind not in ENVELOPES:
        raise _problem(settings, "envelope", f"{kind!r} is not one of {', '.join(ENVELOPES)}")
    if kind == "portal":
        if "bridge" in settings.options:
            raise _problem(settings, "bridge", "is for envelope: bridge; remove it or set envelope: bridge")
        paths = Paths(
            **{
                endpoint: _path_or_url(settings, f"{endpoint}_path", settings.options[f"{endpoint}_path"])
                for endpoint in protocol.ENDPOINTS
                if f"{endpoint}_path" in settings.options
            }
        )
        dstcode = settings.options.get("dstcode")
        if dstcode is not None and (not isinstance(dstcode, str) or any(c in dstcode for c in "\r\n")):
            raise _problem(settings, "dstcode", "must be a text on one line")
        envs = {
            "username": _option_text(settings, "username_env", required=True),
            "password": _option_text(settings, "password_env", required=True),
        }
        return PortalEnvelope(agency, paths, dstcode), envs
    for key in PORTAL_ONLY:
        if key in settings.options:
            raise _problem(settings, key, "a bridge holds the portal's session: remove it")
    spec: Any = settings.options.get("bridge")
    if not isinstance(spec, Mapping):
        raise _problem(
            settings, "bridge", "envelope: bridge needs bridge: {create_url, update_url, progress_url}"
        )
    for key in spec:
        if key not in _BRIDGE_KEYS:
            raise _problem(settings, f"bridge.{key}", f"is not one of {', '.join(sorted(_BRIDGE_KEYS))}")
    urls = {name: _bridge_url(settings, spec, name) for name in _BRIDGE_URLS}
    for name in ("create", "update", "progress"):
        if urls[name] is None:
            raise _problem(settings, f"bridge.{name}_url", "is required with envelope: bridge")
    envs = {}
    if "bearer_env" in spec:
        token_env = spec["bearer_env"]
        if not isinstance(token_env, str) or not token_env:
            raise _problem(settings, "bridge.bearer_env", "names the environment variable holding the token")
        envs["token"] = token_env
    create, update, progress = urls["create"], urls["update"], urls["progress"]
    assert create is not None and update is not None and progress is not None
    return BridgeEnvelope(agency, create, update, progress, urls["lookup"]), envs


def _text_map(settings: ConnectorSettings, key: str, *, digits: bool = False) -> dict[str, str]:
    given: Any = settings.options.get(key, {})
    if not isinstance(given, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v and (not digits or (v.isascii() and v.isdigit()))
        for k, v in given.items()
    ):
        what = 'numeric strings, e.g. "7"' if digits else "non-empty strings"
        raise ConfigError(f"connector {settings.name!r} (portal): option {key!r} maps names to {what}")
    return dict(given)


def _body_options(settings: ConnectorSettings) -> BodyOptions:
    """The dossier body's configuration: the values the portal's reference leaves unknown."""
    where = f"connector {settings.name!r} (portal)"
    components: Any = settings.options.get("dataset_components", {})
    if not isinstance(components, Mapping) or not all(
        isinstance(v, list) and all(isinstance(c, str) and c for c in v) for v in components.values()
    ):
        raise ConfigError(f"{where}: option 'dataset_components' maps datasets to lists of component codes")
    store: Any = settings.options.get("data_store_datasets", ["result.document"])
    if not isinstance(store, list) or not all(isinstance(d, str) and d for d in store):
        raise ConfigError(f"{where}: option 'data_store_datasets' is a list of dataset names")
    payment = settings.options.get("online_payment", "portal")
    if payment not in ("portal", "gateway"):
        raise ConfigError(f"{where}: option 'online_payment' is portal or gateway")
    limits: Any = settings.options.get("text_limits", {})
    if not isinstance(limits, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in limits.values()
    ):
        raise ConfigError(f"{where}: option 'text_limits' maps portal fields to positive lengths")
    return BodyOptions(
        agency_names=_text_map(settings, "agency_names"),
        database_codes=_text_map(settings, "database_codes", digits=True),
        dataset_components={k: tuple(v) for k, v in components.items()},
        data_store_datasets=frozenset(store),
        fee_kind_codes=_text_map(settings, "fee_kind_codes")
        if "fee_kind_codes" in settings.options
        else BodyOptions().fee_kind_codes,
        payment_method_codes=_text_map(settings, "payment_method_codes"),
        result_codes=_text_map(settings, "result_codes"),
        online_payment=PAID_ON_PORTAL if payment == "portal" else PAID_VIA_GATEWAY,
        text_limits={**TEXT_LIMITS, **limits},
    )


def _status_policy(settings: ConnectorSettings) -> StatusPolicy:
    value = settings.options.get("status_policy", StatusPolicy.FORWARD.value)
    try:
        return StatusPolicy(value)
    except ValueError:
        choices = ", ".join(policy.value for policy in StatusPolicy)
        raise ConfigError(
            f"connector {settings.name!r} (portal): option 'status_policy' is one of {choices}, not {str(value)[:40]!r}"
        ) from None


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> PortalConnector:
    agency = _option_text(settings, "agency_code", required=True)
    if not is_agency_code(agency):
        raise ConfigError(
            f"connector {settings.name!r} (portal): agency_code {agency!r} is not an agency code, e.g. 000.00.00.H49"
        )
    envelope, credential_envs = _envelope(settings, agency)
    body = _body_options(settings)
    codes = _codes(settings)
    state_file = Path(
        _option_text(settings, "state_file", default=str(deps.data_dir / f"portal-{settings.name}.db"))
    )
    if not state_file.is_absolute():
        state_file = deps.data_dir / state_file
    metrics = portal_metrics(deps.metrics_registry)
    endpoint = RestEndpoint(
        name=settings.name,
        base_url=settings.url,
        policy=settings.call_policy,
        client_cert=settings.tls.client_cert,
        ca_file=settings.tls.ca_file,
    )
    client = PortalClient(
        RestProvider(endpoint, deps.rest_client),
        envelope,
        metrics,
        codes=codes,
        max_session_age_s=_option_duration(settings, "session_max_age", protocol.DEFAULT_SESSION_MAX_AGE_S)
        or protocol.DEFAULT_SESSION_MAX_AGE_S,
    )
    sync = PortalSync(
        client,
        SyncStateStore.in_file(state_file)
        if deps.shared_state is None
        else SyncStateStore(PostgresPortalState(deps.shared_state, settings.name)),
        metrics,
        body=body,
        status_policy=_status_policy(settings),
    )
    catalogue_file = Path(
        _option_text(
            settings, "catalogue_file", default=str(deps.data_dir / f"portal-{settings.name}-catalogue.db")
        )
    )
    if not catalogue_file.is_absolute():
        catalogue_file = deps.data_dir / catalogue_file
    catalogue = CatalogueSync(
        ClientCatalogueCalls(client),
        CatalogueStore.in_file(catalogue_file)
        if deps.shared_state is None
        else CatalogueStore(PostgresCatalogue(deps.shared_state, settings.name)),
        max_items=_option_count(settings, "catalogue_max_items"),
    )
    reconcile_every_s = _option_duration(settings, "reconcile_every", None)
    if reconcile_every_s is not None and not envelope.can_look_up:
        raise _problem(
            settings, "reconcile_every", "reconciliation needs a lookup: give bridge.lookup_url, or remove it"
        )
    return PortalConnector(
        settings.name,
        sync,
        credentials=credential_envs,
        reconcile_every_s=reconcile_every_s,
        reconcile_window_s=_option_duration(settings, "reconcile_window", DEFAULT_WINDOW_S)
        or DEFAULT_WINDOW_S,
        figures_every_s=_option_duration(settings, "figures_every", DEFAULT_FIGURES_EVERY_S)
        or DEFAULT_FIGURES_EVERY_S,
        catalogue=catalogue,
        catalogue_every_s=_option_duration(settings, "catalogue_every", None),
        shared_state=deps.shared_state,
    )
