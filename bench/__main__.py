"""Every benchmark, one after the other, then one table of every ratio against its floor:
``make bench`` (or ``python -m bench [MODULE ...] [--strict]``).

Each bench measures its floor in the same run, prints its figures and, through bench.verdict, its
ratios with PASS or FAIL against issue 21's targets; this runner gathers those verdicts (the
``LIENTHONG_BENCH_VERDICTS`` file) into the summary. The Kafka bench runs only when
``LIENTHONG_KAFKA_BOOTSTRAP`` names a broker (bench.latency skips its Kafka rows by itself). A FAIL
is reported, not an error: the exit status is 1 when a bench broke, or with ``--strict`` when a
ratio missed its target. Run one alone (``python -m bench.end_to_end --help``) to set its options.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.verdict import VERDICTS_ENV, read_verdicts, summary

BENCHES = [
    "bench.validation",
    "bench.embedded_log",
    "bench.end_to_end",
    "bench.latency",
    "bench.kafka_pipeline",
    "bench.soap_call",
    "bench.evidence",
    "bench.portal_sync",
    "bench.audit",
]
NEEDS_KAFKA = {"bench.kafka_pipeline"}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"some of {', '.join(BENCHES)} (all)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(BENCHES))
    if unknown:
        parser.error(f"not a bench: {', '.join(unknown)}")
    kafka = os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP")
    broken, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder:
        verdicts = Path(folder) / "verdicts.jsonl"
        env = {**os.environ, VERDICTS_ENV: str(verdicts)}
        for module in args.modules or BENCHES:
            if module in NEEDS_KAFKA and not kafka:
                skipped.append(module)
                continue
            print(f"\n== {module}", flush=True)
            if subprocess.call([sys.executable, "-m", module], env=env) != 0:
                broken.append(module)
        given = read_verdicts(verdicts)
    print("\n== Ratios against the floors (issue 21's targets)")
    print(summary(given))
    for module in skipped:
        print(f"{module}: skipped, no broker configured (set LIENTHONG_KAFKA_BOOTSTRAP)")
    for module in broken:
        print(f"{module}: BROKE (exited non-zero; its output is above)")
    failed = [v for v in given if not v.passed]
    return 1 if broken or (args.strict and failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
