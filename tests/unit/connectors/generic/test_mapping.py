"""The mapping engine of the configured kinds: requests from the query, replies to records,
"not found" rules; each mistake in the configuration a problem at its path."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.generic.problems import SpecProblem
from connectors.generic.replies import MappingFailed, compile_fields, compile_not_found, map_record
from connectors.generic.spec import rest_spec, soap_spec
from connectors.generic.templates import compile_template, fill, values_of
from router.providers import DataRequest, RequestContext

REPLY: dict[str, Any] = {
    "CongDan": {
        "SoDinhDanh": "001085012345",
        "HoVaTen": {"Ho": "Nguyễn", "ChuDem": None, "Ten": "An"},
        "GioiTinh": "Nữ",
        "NgayThangNamSinh": "1985",
        "NgayCap": datetime.date(2021, 3, 4),
        "DienTich": decimal.Decimal("120.50"),
        "Con": [{"Ten": "Bình"}, {"Ten": "Chi"}],
        "a/b": "slash",
    }
}


def compiled(raw: Any) -> Any:
    problems: list[SpecProblem] = []
    node = compile_fields(raw, ("reply",), problems)
    assert problems == []
    return node


def test_a_request_is_built_from_the_query() -> None:
    problems: list[SpecProblem] = []
    template = compile_template(
        {
            "MaThuaDat": "{subject.parcel_id}",
            "Header": {"MaHoSo": "{dossier}", "Ghi": "{{literal}} {procedure}/{official}"},
            "Fixed": 3,
            "List": ["{requester}", True],
        },
        ("request",),
        ("parcel_id",),
        problems,
    )
    assert problems == []
    request = DataRequest(
        "land.parcel",
        {"parcel_id": "H46-1"},
        RequestContext(
            procedure="1.000001", request_id="r-1", dossier="D-1", official="cb.01", requester="sys"
        ),
    )
    assert fill(template, values_of(request)) == {
        "MaThuaDat": "H46-1",
        "Header": {"MaHoSo": "D-1", "Ghi": "{literal} 1.000001/cb.01"},
        "Fixed": 3,
        "List": ["sys", True],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{subject.plate}", "no value called 'subject.plate'"),
        ("{nobody}", "no value called"),
        ("a } b", "lone"),
    ],
)
def test_a_placeholder_that_names_nothing_is_a_problem_at_its_path(text: str, message: str) -> None:
    problems: list[SpecProblem] = []
    compile_template({"X": text}, ("request",), ("parcel_id",), problems)
    assert [p.path for p in problems] == [("request", "X")]
    assert message in problems[0].message


def test_a_reply_maps_to_the_record() -> None:
    node = compiled(
        {
            "personalId": "/CongDan/SoDinhDanh",
            "fullName": {"join": ["/CongDan/HoVaTen/Ho", "/CongDan/HoVaTen/ChuDem", "/CongDan/HoVaTen/Ten"]},
            "sex": {"path": "/CongDan/GioiTinh", "map": {"Nam": "male", "Nữ": "female"}},
            "dateOfBirth": {"path": "/CongDan/NgayThangNamSinh", "type": "date"},
            "issuedOn": "/CongDan/NgayCap",
            "area": "/CongDan/DienTich",
            "children": {"each": "/CongDan/Con", "item": "/Ten"},
            "named": {"fields": {"first": "/CongDan/Con/0/Ten"}},
            "escaped": "/CongDan/a~1b",
            "missing": {"path": "/CongDan/Khong", "optional": True},
            "source": {"value": "land"},
        }
    )
    assert map_record(node, REPLY) == {
        "personalId": "001085012345",
        "fullName": "Nguyễn An",
        "sex": "female",
        "dateOfBirth": "1985",  # a year alone stays a year
        "issuedOn": "2021-03-04",
        "area": 120.5,
        "children": ["Bình", "Chi"],
        "named": {"first": "Bình"},
        "escaped": "slash",
        "source": "land",
    }


def test_a_path_the_reply_lacks_names_the_path_not_a_value() -> None:
    with pytest.raises(MappingFailed) as raised:
        map_record(compiled({"name": "/CongDan/Khong"}), REPLY)
    assert raised.value.code == "invalid_provider_reply"
    assert "/CongDan/Khong" in raised.value.detail and "/name" in raised.value.detail


def test_a_value_the_map_does_not_list_is_refused_without_quoting_it() -> None:
    with pytest.raises(MappingFailed) as raised:
        map_record(compiled({"sex": {"path": "/CongDan/GioiTinh", "map": {"Nam": "male"}}}), REPLY)
    assert "Nữ" not in raised.value.detail and "/CongDan/GioiTinh" in raised.value.detail


def test_a_value_of_the_wrong_type_is_refused_without_quoting_it() -> None:
    with pytest.raises(MappingFailed) as raised:
        map_record(compiled({"n": {"path": "/CongDan/SoDinhDanh", "type": "boolean"}}), REPLY)
    assert "001085012345" not in raised.value.detail


def test_not_found_rules() -> None:
    problems: list[SpecProblem] = []
    rules = compile_not_found(
        [
            {"fault": "KHONG_TIM_THAY"},
            {"status": 404},
            {"empty": "/items"},
            {"path": "/status", "equals": "0"},
        ],
        ("not_found",),
        problems,
    )
    assert problems == []
    assert rules.fault("Client", "KHONG_TIM_THAY") and not rules.fault("Client", "OTHER")
    assert rules.status(404) and not rules.status(400)
    assert rules.reply({"items": []}) and rules.reply({"status": 0, "items": [1]})
    assert not rules.reply({"status": 1, "items": [1]})


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"a": "CongDan/x"}, ("reply", "a")),  # not a pointer
        ({"a": "/x~2"}, ("reply", "a")),  # a bad escape
        ({"a": {"path": "/x", "join": ["/y"]}}, ("reply", "a")),  # two sources
        ({"a": {"path": "/x", "type": "money"}}, ("reply", "a", "type")),
        ({"a": {"path": "/x", "colour": 1}}, ("reply", "a", "colour")),
        ({"a": 3}, ("reply", "a")),
    ],
)
def test_a_mapping_mistake_is_a_problem_at_its_path(raw: Any, where: tuple[Any, ...]) -> None:
    problems: list[SpecProblem] = []
    compile_fields(raw, ("reply",), problems)
    assert where in [p.path for p in problems]


def test_the_options_of_a_soap_connector_are_checked(tmp_path: Path) -> None:
    _, problems = soap_spec(
        {
            "wsdl": "https://elsewhere.example/land.wsdl",
            "datasets": {"land.parcel": {"reply": {"a": "/x"}, "colour": 1}, "Bad Name": {}},
        },
        tmp_path,
        "https://registry.example/land",
    )
    paths = [p.path for p in problems]
    assert ("wsdl",) in paths  # another host
    assert ("datasets", "land.parcel", "operation") in paths
    assert ("datasets", "land.parcel", "colour") in paths
    assert ("datasets", "Bad Name") in paths


def test_a_rest_connector_needs_a_document_for_an_operation_id(tmp_path: Path) -> None:
    _, problems = rest_spec(
        {"datasets": {"x.y": {"operation": "getX", "reply": {"a": "/a"}, "pages": {"next": "/n"}}}},
        tmp_path,
        "https://registry.example",
    )
    paths = [p.path for p in problems]
    assert ("datasets", "x.y", "operation") in paths
    assert ("datasets", "x.y", "pages") in paths  # pages without a list


NOT_FINITE_OR_OUT_OF_RANGE: list[Any] = [
    decimal.Decimal("1E+400"),
    decimal.Decimal("-1E+309"),
    decimal.Decimal("1E-400"),
    decimal.Decimal("Infinity"),
    decimal.Decimal("NaN"),
    decimal.Decimal("sNaN"),
    float("inf"),
    float("nan"),
]
# text is read as a number only where the mapping gives a type
NOT_FINITE_OR_OUT_OF_RANGE_TEXT = ["1e400", "Infinity", "-inf", "sNaN"]


@pytest.mark.parametrize(
    ("number", "kind"),
    [(n, None) for n in NOT_FINITE_OR_OUT_OF_RANGE]
    + [
        (n, k)
        for n in NOT_FINITE_OR_OUT_OF_RANGE + NOT_FINITE_OR_OUT_OF_RANGE_TEXT
        for k in ("integer", "number")
    ],
)
def test_a_number_not_finite_or_beyond_a_double_is_refused_before_any_conversion(
    number: Any, kind: str | None
) -> None:
    spec: Any = "/n" if kind is None else {"path": "/n", "type": kind}
    with pytest.raises(MappingFailed) as raised:
        map_record(compiled({"n": spec}), {"n": number})
    assert raised.value.code == "invalid_provider_reply"
    assert str(number) not in raised.value.detail


@pytest.mark.parametrize("number", [decimal.Decimal("1E+308"), decimal.Decimal("0E+999999"), "12", "-3.5e2"])
def test_a_number_within_a_doubles_range_maps(number: Any) -> None:
    record = map_record(compiled({"n": {"path": "/n", "type": "number"}}), {"n": number})
    assert record["n"] == decimal.Decimal(number)


def test_an_xpath_number_that_is_not_a_number_is_refused() -> None:
    from lxml import etree

    from connectors.generic.replies import Source

    problems: list[SpecProblem] = []
    node = compile_fields(
        {"n": {"xpath": "number(x:Khong)", "type": "number"}},
        ("reply",),
        problems,
        namespaces={"x": "urn:x"},
    )
    assert problems == []
    element = etree.fromstring(b'<r xmlns="urn:x"/>')
    with pytest.raises(MappingFailed):
        map_record(node, Source({}, element))


@pytest.mark.parametrize(
    ("owner", "kind"),
    [("001085012345", "person"), ("0100109106", "enterprise"), ("0100109106-001", "enterprise")],
)
def test_a_value_is_mapped_by_its_identifier_format(owner: str, kind: str) -> None:
    node = compiled(
        {"kind": {"path": "/Id", "formats": {"vn-personal-id": "person", "vn-tax-code": "enterprise"}}}
    )
    assert map_record(node, {"Id": owner}) == {"kind": kind}


def test_a_value_of_none_of_the_formats_is_an_invalid_reply_that_does_not_quote_it() -> None:
    node = compiled({"kind": {"path": "/Id", "formats": {"vn-personal-id": "person"}}})
    with pytest.raises(MappingFailed) as failed:
        map_record(node, {"Id": "29A-123.45"})
    assert "/Id" in failed.value.detail and "29A" not in failed.value.detail


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"path": "/Id", "formats": {"vn-plate": "x"}}, "no identifier format 'vn-plate'"),
        ({"path": "/Id", "formats": []}, "formats maps identifier formats"),
        ({"path": "/Id", "formats": {"vn-tax-code": "x"}, "map": {"a": "b"}}, "map or formats, not both"),
    ],
)
def test_formats_mistakes_are_problems(raw: dict[str, Any], message: str) -> None:
    problems: list[SpecProblem] = []
    compile_fields({"kind": raw}, ("reply",), problems)
    assert any(message in p.message for p in problems), problems


def soap_dataset(entry: dict[str, Any], keys: tuple[str, ...] = ("plate",)) -> tuple[Any, list[SpecProblem]]:
    options = {"wsdl": "http://127.0.0.1:9/x?wsdl", "datasets": {"vehicle.registration": entry}}
    spec, problems = soap_spec(options, Path("."), "http://127.0.0.1:9/x", {"vehicle.registration": keys})
    return spec.datasets.get("vehicle.registration"), problems


def test_declared_key_forms_are_checked_without_quoting_the_key() -> None:
    from connectors.generic.records import check_keys
    from router.providers import InvalidProviderRequest

    spec, problems = soap_dataset(
        {
            "operation": "Op",
            "key_formats": {"plate": {"pattern": "[0-9]{2}[A-Z]-[0-9]{4}"}},
            "reply": {"plate": "/BienSo"},
        }
    )
    assert problems == []
    check_keys(spec, {"plate": "29A-1234"}, "vehicle")
    for bad in ("29A-1234<x/>", "", "../29A-1234"):
        with pytest.raises(InvalidProviderRequest) as refused:
            check_keys(spec, {"plate": bad}, "vehicle")
        assert "plate" in refused.value.detail and (not bad or bad not in refused.value.detail)


@pytest.mark.parametrize(
    ("key_formats", "message"),
    [
        ({"tax_code": "vn-tax-code"}, "the dataset has no key 'tax_code'"),
        ({"plate": "vn-plate"}, "an identifier format or {pattern: ...}"),
        ({"plate": {"pattern": "(["}}, "not a regular expression"),
        ([], "key_formats maps the dataset's keys"),
    ],
)
def test_key_form_mistakes_are_problems(key_formats: Any, message: str) -> None:
    _, problems = soap_dataset({"operation": "Op", "key_formats": key_formats, "reply": {"a": "/a"}})
    assert any(message in p.message for p in problems), problems


def test_several_calls_are_read_under_their_names() -> None:
    spec, problems = soap_dataset(
        {
            "calls": {
                "vehicle": {"operation": "TraCuuPhuongTien", "request": {"BienSo": "{subject.plate}"}},
                "badges": {"operation": "TraCuuPhuHieu", "request": {"BienSo": "{subject.plate}"}},
            },
            "reply": {"plate": "/vehicle/BienSo", "badges": {"each": "/badges/PhuHieu", "optional": True}},
        }
    )
    assert problems == []
    assert [(c.name, c.operation) for c in spec.calls] == [
        ("vehicle", "TraCuuPhuongTien"),
        ("badges", "TraCuuPhuHieu"),
    ]
    assert fill(spec.calls[1].request, {"subject.plate": "29A-1234"}) == {"BienSo": "29A-1234"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"operation": "A", "calls": {"x": {"operation": "B"}}, "reply": {"a": "/x/a"}},
            "one operation or several calls",
        ),
        ({"calls": {"x": {"request": {}}}, "reply": {"a": "/x/a"}}, "the call names its operation"),
        ({"calls": {"x y": {"operation": "B"}}, "reply": {"a": "/x/a"}}, "is not a call's name"),
        (
            {"calls": {"x": {"operation": "B", "reply": {}}}, "reply": {"a": "/x/a"}},
            "a call takes no 'reply'",
        ),
        ({"calls": [], "reply": {"a": "/x/a"}}, "calls maps names to operations"),
    ],
)
def test_calls_mistakes_are_problems(entry: dict[str, Any], message: str) -> None:
    _, problems = soap_dataset(entry)
    assert any(message in p.message for p in problems), problems
