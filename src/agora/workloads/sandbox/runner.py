"""Run an untrusted program under bubblewrap, with every namespace unshared and its resources capped.

What the program sees: ``/usr`` (and the ``/bin``, ``/lib*`` links into it) and the Python
interpreter read-only, the read-only binds it is given, ``/scratch`` (the one writable host
folder), a fresh ``/tmp``, ``/dev`` (null, zero, random…), and a ``/proc`` of its own pid
namespace. No network (a loopback of its own, down; :func:`agora.workloads.sandbox.spawn` with
``network="host"`` keeps the host's instead), nothing of ``/etc``, no home, no keys.
It runs as uid 65534 in a user namespace of its own, with no capabilities, unable to make new
user namespaces, under a seccomp filter (:mod:`agora.workloads.sandbox._seccomp`), in a new session; it
dies with its parent. ``/``, ``/dev`` and the machine-wide parts of ``/proc`` are read-only;
``/tmp`` and ``/dev/shm`` are tmpfs of ``output_bytes`` each.

Its limits (:class:`~agora.workloads.sandbox.limits.Limits`) are kernel limits set before bubblewrap
starts (RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC, 1,024 open files, no core dumps), the size of ``/tmp``,
a pids cgroup (and a memory cgroup when one is writable), and a watchdog in this process that
kills the whole run at its deadline, on a refused fork, past its CPU time over all its
processes, or past its output.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from agora.workloads.sandbox._cgroup import RunCgroups, create_run_cgroups, find_cgroup_parents, remove_stale_cgroups
from agora.workloads.sandbox._seccomp import build_filter
from agora.workloads.sandbox.errors import SandboxError, SandboxUnavailable
from agora.workloads.sandbox.limits import Killed, Limits, SandboxResult

__all__ = ["SANDBOX_UID", "SCRATCH", "Network", "build_command", "run", "run_python", "sandbox_available"]

#: The sandbox's network: ``"none"`` (a network namespace of its own, its loopback down) or
#: ``"host"`` (the host's network namespace, kept: everything the host can reach, it can).
Network = Literal["none", "host"]

#: Where the scratch folder appears inside the sandbox (also the working directory and HOME).
SCRATCH = "/scratch"
#: The uid (and gid) the program runs as inside its user namespace: "nobody".
SANDBOX_UID = 65534

#: Paths a bind may not land on or under: the sandbox's own skeleton.
_RESERVED = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev", SCRATCH)
#: Parts of /proc that act on the whole machine, bound read-only over the sandbox's own /proc.
_PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus", "fs", "sysvipc", "acpi", "driver", "tty", "pressure")
_POLL_S = 0.01
#: Open files per process in the sandbox (each can hold kernel memory: a pipe's buffer, a pty).
_MAX_OPEN_FILES = 1024
_SLOW_CHECK_S = 0.1
_UNAVAILABLE = "compute-to-data needs bubblewrap with user namespaces"


def _python_prefixes() -> list[str]:
    """The folders the project's interpreter needs: its installation and the virtual environment."""
    found: list[str] = []
    for prefix in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix):
        real = os.path.realpath(prefix)
        if real == "/" or _under(real, "/usr") or real in found:
            continue
        found.append(real)
    executable = os.path.realpath(sys.executable)
    if not _under(executable, "/usr") and not any(_under(executable, p) for p in found):
        found.append(os.path.dirname(executable))
    return sorted(found, key=lambda p: p.count("/"))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _validate_dest(dest: str) -> str:
    pure = PurePosixPath(dest)
    if not pure.is_absolute() or ".." in pure.parts or str(pure) != dest or dest == "/":
        raise SandboxError(f"sandbox bind target {dest!r} must be an absolute, normalised path other than /")
    if any(_under(dest, reserved) for reserved in _RESERVED):
        raise SandboxError(f"sandbox bind target {dest!r} is reserved by the sandbox itself")
    return dest


