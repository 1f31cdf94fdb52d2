"""``platforms:`` and the connectors that name one: loaded into the connector's URL, TLS and
platform settings, and every mistake reported with the file, line, path and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.config import load_settings
from router.errors import ConfigError

BASE = (
    """\
version: 1
members:
  - code: 000.00.00.H49
    name: UBND tỉnh Quảng Ninh
    systems:
      - name: motcua
        api_keys: ["sha256:"""
    + "ab" * 32
    + """"]
platforms:
  - name: lgsp-quangninh
    url: https://lgsp.example.gov.vn/
    token:
      consumer_key: {env: LGSP_KEY}
      consumer_secret: {file: secrets/lgsp}
    headers: {X-Request-ID: "{uuid}"}
    services: {population: /dancu/1.0, business: /dkdn/1.0/}
"""
)


def write(tmp_path: Path, connectors: str, base: str = BASE) -> Path:
    path = tmp_path / "bus.yaml"
    path.write_text(base + connectors, "utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    return str(raised.value).splitlines()[1:]


def test_a_connector_through_a_platform_takes_its_url_token_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
connectors:
  - name: business
    kind: rest
    platform: lgsp-quangninh
    service: business
    options: {datasets: {business.registration: {path: /x, reply: {a: /a}}}}
""",
    )
    settings = load_settings(path)
    (connector,) = settings.connectors
    assert connector.url == "https://lgsp.example.gov.vn/dkdn/1.0"
    assert connector.platform is not None
    assert connector.platform.token_url == "https://lgsp.example.gov.vn/token"
    assert connector.platform.consumer_key == {"env": "LGSP_KEY"}
    assert connector.platform.consumer_secret == {"file": str(tmp_path / "secrets" / "lgsp")}
    assert connector.platform.headers == {"X-Request-ID": "{uuid}"}
    assert connector.platform.client_auth == "basic"


def test_mistakes_are_reported_where_they_are(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
connectors:
  - name: population
    kind: soap
    platform: lgsp-elsewhere
    service: population
  - name: business
    kind: rest
    platform: lgsp-quangninh
    service: land
  - name: vehicle
    kind: soap
    url: http://127.0.0.1:9203
    platform: lgsp-quangninh
    service: population
  - name: nowhere
    kind: rest
""",
    )
    lines = problems(path)
    text = "\n".join(lines)
    assert "/connectors/0/platform: no platform 'lgsp-elsewhere'" in text
    assert "Fix: use a configured platform (lgsp-quangninh)" in text
    assert "/connectors/1/service: the platform 'lgsp-quangninh' has no service 'land'" in text
    assert "use one of its services (business, population)" in text
    assert "/connectors/2/url: the connector gives both url and platform" in text
    assert "/connectors/3: the connector has no url" in text
    base = BASE.count("\n")
    assert any(line.startswith(f"{path}:{base + 4}:") for line in lines), text


def test_a_platform_header_the_bus_sets_itself_is_refused(tmp_path: Path) -> None:
    base = BASE.replace('headers: {X-Request-ID: "{uuid}"}', "headers: {Authorization: Basic abc}")
    lines = problems(write(tmp_path, "", base))
    assert any(
        "/platforms/0/headers/Authorization: the header 'Authorization' is set by the bus" in line
        for line in lines
    )


def test_an_oauth2_secret_comes_from_exactly_one_place(tmp_path: Path) -> None:
    lines = problems(
        write(
            tmp_path,
            """\
connectors:
  - name: business
    kind: rest
    url: https://registry.example.gov.vn
    auth:
      oauth2:
        token_url: https://registry.example.gov.vn/token
        client_id_env: REGISTRY_ID
        client_id_file: secrets/id
""",
        )
    )
    text = "\n".join(lines)
    assert "/connectors/0/auth/oauth2: give exactly one of client_id_env and client_id_file" in text
    assert "give exactly one of client_secret_env and client_secret_file" in text


def test_credentials_that_would_replace_the_platforms_token_are_refused(tmp_path: Path) -> None:
    lines = problems(
        write(
            tmp_path,
            """\
connectors:
  - name: business
    kind: rest
    platform: lgsp-quangninh
    service: business
    options: {datasets: {business.registration: {path: /x, reply: {a: /a}}}}
    auth:
      bearer: {env: REGISTRY_TOKEN}
      api_key: {header: X-API-Key, env: REGISTRY_KEY}
  - name: population
    kind: rest
    platform: lgsp-quangninh
    service: population
    options: {datasets: {citizen.identity: {path: /y, reply: {a: /a}}}}
    auth:
      basic: {username: {env: U}, password: {env: P}}
      ws_security: {username: {env: U}, password: {env: P}}
""",
        )
    )
    text = "\n".join(lines)
    assert "/connectors/0/auth/bearer: the connector is reached through the platform 'lgsp-quangninh'" in text
    assert "/connectors/1/auth/basic: the connector is reached through the platform" in text
    # credentials that do not touch the Authorization header stay allowed
    assert "auth/api_key" not in text and "auth/ws_security" not in text
