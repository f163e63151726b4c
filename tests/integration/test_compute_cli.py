"""``agora job …`` and ``agora provider …`` in process: one-line errors and --help on the
embedded chain (a fresh chain per invocation), and a stateful happy path on a real anvil."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.chain import connect
from agora.compute import JobState, Market, ProviderDaemon
from agora.compute.provider import daemon_db_path
from agora.context import Context
from agora.devnet.anvil import AnvilProcess
from agora.protocol import AddressBook, deploy_devnet
from agora.storage import LocalStore, Storage, cid_for
from agora.storage.state import StateLocked, lock_state
from agora.workloads import build_digits_model, digits_inputs
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.proc_helpers import terminate


def compute_dir(url: str) -> Path:
    """The compute layer's state folder for the chain at ``url`` (what `agora provider …` uses)."""
    return Context(url).state_dir("compute")

AGORA = str(Path(sys.executable).with_name("agora"))
E18 = 10**18
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # dev account 1
ACCOUNT_5 = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"  # dev account 5


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("compute-cli")
    (root / "model.onnx").write_bytes(build_digits_model())
    (root / "a.npy").write_bytes(digits_inputs(2, seed=1))
    (root / "b.npy").write_bytes(digits_inputs(3, seed=2))
    return {name: str(root / name) for name in ("model.onnx", "a.npy", "b.npy")}


# -- help ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--help",), ("job", "provider")),
        (("job", "--help"), ("submit", "status", "result", "list")),
        (("provider", "--help"), ("register", "status", "withdraw", "unbond", "withdraw-stake", "run")),
        (("job", "submit", "--help"), ("--kind", "--model", "--input", "--policy", "--price", "--wait", "--json")),
        (("provider", "run", "--help"), ("--concurrency", "--serve", "--from-block", "--poll")),
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: tuple[str, ...]) -> None:
    code, out, _ = agora(capsys, *args)
    assert code == 0
    for w in words:
        assert w in out


def test_no_subcommand_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = agora(capsys, "job")
    assert "submit" in out + err and "Traceback" not in err
    assert "unexpected" not in err


def test_a_missing_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "--kind", "onnx-classify")
    assert "unexpected" not in err and "Traceback" not in err
    assert code == 2 and "Missing" in err


# -- one-line errors on the embedded chain ---------------------------------------------------------------
def test_bad_policy(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                         "-i", files["a.npy"], "--policy", "audit:2")
    assert code == 1 and one_line_error(err) == "error: audit probability 2.0 is not between 0 and 1"
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                         "-i", files["a.npy"], "--policy", "majority")
    line = one_line_error(err)
    assert code == 1 and "unknown policy 'majority'" in line and "replicate:<k>" in line


def test_workload_kind_by_id(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "-k", "1", "-m", files["model.onnx"], "-i", files["a.npy"])
    # the kind is understood: the job gets as far as the chain, which has no provider for it
    assert code == 1 and "no eligible provider" in one_line_error(err)


def test_unknown_workload_kind(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "-k", "teleport", "-m", files["model.onnx"], "-i", files["a.npy"])
    line = one_line_error(err)
    assert code == 1 and "unknown workload kind 'teleport'" in line and "onnx-classify (1)" in line


@pytest.mark.parametrize("which", ["model", "input"])
def test_missing_files(capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path,
                       which: str) -> None:
    missing = str(tmp_path / "nope.bin")
    model, data = (missing, files["a.npy"]) if which == "model" else (files["model.onnx"], missing)
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", model, "-i", data)
    assert code == 1 and one_line_error(err) == f"error: {missing} is neither a CID nor a file"


