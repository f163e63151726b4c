"""The compute-to-data sandbox against the escapes an untrusted algorithm would try.

Each test runs a small Python algorithm in the real sandbox (bubblewrap) and checks that the
attempt was blocked, and how it was reported. Skipped only where this machine cannot sandbox
(:func:`agora.workloads.sandbox.sandbox_available` says why); never asserts on timings.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from agora.workloads.sandbox import (
    SCRATCH,
    Limits,
    Network,
    SandboxProcess,
    SandboxResult,
    run,
    run_python,
    sandbox_available,
    spawn,
)
from agora.workloads.sandbox._cgroup import find_cgroup_parents, remove_stale_cgroups
from agora.workloads.sandbox._seccomp import BLOCKED, build_filter

AVAILABLE, REASON = sandbox_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"no sandbox here: {REASON}")

LIMITS = Limits(cpu_s=5, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=30)
DATASET = "x,y\n1,2\n3,4\n5,6\n"


@pytest.fixture
def job(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "data.csv").write_text(DATASET)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return {"root": tmp_path, "data": data, "scratch": scratch}


def algorithm(
    job: dict[str, Path],
    source: str,
    *,
    limits: Limits = LIMITS,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    name: str = "algorithm.py",
) -> SandboxResult:
    path = job["root"] / name
    path.write_text(textwrap.dedent(source))
    binds = {job["data"]: "/data"}
    return run_python(path, args, ro_binds=binds, scratch=job["scratch"], limits=limits, env=env, stdin=stdin)


def lines(result: SandboxResult) -> list[str]:
    return result.stdout.decode().split()


# --- a good algorithm -------------------------------------------------------------------------


def test_a_good_algorithm_reads_the_dataset_and_writes_its_result(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import json, os, sys
        import numpy as np
        rows = np.loadtxt("/data/data.csv", delimiter=",", skiprows=1)
        with open("/scratch/result.json", "w") as f:
            json.dump({"sums": rows.sum(axis=0).tolist(), "uid": os.getuid(), "cwd": os.getcwd(),
                       "args": sys.argv[1:], "stdin": sys.stdin.read()}, f)
        print("done")
        """,
        args=["--epochs", "1"],
        stdin=b"hello",
    )
    assert result.ok, result
    assert result.stdout == b"done\n" and result.killed is None
    out = json.loads((job["scratch"] / "result.json").read_text())
    assert out == {"sums": [9.0, 12.0], "uid": 65534, "cwd": SCRATCH, "args": ["--epochs", "1"], "stdin": "hello"}


def test_run_takes_any_program(job: dict[str, Path]) -> None:
    result = run(["/bin/sh", "-c", "cat /data/data.csv; echo $HOME"], ro_binds={job["data"]: "/data"},
                 scratch=job["scratch"], limits=LIMITS)
    assert result.ok, result
    assert result.stdout.decode() == DATASET + SCRATCH + "\n"


