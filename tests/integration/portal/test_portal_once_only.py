"""Once-only on the portal: what the evidence broker collected for a dossier reaches the portal's
record (the real connector against the real simulator), whether it arrives before or after the
submission, and long texts are cut to their caps and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal.connector import from_settings
from connectors.portal.sync import EVIDENCE_COLLECTED, SUBMITTED, DossierEvent
from simulators.portal import PASSWORD, USERNAME, create_app, portal_of
from tests.support.simulators import serving

AGENCY = "000.00.00.H49"
DOSSIER = f"{AGENCY}-250225-0234"


def submitted(**changes: Any) -> DossierEvent:
    data = {
        "dossierCode": DOSSIER,
        "agencyCode": AGENCY,
        "procedureCode": "1.002859",
        "applicant": {"type": "business", "name": "Công ty Vận tải A", "taxCode": "0101234567"},
        "representative": {"personalId": "038189001234"},
        "submittedAt": "2025-02-25T07:00:00Z",
        "documents": [
            {"name": "Giấy phép kinh doanh vận tải (cũ)", "componentCode": "GPKD"},
            {"name": "CCCD người điều hành", "componentCode": "CCCD"},
            {"name": "Đơn đề nghị", "componentCode": "DON"},
        ],
        **changes,
    }
    return DossierEvent(f"{DOSSIER}#submitted", SUBMITTED, DOSSIER, data, 0.0)


def collected(event_id: str, *found: tuple[str, dict[str, Any]]) -> DossierEvent:
    data = {
        "dossierCode": DOSSIER,
        "procedureCode": "1.002859",
        "requester": f"{AGENCY}/motcua",
        "complete": True,
        "found": [
            {
                "dataset": dataset,
                "key": {},
                "data": record,
                "provenance": {
                    "provider": "kho-ketqua" if dataset == "result.document" else "population",
                    "retrievedAt": "2025-02-25T07:00:01Z",
                    "cacheHit": False,
                    "requestId": event_id,
                },
            }
            for dataset, record in found
        ],
        "notFound": [],
        "toAsk": [],
    }
    return DossierEvent(event_id, EVIDENCE_COLLECTED, DOSSIER, data, 0.0)


def flags(record: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        d["MaThanhPhanHoSo"]: (d["DuocTaiSuDung"], d["DuocLayTuKhoDMQG"], d["MaKetQuaThayThe"])
        for d in record["TaiLieuNop"]
    }


@pytest.mark.parametrize("evidence_first", [True, False], ids=["evidence-first", "submission-first"])
async def test_what_the_bus_collected_reaches_the_portals_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evidence_first: bool
) -> None:
    monkeypatch.setenv("TEST_PORTAL_USER", USERNAME)
    monkeypatch.setenv("TEST_PORTAL_PASSWORD", PASSWORD)
    app, state = create_app()
    registry = CollectorRegistry()
    with serving(app) as server:
        settings = ConnectorSettings(
            name="portal",
            kind="portal",
            url=server.url,
            options={
                "agency_code": AGENCY,
                "username_env": "TEST_PORTAL_USER",
                "password_env": "TEST_PORTAL_PASSWORD",
                "database_codes": {"citizen.identity": "7"},
                "dataset_components": {"result.document": ["GPKD"], "citizen.identity": ["CCCD"]},
                "agency_names": {AGENCY: "Sở Giao thông vận tải"},
                "text_limits": {"GhiChu": 20},
            },
        )
        connector = from_settings(settings, ConnectorDeps(registry, tmp_path))
        await connector.open()
        try:
            store_result = collected("e1", ("result.document", {"resultCode": "12/GP-SGTVT"}))
            events = [store_result, submitted(note="Ghi chú dài hơn hai mươi ký tự")]
            for event in events if evidence_first else reversed(events):
                await connector.sync.apply(event)
            await connector.sync.apply(collected("e2", ("citizen.identity", {"personalId": "038189001234"})))
        finally:
            await connector.aclose()
    record = portal_of(state).store.dossiers[DOSSIER]
    assert flags(record) == {
        "GPKD": ("2", "1", "12/GP-SGTVT"),  # replaced by a stored result, from the data store
        "CCCD": ("1", "0", ""),  # reused registry data: not the citizen's data store
        "DON": ("0", "0", ""),
    }
    assert record["HoSoCoThanhPhanSoHoa"] == "1"
    assert record["DSKetNoiCSDL"] == [{"MaCSDL": "7"}]
    assert record["DonViXuLy"] == "Sở Giao thông vận tải"
    assert record["GhiChu"] == "Ghi chú dài hơn hai "  # cut at 20 characters
    assert registry.get_sample_value("lienthong_portal_truncated_texts_total", {"field": "GhiChu"}) == 1