def test_an_input_cid_nobody_holds(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    cid = cid_for(b"held by nobody")
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"], "-i", cid)
    line = one_line_error(err)
    assert code == 1 and f"blob {cid} was found neither locally nor at any peer" in line


def test_no_provider_to_assign(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                         "-i", files["a.npy"], "--policy", "none")
    assert code == 1
    assert one_line_error(err) == "error: transaction reverted: ComputeMarket: no eligible provider"
    assert err.startswith("note: on the embedded chain nothing outlives this command")


def test_bad_price(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                         "-i", files["a.npy"], "--price", "lots")
    assert code == 1 and "'lots' is not an amount" in one_line_error(err)


@pytest.mark.parametrize("cmd", ["status", "result"])
def test_no_such_job(capsys: pytest.CaptureFixture[str], cmd: str) -> None:
    code, _, err = agora(capsys, "job", cmd, "5")
    line = one_line_error(err)
    assert code == 1 and line.startswith("error: there is no job 5 on chain ")


def test_job_list_on_an_empty_market(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "job", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = agora(capsys, "job", "list")
    assert code == 0 and "jobs" in out


def test_provider_status_of_a_non_provider(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "provider", "status")
    line = one_line_error(err)
    assert code == 1
    assert line == ("error: 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 is not a registered provider; "
                    "register with `agora provider register`")
    code, _, err = agora(capsys, "provider", "status", ACCOUNT_1)
    assert code == 1 and f"{ACCOUNT_1} is not a registered provider" in one_line_error(err)


def test_provider_status_of_a_malformed_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "provider", "status", "0x12")
    assert code == 1 and "'0x12' is not an address" in one_line_error(err)


def test_provider_run_refuses_the_embedded_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "provider", "run")
    assert code == 1
    assert one_line_error(err) == ("error: the provider daemon needs a chain that outlives it; "
                                   "start one with `agora devnet up` and pass --chain devnet")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("provider", "register", "--stake", "1"), "ProviderRegistry: stake below minimum"),
        (("provider", "unbond", "1"), "ProviderRegistry: not a provider"),
        (("provider", "withdraw-stake"), "ProviderRegistry: nothing unbonding"),
    ],
)
def test_provider_reverts_are_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                       reason: str) -> None:
    code, _, err = agora(capsys, *args)
    assert code == 1 and one_line_error(err) == f"error: transaction reverted: {reason}"


def test_provider_register_with_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "provider", "register", "--kinds", "onnx-classify,teleport")
    assert code == 1 and "unknown workload kind 'teleport'" in one_line_error(err)


def test_provider_register_and_withdraw_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "--account", "2", "provider", "register", "--kinds", "1,train-digits",
                         "--stake", "150", "--price", "0.002", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["stake_wei"] == 150 * E18 and doc["price_per_unit_wei"] == 2 * 10**15
    assert doc["kinds"] == ["onnx-classify", "train-digits"] and doc["active"] is True
    assert doc["reputation"] == "50.00%" and doc["tx"].startswith("0x")
    code, out, _ = agora(capsys, "provider", "withdraw", "--json")
    assert code == 0 and json.loads(out) == {"withdrawn_wei": 0}
    code, out, _ = agora(capsys, "provider", "withdraw")
    assert code == 0 and "nothing is owed to you" in out


