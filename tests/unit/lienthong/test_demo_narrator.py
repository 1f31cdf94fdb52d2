"""The demo's narration: one finished line per step in a file or pipe, a line rewritten in place at
a terminal, and a failed step marked with its reason."""

from __future__ import annotations

import io

import pytest

from lienthong.demo.narrator import Narrator, StepFailed


def test_plain_lines_when_not_at_a_terminal() -> None:
    out = io.StringIO()
    say = Narrator(out)
    assert say.live is False  # a StringIO is no terminal
    with say.step("the bus starts") as step:
        step.note("ready")
    with pytest.raises(StepFailed), say.step("the portal shows it"):
        raise StepFailed("not seen within 30 s")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  ✓ the bus starts: ready (") and lines[0].endswith(" ms)")
    assert lines[1].startswith("  ✗ the portal shows it: not seen within 30 s (")
    assert "\033" not in out.getvalue() and "\r" not in out.getvalue()
    assert [s.title for s in say.failed] == ["the portal shows it"]


def test_a_live_line_is_rewritten_when_the_step_ends() -> None:
    out = io.StringIO()
    say = Narrator(out, live=True)
    with say.step("the bus collects the evidence") as step:
        assert out.getvalue() == "  … the bus collects the evidence"
        step.note("9 items")
    assert out.getvalue().startswith(
        "  … the bus collects the evidence\r\033[2K  ✓ the bus collects the evidence: 9 items ("
    )
