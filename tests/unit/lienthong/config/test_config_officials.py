"""officials: in the configuration: trusted issuers with their public keys, and the systems allowed
to assert their official; what it builds, and what it refuses with the file, line, path and fix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from lienthong.config import load_settings
from tests.support.officials import ISSUER, IdentityProvider
from tests.unit.lienthong.config.test_config_errors import BASE, problems, write

PROVIDER = IdentityProvider()


def with_officials(section: Mapping[str, object]) -> str:
    return BASE + yaml.safe_dump({"officials": section}, sort_keys=False)


def test_no_issuer_and_no_system_allowed_to_assert_by_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE))
    assert settings.officials.issuers == ()
    assert not any(system.accepts_asserted_official for system in settings.systems)


def test_a_system_may_be_allowed_to_assert_its_official(tmp_path: Path) -> None:
    text = BASE.replace(
        "      - name: dvcqg\n", "      - name: dvcqg\n        officials: {accept_asserted_header: true}\n"
    )
    systems = {s.id: s for s in load_settings(write(tmp_path, text)).systems}
    assert systems["000.00.00.G22/dvcqg"].accepts_asserted_official
    assert not systems["000.00.00.H49/motcua"].accepts_asserted_official


def test_issuers_are_built_from_inline_jwks_a_jwks_file_and_a_pem_file(tmp_path: Path) -> None:
    (tmp_path / "sso.jwks.json").write_text(json.dumps(PROVIDER.jwks))
    (tmp_path / "vneid.pem").write_bytes(IdentityProvider().public_pem)
    section = {
        "clock_skew": "2m",
        "issuers": [
            PROVIDER.section()["issuers"][0],
            {
                "issuer": "https://a.example",
                "audience": ["lienthong", "x"],
                "algorithms": ["RS256"],
                "jwks_file": "sso.jwks.json",
            },
            {
                "issuer": "https://vneid.example",
                "audience": "lienthong",
                "algorithms": ["PS256"],
                "pem_file": "vneid.pem",
                "claim": "official_id",
            },
        ],
    }
    officials = load_settings(write(tmp_path, with_officials(section))).officials
    assert officials.clock_skew_s == 120.0
    assert [i.issuer for i in officials.issuers] == [ISSUER, "https://a.example", "https://vneid.example"]
    assert officials.issuers[1].audiences == ("lienthong", "x")
    assert officials.issuers[2].claim == "official_id" and officials.issuers[2].keys[0].kid is None


@pytest.mark.parametrize(
    ("change", "pointer", "expected"),
    [
        ({"algorithms": ["HS256"]}, "/officials/issuers/0/algorithms/0", "RS256"),
        ({"algorithms": ["none"]}, "/officials/issuers/0/algorithms/0", "RS256"),
        (
            {"algorithms": ["ES256"]},
            "/officials/issuers/0/algorithms",
            "no key of this issuer can verify ES256",
        ),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "/officials/issuers/0/jwks", "shared secret"),
        ({"jwks_file": "missing.json"}, "/officials/issuers/0", "one of jwks_file, jwks, pem_file"),
        ({"claim": "two words"}, "/officials/issuers/0/claim", "claim name"),
        ({"audience": []}, "/officials/issuers/0/audience", "client id"),
    ],
)
def test_a_bad_issuer_is_refused_with_its_path_and_fix(
    tmp_path: Path, change: dict[str, object], pointer: str, expected: str
) -> None:
    issuer = {**PROVIDER.section()["issuers"][0], **change}
    lines = problems(write(tmp_path, with_officials({"issuers": [issuer]})))
    assert any(f": {pointer}: " in line and expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "bus.yaml") + ":") for line in lines)


def test_a_key_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    issuer = {**PROVIDER.section()["issuers"][0], "jwks_file": "missing.json"}
    del issuer["jwks"]
    lines = problems(write(tmp_path, with_officials({"issuers": [issuer]})))
    assert any(
        "/officials/issuers/0/jwks_file" in line and "cannot read 'missing.json'" in line for line in lines
    ), lines


def test_a_clock_skew_past_five_minutes_is_refused(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, with_officials({"clock_skew": "1h", "issuers": []})))
    assert any("/officials/clock_skew" in line and "to 5m" in line for line in lines), lines
