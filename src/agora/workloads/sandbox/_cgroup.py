"""Per-run control groups: a ``pids.max`` that stops a fork bomb, a memory cap over the whole tree.

RLIMIT_NPROC is not enforced for processes whose real uid is root outside every user namespace
(bubblewrap run by root maps the sandbox's uid 65534 onto uid 0), so as root the process count is
capped by the kernel's pids controller instead: one child cgroup per run, under the cgroup this
process lives in, on cgroup v2 (when ``pids`` is delegated to it) or on the v1 ``pids``
hierarchy. The cgroup counts threads too. Nothing here is public; see :mod:`agora.workloads.sandbox`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunCgroups", "create_run_cgroups", "find_cgroup_parents", "remove_stale_cgroups"]

_PREFIX = "agora-sandbox"
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupParents:
    """Where this process may create child cgroups, per controller (None: not available)."""

    pids: Path | None
    memory: Path | None
    version: int  # 2 when the pids parent is on the unified hierarchy, else 1


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fs type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as lines:
        for line in lines:
            before, _, after = line.partition(" - ")
            fields = before.split()
            rest = after.split()
            if len(fields) < 5 or len(rest) < 3 or not rest[0].startswith("cgroup"):
                continue
            found.append((fields[3], fields[4], rest[0], set(rest[2].split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller (``""`` for the unified hierarchy) -> this process's cgroup path."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as lines:
        for line in lines:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                for controller in parts[1].split(",") if parts[1] else [""]:
                    own[controller] = parts[2]
    return own


def _join(mount_point: str, mount_root: str, own: str) -> Path | None:
    relative = os.path.relpath(own, mount_root)
    if relative.startswith(".."):
        return None  # our cgroup is outside what is mounted here
    path = Path(mount_point) / relative if relative != "." else Path(mount_point)
    return path if path.is_dir() and os.access(path, os.W_OK) else None


def _v2_has(directory: Path, controller: str) -> bool:
    try:
        return controller in (directory / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def find_cgroup_parents() -> CgroupParents:
    """The writable cgroups under which a run's cgroups can be made, by controller."""
    own = _own_cgroups()
    pids: Path | None = None
    memory: Path | None = None
    version = 1
    for root, point, fstype, options in _mounts():
        if fstype == "cgroup2" and "" in own:
            parent = _join(point, root, own[""])
            if parent is not None and pids is None and _v2_has(parent, "pids"):
                pids, version = parent, 2
            if parent is not None and memory is None and _v2_has(parent, "memory"):
                memory = parent
        elif fstype == "cgroup":
            if "pids" in options and "pids" in own and pids is None:
                pids = _join(point, root, own["pids"])
            if "memory" in options and "memory" in own and memory is None:
                memory = _join(point, root, own["memory"])
    return CgroupParents(pids=pids, memory=memory, version=version)


def _read_counter(path: Path, key: str) -> int:
    """The value of ``key N`` in a flat-keyed cgroup file; 0 when absent or unreadable."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class RunCgroups:
    """The cgroups of one run: one per hierarchy (v1 keeps pids and memory apart)."""

    pids: Path
    memory: Path | None
    directories: list[Path] = field(default_factory=list)

    @property
    def procs_files(self) -> list[Path]:
        """The files a new, single-threaded process writes ``0`` (itself) into, to join the run.

        On cgroup v1 that is ``tasks``: moving one thread (the caller) skips the global lock that
        moving a whole process takes, whose RCU wait costs tens of milliseconds per run; between
        fork and exec the process has one thread, so it moves whole.
        """
        return [
            directory / ("cgroup.procs" if (directory / "cgroup.type").exists() else "tasks")
            for directory in self.directories
        ]

    def pids_limit_hits(self) -> int:
        """How many forks the pids limit refused so far."""
        return _read_counter(self.pids / "pids.events", "max")

    def oom_kills(self) -> int:
        """How many processes the memory cap killed so far (0 without a memory cgroup)."""
        if self.memory is None:
            return 0
        kills = _read_counter(self.memory / "memory.events", "oom_kill")  # v2
        return kills or _read_counter(self.memory / "memory.oom_control", "oom_kill")  # v1

    def pids_inside(self) -> list[int]:
        """The processes in the run's pids cgroup now."""
        try:
            return [int(line) for line in (self.pids / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self, timeout_s: float = 2.0) -> None:
        """SIGKILL every process in the run until none is left (a fork bomb cannot outgrow pids.max)."""
        kill_file = self.pids / "cgroup.kill"  # v2: one atomic write
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            inside = self.pids_inside()
            if not inside:
                return
            for pid in inside:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Delete the run's cgroups (after its processes are gone; retried while they are reaped)."""
        for directory in reversed(self.directories):
            for _ in range(200):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)


def create_run_cgroups(parents: CgroupParents, *, max_processes: int, memory_bytes: int) -> RunCgroups:
    """Make the cgroups of one run with its limits set; raises OSError when the kernel refuses."""
    if parents.pids is None:
        raise OSError("no writable pids cgroup")
    name = f"{_PREFIX}-{os.getpid()}-{next(_counter)}-{time.monotonic_ns()}"
    made: list[Path] = []
    try:
        pids_dir = parents.pids / name
        pids_dir.mkdir()
        made.append(pids_dir)
        (pids_dir / "pids.max").write_text(str(max_processes))
        memory_dir: Path | None = None
        if parents.memory is not None:
            memory_dir = pids_dir if parents.memory == parents.pids else parents.memory / name
            if memory_dir != pids_dir:
                memory_dir.mkdir()
                made.append(memory_dir)
            if (memory_dir / "memory.max").exists():  # v2
                (memory_dir / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (memory_dir / "memory.swap.max").write_text("0")
            else:  # v1: the memory+swap cap may only be set once the memory cap is
                (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (memory_dir / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
    except OSError:
        RunCgroups(pids=parents.pids, memory=None, directories=made).remove()
        raise
    return RunCgroups(pids=pids_dir, memory=memory_dir, directories=made)


def remove_stale_cgroups(parents: CgroupParents) -> list[Path]:
    """Delete the empty run cgroups a killed node left behind (its pid is in their names)."""
    removed: list[Path] = []
    for parent in {p for p in (parents.pids, parents.memory) if p is not None}:
        with contextlib.suppress(OSError):
            for child in parent.iterdir():
                parts = child.name.removeprefix(f"{_PREFIX}-").split("-")
                if not child.name.startswith(f"{_PREFIX}-") or not parts[0].isdigit():
                    continue
                owner = int(parts[0])
                if owner == os.getpid() or _alive(owner):
                    continue
                with contextlib.suppress(OSError):
                    child.rmdir()  # refused while a process is still inside
                    removed.append(child)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
