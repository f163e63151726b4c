"""Federated learning across data holders with Flower and SecAgg+, driven as processes.

Several holders each keep a part of a dataset; a consumer trains one model across them. Only
weight updates leave a holder, and only as SecAgg+ shares: the server sees their sum. The Flower
app lives in ``flower/agora_fl`` and runs in Flower's own environment (``.venv-flower``, made by
``make setup``), because Flower's pins fight the project's; this module never imports ``flwr``.

* :func:`run_simulation` — Flower's simulation engine (ray, virtual SuperNodes) in one child
  process of ``.venv-flower/bin/python``.
* :func:`run_deployment` — the deployment engine: a SuperLink and one SuperNode per holder as
  real processes on 127.0.0.1 (free ports, ``--insecure``), the run submitted with
  ``flwr run <app> <connection> --stream``; every process is stopped by its PID. With
  ``sandbox=True`` each SuperNode (and so each holder's ClientApp processes) runs in the
  bubblewrap sandbox (:func:`agora.workloads.sandbox.spawn`, ``network="host"``) on its own data only.
* :func:`train_central` — the same model trained on the pooled data here (numpy), the baseline
  of ``fl_vs_central_accuracy_ratio``.

Each round the app appends one JSON line (round, participants' node ids, held-out accuracy,
sha256 of the aggregated weights, …) to a log; it is parsed into :class:`FLRound` as it grows
(``on_round`` is called for each), so Agora can record rounds on chain and pay the holders
that took part. See ``docs/federated.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from agora.errors import AgoraError, ConfigError
from agora.workloads.sandbox import Limits, SandboxProcess, sandbox_available, spawn

__all__ = [
    "DEFAULT_APP",
    "DEFAULT_FLOWER_VENV",
    "FLRound",
    "FLRunResult",
    "FederatedError",
    "app_config",
    "Holder",
    "SUPERNODE_LIMITS",
    "find_flower_venv",
    "flower_available",
    "parse_rounds",
    "run_deployment",
    "run_simulation",
    "train_central",
]

_ROOT = Path(__file__).resolve().parents[3]
#: The Flower app (a directory with a pyproject.toml holding ``[tool.flwr.app]``).
DEFAULT_APP = _ROOT / "flower" / "agora_fl"
#: Flower's own environment, made by ``make setup``.
DEFAULT_FLOWER_VENV = _ROOT / ".venv-flower"
#: No phone-home, no update check, in every Flower process.
_FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONUNBUFFERED": "1"}
_LOOPBACK = "127.0.0.1"
_POLL_S = 0.2
#: A sandboxed SuperNode's limits (its ClientApp processes included): CPU seconds over the whole
#: tree, address space per process (gRPC and numpy reserve far more than they touch) and resident
#: memory of the tree where a memory cgroup is writable, processes and threads, output. Its wall
#: limit is the run's ``timeout_s`` plus a minute.
SUPERNODE_LIMITS = Limits(cpu_s=1800, memory_bytes=8 << 30, max_processes=512, output_bytes=256 << 20, wall_s=660)
#: Where a holder's data file appears inside its SuperNode's sandbox.
_SANDBOX_DATA = "/data"

OnRound = Callable[["FLRound"], None]


class FederatedError(AgoraError):
    """A federated run could not start or did not finish."""


@dataclass(frozen=True)
class FLRound:
    """One finished round, as the server logged it.

    ``participants`` are the node ids whose masked weights are in the aggregate (``holders``
    their labels, ``num_examples`` their example counts, in the same order); ``dropped`` the
    sampled nodes that are not. ``aggregate_hash`` is the sha256 (hex) of the global weights
    after the round (the arrays as little-endian float64, in order); ``epsilon`` the update-level
    DP budget spent so far per holder (None without it); ``epsilon_record`` the record-level DP
    budget spent so far per holder (one record as the unit; None without it).
    """

    round: int
    participants: tuple[int, ...]
    accuracy: float
    aggregate_hash: str
    holders: tuple[str, ...] = ()
    num_examples: tuple[int, ...] = ()
    dropped: tuple[int, ...] = ()
    loss: float = float("nan")
    epsilon: float | None = None
    epsilon_record: float | None = None


@dataclass(frozen=True)
class FLRunResult:
    """A finished run: its rounds, the last round's held-out accuracy, the wall time."""

    rounds: tuple[FLRound, ...]
    final_accuracy: float
    wall_s: float
    engine: str = ""
    model_path: Path | None = None


