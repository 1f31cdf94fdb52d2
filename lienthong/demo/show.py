"""``lienthong demo``: set the stage, play the scenario, sum it up, then keep serving until Ctrl-C.

``once`` stops after the summary; the exit status is 1 when a step failed, so the test suite and CI
run the same command a newcomer does.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from lienthong.demo.narrator import Narrator
from lienthong.demo.scenario import Figures, Scenario
from lienthong.demo.stage import Stage, StageError


def _summary(say: Narrator, figures: Figures, stage: Stage) -> None:
    f = figures.as_dict()
    say.heading("Summary")
    by_dataset = ", ".join(f"{n} {d}" for d, n in sorted(f["items_pulled_by_dataset"].items()))
    say.say(f"  data items pulled from the agencies instead of asked: {f['items_pulled']} ({by_dataset})")
    say.say(f"  data items the applicant still had to provide:        {f['items_to_ask']}")
    calls = ", ".join(f"{name} {n}" for name, n in f["calls"].items())
    say.say(f"  calls made per system (simulators' counts):           {calls}")
    lag = f["sync_lag_ms"]
    say.say(f"  statuses synchronised with the national portal:       {f['statuses_synchronised']}")
    say.say(f"  sync lag, 202 to the portal's receipt (p50 / max):    {lag['median']} / {lag['max']} ms")
    say.say(f"  dossiers not yet synchronised (GET /v1/stats):        {f['portal_unsynced_dossiers']}")
    audited = ", ".join(f"{n} {d}" for d, n in sorted(f["audit_entries_by_dataset"].items()))
    say.say(f"  audit log records of personal-data access:            {f['audit_entries']} ({audited})")
    say.say(f"  the official behind a query, as the audit log says:   {f['official_basis'] or 'not seen'}")
    result = f["result"]
    say.say(
        f"  licence {result['code']}: stored {'yes' if result['stored'] else 'no'}, "
        f"reused by the badge dossier {'yes' if result['reused'] else 'no'}"
    )
    _where(say, stage)


def _where(say: Narrator, stage: Stage) -> None:
    bus = stage.bus_url
    say.heading("Where to look next")
    say.say(f"  API documentation   {bus}/docs")
    say.say(f"  metrics             {bus}/metrics")
    say.say(f"  console             {bus}/console (sign in with LIENTHONG_DEMO_KEY_VANHANH)")
    say.say(f"  AsyncAPI document   {bus}/v1/asyncapi.json (with an API key: examples/demo-keys.env)")
    portal = next((a.url for a in stage.actors.values() if a.system == "portal"), None)
    if portal is not None:
        say.say(f"  the portal's view   {portal}/_sim/dossiers")
    say.say(f"  the bus's log       {stage.log_file}")
    say.say("  the audit log       lienthong audit show --config " + str(stage.config))
    say.say("  connect a system    docs/quickstart.md")


def _interrupt_on_sigterm() -> Any:
    """SIGTERM (a service manager, a test) stops the demo as Ctrl-C does: the bus runs in its own
    session, so the demo must stop it, whatever it was doing."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _serve_until_interrupted() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def run(
    config: Path,
    *,
    once: bool,
    free_ports: bool = False,
    summary_json: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Plays the demo; the process's exit status (0: every step passed and everything stopped)."""
    say = Narrator(out or sys.stdout)
    config = config.resolve()
    log_dir = config.parent / "../var"
    stage = Stage(config, (log_dir / "demo-bus.log").resolve(), free_ports=free_ports)
    previous = _interrupt_on_sigterm()
    try:
        return _run(stage, say, once=once, summary_json=summary_json)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(stage: Stage, say: Narrator, *, once: bool, summary_json: Path | None) -> int:
    say.heading("lienthong demo: the bus and every agency system, on this machine")
    failed = False
    try:
        with say.step("agency simulators and the bus start (embedded log, no other server)") as step:
            stage.start()
            step.note(
                ", ".join(f"{a.name} {a.url}" for a in stage.actors.values()) + f"; bus {stage.bus_url}"
            )
    except StageError:
        stage.stop()
        return 1
    except BaseException:
        stage.stop()
        raise
    scenario = Scenario(stage, say)
    try:
        try:
            scenario.play()
        except Exception as error:  # the failed step was narrated; the summary still tells what happened
            failed = True
            if not say.failed:
                say.say(f"  ✗ {type(error).__name__}: {error}")
        figures = scenario.count()
        _summary(say, figures, stage)
        failed = failed or bool(say.failed)
        if summary_json is not None:
            report: dict[str, Any] = {
                "ok": not failed,
                "steps": [{"title": s.title, "ok": s.ok, "detail": s.detail} for s in say.steps],
                "figures": figures.as_dict(),
                "bus": stage.bus_url,
                "bus_config": str(stage.bus_config),
                "simulators": {a.name: {"system": a.system, "url": a.url} for a in stage.actors.values()},
            }
            partial = summary_json.with_name(summary_json.name + ".part")
            partial.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
            partial.replace(summary_json)  # whole or absent: a reader may be waiting for it
        if not once:
            say.say()
            say.say("Serving: try the quickstart's commands (docs/quickstart.md). Ctrl-C stops everything.")
            _serve_until_interrupted()
    finally:
        scenario.close()
        say.say()
        status = stage.stop()
        say.say(f"Stopped: the bus exited with status {status}; the simulators are closed.")
    return 1 if failed or status != 0 else 0
