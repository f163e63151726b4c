"""The sandbox's cost: a trivial Python algorithm run in the sandbox vs the same run plainly.

Helper of the private-compute benchmarks. Each round runs the same script (``print(1)``) with
the project's interpreter, ``python -I -B``, twice, alternating: plainly through
``subprocess.run`` (the anchor) and through :func:`agora.workloads.sandbox.run_python` (bubblewrap, every
namespace, cgroups, rlimits, the watchdog). ``c2d_overhead_ms`` is the median sandboxed run minus
the median plain run, over ``rounds`` (≥ 20) rounds, after a few warm-up runs of each (goal ≤ 50 ms).
Raises :class:`agora.workloads.sandbox.SandboxUnavailable` where this machine cannot sandbox.

Runnable on its own: ``python bench/_private_sandbox.py`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agora.workloads.sandbox import Limits, run_python, sandbox_available

ALGORITHM = "import sys\nprint(len(sys.argv))\n"


def measure_sandbox(rounds: int = 25, warmup: int = 3) -> dict[str, float]:
    """Median wall times (ms) of a trivial algorithm in the sandbox and plainly, and their difference."""
    available, _ = sandbox_available()
    limits = Limits(cpu_s=10, memory_bytes=1 << 30, max_processes=32, output_bytes=1 << 20, wall_s=30)
    plain: list[float] = []
    sandboxed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="agora-bench-sandbox-") as tmp:
        script = Path(tmp) / "algorithm.py"
        script.write_text(ALGORITHM)
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        for i in range(warmup + max(rounds, 20)):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-I", "-B", str(script)], capture_output=True, check=True)
            t1 = time.perf_counter()
            result = run_python(script, scratch=scratch, limits=limits)
            t2 = time.perf_counter()
            if not result.ok or result.stdout != done.stdout:
                raise RuntimeError(f"the sandboxed run failed: {result}")
            if i >= warmup:
                plain.append((t1 - t0) * 1000)
                sandboxed.append((t2 - t1) * 1000)
    plain_ms = statistics.median(plain)
    sandbox_ms = statistics.median(sandboxed)
    return {
        "c2d_overhead_ms": sandbox_ms - plain_ms,
        "sandbox_run_ms": sandbox_ms,
        "plain_run_ms": plain_ms,
        "sandbox_run_p90_ms": statistics.quantiles(sandboxed, n=10)[-1],
        "rounds": float(len(sandboxed)),
        "sandbox_available": float(available),
    }


if __name__ == "__main__":
    print(json.dumps(measure_sandbox(), indent=2))
