"""The SOAP adapter with a WSDL nobody here wrote: the EU VIES checkVat service, against a local
stand-in answering per that WSDL, with its SOAP faults."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from adapters.soap import SoapEndpoint, SoapProvider
from router.providers import CallPolicy, ProviderFault
from simulators.server import SimulatorServer
from tests.support.simulators import requests_seen, serving
from tests.support.vies import PATH, WSDL, Vies, create_app

RETRYABLE = frozenset({"MS_UNAVAILABLE", "TIMEOUT", "SERVICE_UNAVAILABLE", "MS_MAX_CONCURRENT_REQ"})


@pytest.fixture(scope="module")
def vies() -> Iterator[tuple[Vies, SimulatorServer]]:
    stand_in = Vies()
    app, _ = create_app(stand_in)
    with serving(app) as server:
        yield stand_in, server


def provider(server: SimulatorServer) -> SoapProvider:
    return SoapProvider(
        SoapEndpoint(
            name="vies",
            wsdl=str(WSDL),
            address=f"{server.url}{PATH}",
            retryable_faults=RETRYABLE,
            policy=CallPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02),
        )
    )


async def test_check_vat(vies: tuple[Vies, SimulatorServer]) -> None:
    soap = provider(vies[1])
    try:
        known = await soap.call("checkVat", {"countryCode": "BE", "vatNumber": "0403170701"})
        unknown = await soap.call("checkVat", {"countryCode": "DE", "vatNumber": "123456789"})
    finally:
        await soap.aclose()
    assert known["valid"] is True and known["name"] == "SA ODOO"
    assert isinstance(known["requestDate"], datetime.date)
    assert unknown["valid"] is False


async def test_invalid_input_is_a_fault_that_is_not_retried(vies: tuple[Vies, SimulatorServer]) -> None:
    _, server = vies
    soap = provider(server)
    before = requests_seen(server.url)
    try:
        with pytest.raises(ProviderFault) as caught:
            await soap.call("checkVat", {"countryCode": "be", "vatNumber": "?"})
    finally:
        await soap.aclose()
    fault = caught.value
    assert (fault.fault_code, fault.message, fault.retryable, fault.code) == (
        "Server",
        "INVALID_INPUT",
        False,
        "provider_fault",
    )
    assert requests_seen(server.url) - before == 1


@pytest.mark.parametrize("code", ["MS_UNAVAILABLE", "TIMEOUT"])
async def test_unavailable_member_states_are_retried(vies: tuple[Vies, SimulatorServer], code: str) -> None:
    stand_in, server = vies
    soap = provider(server)
    before = requests_seen(server.url)
    stand_in.fail_next = [code, code]
    try:
        reply = await soap.call("checkVat", {"countryCode": "BE", "vatNumber": "0403170701"})
        assert requests_seen(server.url) - before == 3
        stand_in.fail_next = [code] * 5
        with pytest.raises(ProviderFault) as caught:
            await soap.call("checkVat", {"countryCode": "BE", "vatNumber": "0403170701"})
    finally:
        stand_in.fail_next = []
        await soap.aclose()
    assert reply["valid"] is True
    assert caught.value.message == code and caught.value.retryable
    assert requests_seen(server.url) - before == 6