# -- a stateful happy path on anvil -----------------------------------------------------------------------
@pytest.mark.anvil
def test_register_submit_follow_and_get_paid_on_anvil(
    capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess, agora_home: Path, files: dict[str, str]
) -> None:
    url = fresh_anvil.url
    chain = connect(url)
    dep = deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json"))

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", url, *args)

    # a provider registers; its status shows its stake and reputation
    code, out, _ = cli("--account", "1", "provider", "register", "--kinds", "onnx-classify", "--json")
    assert code == 0 and json.loads(out)["address"] == ACCOUNT_1
    code, out, _ = cli("--account", "1", "provider", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["stake_wei"] == 1_000 * E18 and status["reputation"] == "50.00%"
    assert status["owed_wei"] == 0 and status["kinds"] == ["onnx-classify"] and "daemon" not in status
    code, out, _ = cli("provider", "status", ACCOUNT_1.lower(), "--json")  # anyone may look
    assert code == 0 and json.loads(out)["address"] == ACCOUNT_1

    # a requester posts a job and a batch; with no daemon running they sit assigned
    code, out, _ = cli("--account", "5", "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                       "-i", files["a.npy"], "--policy", "none", "--json")
    assert code == 0
    job = json.loads(out)
    assert job["id"] == 1 and job["state"] == "assigned" and job["policy"] == "none"
    assert job["requester"] == ACCOUNT_5 and job["providers"] == [ACCOUNT_1]
    assert job["pay_wei"] == 2 * 10**15 and job["escrow_wei"] == 2 * 10**15 and job["result_digest"] is None
    assert job["post_tx"].startswith("0x")
    code, out, _ = cli("--account", "5", "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                       "-i", files["a.npy"], "-i", files["b.npy"], "--price", "0.002", "--policy", "none", "--json")
    batch = json.loads(out)
    assert code == 0 and batch["id"] == 2 and batch["policy"] == "none"
    assert batch["pay_wei"] == 5 * 2 * 10**15 == batch["escrow_wei"]
    code, out, _ = cli("--account", "6", "job", "submit", "-k", "onnx-classify", "-m", files["model.onnx"],
                       "-i", files["b.npy"], "--json")
    audited = json.loads(out)
    assert code == 0 and audited["policy"] == "audit:0.1" and audited["escrow_wei"] == 3 * audited["pay_wei"]

    code, out, _ = cli("job", "status", "1", "--json")
    st = json.loads(out)
    assert code == 0 and st["state"] == "assigned" and st["providers"] == [ACCOUNT_1] and st["reveals"] == []
    code, out, _ = cli("job", "status", "2")
    assert code == 0 and "job 2" in out and "assigned" in out

    code, out, _ = cli("job", "list", "--json")
    assert code == 0 and [(j["id"], j["state"]) for j in json.loads(out)] == [(3, "assigned"), (2, "assigned"),
                                                                               (1, "assigned")]
    code, out, _ = cli("--account", "5", "job", "list", "--mine", "--limit", "1", "--json")
    assert code == 0 and [j["id"] for j in json.loads(out)] == [2]
    code, out, _ = cli("--account", "7", "job", "list", "--mine", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli("job", "list")
    assert code == 0 and "assigned" in out and "none" in out

    code, _, err = cli("job", "result", "1")
    assert code == 1 and one_line_error(err) == "error: job 1 is not finished (assigned); wait for it first"

    # the provider's daemon (in process, on the CLI's blob folder and state file) sees its assignments
    market = Market(dep)
    daemon_db = daemon_db_path(compute_dir(url), ACCOUNT_1)
    daemon = ProviderDaemon(market, chain.dev_signers[1], Storage(LocalStore(agora_home / "blobs")), daemon_db)
    assert daemon.sync() == 3
    code, out, _ = cli("--account", "1", "provider", "status", "--json")
    assert json.loads(out)["daemon"] == {"assigned": 3}

    # it runs the two unaudited jobs to settlement (job 3 may be drawn for an audit nobody can do)
    for _ in range(40):
        daemon.step()
        if all(market.job(i).closed for i in (1, 2)):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("jobs 1 and 2 did not settle")
    daemon.close()

    code, out, _ = cli("job", "status", "1", "--json")
    st = json.loads(out)
    assert st["state"] == "settled" and st["result_digest"].startswith("0x")
    assert [r["provider"] for r in st["reveals"]] == [ACCOUNT_1] and st["reveals"][0]["digest"] == st["result_digest"]
    code, out, err = cli("job", "result", "1", "--json", "-o", str(agora_home / "out.bin"))
    res = json.loads(out)  # the note about the file goes to stderr
    assert "wrote" in err and "out.bin" in err
    assert code == 0 and res["id"] == 1 and res["verified"] is True and len(res["items"]) == 1
    item = res["items"][0]
    assert item["kind"] == "onnx-classify" and item["tensors"]["label"]["shape"] == [2]
    assert (agora_home / "out.bin").read_bytes().startswith(b"agora-result/1 onnx-classify")
    code, out, _ = cli("job", "result", "2")
    assert code == 0 and "job 2: result verified against the on-chain digest (2 item(s))" in out

    # paid: every settled job's pay less the 2.5% fee (job 3 too, if it was not drawn for audit)
    settled = [market.job(i) for i in (1, 2, 3) if market.job(i).state == JobState.SETTLED]
    assert {j.id for j in settled} >= {1, 2}
    net = sum(j.pay - j.pay * 250 // 10_000 for j in settled)
    code, out, _ = cli("--account", "1", "provider", "status", "--json")
    status = json.loads(out)
    assert status["owed_wei"] == net and status["daemon"].get("closed", 0) >= 2
    code, out, _ = cli("--account", "1", "provider", "withdraw", "--json")
    assert code == 0 and json.loads(out) == {"withdrawn_wei": net}
    code, out, _ = cli("--account", "1", "provider", "withdraw")
    assert code == 0 and "nothing is owed to you" in out

    # the provider unbonds part of its stake; it cannot take it back before the delay
    code, out, _ = cli("--account", "1", "provider", "unbond", "100", "--json")
    unbond = json.loads(out)
    assert code == 0 and unbond["unbonding_wei"] == 100 * E18 and unbond["unlock_at"] > 0
    code, _, err = cli("--account", "1", "provider", "withdraw-stake")
    assert code == 1 and one_line_error(err) == "error: transaction reverted: ProviderRegistry: still unbonding"
    code, out, _ = cli("--account", "1", "provider", "status", "--json")
    assert json.loads(out)["stake_wei"] == 900 * E18 and json.loads(out)["unbonding_wei"] == 100 * E18
    chain.advance_time(7 * 86_400 + 1)
    code, out, _ = cli("--account", "1", "provider", "withdraw-stake", "--json")
    assert code == 0 and json.loads(out)["withdrawn_wei"] == 100 * E18


@pytest.mark.anvil
def test_provider_run_needs_a_registered_provider(
    capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess, agora_home: Path
) -> None:
    deploy_devnet(connect(fresh_anvil.url), book=AddressBook(agora_home / "addressbook.json"))
    code, _, err = agora(capsys, "--chain", fresh_anvil.url, "--account", "4", "provider", "run")
    line = one_line_error(err)
    assert code == 1 and "is not a registered provider" in line and "agora provider register" in line


@pytest.mark.anvil
def test_submit_and_wait_while_a_daemon_runs(
    capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess, agora_home: Path, files: dict[str, str]
) -> None:
    url = fresh_anvil.url
    chain = connect(url)
    dep = deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json"))
    market = Market(dep)
    market.register(chain.dev_signers[2], kinds=[1], price=10**15, stake=1_000 * E18)
    daemon = ProviderDaemon(market, chain.dev_signers[2], Storage(LocalStore(agora_home / "blobs")),
                            daemon_db_path(compute_dir(url), chain.dev_signers[2].address), poll_interval=0.05)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        code, out, _ = agora(capsys, "--chain", url, "--account", "5", "job", "submit", "-k", "onnx-classify",
                             "-m", files["model.onnx"], "-i", files["a.npy"], "--policy", "none", "--wait",
                             "--json")
        assert code == 0
        job = json.loads(out)
        assert job["state"] == "settled" and job["result_digest"].startswith("0x") and job["escrow_wei"] == 0
        code, out, _ = agora(capsys, "--chain", url, "job", "status", str(job["id"]), "--wait", "--json")
        assert code == 0 and json.loads(out)["state"] == "settled"
        code, out, _ = agora(capsys, "--chain", url, "job", "result", str(job["id"]))
        assert code == 0 and "result verified against the on-chain digest (1 item(s))" in out
        # not on a terminal (a log, a pipe): each state the job passes is a line on stderr
        code, out, err = agora(capsys, "--chain", url, "--account", "5", "job", "submit", "-k", "onnx-classify",
                               "-m", files["model.onnx"], "-i", files["a.npy"], "--policy", "none", "--wait")
        second = job["id"] + 1
        assert code == 0 and f"job {second}: waiting" in err and f"job {second}: settled" in err, err
    finally:
        daemon.stop()
        thread.join(30)
    assert not thread.is_alive(), "the daemon finishes its round and exits when stopped"


# -- `agora provider run` as a real process ------------------------------------------------------------
@pytest.fixture
def provider_env(fresh_anvil: AnvilProcess, agora_home: Path) -> dict[str, str]:
    """A protocol on a fresh anvil with account 1 registered; the env of its `agora provider run`."""
    chain = connect(fresh_anvil.url)
    market = Market(deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json")))
    market.register(chain.dev_signers[1], kinds=[1], price=10**15, stake=1_000 * E18)
    return {**os.environ, "AGORA_HOME": str(agora_home), "AGORA_CHAIN": fresh_anvil.url, "AGORA_ACCOUNT": "1"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.anvil
def test_provider_run_on_a_taken_port_exits_with_one_line(provider_env: dict[str, str], taken_port: int,
                                                         agora_home: Path) -> None:
    proc = subprocess.run([AGORA, "provider", "run", "--serve", f"127.0.0.1:{taken_port}"], env=provider_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    assert "serving" not in proc.stderr + proc.stdout
    db = daemon_db_path(compute_dir(provider_env["AGORA_CHAIN"]), ACCOUNT_1)
    lock_state(db, "the daemon let its lock go").release()


@pytest.mark.anvil
def test_a_second_provider_run_for_the_same_account_is_refused(provider_env: dict[str, str], agora_home: Path,
                                                               tmp_path: Path) -> None:
    log = tmp_path / "first.log"
    with open(log, "wb") as sink:
        first = subprocess.Popen([AGORA, "provider", "run", "--poll", "0.05"], env=provider_env, stdout=sink,
                                 stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while '"event":"started"' not in log.read_text():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the first daemon did not start"
            time.sleep(0.1)
        db = daemon_db_path(compute_dir(provider_env["AGORA_CHAIN"]), ACCOUNT_1)
        second = subprocess.run([AGORA, "provider", "run"], env=provider_env, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 1 and one_line_error(second.stderr) == (
            f"error: another provider daemon is already running for {ACCOUNT_1} (lock {db}.lock); stop it first")
        assert first.poll() is None, "the first daemon runs on"
        with pytest.raises(StateLocked):
            lock_state(db, "held by the first daemon")
        first.kill()  # a crash: the OS drops its lock
        first.wait(30)
        lock_state(db, "free once its holder died").release()
    finally:
        terminate(first, 30)