def test_the_project_environment_imports_but_not_agora(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import numpy, sklearn, onnxruntime
        try:
            import agora.workloads.sandbox  # the project's source is not bound: only its environment
        except ImportError:
            print("no-agora")
        """,
        limits=Limits(cpu_s=20, memory_bytes=2 << 30, max_processes=64, output_bytes=1 << 20, wall_s=60),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.ok, result.stderr.decode()
    assert lines(result) == ["no-agora"]


# --- no network -------------------------------------------------------------------------------


def test_no_network(job: dict[str, Path]) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        result = algorithm(
            job,
            f"""
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", {port}))
                print("connected")
            except OSError:
                print("connect-blocked")
            try:
                socket.getaddrinfo("example.org", 80)
                print("resolved")
            except OSError:
                print("dns-blocked")
            try:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.sendto(b"x", ("8.8.8.8", 53))
                print("sent")
            except OSError:
                print("udp-blocked")
            print(*[name for _, name in socket.if_nameindex()])
            """,
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's loopback
    finally:
        listener.close()
    assert result.ok, result
    assert lines(result) == ["connect-blocked", "dns-blocked", "udp-blocked", "lo"]


# --- reading outside the binds ----------------------------------------------------------------


def test_no_reading_outside_the_binds(job: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    home = job["root"] / "home"
    (home / ".agora").mkdir(parents=True)
    key = home / ".agora" / "node-key.json"
    key.write_text('{"private_key": "0xSECRETKEY"}')
    monkeypatch.setenv("AGORA_TEST_SECRET", "host-secret-value")
    monkeypatch.setenv("HOME", str(home))
    result = algorithm(
        job,
        f"""
        import glob, os
        for path in [{str(key)!r}, "/etc/shadow", "/etc/passwd", "/etc/hostname", "/proc/1/environ"]:
            try:
                data = open(path, "rb").read()
                print("read", path, b"SECRET" in data or b"host-secret" in data)
            except OSError:
                print("blocked", path)
        leaked = []
        for path in glob.glob("/proc/*/environ"):
            try:
                if b"host-secret" in open(path, "rb").read():
                    leaked.append(path)
            except OSError:
                pass
        print("environ-leaks", len(leaked), "host-secret" in str(os.environ))
        print("etc", os.path.exists("/etc"), "work", os.path.exists({str(job["root"])!r}))
        print("root", *sorted(os.listdir("/root")) if os.path.isdir("/root") else ["-"])
        """,
    )
    assert result.ok, result
    out = result.stdout.decode().splitlines()
    assert out[0] == f"blocked {key}"
    assert out[1:4] == ["blocked /etc/shadow", "blocked /etc/passwd", "blocked /etc/hostname"]
    # /proc is the sandbox's own pid namespace: pid 1 is bubblewrap's init, with an empty environment
    assert out[4] in ("blocked /proc/1/environ", "read /proc/1/environ False")
    assert out[5] == "environ-leaks 0 False"
    assert out[6] == "etc False work False"
    # the host's /root shows at most the folder the interpreter is installed in, nothing else
    prefixes = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix)}
    allowed = {p.relative_to("/root").parts[0] for p in prefixes if p.is_relative_to("/root")}
    seen = set(out[7].split()[1:]) - {"-"}
    assert seen <= allowed, seen


def test_the_host_pids_are_invisible(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(len(pids) <= 3, open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode().rsplit("/", 1)[-1])
        """,
    )
    assert result.ok, result
    assert lines(result) == ["True", "bwrap"]
    assert str(os.getpid()) not in result.stdout.decode()


# --- writing outside scratch ------------------------------------------------------------------


def test_no_writing_outside_scratch(job: dict[str, Path]) -> None:
    marker = f"agora-sandbox-test-{os.getpid()}"
    result = algorithm(
        job,
        f"""
        for path in ["/data/data.csv", "/data/new.txt", "/{marker}", "/usr/{marker}", "/usr/bin/python3",
                     "/proc/sys/kernel/hostname", "/dev/{marker}"]:
            try:
                with open(path, "a") as f:
                    f.write("x")
                print("wrote", path)
            except OSError:
                print("blocked", path)
        with open("/tmp/fine", "w") as f:
            f.write("tmp is private and writable")
        print("tmp-ok")
        """,
    )
    assert result.ok, result
    out = result.stdout.decode().splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["blocked"] * 7, out
    assert out[-1] == "tmp-ok"
    assert (job["data"] / "data.csv").read_text() == DATASET
    assert not (job["data"] / "new.txt").exists()
    assert not Path("/", marker).exists() and not Path("/usr", marker).exists()
    assert not Path("/tmp/fine").exists() or Path("/tmp/fine").read_text() != "tmp is private and writable"


