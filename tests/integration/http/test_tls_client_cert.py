"""Mutual TLS to the registries: the connectors, built from the example's configuration (``kind:
rest`` and ``kind: soap``), present the
bus's client certificate and trust a private CA; the registries (real simulators served over
HTTPS that require a client certificate) refuse a client without one, or with one from another CA,
before any request reaches them."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings, TlsFiles
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, ProviderError, ProviderUnavailable
from simulators import business as business_simulator
from simulators import population as population_simulator
from simulators.registry_data import build
from simulators.server import ServerTls, SimulatorServer
from tests.support.evidence import registry_connector
from tests.support.tls import Authority, Issued, new_authority

REGISTRY = build()
FAST = CallPolicy(timeout_s=5.0, deadline_s=5.0, max_attempts=1)


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca: Authority = new_authority(folder, "lienthong test CA")
        self.server: Issued = self.ca.issue(folder, "registry", server=True)
        self.bus: Issued = self.ca.issue(folder, "bus", server=False)
        rogue = new_authority(folder / "rogue", "someone else's CA")
        self.rogue_client: Issued = rogue.issue(folder / "rogue", "intruder", server=False)

    def server_tls(self) -> ServerTls:
        return ServerTls(str(self.server.cert), str(self.server.key), client_ca=str(self.ca.cert))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def business(pki: Pki) -> Iterator[SimulatorServer]:
    app, _ = business_simulator.create_app()
    server = SimulatorServer(app, tls=pki.server_tls()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def population(pki: Pki) -> Iterator[SimulatorServer]:
    app, _ = population_simulator.create_app()
    server = SimulatorServer(app, tls=pki.server_tls()).start()
    yield server
    server.stop()


def settings(name: str, url: str, tls: TlsFiles) -> ConnectorSettings:
    entry = registry_connector(name, url)
    return ConnectorSettings(
        name=name, kind=entry["kind"], url=entry["url"], call_policy=FAST, options=entry["options"], tls=tls
    )


def deps(tmp_path: Path) -> ConnectorDeps:
    return ConnectorDeps(CollectorRegistry(), tmp_path)


def mutual(pki: Pki) -> TlsFiles:
    return TlsFiles(ca_file=str(pki.ca.cert), client_cert=(str(pki.bus.cert), str(pki.bus.key)))


CASES = {
    "business": (
        "business.registration",
        {"tax_code": REGISTRY.enterprises[0].tax_code},
    ),
    "population": (
        "citizen.identity",
        {"personal_id": REGISTRY.enterprises[0].legal_representative},
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_the_client_certificate_opens_the_registry(
    kind: str, pki: Pki, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: SimulatorServer = request.getfixturevalue(kind)
    assert server.url.startswith("https://")
    dataset, key = CASES[kind]
    configured = settings(kind, server.url, mutual(pki))
    connector = builder(configured.kind)(configured, deps(tmp_path))
    provider = connector.provider()
    assert provider is not None
    try:
        record = await provider.fetch(DataRequest(dataset, key))
    finally:
        await connector.aclose()
    assert record  # the registry answered over mutual TLS
    identifier = next(iter(key.values()))
    assert identifier in str(record)


def wrong_tls(pki: Pki, how: str) -> TlsFiles:
    if how == "no client certificate":
        return TlsFiles(ca_file=str(pki.ca.cert))
    if how == "a certificate of another CA":
        return TlsFiles(
            ca_file=str(pki.ca.cert), client_cert=(str(pki.rogue_client.cert), str(pki.rogue_client.key))
        )
    # the registry's certificate is from a CA the bus was not told to trust
    return TlsFiles(client_cert=(str(pki.bus.cert), str(pki.bus.key)))


@pytest.mark.parametrize(
    "how", ["no client certificate", "a certificate of another CA", "an untrusted server"]
)
@pytest.mark.parametrize("kind", sorted(CASES))
async def test_without_the_right_certificates_nothing_reaches_the_registry(
    kind: str, how: str, pki: Pki, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: SimulatorServer = request.getfixturevalue(kind)
    dataset, key = CASES[kind]
    before = _requests(server, pki)
    configured = settings(kind, server.url, wrong_tls(pki, how))
    connector = builder(configured.kind)(configured, deps(tmp_path))
    provider = connector.provider()
    assert provider is not None
    try:
        with pytest.raises(ProviderError) as failure:
            await provider.fetch(DataRequest(dataset, key))
    finally:
        await connector.aclose()
    # a handshake refused is the registry unreachable for this caller, never a record or a crash
    assert isinstance(failure.value, ProviderUnavailable), repr(failure.value)
    assert _requests(server, pki) == before


def _requests(server: SimulatorServer, pki: Pki) -> int:
    """The simulator's count of requests that reached it, asked over mutual TLS."""
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.bus.cert), str(pki.bus.key))
    count: int = httpx.get(f"{server.url}/_sim/stats", verify=context, timeout=5).json()["requests"]
    return count
