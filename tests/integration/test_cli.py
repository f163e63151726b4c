"""The CLI: one-line errors that say what to do, --json output, the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from agora.devnet.anvil import AnvilProcess
from tests.integration.cli_helpers import agora, one_line_error


def test_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "--help")
    assert code == 0
    for cmd in ("demo", "deploy", "faucet", "devnet", "token", "storage", "account"):
        assert cmd in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "--version")
    assert code == 0 and out.startswith("agora ")


def test_demo_json_summary_reconciles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "demo", "--json")
    assert code == 0
    s = json.loads(out)
    t = s["token"]
    assert t["reconciled"] is True
    assert sum(t["balances_wei"].values()) == t["supply_wei"]
    assert t["overspend_refused_with"] == "erc20: transfer amount exceeds balance"
    assert s["storage"]["verified"] is True and s["storage"]["cid"].startswith("bafkrei")
    # the value chapter's model is trained on the data chapter's dataset, and its lineage names the owner
    data_owner = next(r["address"] for r in s["data"]["split"] if r["recipient"] == "owner")
    assert s["value"]["datasets"] == [{"id": s["data"]["dataset_id"], "owner": data_owner}]
    # the subnet chapter: the cheater's emission fell to next to nothing and a newcomer replaced it
    sub = s["subnet"]
    assert sub["reconciled"] is True and sub["claimed_wei"] == sub["emitted_wei"] == 4 * sub["emission_per_epoch_wei"]
    assert sub["epochs"][-1]["amounts_wei"][sub["cheater_uid"]] < sub["emission_per_epoch_wei"] // 1_000


def test_demo_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = agora(capsys, "demo")
    assert code == 0
    assert "protocol deployed" in out and "reconciled" in out and "bafkrei" in out
    assert "an inference subnet" in out and "miner (cheats from epoch 2)" in out


# -- the error messages of the issue ----------------------------------------------------
def test_wrong_rpc_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "--chain", "htp:/nowhere", "chain", "info")
    line = one_line_error(err)
    assert code == 1 and "invalid chain URI" in line and "http(s)://" in line


def test_node_down(capsys: pytest.CaptureFixture[str]) -> None:
    from agora.devnet.anvil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = agora(capsys, "--chain", url, "chain", "info")
    line = one_line_error(err)
    assert code == 1
    assert f"cannot reach the node at {url} (connection refused)" in line
    assert "agora devnet up" in line


def test_wrong_chain_id(capsys: pytest.CaptureFixture[str], anvil: AnvilProcess) -> None:
    code, _, err = agora(capsys, "--chain", anvil.url, "--chain-id", "1", "chain", "info")
    line = one_line_error(err)
    assert code == 1 and "is chain 31337, not the expected 1" in line


def test_unfunded_account(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    acct = Account.create()
    monkeypatch.setenv("AGORA_PRIVATE_KEY", acct.key.hex())
    code, _, err = agora(capsys, "token", "transfer", acct.address, "1")
    line = one_line_error(err)
    assert code == 1
    assert f"account {acct.address} cannot pay for gas" in line and "agora faucet" in line
    assert acct.key.hex() not in err


def test_revert_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "--account", "3", "token", "transfer",
                         "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "1000001")
    line = one_line_error(err)
    assert code == 1 and line == "error: transaction reverted: erc20: transfer amount exceeds balance"


def test_bad_amount_and_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "token", "transfer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "lots")
    assert code == 1 and "is not an amount" in one_line_error(err)
    code, _, err = agora(capsys, "token", "balance", "0x12")
    assert code == 1 and "'0x12' is not an address" in one_line_error(err)


def test_faucet_refused_off_devnet_is_clear(capsys: pytest.CaptureFixture[str]) -> None:
    # the embedded chain is a devnet: the faucet works there
    code, out, _ = agora(capsys, "faucet", "0x000000000000000000000000000000000000dEaD", "--json")
    assert code == 0 and json.loads(out)["token_balance_wei"] == 1000 * 10**18


def test_missing_keystore_and_wrong_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = agora(capsys, "--keystore", str(tmp_path / "nope.json"), "chain", "info")
    monkeypatch.setenv("AGORA_PASSWORD", "pw")  # no prompt in tests
    code, _, err = agora(capsys, "--keystore", str(tmp_path / "nope.json"), "chain", "info")
    assert code == 1 and "does not exist" in one_line_error(err)
    ks = tmp_path / "k.json"
    code, out, _ = agora(capsys, "account", "new", str(ks), "--json")
    assert code == 0 and json.loads(out)["keystore"] == str(ks)
    monkeypatch.setenv("AGORA_PASSWORD", "wrong")
    code, _, err = agora(capsys, "--keystore", str(ks), "chain", "info")
    assert code == 1 and "wrong password" in one_line_error(err)


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "--debug", "--chain", "htp:/x", "chain", "info")
    assert code == 1 and "Traceback" in err


def test_storage_put_get_roundtrip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "in.bin"
    f.write_bytes(b"hello agora")
    code, out, _ = agora(capsys, "storage", "put", str(f), "--json")
    cid = json.loads(out)["cid"]
    dest = tmp_path / "out.bin"
    code, _, _ = agora(capsys, "storage", "get", cid, "-o", str(dest))
    assert code == 0 and dest.read_bytes() == b"hello agora"
    code, _, err = agora(capsys, "storage", "get", "bafkreinotacid")
    assert code == 1 and "is not a CIDv1" in one_line_error(err)


def test_contracts_build_and_config_show(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = agora(capsys, "contracts", "build", "--evm-version", "shanghai", "--json")
    assert code == 0 and json.loads(out)["AgoraToken"]["runtime_bytes"] > 1000
    assert json.loads(out)["AgoraToken"]["over_size_limit"] is False   # what is too big is said, not fatal
    monkeypatch.setenv("AGORA_PASSWORD", "s3cret-value")
    code, out, _ = agora(capsys, "config", "show", "--json")
    assert code == 0 and json.loads(out)["password"] == "(set)" and "s3cret-value" not in out


def test_console_script_runs_in_a_real_process() -> None:
    exe = Path(sys.executable).with_name("agora")
    proc = subprocess.run([str(exe), "--chain", "bogus", "chain", "info"], capture_output=True,
                          text=True, env={**os.environ}, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: invalid chain URI")


# -- deploy over a recorded deployment ----------------------------------------------------
@pytest.mark.anvil
def test_deploy_again_is_refused_without_force(capsys: pytest.CaptureFixture[str], agora_home: Path,
                                               fresh_anvil: AnvilProcess) -> None:
    book = agora_home / "addressbook.json"
    code, out, _ = agora(capsys, "--chain", fresh_anvil.url, "deploy", "--json")
    assert code == 0
    first = json.loads(out)["contracts"]
    assert json.loads(book.read_text())["31337"]["contracts"]["token"]["address"] == first["token"]

    code, out, err = agora(capsys, "--chain", fresh_anvil.url, "deploy")
    line = one_line_error(err)
    assert code == 1 and out == ""
    assert line == (
        f"error: the protocol is already deployed on chain 31337 ({len(first)} contracts recorded in "
        f"{book}); deploying again would replace them while running daemons keep the old ones; "
        "pass --force to replace them"
    )
    assert json.loads(book.read_text())["31337"]["contracts"]["token"]["address"] == first["token"]

    code, out, err = agora(capsys, "--chain", fresh_anvil.url, "deploy", "--force", "--json")
    assert code == 0
    second = json.loads(out)["contracts"]
    assert set(second) == set(first) and second["token"] != first["token"]
    assert json.loads(book.read_text())["31337"]["contracts"]["token"]["address"] == second["token"]
    assert "\nnote: replaced the deployment recorded for chain 31337 in " in "\n" + err  # after the progress
    # off a terminal, each step is a line of its own (a log shows where a cold compile is)
    assert err.startswith("deploying the protocol\ncompiling AgoraToken (1/") and "\nwiring the contracts (" in err
    assert f"token {first['token']}" in err and "old contracts" in err


@pytest.mark.anvil
def test_deploy_adds_only_the_contracts_a_recorded_deployment_lacks(
    capsys: pytest.CaptureFixture[str], agora_home: Path, fresh_anvil: AnvilProcess
) -> None:
    # a deployment recorded before a layer was installed: its contracts are missing from the book
    book = agora_home / "addressbook.json"
    assert agora(capsys, "--chain", fresh_anvil.url, "deploy")[0] == 0
    doc = json.loads(book.read_text())
    kept = dict(doc["31337"]["contracts"])
    for role in ("models", "channels"):
        del doc["31337"]["contracts"][role]
    book.write_text(json.dumps(doc))

    code, out, err = agora(capsys, "--chain", fresh_anvil.url, "deploy", "--json")
    assert code == 0, err
    now = json.loads(out)["contracts"]
    assert set(now) == set(kept)
    assert all(now[r] == kept[r]["address"] for r in kept if r not in ("models", "channels"))
    assert now["models"] != kept["models"]["address"] and now["channels"] != kept["channels"]["address"]
    assert json.loads(book.read_text())["31337"]["contracts"]["channels"]["address"] == now["channels"]
    # complete again: a further deploy is refused without --force
    assert agora(capsys, "--chain", fresh_anvil.url, "deploy")[0] == 1


def test_deploy_on_the_embedded_chain_needs_no_force(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):  # each process deploys on a fresh chain: nothing is recorded, nothing refused
        code, out, _ = agora(capsys, "deploy", "--json")
        assert code == 0 and json.loads(out)["address_book"] is None


@pytest.mark.anvil
def test_deploy_over_a_stale_record_needs_no_force(capsys: pytest.CaptureFixture[str], anvil: AnvilProcess,
                                                   fresh_anvil: AnvilProcess) -> None:
    # two anvils share chain id 31337 but not their genesis: the record of one is stale on the other
    assert agora(capsys, "--chain", fresh_anvil.url, "deploy")[0] == 0
    code, out, err = agora(capsys, "--chain", anvil.url, "deploy", "--json")
    assert code == 0 and "replaced" not in err
