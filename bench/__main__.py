"""Every benchmark, one after the other: ``make bench`` (or ``python -m bench``).

Each prints its own rate and the ratio against the baseline it measures in the same run; run one
alone (``python -m bench.end_to_end --help``) to set its options.
Run them on an otherwise idle machine: they share its cores with nothing else.
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    "bench.validation",
    "bench.embedded_log",
    "bench.end_to_end",
    "bench.kafka_pipeline",
    "bench.soap_call",
    "bench.evidence",
    "bench.portal_sync",
    "bench.audit",
]


def main() -> int:
    failed = 0
    for module in BENCHES:
        print(f"\n== {module}", flush=True)
        failed += subprocess.call([sys.executable, "-m", module]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
