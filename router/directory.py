"""The directory of members and their systems, and authentication by API key.

A member is an organisation named by its agency code (``000.00.00.H49``); a system is the unit
that authenticates, publishes and subscribes (``000.00.00.H49/motcua``). Its id is also the
CloudEvents ``source`` of what it publishes.

API keys are never stored: the configuration holds ``sha256:<64 hex>`` of each key's UTF-8 bytes.
An unsalted fast hash is the right tool here, unlike for passwords: the keys are 256-bit random
tokens made by :func:`new_api_key`, so there is nothing to guess or look up in a table, and a slow
hash (bcrypt, scrypt) would only add milliseconds to every request. Lookup is a dictionary probe
on the digest; its timing reveals nothing useful, since finding a key with a chosen digest prefix
means breaking SHA-256's preimage resistance.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

HASH_PREFIX = "sha256:"
KEY_PREFIX = "lt_"
# A stored key hash: the algorithm, then the digest in lower-case hex.
KEY_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
# Real keys are 46 characters; anything far longer is not one of ours and is not worth hashing.
MAX_KEY_LENGTH = 256
# ``<agency code>/<system name>``: the agency code's groups of digits and letters joined by dots
# (35 characters at most, like the national data exchange), the name in lower-case with hyphens.
SYSTEM_ID = re.compile(r"^([0-9A-Z]+(?:\.[0-9A-Z]+)*)/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$")
MAX_AGENCY_CODE_LENGTH = 35


@dataclass(frozen=True, slots=True)
class System:
    """One system of a member; ``id`` is ``<member>/<name>``."""

    id: str
    member: str  # the agency code of the member that owns the system
    name: str
    roles: frozenset[str] = frozenset()  # e.g. "operator"
    description: str = ""
    member_name: str = ""  # the member's human name, e.g. "UBND tỉnh Quảng Ninh"
    api_key_hashes: tuple[str, ...] = ()
    # may name its official in the X-Official-Id header, unproven (router.officials); otherwise
    # only a verified identity token names one
    accepts_asserted_official: bool = False

    def has_role(self, role: str) -> bool:
        return role in self.roles


def hash_api_key(key: str) -> str:
    """The stored form of an API key: ``sha256:<hex digest of its UTF-8 bytes>``."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_system_id(system_id: str) -> bool:
    match = SYSTEM_ID.match(system_id)
    return match is not None and len(match.group(1)) <= MAX_AGENCY_CODE_LENGTH


def new_api_key(system_id: str) -> tuple[str, str]:
    """A fresh API key for a system and the hash to put in its configuration: ``(key, hash)``.

    The key carries no trace of the system (a leaked key tells nothing about whose it is); the id
    is checked so that a key is not minted for a mistyped system. Raises ValueError if malformed.
    """
    if not is_system_id(system_id):
        raise ValueError(
            f"'{system_id}' is not a system id; write '<agency code>/<system name>', e.g. 000.00.00.H49/motcua"
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_api_key(key)


class Directory:
    """The systems of the bus, found by id or by API key."""

    def __init__(self, systems: Iterable[System]) -> None:
        self._by_id: dict[str, System] = {}
        self._by_hash: dict[str, System] = {}
        for system in systems:
            if system.id in self._by_id:
                raise ValueError(f"two systems are named '{system.id}'")
            self._by_id[system.id] = system
            for digest in system.api_key_hashes:
                if not KEY_HASH.match(digest):
                    raise ValueError(f"'{system.id}': {digest!r} is not of the form sha256:<64 hex digits>")
                other = self._by_hash.get(digest)
                if other is not None:
                    # One key for two systems would let either act as the other.
                    raise ValueError(f"'{system.id}' and '{other.id}' share an API key hash")
                self._by_hash[digest] = system

    def authenticate(self, api_key: str) -> System | None:
        """The system this key belongs to, or None for an unknown or malformed key."""
        if not api_key or len(api_key) > MAX_KEY_LENGTH:
            return None
        try:
            digest = hash_api_key(api_key)
        except UnicodeEncodeError:  # lone surrogates cannot be a key we issued
            return None
        return self._by_hash.get(digest)

    def get(self, system_id: str) -> System | None:
        return self._by_id.get(system_id)

    def __contains__(self, system_id: object) -> bool:
        return system_id in self._by_id

    def __iter__(self) -> Iterator[System]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def members(self) -> frozenset[str]:
        """The agency codes that own at least one system."""
        return frozenset(s.member for s in self._by_id.values())