def build_command(
    argv: Sequence[str],
    *,
    ro_binds: Mapping[Path, str],
    scratch: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    bwrap: str = "bwrap",
    seccomp_fd: int | None = None,
    network: Network = "none",
) -> list[str]:
    """The bubblewrap command line that runs ``argv`` in the sandbox (see :func:`run`).

    ``seccomp_fd``: a file descriptor bubblewrap reads the seccomp filter from (none: no filter).
    ``network="host"`` keeps the host's network namespace (``--share-net``); every other
    namespace is still new.
    """
    if network not in ("none", "host"):
        raise SandboxError(f"sandbox network {network!r} must be 'none' or 'host'")
    if not argv:
        raise SandboxError("nothing to run in the sandbox: argv is empty")
    if not scratch.is_dir():
        raise SandboxError(f"sandbox scratch folder {scratch} does not exist")
    command = [
        bwrap,
        "--unshare-all",  # user, ipc, pid, net, uts, cgroup namespaces: no network at all
        *(["--share-net"] if network == "host" else []),  # ... unless asked: the host's network
        # As root, --unshare-all alone leaves CAP_SYS_ADMIN: the program could remount a
        # read-only bind writable. A user namespace as nobody plus dropping every capability:
        "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--disable-userns",
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the caller's terminal
        "--clearenv",
        "--hostname", "sandbox",
        # /tmp first: a tmpfs mounted after a bind under /tmp would hide it
        "--size", str(limits.output_bytes), "--tmpfs", "/tmp",
        "--proc", "/proc",
        "--dev", "/dev",
        # /dev is a tmpfs the program owns: read-only below, with a capped /dev/shm (POSIX
        # semaphores and shared memory, which multiprocessing needs)
        "--size", str(limits.output_bytes), "--tmpfs", "/dev/shm",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    # As root, the sandbox's uid is root outside its namespace: with no capabilities it still
    # passes every check made on the uid alone, such as writing /proc/sys (kernel.core_pattern…).
    # bubblewrap covers these only when its own access() test says so; cover them always.
    for name in _PROC_COVERED:
        if os.path.lexists(f"/proc/{name}"):
            command += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/", top)
        if host.is_symlink():
            command += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            command += ["--ro-bind", str(host), str(host)]
    for prefix in _python_prefixes():
        command += ["--ro-bind", prefix, prefix]
    binds = sorted(((_validate_dest(dest), Path(src)) for src, dest in ro_binds.items()), key=lambda b: b[0].count("/"))
    for dest, src in binds:
        if not src.exists():
            raise SandboxError(f"sandbox input {src} does not exist")
        command += ["--ro-bind", str(src.resolve()), dest]
    command += ["--bind", str(scratch.resolve()), SCRATCH, "--remount-ro", "/dev", "--remount-ro", "/"]
    command += ["--chdir", SCRATCH]
    variables = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": SCRATCH,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        **(env or {}),
    }
    for name, value in variables.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise SandboxError(f"sandbox environment variable {name!r} is malformed")
        command += ["--setenv", name, value]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    return [*command, "--", *argv]


# --- availability -----------------------------------------------------------------------------