@dataclass(frozen=True)
class Holder:
    """One holder's SuperNode (deployment engine): its label, and optionally its own data file
    (an ``.npz`` with ``X`` (n x 64, in [0, 1]) and ``y``); without one it trains on its
    partition of the built-in digits split."""

    name: str
    data_path: Path | None = None


def flower_available(venv: Path | None = None) -> bool:
    """Whether Flower's environment is there (``make setup`` makes it)."""
    try:
        find_flower_venv(venv)
    except FederatedError:
        return False
    return True


def find_flower_venv(venv: Path | None = None) -> Path:
    """The Flower environment's directory (``venv``, ``$AGORA_FLOWER_VENV`` or ``.venv-flower``);
    raises :class:`FederatedError` when it has no Flower."""
    path = Path(venv or os.environ.get("AGORA_FLOWER_VENV") or DEFAULT_FLOWER_VENV)
    if not (path / "bin" / "python").exists() or not (path / "bin" / "flower-superlink").exists():
        raise FederatedError(f"Flower's environment {path} is missing", hint="run `make setup`")
    return path


def parse_rounds(lines: Iterable[str]) -> list[FLRound]:
    """The rounds in the app's JSON-lines log (blank lines skipped)."""
    out = []
    for line in lines:
        if line.strip():
            out.append(_round_from(json.loads(line)))
    return out


def _round_from(d: Mapping[str, Any]) -> FLRound:
    eps, eps_record = d.get("epsilon"), d.get("epsilon_record")
    return FLRound(
        round=int(d["round"]),
        participants=tuple(int(n) for n in d["participants"]),
        accuracy=float(d["accuracy"]),
        aggregate_hash=str(d["aggregate_hash"]),
        holders=tuple(str(h) for h in d.get("holders", ())),
        num_examples=tuple(int(n) for n in d.get("num_examples", ())),
        dropped=tuple(int(n) for n in d.get("dropped", ())),
        loss=float(d.get("loss", float("nan"))),
        epsilon=None if eps is None else float(eps),
        epsilon_record=None if eps_record is None else float(eps_record),
    )


class _RoundTail:
    """Reads the rounds log as it grows; calls ``on_round`` once per new complete line."""

    def __init__(self, path: Path, on_round: OnRound | None) -> None:
        self.path, self.on_round = path, on_round
        self.rounds: list[FLRound] = []
        self._offset = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # only complete lines
        self._offset += end
        for fl_round in parse_rounds(chunk[:end].decode().splitlines()):
            self.rounds.append(fl_round)
            if self.on_round is not None:
                self.on_round(fl_round)


