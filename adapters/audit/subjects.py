"""Whose data a record is about, kept as a keyed hash: HMAC-SHA256 of the subject's identifier.

The log must let a citizen find the records about them (the access report), without being a list
of every citizen's identifier itself: a plain hash would not do, since the 12-digit personal IDs
can all be hashed in minutes. With a secret key, the hashes are useless without it.

Where the key comes from:

- the environment variable named by ``audit.subject_key_env`` (default ``LIENTHONG_AUDIT_KEY``),
  at least :data:`MIN_KEY_LENGTH` characters. Deployments set it (deploy/): every process of a
  bus on Kafka needs the same key, so that their records of one subject match;
- if the variable is unset, a key file beside the audit database (``<audit db>.key``), created on
  first start with 48 random bytes and mode 0600, with a warning in the log. That is what a
  single-machine bus (``make run``) uses; the file must be backed up with the database. A key file
  readable by other users is refused.

The database remembers a check value of its key (an HMAC of a fixed text, which reveals nothing of
the key): started with another key, the store refuses to open rather than writing records that no
earlier record about the same person would match.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from adapters.audit.keyfiles import read_key_file
from router.errors import ConfigError
from router.identifiers import is_tax_code

MIN_KEY_LENGTH = 32
_CHECK_TEXT = b"lienthong audit subject key check"

KeySource = Callable[[], bytes]


def key_file_of(database: Path) -> Path:
    return Path(f"{database}.key")


def canonical_subject(subject: str) -> str:
    """One spelling per subject: a 13-digit tax code may be written with or without its dash."""
    subject = subject.strip()
    if "-" in subject and is_tax_code(subject):
        return subject.replace("-", "")
    return subject


class SubjectHasher:
    """Turns a subject's identifier into what the log stores."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"the audit subject key has {len(key)} bytes; it needs {MIN_KEY_LENGTH} or more"
            )
        self._key = key
        self.check = hmac.new(key, _CHECK_TEXT, hashlib.sha256).hexdigest()

    def __call__(self, subject: str) -> str:
        """The stored form of ``subject``; the empty subject (an admin action) stays empty."""
        canonical = canonical_subject(subject)
        if not canonical:
            return ""
        return hmac.new(self._key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def subject_key_source(
    database: Path, env_var: str, *, create: bool = True, environ: Mapping[str, str] | None = None
) -> KeySource:
    """Where the key will be read from. A key given in the environment is checked now (a short
    one is a :class:`ConfigError` before anything starts); a key file is read, or created when
    ``create``, only when the source is called."""
    env = os.environ if environ is None else environ
    value = env.get(env_var)
    if value is not None:
        key = value.encode("utf-8")
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{env_var} holds {len(key)} bytes; the audit subject key needs {MIN_KEY_LENGTH} or more. "
                f'Make one with: head -c 48 /dev/urandom | base64, and set {env_var}="<it>"'
            )
        return lambda: key
    return lambda: _key_file(key_file_of(database), env_var, create=create)


def _key_file(path: Path, env_var: str, *, create: bool) -> bytes:
    key = read_key_file(path, env_var, "audit subject key", create=create)
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"the audit key file {path} holds {len(key)} bytes; it needs {MIN_KEY_LENGTH} or more"
        )
    return key
