"""The settings of a bus, as the rest of the program sees them: typed, checked, with defaults filled
in, durations in seconds and sizes in bytes. Only the loader builds them from a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adapters.embedded.tables import Durability
from adapters.kafka.options import KafkaOptions
from router.directory import Directory, System
from router.evidence.catalogue import Catalogue
from router.policy import Policy
from router.providers import CallPolicy
from router.rate_limits import Limits
from router.subscriptions import Subscription

Compatibility = Literal["BACKWARD", "FORWARD", "FULL"]

MiB = 1 << 20


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


@dataclass(frozen=True, slots=True)
class SchemaSettings:
    path: Path | None = None  # None: the contracts packaged with lienthong
    compatibility: Compatibility = "BACKWARD"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """TLS of calls to an outside system (absolute paths once loaded)."""

    ca_file: str | None = None  # None: the system's trust store
    client_cert: tuple[str, str] | None = None  # (certificate file, key file): mutual TLS


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """An outside system the bus calls. ``options`` are the kind's own settings, checked by the
    kind's builder (lienthong/connectors.py)."""

    name: str
    kind: str  # population | business | vehicle | portal | citizen_store
    url: str
    call_policy: CallPolicy = field(default_factory=CallPolicy)
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    tls: TlsFiles = field(default_factory=TlsFiles)


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
    tracing: TracingSettings | None = None
    # datasets and procedures of the once-only exchange (``datasets:``, ``procedures:``)
    catalogue: Catalogue = field(default_factory=Catalogue)
    limits: Limits = field(default_factory=Limits)  # per caller (``limits:``)
