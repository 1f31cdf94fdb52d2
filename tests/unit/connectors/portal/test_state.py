from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path

from connectors.portal.state import DossierState, SyncStateStore, digest


def test_the_state_is_durable_and_counts_the_scorecard(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SyncStateStore.in_file(tmp_path / "portal.db")
        await store.open()
        record = {
            "MaHoSo": "A",
            "TrangThaiHoSo": 9,
            "NgayHenTra": "20240510000000",
            "NgayKetThucXuLy": "20240509000000",
        }
        state = DossierState(
            "000.00.00.H49-240502-0001", "000.00.00.H49", 100.0, channel="online"
        ).with_record(record, 100.0)
        assert state.pending_since == 100.0 and not state.in_sync
        saved = await store.save(state)
        assert saved.version == 1
        synced = await store.save(
            replace(saved, synced_digest=digest(record), pending_since=None), applied="e1"
        )
        await store.close()

        again = SyncStateStore.in_file(tmp_path / "portal.db")
        await again.open()
        applied, loaded = await again.load(synced.code, "e1")
        assert applied and loaded == synced and loaded.in_sync
        assert await again.unsynced() == {}
        assert loaded.with_record(dict(record), 200.0).pending_since is None  # the same record: nothing to do
        (row,) = await again.figures()
        assert (row.dossiers, row.submitted_online, row.finished, row.on_time) == (1, 1, 1, 1)
        assert await again.figures(["000.00.00.H56"]) == []
        await again.close()

    asyncio.run(scenario())


def test_the_state_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SyncStateStore.in_file(tmp_path / "portal.db")
        await store.open()
        await store.save(DossierState("000.00.00.H49-240502-0002", "000.00.00.H49", 100.0))
        await store.close()

    previous = os.umask(0)
    try:
        asyncio.run(scenario())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "portal.db").stat().st_mode) == 0o600
