"""From schema-valid configuration data to Settings, with the checks a schema cannot express:
names unique, references to systems that exist, subscriptions that policy allows, bounds of
durations and sizes. Every problem is collected, none stops the others from being found."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from adapters.audit.signing import PublicKey
from adapters.audit.witnesses import default_witness_file
from adapters.embedded.tables import Durability
from adapters.kafka.options import KafkaOptions, KafkaSecurity, Routing, SaslMechanism, SecurityProtocol
from adapters.official_tokens import (
    DEFAULT_CLOCK_SKEW_S,
    KeyFileError,
    OfficialsSettings,
    TrustedIssuer,
    VerificationKey,
    keys_of_file,
    keys_of_jwks,
)
from adapters.otel_extra import otel_installed
from adapters.webhook import RESERVED_HEADERS  # one list: the sink refuses them too
from connectors.base import ConnectorSettings, TlsFiles
from lienthong.config.connector_kinds import unsupported_settings
from lienthong.config.demo_material import demo_material
from lienthong.config.limits import build_limits
from lienthong.config.platforms import auth_files, auth_problems, platforms, reached
from lienthong.config.problems import JsonPath, Problem
from lienthong.config.recipients import recipient_problems
from lienthong.config.settings import (
    AuditSettings,
    CheckpointSettings,
    Compatibility,
    HttpSettings,
    PostgresSettings,
    SchemaSettings,
    Settings,
    StateSettings,
    TracingSettings,
    TransportSettings,
    WitnessSettings,
)
from router.directory import Directory, System
from router.evidence.catalogue import ALL_FIELDS, Catalogue, Dataset, Need, PersonalData, Procedure
from router.filters import compile_filter
from router.policy import ANY, MEMBER_WILDCARD, DataGrant, Policy, Rule
from router.providers import CallPolicy
from router.subscriptions import (
    KAFKA_SINK,
    BreakerPolicy,
    Filter,
    OnDeadLetter,
    RetryPolicy,
    SinkSpec,
    Subscription,
)
from schemas.units import format_duration, format_size, parse_duration, parse_size

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
# Integers go through int(): JSON Schema counts 8.0 as an integer, the rest of the program should not see it.


class _Builder:
    def __init__(self, data: Mapping[str, Any], folder: Path, event_types: Collection[str] | None) -> None:
        self.data = data
        self.folder = folder
        self.event_types = event_types
        self.problems: list[Problem] = []

    def problem(self, path: JsonPath, message: str, fix: str, at_key: bool = False) -> None:
        self.problems.append(Problem(path, message, fix, at_key))

    def duration(
        self, section: Mapping[str, Any], key: str, path: JsonPath, default: float, low: float, high: float
    ) -> float:
        if key not in section:
            return default
        try:
            seconds = parse_duration(section[key])  # the schema has checked the form...
        except ValueError:
            seconds = float("inf")  # ...but not that a number is finite (YAML's .inf)
        if not low <= seconds <= high:
            self.problem(
                (*path, key),
                f"{section[key]!r} is out of range",
                f"use a duration from {format_duration(low)} to {format_duration(high)}",
            )
            return default
        return seconds

    def path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.folder / candidate).resolve()

    # --- sections ---------------------------------------------------------------------------

    def transport(self) -> TransportSettings:
        section = self.data.get("transport", {})
        at: JsonPath = ("transport",)
        defaults = TransportSettings()
        path = self.path(section.get("path", str(defaults.path)))
        partitions = int(section.get("partitions", defaults.partitions))
        if section.get("kind") == "kafka":
            return TransportSettings(
                kind="kafka",
                path=path,
                partitions=partitions,
                kafka=KafkaOptions(
                    bootstrap_servers=tuple(section["bootstrap_servers"]),
                    security=self.kafka_security(section.get("security", {})),
                    default_partitions=partitions,
                    replication_factor=int(section.get("replication_factor", 1)),
                    namespace=section.get("namespace", ""),
                    routing=cast(Routing, section.get("routing", "at_least_once")),
                ),
            )
        return TransportSettings(
            kind="embedded",
            path=path,
            partitions=partitions,
            retention_s=self.duration(section, "retention", at, defaults.retention_s, MINUTE, 3650 * DAY),
            durability=cast(Durability, section.get("durability", defaults.durability)),
        )

    def kafka_security(self, section: Mapping[str, Any]) -> KafkaSecurity:
        at: JsonPath = ("transport", "security")
        protocol = cast(SecurityProtocol, section.get("protocol", "PLAINTEXT"))
        password: str | None = None
        if "sasl_password_env" in section:
            password = os.environ.get(section["sasl_password_env"])
            if password is None:
                self.problem(
                    (*at, "sasl_password_env"),
                    f"the environment variable {section['sasl_password_env']} is not set",
                    "set it to the Kafka password before starting the bus",
                )
        if protocol.startswith("SASL") and (
            "sasl_username" not in section or "sasl_password_env" not in section
        ):
            self.problem(
                (*at, "protocol"),
                f"{protocol} needs a user name and a password",
                "add sasl_username and sasl_password_env",
            )
        files = {
            key: str(self.path(section[key]))
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
            if key in section
        }
        for key, file in files.items():
            if not Path(file).is_file():
                self.problem((*at, key), f"'{file}' is not a file", "give the path of a PEM file")
        return KafkaSecurity(
            protocol=protocol,
            sasl_mechanism=cast(SaslMechanism | None, section.get("sasl_mechanism")),
            sasl_username=section.get("sasl_username"),
            sasl_password=password,
            ssl_cafile=files.get("ssl_cafile"),
            ssl_certfile=files.get("ssl_certfile"),
            ssl_keyfile=files.get("ssl_keyfile"),
        )

    def size(
        self, section: Mapping[str, Any], key: str, path: JsonPath, default: int, low: int, high: int
    ) -> int:
        if key not in section:
            return default
        size = parse_size(section[key])
        if not low <= size <= high:
            self.problem(
                (*path, key),
                f"{section[key]!r} is out of range",
                f"use a size from {format_size(low)} to {format_size(high)}",
            )
        return size

    def http(self) -> HttpSettings:
        section = self.data.get("http", {})
        at: JsonPath = ("http",)
        defaults = HttpSettings()
        return HttpSettings(
            host=section.get("host", defaults.host),
            port=int(section.get("port", defaults.port)),
            max_body_bytes=self.size(section, "max_body", at, defaults.max_body_bytes, 1 << 10, 64 << 20),
            max_batch_events=int(section.get("max_batch", defaults.max_batch_events)),
            max_head_bytes=self.size(section, "max_head", at, defaults.max_head_bytes, 8 << 10, 1 << 20),
            max_headers=int(section.get("max_headers", defaults.max_headers)),
            trusted_proxies=tuple(self.proxies(section.get("trusted_proxies", []))),
            metrics_listen=self.listen(section, "metrics_listen", at),
        )

    def proxies(self, entries: list[str]) -> list[str]:
        for i, entry in enumerate(entries):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                self.problem(
                    ("http", "trusted_proxies", i),
                    f"{entry!r} is not an IP address or network",
                    "write the proxy's address (10.0.0.5) or network (10.0.0.0/24)",
                )
        return entries

    def listen(self, section: Mapping[str, Any], key: str, at: JsonPath) -> tuple[str, int] | None:
        """``host:port`` (``[::1]:9464`` for IPv6), on another port than the API's."""
        if key not in section:
            return None
        host, _, port = str(section[key]).rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.problem((*at, key), f"{section[key]!r} is not host:port", "write e.g. 127.0.0.1:9464")
            return None
        if int(port) == int(section.get("port", HttpSettings().port)):
            self.problem(
                (*at, key), f"port {port} is the API's", "give the metrics listener a port of its own"
            )
        return host, int(port)

    def schemas(self) -> SchemaSettings:
        section = self.data.get("schemas", {})
        path = self.path(section["path"]) if "path" in section else None
        if path is not None and not path.is_dir():
            self.problem(
                ("schemas", "path"),
                f"'{path}' is not a folder",
                "give the folder of the contracts, or leave 'path' out",
            )
        return SchemaSettings(path, cast(Compatibility, section.get("compatibility", "BACKWARD")))

    def systems(self) -> tuple[System, ...]:
        systems: list[System] = []
        codes: dict[str, int] = {}
        key_owner: dict[str, str] = {}
        for m, member in enumerate(self.data.get("members", [])):
            code = member["code"]
            if code in codes:
                self.problem(
                    ("members", m, "code"),
                    f"member '{code}' is already listed as members[{codes[code]}]",
                    "merge the two entries into one",
                )
            codes.setdefault(code, m)
            names: set[str] = set()
            for s, entry in enumerate(member["systems"]):
                at: JsonPath = ("members", m, "systems", s)
                system_id = f"{code}/{entry['name']}"
                if entry["name"] in names:
                    self.problem(
                        (*at, "name"),
                        f"'{system_id}' is listed twice",
                        "give each system of a member its own name",
                    )
                    continue
                names.add(entry["name"])
                for k, digest in enumerate(entry.get("api_keys", [])):
                    if digest in key_owner:
                        self.problem(
                            (*at, "api_keys", k),
                            f"this API key hash is also a key of '{key_owner[digest]}'",
                            "make a new key for one of the systems with 'lienthong keys new <system id>'",
                        )
                    key_owner.setdefault(digest, system_id)
                systems.append(
                    System(
                        id=system_id,
                        member=code,
                        name=entry["name"],
                        roles=frozenset(entry.get("roles", [])),
                        description=entry.get("description", ""),
                        member_name=member["name"],
                        api_key_hashes=tuple(
                            d for d in entry.get("api_keys", []) if key_owner[d] == system_id
                        ),
                        accepts_asserted_official=bool(
                            entry.get("officials", {}).get("accept_asserted_header", False)
                        ),
                    )
                )
        return tuple(systems)

    def policy(self, known: Mapping[str, System]) -> Policy:
        members = {s.member for s in known.values()}
        rules: list[Rule] = []
        for r, entry in enumerate(self.data.get("policies", [])):
            at: JsonPath = ("policies", r)
            for j, selector in enumerate(entry["systems"]):
                wildcard = MEMBER_WILDCARD.match(selector)
                if wildcard is not None and wildcard.group(1) not in members:
                    self.problem(
                        (*at, "systems", j),
                        f"no member has the code '{wildcard.group(1)}'",
                        "list the member under 'members', or correct the code",
                    )
                elif wildcard is None and selector not in known:
                    self.problem(
                        (*at, "systems", j),
                        f"no system '{selector}' is listed under 'members'",
                        "add the system to its member, or correct the id",
                    )
            if not any(entry.get(k) for k in ("publish", "subscribe", "admin", "request", "read_access_log")):
                self.problem(
                    at,
                    "the rule grants nothing",
                    "add 'publish', 'subscribe', 'request', 'read_access_log: true' or 'admin: true', or remove the rule",
                )
            for grant in ("publish", "subscribe"):
                for j, pattern in enumerate(entry.get(grant, [])):
                    self.check_type((*at, grant, j), pattern, exact=False)
            rules.append(
                Rule(
                    systems=tuple(entry["systems"]),
                    publish=tuple(entry.get("publish", [])),
                    subscribe=tuple(entry.get("subscribe", [])),
                    admin=bool(entry.get("admin", False)),
                    description=entry.get("description", ""),
                    requests=tuple(
                        DataGrant(
                            datasets=frozenset(grant["datasets"]),
                            purposes=frozenset(grant["purposes"]),
                            procedures=frozenset(grant.get("procedures", [ANY])),
                        )
                        for grant in entry.get("request", [])
                    ),
                    read_access_log=bool(entry.get("read_access_log", False)),
                )
            )
        return Policy(rules)

    def check_type(self, path: JsonPath, name: str, exact: bool) -> None:
        """An exact type must be registered, when the registered types are known."""
        if self.event_types is None or (not exact and (name == "*" or name.endswith(".*"))):
            return
        if name not in self.event_types:
            known = ", ".join(sorted(self.event_types)) or "none"
            self.problem(path, f"'{name}' is not a registered event type", f"use a registered type ({known})")

    def subscriptions(
        self, known: Mapping[str, System], policy: Policy, connectors: Mapping[str, str]
    ) -> tuple[Subscription, ...]:
        result: list[Subscription] = []
        names: dict[str, int] = {}
        for i, entry in enumerate(self.data.get("subscriptions", [])):
            at: JsonPath = ("subscriptions", i)
            name, system = entry["name"], entry["system"]
            if name in names:
                self.problem(
                    (*at, "name"),
                    f"subscription '{name}' is already defined as subscriptions[{names[name]}]",
                    "give each subscription its own name",
                )
            names.setdefault(name, i)
            types = tuple(entry.get("types", []))
            if system not in known:
                self.problem(
                    (*at, "system"),
                    f"no system '{system}' is listed under 'members'",
                    "add the system to its member, or correct the id",
                )
            else:
                self.check_allowed(at, system, types, policy)
            for j, event_type in enumerate(types):
                self.check_type((*at, "types", j), event_type, exact=True)
            result.append(
                Subscription(
                    name=name,
                    system=system,
                    types=types,
                    filters=self.filters(at, entry.get("filters", [])),
                    sink=self.sink((*at, "sink"), entry["sink"], connectors),
                    retry=self.retry((*at, "retry"), entry.get("retry", {})),
                    breaker=self.breaker((*at, "circuit_breaker"), entry.get("circuit_breaker", {})),
                    on_dead_letter=OnDeadLetter(entry.get("on_dead_letter", OnDeadLetter.CONTINUE.value)),
                    batch_size=int(entry["sink"].get("webhook", {}).get("batch", 1)),
                    critical=bool(entry.get("critical", False)),
                )
            )
        return tuple(result)

    def check_allowed(self, at: JsonPath, system: str, types: tuple[str, ...], policy: Policy) -> None:
        """A subscription the policy would never feed is a mistake, not something to drop quietly."""
        if not types and not policy.grants(system).subscribe:
            self.problem(
                (*at, "system"),
                f"no policy lets '{system}' subscribe to anything, so this subscription would receive nothing",
                f"add a policy rule with systems: ['{system}'] and subscribe: [...]",
            )
        for j, event_type in enumerate(types):
            if not policy.may_subscribe(system, event_type):
                self.problem(
                    (*at, "types", j),
                    f"no policy lets '{system}' subscribe to '{event_type}'",
                    f"add '{event_type}' (or a pattern like '{event_type.split('.')[0]}.*') to a policy rule's 'subscribe' for '{system}', or remove the type",
                )

    def filters(self, at: JsonPath, specs: list[Mapping[str, Any]]) -> tuple[Filter, ...]:
        compiled: list[Filter] = []
        for j, spec in enumerate(specs):
            try:
                compiled.append(compile_filter(spec))
            except ValueError as error:  # nesting too deep: the schema cannot bound recursion
                self.problem((*at, "filters", j), str(error), "simplify the filter")
        return tuple(compiled)

    def sink(self, at: JsonPath, spec: Mapping[str, Any], connectors: Mapping[str, str]) -> SinkSpec:
        if "evidence" in spec:
            deadline = self.duration(spec["evidence"], "deadline", (*at, "evidence"), 20.0, 0.001, HOUR)
            return SinkSpec(kind="evidence", options={"deadline_s": deadline})
        if KAFKA_SINK in spec:
            return SinkSpec(kind=KAFKA_SINK)
        if "connector" in spec:  # the schema allows exactly one kind of sink
            name = spec["connector"]["name"]
            if name not in connectors:
                known = ", ".join(sorted(connectors)) or "none"
                self.problem(
                    (*at, "connector", "name"),
                    f"no connector '{name}' is listed under 'connectors'",
                    f"use a configured connector ({known}), or add it under 'connectors'",
                )
            return SinkSpec(kind="connector", options={"name": name, "kind": connectors.get(name, "")})
        return self.webhook(at, spec)

    def webhook(self, at: JsonPath, spec: Mapping[str, Any]) -> SinkSpec:
        webhook = spec["webhook"]
        here: JsonPath = (*at, "webhook")
        url = webhook["url"]
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a port out of range or not a number
            if not parts.hostname:
                raise ValueError("no host")
        except ValueError:
            self.problem(
                (*here, "url"),
                f"{url!r} is not a usable URL",
                "write an http(s) URL with a host, e.g. http://127.0.0.1:9101/events",
            )
        headers: dict[str, str] = dict(webhook.get("headers", {}))
        for header in headers:
            lowered = header.lower()
            if lowered in RESERVED_HEADERS or lowered.startswith("ce-"):
                self.problem(
                    (*here, "headers", header),
                    f"the bus sets '{header}' itself",
                    "remove this header",
                    at_key=True,
                )
        timeout = self.duration(webhook, "timeout", here, 5.0, 0.001, 10 * MINUTE)
        options = {
            "url": url,
            "timeout_s": timeout,
            "mode": webhook.get("mode", "binary"),
            "headers": headers,
        }
        return SinkSpec(kind="webhook", options=options)

    def retry(self, at: JsonPath, spec: Mapping[str, Any]) -> RetryPolicy:
        defaults = RetryPolicy()
        initial = self.duration(spec, "initial_backoff", at, defaults.initial_backoff_s, 0.001, HOUR)
        ceiling = self.duration(spec, "max_backoff", at, defaults.max_backoff_s, 0.001, DAY)
        if ceiling < initial:
            self.problem(
                (*at, "max_backoff" if "max_backoff" in spec else "initial_backoff"),
                f"max_backoff ({format_duration(ceiling)}) is shorter than initial_backoff ({format_duration(initial)})",
                "make max_backoff at least initial_backoff",
            )
        return RetryPolicy(
            max_attempts=int(spec.get("max_attempts", defaults.max_attempts)),
            max_elapsed_s=self.duration(spec, "max_elapsed", at, defaults.max_elapsed_s, 0.001, 30 * DAY),
            initial_backoff_s=initial,
            max_backoff_s=ceiling,
        )

    def dataset_keys(self) -> dict[str, tuple[str, ...]]:
        """The key names of the catalogue's datasets, by dataset (schema-valid entries)."""
        return {str(d["name"]): tuple(d["key"]) for d in self.data.get("datasets", [])}

    def connectors(self) -> tuple[ConnectorSettings, ...]:
        result: list[ConnectorSettings] = []
        names: dict[str, int] = {}
        known_platforms = platforms(self, self.data.get("platforms", []))
        for i, entry in enumerate(self.data.get("connectors", [])):
            at: JsonPath = ("connectors", i)
            name = entry["name"]
            if name in names:
                self.problem(
                    (*at, "name"),
                    f"connector '{name}' is already defined as connectors[{names[name]}]",
                    "give each connector its own name",
                )
                continue
            names[name] = i
            self.problems.extend(unsupported_settings(at, entry, self.folder, self.dataset_keys()))
            defaults = CallPolicy()
            timeout = self.duration(entry, "timeout", at, defaults.timeout_s, 0.001, 10 * MINUTE)
            deadline = self.duration(entry, "deadline", at, defaults.deadline_s, 0.001, HOUR)
            if deadline < timeout:
                self.problem(
                    (*at, "deadline"),
                    f"the deadline ({format_duration(deadline)}) is shorter than one call's timeout ({format_duration(timeout)})",
                    "make the deadline at least the timeout",
                )
            policy = CallPolicy(
                timeout_s=timeout,
                deadline_s=deadline,
                max_attempts=int(entry.get("max_attempts", defaults.max_attempts)),
                breaker=self.breaker((*at, "circuit_breaker"), entry.get("circuit_breaker", {})),
            )
            where = reached(self, at, entry, known_platforms)
            auth_problems(self, (*at, "auth"), entry.get("auth", {}))
            result.append(
                ConnectorSettings(
                    name=name,
                    kind=entry["kind"],
                    url=where.url,
                    call_policy=policy,
                    options=dict(entry.get("options", {})),
                    description=entry.get("description", ""),
                    tls=where.tls,
                    auth=auth_files(self, entry.get("auth", {})),
                    platform=where.platform,
                )
            )
        return tuple(result)

    def tls_files(self, at: JsonPath, section: Mapping[str, Any]) -> TlsFiles:
        files = {
            key: str(self.path(section[key]))
            for key in ("ca_file", "client_cert", "client_key")
            if key in section
        }
        for name, file in files.items():
            if not Path(file).is_file():
                self.problem((*at, name), f"'{file}' is not a file", "give the path of a PEM file")
        cert, key = files.get("client_cert"), files.get("client_key")
        return TlsFiles(
            ca_file=files.get("ca_file"),
            client_cert=(cert, key) if cert is not None and key is not None else None,
        )

    def catalogue(self, connectors: Mapping[str, str]) -> Catalogue:
        """``datasets:`` and ``procedures:``; ``connectors`` maps names to kinds."""
        datasets: dict[str, Dataset] = {}
        for i, entry in enumerate(self.data.get("datasets", [])):
            at: JsonPath = ("datasets", i)
            name = entry["name"]
            if name in datasets:
                self.problem((*at, "name"), f"dataset '{name}' is listed twice", "keep one entry per dataset")
                continue
            if entry["provider"] not in connectors:
                known = ", ".join(sorted(connectors)) or "none"
                self.problem(
                    (*at, "provider"),
                    f"no connector '{entry['provider']}' is listed under 'connectors'",
                    f"use a configured connector ({known}), or add it under 'connectors'",
                )
            personal = PersonalData(entry["personal_data"])
            cache = entry.get("cache", "never")
            ttl = None if cache == "never" else self.duration(entry, "cache", at, 0.0, 0.001, DAY)
            if ttl is not None and personal is PersonalData.SENSITIVE:
                self.problem(
                    (*at, "cache"), "sensitive data is never cached", "remove 'cache' or write 'never'"
                )
                ttl = None
            key = tuple(entry["key"])
            subject_key = entry.get("subject_key", "")
            if subject_key and subject_key not in key:
                self.problem(
                    (*at, "subject_key"), f"'{subject_key}' is not a key field", f"use one of {list(key)}"
                )
            subject_in_record = entry.get("subject_in_record", "")
            if subject_in_record and (not subject_in_record.startswith("/") or "*" in subject_in_record):
                self.problem(
                    (*at, "subject_in_record"),
                    f"'{subject_in_record}' is not a JSON pointer to one value",
                    "write a pointer into the provider's record, such as /owner/id",
                )
            fields = {
                purpose: None if spec == ALL_FIELDS else tuple(spec)
                for purpose, spec in entry["fields"].items()
            }
            datasets[name] = Dataset(
                name=name,
                provider=entry["provider"],
                key=key,
                personal_data=personal,
                fields=fields,
                cache_ttl_s=ttl,
                subject_key=subject_key,
                subject_in_record=subject_in_record,
                description=entry.get("description", ""),
            )
        return Catalogue(datasets, self.procedures(datasets))

    def procedures(self, datasets: Mapping[str, Dataset]) -> dict[str, Procedure]:
        procedures: dict[str, Procedure] = {}
        for i, entry in enumerate(self.data.get("procedures", [])):
            at: JsonPath = ("procedures", i)
            code, purpose = entry["code"], entry["purpose"]
            if code in procedures:
                self.problem(
                    (*at, "code"), f"procedure '{code}' is listed twice", "keep one entry per procedure"
                )
                continue
            needs: list[Need] = []
            for j, need in enumerate(entry["needs"]):
                here: JsonPath = (*at, "needs", j)
                dataset = datasets.get(need["dataset"])
                if dataset is None:
                    self.problem(
                        (*here, "dataset"),
                        f"no dataset '{need['dataset']}' is listed under 'datasets'",
                        "add the dataset to the catalogue, or correct the name",
                    )
                else:
                    if set(need["key"]) != set(dataset.key):
                        self.problem(
                            (*here, "key"),
                            f"{dataset.name} is keyed by {list(dataset.key)}, not {list(need['key'])}",
                            f"give exactly these key fields: {', '.join(dataset.key)}",
                        )
                    if purpose not in dataset.fields:
                        self.problem(
                            (*at, "purpose"),
                            f"{dataset.name} releases no field for purpose '{purpose}'",
                            f"add '{purpose}' to the fields of {dataset.name}, or change the purpose",
                        )
                needs.append(Need(need["dataset"], dict(need["key"]), need["document"]))
            procedures[code] = Procedure(
                code=code,
                name=entry["name"],
                purpose=purpose,
                needs=tuple(needs),
                description=entry.get("description", ""),
            )
        return procedures

    def check_evidence_sinks(self, subscriptions: tuple[Subscription, ...], policy: Policy) -> None:
        """The broker publishes its results as the subscription's system: policy must allow it."""
        for i, subscription in enumerate(subscriptions):
            if subscription.sink.kind == "evidence" and not policy.may_publish(
                subscription.system, "dossier.evidence.collected"
            ):
                self.problem(
                    ("subscriptions", i, "system"),
                    f"no policy lets '{subscription.system}' publish 'dossier.evidence.collected', "
                    "which the evidence sink publishes as this system",
                    f"add 'dossier.evidence.collected' to a policy rule's 'publish' for '{subscription.system}'",
                )

    def check_kafka_sinks(
        self, subscriptions: tuple[Subscription, ...], transport: TransportSettings
    ) -> None:
        """A Kafka-native subscriber reads a topic of the cluster: only a bus on Kafka has one;
        and it reads at its own pace, so nothing of the bus's delivery applies to it."""
        entries = self.data.get("subscriptions", [])
        for i, subscription in enumerate(subscriptions):
            if subscription.delivered_by_bus:
                continue
            at: JsonPath = ("subscriptions", i)
            if transport.kind != "kafka":
                self.problem(
                    (*at, "sink", KAFKA_SINK),
                    f"a kafka sink needs the transport kind kafka, not '{transport.kind}': "
                    "the subscriber reads its topic on the cluster",
                    "run the bus on Kafka (transport: {kind: kafka, ...}), or use a webhook sink",
                )
            for key in ("retry", "circuit_breaker", "on_dead_letter"):
                if key in entries[i]:
                    self.problem(
                        (*at, key),
                        f"'{key}' does not apply to a kafka sink: the subscriber's consumer reads "
                        "its topic at its own pace",
                        f"remove '{key}'",
                        at_key=True,
                    )

    def audit(self) -> AuditSettings:
        section = self.data.get("audit", {})
        defaults = AuditSettings()
        path = self.path(section.get("path", str(defaults.path)))
        return AuditSettings(
            path=path,
            subject_key_env=section.get("subject_key_env", defaults.subject_key_env),
            chain_key_env=section.get("chain_key_env", defaults.chain_key_env),
            retired_chain_keys_env=section.get("retired_chain_keys_env", defaults.retired_chain_keys_env),
            checkpoints=self.checkpoints(section.get("checkpoints", {}), path),
        )

    def checkpoints(self, section: Mapping[str, Any], database: Path) -> CheckpointSettings:
        at: JsonPath = ("audit", "checkpoints")
        defaults = CheckpointSettings()
        public_key = section.get("public_key")
        if public_key is not None:
            try:
                PublicKey.parse(public_key)
            except ValueError as error:
                self.problem(
                    (*at, "public_key"), str(error), "copy the key that `lienthong audit keys` prints"
                )
        witnesses: list[WitnessSettings] = []
        names: set[str] = set()
        for i, entry in enumerate(section.get("witnesses", [])):
            witness = self.witness((*at, "witnesses", i), entry, names)
            if witness is not None:
                witnesses.append(witness)
                names.add(witness.name)
        if "witnesses" not in section:
            witnesses.append(WitnessSettings(kind="file", name="file", path=default_witness_file(database)))
        return CheckpointSettings(
            signing_key_env=section.get("signing_key_env", defaults.signing_key_env),
            public_key=public_key,
            every_records=int(section.get("every", defaults.every_records)),
            interval_s=self.duration(section, "interval", at, defaults.interval_s, 1.0, DAY),
            witnesses=tuple(witnesses),
        )

    def witness(self, at: JsonPath, entry: Mapping[str, Any], taken: set[str]) -> WitnessSettings | None:
        kinds = [kind for kind in ("file", "webhook", "tsa") if kind in entry]
        if len(kinds) != 1:
            self.problem(
                at,
                f"a witness is one of file, webhook (this one has {', '.join(kinds) or 'none'})",
                "write one of file: <path> or webhook: {url: ...}",
            )
            return None
        [kind] = kinds
        if kind == "tsa":
            self.problem(
                (*at, "tsa"),
                "RFC 3161 time-stamping authorities are not supported yet as witnesses",
                "use a file on another host's volume or a webhook to another agency's system "
                "(docs/audit.md, Witnesses)",
                at_key=True,
            )
            return None
        position = int(at[-1]) + 1
        name = str(entry.get("name", kind if kind not in taken else f"{kind}-{position}"))
        if name in taken:
            self.problem(
                (*at, "name"), f"another witness is named '{name}'", "give each witness its own name"
            )
            return None
        if kind == "file":
            return WitnessSettings(kind="file", name=name, path=self.path(entry["file"]))
        spec = self.webhook(at, {"webhook": entry["webhook"]}).options
        return WitnessSettings(
            kind="webhook",
            name=name,
            url=spec["url"],
            timeout_s=spec["timeout_s"],
            headers=tuple(sorted(spec["headers"].items())),
        )

    def state(self) -> StateSettings:
        section = self.data.get("state", {}).get("postgres")
        if section is None:
            return StateSettings()
        at: JsonPath = ("state", "postgres")
        defaults = PostgresSettings()
        variable = section.get("dsn_env", defaults.dsn_env)
        dsn = os.environ.get(variable, "").strip()
        if not dsn:
            self.problem(
                (*at, "dsn_env") if "dsn_env" in section else at,
                f"the environment variable {variable} is not set",
                "set it to the PostgreSQL connection URL (postgresql://user:password@host:5432/database) "
                "before starting the bus",
            )
        elif not dsn.startswith(("postgresql://", "postgres://")):
            self.problem(
                (*at, "dsn_env") if "dsn_env" in section else at,
                f"the environment variable {variable} does not hold a postgresql:// URL",
                "set it to postgresql://user:password@host:5432/database",
            )
        return StateSettings(
            PostgresSettings(
                dsn_env=variable,
                dsn=dsn,
                pool_size=int(section.get("pool_size", defaults.pool_size)),
                timeout_s=self.duration(section, "timeout", at, defaults.timeout_s, 0.1, 10 * MINUTE),
            )
        )

    def tracing(self) -> TracingSettings | None:
        section = self.data.get("tracing")
        if section is None:
            return None
        at: JsonPath = ("tracing",)
        if not otel_installed():
            self.problem(
                at,
                "tracing is configured but the OpenTelemetry packages are not installed",
                "install the otel extra (pip install 'lienthong[otel]'), or remove the tracing section",
            )
        defaults = TracingSettings(otlp_endpoint=section["otlp_endpoint"])
        return replace(
            defaults,
            service_name=section.get("service_name", defaults.service_name),
            sample_ratio=float(section.get("sample_ratio", defaults.sample_ratio)),
            export_interval_s=self.duration(
                section, "export_interval", at, defaults.export_interval_s, 0.01, HOUR
            ),
            export_timeout_s=self.duration(
                section, "export_timeout", at, defaults.export_timeout_s, 0.1, 10 * MINUTE
            ),
        )

    def officials(self) -> OfficialsSettings:
        section = self.data.get("officials", {})
        issuers: list[TrustedIssuer] = []
        seen: set[str] = set()
        for i, entry in enumerate(section.get("issuers", [])):
            at: JsonPath = ("officials", "issuers", i)
            if entry["issuer"] in seen:
                self.problem(
                    (*at, "issuer"),
                    f"issuer {entry['issuer']!r} is listed twice",
                    "merge the two entries: one issuer with all its keys and audiences",
                )
                continue
            seen.add(entry["issuer"])
            keys = self.issuer_keys(at, entry)
            if not keys:
                continue
            algorithms = tuple(entry["algorithms"])
            unusable = [a for a in algorithms if not any(k.fits(a) for k in keys)]
            if unusable:
                self.problem(
                    (*at, "algorithms"),
                    f"no key of this issuer can verify {', '.join(unusable)}",
                    "list only the algorithms its keys are for (RSA keys: RS*/PS*, EC: ES*, Ed25519: EdDSA)",
                )
                continue
            audience = entry["audience"]
            issuers.append(
                TrustedIssuer(
                    issuer=entry["issuer"],
                    audiences=(audience,) if isinstance(audience, str) else tuple(audience),
                    algorithms=algorithms,
                    keys=keys,
                    claim=entry.get("claim", "sub"),
                )
            )
        skew = self.duration(section, "clock_skew", ("officials",), DEFAULT_CLOCK_SKEW_S, 0.0, 5 * MINUTE)
        return OfficialsSettings(tuple(issuers), skew)

    def issuer_keys(self, at: JsonPath, entry: Mapping[str, Any]) -> tuple[VerificationKey, ...]:
        """An issuer's public keys from the one of jwks_file, jwks, pem_file it gives."""
        given = [name for name in ("jwks_file", "jwks", "pem_file") if name in entry]
        if len(given) != 1:
            self.problem(
                at,
                f"an issuer's keys come from one of jwks_file, jwks, pem_file (this one has "
                f"{', '.join(given) or 'none'})",
                "give the issuer's public keys one way, e.g. jwks_file: keys/sso.jwks.json",
            )
            return ()
        [name] = given
        try:
            if name == "jwks":
                return keys_of_jwks(entry["jwks"])
            return keys_of_file(self.path(entry[name]))
        except KeyFileError as error:
            self.problem(
                (*at, name), str(error), "give the issuer's public keys (its JWKS, or a PEM public key)"
            )
        except OSError as error:
            self.problem(
                (*at, name),
                f"cannot read {entry[name]!r}: {error.strerror or error}",
                "give a readable file of the issuer's public keys",
            )
        return ()

    def breaker(self, at: JsonPath, spec: Mapping[str, Any]) -> BreakerPolicy:
        defaults = BreakerPolicy()
        return BreakerPolicy(
            failure_threshold=int(spec.get("failure_threshold", defaults.failure_threshold)),
            reset_timeout_s=self.duration(spec, "reset_timeout", at, defaults.reset_timeout_s, 0.001, DAY),
        )


