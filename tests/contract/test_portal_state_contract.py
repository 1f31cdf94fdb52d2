"""What every store of the portal sync state promises (connectors.portal.state over
adapters.state.portal), checked on SQLite and PostgreSQL.

Two stores on the same storage stand for two processes of one bus: on PostgreSQL a dossier whose
partition moves from one to the other carries on where it was."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.state.portal import DossierConflict
from connectors.portal.mapping import Collected
from connectors.portal.state import DossierState, digest
from tests.contract.conftest import StateBackend

AGENCY = "000.00.00.H49"


def dossier(n: int, agency: str = AGENCY) -> str:
    return f"{agency}-240502-{n:04d}"


def record(n: int, status: int, **more: object) -> dict[str, object]:
    return {"MaHoSo": dossier(n), "TrangThaiHoSo": status, **more}


async def test_a_dossier_saved_by_one_process_carries_on_in_another(state: StateBackend) -> None:
    first = await state.portal_state()
    start = DossierState(dossier(1), AGENCY, 100.0, channel="online", return_method="online")
    state_1 = start.with_record(record(1, 2), 100.0)
    state_1 = replace(state_1, collected=(Collected("citizen.identity", "KQ1"),), components=("CMND",))
    saved = await first.save(state_1, applied="event-1")
    assert saved.version == 1 and saved.pending_since == 100.0
    synced = await first.save(replace(saved, synced_digest=digest(saved.record or {}), pending_since=None))

    second = await state.portal_state()  # the partition moved: another process, the same storage
    applied, loaded = await second.load(dossier(1), "event-1")
    assert applied and loaded == synced and loaded.in_sync
    assert (await second.load(dossier(1), "event-2"))[0] is False
    assert await second.get(dossier(9)) is None
    moved = await second.save(loaded.with_record(record(1, 4), 150.0), applied="event-2")
    assert moved.version == 3
    assert await first.was_applied("event-2")
    assert await first.unsynced() == {dossier(1): 150.0}
    assert (await first.get(dossier(1))) == moved


async def test_a_save_from_a_stale_read_is_refused_as_a_conflict(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    await first.save(DossierState(dossier(1), AGENCY, 1.0).with_record(record(1, 4), 1.0))
    _, one = await first.load(dossier(1))
    _, two = await second.load(dossier(1))
    assert one is not None and two is not None and one.version == two.version == 1

    await first.save(one.with_record(record(1, 5), 2.0), applied="event-5")
    with pytest.raises(DossierConflict):
        await second.save(replace(two, synced_digest=digest(two.record or {})), applied="event-x")

    applied, kept = await second.load(dossier(1), "event-x")
    assert not applied and kept is not None and kept.status == 5 and kept.version == 2


async def test_two_first_saves_of_one_dossier_keep_the_first(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    await first.save(DossierState(dossier(1), AGENCY, 1.0).with_record(record(1, 2), 1.0))
    with pytest.raises(DossierConflict):
        await second.save(DossierState(dossier(1), AGENCY, 1.0).with_record(record(1, 3), 1.0))
    kept = await second.get(dossier(1))
    assert kept is not None and kept.status == 2 and kept.version == 1


async def test_events_applied_are_marked_once_whichever_process(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    await first.mark_applied("event-7", dossier(7), 10.0)
    await second.mark_applied("event-7", dossier(7), 11.0)
    assert await second.was_applied("event-7")
    assert not await first.was_applied("event-8")


async def test_states_are_paged_by_code_and_filtered_by_time(state: StateBackend) -> None:
    store = await state.portal_state()
    for n in (3, 1, 2, 10):
        await store.save(DossierState(dossier(n), AGENCY, float(n)).with_record(record(n, 2), float(n)))
    await store.save(DossierState(dossier(5), AGENCY, 5.0))  # only evidence known: no record
    page = await store.states(limit=2)
    assert [s.code for s in page] == [dossier(1), dossier(2)]
    rest = await store.states(after=page[-1].code)
    assert [s.code for s in rest] == [dossier(3), dossier(10)]
    assert [s.code for s in await store.states(since=3.0)] == [dossier(3), dossier(10)]


async def test_the_status_history_is_kept_in_the_order_sent(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    await first.save(DossierState(dossier(1), AGENCY, 50.0).with_record(record(1, 4), 50.0))
    await first.add_step("e1", dossier(1), 1, "20240502080000")
    await second.add_step("e2", dossier(1), 2, "20240502090000")
    await first.add_step("e2", dossier(1), 2, "20240502090000")  # a redelivery adds nothing
    await second.add_step("e3", dossier(1), 4, "20240503090000")
    ((code, agency, kept, steps),) = await second.histories()
    assert (code, agency, kept["TrangThaiHoSo"]) == (dossier(1), AGENCY, 4)
    assert steps == [(1, "20240502080000"), (2, "20240502090000"), (4, "20240503090000")]
    assert await first.histories(since=51.0) == []


async def test_a_release_by_one_process_is_seen_by_another(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    assert not await second.is_accepted(dossier(1), 4, 2)
    await first.accept_moves(dossier(1), [(4, 2), (2, 9)], official="canbo.01", reason="corrected")
    await first.accept_moves(dossier(1), [(4, 2)], official="canbo.02", reason="again")
    assert await second.is_accepted(dossier(1), 4, 2)
    assert await second.is_accepted(dossier(1), 2, 9)
    assert not await second.is_accepted(dossier(2), 4, 2)


async def test_an_unusual_move_is_listed_once_per_event(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    assert await first.note_unusual("e1", dossier(1), 4, 2, accepted=False)
    assert not await second.note_unusual("e1", dossier(1), 4, 2, accepted=False)
    assert await second.note_unusual("e2", dossier(2), 9, 1, accepted=True)
    assert await first.note_unusual("e3", dossier(1), 2, 1, accepted=False)
    every = await second.unusual_moves()
    assert [(m.event_id, m.dossier, m.from_status, m.to_status, m.accepted) for m in every] == [
        ("e1", dossier(1), 4, 2, False),
        ("e2", dossier(2), 9, 1, True),
        ("e3", dossier(1), 2, 1, False),
    ]
    assert [m.event_id for m in await first.unusual_moves(after=every[0].seq, limit=1)] == ["e2"]
    assert [m.event_id for m in await first.unusual_moves(dossier=dossier(1))] == ["e1", "e3"]
    assert [m.event_id for m in await first.unusual_moves(latest=2)] == ["e3", "e2"]


async def test_the_figures_count_every_process_dossiers(state: StateBackend) -> None:
    first, second = await state.portal_state(), await state.portal_state()
    other = "000.00.00.H56"
    done = record(1, 10, NgayHenTra="20240510000000", NgayKetThucXuLy="20240509000000")
    late = record(2, 9, NgayHenTra="20240510000000", NgayKetThucXuLy="20240511000000")
    synced = DossierState(dossier(1), AGENCY, 1.0, channel="online", return_method="online")
    await first.save(replace(synced.with_record(done, 1.0), synced_digest=digest(done), pending_since=None))
    await second.save(DossierState(dossier(2), AGENCY, 2.0, channel="counter").with_record(late, 2.0))
    await second.save(DossierState(dossier(3, other), other, 3.0).with_record(record(3, 2), 3.0))
    figures = {row.agency: row for row in await first.figures()}
    assert list(figures) == [AGENCY, other]
    mine = figures[AGENCY]
    assert (
        mine.dossiers,
        mine.submitted_online,
        mine.returned,
        mine.processed_online,
        mine.finished,
        mine.on_time,
        mine.unsynced,
    ) == (2, 1, 1, 1, 2, 1, 1)
    assert [row.agency for row in await second.figures([other])] == [other]
    assert await second.figures([]) == []


async def test_each_connector_has_its_own_state(state: StateBackend) -> None:
    one, two = await state.portal_state("portal-a"), await state.portal_state("portal-b")
    await one.save(DossierState(dossier(1), AGENCY, 1.0).with_record(record(1, 2), 1.0), applied="e1")
    assert await two.get(dossier(1)) is None
    assert not await two.was_applied("e1")
    assert await two.figures() == []


async def test_concurrent_saves_of_distinct_dossiers_all_land(state: StateBackend) -> None:
    stores = [await state.portal_state() for _ in range(3)]

    async def write(index: int) -> None:
        for n in range(10):
            code = index * 100 + n
            await stores[index].save(
                DossierState(dossier(code), AGENCY, 1.0).with_record(record(code, 2), 1.0), applied=f"e{code}"
            )

    await asyncio.gather(*(write(index) for index in range(3)))
    assert len(await stores[0].states(limit=100)) == 30
    assert len(await stores[1].unsynced()) == 30
