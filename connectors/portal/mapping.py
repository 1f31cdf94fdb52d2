"""The bus's dossier events mapped to the portal's fields (DongBoHoSoMC, CapNhatTienDoHoSoMC).

Times: the events carry RFC 3339 instants with an offset; the portal wants ``yyyyMMddHHmmss`` in
Asia/Ho_Chi_Minh time. Codes: the portal's numeric codes for the events' words (LoaiDoiTuong,
KenhThucHien, HinhThuc, LoaiPhiLePhi, HinhThucThu). Flags are 1/0.

Nothing is invented: a field the event does not carry is left out (never a constant standing in
for a missing citizen ID), except the dates that the status itself dates (the day a dossier was
accepted is the day it moved to 2), which are taken from the change's own time when the event
does not give them.

Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL_DATE = "%Y%m%d%H%M%S"

APPLICANT_TYPES = {"citizen": 1, "business": 2, "agency": 3, "organisation": 4}
CHANNELS = {"counter": 1, "online": 2, "postal": 3}  # KenhThucHien
RETURN_METHODS = {"counter": 1, "online": 2, "postal": 3}  # HinhThuc
FEE_KINDS = {"fee": 1, "charge": 2}  # LoaiPhiLePhi
PAYMENT_METHODS = {"cash": 1, "online": 2, "transfer": 3}  # HinhThucThu
ID_PERSONAL, ID_OLD = 1, 2  # LoaiDinhDanh

# The national databases (MaCSDL) behind the bus's datasets, for DSKetNoiCSDL; the connector's
# ``database_codes`` option adds to or overrides these.
DATABASE_CODES = {
    "citizen.identity": "CSDLQGDC",  # Cơ sở dữ liệu quốc gia về dân cư
    "citizen.residence": "CSDLQGDC",
    "business.registration": "CSDLQGDKDN",  # Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp
    "vehicle.registration": "CSDLDKPT",  # Cơ sở dữ liệu đăng ký phương tiện
}


class MappingError(ValueError):
    """An event cannot be put into the portal's fields (a bad date, a missing key field)."""


def portal_date(value: str) -> str:
    """An RFC 3339 instant as the portal's ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh."""
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MappingError(f"{value!r} is not an RFC 3339 date-time") from None
    if instant.tzinfo is None:
        raise MappingError(f"{value!r} has no offset: the instant is ambiguous")
    return instant.astimezone(PORTAL_TZ).strftime(PORTAL_DATE)


def parse_portal_date(value: str) -> datetime:
    """The portal's ``yyyyMMddHHmmss`` (Asia/Ho_Chi_Minh) as an aware datetime."""
    if len(value) != 14 or not value.isdigit():
        raise MappingError(f"{value!r} is not yyyyMMddHHmmss")
    try:
        return datetime.strptime(value, PORTAL_DATE).replace(tzinfo=PORTAL_TZ)
    except ValueError:
        raise MappingError(f"{value!r} is not a date") from None


def _flag(value: object) -> int:
    return 1 if value else 0


def _put(record: dict[str, Any], field: str, value: Any) -> None:
    if value is not None:
        record[field] = value


