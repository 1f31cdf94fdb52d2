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
        "connectedDatabases": ["7"],
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


def test_a_submission_becomes_a_full_record_of_strings() -> None:
    record = mapping.submitted_record(submitted())
    assert set(record) == set(mapping.RECORD_TEXTS) | set(mapping.RECORD_LISTS)  # nothing omitted
    assert all(isinstance(record[name], str) for name in mapping.RECORD_TEXTS)
    assert record["MaHoSo"] == "000.00.00.H49-240502-0001"
    assert record["TrangThaiHoSo"] == "1"
    assert record["NgayNopHoSo"] == "20240502083000"
    assert record["LoaiDoiTuong"] == "1"
    assert record["DinhDanhCHS"] == [
        {"LoaiDinhDanh": "1", "SoDinhDanh": "022089000123"},
        {"LoaiDinhDanh": "2", "SoDinhDanh": "123456789"},
    ]
    assert record["SoGiayToChuHoSo"] == "022089000123"
    assert record["MaDoiTuong"] == ""  # the portal account (TechID), never an ID number
    assert record["ThongTinKhac"] == ""
    assert record["KenhThucHien"] == "2"
    assert record["HinhThuc"] == "0"
    assert record["TaiLieuNop"] == [
        {
            "TepDinhKemId": "",
            "TenTepDinhKem": "Tờ khai",
            "IsDeleted": "False",
            "MaThanhPhanHoSo": "TK01",
            "DuongDanTaiTepTin": "",
            "DuocSoHoa": "1",
            "DuocTaiSuDung": "1",
            "DuocLayTuKhoDMQG": "0",
            "MaKetQuaThayThe": "",
        }
    ]
    assert record["HoSoCoThanhPhanSoHoa"] == "1"
    assert record["DanhSachLePhi"] == [
        {"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "", "HinhThucThu": "", "Gia": "8000", "LoaiPhiLePhi": "2"}
    ]
    assert record["DSKetNoiCSDL"] == [{"MaCSDL": "7"}]
    assert record["DuocThanhToanTrucTuyen"] == "1"
    assert record["TaiKhoanDuocXacThucVoiVNeID"] == "0"
    assert (
        record["DanhSachTepDinhKemKhac"]
        == record["DanhSachHoSoBoSung"]
        == record["DanhSachGiayToKetQua"]
        == []
    )
    assert record["NgayTiepNhan"] == ""  # not received yet: nothing invented
    assert record["DonViXuLy"] == ""  # the agency's name is not known: never its code


def test_the_configuration_names_what_the_reference_leaves_open() -> None:
    options = mapping.BodyOptions(
        agency_names={"000.00.00.H49": "UBND tỉnh Thử Nghiệm"},
        payment_method_codes={"online": "2"},
        fee_kind_codes={"charge": "9"},
        online_payment=mapping.PAID_VIA_GATEWAY,
    )
    record = mapping.submitted_record(
        submitted(portalAccountId="tech-0001", vneidVerified=True, channel=None), options
    )
    assert record["DonViXuLy"] == "UBND tỉnh Thử Nghiệm"
    assert (record["DanhSachLePhi"][0]["HinhThucThu"], record["DanhSachLePhi"][0]["LoaiPhiLePhi"]) == (
        "2",
        "9",
    )
    assert record["DuocThanhToanTrucTuyen"] == "2"
    assert record["MaDoiTuong"] == "tech-0001"
    assert record["TaiKhoanDuocXacThucVoiVNeID"] == "1"
    assert record["KenhThucHien"] == "1"  # "1" when the channel is not given (766 §3.3)
    named = mapping.submitted_record(submitted(agencyName="Sở Tư pháp"), options)
    assert named["DonViXuLy"] == "Sở Tư pháp"  # the event's own name wins


def test_a_citizen_without_an_id_is_refused_not_given_a_constant() -> None:
    with pytest.raises(mapping.MappingError):
        mapping.submitted_record(submitted(applicant={"type": "citizen", "name": "A"}))


def test_a_business_is_code_2_and_its_tax_code_is_not_maDoiTuong() -> None:
    business = {"type": "business", "name": "Công ty A", "taxCode": "0101234567"}
    record = mapping.submitted_record(submitted(applicant=business))
    assert (record["LoaiDoiTuong"], record["MaDoiTuong"], record["DinhDanhCHS"]) == ("2", "", [])


def test_status_changes_date_what_they_end() -> None:
    record = mapping.submitted_record(submitted())
    accepted = mapping.apply_status(record, {"status": 2, "changedAt": "2024-05-02T02:00:00Z"})
    assert accepted["NgayTiepNhan"] == "20240502090000"
    assert accepted["TrangThaiHoSo"] == "2"
    processed = mapping.apply_status(accepted, {"status": 9, "changedAt": "2024-05-03T02:00:00Z"})
    assert processed["NgayKetThucXuLy"] == "20240503090000"
    returned = mapping.apply_status(
        processed, {"status": 10, "changedAt": "2024-05-04T02:00:00Z", "returnMethod": "postal"}
    )
    assert (returned["NgayTra"], returned["HinhThuc"], returned["NgayKetThucXuLy"]) == (
        "20240504090000",
        "1",
        "20240503090000",
    )
    at_counter = mapping.apply_status(
        processed, {"status": 10, "changedAt": "2024-05-04T02:00:00Z", "returnMethod": "online"}
    )
    assert at_counter["HinhThuc"] == "0"  # "1" is the public postal service only
    refused = mapping.apply_status(
        record, {"status": 3, "changedAt": "2024-05-02T02:00:00Z", "reason": "thiếu"}
    )
    assert (refused["NgayTuChoi"], refused["GhiChu"]) == ("20240502090000", "thiếu")
    assert mapping.apply_status(accepted, {"status": 2, "changedAt": "2024-05-02T02:00:00Z"}) == accepted


def test_the_handling_agency_is_named_never_coded() -> None:
    options = mapping.BodyOptions(agency_names={"000.20.21.H49": "Sở Xây dựng"})
    record = mapping.submitted_record(submitted(), options)
    moved = {"status": 4, "changedAt": "2024-05-02T02:00:00Z", "handlingAgencyCode": "000.20.21.H49"}
    assert mapping.apply_status(record, moved, options)["DonViXuLy"] == "Sở Xây dựng"
    unknown = {**moved, "handlingAgencyCode": "000.30.21.H49"}
    assert mapping.apply_status(record, unknown, options)["DonViXuLy"] == ""


def test_a_supplement_episode_fills_danhSachHoSoBoSung() -> None:
    record = mapping.submitted_record(submitted(dueAt="2024-05-10T10:00:00Z"))
    asked = mapping.apply_status(
        record, {"status": 5, "changedAt": "2024-05-03T02:00:00Z", "reason": "Thiếu bản sao sổ hộ khẩu"}
    )
    (item,) = asked["DanhSachHoSoBoSung"]
    assert set(item) == {
        "HoSoBoSungId",
        "NguoiYeuCauBoSung",
        "NoiDungBoSung",
        "NgayBoSung",
        "NguoiTiepNhanBoSung",
        "ThongTinTiepNhan",
        "NgayTiepNhanBoSung",
        "TrangThaiBoSung",
        "DanhSachGiayToBoSung",
        "DanhSachLePhiBoSung",
        "NgayHenTraTruoc",
        "NgayHenTraMoi",
    }
    assert (item["NoiDungBoSung"], item["NgayBoSung"], item["NgayHenTraTruoc"]) == (
        "Thiếu bản sao sổ hộ khẩu",
        "20240503090000",
        "20240510170000",
    )
    assert (item["NgayTiepNhanBoSung"], item["TrangThaiBoSung"]) == ("", "0")
    resumed = mapping.apply_status(
        asked, {"status": 4, "changedAt": "2024-05-04T02:00:00Z", "dueAt": "2024-05-11T10:00:00Z"}
    )
    (done,) = resumed["DanhSachHoSoBoSung"]
    assert (done["NgayTiepNhanBoSung"], done["TrangThaiBoSung"], done["NgayHenTraMoi"]) == (
        "20240504090000",
        "1",
        "20240511170000",
    )
    again = mapping.apply_status(resumed, {"status": 5, "changedAt": "2024-05-05T02:00:00Z"})
    assert [i["HoSoBoSungId"] for i in again["DanhSachHoSoBoSung"]] == [
        "000.00.00.H49-240502-0001-BS1",
        "000.00.00.H49-240502-0001-BS2",
    ]


@pytest.mark.parametrize("ending", [7, 8, 3])
def test_a_request_for_documents_never_answered_stays_unreceived(ending: int) -> None:
    record = mapping.submitted_record(submitted(dueAt="2024-05-10T10:00:00Z"))
    asked = mapping.apply_status(record, {"status": 5, "changedAt": "2024-05-03T02:00:00Z"})
    ended = mapping.apply_status(asked, {"status": ending, "changedAt": "2024-05-06T02:00:00Z"})
    (item,) = ended["DanhSachHoSoBoSung"]
    assert (item["NgayTiepNhanBoSung"], item["TrangThaiBoSung"]) == ("", "0")


def test_connected_databases_are_codes_or_go_through_the_code_book() -> None:
    unknown: list[str] = []
    options = mapping.BodyOptions(database_codes={"CSDLQGDC": "7"}, on_unknown_database=unknown.append)
    record = mapping.submitted_record(
        submitted(connectedDatabases=["1", "CSDLQGDC", "invented", "7"]), options
    )
    assert record["DSKetNoiCSDL"] == [{"MaCSDL": "1"}, {"MaCSDL": "7"}]
    assert unknown == ["invented"]


def test_a_payment_request_adds_the_fees_due() -> None:
    record = mapping.submitted_record(submitted(fees=[]))
    fee = {"name": "Phí thẩm định", "amount": 50000, "kind": "fee"}
    asked = mapping.apply_status(record, {"status": 6, "changedAt": "2024-05-03T02:00:00Z", "fees": [fee]})
    assert asked["DanhSachLePhi"] == [
        {
            "TenPhiLePhi": "Phí thẩm định",
            "MaPhiLePhi": "",
            "HinhThucThu": "",
            "Gia": "50000",
            "LoaiPhiLePhi": "1",
        }
    ]
    again = mapping.apply_status(asked, {"status": 6, "changedAt": "2024-05-03T02:00:00Z", "fees": [fee]})
    assert again["DanhSachLePhi"] == asked["DanhSachLePhi"]  # the same request re-sent


def test_results_carry_the_procedures_result_code() -> None:
    record = mapping.submitted_record(submitted())
    issued = {
        "procedureCode": "1.000894",
        "issuingAgency": {"code": "000.00.00.H49", "name": "UBND xã A"},
        "documents": [
            {"id": "r1", "name": "Giấy khai sinh", "url": "https://x.vn/r1.pdf", "sha256": "0" * 64}
        ],
    }
    options = mapping.BodyOptions(result_codes={"1.000894": "KQ.000894"})
    result = mapping.apply_result(record, issued, options)
    assert result["DanhSachGiayToKetQua"] == [
        {
            "TenGiayTo": "Giấy khai sinh",
            "MaThanhPhanHoSo": "",
            "GiayToId": "r1",
            "DuongDanTepTinKetQua": "https://x.vn/r1.pdf",
            "MaGiayToKetQua": "KQ.000894",
        }
    ]
    assert result["DonViXuLy"] == "UBND xã A"  # the issuing agency's name, when none was known
    assert mapping.apply_result(record, issued)["DanhSachGiayToKetQua"][0]["MaGiayToKetQua"] == ""


def test_long_texts_are_cut_to_their_caps_on_a_character_boundary_and_counted() -> None:
    cut: list[str] = []
    options = mapping.BodyOptions(on_truncate=cut.append)
    decomposed = "e\u0302\u0301" * 400  # ế written as e + two combining marks: 1200 code points
    record = mapping.submitted_record(submitted(summary=decomposed, note="x" * 2500), options)
    assert len(record["TrichYeuHoSo"]) <= 1000
    assert record["TrichYeuHoSo"] == "e\u0302\u0301" * 333  # never a letter without its marks
    assert record["GhiChu"] == "x" * 2000
    step = {
        "dossierCode": "000.00.00.H49-240502-0001",
        "handler": "Nguyễn Thị Chuyên Viên Phòng Một Cửa Ủy Ban Nhân Dân Xã",
        "handledAt": "2024-05-02T02:00:00Z",
        "content": "x",
        "status": 4,
    }
    assert len(mapping.progress_fields(step, options)["NguoiXuLy"]) == 50
    assert cut == ["TrichYeuHoSo", "GhiChu", "NguoiXuLy"]
    short = mapping.BodyOptions(text_limits={"GhiChu": 10})
    assert mapping.submitted_record(submitted(note="x" * 20), short)["GhiChu"] == "x" * 10
    assert mapping.cap("abc", 5) == "abc"


def test_a_submission_sent_again_keeps_what_later_events_added() -> None:
    record = mapping.submitted_record(submitted(dueAt="2024-05-10T10:00:00Z"))
    issued = {"documents": [{"name": "Giấy khai sinh", "url": "https://x.vn/r1", "sha256": "0" * 64}]}
    known = mapping.apply_result(record, issued)
    again = mapping.submitted_record(submitted(summary="Đăng ký lại"))
    merged = mapping.resubmitted(known, again)
    assert merged["DanhSachGiayToKetQua"] == known["DanhSachGiayToKetQua"] != []  # not blanked
    assert merged["NgayHenTra"] == "20240510170000"
    assert merged["TrichYeuHoSo"] == "Đăng ký lại"


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
        "ChucDanh": "",
        "ThoiDiemXuLy": "20240502090000",
        "PhongBanXuLy": "Phòng Tư pháp",
        "NoiDungXuLy": "thẩm định",
        "TrangThai": "4",
        "NgayBatDau": "",
        "NgayKetThucTheoQuyDinh": "",
    }
