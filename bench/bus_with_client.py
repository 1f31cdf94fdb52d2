"""``lienthong serve`` whose REST connectors call through another client class of
:data:`bench.httpx_client.CLIENTS`, for ``bench.evidence --rest-client``; the class is passed to
:func:`lienthong.serving.serve`, as any composition of the bus would.

Run: ``python -m bench.bus_with_client httpx --config FILE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.httpx_client import CLIENTS
from lienthong.serving import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_with_client", description=__doc__)
    parser.add_argument("client", choices=sorted(CLIENTS), help="the REST connectors' HTTP client")
    parser.add_argument("--config", type=Path, required=True, help="the bus's configuration file")
    args = parser.parse_args()
    serve(args.config, rest_client=CLIENTS[args.client])


if __name__ == "__main__":
    main()
