"""Which configuration file a command reads when it is given none.

The example is looked up in the checkout the package runs from, not in the current directory:
``lienthong serve`` started from /tmp or by a service manager must not depend on where it was
started. An installed package has no checkout beside it, so it names ``--config`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router.errors import ConfigError

EXAMPLE = Path("examples/lienthong.yaml")
CHECKOUT = Path(__file__).resolve().parent.parent
SHOWN_DEFAULT = str(CHECKOUT / EXAMPLE)  # what --help shows

# The --config option of every command that reads the configuration; resolve it with config_file.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="the configuration file (YAML)",
        envvar="LIENTHONG_CONFIG",
        show_default=SHOWN_DEFAULT,
    ),
]


def config_file(given: Path | None) -> Path:
    """``given`` if a file was named, else the checkout's example; ConfigError if there is none."""
    if given is not None:
        return given
    example = CHECKOUT / EXAMPLE
    if example.is_file():
        return example
    raise ConfigError(
        f"no configuration file given, and no {EXAMPLE} in {CHECKOUT}:"
        " name one with --config FILE (or LIENTHONG_CONFIG)"
    )