def test_no_remounting_the_read_only_bind_writable(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import ctypes, ctypes.util, os
        libc = ctypes.CDLL(None, use_errno=True)
        MS_REMOUNT, MS_BIND = 32, 4096
        rc = libc.mount(None, b"/data", None, MS_REMOUNT | MS_BIND, None)
        print("remount", rc, os.strerror(ctypes.get_errno()).replace(" ", "-"))
        try:
            open("/data/data.csv", "a").write("pwned")
            print("wrote")
        except OSError:
            print("write-blocked")
        try:  # open only: a write here would change the host's kernel settings
            os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))
            print("sysctl-open")
        except OSError:
            print("sysctl-blocked")
        CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
        print("unshare-user", libc.unshare(CLONE_NEWUSER), "unshare-ns", libc.unshare(CLONE_NEWNS))
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        print("caps", status["CapEff"].strip(), status["CapBnd"].strip(), "nnp", status["NoNewPrivs"].strip())
        """,
    )
    assert result.ok, result
    out = result.stdout.decode().splitlines()
    assert out[0] == "remount -1 Operation-not-permitted"
    assert out[1] == "write-blocked"
    assert out[2] == "sysctl-blocked"
    assert out[3] == "unshare-user -1 unshare-ns -1"
    assert out[4] == "caps 0000000000000000 0000000000000000 nnp 1"
    assert (job["data"] / "data.csv").read_text() == DATASET


# --- resource limits --------------------------------------------------------------------------


def test_a_fork_bomb_is_stopped(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
    )
    assert result.killed == "processes", result
    assert result.returncode != 0


def test_threads_count_as_processes(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import threading, time
        threading.stack_size(256 << 10)  # 100 threads stay far under the memory cap
        threads = [threading.Thread(target=time.sleep, args=(5,)) for _ in range(100)]
        for t in threads:
            t.start()
        print("all started")
        """,
    )
    assert result.killed == "processes", result
    assert b"all started" not in result.stdout


@pytest.mark.parametrize(
    "source",
    [
        "blob = bytearray(2 << 30)\n",  # one allocation past the cap
        "chunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 20))\n",  # many small ones
    ],
    ids=["one-block", "growing"],
)
def test_memory_past_the_cap_is_stopped(job: dict[str, Path], source: str) -> None:
    result = algorithm(job, source)
    assert result.killed == "memory", result
    assert result.returncode != 0


def test_an_infinite_loop_is_stopped_by_its_cpu_time(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=1, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=60)
    result = algorithm(job, "while True:\n    pass\n", limits=limits)
    assert result.killed == "cpu", result


def test_ignoring_sigxcpu_does_not_help(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=1, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=60)
    source = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = algorithm(job, source, limits=limits)
    assert result.killed == "cpu", result


def test_cpu_is_counted_over_every_process(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=1.5, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=60)
    # each child stays under RLIMIT_CPU alone; together they pass the run's CPU time
    source = """
        import os, time
        for _ in range(8):
            if os.fork() == 0:
                end = time.process_time() + 0.9
                while time.process_time() < end:
                    pass
                time.sleep(60)
                os._exit(0)
        time.sleep(60)
    """
    result = algorithm(job, source, limits=limits)
    assert result.killed == "cpu", result


@pytest.mark.parametrize("source", ["import time\ntime.sleep(600)\n", "while True:\n    pass\n"], ids=["sleep", "spin"])
def test_the_wall_clock_deadline_kills_the_run(job: dict[str, Path], source: str) -> None:
    limits = Limits(cpu_s=600, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=1)
    result = algorithm(job, source, limits=limits)
    assert result.killed == "deadline", result
    assert result.returncode != 0


def test_children_die_with_the_algorithm(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=600, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=1)
    source = """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            sys.stdout.close(); sys.stderr.close()
            time.sleep(1)
            open("/scratch/survivor", "w").write("alive")
            os._exit(0)
        os._exit(0)
    """
    result = algorithm(job, source, limits=limits)
    # the parent exits at once; bubblewrap's init ends the namespace, and the child with it
    assert result.returncode == 0
    assert not (job["scratch"] / "survivor").exists()


def test_a_deadline_leaves_no_process_behind(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=600, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=1)
    source = """
        import os, time
        for _ in range(4):
            if os.fork() == 0:
                os.setsid()
                while True:
                    pass
        time.sleep(600)
    """
    name = f"orphans-{os.getpid()}-{job['root'].name}.py"
    result = algorithm(job, source, limits=limits, name=name)
    assert result.killed == "deadline", result
    survivors = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"/algorithm/{name}".encode() in (proc / "cmdline").read_bytes():
                survivors.append(proc.name)
        except OSError:
            pass
    assert survivors == [], f"processes of the run outlived it: {survivors}"


