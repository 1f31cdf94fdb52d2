"""The settings of a bus, as the rest of the program sees them: typed, checked, with defaults filled
in, durations in seconds and sizes in bytes. Only the loader builds them from a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from adapters.embedded.tables import Durability
from adapters.kafka.options import KafkaOptions
from adapters.official_tokens import OfficialsSettings
from connectors.base import ConnectorSettings
from router.directory import Directory, System
from router.evidence.catalogue import Catalogue
from router.policy import Policy
from router.rate_limits import Limits
from router.subscriptions import Subscription

Compatibility = Literal["BACKWARD", "FORWARD", "FULL"]

KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True, slots=True)
class TransportSettings:
    kind: Literal["embedded", "kafka"] = "embedded"
    # The embedded log; with kafka, the file of the dead letters only. Absolute once loaded:
    # resolved against the file's folder.
    path: Path = Path("var/lienthong.db")
    partitions: int = 8
    retention_s: float = 7 * 86400.0
    durability: Durability = "fsync"
    kafka: KafkaOptions | None = None  # set when kind is kafka


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = MiB
    max_batch_events: int = 1000
    max_head_bytes: int = 64 * KiB  # the request line and headers together
    max_headers: int = 100
    # addresses or networks whose X-Forwarded-Proto and X-Forwarded-For are believed
    trusted_proxies: tuple[str, ...] = ()
    metrics_listen: tuple[str, int] | None = None  # (host, port): /metrics there, not on the API's


@dataclass(frozen=True, slots=True)
class SchemaSettings:
    path: Path | None = None  # None: the contracts packaged with lienthong
    compatibility: Compatibility = "BACKWARD"


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    """Where the audit log's checkpoints go: a file (``path``) or another system (``url``)."""

    kind: Literal["file", "webhook"]
    name: str  # in metrics and logs
    path: Path | None = None  # file: absolute once loaded
    url: str = ""  # webhook
    timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CheckpointSettings:
    signing_key_env: str = "LIENTHONG_AUDIT_SIGNING_KEY"
    public_key: str | None = None  # pinned: base64 of the 32 raw bytes of the Ed25519 public key
    every_records: int = 1000
    interval_s: float = 300.0
    # none given: a file beside the audit database (``<path>.checkpoints``), set when loaded
    witnesses: tuple[WitnessSettings, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditSettings:
    path: Path = Path("var/audit.db")  # absolute once loaded
    subject_key_env: str = "LIENTHONG_AUDIT_KEY"
    chain_key_env: str = "LIENTHONG_AUDIT_CHAIN_KEY"
    retired_chain_keys_env: str = "LIENTHONG_AUDIT_RETIRED_CHAIN_KEYS"
    checkpoints: CheckpointSettings = CheckpointSettings()


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """The shared state in PostgreSQL (``state.postgres``): the DSN is read from the environment
    variable ``dsn_env`` when the file is loaded, never written in the file."""

    dsn_env: str = "LIENTHONG_STATE_DSN"
    dsn: str = field(default="", repr=False)  # the variable's value: may hold a password
    pool_size: int = 10
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where the deployment's shared state lives (``state:``): PostgreSQL when ``postgres`` is
    set, else the SQLite files of the process (the audit log at ``audit.path``)."""

    postgres: PostgresSettings | None = None


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """OpenTelemetry export of the bus's spans (``tracing:``); absent means off."""

    otlp_endpoint: str
    service_name: str = "lienthong"
    sample_ratio: float = 1.0
    export_interval_s: float = 5.0
    export_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    source: Path  # the file the settings came from
    transport: TransportSettings
    http: HttpSettings
    schemas: SchemaSettings
    systems: tuple[System, ...]
    directory: Directory  # the same systems, indexed by id and by API key hash
    policy: Policy
    subscriptions: tuple[Subscription, ...]
    connectors: tuple[ConnectorSettings, ...] = ()
    audit: AuditSettings = AuditSettings()
    state: StateSettings = StateSettings()
    tracing: TracingSettings | None = None
    # datasets and procedures of the once-only exchange (``datasets:``, ``procedures:``)
    catalogue: Catalogue = field(default_factory=Catalogue)
    # the issuers whose identity tokens name officials (``officials:``; none: no token verifies)
    officials: OfficialsSettings = field(default_factory=OfficialsSettings)
    limits: Limits = field(default_factory=Limits)  # per caller (``limits:``)
