"""Start a long-running program in the sandbox and get a handle on it (``spawn``).

:func:`~agora.workloads.sandbox.runner.run` waits for its program; a server (a federated-learning
SuperNode) runs until it is stopped. :func:`spawn` starts ``argv`` under the same bubblewrap
command line (:func:`~agora.workloads.sandbox.runner.build_command`), the same seccomp filter, kernel
rlimits and per-run pids/memory cgroup, and returns a :class:`SandboxProcess` at once.

A watchdog thread enforces what a kernel limit does not: it kills the whole process tree past
``Limits.wall_s`` (``killed == "deadline"``), on a fork the pids cap refused (``"processes"``),
past ``cpu_s`` over all its processes (``"cpu"``) and past ``output_bytes`` in the scratch
folder (``"output"``). Its stdout and stderr go where the caller says (a log file, whose size
RLIMIT_FSIZE caps at ``output_bytes``), or to ``/dev/null``.

``network="host"`` keeps the host's network namespace: the program can reach every address the
host can (its loopback services included). Everything else is as for ``run``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from agora.workloads.sandbox._cgroup import RunCgroups
from agora.workloads.sandbox.limits import Killed, Limits
from agora.workloads.sandbox.runner import (
    Network,
    _folder_bytes,
    _make_cgroups,
    _require_sandbox,
    _seccomp_pipe,
    _set_limits,
    _tree_cpu_s,
    build_command,
)

__all__ = ["SandboxProcess", "spawn"]

_WATCH_S = 0.1


class SandboxProcess:
    """A program running in the sandbox (see :func:`spawn`).

    ``pid`` is bubblewrap's, on the host. :meth:`terminate` asks every process of the run to
    stop (SIGTERM), :meth:`kill` kills them all (SIGKILL); :meth:`wait` and :meth:`poll` as for
    :class:`subprocess.Popen` (``wait`` raises :class:`subprocess.TimeoutExpired`). ``killed``
    says which limit the watchdog stopped it for (None: it was not). Once it has exited and been
    waited for, its cgroups are removed.
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], cgroups: RunCgroups | None, scratch: Path, limits: Limits
    ) -> None:
        self._proc = proc
        self._cgroups = cgroups
        self._scratch = scratch
        self._limits = limits
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._cleaned = False
        self.killed: Killed | None = None
        self.started = time.monotonic()
        self._watchdog = threading.Thread(target=self._watch, name=f"sandbox-watchdog-{proc.pid}", daemon=True)
        self._watchdog.start()

    @property
    def pid(self) -> int:
        """Bubblewrap's process id, on the host."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status once reaped, else None."""
        return self._proc.returncode

    def poll(self) -> int | None:
        """Its exit status once it has exited (-N after signal N, as :class:`subprocess.Popen`), else None."""
        status = self._proc.poll()
        if status is not None:
            self._cleanup()
        return status

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit (raises :class:`subprocess.TimeoutExpired` after ``timeout``)."""
        status = self._proc.wait(timeout)
        self._cleanup()
        return status

    def terminate(self) -> None:
        """SIGTERM to every process of the run (the program can stop cleanly)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to every process of the run."""
        self._signal(signal.SIGKILL)
        if self._cgroups is not None:
            with self._lock:
                if not self._cleaned:
                    self._cgroups.kill_all()

    def _signal(self, signum: int) -> None:
        if self._proc.poll() is not None:
            return
        pids: list[int] = []
        if self._cgroups is not None:
            with self._lock:
                if not self._cleaned:
                    pids = self._cgroups.pids_inside()
        # the program itself, inside (bubblewrap forwards no signal); then bubblewrap, whose
        # death kills what is left inside (--die-with-parent)
        for pid in [p for p in pids if p != self._proc.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        if signum == signal.SIGKILL or not pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signum)

    def _stop_for(self, reason: Killed) -> None:
        if self.killed is None:
            self.killed = reason
        self.kill()

    def _watch(self) -> None:
        limits, cgroups = self._limits, self._cgroups
        deadline = self.started + limits.wall_s
        next_scan = self.started
        while not self._done.wait(_WATCH_S):
            if self._proc.poll() is not None:
                break
            now = time.monotonic()
            if now >= deadline:
                self._stop_for("deadline")
            elif cgroups is not None and cgroups.pids_limit_hits() > 0:
                self._stop_for("processes")
            elif cgroups is not None and _tree_cpu_s(cgroups.pids_inside()) > limits.cpu_s:
                self._stop_for("cpu")
            elif now >= next_scan:
                total = _folder_bytes(self._scratch, limits.output_bytes)[0]
                next_scan = now + max(_WATCH_S, 10 * (time.monotonic() - now))
                if total > limits.output_bytes:
                    self._stop_for("output")
        if cgroups is not None and self.killed is None and cgroups.oom_kills() > 0:
            self.killed = "memory"

    def _cleanup(self) -> None:
        self._done.set()
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
            if self._cgroups is not None:
                if self.killed is None and self._cgroups.oom_kills() > 0:
                    self.killed = "memory"
                self._cgroups.kill_all()
                self._cgroups.remove()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.poll() is None:
            self.kill()
        self.wait()


def spawn(
    argv: Sequence[str],
    *,
    ro_binds: Mapping[Path, str],
    scratch: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    network: Network = "none",
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
) -> SandboxProcess:
    """Start ``argv`` in the sandbox and return at once (see :func:`~agora.workloads.sandbox.runner.run`
    for ``ro_binds``, ``scratch``, ``limits`` and ``env``).

    ``network``: ``"none"`` (default, no network at all) or ``"host"`` (the host's network
    namespace: loopback and everything else the host reaches). ``stdout``/``stderr``: a file
    (or descriptor) to write to, by default ``/dev/null``; ``stderr=subprocess.STDOUT`` joins
    them. The whole tree is killed past ``limits.wall_s`` (pass the lifetime you allow), and
    dies with the thread that called ``spawn`` (bubblewrap's ``--die-with-parent``): call it
    from a thread that outlives the program. Raises
    :class:`~agora.workloads.sandbox.errors.SandboxUnavailable` where this machine cannot sandbox.
    """
    _require_sandbox()
    bwrap = shutil.which("bwrap") or "bwrap"
    cgroups = _make_cgroups(limits)
    try:
        with _seccomp_pipe() as seccomp_fd:
            command = build_command(
                argv,
                ro_binds=ro_binds,
                scratch=scratch,
                limits=limits,
                env=env,
                bwrap=bwrap,
                seccomp_fd=seccomp_fd,
                network=network,
            )
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if stdout is None else stdout,
                stderr=subprocess.DEVNULL if stderr is None else stderr,
                preexec_fn=_set_limits(limits, cgroups.procs_files if cgroups else ()),
                start_new_session=True,
                pass_fds=() if seccomp_fd is None else (seccomp_fd,),
                env={"PATH": "/usr/bin:/bin"},  # bubblewrap's own environment stays readable inside
            )
    except BaseException:
        if cgroups is not None:
            cgroups.kill_all()
            cgroups.remove()
        raise
    return SandboxProcess(proc, cgroups, scratch, limits)
