"""The directory of systems and authentication by API key hash."""

from __future__ import annotations

import hashlib
import re

import pytest

from router.directory import KEY_HASH, Directory, System, hash_api_key, is_system_id, new_api_key


def system(system_id: str, *hashes: str) -> System:
    member, _, name = system_id.partition("/")
    return System(id=system_id, member=member, name=name, api_key_hashes=hashes)


def test_new_keys_are_random_and_their_hash_is_sha256_of_the_key() -> None:
    key, digest = new_api_key("000.00.00.H49/motcua")
    assert re.fullmatch(r"lt_[A-Za-z0-9_-]{43}", key)
    assert KEY_HASH.match(digest)
    assert digest == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert digest == hash_api_key(key)
    assert new_api_key("000.00.00.H49/motcua")[0] != key
    assert "H49" not in key and "motcua" not in key  # a leaked key does not say whose it is


@pytest.mark.parametrize(
    "bad", ["motcua", "000.00.00.H49", "000.00.00.H49/", "000.00.00.H49/Motcua", "a/b/c", ""]
)
def test_keys_are_not_minted_for_a_malformed_system_id(bad: str) -> None:
    assert not is_system_id(bad)
    with pytest.raises(ValueError, match="not a system id"):
        new_api_key(bad)


def test_authenticate_finds_the_system_of_a_key() -> None:
    key_a, hash_a = new_api_key("000.00.00.H49/motcua")
    key_a2, hash_a2 = new_api_key("000.00.00.H49/motcua")
    key_b, hash_b = new_api_key("000.00.00.G22/dvcqg")
    directory = Directory(
        [system("000.00.00.H49/motcua", hash_a, hash_a2), system("000.00.00.G22/dvcqg", hash_b)]
    )
    found = directory.authenticate(key_a)
    assert found is not None and found.id == "000.00.00.H49/motcua"
    assert directory.authenticate(key_a2) == found  # a second key, for rotation
    found_b = directory.authenticate(key_b)
    assert found_b is not None and found_b.id == "000.00.00.G22/dvcqg"
    assert len(directory) == 2
    assert "000.00.00.G22/dvcqg" in directory
    assert directory.get("000.00.00.G22/dvcqg") == found_b
    assert directory.members() == {"000.00.00.H49", "000.00.00.G22"}


@pytest.mark.parametrize("key", ["", "lt_wrong", "x" * 10_000, "lt_\udc80", hash_api_key("lt_x")])
def test_unknown_or_malformed_keys_authenticate_nobody(key: str) -> None:
    directory = Directory([system("000.00.00.H49/motcua", hash_api_key("lt_x"))])
    assert directory.authenticate(key) is None


def test_two_systems_may_not_share_a_key() -> None:
    _, digest = new_api_key("000.00.00.H49/motcua")
    with pytest.raises(ValueError, match="share an API key hash"):
        Directory([system("000.00.00.H49/motcua", digest), system("000.00.00.H49/khodulieu", digest)])


def test_duplicate_systems_and_bad_hashes_are_refused() -> None:
    with pytest.raises(ValueError, match="two systems"):
        Directory([system("000.00.00.H49/motcua"), system("000.00.00.H49/motcua")])
    with pytest.raises(ValueError, match="sha256"):
        Directory([system("000.00.00.H49/motcua", "sha256:ABC")])
