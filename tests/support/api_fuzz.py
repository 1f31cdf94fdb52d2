"""A schemathesis run inside a test: the engine the ``schemathesis run`` command uses, its events
read into what a test asserts on and a reader needs (each distinct finding with a curl command
that reproduces it).

The engine rather than schemathesis' pytest integration: its lazy loader (a schema from a
fixture, needed because the bus starts in a fixture) fails under pytest 9.2 (it sets a pytest
node's private ``_nodeid``), and the engine runs the same phases as the command a developer
types."""

from __future__ import annotations

from dataclasses import dataclass, field

import schemathesis
from schemathesis.engine import events, from_schema

MAX_SHOWN = 30


@dataclass(frozen=True)
class Finding:
    operation: str
    title: str
    message: str
    curl: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.title}\n  {self.message.strip()[:600]}\n  {self.curl[:800]}"


@dataclass
class FuzzRun:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        shown = [str(finding) for finding in self.findings[:MAX_SHOWN]] + self.errors
        more = len(self.findings) - MAX_SHOWN
        tail = [f"... and {more} more findings"] if more > 0 else []
        head = f"{len(self.findings)} findings, {len(self.errors)} errors ({self.summary()})"
        return "\n\n".join([head, *shown, *tail])

    def summary(self) -> str:
        return f"{len(self.operations)} operations, {self.cases} requests, {self.seconds:.0f} s"


def fuzz(schema: schemathesis.BaseSchema) -> FuzzRun:
    """Runs every phase the schema's configuration enables; the distinct findings, in order."""
    run = FuzzRun()
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            recorder = event.recorder
            run.operations.add(recorder.label)
            run.cases += len(recorder.cases)
            for checks in recorder.checks.values():
                for check in checks:
                    info = check.failure_info
                    if info is None:
                        continue
                    failure = info.failure
                    operation = failure.operation or recorder.label
                    key = (
                        operation,
                        failure.title,
                        failure.message.splitlines()[0] if failure.message else "",
                    )
                    if key not in seen:
                        seen.add(key)
                        curl = info.steps[-1].curl if info.steps else info.code_sample
                        run.findings.append(Finding(operation, failure.title, failure.message, curl))
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"schemathesis failed: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            run.seconds = event.running_time
            run.findings += [Finding(f.operation or "", f.title, f.message, "") for f in event.failures]
    return run
