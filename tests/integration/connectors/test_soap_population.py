"""The SOAP adapter against the population database simulator: every operation, reply XSD
validation, WS-Security, and client faults that are not retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.soap import SoapEndpoint, SoapProvider
from router.providers import CallPolicy, InvalidProviderReply, InvalidProviderRequest, ProviderFault
from simulators.population import PATH, WSDL, XSD, create_app
from simulators.registry_data import build
from simulators.server import SimulatorServer
from tests.support.simulators import requests_seen, serving

CITIZEN = build().citizens[3]
HEADER = {"MaYeuCau": "req-1", "MaDVC": "1.000894", "MaDonVi": "000.00.00.H49"}


@pytest.fixture(scope="module")
def population() -> Iterator[SimulatorServer]:
    app, _ = create_app()
    with serving(app) as server:
        yield server


def provider(server: SimulatorServer, **options: object) -> SoapProvider:
    settings: dict[str, object] = {
        "name": "population",
        "wsdl": f"{server.url}{PATH}?wsdl",
        "wsdl_imports": True,
    }
    settings.update(options)
    return SoapProvider(SoapEndpoint(**settings))  # type: ignore[arg-type]


async def test_looks_a_citizen_up_with_the_wsdl_it_serves(population: SimulatorServer) -> None:
    soap = provider(population, reply_xsd=str(XSD))
    try:
        reply = await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": CITIZEN.personal_id})
    finally:
        await soap.aclose()
    person = reply["CongDan"]
    assert reply["MaYeuCau"] == "req-1"
    assert person["SoDinhDanh"] == CITIZEN.personal_id
    assert person["HoVaTen"] == {"Ho": CITIZEN.ho, "ChuDem": CITIZEN.chu_dem, "Ten": CITIZEN.ten}
    assert person["NgayThangNamSinh"] == CITIZEN.date_of_birth
    assert person["ThuongTru"]["TinhThanh"] == CITIZEN.permanent.province
    assert person["NoiOHienTai"]["DiaChiDayDu"] == CITIZEN.current.text()


async def test_verifies_an_identity_from_a_wsdl_file(population: SimulatorServer) -> None:
    soap = provider(population, wsdl=str(WSDL), address=f"{population.url}{PATH}", wsdl_imports=False)
    request = {**HEADER, "SoDinhDanh": CITIZEN.personal_id, "HoVaTen": CITIZEN.full_name.upper()}
    try:
        good = await soap.call("XacThucCongDan", {**request, "NgayThangNamSinh": CITIZEN.date_of_birth})
        year = await soap.call("XacThucCongDan", {**request, "NgayThangNamSinh": CITIZEN.date_of_birth[:4]})
        bad = await soap.call(
            "XacThucCongDan", {**request, "HoVaTen": "Nguyễn Văn Khác", "NgayThangNamSinh": "1900-01-01"}
        )
    finally:
        await soap.aclose()
    assert good["KetQua"] is True and year["KetQua"] is True
    assert bad == {"MaYeuCau": "req-1", "KetQua": False, "TruongSaiLech": ["HoVaTen", "NgayThangNamSinh"]}


async def test_an_unknown_citizen_is_a_client_fault_that_is_not_retried(population: SimulatorServer) -> None:
    soap = provider(population, policy=CallPolicy(max_attempts=4))
    before = requests_seen(population.url)
    try:
        with pytest.raises(ProviderFault) as caught:
            await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": "001099000000"})
    finally:
        await soap.aclose()
    fault = caught.value
    assert (fault.fault_code, fault.message, fault.retryable) == ("Client", "KHONG_TIM_THAY", False)
    assert fault.fault_detail is not None and "001099000000" in fault.fault_detail
    assert requests_seen(population.url) - before == 1


async def test_a_payload_that_does_not_fit_the_wsdl_is_refused_before_sending(
    population: SimulatorServer,
) -> None:
    soap = provider(population)
    before = requests_seen(population.url)
    try:
        with pytest.raises(InvalidProviderRequest):
            await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": CITIZEN.personal_id, "Unknown": "x"})
        with pytest.raises(InvalidProviderRequest):
            await soap.call("NoSuchOperation", {})
    finally:
        await soap.aclose()
    assert requests_seen(population.url) == before


async def test_a_reply_that_breaks_the_xsd_is_invalid(population: SimulatorServer, tmp_path: Path) -> None:
    # the simulator's reply checked against a stricter schema: the date of birth must be 1800s
    strict = XSD.read_text(encoding="utf-8").replace(
        '<xs:element name="NgayThangNamSinh" type="tns:NgaySinh"/>',
        '<xs:element name="NgayThangNamSinh"><xs:simpleType><xs:restriction base="xs:string">'
        '<xs:pattern value="18[0-9]{2}"/></xs:restriction></xs:simpleType></xs:element>',
    )
    assert strict != XSD.read_text(encoding="utf-8")
    path = tmp_path / "strict.xsd"
    path.write_text(strict, encoding="utf-8")
    soap = provider(population, reply_xsd=str(path))
    try:
        with pytest.raises(InvalidProviderReply, match="schema") as caught:
            await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": CITIZEN.personal_id})
        # where, never the value: libxml2's own message quotes the date of birth
        assert "NgayThangNamSinh" in caught.value.detail
        assert CITIZEN.date_of_birth not in caught.value.detail
    finally:
        await soap.aclose()


async def test_ws_security_username_token() -> None:
    app, _ = create_app(credentials=("motcua", "s3cret"))
    with serving(app) as server:
        right = provider(server, username="motcua", password="s3cret")
        wrong = provider(server, username="motcua", password="nope")
        try:
            reply = await right.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": CITIZEN.personal_id})
            with pytest.raises(ProviderFault) as refused:
                await wrong.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": CITIZEN.personal_id})
            assert "UNAUTHENTICATED" in refused.value.operator_text
        finally:
            await right.aclose()
            await wrong.aclose()
    assert reply["CongDan"]["SoDinhDanh"] == CITIZEN.personal_id


def test_the_data_is_deterministic() -> None:
    assert build().citizens[3] == CITIZEN
    assert isinstance(CITIZEN.date_of_birth, str)


async def test_a_year_only_date_of_birth_and_an_address_without_a_district(
    population: SimulatorServer,
) -> None:
    # the law since 1 July 2025: the population database gives some dates of birth as the year
    # alone, and addresses of the two-level administration have no district
    citizen = next(
        c
        for c in build().citizens
        if len(c.date_of_birth) == 4 and c.permanent.district is not None and c.current.district is None
    )
    soap = provider(population, reply_xsd=str(XSD))
    try:
        reply = await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": citizen.personal_id})
    finally:
        await soap.aclose()
    person = reply["CongDan"]
    assert person["NgayThangNamSinh"] == citizen.date_of_birth
    assert len(person["NgayThangNamSinh"]) == 4 and person["NgayThangNamSinh"].isdigit()
    assert person["ThuongTru"]["QuanHuyen"] == citizen.permanent.district
    assert person["NoiOHienTai"].get("QuanHuyen") is None
    assert person["NoiOHienTai"]["DiaChiDayDu"] == citizen.current.text()
