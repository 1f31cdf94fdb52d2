from __future__ import annotations

import pytest

from connectors.portal.status_machine import ALLOWED, STATUSES, TERMINAL, Verdict, is_held, judge

LIVES = [
    (1, 2, 4, 5, 4, 9, 10),
    (1, 2, 4, 6, 4, 9, 10),
    (1, 3),
    (1, 7),
    (1, 2, 4, 5, 8),
    (1, 2, 9, 10),
    (2, 4, 7),
]


def test_the_table_covers_every_status_and_terminal_ones_go_nowhere() -> None:
    assert set(ALLOWED) == set(STATUSES) == set(range(1, 11))
    assert {3, 7, 8, 10} == TERMINAL
    assert all(not ALLOWED[status] for status in TERMINAL)
    assert all(ALLOWED[status] for status in set(STATUSES) - TERMINAL)


@pytest.mark.parametrize("life", LIVES)
def test_real_lives_are_moves(life: tuple[int, ...]) -> None:
    current = None
    for status in life:
        assert judge(current, status) is Verdict.MOVE
        current = status


@pytest.mark.parametrize(
    ("current", "new", "verdict"),
    [
        (4, 4, Verdict.SAME),
        (9, 4, Verdict.BACKWARD),
        (4, 2, Verdict.BACKWARD),
        (4, 1, Verdict.BACKWARD),
        (10, 9, Verdict.FROM_TERMINAL),
        (3, 4, Verdict.FROM_TERMINAL),
        (8, 4, Verdict.FROM_TERMINAL),
        (1, 9, Verdict.NOT_ALLOWED),
        (1, 4, Verdict.NOT_ALLOWED),
        (5, 9, Verdict.NOT_ALLOWED),  # 5 and 6 go back to 4 first
        (4, 10, Verdict.NOT_ALLOWED),
        (4, 11, Verdict.UNKNOWN_STATUS),
        (None, 0, Verdict.UNKNOWN_STATUS),
    ],
)
def test_wrong_moves_are_held_with_their_reason(current: int | None, new: int, verdict: Verdict) -> None:
    assert judge(current, new) is verdict
    assert is_held(verdict) == (verdict is not Verdict.SAME)
