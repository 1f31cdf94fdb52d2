"""The chain keys and the checkpoint signing key: where they come from, what is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from adapters.audit import keys, signing
from adapters.audit.chain import GENESIS, as_text
from adapters.audit.keys import ChainKey, KeyRing, UnknownKey, chain_key_source
from adapters.audit.signing import PublicKey, Signer, signing_key_source
from router.errors import ConfigError

CURRENT = "c" * 40
OLD = "o" * 40


def test_the_keys_in_the_environment_make_the_ring(tmp_path: Path) -> None:
    env = {"CHAIN": CURRENT, "RETIRED": f"{OLD}  {'p' * 32}\n"}
    ring = chain_key_source(tmp_path / "audit.db", "CHAIN", "RETIRED", environ=env)()
    assert ring.current == ChainKey(CURRENT.encode())
    assert len(ring.ids) == 3 and ring.holds(ChainKey(OLD.encode()).id)
    assert not keys.key_file_of(tmp_path / "audit.db").exists()


def test_a_key_id_names_its_key_and_reveals_nothing_of_it() -> None:
    key = ChainKey(CURRENT.encode())
    assert key.id == ChainKey(CURRENT.encode()).id != ChainKey(OLD.encode()).id
    assert len(key.id) == 16 and CURRENT not in repr(key)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAIN": "short"}, r"CHAIN: key 1 has 5 bytes; a chain key needs 32 or more"),
        ({"CHAIN": CURRENT, "RETIRED": f"{OLD} short"}, r"RETIRED: key 2 has 5 bytes"),
    ],
)
def test_a_short_key_in_the_environment_is_refused_at_once(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        chain_key_source(tmp_path / "audit.db", "CHAIN", "RETIRED", environ=env)


def test_without_the_variable_a_key_file_is_made_and_its_further_lines_are_retired_keys(
    tmp_path: Path,
) -> None:
    database = tmp_path / "audit.db"
    first = chain_key_source(database, "CHAIN", "RETIRED", environ={})()
    path = keys.key_file_of(database)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert chain_key_source(database, "CHAIN", "RETIRED", environ={})().current == first.current
    # rotation with a key file: the new key goes first, the old one stays below it
    path.write_text(f"{CURRENT}\n{path.read_text()}")
    rotated = chain_key_source(database, "CHAIN", "RETIRED", environ={})()
    assert rotated.current == ChainKey(CURRENT.encode()) and rotated.holds(first.current.id)


def test_a_reader_makes_no_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CHAIN is not set and there is no key file"):
        chain_key_source(tmp_path / "audit.db", "CHAIN", "RETIRED", create=False, environ={})()
    with pytest.raises(ConfigError, match="SIGN is not set and there is no key file"):
        signing_key_source(tmp_path / "audit.db", "SIGN", create=False, environ={})()
    assert list(tmp_path.iterdir()) == []


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = keys.key_file_of(tmp_path / "audit.db")
    path.write_text(CURRENT)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=r"chain key file .* readable by other users.*chmod 600"):
        chain_key_source(tmp_path / "audit.db", "CHAIN", "RETIRED", environ={})()


def test_a_record_under_a_key_not_held_cannot_be_linked() -> None:
    ring = KeyRing(ChainKey(CURRENT.encode()))
    fields = as_text(1, ["x"] * 10, False, "0123456789abcdef")
    with pytest.raises(UnknownKey):
        ring.link(fields, GENESIS)


def test_the_signing_key_from_the_environment_or_a_file(tmp_path: Path) -> None:
    seed = "A" * 43 + "="  # base64 of 32 bytes
    from_env = signing_key_source(tmp_path / "audit.db", "SIGN", environ={"SIGN": seed})()
    assert from_env.public.id == Signer.from_seed_text(seed.encode(), "x").public.id
    made = signing_key_source(tmp_path / "audit.db", "SIGN", environ={})()
    assert stat.S_IMODE(signing.key_file_of(tmp_path / "audit.db").stat().st_mode) == 0o600
    assert signing_key_source(tmp_path / "audit.db", "SIGN", environ={})().public.id == made.public.id
    assert PublicKey.parse(made.public.text).id == made.public.id
    with pytest.raises(ConfigError, match=r"SIGN does not hold an Ed25519 signing key.*head -c 32"):
        signing_key_source(tmp_path / "audit.db", "SIGN", environ={"SIGN": "not a key"})
    with pytest.raises(ValueError, match="base64 of 32 bytes"):
        PublicKey.parse("AAAA")
