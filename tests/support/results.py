"""Signed results for tests: a fresh test CA, agency signing certificates, and results signed with
them (dossier.result.issued v2 data)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.signatures import Signer, TrustAnchors, sign
from adapters.signer_files import certificate_pem
from simulators.pki import Authority, issue_agency_certificate, new_authority

AGENCY = "000.00.00.H49"
AGENCY_NAME = "UBND tỉnh Quảng Ninh"
OTHER_AGENCY = "000.00.00.H56"
HOLDER_ID = "044186373177"  # a citizen of the seeded registries
HOLDER_TAX = "0755548094"
PROCEDURE = "1.001612.000.00.00.H49"

NOW = dt.datetime.now(dt.UTC)


def result(number: int = 1, **changes: Any) -> dict[str, Any]:
    """An unsigned result of the demo agency for the test holder."""
    data: dict[str, Any] = {
        "dossierCode": f"000.00.00.H49-240502-{number:04d}",
        "agencyCode": AGENCY,
        "procedureCode": PROCEDURE,
        "resultCode": f"{number}/GP-UBND",
        "title": "Giấy phép kinh doanh vận tải bằng xe ô tô",
        "holder": {"personalId": HOLDER_ID, "name": "Đỗ Ngọc Yến"},
        "issuedAt": (NOW - dt.timedelta(hours=1)).isoformat(timespec="seconds"),
        "issuingAgency": {"code": AGENCY, "name": AGENCY_NAME},
        "documents": [
            {
                "id": f"kq-{number}",
                "name": "Giấy phép kinh doanh vận tải",
                "url": f"https://dichvucong.quangninh.gov.vn/ketqua/kq-{number}.pdf",
                "mediaType": "application/pdf",
                "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            }
        ],
    }
    data.update(changes)
    return data


@dataclass
class SigningPki:
    """A test CA trusted by the store, the agency's signer, and signers that must be refused."""

    ca: Authority = field(
        default_factory=lambda: new_authority(
            "lienthong TEST CA", not_before=NOW - dt.timedelta(days=3 * 365)
        )
    )

    def __post_init__(self) -> None:
        self.signer = issue_agency_certificate(self.ca, AGENCY, AGENCY_NAME)
        self.intermediate = new_authority(
            "lienthong TEST issuing CA", issuer=self.ca, not_before=NOW - dt.timedelta(days=3 * 365)
        )

    @property
    def anchors(self) -> TrustAnchors:
        return TrustAnchors((self.ca.certificate,))

    def write_anchors(self, folder: Path) -> Path:
        path = folder / "trust-anchors.pem"
        path.write_bytes(certificate_pem(self.ca.certificate))
        return path

    def signed(
        self, data: dict[str, Any], signer: Signer | None = None, algorithm: str | None = None
    ) -> dict[str, Any]:
        return sign(data, signer or self.signer, algorithm)

    # --- what must be refused ---

    def tampered(self, data: dict[str, Any]) -> dict[str, Any]:
        signed = self.signed(data)
        changed = copy.deepcopy(signed)
        changed["holder"]["name"] = "Someone Else"
        return changed

    def wrong_key(self, data: dict[str, Any]) -> dict[str, Any]:
        """Signed with another key, but carrying the agency's genuine certificate."""
        other = issue_agency_certificate(self.ca, AGENCY, AGENCY_NAME)
        signed = self.signed(data, other)
        signed["signature"]["certificates"] = self.signed(data)["signature"]["certificates"]
        return signed

    def expired(self, data: dict[str, Any]) -> dict[str, Any]:
        signer = issue_agency_certificate(
            self.ca,
            AGENCY,
            AGENCY_NAME,
            not_before=NOW - dt.timedelta(days=400),
            not_after=NOW - dt.timedelta(days=30),
        )
        return self.signed(data, signer)

    def other_agency(self, data: dict[str, Any]) -> dict[str, Any]:
        signer = issue_agency_certificate(self.ca, OTHER_AGENCY, "UBND tỉnh Lạng Sơn")
        return self.signed(data, signer)

    def untrusted(self, data: dict[str, Any]) -> dict[str, Any]:
        rogue = new_authority("lienthong TEST CA")  # the same name, another key
        return self.signed(data, issue_agency_certificate(rogue, AGENCY, AGENCY_NAME))
