"""Telling the scenario as it happens: a live line per step at a terminal, plain lines otherwise.

At a terminal a running step shows a spinner-less "…" line that is rewritten in place when the
step ends; in a pipe or a log file (the test suite, CI) every step is one finished line, so the
output reads the same in both and never holds control characters in a file.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO


class StepFailed(Exception):
    """A step of the scenario did not do what it should; the message says what was seen."""


@dataclass
class Step:
    title: str
    detail: str = ""
    ok: bool = True

    def note(self, detail: str) -> None:
        self.detail = detail


@dataclass
class Narrator:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    live: bool | None = None  # None: live when ``out`` is a terminal
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.live is None:
            self.live = self.out.isatty()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def heading(self, text: str) -> None:
        self.say()
        self.say(f"== {text}")

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Step]:
        """A step: ``✓ title: detail (time)`` when the block ends, ``✗`` and the reason when it
        raises (the error goes on: the scenario decides whether to stop)."""
        step = Step(title)
        self.steps.append(step)
        if self.live:
            self.out.write(f"  … {title}")
            self.out.flush()
        started = time.monotonic()
        try:
            yield step
        except Exception as error:
            step.ok = False
            step.detail = str(error) or type(error).__name__
            self._finish(step, time.monotonic() - started)
            raise
        self._finish(step, time.monotonic() - started)

    def _finish(self, step: Step, elapsed_s: float) -> None:
        mark = "✓" if step.ok else "✗"
        detail = f": {step.detail}" if step.detail else ""
        line = f"  {mark} {step.title}{detail} ({elapsed_s * 1000:.0f} ms)"
        if self.live:
            self.out.write("\r\033[2K" + line + "\n")
        else:
            self.out.write(line + "\n")
        self.out.flush()

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]
