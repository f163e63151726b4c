"""What a sandboxed run may use, and what came out of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Killed", "Limits", "SandboxResult"]

#: Why the sandbox stopped a run: its wall-clock deadline, its memory cap, its CPU time, its
#: process count (a fork refused by the cap stops the run), or its output size (a file, the
#: scratch folder in all, or stdout/stderr over the cap).
Killed = Literal["deadline", "memory", "cpu", "processes", "output"]


@dataclass(frozen=True)
class Limits:
    """The resources of one run; every limit is enforced by the kernel or by the watchdog.

    ``cpu_s``: CPU seconds of the whole process tree; ``memory_bytes``: address space of each
    process (and, where a memory cgroup is writable, resident memory of the whole tree);
    ``max_processes``: processes *and threads* alive at once; ``output_bytes``: the largest file
    it may write, the scratch folder in all, /tmp, and each of stdout and stderr;
    ``wall_s``: wall-clock seconds before the whole run is killed.
    """

    cpu_s: float = 60.0
    memory_bytes: int = 2 << 30
    max_processes: int = 64
    output_bytes: int = 64 << 20
    wall_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("cpu_s", "memory_bytes", "max_processes", "output_bytes", "wall_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one sandboxed run.

    ``returncode`` is the algorithm's exit status (128 + N when signal N ended it);
    ``stdout``/``stderr`` are capped at ``Limits.output_bytes`` each (``truncated`` says if
    either was cut); ``killed`` says which limit stopped the run, None when it ended by itself.
    """

    returncode: int
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float
    killed: Killed | None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the run ended by itself with status 0."""
        return self.returncode == 0 and self.killed is None
