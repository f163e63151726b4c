"""``agora subnet …`` in process on one shared embedded chain: a subnet created, neurons registered
and staked, weights committed and revealed, epochs advanced, computed, posted, shown and claimed,
all with ``--json``; bad input refused with one line each; and on anvil, ``agora subnet miner`` and
``agora subnet validator`` as real processes (stopped by pid) carrying a subnet through its epochs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agora.context as sdk_context
from agora.chain import Chain, connect
from agora.devnet.anvil import AnvilProcess
from agora.protocol import AddressBook, Deployment, deploy_devnet
from agora.subnet.settlement import epoch_key
from agora.subnet.subnets import Subnets
from agora.subnet.validator import compute_with_history
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.proc_helpers import terminate

AGORA = str(Path(sys.executable).with_name("agora"))

ONE = 10**18
ACCOUNT = {
    2: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    3: "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    4: "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    5: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
}


def _patch(monkeypatch: pytest.MonkeyPatch, chain: Chain, dep: Deployment) -> None:
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch, agora_home: Path) -> tuple[Chain, Deployment]:
    """Every in-process `agora` of a test on one embedded chain and deployment."""
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    _patch(monkeypatch, chain, dep)
    return chain, dep


@pytest.fixture(scope="module")
def small_subnet() -> tuple[Chain, Deployment]:
    """Subnet 1 (4 UIDs at most) with accounts 2 and 3 registered, shared by the refusals (which change nothing)."""
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    s = Subnets(dep)
    netuid = s.create(chain.dev_signers[1], tempo=2, max_uids=4)
    for a in (2, 3):
        s.register(netuid, chain.dev_signers[a].address, chain.dev_signers[a])
    return chain, dep


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = agora(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "subnet", "--help")
    assert code == 0
    for word in ("create", "register", "stake", "unstake", "weights", "epoch", "show", "claim", "miner", "validator"):
        assert word in out


def test_a_subnet_from_the_command_line(capsys: pytest.CaptureFixture[str], shared: tuple[Chain, Deployment]) -> None:
    chain, _ = shared
    created = ok(
        capsys,
        "--account",
        "1",
        "subnet",
        "create",
        "--tempo",
        "2",
        "--max-uids",
        "8",
        "--immunity",
        "1",
        "--emission",
        "10",
        "--fund",
        "100",
        "--max-validators",
        "2",
        "--weights-rate-limit",
        "0",
    )
    assert created["netuid"] == 1 and created["max_allowed_validators"] == 2 and created["pool_wei"] == 100 * ONE
    net = "1"
    uids = [ok(capsys, "--account", str(a), "subnet", "register", net)["uid"] for a in (2, 3, 4, 5)]
    assert uids == [0, 1, 2, 3]
    assert ok(capsys, "--account", "2", "subnet", "stake", net, ACCOUNT[2], "300")["stake_wei"] == 300 * ONE
    assert ok(capsys, "--account", "3", "subnet", "stake", net, ACCOUNT[3], "100")["stake_wei"] == 100 * ONE
    assert ok(capsys, "subnet", "epoch", "advance", net) == {"netuid": 1, "epoch": 1}

    # epoch 1: the two validators commit; epoch 2: they reveal (the salt given back, as a script would)
    c2 = ok(capsys, "--account", "2", "subnet", "weights", net, "--set", "2:1,3:0.5")
    c3 = ok(capsys, "--account", "3", "subnet", "weights", net, "--set", "2:1,3:0.6")
    assert c2["epoch"] == 1 and c2["uids"] == [2, 3] and c2["values"] == [65535, 32768]
    ok(capsys, "subnet", "epoch", "advance", net)
    code, _, err = agora(
        capsys, "--account", "2", "subnet", "weights", net, "--reveal", "--set", "2:1,3:0.5", "--salt", "0x" + "11" * 32
    )
    assert code == 1 and one_line_error(err) == "error: these weights and salt do not match the commit on chain"
    r2 = ok(capsys, "--account", "2", "subnet", "weights", net, "--reveal", "--set", "2:1,3:0.5", "--salt", c2["salt"])
    ok(capsys, "--account", "3", "subnet", "weights", net, "--reveal", "--set", "2:1,3:0.6", "--salt", c3["salt"])
    assert r2["epoch"] == 1 and r2["values"] == [65535, 32768]
    ok(capsys, "subnet", "epoch", "advance", net)

    # epoch 3 counts the weights: miner 2 above miner 3, the validators' dividends
    view = ok(capsys, "subnet", "epoch", "compute", net)
    assert view["epoch"] == 3 and view["status"] == "none" and view["total_wei"] == 10 * ONE
    inc = [u["incentive"] for u in view["uids"]]
    assert inc[2] > inc[3] > 0 and inc[0] == inc[1] == 0
    assert all(u["dividends"] > 0 for u in view["uids"][:2])
    assert sum(u["emission_wei"] for u in view["uids"]) + view["owner_cut_wei"] == 10 * ONE
    # account 2 holds 75 % of the permitted stake: a quorum by itself
    posted = ok(capsys, "--account", "2", "subnet", "epoch", "post", net, "--epoch", "3")
    assert posted["signers"] == [ACCOUNT[2]] and posted["root"] == view["root"]
    code, _, err = agora(capsys, "--account", "2", "subnet", "epoch", "post", net, "--epoch", "3")
    assert code == 1 and "epoch 3 of subnet 1 is already posted (pending)" in one_line_error(err)

    shown = ok(capsys, "subnet", "show", net)
    assert [n["uid"] for n in shown["neurons"]] == [0, 1, 2, 3]
    assert [n["permit"] for n in shown["neurons"]] == [True, True, False, False]
    assert shown["neurons"][0]["stake_wei"] == 300 * ONE and shown["neurons"][2]["incentive"] > 0
    code, out, _ = agora(capsys, "subnet", "show", net)
    assert code == 0 and "incentive" in out and "dividends" in out and "emission" in out

    code, _, err = agora(capsys, "--account", "4", "subnet", "claim", net, "3")
    assert code == 1 and "is not final (pending)" in one_line_error(err)
    chain.advance_time(3_601)
    claimed = ok(capsys, "--account", "4", "subnet", "claim", net, "3")
    assert claimed["leaves"] == [2] and claimed["claimed_wei"] == view["uids"][2]["emission_wei"]
    assert ok(capsys, "--account", "4", "subnet", "claim", net, "3")["claimed_wei"] == 0
    # stake comes back: part of it, then the rest (at the pool's value)
    code, _, err = agora(capsys, "--account", "3", "subnet", "unstake", net, ACCOUNT[3], "101")
    assert code == 1 and "you have 100 AGR staked to" in one_line_error(err)
    part = ok(capsys, "--account", "3", "subnet", "unstake", net, ACCOUNT[3], "40")
    assert part["withdrawn_wei"] == 40 * ONE and part["staked_wei"] == 60 * ONE
    rest = ok(capsys, "--account", "3", "subnet", "unstake", net, ACCOUNT[3], "--all")
    assert rest["withdrawn_wei"] == 60 * ONE and rest["staked_wei"] == 0 and rest["shares_left"] == 0
    code, _, err = agora(capsys, "--account", "3", "subnet", "unstake", net, ACCOUNT[3], "--all")
    assert code == 1 and "has nothing staked to" in one_line_error(err)
    final = ok(capsys, "subnet", "epoch", "show", net, "--epoch", "3")
    assert final["status"] == "final" and final["matches_posted"] is True
    code, out, _ = agora(capsys, "subnet", "epoch", "show", net, "--epoch", "3")
    assert code == 0 and "(matches)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("subnet", "show", "99"), "error: subnet 99 does not exist (subnets: 1..1)"),
        (
            ("--account", "6", "subnet", "weights", "1", "--set", "1:1"),
            f"error: {'0x976EA74026E726554dB657fA54763abd0C3a0aa9'} is not registered in subnet 1",
        ),
        (("--account", "2", "subnet", "weights", "1", "--set", "1:x"), "error: weight 'x' of UID 1 is not a number"),
        (
            ("--account", "2", "subnet", "weights", "1", "--set", "1"),
            "error: weights are UID:WEIGHT pairs separated by commas (3:1,4:0.5), not '1'",
        ),
        (
            ("--account", "2", "subnet", "weights", "1", "--set", "7:1"),
            "error: UID 7 does not exist in subnet 1 (UIDs 0..1)",
        ),
        (
            ("--account", "2", "subnet", "weights", "1", "--set", "1:0"),
            "error: the weights are all 0: give at least one above 0",
        ),
        (
            ("--account", "2", "subnet", "weights", "1", "--set", "1:1"),
            "error: UID 0 has no validator permit in epoch 0 of subnet 1",
        ),
        (
            ("--account", "2", "subnet", "register", "1"),
            f"error: {ACCOUNT[2]} is already registered in subnet 1 (UID 0)",
        ),
        (
            ("subnet", "epoch", "bogus", "1"),
            "error: unknown epoch action 'bogus' (one of advance, compute, post, show)",
        ),
        (("subnet", "epoch", "compute", "1", "--epoch", "4"), "error: subnet 1 has no epoch 4 yet (current: 0)"),
        (("subnet", "miner", "1"), "a miner needs a chain that outlives it"),
        (("subnet", "miner", "1", "--mode", "evil"), "error: unknown miner mode 'evil'"),
        (("subnet", "stake", "1", "0x12", "1"), "error: '0x12' is not an address"),
    ],
    ids=[
        "unknown-subnet",
        "not-registered",
        "nan-weight",
        "no-colon",
        "unknown-uid",
        "zero-weights",
        "no-permit",
        "registered-twice",
        "bad-action",
        "no-epoch",
        "miner-embedded",
        "bad-mode",
        "bad-address",
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    agora_home: Path,
    small_subnet: tuple[Chain, Deployment],
    args: tuple[str, ...],
    message: str,
) -> None:
    _patch(monkeypatch, *small_subnet)
    code, _, err = agora(capsys, *args)
    assert code == 1 and message in one_line_error(err)


# -- real processes on anvil: `agora subnet miner` and `agora subnet validator` ----------------------
@pytest.mark.anvil
def test_a_miner_and_a_validator_run_as_processes_on_anvil(fresh_anvil: AnvilProcess, agora_home: Path) -> None:
    chain = connect(fresh_anvil.url)
    dep = deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json"))
    s = Subnets(dep)
    owner, v, m = chain.dev_signers[1], chain.dev_signers[2], chain.dev_signers[3]
    netuid = s.create(owner, tempo=2, max_uids=4, immunity_period=1)
    s.set_hyperparams(netuid, owner, weights_rate_limit=0)
    s.set_emission(netuid, 10 * ONE, owner)
    s.fund(netuid, 100 * ONE, owner)
    for who in (v, m):
        s.register(netuid, who.address, who)
    s.add_stake(netuid, v.address, 100 * ONE, v)
    env = {**os.environ, "AGORA_HOME": str(agora_home), "AGORA_CHAIN": fresh_anvil.url}
    miner = validator = None
    try:
        miner = subprocess.Popen(
            [AGORA, "--account", "3", "subnet", "miner", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert miner.stdout is not None
        line = miner.stdout.readline()
        assert "serving at http://127.0.0.1:" in line, line + (miner.stderr.read() if miner.stderr else "")
        validator = subprocess.Popen(
            [
                AGORA,
                "--account",
                "2",
                "subnet",
                "validator",
                "1",
                "--advance",
                "--poll",
                "0.1",
                "--challenge-size",
                "8",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        key = epoch_key(netuid, 4)
        deadline = time.monotonic() + 90
        # weights scored in epoch e count from e + 2 (revealed in e + 1); anvil mines only on demand
        while int(s.settlement.result(key)[-1]) != 1:
            assert validator.poll() is None and miner.poll() is None, (
                validator.stderr.read() if validator.stderr else ""
            )
            assert time.monotonic() < deadline, "epoch 4 was not posted in time"
            chain.mine(1)
            time.sleep(0.2)
        settled = compute_with_history(s, netuid, 4)
        assert settled.claim.root == bytes(s.settlement.result(key)[0])
        assert settled.amounts[1] > 0 and settled.result.incentive[1] == 1.0  # the miner, UID 1
        chain.advance_time(3_601)
        while not s.settlement.claimed(key, 0):  # the validator claims its leaf
            assert time.monotonic() < deadline, "the validator did not claim in time"
            chain.mine(1)
            time.sleep(0.2)
    finally:
        codes = terminate(validator, 15), terminate(miner, 15)
        for proc in (validator, miner):
            for pipe in (proc.stdout, proc.stderr) if proc is not None else ():
                if pipe is not None:
                    pipe.close()
    assert codes == (0, 0)
