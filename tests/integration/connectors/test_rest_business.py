"""The REST adapter against the business registry simulator: lookups validated against a JSON
Schema, client errors not retried, outages retried then the circuit opens, OAuth2 tokens
cached and renewed, XML replies read as JSON."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.outbound_auth import OAuth2ClientCredentials
from adapters.rest import RestEndpoint, RestProvider, compile_schema
from router.metrics import CircuitState
from router.providers import CallPolicy, CircuitOpen, InvalidProviderReply, ProviderFault, ProviderUnavailable
from router.subscriptions import BreakerPolicy
from simulators.business import BusinessRegistry, create_app
from simulators.registry_data import build
from simulators.server import Faults, SimulatorServer
from tests.support.simulators import requests_seen, serving, set_faults

REGISTRY = build()
FIRM = REGISTRY.enterprises[1]
BRANCH = REGISTRY.enterprises[-1]
SCHEMA = compile_schema(
    {
        "type": "object",
        "required": ["maSoDoanhNghiep", "tenDoanhNghiep", "nguoiDaiDienPhapLuat", "tinhTrang"],
        "properties": {
            "maSoDoanhNghiep": {"type": "string", "format": "vn-tax-code"},
            "nguoiDaiDienPhapLuat": {
                "type": "object",
                "properties": {"soDinhDanh": {"type": "string", "format": "vn-personal-id"}},
            },
            "tinhTrang": {"enum": ["active", "suspended", "dissolved"]},
        },
    }
)
FAST = CallPolicy(
    max_attempts=3,
    initial_backoff_s=0.01,
    max_backoff_s=0.02,
    breaker=BreakerPolicy(failure_threshold=3, reset_timeout_s=30),
)


@pytest.fixture(scope="module")
def business() -> Iterator[SimulatorServer]:
    app, _ = create_app()
    with serving(app) as server:
        yield server


def provider(url: str, **options: object) -> RestProvider:
    settings: dict[str, object] = {"name": "business", "base_url": url, "policy": FAST}
    settings.update(options)
    return RestProvider(RestEndpoint(**settings))  # type: ignore[arg-type]


async def test_looks_up_an_enterprise_and_its_branch(business: SimulatorServer) -> None:
    rest = provider(business.url)
    try:
        firm = await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}", schema=SCHEMA)
        branch = await rest.get(
            f"/api/v1/enterprises/{BRANCH.tax_code[:10]}-{BRANCH.tax_code[10:]}", schema=SCHEMA
        )
    finally:
        await rest.aclose()
    assert firm["tenDoanhNghiep"] == FIRM.name
    representative = REGISTRY.citizen(firm["nguoiDaiDienPhapLuat"]["soDinhDanh"])
    assert representative is not None and representative.full_name == firm["nguoiDaiDienPhapLuat"]["hoVaTen"]
    assert [line["maNganh"] for line in firm["nganhNghe"]] == [line.code for line in FIRM.lines]
    assert branch["maSoDoanhNghiep"] == BRANCH.tax_code


async def test_a_bad_check_digit_is_a_client_error_that_is_not_retried(business: SimulatorServer) -> None:
    bad = FIRM.tax_code[:9] + str((int(FIRM.tax_code[9]) + 1) % 10)
    rest = provider(business.url)
    before = requests_seen(business.url)
    try:
        with pytest.raises(ProviderFault) as caught:
            await rest.get(f"/api/v1/enterprises/{bad}")
        with pytest.raises(ProviderFault) as missing:
            await rest.get("/api/v1/enterprises/0100109106")
    finally:
        await rest.aclose()
    assert (caught.value.fault_code, caught.value.retryable) == ("400", False)
    assert "not a valid tax code" in caught.value.message
    assert missing.value.fault_code == "404"
    assert requests_seen(business.url) - before == 2
    assert rest.guard.breaker.state is CircuitState.CLOSED


async def test_a_reply_that_breaks_the_schema_is_invalid(business: SimulatorServer) -> None:
    strict = compile_schema({"type": "object", "properties": {"tinhTrang": {"const": "dissolved"}}})
    rest = provider(business.url)
    try:
        firm = await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}", schema=SCHEMA)
        with pytest.raises(InvalidProviderReply, match="tinhTrang") as caught:
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}", schema=strict)
        # where and which rule, never the value: the reply may be about a person
        assert "'const' rule" in caught.value.detail
        assert firm["tinhTrang"] not in caught.value.detail
    finally:
        await rest.aclose()


async def test_503_is_retried_for_get_but_not_for_post_without_an_idempotency_key() -> None:
    app, _ = create_app(Faults(error_rate=1.0))
    with serving(app) as server:
        policy = CallPolicy(
            max_attempts=3,
            initial_backoff_s=0.01,
            max_backoff_s=0.02,
            breaker=BreakerPolicy(failure_threshold=100),
        )
        rest = provider(server.url, policy=policy)
        try:
            with pytest.raises(ProviderUnavailable):
                await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
            assert requests_seen(server.url) == 3
            with pytest.raises(ProviderUnavailable):
                await rest.request("POST", "/api/v1/enterprises", json={})
            assert requests_seen(server.url) == 4
            with pytest.raises(ProviderUnavailable):
                await rest.request("POST", "/api/v1/enterprises", json={}, idempotency_key="k-1")
            assert requests_seen(server.url) == 7
            set_faults(server.url, Faults())
            assert (await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}"))["tinhTrang"]
        finally:
            await rest.aclose()


async def test_a_stopped_server_opens_the_circuit() -> None:
    app, _ = create_app()
    with serving(app) as server:
        rest = provider(server.url)
        await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
    try:
        with pytest.raises(ProviderUnavailable):
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
        assert rest.guard.attempts == 1 + 3
        assert rest.guard.breaker.state is CircuitState.OPEN
        with pytest.raises(CircuitOpen):
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
        assert rest.guard.attempts == 4
    finally:
        await rest.aclose()


async def test_oauth2_token_is_cached_and_renewed_once_on_401() -> None:
    service = BusinessRegistry(REGISTRY, auth=True)
    app, _ = create_app(service=service)
    with serving(app) as server:
        grant = OAuth2ClientCredentials(f"{server.url}/oauth/token", service.client_id, service.client_secret)
        rest = provider(server.url, oauth2=grant)
        anonymous = provider(server.url)
        try:
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
            assert service.tokens_issued == 1
            service.revoke_tokens()
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
            assert service.tokens_issued == 2
            with pytest.raises(ProviderFault) as caught:
                await anonymous.get(f"/api/v1/enterprises/{FIRM.tax_code}")
            assert caught.value.fault_code == "401"
        finally:
            await rest.aclose()
            await anonymous.aclose()


async def test_api_key_and_xml_replies_read_as_json() -> None:
    async def registry(request: Request) -> Response:
        if request.headers.get("x-api-key") != "k3y":
            return Response(status_code=401)
        return Response(
            b'<?xml version="1.0"?><dn><ma>0100109106</ma><nganh>4933</nganh><nganh>4932</nganh></dn>',
            media_type="application/xml",
        )

    with serving(Starlette(routes=[Route("/dn", registry)])) as server:
        rest = provider(server.url, api_key=("X-Api-Key", "k3y"))
        hostile = provider(server.url)
        try:
            assert await rest.get("/dn", xml=True) == {"ma": "0100109106", "nganh": ["4933", "4932"]}
            with pytest.raises(ProviderFault):
                await hostile.get("/dn", xml=True)
        finally:
            await rest.aclose()
            await hostile.aclose()
