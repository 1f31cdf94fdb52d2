"""One way for every benchmark to state a ratio against its floor and whether it meets its target.

A target is a ratio measured in one run, the bus beside the least code that does the same job on
the same machine (issue 21), never an absolute figure: the machine's load moves both sides alike.
:func:`ratio_line` prints one line per ratio::

    RATIO bench.end_to_end  webhook batch 500, events/s   0.17 (0.15 - 0.19)  >= 0.35  FAIL

and, when ``LIENTHONG_BENCH_VERDICTS`` names a file, appends the same verdict to it as a JSON line,
for ``python -m bench`` to gather into one summary table. :func:`exit_code` is what a bench's
``main`` returns: 1 on a FAIL only under ``--strict``, so ``make bench`` reports rather than breaks.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

VERDICTS_ENV = "LIENTHONG_BENCH_VERDICTS"
AT_LEAST, AT_MOST = ">=", "<="


@dataclass(frozen=True, slots=True)
class Verdict:
    bench: str  # the module, bench.end_to_end
    row: str  # what is compared, and in what unit
    ratio: float  # the median of the rounds' ratios, bus / floor
    low: float  # the rounds' lowest ratio
    high: float  # and highest
    op: str  # AT_LEAST or AT_MOST
    target: float

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target if self.op == AT_LEAST else self.ratio <= self.target

    def line(self) -> str:
        spread = f"({self.low:.3f} - {self.high:.3f})" if self.low != self.high else ""
        outcome = "PASS" if self.passed else "FAIL"
        return (
            f"RATIO {self.bench:<20} {self.row:<46} {self.ratio:6.3f} {spread:<17} "
            f"{self.op} {self.target:<5g} {outcome}"
        )


_given: list[Verdict] = []


def ratio_line(bench: str, row: str, ratios: Sequence[float], op: str, target: float) -> Verdict:
    """Prints (and records) the verdict on ``ratios``, one per round: their median against ``target``."""
    if op not in (AT_LEAST, AT_MOST):
        raise ValueError(f"op: {AT_LEAST!r} or {AT_MOST!r}, not {op!r}")
    if not ratios:
        raise ValueError("no ratio measured")
    verdict = Verdict(bench, row, statistics.median(ratios), min(ratios), max(ratios), op, target)
    _given.append(verdict)
    print(verdict.line(), flush=True)
    if path := os.environ.get(VERDICTS_ENV):
        with Path(path).open("ab") as out:
            out.write(orjson.dumps(asdict(verdict)) + b"\n")
    return verdict


def read_verdicts(path: Path) -> list[Verdict]:
    """The verdicts appended to ``path`` (by :func:`ratio_line` under ``LIENTHONG_BENCH_VERDICTS``)."""
    if not path.exists():
        return []
    return [Verdict(**orjson.loads(line)) for line in path.read_bytes().splitlines() if line.strip()]


def exit_code(strict: bool) -> int:
    """1 when ``strict`` and a verdict of this process failed; 0 otherwise."""
    return 1 if strict and any(not v.passed for v in _given) else 0


def summary(verdicts: Sequence[Verdict]) -> str:
    """One table of every verdict, in the order given."""
    lines = [f"{'bench':<22}{'row':<48}{'ratio':>7}  {'rounds':<17}{'target':<10}verdict"]
    for v in verdicts:
        spread = f"{v.low:.3f} - {v.high:.3f}"
        outcome = "PASS" if v.passed else "FAIL"
        lines.append(f"{v.bench:<22}{v.row:<48}{v.ratio:>7.3f}  {spread:<17}{v.op} {v.target:<7g}{outcome}")
    return "\n".join(lines)
