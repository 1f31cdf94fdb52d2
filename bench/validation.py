"""Validations per second of the bus's validator beside jsonschema-rs called directly, in one run.

Run: ``.venv/bin/python -m bench.validation [--seconds 0.5] [--repeat 5] [--strict]``

Both validate the ``dossier.submitted`` payloads of ``tests/data/events`` against the shipped
schema with the same formats. Ours is ``SchemaRegistry.validate`` (jsonschema-rs, compiled at
load, identifier formats as native patterns). The floor is jsonschema-rs's validator of the same
bundled schema, built here with the same formats (the same patterns, the tax code's callback) and
called directly (``is_valid``): what the registry's look-up and error handling add is the ratio.
The rounds interleave the two (``--repeat`` of each, about ``--seconds`` per run, one core:
validation runs on the thread that parsed the request); the median of the rounds' ratios on the
full dossier is held against issue 21's target (at least 0.9). python-jsonschema's
``Draft202012Validator`` with a ``FormatChecker`` holding the same formats is printed beside, as
the library the bus does not use.

Four more rows explain the design and its limits: jsonschema-rs calling the identifier formats
back in Python (what lowering them to patterns saves); ours on freshly parsed copies (strings not
yet seen by the validator, whose UTF-8 form Python builds on first access, as for real
requests); jsonschema-rs checking only types and required members (walking the Python objects,
nothing else); and one pass over the payload in C (orjson.dumps), which no validator that looks
at every value can beat by much.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from bench.verdict import AT_LEAST, exit_code, ratio_line
from router.identifiers import FORMATS, PATTERNS
from schemas import walk
from schemas.registry import SchemaRegistry
from schemas.validation import lower

EXAMPLES = Path(__file__).parent.parent / "tests" / "data" / "events" / "dossier.submitted"
PAYLOADS = {
    "citizen, full dossier": "valid-citizen.json",
    "business, tax code": "valid-business.json",
    "minimal": "valid-minimal.json",
}
FLOOR_TARGET = 0.9  # issue 21: ours at least this share of jsonschema-rs called directly


def rate(check: Callable[[], object], seconds: float, repeat: int) -> float:
    """Best calls per second of ``check`` over ``repeat`` runs of about ``seconds``."""
    calls = 1
    while True:  # size a run to about `seconds`
        start = time.perf_counter()
        for _ in range(calls):
            check()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            calls = max(1, int(calls * seconds / elapsed))
            break
        calls *= 4
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            check()
        best = max(best, calls / (time.perf_counter() - start))
    return best


def callbacks_validator(registry: SchemaRegistry) -> jsonschema_rs.Validator:
    """jsonschema-rs with every identifier format as a Python callback (no lowering)."""
    return jsonschema_rs.Draft202012Validator(
        registry.schema("dossier.submitted", 1),  # bundled: the shared definitions inside
        formats=dict(FORMATS),
        validate_formats=True,
    )


# What a structure-only schema keeps: types, required members, and the ways to reach subschemas.
STRUCTURE = frozenset({"$schema", "$id", "$ref", "$defs", "type", "properties", "items", "required"})


def structure_only_validator(registry: SchemaRegistry) -> jsonschema_rs.Validator:
    """jsonschema-rs checking only types and required members (no patterns, lengths, enums or
    formats): what walking the payload's Python objects costs by itself."""

    def keep_structure(schema: Any) -> Any:
        return {k: v for k, v in schema.items() if k in STRUCTURE} if isinstance(schema, dict) else schema

    bundled = registry.schema("dossier.submitted", registry.resolve("dossier.submitted", None).version)
    return jsonschema_rs.Draft202012Validator(walk.map_schemas(bundled, keep_structure))


