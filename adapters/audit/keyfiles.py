"""Secret key files beside the audit database, for a bus whose keys are not in its environment.

The audit log's keys (the subject key, the chain key, the checkpoint signing key) come from an
environment variable in deployments; a single-machine trial has none, so each key is kept in a
file beside the database instead, made on first start: random bytes, base64, mode 0600, created
with ``O_EXCL`` (two processes starting at once cannot each make a key of their own), never
followed through a symbolic link. A key file readable by group or others is refused. Readers
(``lienthong audit ...``) never make one: a missing key is an error, not a new key.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from pathlib import Path

from router.errors import ConfigError

log = logging.getLogger("lienthong.audit")


def read_key_file(path: Path, env_var: str, what: str, *, create: bool, size: int = 48) -> bytes:
    """The contents of the key file at ``path`` (surrounding blanks stripped), made with ``size``
    random bytes when it does not exist and ``create``; ``what`` names the key in messages."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"{env_var} is not set and there is no key file {path}: the {what} cannot be read"
            ) from None
        return _new_key_file(path, env_var, what, size)
    except OSError as error:
        raise ConfigError(f"cannot read the {what} file {path}: {error.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the {what} file {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read().strip()
    finally:
        os.close(fd)


def _new_key_file(path: Path, env_var: str, what: str, size: int) -> bytes:
    key = base64.urlsafe_b64encode(secrets.token_bytes(size))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_key_file(path, env_var, what, create=False)
    except OSError as error:
        raise ConfigError(f"cannot create the {what} file {path}: {error.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # exactly, whatever the umask
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning(
        "%s is not set: the %s is generated in %s. Back it up with the audit database; several "
        "processes sharing the work (Kafka) need their keys in the environment.",
        env_var,
        what,
        path,
    )
    return key
