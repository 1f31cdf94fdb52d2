"""Between the bus's results (``dossier.result.issued`` v2, dataset ``result.document``) and the
citizen data store's records (``simulators.citizen_store``): pure functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from adapters.signatures import Reason, SignatureRejected, VerifiedSignature

FILE_FIELDS = {"id": "ma", "name": "ten", "url": "duongDan", "mediaType": "loai", "sha256": "sha256"}


def instant(value: Any, field: str) -> dt.datetime:
    """An RFC 3339 time of the result (an aware datetime)."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise SignatureRejected(Reason.MALFORMED, f"'{field}' is not an RFC 3339 time: {value!r}") from None
    if moment.tzinfo is None:
        raise SignatureRejected(Reason.MALFORMED, f"'{field}' has no UTC offset: {value!r}")
    return moment


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def missing_for_store(result: Mapping[str, Any]) -> str | None:
    """What a result lacks to be stored and reused (v1 results have no holder nor procedure)."""
    holder = result.get("holder")
    if not isinstance(holder, Mapping) or not (holder.get("personalId") or holder.get("taxCode")):
        return "the result names no holder (holder.personalId or holder.taxCode, dossier.result.issued v2)"
    if not result.get("procedureCode"):
        return "the result names no procedure (procedureCode, dossier.result.issued v2)"
    return None


def verification(verified: VerifiedSignature) -> dict[str, Any]:
    """The bus's verification, as the store keeps it (xacThucChuKy)."""
    return {
        "trangThai": "verified",
        "thuatToan": verified.algorithm,
        "nguoiKy": verified.signer,
        "soSerial": verified.certificate_serial,
        "toChucCap": verified.certificate_issuer,
        "hetHan": iso(verified.certificate_not_after),
        "thoiDiemXacThuc": iso(verified.verified_at),
        "sha256": verified.document_sha256,
    }


def store_record(result: Mapping[str, Any], verified: VerifiedSignature) -> dict[str, Any]:
    """A verified result as a record of the store; ``vanBanKy`` keeps the signed original whole."""
    holder = result["holder"]
    owner = {"hoTen": holder["name"]}
    if holder.get("personalId"):
        owner["soDinhDanh"] = holder["personalId"]
    else:
        owner["maSoThue"] = holder["taxCode"]
    record: dict[str, Any] = {
        "soHieuKetQua": result["resultCode"],
        "maTTHC": result["procedureCode"],
        "maHoSo": result["dossierCode"],
        "chuSoHuu": owner,
        "coQuanCap": {"maDinhDanh": result["issuingAgency"]["code"], "ten": result["issuingAgency"]["name"]},
        "ngayCap": iso(instant(result["issuedAt"], "issuedAt")),
        "tepKetQua": [
            {store: entry[field] for field, store in FILE_FIELDS.items() if field in entry}
            for entry in result["documents"]
        ],
        "vanBanKy": dict(result),
        "xacThucChuKy": verification(verified),
    }
    if result.get("validUntil"):
        record["hieuLucDen"] = iso(instant(result["validUntil"], "validUntil"))
    if result.get("title"):
        record["trichYeu"] = result["title"]
    return record


def verified_at(record: Mapping[str, Any]) -> dt.datetime:
    """When the bus first verified a stored record (the time its certificate is judged at)."""
    return instant(record["xacThucChuKy"]["thoiDiemXacThuc"], "xacThucChuKy.thoiDiemXacThuc")


def still_valid(record: Mapping[str, Any], now: dt.datetime) -> bool:
    until = record.get("hieuLucDen")
    return until is None or instant(until, "hieuLucDen") > now


def result_document(signed: Mapping[str, Any], verified: VerifiedSignature) -> dict[str, Any]:
    """The dataset ``result.document``, from the signed result itself (not the store's copy of its
    fields) and its verification."""
    holder = {k: signed["holder"][k] for k in ("personalId", "taxCode", "name") if k in signed["holder"]}
    document: dict[str, Any] = {
        "resultCode": signed["resultCode"],
        "procedureCode": signed["procedureCode"],
        "dossierCode": signed["dossierCode"],
        "holder": holder,
        "issuingAgency": {"code": signed["issuingAgency"]["code"], "name": signed["issuingAgency"]["name"]},
        "issuedAt": signed["issuedAt"],
        "documents": [
            {k: entry[k] for k in ("id", "name", "url", "mediaType", "sha256") if k in entry}
            for entry in signed["documents"]
        ],
        "documentSha256": verified.document_sha256,
        "signature": {
            "status": "verified",
            "algorithm": verified.algorithm,
            "signer": verified.signer,
            "certificateSerial": verified.certificate_serial,
            "certificateIssuer": verified.certificate_issuer,
            "certificateNotAfter": iso(verified.certificate_not_after),
            "verifiedAt": iso(verified.verified_at),
        },
    }
    if signed.get("validUntil"):
        document["validUntil"] = signed["validUntil"]
    if signed.get("title"):
        document["title"] = signed["title"]
    return document
