"""Transport security of the citizen data store and portal connectors: built from their settings,
they present the bus's client certificate and trust a private CA (real simulators served over
HTTPS that require a client certificate); the store's connector also authenticates with the API
key its ``auth:`` names, and a store that requires one refuses a caller without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings, TlsFiles
from connectors.citizen_store.connector import ResultProvider, ResultSink
from connectors.citizen_store.connector import from_settings as store_from_settings
from connectors.portal.connector import from_settings as portal_from_settings
from connectors.portal.session import PortalError
from router.errors import ConfigError
from router.ports import StoredMessage
from router.providers import CallPolicy, DataRequest, ProviderError, ProviderUnavailable
from router.received import RECEIVED_AT_HEADER
from router.sinks import SinkError
from router.subscriptions import SinkSpec
from simulators import citizen_store as store_simulator
from simulators import portal as portal_simulator
from simulators.server import ServerTls, SimulatorServer
from tests.support.results import HOLDER_ID, NOW, PROCEDURE, SigningPki, result
from tests.support.tls import Authority, Issued, new_authority

FAST = CallPolicy(timeout_s=5.0, deadline_s=5.0, max_attempts=1)
STORE_KEY = "store-key-for-the-test-0123456789"
KEY_ENV = "LIENTHONG_TEST_STORE_KEY"
USER_ENV, PASSWORD_ENV = "LIENTHONG_TEST_PORTAL_USER", "LIENTHONG_TEST_PORTAL_PASSWORD"


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca: Authority = new_authority(folder, "lienthong test CA")
        self.server: Issued = self.ca.issue(folder, "store", server=True)
        self.bus: Issued = self.ca.issue(folder, "bus", server=False)

    def server_tls(self) -> ServerTls:
        return ServerTls(str(self.server.cert), str(self.server.key), client_ca=str(self.ca.cert))

    def mutual(self) -> TlsFiles:
        return TlsFiles(ca_file=str(self.ca.cert), client_cert=(str(self.bus.cert), str(self.bus.key)))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def signing() -> SigningPki:
    return SigningPki()


@pytest.fixture(scope="module")
def store(pki: Pki) -> Iterator[SimulatorServer]:
    app, _ = store_simulator.create_app(api_key=STORE_KEY)
    server = SimulatorServer(app, tls=pki.server_tls()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def portal(pki: Pki) -> Iterator[SimulatorServer]:
    app, _ = portal_simulator.create_app()
    server = SimulatorServer(app, tls=pki.server_tls()).start()
    yield server
    server.stop()


def store_settings(
    url: str, tls: TlsFiles, anchors: Path, *, auth: dict[str, object] | None = None
) -> ConnectorSettings:
    return ConnectorSettings(
        name="kho",
        kind="citizen_store",
        url=url,
        call_policy=FAST,
        options={"trust_anchors": str(anchors)},
        tls=tls,
        auth={"api_key": {"env": KEY_ENV}} if auth is None else auth,
    )


def issued(signing: SigningPki, number: int) -> StoredMessage:
    data = signing.signed(result(number))
    headers = (
        ("ce_type", b"dossier.result.issued"),
        ("ce_id", f"r-{number}".encode()),
        (RECEIVED_AT_HEADER, str(int(NOW.timestamp() * 1000)).encode()),
    )
    return StoredMessage("deliver.kho", 0, number, "k", orjson.dumps(data), headers, 0)


async def test_the_store_connector_presents_its_certificate_and_key(
    pki: Pki, signing: SigningPki, store: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, STORE_KEY)
    assert store.url.startswith("https://")
    anchors = signing.write_anchors(tmp_path)
    connector = store_from_settings(
        store_settings(store.url, pki.mutual(), anchors), ConnectorDeps(CollectorRegistry(), tmp_path)
    )
    sink = connector.sink(SinkSpec("connector", {"name": "kho"}))
    provider = connector.provider()
    assert isinstance(sink, ResultSink)
    assert isinstance(provider, ResultProvider)
    try:
        await sink.send([issued(signing, 41)], "key-41")
        served = await provider.fetch(
            DataRequest("result.document", {"holder": HOLDER_ID, "procedure": PROCEDURE})
        )
    finally:
        await sink.close()
        await connector.aclose()
    assert "41/GP-UBND" in str(served)


@pytest.mark.parametrize("how", ["no client certificate", "an untrusted server"])
async def test_without_the_right_tls_nothing_reaches_the_store(
    how: str,
    pki: Pki,
    signing: SigningPki,
    store: SimulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, STORE_KEY)
    tls = (
        TlsFiles(ca_file=str(pki.ca.cert))
        if how == "no client certificate"
        else TlsFiles(client_cert=(str(pki.bus.cert), str(pki.bus.key)))
    )
    connector = store_from_settings(
        store_settings(store.url, tls, signing.write_anchors(tmp_path)),
        ConnectorDeps(CollectorRegistry(), tmp_path),
    )
    provider = connector.provider()
    try:
        with pytest.raises(ProviderError) as failure:
            await provider.fetch(
                DataRequest("result.document", {"holder": HOLDER_ID, "procedure": PROCEDURE})
            )
    finally:
        await connector.aclose()
    assert isinstance(failure.value, ProviderUnavailable), repr(failure.value)


async def test_the_store_refuses_a_caller_without_its_api_key(
    pki: Pki, signing: SigningPki, store: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "not-the-key")
    connector = store_from_settings(
        store_settings(store.url, pki.mutual(), signing.write_anchors(tmp_path)),
        ConnectorDeps(CollectorRegistry(), tmp_path),
    )
    sink = connector.sink(SinkSpec("connector", {"name": "kho"}))
    assert sink is not None
    try:
        with pytest.raises(SinkError) as refused:
            await sink.send([issued(signing, 42)], "key-42")
    finally:
        await sink.close()
        await connector.aclose()
    # the store's own text is for the operator's log; the delivery's error names its code
    assert "fault 401" in str(refused.value)


def test_a_credential_variable_that_is_not_set_is_a_config_error(
    pki: Pki, signing: SigningPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        store_from_settings(
            store_settings("https://127.0.0.1:1", pki.mutual(), signing.write_anchors(tmp_path)),
            ConnectorDeps(CollectorRegistry(), tmp_path),
        )


@pytest.mark.parametrize("mutual", [True, False])
async def test_the_portal_connector_logs_in_over_mutual_tls_only_with_its_certificate(
    mutual: bool, pki: Pki, portal: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(USER_ENV, portal_simulator.USERNAME)
    monkeypatch.setenv(PASSWORD_ENV, portal_simulator.PASSWORD)
    tls = pki.mutual() if mutual else TlsFiles(ca_file=str(pki.ca.cert))
    connector = portal_from_settings(
        ConnectorSettings(
            name="portal",
            kind="portal",
            url=portal.url,
            call_policy=FAST,
            options={"agency_code": "000.00.00.H49", "username_env": USER_ENV, "password_env": PASSWORD_ENV},
            tls=tls,
        ),
        ConnectorDeps(CollectorRegistry(), tmp_path),
    )
    try:
        await connector.open()
        if mutual:
            assert await connector.sync.client.session()
        else:
            with pytest.raises(PortalError, match="login: portal: "):
                await connector.sync.client.session()
    finally:
        await connector.aclose()
