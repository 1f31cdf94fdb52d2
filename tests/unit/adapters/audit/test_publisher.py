"""Checkpoints published by a real store: when they are signed, what a witness that fails costs
(retries, a metric, never a record), and the file witness on a real file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from adapters.audit import Checkpointing, SqliteAuditLog
from adapters.audit.chain import Head
from adapters.audit.checkpoints import Checkpoint, parse, read, sign
from adapters.audit.publisher import CheckpointPolicy
from adapters.audit.signing import Signer
from adapters.audit.witnesses import FileWitness, WitnessError
from router.errors import ConfigError
from tests.unit.adapters.audit.conftest import MakeStore, access, metric

SIGNER = Signer(Ed25519PrivateKey.from_private_bytes(b"\x03" * 32))
FAILURES = "lienthong_audit_checkpoint_failures_total"
TAKEN = "lienthong_audit_checkpoints_total"
WITNESSED = "lienthong_audit_checkpoint_witnessed_seq"


class MemoryWitness:
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.taken: list[Checkpoint] = []
        self.down = False
        self.calls = 0

    async def take(self, checkpoint: Checkpoint) -> None:
        self.calls += 1
        if self.down:
            raise WitnessError("the witness is away")
        self.taken.append(checkpoint)

    async def close(self) -> None:
        pass

    @property
    def seqs(self) -> list[int]:
        return [c.seq for c in self.taken]


def checkpointing(witness: MemoryWitness, **policy: float) -> Checkpointing:
    options = {
        "every_records": 3,
        "interval_s": 3600.0,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.02,
    } | policy
    return Checkpointing(lambda: SIGNER, [witness], CheckpointPolicy(**options))  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_checkpoints_at_open_every_n_records_and_at_close(make_store: MakeStore) -> None:
    witness = MemoryWitness()
    store = await make_store(checkpoints=checkpointing(witness))
    await until(lambda: witness.seqs == [0])
    await store.record([access(1), access(2)])
    await store.record([access(3)])
    await until(lambda: witness.seqs == [0, 3])
    await store.record([access(4)])
    await store.close()
    assert witness.seqs == [0, 3, 4]
    last = witness.taken[-1]
    assert (last.log, last.hash) == (store.log_id, store.head.hash)
    assert (
        read(
            [("memory", "".join(c.line() + "\n" for c in witness.taken))], store.log_id, [SIGNER.public]
        ).problems
        == []
    )


async def test_a_moved_head_is_checkpointed_after_the_interval(make_store: MakeStore) -> None:
    witness = MemoryWitness()
    store = await make_store(checkpoints=checkpointing(witness, every_records=1000, interval_s=0.05))
    await store.record([access(1)])
    await until(lambda: witness.seqs == [0, 1])
    await asyncio.sleep(0.15)
    assert witness.seqs == [0, 1]  # the head did not move: nothing new to sign


async def test_a_witness_away_costs_no_record_and_gets_the_newest_checkpoint_back(
    make_store: MakeStore, registry: CollectorRegistry
) -> None:
    witness = MemoryWitness()
    witness.down = True
    store = await make_store(checkpoints=checkpointing(witness))
    for n in range(7):
        await store.record([access(n)])  # the bus keeps serving
    await until(lambda: metric(registry, FAILURES, witness="memory") >= 3)
    assert witness.taken == [] and store.head.seq == 7
    witness.down = False
    await until(lambda: witness.seqs[-1:] == [6])
    # checkpoints signed while it was away were replaced by newer ones, not queued
    assert witness.seqs == [6]
    assert metric(registry, WITNESSED, witness="memory") == 6
    assert metric(registry, TAKEN, witness="memory") == 1


async def test_closing_waits_a_bounded_time_for_a_witness_away(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    witness = MemoryWitness()
    witness.down = True
    store = await make_store(checkpoints=checkpointing(witness, close_timeout_s=0.1))
    await store.record([access(1)])
    with caplog.at_level(logging.ERROR):
        async with asyncio.timeout(5):
            await store.close()
    assert "checkpoint 1 not taken by memory before closing" in caplog.text


async def test_a_signing_key_other_than_the_pinned_one_is_refused(tmp_path: Path) -> None:
    other = Signer(Ed25519PrivateKey.from_private_bytes(b"\x04" * 32))
    pinned = Checkpointing(lambda: SIGNER, [MemoryWitness()], public_key=other.public)
    store = SqliteAuditLog(tmp_path / "audit.db", b"k" * 32, checkpoints=pinned)
    with pytest.raises(
        ConfigError, match=r"not the one the configuration pins \(audit.checkpoints.public_key\)"
    ):
        await store.start()


async def test_the_file_witness_appends_and_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "witness.jsonl"
    path.write_text("kept from before\n")
    witness = FileWitness(path)
    checkpoints = [sign(SIGNER, "ab" * 16, Head(n, f"{n:064x}"), "cd" * 8, n) for n in range(3)]
    for checkpoint in checkpoints:
        await witness.take(checkpoint)
    await witness.close()
    text = path.read_text()
    assert text.startswith("kept from before\n")
    assert [parse(line) for line in text.splitlines()[1:]] == checkpoints
    with pytest.raises(WitnessError, match="cannot append to"):
        await FileWitness(tmp_path / "not mounted" / "witness.jsonl").take(checkpoints[0])
