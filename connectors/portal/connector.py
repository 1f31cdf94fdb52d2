"""The portal connector: a sink for dossier events (``sink: {connector: {name: portal}}``),
periodic reconciliation and the operators' figures.

Options (``connectors[].options`` in the configuration):

- ``agency_code`` (required): ``madonvi``, the province's agency code as the portal knows it;
- ``username_env``, ``password_env`` (required): the names of the environment variables holding
  the portal account (read when the bus starts; never written in the file);
- ``login_path``, ``service_path``: the adapter's paths (default ``/auth/login``,
  ``/adapter/service``);
- ``codes``: the portal's ``error_code`` values, e.g. ``{session_expired: ["99"], already_exists:
  ["02"]}`` (keys: success, not_found, already_exists, does_not_exist, session_expired);
- ``database_codes``: dataset -> MaCSDL, added to the defaults, for DSKetNoiCSDL;
- ``reconcile_every``: a duration; ``serve`` then reconciles that often (off by default);
  ``reconcile_window``: how far back each run looks (default 30d);
- ``figures_every``: how often the scorecard gauges are refreshed (default 30s);
- ``status_policy``: ``forward`` (default) sends every status move real clients send, counting
  and listing those the status table does not list; ``strict`` holds them as dead letters until an
  operator releases the dossier (``lienthong portal release``);
- ``state_file``: the sync state's SQLite file (default ``portal-<name>.db`` in the bus's data
  folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from adapters.rest import RestEndpoint, RestProvider
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.mapping import DATABASE_CODES
from connectors.portal.metrics import PortalMetrics, portal_metrics
from connectors.portal.session import Codes, Credentials, PortalClient, PortalError
from connectors.portal.state import AgencyFigures, SyncStateStore
from connectors.portal.status_machine import StatusPolicy
from connectors.portal.sync import DossierEvent, Held, PortalSync, ReconcileReport
from router.errors import ConfigError
from router.identifiers import is_agency_code
from router.ports import StoredMessage
from router.providers import DataProvider
from router.sinks import Sink, SinkError
from router.subscriptions import SinkSpec
from schemas.units import parse_duration

log = logging.getLogger("lienthong.portal")

DEFAULT_WINDOW_S = 30 * 86400.0
DEFAULT_FIGURES_EVERY_S = 30.0
_CODE_KEYS = ("success", "not_found", "already_exists", "does_not_exist", "session_expired")


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
        credentials: tuple[str, str],
        reconcile_every_s: float | None = None,
        reconcile_window_s: float = DEFAULT_WINDOW_S,
        figures_every_s: float = DEFAULT_FIGURES_EVERY_S,
    ) -> None:
        self._name = name
        self.sync = sync
        self._credential_envs = credentials
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

    async def open(self, *, strict: bool = True) -> None:
        """Reads the credentials and opens the sync state; ``strict``: missing credentials are a
        ConfigError (the command line) rather than a logged error (``serve``)."""
        if self._started:
            return
        username_env, password_env = self._credential_envs
        missing = [env for env in (username_env, password_env) if not os.environ.get(env)]
        agency = self.sync.client.credentials.agency
        if missing:
            problem = (
                f"connector {self._name!r} (portal): set the environment variable(s) {', '.join(missing)} "
                "to the portal account's user name and password"
            )
            if strict:
                raise ConfigError(problem)
            log.error("%s; until then no call reaches the portal", problem)
            self.sync.client.credentials = Credentials("", "", agency, missing=problem)
        else:
            self.sync.client.credentials = Credentials(
                os.environ[username_env], os.environ[password_env], agency
            )
        await self.sync.start()
        self._started = True

    async def reconcile(self, *, since: float | None = None) -> ReconcileReport:
        return await self.sync.reconcile(since=since)

    async def figures(self, agencies: Sequence[str] | None = None) -> list[AgencyFigures]:
        rows = await self.sync.store.figures(agencies)
        if agencies is None:
            self.metrics.figures(rows)
        return rows

    def unsynced(self) -> Mapping[str, float]:
        return self.sync.pending

    async def console_rows(self) -> list[dict[str, str | int | float | None]]:
        """The operator console's portal section: one row per agency."""
        rows = await self.figures()
        pending = self.sync.pending
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
            except Exception:  # the gauges keep their last values; the next round tries again
                log.warning("%s: the scorecard figures were not refreshed", self._name, exc_info=True)
            await asyncio.sleep(self.figures_every_s)

    async def _reconcile_periodically(self) -> None:
        assert self.reconcile_every_s is not None
        while True:
            await asyncio.sleep(self.reconcile_every_s)
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


def _codes(settings: ConnectorSettings) -> Codes:
    given: Any = settings.options.get("codes", {})
    if not isinstance(given, Mapping) or set(given) - set(_CODE_KEYS):
        raise ConfigError(
            f"connector {settings.name!r} (portal): option 'codes' maps some of {', '.join(_CODE_KEYS)} to lists of error codes"
        )
    defaults = Codes()
    values = {}
    for key in _CODE_KEYS:
        codes = given.get(key)
        if codes is None:
            values[key] = getattr(defaults, key)
        elif isinstance(codes, list) and codes:
            values[key] = frozenset(protocol.code_of(code) for code in codes)
        else:
            raise ConfigError(f"connector {settings.name!r} (portal): codes.{key} must be a non-empty list")
    return Codes(**values)


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
    username_env = _option_text(settings, "username_env", required=True)
    password_env = _option_text(settings, "password_env", required=True)
    database_codes: Any = settings.options.get("database_codes", {})
    if not isinstance(database_codes, Mapping) or not all(
        isinstance(v, str) for v in database_codes.values()
    ):
        raise ConfigError(
            f"connector {settings.name!r} (portal): database_codes maps dataset names to MaCSDL codes"
        )
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
        Credentials("", "", agency),
        metrics,
        codes=codes,
        login_path=_option_text(settings, "login_path", default=protocol.LOGIN_PATH),
        service_path=_option_text(settings, "service_path", default=protocol.SERVICE_PATH),
    )
    sync = PortalSync(
        client,
        SyncStateStore(state_file),
        metrics,
        database_codes={**DATABASE_CODES, **database_codes},
        status_policy=_status_policy(settings),
    )
    return PortalConnector(
        settings.name,
        sync,
        credentials=(username_env, password_env),
        reconcile_every_s=_option_duration(settings, "reconcile_every", None),
        reconcile_window_s=_option_duration(settings, "reconcile_window", DEFAULT_WINDOW_S)
        or DEFAULT_WINDOW_S,
        figures_every_s=_option_duration(settings, "figures_every", DEFAULT_FIGURES_EVERY_S)
        or DEFAULT_FIGURES_EVERY_S,
    )
