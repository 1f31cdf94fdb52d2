"""The shipped example configuration loads, and means what its comments say."""

from __future__ import annotations

from lienthong.config import load_settings
from router.subscriptions import OnDeadLetter
from tests.support.paths import ROOT

EXAMPLE = ROOT / "examples" / "lienthong.yaml"
DEMO_KEYS = ROOT / "examples" / "demo-keys.env"
# The contracts the example subscribes to; a subscription to anything else would be an error.
TYPES = {
    "dossier.submitted",
    "dossier.status.changed",
    "dossier.progress.updated",
    "dossier.result.issued",
    "dossier.evidence.collected",  # the evidence broker
}

MOTCUA = "000.00.00.H46/motcua"
PORTAL = "000.00.00.G22/dvcqg"
WAREHOUSE = "000.00.00.H46/khodulieu"
OPERATOR = "000.00.00.H46/vanhanh"
BROKER = "000.00.00.H46/truclienthong"  # the evidence broker (tests/unit/lienthong/config/test_catalogue_config.py)


def demo_keys() -> dict[str, str]:
    keys = {}
    for line in DEMO_KEYS.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            keys[name.strip()] = value.strip()
    return keys


def test_the_example_loads() -> None:
    settings = load_settings(EXAMPLE, event_types=TYPES)
    assert settings.source == EXAMPLE
    assert settings.transport.kind == "embedded"
    assert settings.transport.path == ROOT / "var" / "lienthong.db"  # relative to the file's folder
    assert settings.transport.retention_s == 7 * 86400
    assert settings.transport.durability == "fsync"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert settings.http.max_body_bytes == 1 << 20
    assert settings.http.max_batch_events == 1000
    assert settings.schemas.path is None
    assert settings.schemas.compatibility == "BACKWARD"
    assert {s.id for s in settings.systems} == {MOTCUA, PORTAL, WAREHOUSE, OPERATOR, BROKER}
    operator = settings.directory.get(OPERATOR)
    assert operator is not None and operator.has_role("operator")
    assert operator.member_name == "UBND tỉnh Quảng Bình"


def test_the_example_policy() -> None:
    policy = load_settings(EXAMPLE).policy
    assert policy.may_publish(MOTCUA, "dossier.submitted")
    assert policy.may_publish(MOTCUA, "dossier.status.changed")
    assert not policy.may_publish(PORTAL, "dossier.submitted")
    assert policy.may_subscribe(PORTAL, "dossier.progress.updated")
    assert policy.may_subscribe(WAREHOUSE, "dossier.result.issued")
    assert not policy.may_subscribe(WAREHOUSE, "dossier.status.changed")
    assert policy.is_admin(OPERATOR)
    assert not policy.is_admin(MOTCUA)


def test_the_example_subscriptions() -> None:
    subscriptions = {s.name: s for s in load_settings(EXAMPLE).subscriptions}
    assert set(subscriptions) == {
        "portal-dossiers",
        "warehouse-results",
        "warehouse-submissions",
        "evidence-broker",  # the evidence broker and its results (tests/unit/router/evidence)
        "onestop-evidence",
        "citizen-store-results",  # results into the citizen data store
    }
    portal = subscriptions["portal-dossiers"]
    assert portal.system == PORTAL
    assert portal.sink.kind == "connector"  # the portal connector (docs/portal.md)
    assert portal.sink.options == {"name": "portal", "kind": "portal"}
    assert portal.on_dead_letter is OnDeadLetter.HOLD_SUBJECT
    assert (portal.retry.max_attempts, portal.retry.initial_backoff_s, portal.retry.max_backoff_s) == (
        1000,
        0.2,
        30.0,
    )
    assert portal.retry.max_elapsed_s == 6 * 3600  # an outage of the portal makes no dead letters
    assert (portal.breaker.failure_threshold, portal.breaker.reset_timeout_s) == (5, 30.0)
    assert portal.batch_size == 1
    results = subscriptions["warehouse-results"]
    assert results.batch_size == 50
    assert results.sink.options["url"] == "http://127.0.0.1:9102/events"
    subject = "000.00.00.H46-240115-0001"
    event = {"type": "dossier.result.issued", "source": MOTCUA, "subject": subject}
    assert results.wants("dossier.result.issued", event)
    assert not results.wants("dossier.result.issued", {**event, "subject": "000.00.00.H48-240115-0001"})
    submissions = subscriptions["warehouse-submissions"]
    submitted = {**event, "type": "dossier.submitted"}
    assert submissions.wants("dossier.submitted", submitted)
    assert submissions.wants("dossier.submitted", {**submitted, "subject": "000.20.21.H46-240115-0001"})
    assert not submissions.wants("dossier.submitted", {**submitted, "subject": "000.00.00.H46-000000-0000"})


def test_every_demo_key_authenticates_its_system() -> None:
    directory = load_settings(EXAMPLE).directory
    keys = demo_keys()
    expected = {
        "LIENTHONG_DEMO_KEY_MOTCUA": MOTCUA,
        "LIENTHONG_DEMO_KEY_DVCQG": PORTAL,
        "LIENTHONG_DEMO_KEY_KHODULIEU": WAREHOUSE,
        "LIENTHONG_DEMO_KEY_VANHANH": OPERATOR,
    }
    assert set(keys) == set(expected)
    for name, system_id in expected.items():
        found = directory.authenticate(keys[name])
        assert found is not None and found.id == system_id, name
    # The hashes, not the keys, are what the configuration holds.
    assert not any(key in EXAMPLE.read_text("utf-8") for key in keys.values())
