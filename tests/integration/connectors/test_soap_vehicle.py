"""The SOAP adapter against the road-transport registry simulator: every operation (replies
checked against the simulator's XSD), data that agrees with the other registries, a not-found
client fault that is not retried, and an outage with the server really stopped."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from adapters.soap import SoapEndpoint, SoapProvider
from router.metrics import CircuitState
from router.providers import CallPolicy, CircuitOpen, ProviderFault, ProviderUnavailable
from router.subscriptions import BreakerPolicy
from simulators.registry_data import build
from simulators.server import SimulatorServer
from simulators.vehicle import PATH, WSDL, XSD, create_app
from tests.support.simulators import requests_seen, serving

REGISTRY = build()
BADGE = REGISTRY.badges[0]
TRUCK = REGISTRY.vehicle(BADGE.plate)
CAR = next(v for v in REGISTRY.vehicles if REGISTRY.citizen(v.owner_id) is not None)
LICENCE = next(lic for lic in REGISTRY.licences if lic.number == BADGE.licence)
HEADER = {"MaYeuCau": "req-7", "MaDVC": "1.001234", "MaDonVi": "000.00.00.H49"}
FAST = CallPolicy(
    max_attempts=3,
    initial_backoff_s=0.01,
    max_backoff_s=0.02,
    breaker=BreakerPolicy(failure_threshold=3, reset_timeout_s=30),
)


@pytest.fixture(scope="module")
def transport() -> Iterator[SimulatorServer]:
    app, _ = create_app()
    with serving(app) as server:
        yield server


def provider(server: SimulatorServer, **options: object) -> SoapProvider:
    settings: dict[str, object] = {
        "name": "vehicle",
        "wsdl": f"{server.url}{PATH}?wsdl",
        "wsdl_imports": True,
        "reply_xsd": str(XSD),
        "policy": FAST,
    }
    settings.update(options)
    return SoapProvider(SoapEndpoint(**settings))  # type: ignore[arg-type]


async def test_every_operation(transport: SimulatorServer) -> None:
    assert TRUCK is not None
    soap = provider(transport)
    try:
        vehicle = await soap.call("TraCuuPhuongTien", {**HEADER, "BienSo": TRUCK.plate})
        licence = await soap.call("TraCuuGiayPhepKinhDoanh", {**HEADER, "MaSoThue": LICENCE.tax_code})
        badges = await soap.call("TraCuuPhuHieu", {**HEADER, "BienSo": TRUCK.plate})
        none = await soap.call("TraCuuPhuHieu", {**HEADER, "BienSo": CAR.plate})
    finally:
        await soap.aclose()
    assert vehicle["MaYeuCau"] == "req-7"
    assert vehicle["PhuongTien"] == {
        "BienSo": TRUCK.plate,
        "ChuSoHuu": {"MaDinhDanh": TRUCK.owner_id, "Ten": TRUCK.owner_name},
        "LoaiXe": TRUCK.kind,
        "NhanHieu": TRUCK.brand,
        "SoChoNgoi": TRUCK.seats,
        "NamSanXuat": TRUCK.manufactured,
        "HanKiemDinh": TRUCK.inspection_expiry,
    }
    assert licence["GiayPhep"]["SoGiayPhep"] == LICENCE.number
    assert licence["GiayPhep"]["LoaiHinhKinhDoanh"] == list(LICENCE.kinds)
    assert licence["GiayPhep"]["NgayHetHan"] == LICENCE.expires_on
    assert [b["SoPhuHieu"] for b in badges["PhuHieu"]] == [b.number for b in REGISTRY.badges_of(TRUCK.plate)]
    assert badges["PhuHieu"][0]["HanSuDung"] == BADGE.valid_until
    assert none["PhuHieu"] == []


def test_the_registries_agree() -> None:
    # the truck's owner is an enterprise of the business registry whose representative is a citizen
    assert TRUCK is not None
    firm = REGISTRY.enterprise(TRUCK.owner_id)
    assert firm is not None and REGISTRY.citizen(firm.legal_representative) is not None
    assert LICENCE.tax_code == firm.tax_code
    assert CAR.owner_name == REGISTRY.citizen(CAR.owner_id).full_name  # type: ignore[union-attr]
    assert isinstance(TRUCK.inspection_expiry, datetime.date)


async def test_not_found_and_bad_input_are_client_faults_not_retried(transport: SimulatorServer) -> None:
    soap = provider(transport, policy=CallPolicy(max_attempts=4))
    before = requests_seen(transport.url)
    try:
        with pytest.raises(ProviderFault) as missing:
            await soap.call("TraCuuPhuongTien", {**HEADER, "BienSo": "99Z-999.99"})
        unlicensed = REGISTRY.enterprises[-2].tax_code  # not a transport company
        with pytest.raises(ProviderFault) as no_licence:
            await soap.call("TraCuuGiayPhepKinhDoanh", {**HEADER, "MaSoThue": unlicensed})
    finally:
        await soap.aclose()
    assert (missing.value.fault_code, missing.value.message, missing.value.retryable) == (
        "Client",
        "KHONG_TIM_THAY",
        False,
    )
    assert missing.value.fault_detail is not None and "99Z-999.99" in missing.value.fault_detail
    assert no_licence.value.message == "KHONG_TIM_THAY"
    assert requests_seen(transport.url) - before == 2


async def test_a_stopped_server_is_retried_then_the_circuit_opens() -> None:
    assert TRUCK is not None
    app, _ = create_app()
    with serving(app) as server:
        soap = provider(server, wsdl=str(WSDL), address=f"{server.url}{PATH}", wsdl_imports=False)
        reply = await soap.call("TraCuuPhuongTien", {**HEADER, "BienSo": TRUCK.plate})
        assert reply["PhuongTien"]["BienSo"] == TRUCK.plate
    # the server is stopped: its port refuses connections
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await soap.call("TraCuuPhuHieu", {**HEADER, "BienSo": TRUCK.plate})
        assert type(caught.value) is ProviderUnavailable
        assert soap.guard.attempts == 1 + 3
        assert soap.guard.breaker.state is CircuitState.OPEN
        with pytest.raises(CircuitOpen):
            await soap.call("TraCuuPhuHieu", {**HEADER, "BienSo": TRUCK.plate})
        assert soap.guard.attempts == 4
    finally:
        await soap.aclose()
