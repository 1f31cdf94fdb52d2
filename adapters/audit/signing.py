"""The checkpoint signing key: an Ed25519 key the bus signs its chain heads with.

Its private half never leaves the bus's configuration (the environment variable
``audit.checkpoints.signing_key_env``, default ``LIENTHONG_AUDIT_SIGNING_KEY``, or a key file
beside the database, ``<audit db>.signing-key``, made on first start); either holds the 32-byte
seed in base64. Its public half is what a witness and ``lienthong audit verify`` check signatures
with: pinned in the configuration (``audit.checkpoints.public_key``, base64 of the 32 raw bytes),
or derived from the private key where that is at hand. A key is known by its id, the first 16
hex digits of the SHA-256 of its public bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.audit.keyfiles import read_key_file
from router.errors import ConfigError

SEED_BYTES = 32
_WHAT = "audit checkpoint signing key"


def key_file_of(database: Path) -> Path:
    return Path(f"{database}.signing-key")


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class PublicKey:
    """A public key that checkpoint signatures are checked with."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        raw = _raw(key)
        self.text = base64.b64encode(raw).decode("ascii")
        self.id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """A key written as base64 of its 32 raw bytes; ValueError otherwise."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError("a checkpoint public key is the base64 of 32 bytes (44 characters)")
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


class Signer:
    """The private key, and the public key that goes with it."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @classmethod
    def from_seed_text(cls, text: bytes, origin: str) -> Signer:
        try:
            # either alphabet: the key files are URL-safe base64, `base64` writes the standard one
            seed = base64.b64decode(text.strip().replace(b"-", b"+").replace(b"_", b"/"), validate=True)
        except (binascii.Error, ValueError):
            seed = b""
        if len(seed) != SEED_BYTES:
            raise ConfigError(
                f"{origin} does not hold an Ed25519 signing key: base64 of {SEED_BYTES} random bytes. "
                "Make one with: head -c 32 /dev/urandom | base64"
            )
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


SignerSource = Callable[[], Signer]


def signing_key_source(
    database: Path, env_var: str, *, create: bool = True, environ: Mapping[str, str] | None = None
) -> SignerSource:
    """Where the signing key will be read from: a key in the environment is checked now; the key
    file is read, or made when ``create``, only when the source is called."""
    env = os.environ if environ is None else environ
    value = env.get(env_var)
    if value is not None:
        signer = Signer.from_seed_text(value.encode("utf-8"), env_var)
        return lambda: signer
    path = key_file_of(database)
    return lambda: Signer.from_seed_text(
        read_key_file(path, env_var, _WHAT, create=create, size=SEED_BYTES), str(path)
    )
