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

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from router.errors import ConfigError
from schemas.formats import is_tax_code

log = logging.getLogger("lienthong.audit")

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
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"{env_var} is not set and there is no key file {path}: the audit log's subjects "
                "cannot be looked up without the key they were hashed with"
            ) from None
        return _new_key_file(path, env_var)
    except OSError as error:
        raise ConfigError(f"cannot read the audit key file {path}: {error.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the audit key file {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )
        with os.fdopen(fd, "rb", closefd=False) as file:
            key = file.read().strip()
    finally:
        os.close(fd)
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"the audit key file {path} holds {len(key)} bytes; it needs {MIN_KEY_LENGTH} or more"
        )
    return key


def _new_key_file(path: Path, env_var: str) -> bytes:
    key = base64.urlsafe_b64encode(secrets.token_bytes(48))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once cannot each write a key of their own.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _key_file(path, env_var, create=False)
    except OSError as error:
        raise ConfigError(f"cannot create the audit key file {path}: {error.strerror}") from None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning(
        "%s is not set: subjects in the audit log are hashed with a key generated in %s. Back it up "
        "with the audit database; several processes sharing the work (Kafka) need one key in %s.",
        env_var,
        path,
        env_var,
    )
    return key
