"""Demo material, refused outside a demonstration: the DEMO certification authority among the
certificates a connector trusts, the DEMO identity provider's key among a trusted issuer's keys,
and placeholder values in the secrets a configuration names (``replace-with-...`` in
deploy/kubernetes/secret.yaml). Each lets anyone sign results or officials' tokens the bus
believes, or key the audit log with a value printed in the repository.

A configuration that says ``demo: true`` (examples/lienthong.yaml) is a demonstration: all are
accepted there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.official_tokens import KeyFileError, VerificationKey, keys_of_file, keys_of_jwks
from lienthong.config.problems import JsonPath, Problem

# SHA-256 of the DEMO CA's SubjectPublicKeyInfo: its key comes from a public seed
# (simulators/pki.py, demo_authority), so whatever certificate carries it proves nothing
DEMO_CA_KEY_SHA256 = "49db0392b345e1a918052770cd5f77d31eb3f62d2b9ec8873441db36f77d91e2"
# SHA-256 of the DEMO identity provider's SubjectPublicKeyInfo: its key comes from a public seed
# too (simulators/identity.py), so anyone can mint the tokens it would verify
DEMO_ISSUER_KEY_SHA256 = "ffa617a1b4ebd6962740fe35b74c9095564c6fb843983bde44673d0066d51864"
PLACEHOLDER_PREFIXES = ("replace-with", "change-me", "changeme")
CONSOLE_SECRET_ENV = "LIENTHONG_CONSOLE_SECRET"  # noqa: S105 (the name of the variable)
_DEMO_FIX = "or, for a demonstration only, add 'demo: true' at the top of the file"

# the secrets a configuration names: (section path, key, its default variable, how to make a value)
_RANDOM_48 = "head -c 48 /dev/urandom | base64"
_SECRETS: tuple[tuple[JsonPath, str, str | None, str], ...] = (
    (("transport", "security"), "sasl_password_env", None, "the Kafka user's password"),
    (("audit",), "subject_key_env", "LIENTHONG_AUDIT_KEY", _RANDOM_48),
    (("audit",), "chain_key_env", "LIENTHONG_AUDIT_CHAIN_KEY", _RANDOM_48),
    (("audit",), "retired_chain_keys_env", "LIENTHONG_AUDIT_RETIRED_CHAIN_KEYS", "the retired keys"),
    (
        ("audit", "checkpoints"),
        "signing_key_env",
        "LIENTHONG_AUDIT_SIGNING_KEY",
        "head -c 32 /dev/urandom | base64",
    ),
)


def is_placeholder(value: str) -> bool:
    """A value written to be replaced: ``replace-with-...``, ``change-me``, or one character
    repeated (``AAAA...=``, the base64 of zero bytes)."""
    lowered = value.strip().lower()
    unpadded = lowered.rstrip("=")
    return lowered.startswith(PLACEHOLDER_PREFIXES) or (len(unpadded) > 1 and len(set(unpadded)) == 1)


def is_demo_ca(path: Path) -> bool:
    """Whether a PEM file holds a certificate with the DEMO CA's key (False when unreadable:
    reading the file is the connector's check)."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return False
    return any(
        hashlib.sha256(
            c.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).hexdigest()
        == DEMO_CA_KEY_SHA256
        for c in certificates
    )


def _spki_sha256(key: VerificationKey) -> str:
    return hashlib.sha256(key.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def is_demo_issuer_key(entry: Mapping[str, Any], folder: Path) -> bool:
    """Whether an issuer of ``officials.issuers`` trusts the DEMO identity provider's key (False
    when its keys are unusable: reading them is the configuration's own check)."""
    try:
        if "jwks" in entry:
            keys = keys_of_jwks(entry["jwks"])
        else:
            value = entry.get("jwks_file", entry.get("pem_file"))
            if not isinstance(value, str):
                return False
            path = Path(value).expanduser()
            keys = keys_of_file(path if path.is_absolute() else folder / path)
    except (KeyFileError, OSError, AttributeError, TypeError):
        return False
    return any(_spki_sha256(key) == DEMO_ISSUER_KEY_SHA256 for key in keys)


def _section(data: Mapping[str, Any], path: JsonPath) -> Mapping[str, Any] | None:
    found: Any = data
    for part in path:
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return found if isinstance(found, Mapping) else None


def _placeholder_secrets(data: Mapping[str, Any]) -> Iterator[Problem]:
    for at, key, default, how in _SECRETS:
        section = _section(data, at)
        if at[0] == "audit" and section is None and "audit" not in data:
            continue
        variable = (section or {}).get(key, default)
        if variable is None or not is_placeholder(os.environ.get(variable, "")):
            continue
        where: JsonPath = (*at, key) if section is not None and key in section else at[:1]
        yield Problem(
            where,
            f"the environment variable {variable} holds a placeholder value, which protects nothing",
            f"set {variable} to a real secret ({how}) before starting the bus, {_DEMO_FIX}",
            at_key=where != (*at, key),
        )
    if is_placeholder(os.environ.get(CONSOLE_SECRET_ENV, "")):
        yield Problem(
            ("http",) if "http" in data else (),
            f"the environment variable {CONSOLE_SECRET_ENV} holds a placeholder value: anyone could sign "
            "console sessions",
            f"set {CONSOLE_SECRET_ENV} to a real secret ({_RANDOM_48}), {_DEMO_FIX}",
            at_key=True,
        )


def _demo_anchors(data: Mapping[str, Any], folder: Path) -> Iterator[Problem]:
    for i, connector in enumerate(data.get("connectors", [])):
        places: list[tuple[JsonPath, Any]] = [
            (
                ("connectors", i, "options", "trust_anchors"),
                connector.get("options", {}).get("trust_anchors"),
            ),
            (("connectors", i, "tls", "ca_file"), connector.get("tls", {}).get("ca_file")),
        ]
        for at, value in places:
            if not isinstance(value, str):
                continue
            path = Path(value).expanduser()
            if is_demo_ca(path if path.is_absolute() else folder / path):
                yield Problem(
                    at,
                    f"'{value}' holds the DEMO CA, whose key is public: any signature would be trusted",
                    f"give the certificates of the CAs that really issue the agencies' keys, {_DEMO_FIX}",
                )


def _demo_issuers(data: Mapping[str, Any], folder: Path) -> Iterator[Problem]:
    section = data.get("officials")
    issuers = section.get("issuers") if isinstance(section, Mapping) else None
    for i, entry in enumerate(issuers if isinstance(issuers, list) else []):
        if isinstance(entry, Mapping) and is_demo_issuer_key(entry, folder):
            yield Problem(
                ("officials", "issuers", i),
                "this issuer trusts the DEMO identity provider's key, which is public: anyone could "
                "sign a token naming any official",
                f"give the public keys of the identity provider that really signs in the officials, {_DEMO_FIX}",
            )


def demo_material(data: Mapping[str, Any], folder: Path) -> list[Problem]:
    """The demo material of a configuration that is not a demonstration (none when it is)."""
    if data.get("demo") is True:
        return []
    return [*_placeholder_secrets(data), *_demo_anchors(data, folder), *_demo_issuers(data, folder)]
