"""The sandbox refuses rather than run unsandboxed; its command line denies by default.

No bubblewrap is started here: availability is faked and only the command line is read.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.errors import AgoraError
from agora.workloads.sandbox import (
    SCRATCH,
    Limits,
    SandboxError,
    SandboxUnavailable,
    build_command,
    run,
    run_python,
    runner,
)
from agora.workloads.sandbox._cgroup import CgroupParents
from agora.workloads.sandbox._seccomp import BLOCKED, build_filter

LIMITS = Limits(cpu_s=1, memory_bytes=64 << 20, max_processes=8, output_bytes=1 << 20, wall_s=1)


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    runner.sandbox_available.cache_clear()
    yield
    runner.sandbox_available.cache_clear()


def test_no_bubblewrap_means_no_run(fresh_probe: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    ok, reason = runner.sandbox_available()
    assert not ok
    assert reason.startswith("compute-to-data needs bubblewrap with user namespaces: bwrap is not installed")
    marker = tmp_path / "ran"
    with pytest.raises(SandboxUnavailable, match="bubblewrap") as caught:
        run(["/bin/sh", "-c", f"touch {marker}"], ro_binds={}, scratch=tmp_path, limits=LIMITS)
    assert not marker.exists()
    assert isinstance(caught.value, AgoraError) and "\n" not in str(caught.value)
    script = tmp_path / "a.py"
    script.write_text("print(1)\n")
    with pytest.raises(SandboxUnavailable):
        run_python(script, scratch=tmp_path, limits=LIMITS)


def test_root_without_a_pids_cgroup_is_refused(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/bwrap")
    monkeypatch.setattr(runner, "find_cgroup_parents", lambda: CgroupParents(pids=None, memory=None, version=1))
    monkeypatch.setattr(os, "getuid", lambda: 0)
    ok, reason = runner.sandbox_available()
    assert not ok
    assert "RLIMIT_NPROC is not enforced" in reason and "pids cgroup" in reason


def test_a_failing_trial_run_is_refused(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/false")
    monkeypatch.setattr(runner, "find_cgroup_parents", lambda: CgroupParents(pids=None, memory=None, version=1))
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    ok, reason = runner.sandbox_available()
    assert not ok
    assert reason.startswith("compute-to-data needs bubblewrap with user namespaces: the trial run failed")


def _command(tmp_path: Path, **binds: str) -> list[str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return build_command(
        ["python", "job.py"], ro_binds={data: "/data", **{Path(k): v for k, v in binds.items()}},
        scratch=tmp_path, limits=LIMITS, env={"SEED": "1"},
    )


def _pairs(command: list[str], flag: str) -> list[tuple[str, str]]:
    return [(command[i + 1], command[i + 2]) for i, arg in enumerate(command) if arg == flag]


def test_the_command_line_denies_by_default(tmp_path: Path) -> None:
    command = _command(tmp_path)
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in command
    assert command[command.index("--cap-drop") + 1] == "ALL"
    assert command[command.index("--uid") + 1] == command[command.index("--gid") + 1] == "65534"
    assert "--share-net" not in command
    assert command[command.index("--") + 1 :] == ["python", "job.py"]
    # /tmp is a fresh, size-capped tmpfs, mounted before any bind (a later tmpfs would hide them)
    tmpfs = command.index("--tmpfs")
    assert command[tmpfs + 1] == "/tmp" and command[tmpfs - 2 : tmpfs] == ["--size", str(LIMITS.output_bytes)]
    assert tmpfs < min(i for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind"))
    # read-only: everything but scratch; writable: scratch only
    assert _pairs(command, "--bind") == [(str(tmp_path.resolve()), SCRATCH)]
    ro = dict((dest, src) for src, dest in _pairs(command, "--ro-bind"))
    assert ro["/data"] == str((tmp_path / "data").resolve())
    assert ro["/usr"] == "/usr" and ro["/proc/sys"] == "/proc/sys"
    assert not any(dest == "/etc" or dest.startswith("/etc/") for dest in ro)
    assert not any(dest in ("/", "/home", "/root", os.path.expanduser("~")) for dest in ro)
    assert Path(sys.prefix).resolve().as_posix() in ro
    assert {command[i + 1] for i, arg in enumerate(command) if arg == "--remount-ro"} == {"/", "/dev"}
    shm = command.index("/dev/shm")
    assert command[shm - 3 : shm] == ["--size", str(LIMITS.output_bytes), "--tmpfs"]
    env = dict(_pairs(command, "--setenv"))
    assert env["HOME"] == SCRATCH and env["SEED"] == "1"
    assert not set(env) & {"AGORA_HOME", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY"}


@pytest.mark.parametrize("dest", ["relative", "/", "/usr/lib/x", "/proc/x", "/dev/x", SCRATCH, "/a/../etc", "/a/"])
def test_bad_bind_targets_are_refused(tmp_path: Path, dest: str) -> None:
    with pytest.raises(SandboxError, match="bind target"):
        _command(tmp_path, **{str(tmp_path): dest})


def test_missing_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        _command(tmp_path, **{str(tmp_path / "nope"): "/input"})
    with pytest.raises(SandboxError, match="scratch"):
        build_command(["true"], ro_binds={}, scratch=tmp_path / "nope", limits=LIMITS)
    with pytest.raises(SandboxError, match="argv"):
        build_command([], ro_binds={}, scratch=tmp_path, limits=LIMITS)
    with pytest.raises(SandboxError, match="environment"):
        build_command(["true"], ro_binds={}, scratch=tmp_path, limits=LIMITS, env={"A=B": "1"})


@pytest.mark.parametrize("field", ["cpu_s", "memory_bytes", "max_processes", "output_bytes", "wall_s"])
def test_limits_are_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


def test_the_seccomp_filter_is_well_formed() -> None:
    for machine, arch in (("x86_64", 0xC000003E), ("aarch64", 0xC00000B7)):
        program = build_filter(machine)
        assert program is not None and len(program) % 8 == 0
        insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
        assert insns[0] == (0x20, 0, 0, 4) and insns[1] == (0x15, 1, 0, arch)  # the ABI first
        assert insns[2] == (0x06, 0, 0, 0x80000000)  # another ABI: killed
        assert insns[-2:] == [(0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050000 | errno.EPERM)]
        checks = insns[4:-2]
        column = 0 if machine == "x86_64" else 1
        expected = {nrs[column] for nrs in BLOCKED.values() if nrs[column] is not None}
        assert {k for code, _, _, k in checks if code == 0x15} == expected
        for index, (_code, jt, jf, _) in enumerate(checks, start=4):
            assert jf == 0 and index + 1 + jt == len(insns) - 1, "every check jumps to the EPERM return"
    assert build_filter("riscv64") is None


def test_the_command_line_carries_the_filter(tmp_path: Path) -> None:
    command = build_command(["true"], ro_binds={}, scratch=tmp_path, limits=LIMITS, seccomp_fd=7)
    assert command[command.index("--seccomp") + 1] == "7"
    assert command.index("--seccomp") < command.index("--")
