"""Find and run anvil, the local EVM node installed from npm by the project's setup."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from agora.errors import ConfigError, NodeUnreachable

__all__ = ["AnvilProcess", "find_anvil", "free_port", "start_anvil", "wait_for_rpc"]

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def find_anvil() -> Path:
    """The anvil binary: ``$AGORA_ANVIL``, the project's ``node_modules``, or ``PATH``."""
    env = os.environ.get("AGORA_ANVIL")
    if env:
        return Path(env)
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    system = platform.system().lower()
    rel = Path("node_modules/@foundry-rs") / f"anvil-{system}-{arch}" / "bin" / "anvil"
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        candidate = root / rel
        if candidate.is_file():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ConfigError(
        "anvil is not installed",
        hint="run `make demo` or `npm install` in the Agora checkout, or set AGORA_ANVIL",
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port``.

    ``SO_REUSEADDR``, as anvil's own listener sets it: a port whose last
    connections linger in TIME_WAIT (anvil was just killed) is free for anvil,
    while a live listener still refuses the bind.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_rpc(url: str, timeout: float = 15.0) -> int:
    """Poll ``eth_chainId`` at ``url`` until it answers; return the chain id."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            r = httpx.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                timeout=2.0,
            )
            return int(r.json()["result"], 16)
        except Exception as exc:  # noqa: BLE001 - still starting
            last = exc
            time.sleep(0.05)
    raise NodeUnreachable(f"the node at {url} did not come up within {timeout:.0f}s ({last})")


@dataclass
class AnvilProcess:
    """A running anvil, stopped by process id."""

    pid: int
    port: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket JSON-RPC endpoint (same port)."""
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil then writes its state file), SIGKILL if it lingers."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None:
                if self.popen.poll() is not None:
                    return
            elif not pid_alive(self.pid):
                return
            time.sleep(0.02)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.popen is not None:
            self.popen.wait(5)


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def start_anvil(
    port: int | None = None,
    *,
    state: Path | None = None,
    chain_id: int = 31337,
    block_time: float | None = None,
    hardfork: str | None = None,
    detach: bool = False,
    log: Path | None = None,
    extra: list[str] | None = None,
) -> AnvilProcess:
    """Start anvil on 127.0.0.1 and wait until it answers.

    ``state`` makes the chain persistent (loaded at start, written every second
    and at exit). ``detach`` starts it in its own session so that it outlives
    this process (the devnet); otherwise it is this process's child (tests).
    """
    binary = find_anvil()
    if port is None:
        port = free_port()
    elif not port_free(port):
        raise ConfigError(f"port {port} on 127.0.0.1 is in use", hint="choose another with --port")
    args = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state), "--state-interval", "1"]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    if hardfork is not None:
        args += ["--hardfork", hardfork]
    args += extra or []
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        popen = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    proc = AnvilProcess(popen.pid, port, popen)
    try:
        wait_for_rpc(proc.url)
        if popen.poll() is not None:  # it died: whatever answered is not ours
            raise ConfigError(f"anvil exited at start (code {popen.returncode}); see its log")
    except Exception:
        proc.stop()
        raise
    return proc
