"""The example's registries (kind: soap, kind: rest) reached through an integration platform (``platforms:``): the bus under
uvicorn, the gateway simulator with OAuth2 client credentials in front of the real registry
simulators. Tokens that expire mid-test are renewed once and the call retried; 50 calls refused
at once cause one token request; a token endpoint that is down or answers garbage gives a stable
problem code, and the bus recovers when it is back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from simulators.gateway import Gateway
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY_DATASETS,
    evidence_config,
    query_body,
    transport_firm,
)
from tests.support.gateway import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    KEY_ENV,
    METADATA,
    SECRET_ENV,
    gateway_in_front,
    through_platform,
)

TAX, MANAGER, PLATES = transport_firm()
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}
NEVER_CACHED = {name: {"cache": "never"} for name in REGISTRY_DATASETS}


@pytest.fixture(scope="module")
def gateway(servers: dict[str, SimulatorServer]) -> Iterator[tuple[Gateway, str]]:
    with gateway_in_front(servers) as running:
        yield running


@pytest.fixture(scope="module")
def bus_config(gateway: tuple[Gateway, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        env.setenv(KEY_ENV, CONSUMER_KEY)
        env.setenv(SECRET_ENV, CONSUMER_SECRET)
        config = evidence_config(
            tmp_path_factory.mktemp("platform"),
            {"population": "unused", "business": "unused", "vehicle": "unused"},
            dataset_changes=NEVER_CACHED,
        )
        yield through_platform(config, gateway[1])


@pytest.fixture(autouse=True)
def fresh_gateway(gateway: tuple[Gateway, str]) -> Iterator[Gateway]:
    gateway[0].issuer_mode = "up"
    gateway[0].reset()
    yield gateway[0]
    gateway[0].issuer_mode = "up"


def query(client: httpx.Client, dataset: str, key: dict[str, str]) -> httpx.Response:
    return client.post("/v1/evidence:query", json=query_body(dataset, key), headers=OFFICIAL)


def token_requests(metrics: str, connector: str, reason: str) -> float:
    found = re.search(
        rf'lienthong_provider_token_requests_total{{connector="{connector}",reason="{reason}"}} ([0-9.]+)',
        metrics,
    )
    return float(found.group(1)) if found else 0.0


def test_the_registries_datasets_come_through_the_gateway_with_its_token_and_metadata(
    bus: BusProcess, fresh_gateway: Gateway
) -> None:
    with bus.client(ONESTOP) as client:
        identity = query(client, "citizen.identity", {"personal_id": MANAGER})
        firm = query(client, "business.registration", {"tax_code": TAX})
        vehicle = query(client, "vehicle.registration", {"plate": PLATES[0]})
    assert identity.status_code == 200, identity.text
    assert firm.status_code == 200, firm.text
    assert vehicle.status_code == 200, vehicle.text
    assert firm.json()["data"]["taxCode"] == TAX
    record = fresh_gateway.record
    services = {call.service for call in record.calls}
    assert services == {"population", "business", "vehicle"}
    # every call reached its registry with a valid token and the platform's metadata
    assert all(call.bearer == "valid" and call.status == 200 for call in record.calls)
    assert all(set(call.headers) == set(METADATA) for call in record.calls)
    assert all(re.fullmatch(r"[0-9a-f]{32}", call.headers["X-Request-ID"]) for call in record.calls)
    assert len({call.headers["X-Request-ID"] for call in record.calls}) == len(record.calls)
    # the bus's id of each lookup, as in its provenance (and audit log), goes with the call
    correlations = [call.headers["X-Correlation-ID"] for call in record.calls]
    for reply in (identity, firm):
        assert f"lienthong-{reply.json()['provenance']['request_id']}" in correlations
    assert set(record.token_client_auth) <= {"basic"}


def test_a_token_expired_mid_test_is_renewed_once_and_the_call_retried(
    bus: BusProcess, fresh_gateway: Gateway
) -> None:
    with bus.client(ONESTOP) as client:
        assert query(client, "business.registration", {"tax_code": TAX}).status_code == 200
        before = token_requests(client.get("/metrics").text, "business", "unauthorized")
        fresh_gateway.reset()
        fresh_gateway.expire_tokens()
        reply = query(client, "business.registration", {"tax_code": TAX})
        after = token_requests(client.get("/metrics").text, "business", "unauthorized")
    assert reply.status_code == 200, reply.text
    record = fresh_gateway.record
    assert [(c.service, c.status, c.bearer) for c in record.calls] == [
        ("business", 401, "expired"),
        ("business", 200, "valid"),
    ]
    assert record.tokens_issued == 1
    assert after == before + 1


async def test_fifty_calls_refused_at_expiry_cause_one_token_request(
    bus: BusProcess, fresh_gateway: Gateway
) -> None:
    headers = {"Authorization": f"Bearer {bus.config.keys[ONESTOP]}", **OFFICIAL}
    async with httpx.AsyncClient(base_url=bus.url, headers=headers, timeout=30) as client:
        warm = await client.post(
            "/v1/evidence:query", json=query_body("citizen.identity", {"personal_id": MANAGER})
        )
        assert warm.status_code == 200, warm.text
        fresh_gateway.reset()
        fresh_gateway.expire_tokens()
        replies = await asyncio.gather(
            *(
                client.post(
                    "/v1/evidence:query", json=query_body("citizen.identity", {"personal_id": MANAGER})
                )
                for _ in range(50)
            )
        )
    assert [r.status_code for r in replies] == [200] * 50, {r.text for r in replies if r.status_code != 200}
    record = fresh_gateway.record
    assert record.token_requests == 1
    assert record.forwarded() == 50
    assert 1 <= record.unauthorized() <= 50


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("down", 503, "provider_auth_unavailable"),
        ("html", 502, "provider_auth_failed"),
        ("garbage", 502, "provider_auth_failed"),
        ("huge", 502, "provider_auth_failed"),
    ],
)
def test_a_token_endpoint_down_or_answering_garbage_is_a_stable_problem_then_recovers(
    bus: BusProcess, fresh_gateway: Gateway, mode: str, status: int, code: str
) -> None:
    fresh_gateway.issuer_mode = mode
    fresh_gateway.expire_tokens()
    with bus.client(ONESTOP) as client:
        refused = query(client, "business.registration", {"tax_code": TAX})
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == code
        assert CONSUMER_SECRET not in refused.text and CONSUMER_KEY not in refused.text
        assert not any(call.status == 200 for call in fresh_gateway.record.calls)
        fresh_gateway.issuer_mode = "up"
        recovered = query(client, "business.registration", {"tax_code": TAX})
    assert recovered.status_code == 200, recovered.text
    assert CONSUMER_SECRET not in bus.log.read_text()
