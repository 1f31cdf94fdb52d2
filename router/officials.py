"""Who the official behind a request is, and how the bus knows it.

An evidence query about personal data and a read of a citizen's access report name the official
acting in the calling system; the audit log records them. The bus accepts two proofs:

- a signed identity token of the official (a JWT of the province's single sign-on, or of a
  VNeID-style identity provider), checked against the issuers the configuration trusts: the
  official is then *verified* and the record names the issuer;
- the ``X-Official-Id`` header, which the calling system asserts: accepted only from a system
  whose configuration allows it (``officials: {accept_asserted_header: true}``), and recorded as
  *asserted*.

A token that does not verify is refused, never read as an assertion; a system not allowed to
assert that sends only the header is refused too. The checks of a token are the adapter's
(:mod:`adapters.official_tokens`); this module holds the rule that picks the proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from router.directory import System
from router.errors import LienthongError

Basis = Literal["verified", "asserted"]
VERIFIED: Basis = "verified"
ASSERTED: Basis = "asserted"


class OfficialTokenRequired(LienthongError):
    """The calling system names its official in ``X-Official-Id`` without being allowed to."""

    code = "official_token_required"
    status = 403
    title = "The official must be proven by a signed identity token"


class OfficialTokenInvalid(LienthongError):
    """The official's identity token does not verify (signature, issuer, audience, time...)."""

    code = "official_token_invalid"
    status = 403
    title = "The official's identity token is not valid"


@dataclass(frozen=True, slots=True)
class Official:
    """The official acting: ``id`` as the audit log records it, how the bus knows it, and for a
    verified one the issuer of its token."""

    id: str
    basis: Basis
    issuer: str = ""

    @property
    def audit_basis(self) -> str:
        """What the audit record keeps: ``verified:<issuer>`` or ``asserted``."""
        return f"{VERIFIED}:{self.issuer}" if self.basis == VERIFIED else ASSERTED


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Official:
        """The verified official of ``token``; raises :class:`OfficialTokenInvalid`."""
        ...


def official_of(caller: System, token: str | None, asserted: str, verifier: TokenVerifier) -> Official | None:
    """The official of a request from ``caller`` carrying ``token`` (the identity token, None when
    absent) and ``asserted`` (the ``X-Official-Id`` header, empty when absent); None when the
    request names no official (personal data is then refused by the service that needs one).

    A token, when present, decides alone: a header beside it is not read."""
    if token is not None:
        return verifier.verify(token)
    if not asserted:
        return None
    if not caller.accepts_asserted_official:
        raise OfficialTokenRequired(
            f"'{caller.id}' is not allowed to assert its official in X-Official-Id: send the "
            "official's identity token in X-Official-Token (or have the operator allow the header "
            "for this system: officials: {accept_asserted_header: true})"
        )
    return Official(asserted, ASSERTED)
