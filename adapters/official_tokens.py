"""Verifying an official's identity token (a JWT) against the issuers the configuration trusts.

Each trusted issuer (``officials.issuers`` in the configuration) gives its ``iss``, the audiences
a token must be for (the bus), the algorithms it signs with and its public keys (a JWKS file,
inline JWKs or a PEM file), and the claim that holds the official's id. A token is accepted only
when all of these hold:

- it is at most :data:`MAX_TOKEN` characters and a well-formed JWS;
- its ``iss`` is a trusted issuer, its ``alg`` one of that issuer's algorithms (never ``none``,
  never an HMAC: the keys are public, so an HMAC "signed" with one proves nothing, the algorithm
  confusion attack), and, when its header names a ``kid``, a key of the issuer has that id;
- its signature verifies under a key of the issuer of the same type as the algorithm;
- its ``aud`` names one of the issuer's audiences, ``exp`` is present and not past, ``nbf``
  (if present) not ahead, each with the configured clock skew;
- the configured claim is text of at most :data:`MAX_OFFICIAL_ID` printable characters.

Errors say which check failed, never what the token holds (it names a person).
PyJWT does the JWS work; the choices above are made here, before it is called.

An official's client sends the same token with every query until it expires, and checking its
signature (an RSA or ECDSA verification) costs more than the rest of an evidence query. So a
verifier keeps the tokens it accepted lately, with the official each names and its ``exp`` and
``nbf``: everything else it checks depends on the token and the trusted issuers only, which do not
change while the verifier lives (a reload makes a new one). A token found there is accepted again
without its signature checked, while its time window holds; past it, refused as it would be.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from router.officials import VERIFIED, Official, OfficialTokenInvalid

MAX_TOKEN = 8192
MAX_OFFICIAL_ID = 200
# The algorithms an issuer may be configured with: public-key signatures only.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
OKP_ALGORITHMS = ("EdDSA",)
ALLOWED_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS, *OKP_ALGORITHMS)
DEFAULT_CLOCK_SKEW_S = 60.0
# Tokens accepted lately, kept by a verifier; emptied when full.
MAX_CACHED_TOKENS = 1024

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key of an issuer; ``kid`` as its JWK names it (None for a PEM)."""

    key: PublicKey
    kid: str | None = None

    def fits(self, algorithm: str) -> bool:
        """Whether this key can verify a signature of ``algorithm``."""
        if algorithm in RSA_ALGORITHMS:
            return isinstance(self.key, rsa.RSAPublicKey)
        if algorithm in EC_ALGORITHMS:
            return isinstance(self.key, ec.EllipticCurvePublicKey)
        if algorithm in OKP_ALGORITHMS:
            return isinstance(self.key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        return False


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    keys: tuple[VerificationKey, ...]
    claim: str = "sub"


@dataclass(frozen=True, slots=True)
class OfficialsSettings:
    """``officials:`` of the configuration: the trusted issuers and the clock skew allowed."""

    issuers: tuple[TrustedIssuer, ...] = ()
    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S
    _by_issuer: Mapping[str, TrustedIssuer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_issuer", {i.issuer: i for i in self.issuers})

    def issuer(self, name: str) -> TrustedIssuer | None:
        return self._by_issuer.get(name)


class KeyFileError(ValueError):
    """Keys that cannot be used to verify tokens (the message says why, for the configuration)."""


def keys_of_jwks(document: Any) -> tuple[VerificationKey, ...]:
    """The public keys of a JWK Set (``{"keys": [...]}``) or of one JWK; raises KeyFileError."""
    entries = document.get("keys") if isinstance(document, dict) and "keys" in document else [document]
    if not isinstance(entries, list) or not entries:
        raise KeyFileError("a JWK Set holds a non-empty list 'keys'")
    keys: list[VerificationKey] = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise KeyFileError(f"key {n} is not a JSON object")
        if entry.get("kty") == "oct":
            raise KeyFileError(f"key {n} is a shared secret (kty oct): trust only public keys")
        if any(name in entry for name in ("d", "p", "q", "dp", "dq", "qi")):
            raise KeyFileError(f"key {n} holds private parts: give the issuer's public key only")
        try:
            parsed = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise KeyFileError(f"key {n} is not a usable JWK ({type(error).__name__})") from None
        key = parsed.key
        if not isinstance(key, PublicKey):
            raise KeyFileError(f"key {n} is not an RSA, EC or Ed25519/Ed448 public key")
        kid = entry.get("kid")
        keys.append(VerificationKey(key, kid if isinstance(kid, str) else None))
    return tuple(keys)


def keys_of_file(path: Path) -> tuple[VerificationKey, ...]:
    """The public keys of a JWKS file (``.json``) or a PEM file; raises KeyFileError or OSError."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = load_pem_public_key(data)
        except ValueError:
            raise KeyFileError(f"{path} is not a PEM public key") from None
        if not isinstance(key, PublicKey):
            raise KeyFileError(f"{path} is not an RSA, EC or Ed25519/Ed448 public key")
        return (VerificationKey(key),)
    try:
        document = json.loads(data)
    except ValueError:
        raise KeyFileError(f"{path} is neither a PEM public key nor a JWK Set (JSON)") from None
    return keys_of_jwks(document)


class OfficialTokenVerifier:
    """Checks tokens against :class:`OfficialsSettings` (router.officials.TokenVerifier)."""

    def __init__(self, settings: OfficialsSettings, clock: Callable[[], float] = time.time) -> None:
        """``clock``: the time a remembered token's ``exp`` and ``nbf`` are held against (PyJWT
        takes the system's clock for the others)."""
        self.settings = settings
        self._clock = clock
        # token -> the official it names, its exp, its nbf (None without one)
        self._accepted: dict[str, tuple[Official, float, float | None]] = {}

    def verify(self, token: str) -> Official:
        accepted = self._accepted.get(token)
        if accepted is not None:
            return self._still_valid(*accepted)
        if not token or len(token) > MAX_TOKEN:
            raise _invalid(f"a token is 1 to {MAX_TOKEN} characters")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid("it is not a signed JWT (header.payload.signature)") from None
        claimed = claims.get("iss")
        issuer = self.settings.issuer(claimed) if isinstance(claimed, str) else None
        if issuer is None:
            raise _invalid("its issuer is not one the bus trusts")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in issuer.algorithms:
            raise _invalid(f"its algorithm is not one its issuer signs with ({', '.join(issuer.algorithms)})")
        kid = header.get("kid")
        keys = [
            k for k in issuer.keys if k.fits(algorithm) and (not isinstance(kid, str) or k.kid in (kid, None))
        ]
        if not keys:
            raise _invalid("its issuer has no key of that id for that algorithm")
        verified = self._decode(token, issuer, algorithm, keys)
        official = Official(_official_id(verified, issuer.claim), VERIFIED, issuer.issuer)
        # PyJWT checked both are numbers
        not_before = verified.get("nbf")
        if len(self._accepted) >= MAX_CACHED_TOKENS:
            self._accepted.clear()
        self._accepted[token] = (
            official,
            float(verified["exp"]),
            None if not_before is None else float(not_before),
        )
        return official

    def _still_valid(self, official: Official, expires: float, not_before: float | None) -> Official:
        """A remembered token's official, unless its time window is past (or not yet open): the
        bounds as PyJWT draws them, with the clock skew."""
        now, skew = self._clock(), self.settings.clock_skew_s
        if expires <= now - skew:
            raise _invalid("it has expired")
        if not_before is not None and not_before > now + skew:
            raise _invalid("it is not valid yet (nbf)")
        return official

    def _decode(
        self, token: str, issuer: TrustedIssuer, algorithm: str, keys: Sequence[VerificationKey]
    ) -> dict[str, Any]:
        for n, candidate in enumerate(keys):
            try:
                return jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[algorithm],
                    audience=list(issuer.audiences),
                    issuer=issuer.issuer,
                    leeway=self.settings.clock_skew_s,
                    options={"require": ["exp", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError:
                if n + 1 < len(keys):
                    continue
                raise _invalid("its signature does not verify under its issuer's keys") from None
            except jwt.ExpiredSignatureError:
                raise _invalid("it has expired") from None
            except jwt.ImmatureSignatureError:
                raise _invalid("it is not valid yet (nbf)") from None
            except jwt.InvalidAudienceError:
                raise _invalid("it is not for this bus (aud)") from None
            except jwt.MissingRequiredClaimError as error:
                raise _invalid(f"it lacks the claim {error.claim}") from None
            except jwt.PyJWTError as error:
                raise _invalid(f"it does not verify ({type(error).__name__})") from None
        raise _invalid("its issuer has no key for it")


def _official_id(claims: Mapping[str, Any], claim: str) -> str:
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"it has no official id in its claim {claim!r}")
    if len(value) > MAX_OFFICIAL_ID or not value.isprintable():
        raise _invalid(f"its claim {claim!r} is not an id of at most {MAX_OFFICIAL_ID} printable characters")
    return value.strip()


def _invalid(why: str) -> OfficialTokenInvalid:
    return OfficialTokenInvalid(f"the official's identity token (X-Official-Token) is refused: {why}")
