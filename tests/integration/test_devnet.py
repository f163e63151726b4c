"""`agora devnet up | status | mine | down` in real processes: refusal, persistence, cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.devnet.anvil import find_anvil, free_port, pid_alive

AGORA = str(Path(sys.executable).with_name("agora"))
BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CAROL = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def sh(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGORA_HOME": str(home)}
    proc = subprocess.run([AGORA, *args], capture_output=True, text=True, env=env, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"agora {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.fixture
def home(agora_home: Path) -> Iterator[Path]:
    find_anvil()
    yield agora_home
    # whatever happened, leave no anvil behind (stop it by its recorded pid)
    info = agora_home / "devnet" / "devnet.json"
    if info.exists():
        pid = json.loads(info.read_text())["pid"]
        if pid_alive(pid):
            os.kill(pid, 15)


def test_up_twice_refused_and_down_up_keeps_balances(home: Path) -> None:
    port = str(free_port())
    up = json.loads(sh(home, "devnet", "up", "--port", port, "--json").stdout)
    assert up["running"] and up["chain_id"] == 31337 and up["deployed_now"] is True
    assert up["url"] == f"http://127.0.0.1:{port}"
    token = up["contracts"]["token"]

    again = sh(home, "devnet", "up", "--port", str(free_port()), check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"error: a devnet is already running at http://127.0.0.1:{port} (pid {up['pid']}); "
        "use it as it is, or stop it first with `agora devnet down`"
    )

    sh(home, "--chain", "devnet", "token", "transfer", CAROL, "12.5")
    bal = json.loads(sh(home, "--chain", "devnet", "token", "balance", CAROL, "--json").stdout)
    assert bal["balance_wei"] == 1_000_000 * 10**18 + 12_500_000_000_000_000_000

    status = json.loads(sh(home, "devnet", "status", "--json").stdout)
    assert status["running"] and status["block"] >= 1 and status["contracts"]["token"] == token

    # mine: blocks and the clock move at once (epochs, windows and rounds pass)
    before = json.loads(sh(home, "devnet", "mine", "--json").stdout)
    assert before["block"] == status["block"] + 1
    moved = json.loads(sh(home, "devnet", "mine", "--blocks", "3", "--seconds", "7200", "--json").stdout)
    assert moved["block"] == before["block"] + 3 and moved["timestamp"] >= before["timestamp"] + 7200

    assert "devnet stopped" in sh(home, "devnet", "down").stdout
    assert not pid_alive(up["pid"])
    assert json.loads(sh(home, "devnet", "status", "--json").stdout)["running"] is False
    gone = sh(home, "--chain", "devnet", "token", "balance", CAROL, check=False)
    assert gone.returncode == 1 and "no devnet is running" in gone.stderr

    up2 = json.loads(sh(home, "devnet", "up", "--port", port, "--json").stdout)
    assert up2["deployed_now"] is False and up2["contracts"]["token"] == token
    assert up2["block"] >= status["block"]
    bal2 = json.loads(sh(home, "--chain", "devnet", "token", "balance", CAROL, "--json").stdout)
    assert bal2 == bal

    sh(home, "devnet", "down", "--reset")
    assert not (home / "devnet" / "state.json").exists()


def test_port_in_use_is_refused(home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = sh(home, "devnet", "up", "--port", str(port), check=False)
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in proc.stderr
    assert json.loads(sh(home, "devnet", "status", "--json").stdout)["running"] is False


def test_down_when_not_running_is_polite(home: Path) -> None:
    assert sh(home, "devnet", "down").stdout.strip() == "devnet: not running"


@pytest.mark.anvil
def test_devnet_commands_work_with_agora_chain_devnet(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/value.md has users export AGORA_CHAIN=devnet: the commands that manage the devnet
    # must not resolve that alias (it needs a running devnet); every other command does
    monkeypatch.setenv("AGORA_CHAIN", "devnet")
    assert sh(home, "devnet", "status").stdout.strip() == (
        "devnet: not running (start it with `agora devnet up`)"
    )
    port = str(free_port())
    up = json.loads(sh(home, "devnet", "up", "--port", port, "--json").stdout)
    assert up["running"] and up["url"] == f"http://127.0.0.1:{port}"
    status = json.loads(sh(home, "devnet", "status", "--json").stdout)
    assert status["running"] and status["contracts"]["token"] == up["contracts"]["token"]
    bal = json.loads(sh(home, "token", "balance", CAROL, "--json").stdout)
    assert bal["balance_wei"] == 1_000_000 * 10**18
    assert "devnet stopped" in sh(home, "devnet", "down").stdout
    assert sh(home, "devnet", "down", "--reset").stdout.strip() == "devnet stopped and its state deleted"
