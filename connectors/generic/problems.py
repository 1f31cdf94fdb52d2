"""What is wrong with a configured dataset's mapping, located by a path relative to the
connector's ``options``: the configuration loader turns each into a problem at its file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from router.errors import ConfigError

SpecPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SpecProblem:
    path: SpecPath  # below the connector entry's ``options``
    message: str
    fix: str


class SpecProblems(Exception):
    """Every problem of a connector's options, found at once."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)

    def config_error(self) -> ConfigError:
        return ConfigError(
            "; ".join(
                f"options{''.join(f'/{part}' for part in p.path)}: {p.message}. Fix: {p.fix}"
                for p in self.problems
            )
        )


@runtime_checkable
class ChecksContract(Protocol):
    """A connector whose configuration ``config check`` compares with the provider's document."""

    async def contract_problems(self) -> list[SpecProblem]: ...
