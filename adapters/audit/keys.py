"""The chain keys: the secrets each record's link is an HMAC under, kept out of the database.

Someone who can write the database but holds no chain key cannot make a record that verifies:
changing one, or recomputing the chain after a removal, leaves links that no key of the log made.

A key is known in the log by its id, the first 16 hex digits of HMAC-SHA256(key, a fixed text):
it names the key without revealing anything of it, and every record carries the id of the key it
is linked under, so that verification picks the right key after rotations.

Where the keys come from:

- the environment variable ``audit.chain_key_env`` (default ``LIENTHONG_AUDIT_CHAIN_KEY``): the
  current key, which new records are linked under; ``audit.retired_chain_keys_env`` (default
  ``LIENTHONG_AUDIT_RETIRED_CHAIN_KEYS``): earlier keys, separated by blanks, kept to verify the
  records they linked (never to write);
- if the first variable is unset, a key file beside the database (``<audit db>.chain-key``),
  made on first start: its first line is the current key, any further line a retired key.

Each key is at least :data:`MIN_KEY_LENGTH` bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.audit.chain import link_v2
from adapters.audit.keyfiles import read_key_file
from router.errors import ConfigError

MIN_KEY_LENGTH = 32
_ID_TEXT = b"lienthong audit chain key id"
_WHAT = "audit chain key"


class UnknownKey(LookupError):
    """A record names a chain key that is not held."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class ChainKey:
    secret: bytes = field(repr=False)

    @property
    def id(self) -> str:
        return hmac.new(self.secret, _ID_TEXT, hashlib.sha256).hexdigest()[:16]


class KeyRing:
    """The current chain key and the retired ones, by id."""

    def __init__(self, current: ChainKey, retired: Iterable[ChainKey] = ()) -> None:
        self.current = current
        self._keys = {key.id: key for key in retired}
        self._keys[current.id] = current

    @property
    def ids(self) -> list[str]:
        return sorted(self._keys)

    def holds(self, key_id: str) -> bool:
        return key_id in self._keys

    def link(self, fields: Sequence[str], previous_hash: str) -> str:
        """The link of a record whose hashed fields (its key id last) are ``fields``; raises
        :class:`UnknownKey` when its key is not held, UnicodeEncodeError for unencodable text."""
        key = self._keys.get(fields[-1])
        if key is None:
            raise UnknownKey(fields[-1])
        return link_v2(key.secret, fields, previous_hash)


KeyRingSource = Callable[[], KeyRing]


def key_file_of(database: Path) -> Path:
    return Path(f"{database}.chain-key")


def _keys(texts: Iterable[bytes], origin: str) -> list[ChainKey]:
    keys = []
    for n, text in enumerate(texts, 1):
        if len(text) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{origin}: key {n} has {len(text)} bytes; a chain key needs {MIN_KEY_LENGTH} or more. "
                "Make one with: head -c 48 /dev/urandom | base64"
            )
        keys.append(ChainKey(text))
    return keys


def chain_key_source(
    database: Path,
    env_var: str,
    retired_env_var: str,
    *,
    create: bool = True,
    environ: Mapping[str, str] | None = None,
) -> KeyRingSource:
    """Where the chain keys will be read from. Keys in the environment are checked now (a short
    one is a :class:`ConfigError` before anything starts); the key file is read, or made when
    ``create``, only when the source is called."""
    env = os.environ if environ is None else environ
    retired = _keys((t.encode("utf-8") for t in env.get(retired_env_var, "").split()), retired_env_var)
    value = env.get(env_var)
    if value is not None:
        [current] = _keys([value.strip().encode("utf-8")], env_var)
        return lambda: KeyRing(current, retired)

    def from_file() -> KeyRing:
        path = key_file_of(database)
        lines = read_key_file(path, env_var, _WHAT, create=create).split()
        if not lines:
            raise ConfigError(f"the {_WHAT} file {path} is empty")
        current, *older = _keys(lines, str(path))
        return KeyRing(current, [*older, *retired])

    return from_file
