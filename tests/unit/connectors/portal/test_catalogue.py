"""Reading the portal's catalogue replies (connectors.portal.catalogue): the shapes of §2.6 and
§2.7 taken, anything else refused with where and what."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.portal.catalogue import CatalogueError, read_list, read_procedure, read_register


def _procedure(**overrides: Any) -> dict[str, Any]:
    return {
        "MATTHC": "1.000894",
        "TENTTHC": "Đăng ký khai sinh",
        "MACOQUANCONGBO": "000.00.00.H49",
        "TRANGTHAI": 1,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": "G09-TP01", "TENLINHVUC": "Hộ tịch"}],
        "CACHTHUCTHUCHIEN": [
            {"KENH": 1, "THOIGIAN": [{"THOIGIANGIAIQUYET": 3, "DONVITINH": "Ngày làm việc"}]},
            {"KENH": "2", "THOIGIAN": [{"THOIGIANGIAIQUYET": "8", "DONVITINH": "Giờ"}]},
        ],
        "COQUANTHUCHIEN": [{"MADONVI": "000.00.10.H49", "TENDONVI": "UBND xã"}],
        **overrides,
    }


def test_a_procedure_is_read_with_its_channels_and_legal_maximum() -> None:
    entry = read_procedure("1.000894", [_procedure()], 100)
    assert entry is not None
    assert (entry.online, entry.channels, entry.max_hours) == (True, (1, 2), 72.0)
    assert (entry.fields, entry.performers, entry.published) == (("G09-TP01",), ("000.00.10.H49",), True)


def test_an_empty_result_is_a_procedure_the_portal_does_not_have() -> None:
    assert read_procedure("1.000894", [], 100) is None


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_procedure(MATTHC="1.000895"), "the reply is of another procedure"),
        (_procedure(CACHTHUCTHUCHIEN={"KENH": 1}), "CACHTHUCTHUCHIEN: expected an array"),
        (_procedure(CACHTHUCTHUCHIEN=[{"KENH": "web"}]), "CACHTHUCTHUCHIEN[0].KENH: expected a channel"),
        (_procedure(TENTTHC="x" * 2001), "TENTTHC: 2001 characters, more than 2000"),
        (_procedure(COQUANTHUCHIEN=["000.00.10.H49"]), "COQUANTHUCHIEN[0]: expected an object"),
    ],
)
def test_a_malformed_procedure_is_refused_naming_where(item: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_procedure("1.000894", [item], 100)


def test_lists_are_bounded_and_checked() -> None:
    assert read_list([{"MATTHC": "1.1", "TENTTHC": "a"}, {"MATTHC": "1.1", "TENTTHC": "b"}], 10) == {
        "1.1": "a"
    }
    with pytest.raises(CatalogueError, match="3 items, more than the 2 allowed"):
        read_list([{"MATTHC": str(n), "TENTTHC": "a"} for n in range(3)], 2)
    with pytest.raises(CatalogueError, match=r"LayDanhMucCoQuan\[0\].MADONVI: expected a non-empty text"):
        read_register([{"MADONVI": ""}], "LayDanhMucCoQuan", "MADONVI", ("TENDONVI",), 10)
    assert read_register([{"MADONVI": 12}], "LayDanhMucCoQuan", "MADONVI", ("TENDONVI",), 10) == {
        "12": {"TENDONVI": ""}
    }
