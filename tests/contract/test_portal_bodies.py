"""The portal body contract (portal-dvcqg.md §2.3, §2.4).

1. Bodies built by hand from the facts of §2 as the real clients send them (OpenCPS's direct
   client "OC", the Thanh Hóa one-stop system "TD", the Hà Giang bridge client "HG"), not from
   our mapping, are accepted by the simulator's rules.
2. Bodies no client sends are refused, each with a message naming the field.
3. The connector's own output, for representative events, is accepted by the same rules and
   checked field by field against the types and values of §2.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.portal import mapping
from simulators.portal_rules import Invalid, check_progress, check_record

# --- real clients' bodies -----------------------------------------------------------------------

# OC: String.valueOf everywhere; no SoBienNhan; no GhiChu (removed 2021); MaDoiTuong "" for an
# applicant not mapped by the portal's SSO; HinhThuc "0" unless by post; IsDeleted "False";
# DanhSachGiayToKetQua without a result code; no DinhDanhCHS in its body.
OC_BODY: dict[str, Any] = {
    "MaHoSo": "000.00.12.H22-210607-0012",
    "MaTTHC": "1.001612",
    "TenTTHC": "Đăng ký khai sinh",
    "MaLinhVuc": "G09-TP03",
    "TenLinhVuc": "Hộ tịch",
    "ChuHoSo": "Nguyễn Văn An",
    "LoaiDoiTuong": "1",
    "MaDoiTuong": "",
    "ThongTinKhac": "",
    "Email": "an@example.vn",
    "Fax": "0912345678",
    "SoDienThoai": "0912345678",
    "TrichYeuHoSo": "Đăng ký khai sinh cho con",
    "NgayTiepNhan": "20210607081500",
    "NgayHenTra": "20210610170000",
    "TrangThaiHoSo": "4",
    "NgayTra": "",
    "ThongTinTra": "",
    "HinhThuc": "0",
    "NgayKetThucXuLy": "",
    "DonViXuLy": "UBND xã Phương Thiện",
    "TaiLieuNop": [
        {
            "TepDinhKemId": "40312",
            "TenTepDinhKem": "To khai dang ky khai sinh.pdf",
            "IsDeleted": "False",
            "MaThanhPhanHoSo": "TP01",
            "DuongDanTaiTepTin": "https://motcua.example.vn/documents/40312",
        }
    ],
    "DanhSachLePhi": [],
    "DanhSachTepDinhKemKhac": [],
    "DanhSachHoSoBoSung": [],
    "DanhSachGiayToKetQua": [
        {
            "TenGiayTo": "Giấy khai sinh",
            "MaThanhPhanHoSo": "KQ01",
            "GiayToId": "40400",
            "DuongDanTepTinKetQua": "https://motcua.example.vn/documents/40400",
        }
    ],
}

# TD: a state agency applicant ("3"); a 5-digit daily counter; "Dinhkem" for an empty summary;
# NoiNopHoSo "2"; the constant old ID "000000001"; MaCSDL "7"; DuocThanhToanTrucTuyen "3";
# constants "1" for MaPhiLePhi, HinhThucThu, LoaiPhiLePhi; MaGiayToKetQua; a reused component
# replaced by an existing result ("2" with MaKetQuaThayThe, as its social-protection sync);
# null where a C# string property was never set; status 5 rewritten as 9.
TD_BODY: dict[str, Any] = {
    "MaHoSo": "000.00.12.H56-250225-10234",
    "MaTTHC": "2.002621.H56",
    "TenTTHC": "Cấp phiếu lý lịch tư pháp",
    "MaLinhVuc": "G09-TP05",
    "TenLinhVuc": "Lý lịch tư pháp",
    "SoBienNhan": None,
    "ChuHoSo": "UBND xã Đông Tiến",
    "LoaiDoiTuong": "3",
    "MaDoiTuong": "",
    "ThongTinKhac": "",
    "Email": "",
    "Fax": "",
    "SoDienThoai": "",
    "TrichYeuHoSo": "Dinhkem",
    "NgayTiepNhan": "20250225141233",
    "NgayHenTra": "20250304170000",
    "TrangThaiHoSo": "9",
    "NgayTra": "",
    "ThongTinTra": "",
    "HinhThuc": "1",
    "NgayKetThucXuLy": "20250227100000",
    "DonViXuLy": "Sở Tư pháp",
    "GhiChu": "",
    "NgayTuChoi": "",
    "NgayNopHoSo": "20250225140000",
    "KenhThucHien": "1",
    "SoGiayToChuHoSo": "000000001",
    "NoiNopHoSo": "2",
    "HoSoCoThanhPhanSoHoa": "1",
    "TaiKhoanDuocXacThucVoiVNeID": "0",
    "DuocThanhToanTrucTuyen": "3",
    "DinhDanhCHS": [{"LoaiDinhDanh": "2", "SoDinhDanh": "000000001"}],
    "DSKetNoiCSDL": [{"MaCSDL": "7"}],
    "TaiLieuNop": [
        {
            "TepDinhKemId": "7d0c1e2a-9f3b-4b1a-8a61-3c2d9e0f1a2b",
            "TenTepDinhKem": "Dinhkem",
            "IsDeleted": "False",
            "MaThanhPhanHoSo": "",
            "DuongDanTaiTepTin": "https://apidvc.example.vn/KetNoiMotCuaQuocGia/getfile?path=2025/02/a.pdf",
            "DuocSoHoa": "1",
            "DuocTaiSuDung": "2",
            "DuocLayTuKhoDMQG": "0",
            "MaKetQuaThayThe": "KQ-2024-000123",
        }
    ],
    "DanhSachLePhi": [
        {
            "TenPhiLePhi": "Phí cấp phiếu",
            "MaPhiLePhi": "1",
            "HinhThucThu": "1",
            "Gia": "200000",
            "LoaiPhiLePhi": "1",
        }
    ],
    "DanhSachTepDinhKemKhac": [],
    "DanhSachHoSoBoSung": [],
    "DanhSachGiayToKetQua": [
        {
            "TenGiayTo": "phieu-lltp.pdf",
            "MaGiayToKetQua": "KQ.G09-TP05.01",
            "DuongDanTepTinKetQua": "https://apidvc.example.vn/KetNoiMotCuaQuocGia/getfile?path=kq.pdf",
        }
    ],
}

# HG: posted through its bridge; the ID-card number in MaDoiTuong; SoBienNhan ""; "2 -> 10"
# directly (a returned result), "1" again on an undo.
HG_BODY: dict[str, Any] = {
    "MaHoSo": "000.00.01.H22-230815-0042",
    "MaTTHC": "2.002492",
    "TenTTHC": "Xét tuyển sinh vào lớp 10",
    "SoBienNhan": "",
    "ChuHoSo": "Lò Thị Mai",
    "LoaiDoiTuong": "1",
    "MaDoiTuong": "002305001234",
    "Email": "",
    "SoDienThoai": "0987654321",
    "TrichYeuHoSo": "Hồ sơ tuyển sinh",
    "NgayTiepNhan": "20230815090000",
    "NgayHenTra": "20230820170000",
    "TrangThaiHoSo": "10",
    "NgayTra": "20230816100000",
    "HinhThuc": "0",
    "NgayKetThucXuLy": "20230816100000",
    "DonViXuLy": "Trường THPT Chuyên Hà Giang",
    "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "002305001234"}],
    "TaiLieuNop": [
        {
            "TepDinhKemId": "1",
            "TenTepDinhKem": "Học bạ",
            "IsDeleted": "False",
            "MaThanhPhanHoSo": "HB",
            "DuongDanTaiTepTin": "https://tuyensinh.example.vn/f/1",
        }
    ],
    "DanhSachLePhi": [],
    "DanhSachTepDinhKemKhac": [],
    "DanhSachHoSoBoSung": [],
    "DanhSachGiayToKetQua": [],
}

# a dossier code as another system issues them (short agency code, yyyyMMdd, 7 digits)
IG_CODE = "G09.20-20260609-0092637"

OC_PROGRESS = {
    "MaHoSo": "000.00.12.H22-210607-0012",
    "NguoiXuLy": "Trần Thị Bình",
    "ChucDanh": "",
    "ThoiDiemXuLy": "20210607081500",
    "PhongBanXuLy": "Bộ phận một cửa",
    "NoiDungXuLy": "Tiếp nhận hồ sơ - Đủ giấy tờ",
    "TrangThai": "2",
    "NgayBatDau": "20210607081500",
    "NgayKetThucTheoQuyDinh": "20210607170000",
}
TD_PROGRESS = {
    "MaHoSo": "000.00.12.H56-250225-10234",
    "ChucDanh": "",
    "NguoiXuLy": "Cán bộ một cửa",
    "NoiDungXuLy": "Kết thúc xử lý hồ sơ",
    "ThoiDiemXuLy": "20250227100000",
    "TrangThai": "9",
    "NgayBatDau": "",
    "NgayKetThucTheoQuyDinh": "",
    "PhongBanXuLy": "",
}


@pytest.mark.parametrize("body", [OC_BODY, TD_BODY, HG_BODY], ids=["OC", "TD", "HG"])
def test_real_clients_bodies_are_accepted(body: dict[str, Any]) -> None:
    assert check_record(copy.deepcopy(body)) == body


def test_every_status_and_the_dossier_codes_real_systems_issue_are_accepted() -> None:
    for status in range(1, 11):
        check_record({**HG_BODY, "TrangThaiHoSo": str(status)})
    for dossier in (IG_CODE, "000.00.12.H56-250225-0001", "H56.14-250225-1234567", "000.00.01.H22-230815-42"):
        check_record({**HG_BODY, "MaHoSo": dossier})
        check_progress({**OC_PROGRESS, "MaHoSo": dossier})


def test_a_supplement_episode_as_section_2_3_names_it_is_accepted() -> None:
    supplement = {
        "HoSoBoSungId": "BS-1",
        "NguoiYeuCauBoSung": "Trần Thị Bình",
        "NoiDungBoSung": "Bổ sung bản sao sổ hộ khẩu",
        "NgayBoSung": "20210608090000",
        "NguoiTiepNhanBoSung": "",
        "ThongTinTiepNhan": "",
        "NgayTiepNhanBoSung": "",
        "TrangThaiBoSung": "0",
        "DanhSachGiayToBoSung": [copy.deepcopy(TD_BODY["TaiLieuNop"][0])],
        "DanhSachLePhiBoSung": [copy.deepcopy(TD_BODY["DanhSachLePhi"][0])],
        "NgayHenTraTruoc": "20210610170000",
        "NgayHenTraMoi": "",
    }
    others = [
        {"TenGiayTo": "Bản sao", "SoLuong": "2", "LoaiGiayTo": "1"},
        {"TenGiayTo": "Bản chính", "SoLuong": 1, "LoaiGiayTo": 2},
    ]
    check_record(
        {
            **OC_BODY,
            "TrangThaiHoSo": "5",
            "DanhSachHoSoBoSung": [supplement],
            "DanhSachTepDinhKemKhac": others,
        }
    )


@pytest.mark.parametrize("item", [OC_PROGRESS, TD_PROGRESS], ids=["OC", "TD"])
def test_real_clients_progress_items_are_accepted(item: dict[str, Any]) -> None:
    assert check_progress(dict(item)) == item


# --- what no client sends -----------------------------------------------------------------------


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


REFUSED: list[tuple[tuple[Any, ...], Any, str]] = [
    (("TrangThaiHoSo",), 4, "TrangThaiHoSo"),  # a number: every client sends "4"
    (("TrangThaiHoSo",), "11", "TrangThaiHoSo"),
    (("TrangThaiHoSo",), "0", "TrangThaiHoSo"),
    (("TrangThaiHoSo",), " 4", "TrangThaiHoSo"),
    (("TrangThaiHoSo",), "", "TrangThaiHoSo"),  # required
    (("LoaiDoiTuong",), "5", "LoaiDoiTuong"),
    (("LoaiDoiTuong",), 1, "LoaiDoiTuong"),
    (("KenhThucHien",), "4", "KenhThucHien"),
    (("HinhThuc",), "2", "HinhThuc"),  # 0 or 1: the project's old "online" code
    (("HinhThuc",), "3", "HinhThuc"),
    (("HoSoCoThanhPhanSoHoa",), True, "HoSoCoThanhPhanSoHoa"),
    (("HoSoCoThanhPhanSoHoa",), 1, "HoSoCoThanhPhanSoHoa"),
    (("TaiKhoanDuocXacThucVoiVNeID",), "yes", "TaiKhoanDuocXacThucVoiVNeID"),
    (("NgayTiepNhan",), "2025-02-25 14:12:33", "NgayTiepNhan"),
    (("NgayTiepNhan",), "25/02/2025 14:12:33", "NgayTiepNhan"),
    (("NgayHenTra",), "20250230170000", "NgayHenTra"),  # 30 February
    (("NgayHenTra",), 20250304170000, "NgayHenTra"),
    (("ChuHoSo",), "", "ChuHoSo"),
    (("MaHoSo",), "", "MaHoSo"),
    (("MaHoSo",), "000.00.12.H56-250225-\n1", "MaHoSo"),
    (("DonViXuLy",), 12, "DonViXuLy"),
    (("GhiChu",), "x" * 2001, "GhiChu"),
    (("TrichYeuHoSo",), "x" * 1001, "TrichYeuHoSo"),
    (("MaCSDLQuocGia",), "x", "MaCSDLQuocGia"),  # a field no client sends
    (("DSKetNoiCSDL",), {"MaCSDL": "7"}, "DSKetNoiCSDL"),  # not a list
    (("DSKetNoiCSDL", 0, "MaCSDL"), "CSDLQGDC", "MaCSDL"),  # codes are numeric strings
    (("DSKetNoiCSDL", 0, "MaCSDL"), 7, "MaCSDL"),
    (("DinhDanhCHS", 0, "LoaiDinhDanh"), 2, "LoaiDinhDanh"),
    (("DinhDanhCHS", 0, "LoaiDinhDanh"), "3", "LoaiDinhDanh"),
    (("DinhDanhCHS", 0, "SoDinhDanh"), "00000001", "DinhDanhCHS"),  # 8 digits
    (("TaiLieuNop", 0, "IsDeleted"), 0, "IsDeleted"),
    (("TaiLieuNop", 0, "IsDeleted"), "0", "IsDeleted"),
    (("TaiLieuNop", 0, "IsDeleted"), "false", "IsDeleted"),
    (("TaiLieuNop", 0, "DuocSoHoa"), True, "DuocSoHoa"),
    (("TaiLieuNop", 0, "DuocTaiSuDung"), "3", "DuocTaiSuDung"),
    (("TaiLieuNop", 0, "DuocLayTuKhoDMQG"), "2", "DuocLayTuKhoDMQG"),
    (("TaiLieuNop", 0, "TenTepDinhKem"), "x" * 4001, "TenTepDinhKem"),
    (("TaiLieuNop", 0), "a.pdf", "TaiLieuNop[0]"),
    (("DanhSachLePhi", 0, "Gia"), 200000, "Gia"),
    (("DanhSachLePhi", 0, "Gia"), "200.000", "Gia"),
    (("DanhSachLePhi", 0, "LoaiPhiLePhi"), 1, "LoaiPhiLePhi"),
    (("DanhSachTepDinhKemKhac",), [{"TenGiayTo": "a", "DuongDanTepTin": "http://x"}], "DuongDanTepTin"),
    (("DanhSachHoSoBoSung",), [{"MaHoSoBoSung": "1", "NgayBoSung": "20250225141233"}], "MaHoSoBoSung"),
    (("DanhSachHoSoBoSung",), [{"NgayBoSung": "2025-02-25"}], "NgayBoSung"),
    (("DanhSachGiayToKetQua", 0, "TenGiayTo"), "x" * 2001, "TenGiayTo"),
    (("DanhSachGiayToKetQua", 0, "MaGiayToKetQua"), 1, "MaGiayToKetQua"),
]


@pytest.mark.parametrize(("path", "value", "named"), REFUSED, ids=[f"{p}={v!r}"[:60] for p, v, _ in REFUSED])
def test_bodies_no_client_sends_are_refused_naming_the_field(
    path: tuple[Any, ...], value: Any, named: str
) -> None:
    with pytest.raises(Invalid) as refused:
        check_record(_with(TD_BODY, path, value))
    assert named in str(refused.value)
    assert len(str(refused.value)) < 300  # a message, never the whole hostile value


def test_a_malformed_id_number_is_refused_without_being_quoted() -> None:
    malformed = "0010\x0799887766"  # an ID number with a control character
    with pytest.raises(Invalid) as refused:
        check_record(_with(TD_BODY, ("DinhDanhCHS", 0, "SoDinhDanh"), malformed))
    assert "SoDinhDanh" in str(refused.value)
    assert "99887766" not in str(refused.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TrangThai": 4}, "TrangThai"),
        ({"TrangThai": "12"}, "TrangThai"),
        ({"ThoiDiemXuLy": ""}, "ThoiDiemXuLy"),
        ({"ThoiDiemXuLy": "20250227"}, "ThoiDiemXuLy"),
        ({"NguoiXuLy": "x" * 51}, "NguoiXuLy"),
        ({"NgayBatDau": 0}, "NgayBatDau"),
        ({"GhiChu": ""}, "GhiChu"),
    ],
)
def test_progress_items_no_client_sends_are_refused(change: dict[str, Any], named: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_progress({**TD_PROGRESS, **change})
    assert named in str(refused.value)


@pytest.mark.parametrize("body", [None, [], "x", 7, [TD_BODY]])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(Invalid, match="đối tượng JSON"):
        check_record(body)


# --- the connector's own output -----------------------------------------------------------------

AGENCY = "000.00.12.H56"
OPTIONS = mapping.BodyOptions(
    agency_names={AGENCY: "Sở Tư pháp tỉnh Thanh Hóa"},
    database_codes={"citizen.identity": "7"},
    dataset_components={"citizen.identity": ["CCCD"], "result.document": ["GP"]},
    payment_method_codes={"online": "1"},
    result_codes={"1.001612": "KQ.001612"},
)

SUBMITTED: dict[str, Any] = {
    "dossierCode": "000.00.12.H56-250225-10234",
    "agencyCode": AGENCY,
    "procedureCode": "1.001612",
    "procedureName": "Đăng ký khai sinh",
    "receiptNumber": "BN-10234",
    "summary": "Đăng ký khai sinh cho con",
    "applicant": {
        "type": "citizen",
        "name": "Lê Thị Hoa",
        "personalId": "038189001234",
        "phone": "0912345678",
        "address": "Thôn 3, xã Đông Tiến",
    },
    "channel": "online",
    "submittedAt": "2025-02-25T07:00:00Z",
    "receivedAt": "2025-02-25T07:12:33Z",
    "dueAt": "2025-03-04T10:00:00Z",
    "status": 2,
    "documents": [
        {"id": "d1", "name": "Tờ khai", "componentCode": "TK", "url": "https://x.vn/d1", "digitised": True},
        {"id": "d2", "name": "CCCD", "componentCode": "CCCD"},
        {"id": "d3", "name": "Giấy phép cũ", "componentCode": "GP"},
    ],
    "fees": [{"name": "Lệ phí", "amount": 8000, "kind": "charge", "paymentMethod": "online"}],
    "paidOnline": True,
    "vneidVerified": True,
}

# §2 types: every scalar a string; the closed code sets
CODES = {
    "LoaiDoiTuong": {"1", "2", "3", "4"},
    "TrangThaiHoSo": {str(n) for n in range(1, 11)},
    "KenhThucHien": {"1", "2", "3"},
    "HinhThuc": {"0", "1"},
    "HoSoCoThanhPhanSoHoa": {"0", "1"},
    "TaiKhoanDuocXacThucVoiVNeID": {"0", "1"},
    "DuocThanhToanTrucTuyen": {"0", "1", "2"},
}
DOCUMENT_CODES = {
    "IsDeleted": {"False", "True"},
    "DuocSoHoa": {"0", "1"},
    "DuocTaiSuDung": {"0", "1", "2"},
    "DuocLayTuKhoDMQG": {"0", "1"},
}


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    return [value]


def _life() -> list[dict[str, Any]]:
    """A dossier's records through a life with a supplement and a payment request."""
    record = mapping.submitted_record(SUBMITTED, OPTIONS)
    records = [record]
    record = mapping.apply_evidence(
        record,
        [mapping.Collected("citizen.identity"), mapping.Collected("result.document", "12/GP")],
        OPTIONS,
    )
    records.append(record)
    for data in (
        {"status": 4, "changedAt": "2025-02-25T08:00:00Z", "handlingAgencyCode": AGENCY},
        {"status": 5, "changedAt": "2025-02-26T08:00:00Z", "reason": "Bổ sung bản sao"},
        {"status": 4, "changedAt": "2025-02-27T08:00:00Z", "dueAt": "2025-03-05T10:00:00Z"},
        {"status": 6, "changedAt": "2025-02-28T08:00:00Z"},
        {"status": 4, "changedAt": "2025-03-01T08:00:00Z"},
        {"status": 9, "changedAt": "2025-03-02T08:00:00Z"},
    ):
        record = mapping.apply_status(record, data, OPTIONS)
        records.append(record)
    record = mapping.apply_result(
        record,
        {
            "procedureCode": "1.001612",
            "documents": [
                {"id": "r1", "name": "Giấy khai sinh", "url": "https://x.vn/r1", "sha256": "0" * 64}
            ],
        },
        OPTIONS,
    )
    records.append(record)
    records.append(
        mapping.apply_status(
            record, {"status": 10, "changedAt": "2025-03-03T08:00:00Z", "returnMethod": "postal"}, OPTIONS
        )
    )
    return records


