"""``config check`` refuses demo material outside a demonstration (issue 16, items 4 and 7): the
DEMO CA as a connector's trust anchor, the DEMO identity provider's key among a trusted issuer's
keys, and placeholder values (``replace-with-...``) in the secrets the configuration names; each
problem names the file, the line, the JSON pointer and the fix. ``demo: true`` accepts them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.signer_files import certificate_pem
from lienthong.config import load_settings
from lienthong.config.demo_material import DEMO_CA_KEY_SHA256, DEMO_ISSUER_KEY_SHA256, is_placeholder
from simulators.identity import DEMO_AUDIENCE, DEMO_ISSUER, demo_issuer_jwks, demo_issuer_key
from simulators.pki import demo_authority, new_authority
from tests.support.officials import IdentityProvider
from tests.support.paths import EXAMPLES
from tests.unit.lienthong.config.test_config_errors import BASE, expect, problems, write

STORE = """\
connectors:
  - name: kho-ketqua
    kind: citizen_store
    url: http://127.0.0.1:9205
    options: {trust_anchors: anchors.pem}
"""
ISSUER = f"""\
officials:
  issuers:
    - issuer: {DEMO_ISSUER}
      audience: {DEMO_AUDIENCE}
      algorithms: [ES256]
      jwks_file: issuer.jwks.json
"""
PLACEHOLDER = "replace-with-48-random-characters-000000000000"


def test_the_pinned_key_is_the_demo_cas() -> None:
    key = demo_authority().certificate.public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(spki).hexdigest() == DEMO_CA_KEY_SHA256


def test_the_demo_ca_as_a_trust_anchor_is_refused(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "results" / "demo-ca.pem", tmp_path / "anchors.pem")
    path = write(tmp_path, BASE + STORE)
    lines = problems(path)
    assert len(lines) == 1
    expect(lines, path, 26, 30, "/connectors/0/options/trust_anchors", "DEMO CA", "demo: true")


def test_a_real_ca_and_a_demonstration_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "anchors.pem").write_bytes(certificate_pem(new_authority().certificate))
    assert load_settings(write(tmp_path, BASE + STORE)).connectors[0].kind == "citizen_store"
    shutil.copy(EXAMPLES / "results" / "demo-ca.pem", tmp_path / "anchors.pem")
    assert load_settings(write(tmp_path, "demo: true\n" + BASE + STORE)).connectors


def test_the_pinned_issuer_key_is_the_demo_identity_providers() -> None:
    spki = demo_issuer_key().public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(spki).hexdigest() == DEMO_ISSUER_KEY_SHA256
    shipped = json.loads((EXAMPLES / "officials" / "demo-issuer.jwks.json").read_text("utf-8"))
    assert shipped == demo_issuer_jwks()


def test_the_demo_issuer_key_is_refused_in_a_file_inline_or_as_pem(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "officials" / "demo-issuer.jwks.json", tmp_path / "issuer.jwks.json")
    path = write(tmp_path, BASE + ISSUER)
    lines = problems(path)
    assert len(lines) == 1
    expect(lines, path, 24, 7, "/officials/issuers/0", "DEMO identity provider", "demo: true")
    inline = ISSUER.replace("jwks_file: issuer.jwks.json", f"jwks: {json.dumps(demo_issuer_jwks())}")
    expect(problems(write(tmp_path, BASE + inline)), path, 24, 7, "/officials/issuers/0", "DEMO")
    pem = demo_issuer_key().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "issuer.pem").write_bytes(pem)
    as_pem = ISSUER.replace("jwks_file: issuer.jwks.json", "pem_file: issuer.pem")
    expect(problems(write(tmp_path, BASE + as_pem)), path, 24, 7, "/officials/issuers/0", "DEMO")


def test_a_real_issuer_and_a_demonstration_are_accepted(tmp_path: Path) -> None:
    real = IdentityProvider(issuer=DEMO_ISSUER)
    (tmp_path / "issuer.jwks.json").write_text(json.dumps(real.jwks), "utf-8")
    real_issuer = ISSUER.replace("[ES256]", "[RS256]")
    assert load_settings(write(tmp_path, BASE + real_issuer)).officials.issuer(DEMO_ISSUER)
    shutil.copy(EXAMPLES / "officials" / "demo-issuer.jwks.json", tmp_path / "issuer.jwks.json")
    assert load_settings(write(tmp_path, "demo: true\n" + BASE + ISSUER)).officials.issuer(DEMO_ISSUER)


def test_a_placeholder_secret_is_refused_without_printing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QB_AUDIT_KEY", PLACEHOLDER)
    monkeypatch.setenv("LIENTHONG_AUDIT_SIGNING_KEY", "A" * 43 + "=")
    monkeypatch.setenv("LIENTHONG_CONSOLE_SECRET", "replace-with-a-long-random-console-secret-0000")
    path = write(tmp_path, BASE + "audit:\n  path: audit.db\n  subject_key_env: QB_AUDIT_KEY\n")
    lines = problems(path)
    assert not any(PLACEHOLDER in line for line in lines)
    expect(lines, path, 24, 20, "/audit/subject_key_env", "QB_AUDIT_KEY", "placeholder", "/dev/urandom")
    # the signing key's variable is the default one: the audit section is named
    expect(lines, path, 22, 1, "/audit", "LIENTHONG_AUDIT_SIGNING_KEY", "placeholder")
    expect(lines, path, 1, 1, "/", "LIENTHONG_CONSOLE_SECRET", "demo: true")
    assert len(lines) == 3
    assert load_settings(write(tmp_path, "demo: true\n" + path.read_text()))


def test_what_reads_as_a_placeholder() -> None:
    for value in (PLACEHOLDER, "REPLACE-WITH-x", "change-me", "A" * 43 + "=", "0000"):
        assert is_placeholder(value), value
    for value in ("", "x", "integration test key, thirty-two bytes or more", "lt_XX1CBUAA4HWOqkfmN"):
        assert not is_placeholder(value), value
