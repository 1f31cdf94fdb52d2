"""The verifier of officials' identity tokens, with keys made in the test: what it accepts, and
each way a token is refused (expired, another audience or issuer, a forged signature, ``alg:
none``, an HMAC made with the public key), none of which puts the token's contents in the error."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from adapters.official_tokens import (
    KeyFileError,
    OfficialsSettings,
    OfficialTokenVerifier,
    TrustedIssuer,
    keys_of_file,
    keys_of_jwks,
)
from router.directory import System
from router.officials import OfficialTokenInvalid, OfficialTokenRequired, official_of
from tests.support.officials import (
    AUDIENCE,
    ISSUER,
    OFFICIAL,
    IdentityProvider,
    ec_provider_token,
    hmac_with_public_key,
    unsigned,
)

PROVIDER = IdentityProvider()
ONESTOP = System(id="000.00.00.H49/motcua", member="000.00.00.H49", name="motcua")
LEGACY = System(id="000.00.00.H49/cu", member="000.00.00.H49", name="cu", accepts_asserted_official=True)


def verifier(
    provider: IdentityProvider = PROVIDER,
    *,
    claim: str = "sub",
    skew: float = 30.0,
    clock: Callable[[], float] = time.time,
) -> OfficialTokenVerifier:
    issuer = TrustedIssuer(ISSUER, (AUDIENCE,), ("RS256",), keys_of_jwks(provider.jwks), claim)
    return OfficialTokenVerifier(OfficialsSettings((issuer,), skew), clock)


def refused(token: str, *, check: OfficialTokenVerifier | None = None) -> str:
    with pytest.raises(OfficialTokenInvalid) as raised:
        (check or verifier()).verify(token)
    detail = raised.value.detail
    assert OFFICIAL not in detail and token[:20] not in detail  # nothing of the token is told
    return detail


def test_a_token_of_a_trusted_issuer_names_a_verified_official() -> None:
    official = verifier().verify(PROVIDER.token())
    assert (official.id, official.basis, official.issuer) == (OFFICIAL, "verified", ISSUER)
    assert official.audit_basis == f"verified:{ISSUER}"


def test_the_configured_claim_is_the_official() -> None:
    token = PROVIDER.token(preferred_username="nguyen.van.a")
    assert verifier(claim="preferred_username").verify(token).id == "nguyen.van.a"
    assert "official_id" in refused(PROVIDER.token(), check=verifier(claim="official_id"))


def test_an_expired_token_is_refused_past_the_clock_skew_only() -> None:
    now = int(time.time())
    assert verifier().verify(PROVIDER.token(exp=now - 10)).id == OFFICIAL  # within 30 s of skew
    assert "expired" in refused(PROVIDER.token(exp=now - 120))


def test_a_token_accepted_once_is_not_verified_again_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time()
    clock = [now]
    check = verifier(clock=lambda: clock[0])
    token = PROVIDER.token(exp=int(now) + 100)
    assert check.verify(token).id == OFFICIAL

    def no_more_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the token was decoded again")

    monkeypatch.setattr(jwt, "decode", no_more_decoding)
    assert check.verify(token).id == OFFICIAL
    clock[0] = now + 100 + 30 - 1  # within the skew of 30 s
    assert check.verify(token).id == OFFICIAL
    clock[0] = now + 100 + 30 + 1
    assert "expired" in refused(token, check=check)


def test_a_token_not_valid_yet_is_refused() -> None:
    assert "not valid yet" in refused(PROVIDER.token(nbf=int(time.time()) + 600))


def test_a_token_for_another_audience_is_refused() -> None:
    assert "aud" in refused(PROVIDER.token(aud="another-system"))


def test_a_token_without_expiry_or_audience_is_refused() -> None:
    assert "exp" in refused(PROVIDER.token(exp=None))
    assert "aud" in refused(PROVIDER.token(aud=None))


def test_a_token_of_an_untrusted_issuer_is_refused() -> None:
    stranger = IdentityProvider(issuer="https://sso.example.org")
    assert "issuer" in refused(stranger.token())


def test_a_token_signed_with_another_key_is_refused() -> None:
    impostor = IdentityProvider()  # the same issuer and kid, another key
    assert "signature" in refused(impostor.token())


def test_alg_none_is_refused() -> None:
    assert "algorithm" in refused(unsigned(PROVIDER.claims()))


def test_an_hmac_made_with_the_issuers_public_key_is_refused() -> None:
    assert "algorithm" in refused(hmac_with_public_key(PROVIDER, PROVIDER.claims()))


def test_an_algorithm_the_issuer_does_not_sign_with_is_refused() -> None:
    assert "algorithm" in refused(ec_provider_token())


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = PROVIDER.token().split(".")
    other = PROVIDER.token(sub="someone.else").split(".")[1]
    assert "signature" in refused(f"{header}.{other}.{signature}")


def test_garbage_and_oversized_tokens_are_refused() -> None:
    assert "signed JWT" in refused("not-a-token")
    assert "characters" in refused("a" * 9000)


def test_an_official_id_that_is_not_printable_text_is_refused() -> None:
    assert "printable" in refused(PROVIDER.token(sub="canbo\n01"))
    assert "official id" in refused(PROVIDER.token(official_id=17), check=verifier(claim="official_id"))


def test_keys_are_read_from_a_jwks_file_or_a_pem_file(tmp_path: Path) -> None:
    jwks = tmp_path / "sso.jwks.json"
    jwks.write_text(json.dumps(PROVIDER.jwks))
    pem = tmp_path / "sso.pem"
    pem.write_bytes(PROVIDER.public_pem)
    assert keys_of_file(jwks)[0].kid == "key-1"
    assert keys_of_file(pem)[0].kid is None


def test_shared_secrets_and_private_keys_are_not_trusted() -> None:
    with pytest.raises(KeyFileError, match="shared secret"):
        keys_of_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    private = jwt.algorithms.RSAAlgorithm.to_jwk(PROVIDER.key, as_dict=True)
    with pytest.raises(KeyFileError, match="private"):
        keys_of_jwks({"keys": [private]})


def test_the_rule_a_token_decides_a_header_needs_the_systems_leave() -> None:
    check = verifier()
    assert official_of(ONESTOP, None, "", check) is None
    assert official_of(ONESTOP, PROVIDER.token(), "someone.else", check).id == OFFICIAL  # type: ignore[union-attr]
    with pytest.raises(OfficialTokenRequired):
        official_of(ONESTOP, None, "canbo.01", check)
    asserted = official_of(LEGACY, None, "canbo.01", check)
    assert asserted is not None and (asserted.id, asserted.audit_basis) == ("canbo.01", "asserted")
    with pytest.raises(OfficialTokenInvalid):  # a bad token is never read as an assertion
        official_of(LEGACY, "not-a-token", "canbo.01", check)