def test_the_connectors_records_pass_the_portals_rules_field_by_field() -> None:
    for record in _life():
        assert check_record(copy.deepcopy(record)) == record
        assert all(isinstance(s, str) for s in _scalars(record)), record
        for name, allowed in CODES.items():
            assert record[name] in allowed, (name, record[name])
        for doc in record["TaiLieuNop"]:
            for name, allowed in DOCUMENT_CODES.items():
                assert doc[name] in allowed, (name, doc[name])
        for date in ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayTuChoi", "NgayNopHoSo"):
            assert record[date] == "" or mapping.parse_portal_date(record[date])


def test_the_connectors_record_says_what_section_2_says() -> None:
    final = _life()[-1]
    assert final["TrangThaiHoSo"] == "10"
    assert (final["LoaiDoiTuong"], final["KenhThucHien"], final["HinhThuc"]) == ("1", "2", "1")
    assert final["DonViXuLy"] == "Sở Tư pháp tỉnh Thanh Hóa"  # a name, not the code
    assert final["MaDoiTuong"] == ""  # no portal account in the event: not the personal ID
    assert final["ThongTinKhac"] == ""  # not the address
    assert final["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "038189001234"}]
    assert final["DuocThanhToanTrucTuyen"] == "1"
    assert final["TaiKhoanDuocXacThucVoiVNeID"] == "1"
    assert final["DSKetNoiCSDL"] == [{"MaCSDL": "7"}]
    assert final["DanhSachLePhi"] == [
        {"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "", "HinhThucThu": "1", "Gia": "8000", "LoaiPhiLePhi": "2"}
    ]
    docs = {d["MaThanhPhanHoSo"]: d for d in final["TaiLieuNop"]}
    assert (docs["TK"]["DuocSoHoa"], docs["TK"]["DuocTaiSuDung"], docs["TK"]["DuocLayTuKhoDMQG"]) == (
        "1",
        "0",
        "0",
    )
    assert (docs["CCCD"]["DuocTaiSuDung"], docs["CCCD"]["DuocLayTuKhoDMQG"]) == ("1", "0")
    assert (docs["GP"]["DuocTaiSuDung"], docs["GP"]["DuocLayTuKhoDMQG"], docs["GP"]["MaKetQuaThayThe"]) == (
        "2",
        "1",
        "12/GP",
    )
    (supplement,) = final["DanhSachHoSoBoSung"]
    assert (supplement["NgayBoSung"], supplement["NgayTiepNhanBoSung"], supplement["NgayHenTraMoi"]) == (
        "20250226150000",
        "20250227150000",
        "20250305170000",
    )
    (result,) = final["DanhSachGiayToKetQua"]
    assert (result["MaGiayToKetQua"], result["DuongDanTepTinKetQua"]) == ("KQ.001612", "https://x.vn/r1")
    assert (final["NgayKetThucXuLy"], final["NgayTra"]) == ("20250302150000", "20250303150000")


def test_the_connectors_progress_items_pass_the_portals_rules() -> None:
    item = mapping.progress_fields(
        {
            "dossierCode": IG_CODE,
            "handler": "Trần Thị Bình",
            "handledAt": "2025-02-25T08:00:00Z",
            "content": "Thẩm định hồ sơ",
            "status": 4,
        }
    )
    assert check_progress(dict(item)) == item
    assert all(isinstance(v, str) for v in item.values())
