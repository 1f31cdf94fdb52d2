"""An identity provider for tests: fresh keys made with cryptography, tokens signed with PyJWT
(as a province's single sign-on would sign them), and the ``officials:`` section that trusts it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://sso.test.quangbinh.gov.vn/realms/canbo"
AUDIENCE = "lienthong"
OFFICIAL = "canbo.motcua.07"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class IdentityProvider:
    """An RSA-signing issuer; ``jwks`` is its public JWK Set, as its jwks_uri would serve it."""

    issuer: str = ISSUER
    kid: str = "key-1"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    @property
    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [
                {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": _b64(n), "e": _b64(e)}
            ]
        }

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": OFFICIAL,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, **changes: Any) -> str:
        """A token of this issuer; ``changes`` replace claims (None removes one)."""
        return jwt.encode(self.claims(**changes), self.key, algorithm="RS256", headers={"kid": self.kid})

    def section(self, **changes: Any) -> dict[str, Any]:
        """The ``officials:`` section of a configuration that trusts this issuer."""
        issuer = {"issuer": self.issuer, "audience": AUDIENCE, "algorithms": ["RS256"], "jwks": self.jwks}
        issuer.update(changes)
        return {"clock_skew": "30s", "issuers": [issuer]}


def unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` and no signature."""
    header = _b64(b'{"alg":"none","typ":"JWT"}')
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def hmac_with_public_key(provider: IdentityProvider, claims: dict[str, Any]) -> str:
    """The algorithm confusion attack: an HS256 token whose secret is the issuer's public key (PEM),
    which anyone has. PyJWT refuses to make one, so it is assembled here."""
    header = _b64(f'{{"alg":"HS256","typ":"JWT","kid":"{provider.kid}"}}'.encode())
    payload = _b64(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(provider.public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def ec_provider_token(issuer: str = ISSUER, **changes: Any) -> str:
    """A token of ``issuer`` signed with a fresh EC key the bus does not hold (a forged signature)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": OFFICIAL, "exp": now + 300, **changes}
    return jwt.encode(claims, key, algorithm="ES256")
