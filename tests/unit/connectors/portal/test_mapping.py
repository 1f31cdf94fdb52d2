from __future__ import annotations

from typing import Any

import pytest

from connectors.portal import mapping


def submitted(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dossierCode": "000.00.00.H49-240502-0001",
        "agencyCode": "000.00.00.H49",
        "procedureCode": "1.000894",
        "applicant": {
            "type": "citizen",
            "name": "Nguyễn Văn A",
            "personalId": "022089000123",
            "oldId": "123456789",
        },
        "submittedAt": "2024-05-02T01:30:00Z",
        "channel": "online",
        "documents": [{"name": "Tờ khai", "componentCode": "TK01", "digitised": True, "reused": True}],
        "fees": [{"name": "Lệ phí", "amount": 8000, "kind": "charge", "paymentMethod": "online"}],
        "connectedDatabases": ["CSDLQGDC"],
        "paidOnline": True,
    }
    data.update(changes)
    return data


def test_dates_are_portal_dates_in_ho_chi_minh_time() -> None:
    assert mapping.portal_date("2024-05-02T01:30:00Z") == "20240502083000"
    assert mapping.portal_date("2024-12-31T20:00:00+00:00") == "20250101030000"
    assert mapping.portal_date("2024-05-02T08:30:00+07:00") == "20240502083000"
    for bad in ("2024-05-02T08:30:00", "yesterday", ""):
        with pytest.raises(mapping.MappingError):
            mapping.portal_date(bad)
    assert mapping.parse_portal_date("20240502083000").isoformat() == "2024-05-02T08:30:00+07:00"


def test_a_submission_becomes_a_full_record() -> None:
    record = mapping.submitted_record(submitted())
    assert record["MaHoSo"] == "000.00.00.H49-240502-0001"
    assert record["TrangThaiHoSo"] == 1
    assert record["NgayNopHoSo"] == "20240502083000"
    assert record["LoaiDoiTuong"] == 1
    assert record["DinhDanhCHS"] == [
        {"LoaiDinhDanh": 1, "SoDinhDanh": "022089000123"},
        {"LoaiDinhDanh": 2, "SoDinhDanh": "123456789"},
    ]
    assert record["SoGiayToChuHoSo"] == record["MaDoiTuong"] == "022089000123"
    assert record["KenhThucHien"] == 2
    assert record["TaiLieuNop"][0] | {} == {
        "TenTepDinhKem": "Tờ khai",
        "IsDeleted": 0,
        "MaThanhPhanHoSo": "TK01",
        "DuocSoHoa": 1,
        "DuocTaiSuDung": 1,
        "DuocLayTuKhoDMQG": 0,
    }
    assert record["DanhSachLePhi"] == [
        {"TenPhiLePhi": "Lệ phí", "Gia": 8000, "LoaiPhiLePhi": 2, "HinhThucThu": 2}
    ]
    assert record["DSKetNoiCSDL"] == [{"MaCSDL": "CSDLQGDC"}]
    assert record["DuocThanhToanTrucTuyen"] == 1
    assert "NgayTiepNhan" not in record  # not received yet: nothing invented


def test_a_citizen_without_an_id_is_refused_not_given_a_constant() -> None:
    with pytest.raises(mapping.MappingError):
        mapping.submitted_record(submitted(applicant={"type": "citizen", "name": "A"}))


def test_status_changes_date_what_they_end() -> None:
    record = mapping.submitted_record(submitted())
    accepted = mapping.apply_status(record, {"status": 2, "changedAt": "2024-05-02T02:00:00Z"})
    assert accepted["NgayTiepNhan"] == "20240502090000"
    processed = mapping.apply_status(accepted, {"status": 9, "changedAt": "2024-05-03T02:00:00Z"})
    assert processed["NgayKetThucXuLy"] == "20240503090000"
    returned = mapping.apply_status(
        processed, {"status": 10, "changedAt": "2024-05-04T02:00:00Z", "returnMethod": "postal"}
    )
    assert (returned["NgayTra"], returned["HinhThuc"], returned["NgayKetThucXuLy"]) == (
        "20240504090000",
        3,
        "20240503090000",
    )
    refused = mapping.apply_status(
        record, {"status": 3, "changedAt": "2024-05-02T02:00:00Z", "reason": "thiếu"}
    )
    assert (refused["NgayTuChoi"], refused["GhiChu"]) == ("20240502090000", "thiếu")
    assert mapping.apply_status(accepted, {"status": 2, "changedAt": "2024-05-02T02:00:00Z"}) == accepted


def test_datasets_the_bus_pulled_are_counted_as_once_only() -> None:
    record = mapping.submitted_record(submitted(connectedDatabases=[]))
    pulled = mapping.apply_datasets(record, ["citizen.identity", "business.registration", "unknown.set"])
    assert pulled["DSKetNoiCSDL"] == [{"MaCSDL": "CSDLQGDC"}, {"MaCSDL": "CSDLQGDKDN"}]
    marked = mapping.mark_documents(pulled, ["TK01"])
    assert (marked["TaiLieuNop"][0]["DuocTaiSuDung"], marked["TaiLieuNop"][0]["DuocLayTuKhoDMQG"]) == (1, 1)


def test_progress_fields() -> None:
    fields = mapping.progress_fields(
        {
            "dossierCode": "000.00.00.H49-240502-0001",
            "handler": "B",
            "handledAt": "2024-05-02T02:00:00Z",
            "content": "thẩm định",
            "status": 4,
            "department": "Phòng Tư pháp",
        }
    )
    assert fields == {
        "MaHoSo": "000.00.00.H49-240502-0001",
        "NguoiXuLy": "B",
        "ThoiDiemXuLy": "20240502090000",
        "NoiDungXuLy": "thẩm định",
        "TrangThai": 4,
        "PhongBanXuLy": "Phòng Tư pháp",
    }
