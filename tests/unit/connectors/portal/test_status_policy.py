"""The status policy: ``forward`` sends the moves real clients send and reports them, ``strict``
holds them until an operator accepts them; a code that is not a status is refused under both."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.portal.metrics import PortalMetrics
from connectors.portal.release import DossierNotReleasable, checked_reason, moves_to_accept
from connectors.portal.session import PortalClient
from connectors.portal.state import SyncStateStore
from connectors.portal.status_machine import Decision, StatusPolicy, Verdict, decide, judge
from connectors.portal.sync import DossierEvent, Held, PortalSync
from router.errors import InvalidRequest
from router.ports import DeadLetter, StoredMessage

DOSSIER = "000.00.00.H49-240502-0001"
# moves real clients send that the table does not list (portal-dvcqg.md §2.11)
REAL_CLIENT_MOVES = [(2, 10), (6, 9), (5, 9), (8, 9), (10, 1), (2, 1), (9, 4), (4, 10)]


@pytest.mark.parametrize(("old", "new"), REAL_CLIENT_MOVES)
def test_forward_sends_what_real_clients_send_and_strict_holds_it(old: int, new: int) -> None:
    verdict = judge(old, new)
    assert decide(verdict, StatusPolicy.FORWARD) is Decision.UNUSUAL
    assert decide(verdict, StatusPolicy.STRICT) is Decision.HOLD
    assert decide(verdict, StatusPolicy.STRICT, accepted=True) is Decision.UNUSUAL


@pytest.mark.parametrize("policy", list(StatusPolicy))
def test_listed_moves_go_and_codes_that_are_not_statuses_never_do(policy: StatusPolicy) -> None:
    assert decide(judge(1, 2), policy) is Decision.FORWARD
    assert decide(judge(4, 4), policy) is Decision.FORWARD
    assert decide(judge(None, 1), policy) is Decision.FORWARD
    for old, new in [(4, 11), (4, 0), (None, 12)]:
        assert judge(old, new) is Verdict.UNKNOWN_STATUS
        assert decide(Verdict.UNKNOWN_STATUS, policy) is Decision.HOLD
        assert decide(Verdict.UNKNOWN_STATUS, policy, accepted=True) is Decision.HOLD


def _sync(tmp_path: Path, policy: StatusPolicy) -> tuple[PortalSync, CollectorRegistry]:
    registry = CollectorRegistry()
    # _check_move makes no portal call: no client is needed
    client = cast(PortalClient, None)
    return PortalSync(
        client, SyncStateStore.in_file(tmp_path / "s.db"), PortalMetrics(registry), status_policy=policy
    ), registry


def _event(event_id: str) -> DossierEvent:
    return DossierEvent(event_id, "dossier.status.changed", DOSSIER, {}, 0.0)


def test_forward_counts_and_lists_each_unusual_move_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        sync, registry = _sync(tmp_path, StatusPolicy.FORWARD)
        await sync.store.open()
        await sync._check_move(2, 10, _event("e1"))
        await sync._check_move(2, 10, _event("e1"))  # the same event retried: counted once
        await sync._check_move(10, 1, _event("e2"))
        await sync._check_move(1, 2, _event("e3"))  # a listed move: not reported
        with pytest.raises(Held) as held:
            await sync._check_move(2, 11, _event("e4"))
        assert held.value.reason == "unknown_status"
        value = registry.get_sample_value
        assert value("lienthong_portal_unusual_moves_total", {"from": "2", "to": "10"}) == 1
        assert value("lienthong_portal_unusual_moves_total", {"from": "10", "to": "1"}) == 1
        moves = await sync.store.unusual_moves()
        assert [(m.event_id, m.from_status, m.to_status, m.accepted) for m in moves] == [
            ("e1", 2, 10, False),
            ("e2", 10, 1, False),
        ]
        assert [m.event_id for m in await sync.store.unusual_moves(after=moves[0].seq)] == ["e2"]
        assert await sync.store.unusual_moves(dossier="another") == []
        await sync.store.close()

    asyncio.run(scenario())


def test_strict_holds_until_the_move_is_accepted_for_that_dossier(tmp_path: Path) -> None:
    async def scenario() -> None:
        sync, registry = _sync(tmp_path, StatusPolicy.STRICT)
        await sync.store.open()
        with pytest.raises(Held) as held:
            await sync._check_move(2, 10, _event("e1"))
        assert held.value.reason == "not_allowed"
        assert Held.reason_in(held.value.detail) == "not_allowed"
        await sync.store.accept_moves("another", [(2, 10)], official="canbo.01", reason="x")
        with pytest.raises(Held):
            await sync._check_move(2, 10, _event("e1"))  # accepted for another dossier only
        await sync.store.accept_moves(DOSSIER, [(2, 10)], official="canbo.01", reason="x")
        await sync._check_move(2, 10, _event("e1"))
        with pytest.raises(Held):
            await sync._check_move(10, 1, _event("e2"))  # another move is still held
        assert [(m.from_status, m.to_status, m.accepted) for m in await sync.store.unusual_moves()] == [
            (2, 10, True)
        ]
        assert (
            registry.get_sample_value("lienthong_portal_unusual_moves_total", {"from": "2", "to": "10"}) == 1
        )
        await sync.store.close()

    asyncio.run(scenario())


def _letter(number: int, kind: str, data: dict[str, Any], last_error: str = "") -> DeadLetter:
    headers = (("ce_type", kind.encode()), ("ce_id", f"{DOSSIER}#{number}".encode()))
    message = StoredMessage("deliver.portal", 0, number, DOSSIER, orjson.dumps(data), headers, 0)
    return DeadLetter(number, "portal", f"{DOSSIER}#{number}", DOSSIER, "x", 1, last_error, 0, message)


def test_a_release_accepts_every_unlisted_move_its_waiting_events_make() -> None:
    letters = [
        _letter(1, "dossier.status.changed", {"status": 10}, "held (not_allowed): status 2 -> 10"),
        _letter(2, "dossier.progress.updated", {"status": 4}, "an earlier event is a dead letter"),
        _letter(3, "dossier.status.changed", {"status": 1}),
        _letter(4, "dossier.status.changed", {"status": 2}),
        _letter(5, "dossier.status.changed", {"status": 10}),  # 2 -> 10 again: accepted once
    ]
    assert moves_to_accept(2, letters) == ((2, 10), (10, 1))
    assert moves_to_accept(2, letters[2:4]) == ((2, 1),)
    assert moves_to_accept(1, letters[3:4]) == ()


@pytest.mark.parametrize(
    "letter",
    [
        _letter(1, "dossier.status.changed", {"status": 11}),
        _letter(1, "dossier.status.changed", {"status": 4}, "held (invalid_event): no applicant ID"),
        _letter(1, "dossier.status.changed", {"status": 4}, "held (unknown_status): status 4 -> 0"),
    ],
)
def test_no_release_lets_through_what_no_policy_accepts(letter: DeadLetter) -> None:
    with pytest.raises(DossierNotReleasable):
        moves_to_accept(2, [letter])


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "line one\nline two", "bidi \u202e override"])
def test_a_reason_is_one_bounded_line(reason: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        checked_reason(reason)
    assert refused.value.errors[0].pointer == "/reason"


def test_a_reason_is_kept_as_written() -> None:
    assert checked_reason("  Hồ sơ trả kết quả tại chỗ (2 -> 10), đã kiểm tra  ") == (
        "Hồ sơ trả kết quả tại chỗ (2 -> 10), đã kiểm tra"
    )
    assert checked_reason("x" * 500) == "x" * 500
