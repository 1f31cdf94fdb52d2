"""What every store of the portal's procedure catalogue promises (connectors.portal.catalogue over
adapters.state.catalogue), checked on SQLite and PostgreSQL: two stores on the same storage stand
for two processes of one bus."""

from __future__ import annotations

from connectors.portal.catalogue import ProcedureEntry, SyncReport
from tests.contract.conftest import StateBackend


def entry(code: str, name: str = "Cấp giấy phép") -> ProcedureEntry:
    return ProcedureEntry(
        code, name, "000.00.00.H49", True, ("F1",), (1, 2), ("000.00.00.H49",), 72.0, ("KQ1",)
    )


async def test_a_sync_through_one_process_is_read_by_another(state: StateBackend) -> None:
    first, second = await state.catalogue(), await state.catalogue()
    assert await second.last_sync() is None
    agencies = {"A1": {"name": "Sở A"}, "A2": {"name": "Sở B"}}
    changed = await first.apply(
        [entry("1.002"), entry("1.001")], [], [], {"agencies": agencies}, SyncReport(), 100.0
    )
    assert changed == {"agencies": 2}
    assert [p.code for p in await second.procedures()] == ["1.001", "1.002"]
    assert (await second.procedures())[0] == entry("1.001")
    assert await second.last_sync() == 100.0
    assert set(await second.digests()) == {"1.001", "1.002"}
    # the same registers again: nothing changed; one agency gone: one change
    assert await second.apply([], [], [], {"agencies": agencies}, SyncReport(), 200.0) == {"agencies": 0}
    assert await second.apply([], [], [], {"agencies": {"A1": {"name": "Sở A"}}}, SyncReport(), 300.0) == {
        "agencies": 1
    }
    assert await first.last_sync() == 300.0


async def test_a_withdrawn_procedure_is_kept_and_can_return(state: StateBackend) -> None:
    store = await state.catalogue()
    await store.apply([entry("1.001"), entry("1.002")], [], [], {}, SyncReport(), 1.0)
    await store.apply([], ["1.002"], [], {}, SyncReport(), 2.0)
    assert [p.code for p in await store.procedures()] == ["1.001"]
    assert [p.code for p in await store.procedures(withdrawn=True)] == ["1.001", "1.002"]
    assert await store.counts() == {"listed": 1, "withdrawn": 1}
    assert (await store.digests())["1.002"][1] is True
    await store.apply([], [], ["1.002"], {}, SyncReport(), 3.0)
    assert await store.counts() == {"listed": 2, "withdrawn": 0}


async def test_each_connector_has_its_own_catalogue(state: StateBackend) -> None:
    one, two = await state.catalogue("portal-a"), await state.catalogue("portal-b")
    await one.apply([entry("1.001")], [], [], {}, SyncReport(), 1.0)
    assert await two.procedures() == []
    assert await two.last_sync() is None
