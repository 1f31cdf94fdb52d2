"""The population database's shapes (``population.xsd``) to the bus's datasets: pure functions.

Input is the reply as the SOAP adapter returns it (plain dicts; dates as ``datetime.date``, or
ISO strings when read another way). A date of birth may be the year alone (``"1985"``): it is
passed on as it is, never completed with an invented day.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

SEX = {"Nam": "male", "Nữ": "female"}
# the reply's field names of XacThucCongDan -> the dataset's
VERIFIED_FIELDS = {"SoDinhDanh": "personalId", "HoVaTen": "fullName", "NgayThangNamSinh": "dateOfBirth"}


def iso_date(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def address(value: Mapping[str, Any]) -> dict[str, str]:
    """``DiaChi`` -> an address; the district only where the record has one (addresses of the
    two-level administration, since 1 July 2025, have none)."""
    out = {
        "street": value["SoNhaDuong"],
        "ward": value["PhuongXa"],
        "province": value["TinhThanh"],
        "text": value["DiaChiDayDu"],
    }
    if value.get("QuanHuyen"):
        out["district"] = value["QuanHuyen"]
    return out


def citizen_identity(cong_dan: Mapping[str, Any]) -> dict[str, Any]:
    """``CongDan`` -> ``citizen.identity``."""
    name = cong_dan["HoVaTen"]
    parts = [name["Ho"], name.get("ChuDem"), name["Ten"]]
    identity = {
        "personalId": cong_dan["SoDinhDanh"],
        "fullName": " ".join(p for p in parts if p),
        "familyName": name["Ho"],
        "givenName": name["Ten"],
        "sex": SEX[cong_dan["GioiTinh"]],
        "dateOfBirth": iso_date(cong_dan["NgayThangNamSinh"]),
    }
    if name.get("ChuDem"):
        identity["middleName"] = name["ChuDem"]
    return identity


def citizen_residence(cong_dan: Mapping[str, Any]) -> dict[str, Any]:
    """``CongDan`` -> ``citizen.residence``."""
    return {
        "personalId": cong_dan["SoDinhDanh"],
        "permanent": address(cong_dan["ThuongTru"]),
        "current": address(cong_dan["NoiOHienTai"]),
    }


def verification(reply: Mapping[str, Any]) -> dict[str, Any]:
    """``XacThucCongDanResponse`` -> ``{"matches": bool, "mismatched": [dataset field names]}``."""
    mismatched = reply.get("TruongSaiLech") or []
    return {"matches": bool(reply["KetQua"]), "mismatched": [VERIFIED_FIELDS.get(f, f) for f in mismatched]}
