"""An integration platform's gateway (simulators/gateway.py) in front of the registry simulators,
and a bus configuration that reaches the registries through it (``platforms:``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from simulators.gateway import DEMO_SERVICES, Gateway, create_gateway
from simulators.server import SimulatorServer
from tests.support.bus import BusConfig
from tests.support.simulators import serving

PLATFORM = "lgsp-test"
KEY_ENV, SECRET_ENV = "LIENTHONG_TEST_LGSP_KEY", "LIENTHONG_TEST_LGSP_SECRET"
CONSUMER_KEY, CONSUMER_SECRET = "bus-consumer-key", "bus-consumer-secret-not-for-messages"
METADATA = {
    "X-Request-ID": "{uuid}",
    "X-Correlation-ID": "lienthong-{request_id}",
    "X-Consumer-System": "000.00.00.H49/lienthong",
}


@contextmanager
def gateway_in_front(
    registries: Mapping[str, SimulatorServer], **options: Any
) -> Iterator[tuple[Gateway, str]]:
    """A gateway whose services are the registries (base paths of the demo gateway, each leading
    to its registry's endpoint as on the demo gateway); its URL."""
    gateway = Gateway(
        services={
            name: (base, server.url + urlsplit(registry).path)
            for name, server in registries.items()
            for base, registry in [DEMO_SERVICES[name]]
        },
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        required_headers=tuple(METADATA),
        **options,
    )
    with serving(create_gateway(gateway)[0]) as server:
        yield gateway, server.url


def through_platform(config: BusConfig, gateway_url: str, **token: Any) -> BusConfig:
    """``config`` with its registry connectors reached through the gateway (a ``platforms:`` entry)."""
    config.sections["platforms"] = [
        {
            "name": PLATFORM,
            "description": "the gateway simulator",
            "url": gateway_url,
            "token": {"consumer_key": {"env": KEY_ENV}, "consumer_secret": {"env": SECRET_ENV}, **token},
            "headers": METADATA,
            "services": {name: base for name, (base, _) in DEMO_SERVICES.items()},
        }
    ]
    for connector in config.sections["connectors"]:
        if connector["name"] in DEMO_SERVICES:
            del connector["url"]
            connector |= {"platform": PLATFORM, "service": connector["name"]}
    return config
