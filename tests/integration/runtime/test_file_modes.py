"""Every file a running bus creates is its user's alone (0600), the witness file at most 0640,
whatever the umask (issue 16, item 7): the bus runs here under umask 000, where a file created
with the default modes would be world-readable and writable."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.events import status_changed

AUDIT_ENV = ("LIENTHONG_AUDIT_KEY", "LIENTHONG_AUDIT_CHAIN_KEY", "LIENTHONG_AUDIT_SIGNING_KEY")
WITNESS = "audit.db.checkpoints"


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_bus_creates_its_files_private_under_any_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in AUDIT_ENV:  # unset: the bus generates its key files beside the audit log
        monkeypatch.delenv(name, raising=False)
    config = BusConfig(tmp_path, sections={"audit": {"path": "audit.db", "checkpoints": {"every": 1}}})
    # a sink nobody listens on: the event becomes a dead letter, in the log's file
    config.subscribe("portal", "http://127.0.0.1:9/events")
    with umask(0), BusProcess(config) as bus:
        with bus.client(ONESTOP) as client:
            event = status_changed(1, 1)
            reply = client.post(
                "/v1/events", json=event, headers={"Content-Type": "application/cloudevents+json"}
            )
            assert reply.status_code == 202, reply.text
        with bus.client(OPERATOR) as client:
            for _ in range(600):
                if client.get("/v1/subscriptions/portal").json()["dead_letters"]:
                    break
                time.sleep(0.05)
            # an operator's action: an audit record, and with every: 1 a checkpoint to the witness
            assert (
                client.post("/v1/subscriptions/portal/dead-letters/replay", json={"all": True}).status_code
                == 200
            )
            for _ in range(600):
                if (tmp_path / WITNESS).exists():
                    break
                time.sleep(0.05)
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in tmp_path.rglob("*")
            if path.is_file() and path.name not in ("bus.log", "lienthong.yaml")
        }
    assert {"bus.db", "bus.db-wal", "audit.db", WITNESS} <= set(modes), modes
    assert {name: mode for name, mode in modes.items() if name != WITNESS and mode != 0o600} == {}
    assert modes[WITNESS] == 0o640
