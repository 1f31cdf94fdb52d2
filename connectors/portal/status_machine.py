"""The portal's dossier status codes (TrangThaiHoSo) and the moves allowed between them.

One table, :data:`ALLOWED`, of the life the status names describe (portal-dvcqg.md §2.11, whose
names the portal's scoring rules use): a dossier is registered
(1), accepted (2) or refused (3); accepted dossiers are processed (4), may wait for documents (5)
or payment (6) and go back to processing (4); processing ends processed (9), then the result is
returned (10). The applicant may withdraw (7) and the agency may stop processing (8) while the
dossier is open. 3, 7, 8 and 10 end a dossier.

Real clients send moves the table does not list (portal-dvcqg.md §2.11): 2 -> 10 when a result is
returned on the spot, 5/6/8 rewritten as 9 (so 6 -> 9), 10 -> 1 and 2 -> 1 when an action is
undone, 4 after 9 when processing resumes. Whether the portal refuses any of them is unknown, so
what the bus does with such an *unusual* move is a policy (:class:`StatusPolicy`): ``forward``
sends it as a real client does and reports it; ``strict`` holds it until an operator accepts it.
A code that is not a status (not 1-10) is refused under both.

Pure logic: no I/O, no framework.
"""

from __future__ import annotations

from enum import StrEnum

STATUSES: dict[int, str] = {
    1: "Mới đăng ký (newly registered)",
    2: "Được tiếp nhận (accepted)",
    3: "Không được tiếp nhận (refused)",
    4: "Đang xử lý (in progress)",
    5: "Yêu cầu bổ sung giấy tờ (more documents requested)",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính (payment requested)",
    7: "Công dân yêu cầu rút hồ sơ (withdrawn by the applicant)",
    8: "Dừng xử lý (stopped)",
    9: "Đã xử lý xong (processed)",
    10: "Đã trả kết quả (result returned)",
}

TERMINAL = frozenset({3, 7, 8, 10})

# from -> the statuses a dossier may move to next (a status "moving" to itself is no move)
ALLOWED: dict[int, frozenset[int]] = {
    1: frozenset({2, 3, 7}),
    2: frozenset({4, 5, 6, 7, 8, 9}),  # simple procedures are processed on the spot (2 -> 9)
    4: frozenset({5, 6, 7, 8, 9}),
    5: frozenset({4, 7, 8}),  # documents supplied (4), or never supplied (7, 8)
    6: frozenset({4, 7, 8}),
    9: frozenset({10}),
    3: frozenset(),
    7: frozenset(),
    8: frozenset(),
    10: frozenset(),
}

# How far along the life of a dossier a status is, to tell a move backwards from a skip.
_STAGE = {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 3, 8: 3, 9: 3, 10: 4}


class Verdict(StrEnum):
    """What a move is; every value but ``MOVE`` and ``SAME`` is a held-transition reason."""

    MOVE = "move"
    SAME = "same"  # no status change (other fields may have changed)
    BACKWARD = "backward"  # to an earlier stage of the dossier's life (9 -> 4)
    FROM_TERMINAL = "from_terminal"  # out of 3, 7, 8 or 10
    NOT_ALLOWED = "not_allowed"  # a skip or a move the table does not know (1 -> 9)
    UNKNOWN_STATUS = "unknown_status"  # not a code 1-10


# every reason a transition can be held for, as the metric's label values
HOLD_REASONS = (
    Verdict.BACKWARD.value,
    Verdict.FROM_TERMINAL.value,
    Verdict.NOT_ALLOWED.value,
    Verdict.UNKNOWN_STATUS.value,
    "unknown_dossier",  # a change for a dossier neither the bus nor the portal knows
    "invalid_event",  # the event cannot be mapped to the portal's fields
)


def judge(current: int | None, new: int) -> Verdict:
    """The verdict on moving a dossier from ``current`` (None: not known yet) to ``new``."""
    if new not in STATUSES or (current is not None and current not in STATUSES):
        return Verdict.UNKNOWN_STATUS
    if current is None:
        return Verdict.MOVE
    if current == new:
        return Verdict.SAME
    if current in TERMINAL:
        return Verdict.FROM_TERMINAL
    if new in ALLOWED[current]:
        return Verdict.MOVE
    if _STAGE[new] < _STAGE[current]:
        return Verdict.BACKWARD
    return Verdict.NOT_ALLOWED


def is_held(verdict: Verdict) -> bool:
    """Whether the table lists no such move (under ``strict``, the move is held)."""
    return verdict not in (Verdict.MOVE, Verdict.SAME)


class StatusPolicy(StrEnum):
    """What the bus does with a move the table does not list (option ``status_policy``)."""

    FORWARD = "forward"  # sent as real clients send it, counted and listed for operators
    STRICT = "strict"  # held as a dead letter until an operator releases the dossier


class Decision(StrEnum):
    FORWARD = "forward"  # a move the table lists (or no move): sent
    UNUSUAL = "unusual"  # a move the table does not list: sent, counted and listed
    HOLD = "hold"  # not sent: dead-lettered with the verdict as its reason


def decide(verdict: Verdict, policy: StatusPolicy, *, accepted: bool = False) -> Decision:
    """What to do with a move judged ``verdict`` under ``policy``; ``accepted``: an operator
    accepted this very move of the dossier (``lienthong portal release``)."""
    if verdict is Verdict.UNKNOWN_STATUS:
        return Decision.HOLD  # not a status: no policy or operator makes it one
    if not is_held(verdict):
        return Decision.FORWARD
    if policy is StatusPolicy.FORWARD or accepted:
        return Decision.UNUSUAL
    return Decision.HOLD