@functools.cache
def sandbox_available() -> tuple[bool, str]:
    """Whether this machine can sandbox, and why not (or how it caps processes when it can).

    Checks that bubblewrap is installed, that a trial run in the full sandbox (user namespace
    included) succeeds, and that a fork bomb can be stopped: by a pids cgroup, or, when not
    root, by RLIMIT_NPROC (which the kernel does not enforce for root). Cached per process.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, f"{_UNAVAILABLE}: bwrap is not installed (Debian: apt-get install bubblewrap)"
    parents = find_cgroup_parents()
    if parents.pids is not None:
        try:
            remove_stale_cgroups(parents)
            create_run_cgroups(parents, max_processes=8, memory_bytes=64 << 20).remove()
            how = f"processes capped by a cgroup v{parents.version} pids.max"
        except OSError as error:
            parents_ok = False
            how = f"cannot make a pids cgroup ({error})"
        else:
            parents_ok = True
    else:
        parents_ok = False
        how = "no writable pids cgroup"
    if not parents_ok:
        if os.getuid() == 0:
            return False, (
                f"{_UNAVAILABLE} and a process cap: running as root, where RLIMIT_NPROC is not enforced, "
                f"and {how} (give this process a writable pids cgroup, or run the node as another user)"
            )
        how = "processes capped by RLIMIT_NPROC"
    with tempfile.TemporaryDirectory(prefix="agora-sandbox-probe-") as scratch, _seccomp_pipe() as seccomp_fd:
        try:
            command = build_command(
                [sys.executable, "-I", "-c", "pass"],
                ro_binds={},
                scratch=Path(scratch),
                limits=Limits(cpu_s=10, wall_s=10, output_bytes=1 << 20),
                bwrap=bwrap,
                seccomp_fd=seccomp_fd,
            )
            fds = () if seccomp_fd is None else (seccomp_fd,)
            probe = subprocess.run(
                command, capture_output=True, timeout=30, check=False, pass_fds=fds, env={"PATH": "/usr/bin:/bin"}
            )
        except (OSError, subprocess.SubprocessError, SandboxError) as error:
            return False, f"{_UNAVAILABLE}: the trial run failed ({error})"
    if probe.returncode != 0:
        lines = probe.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {probe.returncode}"]
        return False, f"{_UNAVAILABLE}: the trial run failed ({lines[-1]})"
    seccomp = "a seccomp filter" if build_filter() is not None else f"no seccomp filter on {platform.machine()}"
    return True, f"bubblewrap {bwrap}, user namespaces, {seccomp}, {how}"


@contextlib.contextmanager
def _seccomp_pipe() -> Iterator[int | None]:
    """A pipe holding the seccomp filter for bubblewrap to read (None where there is no filter)."""
    program = build_filter()
    if program is None:
        yield None
        return
    read_end, write_end = os.pipe()
    try:
        try:
            os.write(write_end, program)  # a few hundred bytes: far under a pipe's buffer
        finally:
            os.close(write_end)  # bubblewrap reads to the end of the pipe
        yield read_end
    finally:
        os.close(read_end)


def _require_sandbox() -> None:
    ok, reason = sandbox_available()
    if not ok:
        raise SandboxUnavailable(reason)


# --- running ----------------------------------------------------------------------------------


def _make_cgroups(limits: Limits) -> RunCgroups | None:
    """The run's cgroups (None when not root and there is no pids cgroup: RLIMIT_NPROC caps it);
    raises :class:`SandboxUnavailable` when root cannot cap the processes."""
    parents = find_cgroup_parents()
    if parents.pids is not None:
        try:
            return create_run_cgroups(parents, max_processes=limits.max_processes, memory_bytes=limits.memory_bytes)
        except OSError as error:
            if os.getuid() == 0:
                reason = f"{_UNAVAILABLE} and a process cap: cannot make a pids cgroup ({error})"
                raise SandboxUnavailable(reason) from error
            return None
    if os.getuid() == 0:
        raise SandboxUnavailable(f"{_UNAVAILABLE} and a process cap: running as root without a writable pids cgroup")
    return None


def _set_limits(limits: Limits, procs_files: Sequence[Path]) -> Callable[[], None]:
    """What the child does between fork and exec of bubblewrap: join the cgroups, lower rlimits."""
    cpu = max(1, math.ceil(limits.cpu_s))
    paths = [str(p) for p in procs_files]
    # only ever lowered: a limit already below ours stays (raising a hard limit needs privilege)
    wanted = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU, then SIGKILL a second later
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.output_bytes, limits.output_bytes),
        (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, _MAX_OPEN_FILES, _MAX_OPEN_FILES),  # bounds pipes, ptys, epolls…
    ]
    rlimits = []
    for which, soft, hard in wanted:
        current = resource.getrlimit(which)[1]
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        rlimits.append((which, (soft, hard)))

    def setup() -> None:
        for path in paths:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # 0: the writer
            finally:
                os.close(fd)
        for which, pair in rlimits:
            resource.setrlimit(which, pair)

    return setup


def _folder_bytes(folder: Path, cap: int) -> tuple[int, int]:
    """The bytes of the files under ``folder`` and the largest file (stops counting past ``cap``)."""
    total = largest = 0
    stack = [str(folder)]
    while stack and total <= cap:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        size = entry.stat(follow_symlinks=False).st_size
                        total += size
                        largest = max(largest, size)
    return total, largest


_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds of the live processes, with what their reaped children used."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / _TICKS


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def run(
    argv: Sequence[str],
    *,
    ro_binds: Mapping[Path, str],
    scratch: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> SandboxResult:
    """Run ``argv`` in the sandbox and wait for it, within ``limits``.

    ``ro_binds`` maps host paths to where they appear inside, read-only (not under ``/usr``,
    ``/proc``, ``/dev``, ``/scratch``…); ``scratch`` (an existing host folder) appears as
    ``/scratch``, the working directory, the only writable host folder. ``env`` is added to a
    clean environment. Raises :class:`SandboxUnavailable` when this machine cannot sandbox:
    nothing is ever run unsandboxed.
    """
    _require_sandbox()
    bwrap = shutil.which("bwrap") or "bwrap"
    cgroups = _make_cgroups(limits)
    try:
        with _seccomp_pipe() as seccomp_fd:
            command = build_command(
                argv, ro_binds=ro_binds, scratch=scratch, limits=limits, env=env, bwrap=bwrap, seccomp_fd=seccomp_fd
            )
            return _supervise(command, cgroups, scratch, limits, stdin, () if seccomp_fd is None else (seccomp_fd,))
    finally:
        if cgroups is not None:
            cgroups.kill_all()
            cgroups.remove()


def _supervise(
    command: list[str],
    cgroups: RunCgroups | None,
    scratch: Path,
    limits: Limits,
    stdin: bytes | None,
    pass_fds: tuple[int, ...],
) -> SandboxResult:
    stdin_file: IO[bytes] | None = None
    if stdin is not None:
        stdin_file = tempfile.TemporaryFile()
        stdin_file.write(stdin)
        stdin_file.seek(0)
    started = time.monotonic()
    deadline = started + limits.wall_s
    try:
        proc = subprocess.Popen(
            command,
            stdin=stdin_file if stdin_file is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_set_limits(limits, cgroups.procs_files if cgroups else ()),
            start_new_session=True,
            pass_fds=pass_fds,
            # bubblewrap's own environment stays readable in the sandbox (/proc/1/environ is its
            # init): give it nothing of ours
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        if stdin_file is not None:
            stdin_file.close()
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    open_pipes = {out_fd, err_fd}
    selector = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        os.set_blocking(stream.fileno(), False)
        selector.register(stream.fileno(), selectors.EVENT_READ)
    exit_fd = os.pidfd_open(proc.pid)  # readable once bubblewrap has exited: no polling latency
    selector.register(exit_fd, selectors.EVENT_READ)
    killed: Killed | None = None
    truncated = False
    status: int | None = None
    cpu_seen = 0.0
    usage_cpu = 0.0
    next_slow = started + _SLOW_CHECK_S
    next_scan = started

    def _scratch_over(now: float) -> bool:
        # every poll while the folder is quick to walk; a folder of many files is walked less
        # often, so that the watchdog never spends more than a tenth of its time walking it
        nonlocal next_scan
        total = _folder_bytes(scratch, limits.output_bytes)[0]
        next_scan = now + max(_POLL_S, 10 * (time.monotonic() - now))
        return total > limits.output_bytes

    def kill(reason: Killed) -> None:
        nonlocal killed
        if killed is None:
            killed = reason
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if cgroups is not None:
            cgroups.kill_all()

    try:
        while status is None or open_pipes:
            timeout = _POLL_S if killed is None else 0.1
            for key, _ in selector.select(timeout):
                fd = int(key.fd)
                if fd == exit_fd:
                    continue  # reaped below
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(fd)
                    open_pipes.discard(fd)
                    continue
                room = limits.output_bytes - len(buffers[fd])
                buffers[fd] += chunk[: max(room, 0)]
                if len(chunk) > room:
                    truncated = True
                    kill("output")
            if status is None:
                waited, raw, usage = os.wait4(proc.pid, os.WNOHANG)
                if waited:
                    status = os.waitstatus_to_exitcode(raw)
                    usage_cpu = usage.ru_utime + usage.ru_stime
                    proc.returncode = status
                    selector.unregister(exit_fd)
            now = time.monotonic()
            if killed is not None:
                if now > deadline + 5:  # everything is SIGKILLed; stop waiting for stray pipe holders
                    break
                continue
            if now >= deadline:
                kill("deadline")
            elif cgroups is not None and cgroups.pids_limit_hits() > 0:
                kill("processes")
            elif now >= next_scan and _scratch_over(now):
                kill("output")  # each file is capped by RLIMIT_FSIZE; the folder in all, here
            elif cgroups is not None and now >= next_slow:
                next_slow = now + _SLOW_CHECK_S
                cpu_seen = max(cpu_seen, _tree_cpu_s(cgroups.pids_inside()))
                if cpu_seen > limits.cpu_s:
                    kill("cpu")  # RLIMIT_CPU counts each process alone; this, the whole tree
        if status is None:
            _, raw, usage = os.wait4(proc.pid, 0)
            status = os.waitstatus_to_exitcode(raw)
            usage_cpu = usage.ru_utime + usage.ru_stime
            proc.returncode = status
    finally:
        selector.close()
        os.close(exit_fd)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.monotonic() - started
    returncode = 128 - status if status < 0 else status
    stdout, stderr = bytes(buffers[out_fd]), bytes(buffers[err_fd])
    cpu = max(cpu_seen, usage_cpu)
    if killed is None:
        killed = _why_it_died(returncode, stderr, cpu, cgroups, scratch, limits)
    return SandboxResult(
        returncode=returncode, stdout=stdout, stderr=stderr, wall_s=wall, cpu_s=cpu, killed=killed, truncated=truncated
    )


def _why_it_died(
    returncode: int, stderr: bytes, cpu: float, cgroups: RunCgroups | None, scratch: Path, limits: Limits
) -> Killed | None:
    """Which limit ended a run the watchdog did not kill (None: it ended by itself)."""
    if returncode == 128 + signal.SIGXCPU:
        return "cpu"
    if returncode == 128 + signal.SIGXFSZ:
        return "output"
    if cgroups is not None and cgroups.oom_kills() > 0:
        return "memory"
    if cgroups is not None and cgroups.pids_limit_hits() > 0:
        return "processes"
    if returncode == 128 + signal.SIGKILL and cpu >= math.ceil(limits.cpu_s):
        return "cpu"  # the hard RLIMIT_CPU, after a SIGXCPU the program ignored
    if returncode != 0 and _last_line(stderr).startswith("MemoryError"):
        return "memory"  # Python's answer to an allocation past RLIMIT_AS
    total, largest = _folder_bytes(scratch, limits.output_bytes)
    if total > limits.output_bytes or (returncode != 0 and largest >= limits.output_bytes):
        return "output"  # a file at the cap: RLIMIT_FSIZE refused the write past it (Python ignores SIGXFSZ)
    if returncode != 0 and _last_line(stderr).endswith("File too large"):
        return "output"  # EFBIG: past the cap in /tmp, whose files are gone
    return None


def run_python(
    source: Path,
    args: Sequence[str] = (),
    *,
    ro_binds: Mapping[Path, str] | None = None,
    scratch: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> SandboxResult:
    """Run the Python file ``source`` with the project's interpreter in the sandbox.

    The file appears read-only as ``/algorithm/<its name>`` and runs isolated (``python -I``:
    no ``PYTHON*`` variables, no user site, not its own folder on ``sys.path``); the project's
    environment is importable (numpy, scikit-learn, onnxruntime), Agora itself is not.
    Other arguments as in :func:`run`.
    """
    if not source.is_file():
        raise SandboxError(f"algorithm {source} is not a file")
    inside = f"/algorithm/{source.name}"
    binds = {**(ro_binds or {}), source: inside}
    argv = [sys.executable, "-I", "-B", inside, *args]
    return run(argv, ro_binds=binds, scratch=scratch, limits=limits, env=env, stdin=stdin)
