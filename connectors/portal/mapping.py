"""The bus's dossier events mapped to the portal's body (DongBoHoSoMC, CapNhatTienDoHoSoMC) as the
portal's real clients send it (reference: portal-dvcqg.md §2.3, §2.4).

Types: every scalar is a JSON string, as in every real client (OpenCPS, TD, HG): codes ``"2"``,
flags ``"0"``/``"1"``, ``IsDeleted`` ``"False"``/``"True"``, amounts ``"8000"``. Empty values are
sent the way OpenCPS and TD send them: ``""`` for an unknown scalar and ``[]`` for an empty list,
never omitted, so a record always carries every field of §2.3.

Times: the events carry RFC 3339 instants with an offset; the portal wants ``yyyyMMddHHmmss`` in
Asia/Ho_Chi_Minh time.

Nothing is invented: a value the event does not carry is ``""`` (never a constant standing in for
a missing citizen ID), except the dates that the status itself dates (the day a dossier was
accepted is the day it moved to 2), taken from the change's own time when the event does not
give them. Codes whose meaning on the portal is unknown (HinhThucThu, LoaiPhiLePhi, the MaCSDL
code book, the agencies' names) come from :class:`BodyOptions`, the connector's configuration.

Once-only (766 §4.3-4.5) is filled from what the bus collected (:func:`apply_evidence`): a
record from the citizen data store replaces a component (``DuocTaiSuDung`` 2 with
``MaKetQuaThayThe``, ``DuocLayTuKhoDMQG`` 1); data from another registry is reused data
(``DuocTaiSuDung`` 1) and its database's ``MaCSDL`` joins ``DSKetNoiCSDL`` when the code book
has it.

Pure functions: no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL_DATE = "%Y%m%d%H%M%S"

APPLICANT_TYPES = {"citizen": "1", "business": "2", "agency": "3", "organisation": "4"}  # LoaiDoiTuong
CHANNELS = {"counter": "1", "online": "2", "postal": "3"}  # KenhThucHien; "1" when not given (766 §3.3)
POSTAL_RETURN = "postal"  # HinhThuc "1": the result goes by public postal service; "0" otherwise
ID_PERSONAL, ID_OLD = "1", "2"  # LoaiDinhDanh
TRUE, FALSE = "1", "0"
REUSED, REPLACED = "1", "2"  # DuocTaiSuDung: reused digitised data; replaced by an existing result
PAID_ON_PORTAL, PAID_VIA_GATEWAY = "1", "2"  # DuocThanhToanTrucTuyen (766 §3.6)
SUPPLEMENT_OPEN, SUPPLEMENT_RECEIVED = "0", "1"  # TrangThaiBoSung: the portal's values are [U]
# moves after a request for documents that say nothing was supplied: back to registration or
# acceptance (an undone action), refused, withdrawn, stopped; the request stays open, unreceived
SUPPLEMENT_UNANSWERED = frozenset({"1", "2", "3", "7", "8"})

# Text caps seen in real clients (§2.3 "Limits observed"): hints of the portal's own limits.
TEXT_LIMITS: Mapping[str, int] = {
    "GhiChu": 2000,
    "TrichYeuHoSo": 1000,
    "TenGiayTo": 2000,
    "TenTepDinhKem": 4000,
    "NguoiXuLy": 50,
}

# The record's scalars (all strings) and lists, in the order of §2.3.
RECORD_TEXTS = (
    "MaHoSo",
    "MaTTHC",
    "TenTTHC",
    "MaLinhVuc",
    "TenLinhVuc",
    "SoBienNhan",
    "ChuHoSo",
    "LoaiDoiTuong",
    "MaDoiTuong",
    "ThongTinKhac",
    "Email",
    "Fax",
    "SoDienThoai",
    "TrichYeuHoSo",
    "NgayTiepNhan",
    "NgayHenTra",
    "TrangThaiHoSo",
    "NgayTra",
    "ThongTinTra",
    "HinhThuc",
    "NgayKetThucXuLy",
    "DonViXuLy",
    "GhiChu",
    "NgayTuChoi",
    "NgayNopHoSo",
    "KenhThucHien",
    "SoGiayToChuHoSo",
    "NoiNopHoSo",
    "HoSoCoThanhPhanSoHoa",
    "TaiKhoanDuocXacThucVoiVNeID",
    "DuocThanhToanTrucTuyen",
)
RECORD_LISTS = (
    "DinhDanhCHS",
    "DSKetNoiCSDL",
    "TaiLieuNop",
    "DanhSachLePhi",
    "DanhSachTepDinhKemKhac",
    "DanhSachHoSoBoSung",
    "DanhSachGiayToKetQua",
)


class MappingError(ValueError):
    """An event cannot be put into the portal's fields (a bad date, a missing key field)."""


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True)
class BodyOptions:
    """The connector's configuration of the body: what the reference leaves unknown ([U])."""

    # agency code -> name, for DonViXuLy (the portal wants the processing agency's name)
    agency_names: Mapping[str, str] = field(default_factory=dict)
    # dataset -> MaCSDL (a numeric string) for DSKetNoiCSDL; the portal's code book is [U]: empty
    database_codes: Mapping[str, str] = field(default_factory=dict)
    # dataset -> the dossier components (MaThanhPhanHoSo) its record stands for
    dataset_components: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # datasets served from the citizen data store (kho dữ liệu): DuocLayTuKhoDMQG 1
    data_store_datasets: frozenset[str] = frozenset({"result.document"})
    # the events' fee kind and payment method -> LoaiPhiLePhi and HinhThucThu ([U] for the portal;
    # the portal's payment platform codes LoaiPhiLePhi "1" phí, "2" lệ phí)
    fee_kind_codes: Mapping[str, str] = field(default_factory=lambda: {"fee": "1", "charge": "2"})
    payment_method_codes: Mapping[str, str] = field(default_factory=dict)
    # procedure -> MaGiayToKetQua (the procedure's result code, KETQUATHUCHIEN.MAKETQUA)
    result_codes: Mapping[str, str] = field(default_factory=dict)
    # DuocThanhToanTrucTuyen of a dossier paid online: "1" on the portal, "2" via a gateway
    online_payment: str = PAID_ON_PORTAL
    text_limits: Mapping[str, int] = field(default_factory=lambda: dict(TEXT_LIMITS))
    # called with the field's name each time a text is cut to its cap (the connector counts it)
    on_truncate: Callable[[str], None] = _ignore
    # called each time a connected database is neither a MaCSDL nor in the code book: it is left
    # out rather than sent, since the portal's code book is numeric and a dossier must not stop
    on_unknown_database: Callable[[str], None] = _ignore