def test_a_huge_file_is_cut_at_the_cap(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        block = b"x" * (1 << 20)
        with open("/scratch/huge.bin", "wb") as f:
            for _ in range(10 * 1024):  # 10 GB
                f.write(block)
        """,
    )
    assert result.killed == "output", result
    assert (job["scratch"] / "huge.bin").stat().st_size <= LIMITS.output_bytes


def test_many_files_are_cut_at_the_cap(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        block = b"x" * (256 << 10)
        for i in range(40 * 1024):  # 10 GB in files each under the per-file cap
            with open(f"/scratch/part-{i}.bin", "wb") as f:
                f.write(block)
        """,
    )
    assert result.killed == "output", result
    written = sum(p.stat().st_size for p in job["scratch"].iterdir())
    assert written < 64 * LIMITS.output_bytes  # stopped within moments, nowhere near 10 GB


def test_huge_stdout_is_cut_at_the_cap(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import sys
        block = b"y" * (1 << 20)
        for _ in range(10 * 1024):
            sys.stdout.buffer.write(block)
        """,
    )
    assert result.killed == "output", result
    assert result.truncated
    assert len(result.stdout) == LIMITS.output_bytes


@pytest.mark.parametrize("folder", ["/tmp", "/dev/shm"])
def test_tmp_and_shared_memory_are_capped_too(job: dict[str, Path], folder: str) -> None:
    result = algorithm(
        job,
        f"""
        import errno
        block = b"z" * (64 << 10)
        try:
            for i in range(10 * 1024):  # 640 MiB of RAM-backed files
                with open(f"{folder}/part-{{i}}", "wb") as f:
                    f.write(block)
        except OSError as error:
            print("full", errno.errorcode[error.errno])
        """,
    )
    assert result.ok, result
    assert result.stdout.decode().split() == ["full", "ENOSPC"]


def test_multiprocessing_works(job: dict[str, Path]) -> None:
    result = algorithm(
        job,
        """
        import multiprocessing
        def double(x):
            return 2 * x
        if __name__ == "__main__":
            with multiprocessing.Pool(2) as pool:
                print(*pool.map(double, [1, 2, 3]))
        """,
    )
    assert result.ok, result.stderr.decode()
    assert lines(result) == ["2", "4", "6"]


# --- the seccomp filter -----------------------------------------------------------------------


@pytest.mark.skipif(build_filter() is None, reason=f"no seccomp filter for {platform.machine()}")
def test_dangerous_system_calls_fail(job: dict[str, Path]) -> None:
    column = 0 if platform.machine() == "x86_64" else 1
    names = ["io_uring_setup", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "ptrace", "unshare",
             "setns", "mount", "open_by_handle_at", "init_module", "kexec_load", "reboot", "swapon", "syslog"]
    calls = {name: BLOCKED[name][column] for name in names}
    x32 = platform.machine() == "x86_64"
    result = algorithm(
        job,
        f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        for name, number in {calls!r}.items():
            ctypes.set_errno(0)
            rc = libc.syscall(number, 0, 0, 0, 0, 0, 0)
            print(name, rc, ctypes.get_errno())
        if {x32!r}:  # the x32 ABI: getpid with the x32 bit set
            print("x32", libc.syscall(0x40000000 | 39), ctypes.get_errno())
        print("getpid", libc.syscall({39 if x32 else 172}) > 0)
        import numpy, sklearn, onnxruntime  # the environment still works under the filter
        print("imports ok")
        """,
        limits=Limits(cpu_s=20, memory_bytes=2 << 30, max_processes=64, output_bytes=1 << 20, wall_s=60),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.ok, result.stderr.decode()
    out = result.stdout.decode().splitlines()
    eperm = f"-1 {errno.EPERM}"
    assert out[: len(names)] == [f"{name} {eperm}" for name in names]
    assert out[len(names) :] == ([f"x32 {eperm}"] if x32 else []) + ["getpid True", "imports ok"]


def test_cgroups_left_by_a_killed_node_are_removed() -> None:
    parents = find_cgroup_parents()
    if parents.pids is None:
        pytest.skip("no pids cgroup here: processes are capped by RLIMIT_NPROC")
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    dead = child.pid  # a pid that no longer runs
    stale = parents.pids / f"agora-sandbox-{dead}-0-0"
    stale.mkdir()
    try:
        assert stale in remove_stale_cgroups(parents)
        assert not stale.exists()
    finally:
        if stale.exists():
            stale.rmdir()


# --- spawn: a long-running program, optionally on the host's network ---------------------------

_PROBE = """
import os, socket, sys
port, secret, outside = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect(("127.0.0.1", port))
    s.sendall(b"hello")
    print("connected")
except OSError:
    print("connect-blocked")
try:
    open(secret, "rb").read()
    print("read-secret")
except OSError:
    print("read-blocked")
for path in [outside, "/data/data.csv", "/usr/agora-spawn-test"]:
    try:
        with open(path, "a") as f:
            f.write("x")
        print("wrote")
    except OSError:
        print("write-blocked")
open("/scratch/ok", "w").write("scratch is writable")
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print("uid", os.getuid(), "caps", *(status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")))
sys.stdout.flush()
if len(sys.argv) > 4:
    import time
    time.sleep(float(sys.argv[4]))
"""


def _spawn_probe(
    job: dict[str, Path], network: Network, port: int, *extra: str, limits: Limits = LIMITS
) -> tuple[SandboxProcess, Path, Path]:
    secret = job["root"] / "secret.txt"
    secret.write_text("host-secret")
    outside = job["root"] / f"written-{network}.txt"
    probe = job["root"] / "probe.py"
    probe.write_text(_PROBE)
    log = job["root"] / f"spawn-{network}.log"
    with log.open("wb") as out:
        proc = spawn(
            [sys.executable, "-I", "-B", "-u", "/probe/probe.py", str(port), str(secret), str(outside), *extra],
            ro_binds={probe: "/probe/probe.py", job["data"]: "/data"},
            scratch=job["scratch"],
            limits=limits,
            network=network,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log, outside


@pytest.mark.parametrize("network", ["host", "none"])
def test_spawn_shares_only_the_network_it_is_given(job: dict[str, Path], network: Network) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10 if network == "host" else 0.5)
    port = listener.getsockname()[1]
    try:
        proc, log, outside = _spawn_probe(job, network, port)
        got = b""
        if network == "host":
            conn, _ = listener.accept()  # the sandboxed program reached the host's loopback
            with conn:
                conn.settimeout(5)
                got = conn.recv(5)
        else:
            with pytest.raises(TimeoutError):
                listener.accept()  # nothing reached the host's loopback
        assert proc.wait(30) == 0, log.read_text()
    finally:
        listener.close()
    out = log.read_text().splitlines()
    assert out[0] == ("connected" if network == "host" else "connect-blocked"), out
    assert got == (b"hello" if network == "host" else b"")
    assert out[1:5] == ["read-blocked", "write-blocked", "write-blocked", "write-blocked"], out
    zero = "0000000000000000"
    assert out[5] == f"uid 65534 caps {zero} {zero} {zero}", out
    assert not outside.exists() and not Path("/usr/agora-spawn-test").exists()
    assert (job["data"] / "data.csv").read_text() == DATASET
    assert (job["scratch"] / "ok").read_text() == "scratch is writable"
    assert proc.killed is None


def test_spawn_terminate_stops_the_whole_tree(job: dict[str, Path]) -> None:
    proc, log, _ = _spawn_probe(job, "host", 1, "600")
    try:
        time.sleep(1)
        assert proc.poll() is None, log.read_text()
        proc.terminate()
        assert proc.wait(10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.killed is None
    survivors = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"/probe/probe.py" in (entry / "cmdline").read_bytes():
                survivors.append(entry.name)
        except OSError:
            pass
    assert survivors == [], survivors


def test_spawn_is_killed_at_its_wall_limit(job: dict[str, Path]) -> None:
    limits = Limits(cpu_s=60, memory_bytes=512 << 20, max_processes=32, output_bytes=1 << 20, wall_s=1.5)
    proc, log, _ = _spawn_probe(job, "none", 1, "600", limits=limits)
    started = time.monotonic()
    assert proc.wait(20) != 0
    assert proc.killed == "deadline"
    assert time.monotonic() - started < 10
