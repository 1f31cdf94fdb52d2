"""The audit store: access records/s at the evidence API's concurrency, and the chain check's rate.

Run: ``.venv/bin/python -m bench.audit [--records N] [--concurrency C] [--verify N]``

Writes: C callers each record one access at a time (as evidence queries do), through
SqliteAuditLog (hashing, chaining, the writer thread, group commit, fsync), against the same rows
inserted raw into the same table from the calling thread with one fsynced transaction per record
(what auditing each request on its own would cost). The ratio is the store's rate over that one.

Verify: a log of ``--verify`` records is written, then ``verify_file`` walks it; records/s and the
process's peak memory show that the walk streams.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from adapters.audit import SqliteAuditLog, verify_file
from adapters.audit.chain import GENESIS, as_text, link_v2
from adapters.audit.keys import ChainKey, KeyRing
from adapters.audit.tables import connect
from router.audit import AccessRecord

KEY = b"benchmark key, thirty-two bytes or more"
CHAIN = KeyRing(ChainKey(b"benchmark chain key, thirty-two bytes or more"))


def access(n: int) -> AccessRecord:
    return AccessRecord(
        request_id=f"{n:032x}",
        requester="000.00.00.H49/motcua",
        official="canbo.motcua.01",
        dataset="citizen.identity",
        subject=f"0010990{n % 100_000:05d}",
        purpose="dossier_processing",
        procedure="1.002861",
        dossier="000.00.00.H49-261127-0001",
        outcome="released",
        provider="population",
    )


async def store_rate(path: Path, records: int, concurrency: int) -> float:
    store = SqliteAuditLog(path, KEY, chain_keys=CHAIN)
    await store.start()
    per_caller = records // concurrency

    async def caller(offset: int) -> None:
        for n in range(per_caller):
            await store.record([access(offset * per_caller + n)])

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(concurrency)))
    elapsed = time.perf_counter() - started
    await store.close()
    return per_caller * concurrency / elapsed


def raw_rate(path: Path, records: int) -> float:
    conn = connect(path, busy_timeout_s=10.0, writer=True)
    previous = GENESIS
    started = time.perf_counter()
    for n in range(records):
        record = access(n)
        texts: tuple[str, ...] = (
            record.request_id,
            record.requester,
            record.official,
            record.dataset,
            record.subject,
        )
        texts += (record.purpose, record.procedure, record.dossier, record.outcome, record.provider)
        key = CHAIN.current
        digest = link_v2(key.secret, as_text(n, texts, False, key.id), previous)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO access_records (seq, at_us, request_id, requester, official, dataset,"
            " subject_hash, purpose, procedure, dossier, outcome, provider, cache_hit, key_id,"
            " previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (n + 1, n, *texts, 0, key.id, previous, digest),
        )
        conn.execute("COMMIT")
        previous = digest
    elapsed = time.perf_counter() - started
    conn.close()
    return records / elapsed


async def verify_rate(path: Path, records: int) -> tuple[float, float]:
    store = SqliteAuditLog(path, KEY, chain_keys=CHAIN)
    await store.start()
    for first in range(0, records, 1000):
        await store.record([access(n) for n in range(first, min(records, first + 1000))])
    await store.close()
    started = time.perf_counter()
    result = verify_file(path, keys=CHAIN)
    elapsed = time.perf_counter() - started
    assert result.intact and result.records == records
    return records / elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--verify", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        raw = raw_rate(folder / "raw.db", args.records // 5)
        store = asyncio.run(store_rate(folder / "store.db", args.records, args.concurrency))
        print(f"raw SQLite, one fsynced transaction per record: {raw:,.0f} records/s")
        print(f"SqliteAuditLog, {args.concurrency} concurrent callers: {store:,.0f} records/s")
        print(f"ratio store/raw: {store / raw:.2f}")
        rate, peak_mib = asyncio.run(verify_rate(folder / "verify.db", args.verify))
        print(f"verify: {args.verify:,} records at {rate:,.0f} records/s; peak memory {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
