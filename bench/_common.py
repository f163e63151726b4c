"""Helpers shared by the benchmarks: timing and writing bench/results/<name>.json."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def rate(n: int, fn: Callable[[], Any]) -> float:
    """Operations per second of ``fn`` doing ``n`` operations."""
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def write(name: str, figures: dict[str, float | int | str]) -> Path:
    """Write the flat JSON object of figures (plus where they were measured) and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {**figures, "machine": f"{platform.machine()} {platform.python_version()}"}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    width = max(map(len, out))
    for k, v in out.items():
        print(f"  {k:<{width}}  {round(v, 3) if isinstance(v, float) else v}")
    return path


def measure_parts(parts: list[tuple[str, Callable[[], dict[str, float | int | str]]]]) -> dict[str, float | int | str]:
    """Run each ``(title, measure)`` part in order, saying its title first; their figures merged,
    with ``bench_seconds``, the whole run's wall time."""
    t0 = time.perf_counter()
    figures: dict[str, float | int | str] = {}
    for title, measure in parts:
        print(title)
        figures |= measure()
    figures["bench_seconds"] = round(time.perf_counter() - t0, 1)
    return figures


def number(figures: dict[str, float | int | str], key: str) -> float:
    """A figure that must be a number."""
    value = figures[key]
    assert isinstance(value, int | float), (key, value)
    return float(value)


def report(checks: list[tuple[str, bool]], goals: list[tuple[str, bool]]) -> bool:
    """Print the checks (the bench measured something real) and the goals; True if every check passed."""
    for text, ok in checks:
        print(f"CHECK {'PASS' if ok else 'FAIL'}: {text}")
    for text, ok in goals:
        print(f"GOAL {'PASS' if ok else 'MISS'}: {text}")
    return all(ok for _, ok in checks)
