"""A DEMO identity provider: the single sign-on whose signed tokens name an official (or a citizen)
to the bus in ``X-Official-Token``, for the demo and the quickstart. Nothing here is a real issuer.

Its signing key is derived from a public seed (:data:`DEMO_ISSUER_SEED`), like the DEMO CA's
(:mod:`simulators.pki`), so anyone can mint its tokens: the configuration check refuses its key
outside a file that says ``demo: true`` (lienthong.config.demo_material). The public key ships
as a JWK Set in examples/officials/demo-issuer.jwks.json, which the example trusts.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from simulators.pki import seeded_ec_key

DEMO_ISSUER = "https://sso.demo.lienthong.invalid/realms/canbo"
DEMO_ISSUER_SEED = b"lienthong DEMO identity provider - not a real issuer - public seed"
DEMO_AUDIENCE = "lienthong"
DEMO_KID = "demo-1"
ALGORITHM = "ES256"
LIFETIME_S = 300  # short-lived: a token names its official for one sitting, not for a day


def demo_issuer_key() -> ec.EllipticCurvePrivateKey:
    """The demo issuer's P-256 key (the same every time)."""
    return seeded_ec_key(DEMO_ISSUER_SEED)


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def demo_issuer_jwks() -> dict[str, Any]:
    """The demo issuer's public JWK Set, as its ``jwks_uri`` would serve it."""
    numbers = demo_issuer_key().public_key().public_numbers()
    key = {
        "kty": "EC",
        "crv": "P-256",
        "kid": DEMO_KID,
        "use": "sig",
        "alg": ALGORITHM,
        "x": _b64(numbers.x),
        "y": _b64(numbers.y),
    }
    return {"keys": [key]}


def mint_token(official: str, *, audience: str = DEMO_AUDIENCE, lifetime_s: int = LIFETIME_S) -> str:
    """A token of the demo issuer naming ``official`` (its ``sub``), valid for ``lifetime_s``."""
    now = int(time.time())
    claims = {"iss": DEMO_ISSUER, "aud": audience, "sub": official, "iat": now, "exp": now + lifetime_s}
    return jwt.encode(claims, demo_issuer_key(), algorithm=ALGORITHM, headers={"kid": DEMO_KID})