def build_settings(
    source: Path,
    data: Mapping[str, Any],
    event_types: Collection[str] | None,
    released_types: Collection[str] = (),
) -> tuple[Settings | None, list[Problem]]:
    """Settings from schema-valid data, or None and the problems that prevent them.

    ``released_types``: the registered types whose events carry released personal data, which
    only their recipient's subscriptions may receive (lienthong.config.recipients)."""
    builder = _Builder(data, source.parent.resolve(), event_types)
    transport, http, schemas = builder.transport(), builder.http(), builder.schemas()
    systems = builder.systems()
    known = {s.id: s for s in systems}
    policy = builder.policy(known)
    connectors = builder.connectors()
    subscriptions = builder.subscriptions(known, policy, {c.name: c.kind for c in connectors})
    audit = builder.audit()
    state = builder.state()
    tracing = builder.tracing()
    officials = builder.officials()
    catalogue = builder.catalogue({c.name: c.kind for c in connectors})
    builder.check_evidence_sinks(subscriptions, policy)
    builder.check_kafka_sinks(subscriptions, transport)
    builder.problems += recipient_problems(subscriptions, policy, released_types)
    builder.problems.extend(demo_material(data, builder.folder))
    limits = build_limits(data.get("limits", {}), known, builder.problems.append)
    if builder.problems:
        return None, builder.problems
    settings = Settings(
        source=source,
        transport=transport,
        http=http,
        schemas=schemas,
        systems=systems,
        directory=Directory(systems),
        policy=policy,
        subscriptions=subscriptions,
        connectors=connectors,
        audit=audit,
        state=state,
        tracing=tracing,
        catalogue=catalogue,
        officials=officials,
        limits=limits,
    )
    return settings, []
