"""The business registry's JSON (``simulators.business``) to ``business.registration``:
pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.population.mapping import address


def business_registration(reply: Mapping[str, Any]) -> dict[str, Any]:
    person = reply["nguoiDaiDienPhapLuat"]
    representative = {"personalId": person["soDinhDanh"], "fullName": person["hoVaTen"]}
    if person.get("ngaySinh"):
        representative["dateOfBirth"] = person["ngaySinh"]
    return {
        "taxCode": reply["maSoDoanhNghiep"],
        "name": reply["tenDoanhNghiep"],
        "legalRepresentative": representative,
        "headOffice": address(reply["diaChiTruSo"]),
        "businessLines": [
            {"code": line["maNganh"], "name": line["tenNganh"], "main": bool(line["laNganhChinh"])}
            for line in reply["nganhNghe"]
        ],
        "status": reply["tinhTrang"],
        "registeredOn": reply["ngayDangKyLanDau"],
    }
