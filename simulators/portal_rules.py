"""The portal simulator's rules for a dossier body (DongBoHoSoMC) and a progress item
(CapNhatTienDoHoSoMC): as strict as the real portal is known to be, no stricter.

Known (portal-dvcqg.md §2.3, §2.4): every real client sends every scalar as a JSON string,
codes as digit strings in their ranges, flags ``"0"``/``"1"``, ``IsDeleted`` ``"False"``/
``"True"``, dates ``yyyyMMddHHmmss``, ``""`` for an empty value and ``[]`` for an empty list, and
list items of fixed shapes (a ``null`` is read as an empty value: a C# client serialises an
unset string property so). So the simulator accepts exactly that and refuses what no client
sends: a number or a boolean where a string goes, a field no client sends, an item of another
shape, a status code outside 1-10, a date of another form, a text longer than the caps clients
observe.

Not known, so not checked: the form of dossier, procedure and agency codes (clients send
4-or-more-digit counters, ``G09.20-20260609-0092637``, short agency codes), which fields the
portal requires beyond the dossier's identity, whether a citizen must carry DinhDanhCHS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.portal.mapping import TEXT_LIMITS, MappingError, parse_portal_date

# kinds: text (any string), key (a non-empty string of printable characters), date ("" or
# yyyyMMddHHmmss), code:L-H (a digit string in L..H, or ""), digits ("" or a digit string),
# flag ("0"/"1" or ""), bool ("False"/"True"), count (a digit string or, as TD declares them, an
# integer), list
RECORD_FIELDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "TenTTHC",
            "MaLinhVuc",
            "TenLinhVuc",
            "SoBienNhan",
            "ChuHoSo",
            "MaDoiTuong",
            "ThongTinKhac",
            "Email",
            "Fax",
            "SoDienThoai",
            "TrichYeuHoSo",
            "ThongTinTra",
            "DonViXuLy",
            "GhiChu",
            "SoGiayToChuHoSo",
            "NoiNopHoSo",
        ],
        "text",
    ),
    "MaHoSo": "key",
    "MaTTHC": "key",
    **dict.fromkeys(
        ["NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayTuChoi", "NgayNopHoSo"], "date"
    ),
    **dict.fromkeys(["HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID"], "flag"),
    "DuocThanhToanTrucTuyen": "code:0-3",  # 766: 1 portal, 2 gateway; TD also sends 0 and 3
    "LoaiDoiTuong": "code:1-4",
    "TrangThaiHoSo": "code:1-10",
    "KenhThucHien": "code:1-3",
    "HinhThuc": "code:0-1",
    **dict.fromkeys(
        [
            "DinhDanhCHS",
            "DSKetNoiCSDL",
            "TaiLieuNop",
            "DanhSachLePhi",
            "DanhSachTepDinhKemKhac",
            "DanhSachHoSoBoSung",
            "DanhSachGiayToKetQua",
        ],
        "list",
    ),
}
RECORD_REQUIRED = ("MaHoSo", "MaTTHC", "ChuHoSo", "LoaiDoiTuong", "TrangThaiHoSo")

_FEE = {
    "TenPhiLePhi": "text",
    "MaPhiLePhi": "text",
    "HinhThucThu": "digits",  # the portal's codes are unknown: any digit string
    "Gia": "digits",
    "LoaiPhiLePhi": "digits",
}
_DOCUMENT = {
    "TepDinhKemId": "text",
    "TenTepDinhKem": "text",
    "IsDeleted": "bool",
    "MaThanhPhanHoSo": "text",
    "DuongDanTaiTepTin": "text",
    "DuocSoHoa": "flag",
    "DuocTaiSuDung": "code:0-2",
    "DuocLayTuKhoDMQG": "flag",
    "MaKetQuaThayThe": "text",
}

LIST_ITEMS: dict[str, dict[str, str]] = {
    "DinhDanhCHS": {"LoaiDinhDanh": "code:1-2", "SoDinhDanh": "key"},
    "DSKetNoiCSDL": {"MaCSDL": "code:0-999999"},
    "TaiLieuNop": _DOCUMENT,
    "DanhSachLePhi": _FEE,
    "DanhSachTepDinhKemKhac": {"TenGiayTo": "text", "SoLuong": "count", "LoaiGiayTo": "count"},
    "DanhSachHoSoBoSung": {
        "HoSoBoSungId": "text",
        "NguoiYeuCauBoSung": "text",
        "NoiDungBoSung": "text",
        "NgayBoSung": "date",
        "NguoiTiepNhanBoSung": "text",
        "ThongTinTiepNhan": "text",
        "NgayTiepNhanBoSung": "date",
        "TrangThaiBoSung": "digits",
        "DanhSachGiayToBoSung": "list",
        "DanhSachLePhiBoSung": "list",
        "NgayHenTraTruoc": "date",
        "NgayHenTraMoi": "date",
    },
    "DanhSachGiayToBoSung": _DOCUMENT,
    "DanhSachLePhiBoSung": _FEE,
    "DanhSachGiayToKetQua": {
        "TenGiayTo": "text",
        "MaThanhPhanHoSo": "text",
        "GiayToId": "text",
        "DuongDanTepTinKetQua": "text",
        "MaGiayToKetQua": "text",
    },
}

PROGRESS_FIELDS: dict[str, str] = {
    "MaHoSo": "key",
    "NguoiXuLy": "text",
    "ChucDanh": "text",
    "ThoiDiemXuLy": "date",
    "PhongBanXuLy": "text",
    "NoiDungXuLy": "text",
    "TrangThai": "code:1-10",
    "NgayBatDau": "date",
    "NgayKetThucTheoQuyDinh": "date",
}
PROGRESS_REQUIRED = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "NoiDungXuLy", "TrangThai")

# the caps real clients keep to (§2.3 "Limits observed"); a longer text is what broke OC's sync
LENGTH_LIMITS: Mapping[str, int] = TEXT_LIMITS
KEY_LIMIT = 100  # MaHoSo, MaTTHC, SoDinhDanh: far above any code a client issues


class Invalid(ValueError):
    """A request the portal refuses (error ``03``)."""


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _check_value(where: str, name: str, kind: str, value: Any) -> None:
    if kind == "count":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return
        if isinstance(value, str) and (value == "" or _digits(value)):
            return
        raise Invalid(f"{where}: phải là số không âm (a count), nhận {value!r}")
    if not isinstance(value, str):
        raise Invalid(f"{where}: phải là chuỗi (every value is a JSON string), nhận {type(value).__name__}")
    limit = LENGTH_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise Invalid(f"{where}: dài quá {limit} ký tự (longer than {limit} characters)")
    if kind == "key":
        if not value.strip() or len(value) > KEY_LIMIT or not value.isprintable():
            # the value is not quoted: a key may be a person's ID number (DinhDanhCHS.SoDinhDanh)
            raise Invalid(f"{where}: mã không hợp lệ (an invalid code of {len(value)} characters)")
    elif kind == "date":
        if value == "":
            return
        try:
            parse_portal_date(value)
        except MappingError:
            raise Invalid(f"{where}: ngày phải có dạng yyyyMMddHHmmss, nhận {value[:40]!r}") from None
    elif kind == "flag":
        if value not in ("", "0", "1"):
            raise Invalid(f'{where}: phải là "0" hoặc "1", nhận {value[:40]!r}')
    elif kind == "bool":
        if value not in ("False", "True"):
            raise Invalid(f'{where}: phải là "False" hoặc "True", nhận {value[:40]!r}')
    elif kind == "digits":
        if value != "" and not _digits(value):
            raise Invalid(f"{where}: phải là chuỗi chữ số (a digit string), nhận {value[:40]!r}")
    elif kind.startswith("code:"):
        low, high = (int(x) for x in kind[5:].split("-"))
        if value == "":
            return
        if not _digits(value) or len(value) > 6 or not low <= int(value) <= high:
            raise Invalid(f"{where}: mã không hợp lệ {value[:40]!r} (phải từ {low} đến {high})")


def _check_fields(where: str, item: Any, kinds: Mapping[str, str], required: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        raise Invalid(f"{where}: phải là một đối tượng JSON")
    unknown = sorted(set(item) - set(kinds))
    if unknown:
        raise Invalid(f"{where}: trường không hợp lệ {unknown[:5]}")
    for name in required:
        if item.get(name) in (None, ""):
            raise Invalid(f"{where}.{name}: thiếu trường bắt buộc")
    for name, value in item.items():
        kind = kinds[name]
        if value is None:  # a C# client's unset string property: an empty value
            continue
        if kind == "list":
            if not isinstance(value, list):
                raise Invalid(f"{where}.{name}: phải là danh sách")
            for index, entry in enumerate(value):
                _check_fields(f"{where}.{name}[{index}]", entry, LIST_ITEMS[name], ())
        else:
            _check_value(f"{where}.{name}", name, kind, value)


def check_record(record: Any, where: str = "data") -> dict[str, Any]:
    """A DongBoHoSoMC dossier, or :class:`Invalid` naming the first field that breaks a rule."""
    _check_fields(where, record, RECORD_FIELDS, RECORD_REQUIRED)
    for index, entry in enumerate(record.get("DinhDanhCHS") or ()):
        number, kind = entry.get("SoDinhDanh", ""), entry.get("LoaiDinhDanh")
        length = {"1": 12, "2": 9}.get(kind)
        if length is None or len(number) != length or not _digits(number):
            raise Invalid(
                f"{where}.DinhDanhCHS[{index}]: số định danh không hợp lệ "
                f"(LoaiDinhDanh 1: 12 digits, 2: 9 digits)"
            )
    return dict(record)


def check_progress(item: Any, where: str = "data") -> dict[str, Any]:
    """A CapNhatTienDoHoSoMC item, or :class:`Invalid` naming the field."""
    _check_fields(where, item, PROGRESS_FIELDS, PROGRESS_REQUIRED)
    return dict(item)
