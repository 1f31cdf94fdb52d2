"""Witnesses over real HTTP: another agency's system on 127.0.0.1 takes the audit log's signed
checkpoints, from the store and from the bus as configured, and ``lienthong audit verify`` reads
them back; while the witness is away the bus keeps serving and counts the failures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.audit import Checkpointing, SqliteAuditLog
from adapters.audit.checkpoints import Checkpoint
from adapters.audit.publisher import CheckpointPolicy
from adapters.audit.signing import signing_key_source
from adapters.audit.witnesses import MAX_REPLY_BYTES, WebhookWitness, WitnessError
from lienthong.audit_verify import MAX_CHECKPOINTS_BYTES
from router.audit import AccessRecord
from tests.support.bus import OPERATOR, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.flood import Flood, MiB
from tests.support.prometheus import sample, sample_reaches
from tests.support.receiver import Fault
from tests.support.witness import WitnessServer

KEY = b"witness test key, thirty-two bytes or more"


@pytest.fixture
def witness() -> Iterator[WitnessServer]:
    with WitnessServer() as server:
        yield server


def access(n: int) -> AccessRecord:
    return AccessRecord(
        f"req-{n}", "000.00.00.H46/motcua", "canbo.01", "citizen.identity", f"0010990123{n:02d}",
        "dossier_processing", "1.002861", "000.00.00.H46-261127-0001", "released", "population",
    )  # fmt: skip


async def write_through_webhook(path: Path, url: str, count: int) -> None:
    checkpoints = Checkpointing(
        signing_key_source(path, "NO_SUCH_VARIABLE", environ={}),
        [WebhookWitness(url, timeout_s=2.0)],
        CheckpointPolicy(every_records=5),
    )
    store = SqliteAuditLog(path, KEY, checkpoints=checkpoints)
    await store.start()
    for n in range(1, count + 1):
        await store.record([access(n)])
    await store.close()


def test_a_webhook_witness_keeps_the_checkpoints_and_verify_reads_them_back(
    tmp_path: Path, witness: WitnessServer
) -> None:
    path = tmp_path / "audit.db"
    asyncio.run(write_through_webhook(path, witness.url, 12))
    assert witness.seqs == [0, 5, 10, 12]
    assert all(h["content-type"] == "application/json" for h, _ in witness.received)
    result = lienthong("audit", "verify", "--file", str(path), "--checkpoints", witness.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "it holds checkpoint 12 (signed at " in result.stdout
        and f"witnessed in {witness.url})" in result.stdout
    )
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM access_records WHERE seq > 11")
    conn.close()
    result = lienthong("audit", "verify", "--file", str(path), "--checkpoints", witness.url)
    assert result.returncode == 1
    assert "the log ends at record 11, before checkpoint 12" in result.stdout


async def test_the_bus_keeps_serving_while_its_witness_is_away(
    tmp_path: Path, witness: WitnessServer
) -> None:
    witness.fail_when(lambda request: True, Fault(503))
    config = BusConfig(
        tmp_path,
        sections={
            "audit": {
                "path": "audit.db",
                "checkpoints": {
                    "every": 1,
                    "witnesses": [{"webhook": {"url": witness.url, "timeout": "1s"}}],
                },
            }
        },
    )
    bus = BusProcess(config).start()
    try:
        async with bus.async_client(OPERATOR) as operator:
            await sample_reaches(operator, 1, "lienthong_audit_checkpoint_failures_total", witness="webhook")
            # an audited action (a reload is recorded before it is done) goes through all the same
            assert (await operator.post("/v1/admin/reload")).status_code == 200
            assert (await operator.get("/readyz")).status_code == 200
            assert witness.received == []
            witness.clear_faults()
            await sample_reaches(operator, 1, "lienthong_audit_checkpoint_witnessed_seq", witness="webhook")
            assert await sample(operator, "lienthong_audit_head_seq") == 1
        assert witness.seqs == [1]  # the newest checkpoint, not the ones it missed
    finally:
        assert bus.terminate() == 0
    assert witness.seqs == [1]  # closing: the head did not move since
    # the default verify asks the configured witness
    result = lienthong("audit", "verify", "--config", str(bus.path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 records, chain intact" in result.stdout and f"witnessed in {witness.url}" in result.stdout


async def test_a_webhook_witness_streaming_a_long_answer_is_a_failure_read_no_further() -> None:
    witness = WebhookWitness("", timeout_s=30.0)
    with Flood(total=256 * MiB) as flood:
        witness.url = flood.url
        with pytest.raises(WitnessError, match=f"larger than {MAX_REPLY_BYTES} bytes"):
            await witness.take(Checkpoint("log", 1, "0" * 64, "key", 0, "signer", "signature"))
        await witness.close()
    # what it sent beyond the limit sat in the sockets' buffers, a few MiB at most
    assert flood.sent < MAX_REPLY_BYTES + 16 * MiB


def test_verify_refuses_a_witness_answer_longer_than_the_limit(
    tmp_path: Path, witness: WitnessServer
) -> None:
    path = tmp_path / "audit.db"
    asyncio.run(write_through_webhook(path, witness.url, 3))
    with Flood(total=MAX_CHECKPOINTS_BYTES + 64 * MiB) as flood:
        result = lienthong("audit", "verify", "--file", str(path), "--checkpoints", flood.url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"its answer is larger than {MAX_CHECKPOINTS_BYTES} bytes" in result.stderr
    assert flood.sent < MAX_CHECKPOINTS_BYTES + 16 * MiB
