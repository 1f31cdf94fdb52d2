"""Outbound credentials built from a connector's configuration, against real servers on loopback:
the gateway simulator's token endpoint (OAuth2 client credentials, Basic or form), the business
registry behind a header log (bearer, API key, HTTP Basic), the population registry demanding a
WS-Security UsernameToken. Secrets come from environment variables or files and never appear in
an error."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from adapters.outbound_auth import OAuth2Auth, OAuth2ClientCredentials, OutboundAuth, ws_security
from adapters.rest import RestEndpoint, RestProvider
from adapters.soap import SoapEndpoint, SoapProvider
from connectors.base import ConnectorDeps, ConnectorSettings, PlatformSettings, TlsFiles
from connectors.client_auth import outbound_auth
from connectors.kinds import builder
from router.errors import ConfigError
from router.providers import (
    CallPolicy,
    DataRequest,
    ProviderAuthFailed,
    ProviderAuthUnavailable,
    ProviderFault,
)
from simulators import business, population
from simulators.gateway import Gateway, create_gateway
from simulators.population import PATH, WSDL, XSD
from simulators.registry_data import build
from simulators.server import ServerTls, SimulatorServer
from tests.support.evidence import registry_connector
from tests.support.simulators import HeaderLog, serving
from tests.support.tls import new_authority

REGISTRY = build()
FIRM = REGISTRY.enterprises[1]
CITIZEN = REGISTRY.citizens[3]
KEY, SECRET = "consumer-key", "consumer-secret-never-shown"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[Gateway, SimulatorServer]]:
    state = Gateway(services={}, consumer_key=KEY, consumer_secret=SECRET)
    with serving(create_gateway(state)[0]) as server:
        yield state, server


@pytest.fixture(autouse=True)
def fresh(gateway: tuple[Gateway, SimulatorServer]) -> None:
    gateway[0].reset()
    gateway[0].issuer_mode = "up"


def grant(server: SimulatorServer, **options: object) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(f"{server.url}/token", KEY, SECRET, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("client_auth", ["basic", "form"])
async def test_a_token_is_fetched_once_with_basic_or_form_credentials(
    gateway: tuple[Gateway, SimulatorServer], client_auth: str
) -> None:
    state, server = gateway
    auth = OAuth2Auth(grant(server, client_auth=client_auth), name="registry")
    try:
        first = await auth.headers()
        assert first["Authorization"].startswith("Bearer ")
        assert await auth.headers() == first
    finally:
        await auth.aclose()
    assert state.record.tokens_issued == 1
    assert state.record.token_client_auth == [client_auth]


async def test_fifty_callers_at_expiry_share_one_token_request(
    gateway: tuple[Gateway, SimulatorServer],
) -> None:
    state, server = gateway
    now = [0.0]
    auth = OAuth2Auth(grant(server), name="registry", clock=lambda: now[0])
    try:
        before = await auth.headers()
        now[0] = 10_000.0  # past the token's lifetime (300 s): every caller finds it due
        after = await asyncio.gather(*(auth.headers() for _ in range(50)))
    finally:
        await auth.aclose()
    assert state.record.token_requests == 2
    assert {h["Authorization"] for h in after} != {before["Authorization"]}
    assert len({h["Authorization"] for h in after}) == 1


async def test_a_401_renews_once_for_every_caller_refused_with_the_same_token(
    gateway: tuple[Gateway, SimulatorServer],
) -> None:
    state, server = gateway
    auth = OAuth2Auth(grant(server), name="registry")

    async def refused_then_renewed() -> str:
        await auth.headers()
        await asyncio.sleep(0)  # every caller holds the old token before any renews it
        assert await auth.refresh_after_unauthorized()
        return (await auth.headers())["Authorization"]

    try:
        renewed = await asyncio.gather(*(refused_then_renewed() for _ in range(20)))
    finally:
        await auth.aclose()
    assert state.record.token_requests == 2
    assert len(set(renewed)) == 1


async def test_twenty_callers_waiting_on_a_token_endpoint_down_share_its_one_failed_request(
    gateway: tuple[Gateway, SimulatorServer],
) -> None:
    state, server = gateway
    state.issuer_mode = "down"
    auth = OAuth2Auth(grant(server), name="registry")
    try:
        failed = await asyncio.gather(*(auth.headers() for _ in range(20)), return_exceptions=True)
        assert state.record.token_requests == 1
        assert all(isinstance(error, ProviderAuthUnavailable) for error in failed)
        # a later caller asks again: the endpoint may be back
        state.issuer_mode = "up"
        assert (await auth.headers())["Authorization"].startswith("Bearer ")
    finally:
        await auth.aclose()
    assert state.record.token_requests == 2


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("down", ProviderAuthUnavailable),
        ("html", ProviderAuthFailed),
        ("garbage", ProviderAuthFailed),
        ("huge", ProviderAuthFailed),
    ],
)
async def test_a_token_endpoint_down_or_answering_garbage_is_a_stable_error_without_the_secret(
    gateway: tuple[Gateway, SimulatorServer], mode: str, error: type[Exception]
) -> None:
    state, server = gateway
    state.issuer_mode = mode
    auth = OAuth2Auth(grant(server), name="registry")
    try:
        with pytest.raises(error) as caught:
            await auth.headers()
    finally:
        await auth.aclose()
    assert SECRET not in str(caught.value) and KEY not in str(caught.value)
    assert "registry" in str(caught.value)


async def test_wrong_credentials_and_an_unreachable_endpoint(
    gateway: tuple[Gateway, SimulatorServer],
) -> None:
    _, server = gateway
    wrong = OAuth2Auth(OAuth2ClientCredentials(f"{server.url}/token", KEY, "not-the-secret"), name="registry")
    gone = OAuth2Auth(OAuth2ClientCredentials("http://127.0.0.1:9/token", KEY, SECRET), name="registry")
    try:
        with pytest.raises(ProviderAuthFailed, match="refused the client credentials"):
            await wrong.headers()
        with pytest.raises(ProviderAuthUnavailable, match="cannot be reached"):
            await gone.headers()
    finally:
        await wrong.aclose()
        await gone.aclose()


def settings(auth: dict[str, object], **options: object) -> ConnectorSettings:
    return ConnectorSettings(
        name="registry",
        kind="rest",
        url="http://127.0.0.1",
        auth=auth,
        **options,  # type: ignore[arg-type]
    )


async def test_bearer_api_key_and_basic_from_env_and_files_reach_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TOKEN", "static-token")
    monkeypatch.setenv("REGISTRY_USER", "motcua")
    (tmp_path / "key").write_text("file-key\n")
    (tmp_path / "password").write_text("pässword\n")
    auth = outbound_auth(
        settings(
            {
                "bearer": {"env": "REGISTRY_TOKEN"},
                "api_key": {"header": "X-Gateway-Key", "file": str(tmp_path / "key")},
                "basic": {
                    "username": {"env": "REGISTRY_USER"},
                    "password": {"file": str(tmp_path / "password")},
                },
            }
        )
    )
    log = HeaderLog(business.create_app()[0])
    with serving(log) as server:
        rest = RestProvider(RestEndpoint(name="registry", base_url=server.url, auth=auth))
        try:
            await rest.get(f"/api/v1/enterprises/{FIRM.tax_code}")
        finally:
            await rest.aclose()
    seen = log.requests[-1]
    assert seen["x-gateway-key"] == "file-key"
    # bearer and basic both set Authorization: the later one (basic) is sent
    assert seen["authorization"] == "Basic " + base64.b64encode("motcua:pässword".encode()).decode()


async def test_a_ws_security_username_token_opens_a_registry_that_demands_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POPULATION_USER", "motcua")
    monkeypatch.setenv("POPULATION_PASSWORD", "s3cret")
    configured = outbound_auth(
        settings(
            {
                "ws_security": {
                    "username": {"env": "POPULATION_USER"},
                    "password": {"env": "POPULATION_PASSWORD"},
                }
            }
        )
    )
    with serving(population.create_app(credentials=("motcua", "s3cret"))[0]) as server:
        policy = CallPolicy(max_attempts=1)

        def endpoint(auth: OutboundAuth | None) -> SoapEndpoint:
            address = f"{server.url}{PATH}"
            return SoapEndpoint(
                "population", str(WSDL), address, policy=policy, reply_xsd=str(XSD), auth=auth
            )

        allowed = SoapProvider(endpoint(configured))
        refused = SoapProvider(endpoint(ws_security("motcua", "wrong")))
        header = {"MaYeuCau": "r1", "MaDVC": "1.004194", "MaDonVi": "000.00.00.H49"}
        try:
            reply = await allowed.call("TraCuuCongDan", {**header, "SoDinhDanh": CITIZEN.personal_id})
            assert reply
            with pytest.raises(ProviderFault) as caught:
                await refused.call("TraCuuCongDan", {**header, "SoDinhDanh": CITIZEN.personal_id})
            assert caught.value.fault_code == "Client"
        finally:
            await allowed.aclose()
            await refused.aclose()


def test_a_missing_secret_names_the_variable_or_the_file_never_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        outbound_auth(settings({"bearer": {"env": "NOT_SET_ANYWHERE"}}))
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="absent"):
        outbound_auth(settings({"bearer": {"file": str(missing)}}))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        outbound_auth(settings({"api_key": {"file": str(tmp_path / "empty")}}))
    monkeypatch.setenv("LGSP_KEY", "the-key-value")
    platform = PlatformSettings(
        name="lgsp",
        service="land",
        token_url="http://127.0.0.1/token",
        consumer_key={"env": "LGSP_KEY"},
        consumer_secret={"env": "LGSP_SECRET_NOT_SET"},
    )
    with pytest.raises(ConfigError) as caught:
        outbound_auth(settings({}, platform=platform))
    assert "LGSP_SECRET_NOT_SET" in str(caught.value) and "the-key-value" not in str(caught.value)


async def test_a_platform_over_mutual_tls_with_a_private_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway on HTTPS asks for a client certificate from the private CA: the connector
    built with the platform's TLS gets its token and its record; without the certificate the
    token endpoint is out of reach (provider_auth_unavailable) and nothing reaches the registry."""
    ca = new_authority(tmp_path, "platform test CA")
    server_files = ca.issue(tmp_path, "gateway", server=True)
    bus = ca.issue(tmp_path, "bus", server=False)
    monkeypatch.setenv("LGSP_KEY", KEY)
    monkeypatch.setenv("LGSP_SECRET", SECRET)
    with serving(business.create_app()[0]) as registry:
        state = Gateway(
            services={"business": ("/dkdn/1.0", registry.url)}, consumer_key=KEY, consumer_secret=SECRET
        )
        tls = ServerTls(str(server_files.cert), str(server_files.key), client_ca=str(ca.cert))
        gateway = SimulatorServer(create_gateway(state)[0], tls=tls).start()
        try:
            platform = PlatformSettings(
                name="lgsp",
                service="business",
                token_url=f"{gateway.url}/token",
                consumer_key={"env": "LGSP_KEY"},
                consumer_secret={"env": "LGSP_SECRET"},
            )
            records: list[object] = []
            for files in (
                TlsFiles(ca_file=str(ca.cert), client_cert=(str(bus.cert), str(bus.key))),
                TlsFiles(ca_file=str(ca.cert)),
            ):
                connector = builder("rest")(
                    ConnectorSettings(
                        name="business",
                        kind="rest",
                        url=f"{gateway.url}/dkdn/1.0",
                        options=registry_connector("business", "http://unused")["options"],
                        call_policy=CallPolicy(max_attempts=1),
                        tls=files,
                        platform=platform,
                    ),
                    ConnectorDeps(CollectorRegistry(), tmp_path),
                )
                provider = connector.provider()
                assert provider is not None
                try:
                    records.append(
                        await provider.fetch(
                            DataRequest("business.registration", {"tax_code": FIRM.tax_code})
                        )
                    )
                except ProviderAuthUnavailable as error:
                    records.append(error)
                finally:
                    await connector.aclose()
        finally:
            gateway.stop()
    first = records[0]
    assert isinstance(first, dict) and first["taxCode"] == FIRM.tax_code
    assert isinstance(records[1], ProviderAuthUnavailable)
    assert state.record.tokens_issued == 1
    assert [call.status for call in state.record.calls] == [200]
