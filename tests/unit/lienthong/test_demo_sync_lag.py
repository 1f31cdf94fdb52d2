"""The demo's sync lag comes from the portal simulator's record of when it received each call,
less the bus's 202 for the event: measured, not the granularity of the demo's polling."""

from __future__ import annotations

from connectors.portal import protocol
from lienthong.demo.scenario import Figures, SyncTiming, written_at

LOG = [
    {"seq": 1, "service": protocol.LOOKUP, "error_code": "0", "found": False, "received_at": 100.0},
    # an "already exists" create writes nothing: not the sync of status 1
    {
        "seq": 2,
        "service": protocol.SYNC,
        "status": "1",
        "error_code": "0",
        "written": False,
        "received_at": 100.1,
    },
    {
        "seq": 3,
        "service": protocol.SYNC,
        "status": "1",
        "error_code": "0",
        "written": True,
        "received_at": 100.2,
    },
    {
        "seq": 4,
        "service": protocol.SYNC,
        "status": "2",
        "error_code": "0",
        "written": True,
        "received_at": 101.0,
    },
    {
        "seq": 5,
        "service": protocol.SYNC,
        "status": "2",
        "error_code": "0",
        "written": True,
        "received_at": 102.0,
    },
]


def test_the_receipt_is_the_first_call_that_wrote_the_status() -> None:
    assert written_at(LOG, 1) == 100.2
    assert written_at(LOG, 2) == 101.0  # a later write of the same status is not its sync
    assert written_at(LOG, 4) is None  # not there yet: the demo keeps waiting
    assert written_at([{k: v for k, v in LOG[2].items() if k != "received_at"}], 1) is None


def test_the_lag_figures_are_the_portals_receipts_less_the_202s() -> None:
    figures = Figures(
        syncs=[
            SyncTiming("D-1", 1, acknowledged_at=100.0, portal_received_at=100.0123),
            SyncTiming("D-1", 2, acknowledged_at=100.9, portal_received_at=101.0),
            SyncTiming("D-1", 4, acknowledged_at=101.5, portal_received_at=101.5071),
        ]
    )
    lag = figures.as_dict()["sync_lag_ms"]
    # 12.3, 100.0 and 7.1 ms: none a multiple of a 50 ms poll, the median the record's
    assert lag == {"median": 12.3, "max": 100.0}
    assert [round(s["portal_received_at"] - s["acknowledged_at"], 4) for s in figures.as_dict()["syncs"]] == [
        0.0123,
        0.1,
        0.0071,
    ]