def floor_validator(registry: SchemaRegistry) -> jsonschema_rs.Validator:
    """jsonschema-rs on the bundled schema with the bus's formats (patterns, the tax code's
    callback), nothing around it: the floor of ``SchemaRegistry.validate``."""
    ref = registry.resolve("dossier.submitted", None)
    return jsonschema_rs.Draft202012Validator(
        lower(registry.schema("dossier.submitted", ref.version)),
        formats={name: check for name, check in FORMATS.items() if name not in PATTERNS},
        validate_formats=True,
        ignore_unknown_formats=False,
    )


def measure(seconds: float, repeat: int) -> list[dict[str, Any]]:
    registry = SchemaRegistry.load()
    ref = registry.resolve("dossier.submitted", None)
    reference = registry.reference_validator(ref)
    floor = floor_validator(registry)
    rows = []
    for label, name in PAYLOADS.items():
        raw = (EXAMPLES / name).read_bytes()
        data = orjson.loads(raw)
        assert registry.validate(ref, data) == () and reference.is_valid(data) and floor.is_valid(data), name
        ours_rates, floor_rates = [], []
        for _ in range(repeat):  # interleaved: a slower spell of the machine falls on both
            floor_rates.append(rate(functools.partial(floor.is_valid, data), seconds, 1))
            ours_rates.append(rate(functools.partial(registry.validate, ref, data), seconds, 1))
        theirs = rate(functools.partial(reference.is_valid, data), seconds, max(1, repeat // 2))
        ours = max(ours_rates)
        rows.append(
            {
                "payload": label,
                "ours": ours,
                "floor": max(floor_rates),
                "ratios": [o / f for o, f in zip(ours_rates, floor_rates, strict=True)],
                "python_jsonschema": theirs,
                "ratio": ours / theirs,
            }
        )
    return rows


def extras(seconds: float) -> dict[str, float]:
    registry = SchemaRegistry.load()
    ref = registry.resolve("dossier.submitted", None)
    raw = (EXAMPLES / PAYLOADS["citizen, full dossier"]).read_bytes()
    data = orjson.loads(raw)
    slow = callbacks_validator(registry)
    assert slow.is_valid(data)
    fresh = [orjson.loads(raw) for _ in range(5_000)]
    start = time.perf_counter()
    for copy in fresh:
        registry.validate(ref, copy)
    fresh_rate = len(fresh) / (time.perf_counter() - start)
    structure = structure_only_validator(registry)
    assert structure.is_valid(data)
    return {
        "callbacks": rate(functools.partial(slow.is_valid, data), seconds, 3),
        "fresh": fresh_rate,
        "structure": rate(functools.partial(structure.is_valid, data), seconds, 3),
        "one_pass": rate(functools.partial(orjson.dumps, data), seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per rate; the best is kept")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    args = parser.parse_args(argv)

    rows = measure(args.seconds, args.repeat)
    print("dossier.submitted validation, one core, best of runs (validations/s)")
    print(
        f"{'payload':<24}{'ours':>12}{'jsonschema-rs direct':>22}{'python-jsonschema':>20}{'ours / python-js':>18}"
    )
    for row in rows:
        print(
            f"{row['payload']:<24}{row['ours']:>12,.0f}{row['floor']:>22,.0f}"
            f"{row['python_jsonschema']:>20,.0f}{row['ratio']:>17,.0f}x"
        )
    more = extras(args.seconds)
    print(
        f"jsonschema-rs with the identifier formats as Python callbacks (citizen): {more['callbacks']:,.0f}/s"
    )
    print(f"ours on 5,000 freshly parsed copies, each validated once (citizen):     {more['fresh']:,.0f}/s")
    print(
        f"jsonschema-rs checking types and required members only (citizen):      {more['structure']:,.0f}/s"
    )
    print(
        f"one pass over the payload in C, orjson.dumps (citizen), a ceiling:      {more['one_pass']:,.0f}/s"
    )
    ratio_line(
        "bench.validation",
        "validation, full dossier (x jsonschema-rs)",
        rows[0]["ratios"],
        AT_LEAST,
        FLOOR_TARGET,
    )
    return exit_code(args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