DEFAULT = BodyOptions()


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
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        raise MappingError(f"{value!r} is not yyyyMMddHHmmss")
    try:
        return datetime.strptime(value, PORTAL_DATE).replace(tzinfo=PORTAL_TZ)
    except ValueError:
        raise MappingError(f"{value!r} is not a date") from None


def cap(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters on a character boundary: never between a
    letter and its combining marks (Vietnamese in decomposed form) nor inside a surrogate."""
    if len(text) <= limit:
        return text
    end = limit
    while end > 0 and unicodedata.combining(text[end]):
        end -= 1
    return text[:end]


def _text(options: BodyOptions, name: str, value: Any) -> str:
    text = "" if value is None else str(value)
    limit = options.text_limits.get(name)
    if limit is not None and len(text) > limit:
        options.on_truncate(name)
        return cap(text, limit)
    return text


def _flag(value: object) -> str:
    return TRUE if value else FALSE


def _date(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else portal_date(str(value))


def _status(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise MappingError(f"status {value!r} is not a status code")
    return str(int(value))


def empty_record() -> dict[str, Any]:
    """A record with every field of §2.3, empty the way real clients send empty values."""
    return {**dict.fromkeys(RECORD_TEXTS, ""), **{name: [] for name in RECORD_LISTS}}


def applicant_fields(applicant: Mapping[str, Any], portal_account: Any = None) -> dict[str, Any]:
    """ChuHoSo, LoaiDoiTuong, MaDoiTuong, DinhDanhCHS, SoGiayToChuHoSo and the contacts.

    MaDoiTuong is the applicant's account on the portal (TechID), never a tax code or an ID
    number: ``""`` unless the event carries the account."""
    kind = applicant.get("type")
    if kind not in APPLICANT_TYPES:
        raise MappingError(f"applicant type {kind!r} is not one of {sorted(APPLICANT_TYPES)}")
    ids: list[dict[str, str]] = []
    if applicant.get("personalId"):
        ids.append({"LoaiDinhDanh": ID_PERSONAL, "SoDinhDanh": str(applicant["personalId"])})
    if applicant.get("oldId"):
        ids.append({"LoaiDinhDanh": ID_OLD, "SoDinhDanh": str(applicant["oldId"])})
    if kind == "citizen" and not ids:
        raise MappingError("a citizen applicant without a personal ID or an old ID")
    return {
        "ChuHoSo": str(applicant["name"]),
        "LoaiDoiTuong": APPLICANT_TYPES[kind],
        "MaDoiTuong": "" if portal_account is None else str(portal_account),
        "DinhDanhCHS": ids,
        "SoGiayToChuHoSo": ids[0]["SoDinhDanh"] if ids else "",
        "Email": str(applicant.get("email") or ""),
        "SoDienThoai": str(applicant.get("phone") or ""),
    }


def _document(item: Mapping[str, Any], options: BodyOptions) -> dict[str, str]:
    return {
        "TepDinhKemId": str(item.get("id") or ""),
        "TenTepDinhKem": _text(options, "TenTepDinhKem", item["name"]),
        "IsDeleted": "False",
        "MaThanhPhanHoSo": str(item.get("componentCode") or ""),
        "DuongDanTaiTepTin": str(item.get("url") or ""),
        "DuocSoHoa": _flag(item.get("digitised")),
        "DuocTaiSuDung": _flag(item.get("reused")),
        "DuocLayTuKhoDMQG": _flag(item.get("fromNationalStore")),
        "MaKetQuaThayThe": "",
    }


def _fee(item: Mapping[str, Any], options: BodyOptions) -> dict[str, str]:
    return {
        "TenPhiLePhi": str(item["name"]),
        "MaPhiLePhi": str(item.get("code") or ""),
        "HinhThucThu": options.payment_method_codes.get(str(item.get("paymentMethod")), ""),
        "Gia": str(int(item["amount"])),
        "LoaiPhiLePhi": options.fee_kind_codes.get(str(item.get("kind")), ""),
    }


def _agency_name(options: BodyOptions, name: Any, code: Any) -> str:
    """DonViXuLy: the name the event gives, else the configured name of the agency's code."""
    if name:
        return str(name)
    return options.agency_names.get(str(code or ""), "")


def _digitised(documents: Iterable[Mapping[str, Any]]) -> str:
    """HoSoCoThanhPhanSoHoa: some component is digitised or reuses digitised data (766 §4.3)."""
    return _flag(
        any(
            doc.get("DuocSoHoa") == TRUE or doc.get("DuocTaiSuDung") in (REUSED, REPLACED)
            for doc in documents
        )
    )


def submitted_record(data: Mapping[str, Any], options: BodyOptions = DEFAULT) -> dict[str, Any]:
    """The full DongBoHoSoMC record of a ``dossier.submitted`` event."""
    record = empty_record()
    try:
        record.update(
            {
                "MaHoSo": str(data["dossierCode"]),
                "MaTTHC": str(data["procedureCode"]),
                "TrangThaiHoSo": _status(data.get("status", 1)),
                "NgayNopHoSo": portal_date(data["submittedAt"]),
                "DonViXuLy": _agency_name(options, data.get("agencyName"), data["agencyCode"]),
            }
        )
        record.update(applicant_fields(data["applicant"], data.get("portalAccountId")))
    except KeyError as missing:
        raise MappingError(f"the event has no {missing}") from None
    record["TenTTHC"] = str(data.get("procedureName") or "")
    record["MaLinhVuc"] = str(data.get("fieldCode") or "")
    record["TenLinhVuc"] = str(data.get("fieldName") or "")
    record["SoBienNhan"] = str(data.get("receiptNumber") or "")
    record["TrichYeuHoSo"] = _text(options, "TrichYeuHoSo", data.get("summary"))
    record["GhiChu"] = _text(options, "GhiChu", data.get("note"))
    record["KenhThucHien"] = CHANNELS.get(str(data.get("channel")), CHANNELS["counter"])
    record["HinhThuc"] = FALSE
    record["NgayTiepNhan"] = _date(data, "receivedAt")
    if not record["NgayTiepNhan"] and record["TrangThaiHoSo"] == "2":
        record["NgayTiepNhan"] = record["NgayNopHoSo"]  # accepted as submitted
    record["NgayHenTra"] = _date(data, "dueAt")
    record["DuocThanhToanTrucTuyen"] = options.online_payment if data.get("paidOnline") else FALSE
    record["TaiKhoanDuocXacThucVoiVNeID"] = _flag(data.get("vneidVerified"))
    record["TaiLieuNop"] = [_document(item, options) for item in data.get("documents", ())]
    record["HoSoCoThanhPhanSoHoa"] = _digitised(record["TaiLieuNop"])
    record["DanhSachLePhi"] = [_fee(item, options) for item in data.get("fees", ())]
    record["DSKetNoiCSDL"] = [
        {"MaCSDL": code} for code in _database_codes(data.get("connectedDatabases", ()), options)
    ]
    return record


def _database_codes(named: Iterable[Any], options: BodyOptions) -> list[str]:
    """MaCSDL codes of the databases an event names: a numeric string is the portal's code as
    is; a name goes through the code book (``database_codes``); anything else is left out and
    reported, never sent (the portal's code book is numeric strings)."""
    codes: dict[str, None] = {}
    for name in named:
        text = str(name).strip()
        code = text if text.isascii() and text.isdigit() else options.database_codes.get(text)
        if code is None:
            options.on_unknown_database(text)
        else:
            codes[code] = None
    return list(codes)


def resubmitted(known: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a submission sent again over the one the bus knows: what the new one carries
    replaces the known values, and what it leaves empty keeps them (later dates, results)."""
    return {**known, **{name: value for name, value in record.items() if value not in ("", [])}}


def _supplements(record: Mapping[str, Any], status: str, changed: str, data: Mapping[str, Any]) -> list[Any]:
    """DanhSachHoSoBoSung after a move: a request for documents (5) opens an item; the next move
    on to processing, payment or the end of processing (the documents received) closes the open
    one with its date and the new promised date. A withdrawal, a stop or a refusal leaves it open:
    nothing was supplied, and no receipt is invented."""
    items = [dict(item) for item in record.get("DanhSachHoSoBoSung", ())]
    open_items = [item for item in items if item.get("TrangThaiBoSung") == SUPPLEMENT_OPEN]
    if status == "5":
        if open_items:
            return items  # the same request, re-sent
        items.append(
            {
                "HoSoBoSungId": f"{record['MaHoSo']}-BS{len(items) + 1}",
                "NguoiYeuCauBoSung": "",
                "NoiDungBoSung": str(data.get("reason") or data.get("note") or ""),
                "NgayBoSung": changed,
                "NguoiTiepNhanBoSung": "",
                "ThongTinTiepNhan": "",
                "NgayTiepNhanBoSung": "",
                "TrangThaiBoSung": SUPPLEMENT_OPEN,
                "DanhSachGiayToBoSung": [],
                "DanhSachLePhiBoSung": [],
                "NgayHenTraTruoc": str(record.get("NgayHenTra") or ""),
                "NgayHenTraMoi": "",
            }
        )
    elif open_items and status not in SUPPLEMENT_UNANSWERED:
        item = open_items[-1]
        item["NgayTiepNhanBoSung"] = changed
        item["TrangThaiBoSung"] = SUPPLEMENT_RECEIVED
        item["NgayHenTraMoi"] = _date(data, "dueAt")
    return items


def apply_status(
    record: Mapping[str, Any], data: Mapping[str, Any], options: BodyOptions = DEFAULT
) -> dict[str, Any]:
    """The record after a ``dossier.status.changed`` event (v1, v2 or v3)."""
    updated = {**empty_record(), **record}
    status = _status(data["status"])
    changed = portal_date(data["changedAt"])
    updated["DanhSachHoSoBoSung"] = _supplements(updated, status, changed, data)
    updated["TrangThaiHoSo"] = status
    updated["NgayHenTra"] = _date(data, "dueAt") or updated["NgayHenTra"]
    if status == "2" and not updated["NgayTiepNhan"]:
        updated["NgayTiepNhan"] = changed
    if status in ("3", "7", "8", "9", "10"):
        updated["NgayKetThucXuLy"] = _date(data, "finishedAt") or updated["NgayKetThucXuLy"] or changed
    if status == "3":
        updated["NgayTuChoi"] = _date(data, "refusedAt") or changed
    if status == "10":
        updated["NgayTra"] = _date(data, "returnedAt") or changed
    if data.get("returnInfo"):
        updated["ThongTinTra"] = str(data["returnInfo"])
    if data.get("returnMethod"):
        updated["HinhThuc"] = TRUE if data["returnMethod"] == POSTAL_RETURN else FALSE
    handling = _agency_name(options, data.get("handlingAgencyName"), data.get("handlingAgencyCode"))
    if handling:
        updated["DonViXuLy"] = handling
    note = data.get("note") or data.get("reason")
    if note:
        updated["GhiChu"] = _text(options, "GhiChu", note)
    fees = [_fee(item, options) for item in data.get("fees", ())]
    if fees:  # a request to pay (6) names what is due
        known = list(updated["DanhSachLePhi"])
        updated["DanhSachLePhi"] = known + [fee for fee in fees if fee not in known]
    return updated


def apply_result(
    record: Mapping[str, Any], data: Mapping[str, Any], options: BodyOptions = DEFAULT
) -> dict[str, Any]:
    """The record after ``dossier.result.issued``: the result files (DanhSachGiayToKetQua), each
    with the procedure's result code (MaGiayToKetQua) when the configuration knows it: 766 counts
    an electronic result only with a result code and a link to the file."""
    updated = {**empty_record(), **record}
    procedure = str(data.get("procedureCode") or updated["MaTTHC"])
    result_code = options.result_codes.get(procedure, "")
    updated["DanhSachGiayToKetQua"] = [
        {
            "TenGiayTo": _text(options, "TenGiayTo", item["name"]),
            "MaThanhPhanHoSo": str(item.get("componentCode") or ""),
            "GiayToId": str(item.get("id") or ""),
            "DuongDanTepTinKetQua": str(item["url"]),
            "MaGiayToKetQua": result_code,
        }
        for item in data.get("documents", ())
    ]
    issuing = data.get("issuingAgency") or {}
    if not updated["DonViXuLy"]:
        updated["DonViXuLy"] = _agency_name(options, issuing.get("name"), issuing.get("code"))
    if data.get("note"):
        updated["GhiChu"] = _text(options, "GhiChu", data["note"])
    return updated


@dataclass(frozen=True, slots=True)
class Collected:
    """One record the bus collected for a dossier (an item of ``dossier.evidence.collected``
    ``found``): its dataset and, for a stored result, the result's code."""

    dataset: str
    result_code: str = ""

    def as_json(self) -> list[str]:
        return [self.dataset, self.result_code]

    @classmethod
    def of_json(cls, value: Any) -> Collected:
        if isinstance(value, str):  # a dataset name alone
            return cls(value)
        dataset, result_code = [*list(value), "", ""][:2]
        return cls(str(dataset), str(result_code))


def collected_of(found: Iterable[Mapping[str, Any]]) -> list[Collected]:
    """The records of an evidence event's ``found`` list."""
    out = []
    for item in found:
        data = item.get("data") or {}
        code = data.get("resultCode") if isinstance(data, Mapping) else None
        out.append(Collected(str(item["dataset"]), str(code or "")))
    return out


def apply_evidence(
    record: Mapping[str, Any], collected: Iterable[Collected], options: BodyOptions = DEFAULT
) -> dict[str, Any]:
    """The record once the bus collected these records for the dossier (once-only, 766 §4.3-4.5).

    - a dataset with a MaCSDL in the code book: the code joins DSKetNoiCSDL;
    - the documents of the components a dataset stands for (``dataset_components``): a record
      from the citizen data store (``data_store_datasets``) replaces the component
      (DuocTaiSuDung 2, MaKetQuaThayThe the stored result's code, DuocLayTuKhoDMQG 1); any other
      record is reused digitised data (DuocTaiSuDung 1; DuocLayTuKhoDMQG is left as it was: a
      national database is not the citizen's data store);
    - HoSoCoThanhPhanSoHoa follows the documents."""
    updated = {**empty_record(), **record}
    items = list(collected)
    codes = [entry["MaCSDL"] for entry in updated["DSKetNoiCSDL"]]
    for item in items:
        code = options.database_codes.get(item.dataset)
        if code and code not in codes:
            codes.append(code)
    updated["DSKetNoiCSDL"] = [{"MaCSDL": code} for code in codes]
    documents = []
    for original in updated["TaiLieuNop"]:
        doc = dict(original)
        component = doc.get("MaThanhPhanHoSo")
        for item in items:
            if not component or component not in options.dataset_components.get(item.dataset, ()):
                continue
            if item.dataset in options.data_store_datasets:
                doc["DuocLayTuKhoDMQG"] = TRUE
                if item.result_code:
                    doc["DuocTaiSuDung"] = REPLACED
                    doc["MaKetQuaThayThe"] = item.result_code
                elif doc.get("DuocTaiSuDung") != REPLACED:
                    doc["DuocTaiSuDung"] = REUSED
            elif doc.get("DuocTaiSuDung") != REPLACED:
                doc["DuocTaiSuDung"] = REUSED
        documents.append(doc)
    updated["TaiLieuNop"] = documents
    updated["HoSoCoThanhPhanSoHoa"] = _digitised(documents)
    return updated


def progress_fields(data: Mapping[str, Any], options: BodyOptions = DEFAULT) -> dict[str, str]:
    """The CapNhatTienDoHoSoMC item of a ``dossier.progress.updated`` event."""
    return {
        "MaHoSo": str(data["dossierCode"]),
        "NguoiXuLy": _text(options, "NguoiXuLy", data["handler"]),
        "ChucDanh": str(data.get("title") or ""),
        "ThoiDiemXuLy": portal_date(data["handledAt"]),
        "PhongBanXuLy": str(data.get("department") or ""),
        "NoiDungXuLy": str(data["content"]),
        "TrangThai": _status(data["status"]),
        "NgayBatDau": _date(data, "startedAt"),
        "NgayKetThucTheoQuyDinh": _date(data, "dueAt"),
    }