def _date(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else portal_date(str(value))


def applicant_fields(applicant: Mapping[str, Any]) -> dict[str, Any]:
    """ChuHoSo, LoaiDoiTuong, MaDoiTuong, DinhDanhCHS, SoGiayToChuHoSo and the contacts."""
    kind = applicant.get("type")
    if kind not in APPLICANT_TYPES:
        raise MappingError(f"applicant type {kind!r} is not one of {sorted(APPLICANT_TYPES)}")
    fields: dict[str, Any] = {"ChuHoSo": applicant["name"], "LoaiDoiTuong": APPLICANT_TYPES[kind]}
    ids: list[dict[str, Any]] = []
    if applicant.get("personalId"):
        ids.append({"LoaiDinhDanh": ID_PERSONAL, "SoDinhDanh": applicant["personalId"]})
    if applicant.get("oldId"):
        ids.append({"LoaiDinhDanh": ID_OLD, "SoDinhDanh": applicant["oldId"]})
    if kind == "citizen" and not ids:
        raise MappingError("a citizen applicant without a personal ID or an old ID")
    if ids:
        fields["DinhDanhCHS"] = ids
        fields["SoGiayToChuHoSo"] = ids[0]["SoDinhDanh"]
    subject_code = (
        applicant.get("taxCode") or applicant.get("agencyCode") or (ids[0]["SoDinhDanh"] if ids else None)
    )
    _put(fields, "MaDoiTuong", subject_code)
    _put(fields, "Email", applicant.get("email"))
    _put(fields, "SoDienThoai", applicant.get("phone"))
    _put(fields, "ThongTinKhac", applicant.get("address"))
    return fields


def _document(item: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"TenTepDinhKem": item["name"], "IsDeleted": 0}
    _put(doc, "TepDinhKemId", item.get("id"))
    _put(doc, "MaThanhPhanHoSo", item.get("componentCode"))
    _put(doc, "DuongDanTaiTepTin", item.get("url"))
    doc["DuocSoHoa"] = _flag(item.get("digitised"))
    doc["DuocTaiSuDung"] = _flag(item.get("reused"))
    doc["DuocLayTuKhoDMQG"] = _flag(item.get("fromNationalStore"))
    return doc


def _fee(item: Mapping[str, Any]) -> dict[str, Any]:
    fee: dict[str, Any] = {"TenPhiLePhi": item["name"], "Gia": int(item["amount"])}
    _put(fee, "MaPhiLePhi", item.get("code"))
    _put(fee, "LoaiPhiLePhi", FEE_KINDS.get(str(item.get("kind"))))
    _put(fee, "HinhThucThu", PAYMENT_METHODS.get(str(item.get("paymentMethod"))))
    return fee


def submitted_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """The full DongBoHoSoMC record of a ``dossier.submitted`` event."""
    try:
        record: dict[str, Any] = {
            "MaHoSo": data["dossierCode"],
            "MaTTHC": data["procedureCode"],
            "TrangThaiHoSo": int(data.get("status", 1)),
            "NgayNopHoSo": portal_date(data["submittedAt"]),
            "DonViXuLy": data["agencyCode"],
        }
        record.update(applicant_fields(data["applicant"]))
    except KeyError as missing:
        raise MappingError(f"the event has no {missing}") from None
    _put(record, "TenTTHC", data.get("procedureName"))
    _put(record, "MaLinhVuc", data.get("fieldCode"))
    _put(record, "TenLinhVuc", data.get("fieldName"))
    _put(record, "SoBienNhan", data.get("receiptNumber"))
    _put(record, "TrichYeuHoSo", data.get("summary"))
    _put(record, "GhiChu", data.get("note"))
    _put(record, "KenhThucHien", CHANNELS.get(str(data.get("channel"))))
    _put(record, "NgayTiepNhan", _date(data, "receivedAt"))
    if "NgayTiepNhan" not in record and record["TrangThaiHoSo"] == 2:
        record["NgayTiepNhan"] = record["NgayNopHoSo"]  # accepted as submitted
    _put(record, "NgayHenTra", _date(data, "dueAt"))
    if "paidOnline" in data:
        record["DuocThanhToanTrucTuyen"] = _flag(data["paidOnline"])
    if "vneidVerified" in data:
        record["TaiKhoanDuocXacThucVoiVNeID"] = _flag(data["vneidVerified"])
    documents = [_document(item) for item in data.get("documents", ())]
    if documents:
        record["TaiLieuNop"] = documents
        record["HoSoCoThanhPhanSoHoa"] = _flag(any(d["DuocSoHoa"] for d in documents))
    fees = [_fee(item) for item in data.get("fees", ())]
    if fees:
        record["DanhSachLePhi"] = fees
    databases = list(data.get("connectedDatabases", ()))
    if databases:
        record["DSKetNoiCSDL"] = [{"MaCSDL": code} for code in databases]
    return record


def apply_status(record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The record after a ``dossier.status.changed`` event (v1 or v2)."""
    updated = dict(record)
    status = int(data["status"])
    changed = portal_date(data["changedAt"])
    updated["TrangThaiHoSo"] = status
    _put(updated, "NgayHenTra", _date(data, "dueAt"))
    if status == 2 and "NgayTiepNhan" not in updated:
        updated["NgayTiepNhan"] = changed
    if status in (3, 7, 8, 9, 10):
        updated["NgayKetThucXuLy"] = _date(data, "finishedAt") or updated.get("NgayKetThucXuLy") or changed
    if status == 3:
        updated["NgayTuChoi"] = _date(data, "refusedAt") or changed
    if status == 10:
        updated["NgayTra"] = _date(data, "returnedAt") or changed
    _put(updated, "ThongTinTra", data.get("returnInfo"))
    _put(updated, "HinhThuc", RETURN_METHODS.get(str(data.get("returnMethod"))))
    _put(updated, "DonViXuLy", data.get("handlingAgencyCode"))
    _put(updated, "GhiChu", data.get("note") or data.get("reason"))
    return updated


def apply_result(record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The record after ``dossier.result.issued``: the result files (DanhSachGiayToKetQua)."""
    updated = dict(record)
    papers: list[dict[str, Any]] = []
    for item in data.get("documents", ()):
        paper: dict[str, Any] = {"TenGiayTo": item["name"], "DuongDanTepTinKetQua": item["url"]}
        _put(paper, "GiayToId", item.get("id"))
        _put(paper, "MaThanhPhanHoSo", item.get("componentCode"))
        papers.append(paper)
    updated["DanhSachGiayToKetQua"] = papers
    _put(updated, "GhiChu", data.get("note"))
    return updated


def apply_datasets(
    record: Mapping[str, Any], datasets: Iterable[str], codes: Mapping[str, str] = DATABASE_CODES
) -> dict[str, Any]:
    """The record once the bus pulled ``datasets`` for the dossier itself (once-only): their
    national databases join DSKetNoiCSDL, and the documents of the components the data stands
    for are marked taken from the national store and reused."""
    updated = dict(record)
    pulled = sorted({codes[d] for d in datasets if d in codes})
    if not pulled:
        return updated
    known = [entry["MaCSDL"] for entry in updated.get("DSKetNoiCSDL", ())]
    for code in pulled:
        if code not in known:
            known.append(code)
    updated["DSKetNoiCSDL"] = [{"MaCSDL": code} for code in known]
    return updated


def mark_documents(record: Mapping[str, Any], components: Sequence[str]) -> dict[str, Any]:
    """Documents of these dossier components were pulled by the bus: DuocTaiSuDung and
    DuocLayTuKhoDMQG set on them."""
    if not components:
        return dict(record)
    updated = dict(record)
    documents = []
    for original in updated.get("TaiLieuNop", ()):
        doc = dict(original)
        if doc.get("MaThanhPhanHoSo") in components:
            doc["DuocTaiSuDung"] = 1
            doc["DuocLayTuKhoDMQG"] = 1
        documents.append(doc)
    if documents:
        updated["TaiLieuNop"] = documents
    return updated


def progress_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The CapNhatTienDoHoSoMC fields of a ``dossier.progress.updated`` event."""
    fields: dict[str, Any] = {
        "MaHoSo": data["dossierCode"],
        "NguoiXuLy": data["handler"],
        "ThoiDiemXuLy": portal_date(data["handledAt"]),
        "NoiDungXuLy": data["content"],
        "TrangThai": int(data["status"]),
    }
    _put(fields, "ChucDanh", data.get("title"))
    _put(fields, "PhongBanXuLy", data.get("department"))
    _put(fields, "NgayBatDau", _date(data, "startedAt"))
    _put(fields, "NgayKetThucTheoQuyDinh", _date(data, "dueAt"))
    return fields
