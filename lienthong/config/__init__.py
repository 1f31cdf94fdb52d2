"""The configuration file: loading, validating and turning it into Settings.

Loading runs four stages, each reporting every problem it finds before the next runs:
1. read (size, UTF-8) and parse the YAML strictly (source.py), keeping the node tree for positions;
2. validate against schemas/config/lienthong.schema.json (validation.py);
3. build Settings and check what the schema cannot: references, uniqueness, policy (build.py);
4. report: one ConfigError whose lines name file:line:col, the JSON pointer, and the fix.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from lienthong.config.build import build_settings
from lienthong.config.problems import Problem, config_error
from lienthong.config.settings import HttpSettings, SchemaSettings, Settings, TransportSettings
from lienthong.config.source import SourceProblems, read_document
from lienthong.config.validation import config_schema, schema_problems
from schemas.units import parse_duration, parse_size

__all__ = [
    "HttpSettings",
    "SchemaSettings",
    "Settings",
    "TransportSettings",
    "config_schema",
    "load_settings",
    "parse_duration",
    "parse_size",
]


def load_settings(
    path: Path, event_types: Collection[str] | None = None, released_types: Collection[str] = ()
) -> Settings:
    """Loads and checks a configuration file; raises ConfigError listing every problem.

    ``event_types``, when given (the registered contracts), makes an unregistered exact type in a
    subscription or a policy an error too; ``released_types`` (the contracts' types carrying
    released personal data) makes a subscription that would receive one, other than its
    recipient's, an error.
    """
    try:
        document = read_document(path)
    except SourceProblems as error:
        raise config_error(path, error.problems, lambda p: (1, 1)) from None

    def locate(problem: Problem) -> tuple[int, int]:
        return document.position(problem.path, problem.at_key)

    if document.data is None:
        raise config_error(
            path,
            [Problem((), "the file is empty", "start from examples/lienthong.yaml", line=1, column=1)],
            locate,
        )
    problems = schema_problems(document.data)
    if problems:
        raise config_error(path, problems, locate)
    settings, problems = build_settings(path, document.data, event_types, released_types)
    if settings is None:
        raise config_error(path, problems, locate)
    return settings