def app_config(config: Mapping[str, Any] | None = None, app_dir: Path = DEFAULT_APP) -> dict[str, Any]:
    """The Flower app's run config: its defaults (``[tool.flwr.app.config]`` of its
    ``pyproject.toml``) overlaid with ``config``; an unknown key is refused here, before a run."""
    try:
        defaults = tomllib.loads((app_dir / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise FederatedError(f"cannot read the Flower app's config in {app_dir}: {exc}") from None
    unknown = sorted(set(config or {}) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown run config keys: {unknown}")
    return {**defaults, **(config or {})}


def _validate(num_holders: int, rounds: int) -> None:
    if num_holders < 3:
        raise FederatedError(f"SecAgg+ needs at least 3 holders, got {num_holders}")
    if rounds < 1:
        raise FederatedError(f"rounds must be at least 1, got {rounds}")


def _run_config(
    num_holders: int, rounds: int, config: Mapping[str, Any] | None, work: Path, keep: bool
) -> dict[str, Any]:
    cfg: dict[str, Any] = {"num-server-rounds": rounds, "min-available-clients": num_holders}
    cfg.update(config or {})
    cfg["rounds-log"] = str(work / "rounds.jsonl")
    (work / "rounds.jsonl").unlink(missing_ok=True)  # a reused workdir: follow this run's rounds only
    cfg.setdefault("model-path", str(work / "model.npz") if keep else "")
    return cfg


@contextmanager
def _scratch(keep_on_failure: bool) -> Iterator[Path]:
    """A temporary directory, removed afterwards, or kept (with its logs) when the run fails
    and ``keep_on_failure``."""
    path = Path(tempfile.mkdtemp(prefix="agora-fl-"))
    try:
        yield path
    except BaseException:
        if not keep_on_failure:
            shutil.rmtree(path, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)


def _last_line(log: Path) -> str:
    """The log's last error-looking line (else its last line), for a one-line message."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    errors = [ln for ln in lines if "Error" in ln or "ERROR" in ln or "Exception" in ln]
    return (errors or lines or ["(empty log)"])[-1][:300]


def _path_with(bin_dir: Path) -> str:
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])


class _Process(Protocol):
    """A child process: a :class:`subprocess.Popen` or a :class:`agora.workloads.sandbox.SandboxProcess`."""

    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


def _stop(proc: _Process, timeout: float = 10.0) -> int | None:
    """SIGTERM ``proc`` by its PID (a sandboxed one: every process of its sandbox), SIGKILL after
    ``timeout`` s; its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _wait(proc: subprocess.Popen[bytes], tail: _RoundTail, deadline: float, what: str, log: Path) -> None:
    """Follow the rounds log until ``proc`` exits; raise on a timeout or a failed exit."""
    while proc.poll() is None:
        tail.poll()
        if time.monotonic() > deadline:
            _stop(proc)
            raise FederatedError(f"{what} did not finish in time; last log line: {_last_line(log)}")
        time.sleep(_POLL_S)
    tail.poll()
    if proc.returncode != 0:
        raise FederatedError(f"{what} failed (exit {proc.returncode}): {_last_line(log)} (logs in {log.parent})")


def _result(tail: _RoundTail, rounds: int, t0: float, engine: str, cfg: Mapping[str, Any], log: Path) -> FLRunResult:
    if len(tail.rounds) < rounds:
        raise FederatedError(
            f"{engine}: {len(tail.rounds)} of {rounds} rounds logged; last log line: {_last_line(log)}"
        )
    model = Path(cfg["model-path"]) if cfg.get("model-path") else None
    return FLRunResult(
        rounds=tuple(tail.rounds),
        final_accuracy=tail.rounds[-1].accuracy,
        wall_s=time.monotonic() - t0,
        engine=engine,
        model_path=model if model is not None and model.exists() else None,
    )


def run_simulation(
    num_holders: int = 3,
    *,
    rounds: int = 2,
    config: Mapping[str, Any] | None = None,
    on_round: OnRound | None = None,
    timeout_s: float = 600.0,
    num_cpus: int = 2,
    flower_venv: Path | None = None,
    app_dir: Path = DEFAULT_APP,
    workdir: Path | None = None,
) -> FLRunResult:
    """Train across ``num_holders`` virtual holders on Flower's simulation engine (ray).

    One child process of the Flower environment's python runs ``flwr.simulation.run_simulation``
    with ray limited to ``num_cpus``; holder ``i`` trains on partition ``i`` of the digits
    training split. ``config`` overrides the app's run config (keys of
    ``flower/agora_fl/pyproject.toml``, e.g. ``{"dp-clip": 1.0, "dp-noise-multiplier": 1.0}``).
    Files (rounds log, final model, process log) go to ``workdir``; when None, to a temporary
    directory that is removed after a successful run (so ``model_path`` is then None) and kept,
    for its logs, after a failed one.
    """
    venv = find_flower_venv(flower_venv)
    _validate(num_holders, rounds)
    with _scratch(keep_on_failure=workdir is None) as tmp:
        work = Path(workdir) if workdir is not None else tmp
        work.mkdir(parents=True, exist_ok=True)
        cfg = _run_config(num_holders, rounds, config, work, keep=workdir is not None)
        log = work / "simulation.log"
        env = {
            **os.environ,
            **_FLOWER_ENV,
            "PYTHONPATH": str(app_dir),
            "RAY_TMPDIR": str(tmp),
            "PATH": _path_with(venv / "bin"),
        }
        cmd = [str(venv / "bin" / "python"), "-m", "agora_fl.simulate", "--num-supernodes", str(num_holders)]
        cmd += ["--config", json.dumps(cfg), "--num-cpus", str(num_cpus)]
        tail = _RoundTail(Path(cfg["rounds-log"]), on_round)
        t0 = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            try:
                _wait(proc, tail, t0 + timeout_s, "the Flower simulation", log)
            finally:
                _stop(proc)
        return _result(tail, rounds, t0, "simulation", cfg, log)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on loopback right now (held open together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((_LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FederatedError(f"the SuperLink exited ({proc.returncode}): {_last_line(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex((_LOOPBACK, port)) == 0:
                return
        time.sleep(_POLL_S)
    raise FederatedError(f"the SuperLink did not listen on {_LOOPBACK}:{port} in time")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(str(v))  # a TOML basic string


def _node_config(i: int, n: int, holder: Holder, data_path: str | None = None) -> str:
    """The SuperNode's ``--node-config``; ``data_path``: where its data file is, as it sees it
    (default: the holder's file on this host)."""
    parts = [f"partition-id={i}", f"num-partitions={n}", f"holder={json.dumps(holder.name)}"]
    if holder.data_path is not None:
        parts.append(f"data-path={json.dumps(data_path or str(Path(holder.data_path).resolve()))}")
    return " ".join(parts)


def _venv_binds(venv: Path) -> dict[Path, str]:
    """Read-only binds that let a sandboxed process run the Flower environment: the environment at
    the path its scripts' shebangs name, and the Python installation it was made from (from its
    ``pyvenv.cfg``), at its own path (nothing under ``/usr``, which the sandbox always has)."""
    venv = venv.absolute()
    binds = {venv.resolve(): str(venv)}
    home = ""
    with contextlib.suppress(OSError):
        for line in (venv / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
    python = Path(os.path.realpath(venv / "bin" / "python"))
    for folder in (Path(os.path.realpath(home)).parent if home else None, python.parent.parent):
        if folder is None or str(folder) in ("/", "/usr") or folder.is_relative_to("/usr"):
            continue
        if folder.is_relative_to(venv.resolve()) or any(folder.is_relative_to(b) for b in binds):
            continue
        binds[folder] = str(folder)
    return binds


def _spawn_supernode(
    cmd: list[str], *, holder: Holder, venv: Path, scratch: Path, limits: Limits, log: Any, gate_dir: str = ""
) -> SandboxProcess:
    """One SuperNode in the sandbox on the host's network: the Flower environment, the holder's
    data file and its round gate's folder (public chain facts) read-only, ``FLWR_HOME`` in its
    scratch folder."""
    binds = _venv_binds(venv)
    if gate_dir:
        binds[Path(gate_dir).resolve()] = str(Path(gate_dir).resolve())
    if holder.data_path is not None:
        binds[Path(holder.data_path).resolve()] = f"{_SANDBOX_DATA}/{Path(holder.data_path).name}"
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "flwr-home").mkdir(exist_ok=True)
    env = {**_FLOWER_ENV, "FLWR_HOME": "/scratch/flwr-home", "PATH": f"{venv.absolute() / 'bin'}:/usr/bin:/bin"}
    return spawn(
        cmd,
        ro_binds=binds,
        scratch=scratch,
        limits=limits,
        env=env,
        network="host",
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run_deployment(
    holders: int | Sequence[Holder] = 3,
    *,
    rounds: int = 2,
    config: Mapping[str, Any] | None = None,
    on_round: OnRound | None = None,
    timeout_s: float = 600.0,
    flower_venv: Path | None = None,
    app_dir: Path = DEFAULT_APP,
    workdir: Path | None = None,
    sandbox: bool = False,
    sandbox_limits: Limits | None = None,
) -> FLRunResult:
    """Train across real holder processes on Flower's deployment engine, on loopback.

    Starts a SuperLink (``--insecure``, no run-time dependency installation) and one SuperNode
    per holder (``holders``: a count, or :class:`Holder` s with labels and optional data files),
    each on free ports of 127.0.0.1, with ``FLWR_HOME`` in the work directory; submits the app
    with ``flwr run <app> <connection> --stream`` and follows the rounds log; then stops the
    SuperNodes and the SuperLink by PID (SIGTERM, then SIGKILL; their ``flower-superexec``
    children notice and exit on their own). ``config`` and ``workdir`` as in
    :func:`run_simulation`.

    ``sandbox=True`` starts each SuperNode with :func:`agora.workloads.sandbox.spawn` (``network="host"``):
    it and the ClientApp processes it starts run as uid 65534 with no capabilities, under the
    seccomp filter and ``sandbox_limits`` (default :data:`SUPERNODE_LIMITS`, its wall limit
    ``timeout_s`` + 60 s), seeing the Flower environment and only its own holder's data file
    (read-only, at ``/data/<file name>``, the node config's ``data-path``), writing only its
    scratch folder (``FLWR_HOME`` is there). It shares the host's network. The SuperLink and
    ``flwr run`` (the consumer's side) are not sandboxed. Raises :class:`FederatedError` where
    this machine cannot sandbox.
    """
    venv = find_flower_venv(flower_venv)
    specs = [Holder(f"holder-{i}") for i in range(holders)] if isinstance(holders, int) else list(holders)
    _validate(len(specs), rounds)
    if sandbox:
        ok, why = sandbox_available()
        if not ok:
            raise FederatedError(f"cannot sandbox the SuperNodes: {why}")
        base = sandbox_limits or SUPERNODE_LIMITS
        node_limits = Limits(
            cpu_s=base.cpu_s,
            memory_bytes=base.memory_bytes,
            max_processes=base.max_processes,
            output_bytes=base.output_bytes,
            wall_s=base.wall_s if sandbox_limits is not None else timeout_s + 60,
        )
    bin_dir = venv / "bin"
    procs: list[_Process] = []
    with _scratch(keep_on_failure=workdir is None) as tmp:
        work = Path(workdir) if workdir is not None else tmp
        work.mkdir(parents=True, exist_ok=True)
        cfg = _run_config(len(specs), rounds, config, work, keep=workdir is not None)
        home = tmp / "flwr-home"
        home.mkdir()
        link_port, *node_ports = _free_ports(1 + len(specs))
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "agora-local"\n\n'
            f'[superlink.agora-local]\naddress = "{_LOOPBACK}:{link_port}"\ninsecure = true\n'
        )
        overrides = work / "run-config.toml"
        overrides.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in cfg.items()))
        # the SuperLink and SuperNodes start `flower-superexec` (and it the apps) from PATH
        env = {**os.environ, **_FLOWER_ENV, "FLWR_HOME": str(home), "PATH": _path_with(bin_dir)}
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        logs: list[Any] = []

        def start(cmd: list[str], log_name: str) -> subprocess.Popen[bytes]:
            out = (work / log_name).open("wb")
            logs.append(out)
            proc = subprocess.Popen(
                cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            procs.append(proc)
            return proc

        def start_supernode(i: int, holder: Holder, cmd: list[str]) -> None:
            out = (work / f"supernode-{i}.log").open("wb")
            logs.append(out)
            scratch = tmp / f"supernode-{i}"
            procs.append(_spawn_supernode(cmd, holder=holder, venv=venv, scratch=scratch, limits=node_limits, log=out,
                                          gate_dir=str(cfg.get("round-gate-dir") or "")))

        try:
            link_log = work / "superlink.log"
            link = start(
                [str(bin_dir / "flower-superlink"), "--insecure", "--host", _LOOPBACK, "--port", str(link_port)]
                + ["--disable-runtime-dependency-installation"],
                link_log.name,
            )
            _wait_port(link_port, link, min(deadline, time.monotonic() + 60), link_log)
            for i, (holder, port) in enumerate(zip(specs, node_ports, strict=True)):
                node_cmd = [str(bin_dir / "flower-supernode"), "--insecure", "--superlink", f"{_LOOPBACK}:{link_port}"]
                node_cmd += ["--port", str(port)]
                if sandbox:
                    inside = None if holder.data_path is None else f"{_SANDBOX_DATA}/{Path(holder.data_path).name}"
                    node_cmd[0] = str(venv.absolute() / "bin" / "flower-supernode")
                    node_cmd += ["--node-config", _node_config(i, len(specs), holder, inside)]
                    start_supernode(i, holder, node_cmd)
                else:
                    node_cmd += ["--node-config", _node_config(i, len(specs), holder)]
                    start(node_cmd, f"supernode-{i}.log")
            run_log = work / "flwr-run.log"
            runner = start(
                [str(bin_dir / "flwr"), "run", str(app_dir), "agora-local", "--stream", "--run-config", str(overrides)],
                run_log.name,
            )
            tail = _RoundTail(Path(cfg["rounds-log"]), on_round)
            _wait(runner, tail, deadline, "`flwr run`", run_log)
            for proc in procs[1:]:
                if proc.poll() is not None and proc.returncode != 0:
                    raise FederatedError(f"a SuperNode exited ({proc.returncode}) during the run")
            return _result(tail, rounds, t0, "deployment", cfg, run_log)
        finally:
            for proc in reversed(procs):  # the runner, the SuperNodes, then the SuperLink
                _stop(proc)
            for out in logs:
                out.close()


def _digits_split(seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """The app's split (``flower/agora_fl/agora_fl/task.py``): digits / 16, stratified 75/25."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    return x_tr, y_tr, x_te, y_te


def train_central(*, epochs: int = 10, lr: float = 0.5, seed: int = 0, batch: int = 32) -> float:
    """Held-out accuracy of the app's model trained on the pooled training split, here.

    The same softmax regression, initialisation (zeros), mini-batch SGD and held-out split as
    the app; ``epochs`` should match the federated run's rounds x local epochs (2 x 5 by
    default) for a fair ``fl_vs_central_accuracy_ratio``.
    """
    x, y, x_te, y_te = _digits_split(seed)
    classes = 10
    w, b = np.zeros((x.shape[1], classes)), np.zeros(classes)
    onehot = np.eye(classes)[y]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start : start + batch]
            z = x[idx] @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            grad = p / p.sum(axis=1, keepdims=True) - onehot[idx]
            w -= lr * x[idx].T @ grad / len(idx)
            b -= lr * grad.mean(axis=0)
    return float(((x_te @ w + b).argmax(axis=1) == y_te).mean())
