"""What every state store promises (router.state and router.audit), checked on SQLite and PostgreSQL.

Two stores on the same storage stand for two processes of one bus."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.audit.keys import ChainKey, KeyRing
from adapters.state import PostgresStateStore
from router.audit import AccessRecord
from router.state import Claim, ClaimState, Placed
from tests.contract.conftest import CHAIN_KEYS, StateBackend

TOPIC = "inbound"


def access(n: int, subject: str = "001099012345") -> AccessRecord:
    return AccessRecord(
        request_id=f"request-{n}",
        requester="000.00.00.H49/motcua",
        official="canbo.01",
        dataset="citizen.identity",
        subject=subject,
        purpose="dossier_processing",
        procedure="1.001",
        dossier=f"dossier-{n}",
        outcome="released",
    )


async def test_a_claim_settled_is_a_duplicate_with_where_it_landed(state: StateBackend) -> None:
    store = await state.started()
    assert await store.dedup.claim(TOPIC, ["a/1", "a/2"]) == {
        "a/1": Claim(ClaimState.MINE),
        "a/2": Claim(ClaimState.MINE),
    }
    assert not await store.dedup.seen(TOPIC, "a/1")
    await store.dedup.settle(TOPIC, [Placed("a/1", 3, 41), Placed("a/2", 5, None)])
    again = await store.dedup.claim(TOPIC, ["a/1", "a/2", "a/3"])
    assert again == {
        "a/1": Claim(ClaimState.DUPLICATE, 3, 41),
        "a/2": Claim(ClaimState.DUPLICATE, 5, None),
        "a/3": Claim(ClaimState.MINE),
    }
    assert await store.dedup.seen(TOPIC, "a/1")
    # another topic is another namespace
    assert (await store.dedup.claim("elsewhere", ["a/1"]))["a/1"].state is ClaimState.MINE


async def test_another_process_sees_a_claim_in_flight_until_it_is_released(state: StateBackend) -> None:
    first, second = await state.started(), await state.started()
    assert (await first.dedup.claim(TOPIC, ["b/1"]))["b/1"].state is ClaimState.MINE
    assert (await second.dedup.claim(TOPIC, ["b/1"]))["b/1"].state is ClaimState.IN_FLIGHT
    await first.dedup.release(TOPIC, ["b/1"])
    assert (await second.dedup.claim(TOPIC, ["b/1"]))["b/1"].state is ClaimState.MINE
    await second.dedup.settle(TOPIC, [Placed("b/1", 0, 7)])
    assert (await first.dedup.claim(TOPIC, ["b/1"]))["b/1"] == Claim(ClaimState.DUPLICATE, 0, 7)


async def test_a_claim_past_its_lease_is_taken_over(state: StateBackend) -> None:
    gone, alive = await state.started(), await state.started()
    assert (await gone.dedup.claim(TOPIC, ["c/1"]))["c/1"].state is ClaimState.MINE
    alive.dedup.lease_s = 0.0  # every unsettled claim is past its lease
    assert (await alive.dedup.claim(TOPIC, ["c/1"]))["c/1"].state is ClaimState.MINE


async def test_a_settled_id_past_the_retention_window_is_new_again(state: StateBackend) -> None:
    store = await state.started(retention_s=0.0)
    await store.dedup.claim(TOPIC, ["d/1"])
    await store.dedup.settle(TOPIC, [Placed("d/1", 0, 1)])
    assert not await store.dedup.seen(TOPIC, "d/1")
    assert (await store.dedup.claim(TOPIC, ["d/1"]))["d/1"].state is ClaimState.MINE


async def test_concurrent_claims_of_one_id_give_it_to_exactly_one(state: StateBackend) -> None:
    stores = [await state.started() for _ in range(4)]
    ids = [f"e/{n}" for n in range(30)]
    answers = await asyncio.gather(*(store.dedup.claim(TOPIC, ids) for store in stores))
    for dedup_id in ids:
        mine = [answer[dedup_id].state for answer in answers].count(ClaimState.MINE)
        assert mine == 1, dedup_id


async def test_a_batch_claim_answers_each_id_and_its_settle_places_each_where_it_landed(
    state: StateBackend,
) -> None:
    first, second = await state.started(), await state.started()
    appended = [f"f/{n}" for n in range(0, 300, 3)]  # appended through the second process
    await second.dedup.claim(TOPIC, appended)
    await second.dedup.settle(TOPIC, [Placed(i, n % 8, 1000 + n) for n, i in enumerate(appended)])
    busy = [f"f/{n}" for n in range(1, 300, 3)]  # being appended by the second process
    await second.dedup.claim(TOPIC, busy)
    batch = [f"f/{n}" for n in range(300)]
    claims = await first.dedup.claim(TOPIC, batch)
    assert set(claims) == set(batch)
    for n, dedup_id in enumerate(appended):
        assert claims[dedup_id] == Claim(ClaimState.DUPLICATE, n % 8, 1000 + n)
    assert all(claims[i].state is ClaimState.IN_FLIGHT for i in busy)
    mine = [f"f/{n}" for n in range(2, 300, 3)]
    assert all(claims[i].state is ClaimState.MINE for i in mine)
    # the batch's settle: each id where it landed, none taken for another's
    await first.dedup.settle(TOPIC, [Placed(i, n % 5, None if n % 7 == 0 else n) for n, i in enumerate(mine)])
    again = await second.dedup.claim(TOPIC, mine)
    for n, dedup_id in enumerate(mine):
        assert again[dedup_id] == Claim(ClaimState.DUPLICATE, n % 5, None if n % 7 == 0 else n)


async def test_a_batch_released_is_claimed_again_and_its_settled_ids_stay_duplicates(
    state: StateBackend,
) -> None:
    first, second = await state.started(), await state.started()
    batch = [f"g/{n}" for n in range(50)]
    await first.dedup.claim(TOPIC, batch)
    # the ids of an earlier request settled; this request's append failed: its claims given back
    await first.dedup.settle(TOPIC, [Placed(i, 2, n) for n, i in enumerate(batch[:10])])
    await first.dedup.release(TOPIC, batch[10:])
    answers = await second.dedup.claim(TOPIC, batch)
    assert [answers[i] for i in batch[:10]] == [Claim(ClaimState.DUPLICATE, 2, n) for n in range(10)]
    assert all(answers[i].state is ClaimState.MINE for i in batch[10:])


async def test_concurrent_batches_sharing_ids_give_each_id_to_exactly_one(state: StateBackend) -> None:
    stores = [await state.started() for _ in range(3)]
    # overlapping windows of one stream of ids, as clients re-sending parts of their batches
    batches = [[f"h/{n}" for n in range(start, start + 400)] for start in (0, 200, 300)]
    answers = await asyncio.gather(
        *(store.dedup.claim(TOPIC, batch) for store, batch in zip(stores, batches, strict=True))
    )
    for dedup_id in {i for batch in batches for i in batch}:
        states = [answer[dedup_id].state for answer in answers if dedup_id in answer]
        assert states.count(ClaimState.MINE) == 1, dedup_id
        assert all(s is ClaimState.IN_FLIGHT for s in states if s is not ClaimState.MINE), dedup_id


async def test_migrations_apply_once_however_many_start_at_once(state: StateBackend) -> None:
    stores = [state.store() for _ in range(4)]
    applied = await asyncio.gather(*(store.migrate() for store in stores))
    every = sorted(version for versions in applied for version in versions)
    # each version applied once, by one of them, all of them from 1 on
    assert every == list(range(1, len(every) + 1))
    for store in stores:
        assert await store.migrate() == []


async def test_audit_records_read_back_by_subject_and_latest(state: StateBackend) -> None:
    log = await state.audit_log()
    await log.record([access(1), access(2, "001099099999")])
    await log.record([access(3)])
    mine = await log.for_subject("001099012345")
    assert [record.request_id for record in mine] == ["request-3", "request-1"]
    assert [record.request_id for record in await log.latest(2)] == ["request-3", "request-2"]
    assert [record.request_id for record in await log.for_subject("001099012345", before=mine[0].seq)] == [
        "request-1"
    ]
    assert await log.verify() == []


async def test_a_changed_record_breaks_the_chain(state: StateBackend) -> None:
    log = await state.audit_log()
    await log.record([access(n) for n in range(5)])
    await state.tamper("UPDATE access_records SET official = 'someone.else' WHERE seq = 3")
    problems = await log.verify()
    assert [problem.seq for problem in problems] == [3]


async def test_a_new_chain_key_rotates_once(state: StateBackend) -> None:
    log = await state.audit_log()
    await log.record([access(1)])
    await log.close()
    new = KeyRing(ChainKey(b"the next contract chain key, 32 bytes+"), [CHAIN_KEYS.current])
    rotated = await state.audit_log(new)
    await rotated.record([access(2)])
    datasets = [record.dataset for record in reversed(await rotated.latest(10))]
    assert datasets == ["citizen.identity", "admin.rotate_chain_key", "citizen.identity"]
    assert await rotated.verify() == []


async def test_appends_from_several_processes_make_one_chain(state: StateBackend) -> None:
    if state.kind == "sqlite":
        pytest.skip("one process per SQLite audit file (its lock refuses a second): nothing is shared")
    logs = [await state.audit_log() for _ in range(3)]

    async def write(index: int) -> None:
        for n in range(20):
            await logs[index].record([access(index * 100 + n)])

    await asyncio.gather(*(write(index) for index in range(3)))
    records = await logs[0].latest(100)
    assert [record.seq for record in records] == list(range(60, 0, -1))
    assert {record.request_id for record in records} == {
        f"request-{index * 100 + n}" for index in range(3) for n in range(20)
    }
    for log in logs:
        assert await log.verify() == []
    # a subject's report is the same from every process
    reports = [await log.for_subject("001099012345") for log in logs]
    assert reports[0] == reports[1] == reports[2]


async def test_a_revoked_session_is_refused_through_every_process(state: StateBackend) -> None:
    first, second = await state.revocations(), await state.revocations()
    later = time.time() + 3600
    assert not await second.revoked("session-1")
    await first.revoke("session-1", later)
    await second.revoke("session-1", later)  # signing out twice is one revocation
    assert await second.revoked("session-1")
    assert await first.revoked("session-1")
    assert not await first.revoked("session-2")


async def test_revocations_of_expired_sessions_are_forgotten(state: StateBackend) -> None:
    revocations = await state.revocations()
    await revocations.revoke("gone", time.time() - 1)
    await revocations.revoke("current", time.time() + 3600)  # a revocation clears the expired ones
    assert not await revocations.revoked("gone")
    assert await revocations.revoked("current")


async def test_one_process_leads_and_another_takes_over_when_it_is_gone(state: StateBackend) -> None:
    if state.kind == "sqlite":
        pytest.skip("a bus of one process: there is no one else to lead")
    stores = [
        store for store in [await state.started() for _ in range(3)] if isinstance(store, PostgresStateStore)
    ]
    leading = [await store.leads() for store in stores]
    assert leading.count(True) == 1
    assert [await store.leads() for store in stores] == leading  # the leader keeps its lead
    gone = stores[leading.index(True)]
    await gone.close()
    rest = [store for store in stores if store is not gone]
    assert [await store.leads() for store in rest].count(True) == 1


async def test_collection_attempts_count_on_through_another_process(state: StateBackend) -> None:
    first, second = await state.attempts(), await state.attempts()
    assert await first.attempt("000.00.00.H49/broker", "dossier-1", 100.0) == (1, 100.0)
    assert await second.attempt("000.00.00.H49/broker", "dossier-1", 105.0) == (2, 100.0)
    assert await first.attempt("000.00.00.H49/other", "dossier-1", 106.0) == (1, 106.0)
    await second.forget("000.00.00.H49/broker", "dossier-1")
    assert await first.attempt("000.00.00.H49/broker", "dossier-1", 200.0) == (1, 200.0)
