"""The road-transport registry's shapes (``vehicle.xsd``) to ``vehicle.registration`` and
``transport.licence``: pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.population.mapping import iso_date
from router.identifiers import is_personal_id

# the XSD's BienSo: province, series (1-2 letters, maybe a digit), then 123.45 or 1234
PLATE = re.compile(r"[0-9]{2}[A-Z]{1,2}[0-9]?-(?:[0-9]{3}\.[0-9]{2}|[0-9]{4})")


def badge(phu_hieu: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": phu_hieu["SoPhuHieu"],
        "licenceNumber": phu_hieu["SoGiayPhep"],
        "kind": phu_hieu["LoaiPhuHieu"],
        "validUntil": iso_date(phu_hieu["HanSuDung"]),
    }


def vehicle_registration(
    phuong_tien: Mapping[str, Any], phu_hieu: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``PhuongTien`` and the vehicle's ``PhuHieu`` list -> ``vehicle.registration``."""
    owner = phuong_tien["ChuSoHuu"]
    owner_id = owner["MaDinhDanh"]
    return {
        "plate": phuong_tien["BienSo"],
        "owner": {
            # the registry has one field for both: a 12-digit personal ID or a tax code
            "kind": "person" if is_personal_id(owner_id) else "enterprise",
            "id": owner_id,
            "name": owner["Ten"],
        },
        "vehicleType": phuong_tien["LoaiXe"],
        "brand": phuong_tien["NhanHieu"],
        "seats": int(phuong_tien["SoChoNgoi"]),
        "yearOfManufacture": int(phuong_tien["NamSanXuat"]),
        "inspectionExpiry": iso_date(phuong_tien["HanKiemDinh"]),
        "badges": [badge(b) for b in phu_hieu],
    }


def transport_licence(giay_phep: Mapping[str, Any]) -> dict[str, Any]:
    """``GiayPhep`` -> ``transport.licence``."""
    return {
        "licenceNumber": giay_phep["SoGiayPhep"],
        "taxCode": giay_phep["MaSoThue"],
        "activities": list(giay_phep["LoaiHinhKinhDoanh"]),
        "issuedOn": iso_date(giay_phep["NgayCap"]),
        "expiresOn": iso_date(giay_phep["NgayHetHan"]),
        "issuer": giay_phep["CoQuanCap"],
    }
