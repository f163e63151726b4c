"""``agora tournament …`` with ``--json``: a round created with its targets, two models submitting and
revealing, the resolver resolving, the scores read, both claims paid to the wei; a failed round
refunded; bad inputs answered with one line.

On the embedded chain every CLI invocation would start a fresh chain, so the invocations of a test
share one embedded chain (with the token and the tournament only; see ``test_tournament_flow``), and
each account keeps its salts in a named ``--state`` file (by default they live in the value layer's
state folder, a fresh one per invocation on the embedded chain).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import agora.context as sdk_context
from agora.chain import connect
from agora.value.demo_tournament import build_story_data
from agora.value.tournaments import encode_vector
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.test_tournament_flow import ONE, deploy_tournament

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, agora_home: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    chain = connect("embedded://")
    dep = deploy_tournament(chain)
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)

    def run(*args: str, account: int = 1) -> tuple[int, str, str]:
        return agora(capsys, "--account", str(account), "tournament", *args)

    run.chain, run.dep, run.home = chain, dep, agora_home  # type: ignore[attr-defined]
    yield run
    chain.close()


def _json(result: tuple[int, str, str]) -> dict[str, Any]:
    code, out, err = result
    assert code == 0, err
    return dict(json.loads(out))


def _files(root: Path) -> dict[str, str]:
    targets, (good, noise, *_) = build_story_data()
    paths = {"targets": root / "targets.npy", "good": root / "good.npy", "noise": root / "noise.json"}
    paths["targets"].write_bytes(encode_vector(targets))
    paths["good"].write_bytes(encode_vector(good))
    paths["noise"].write_text(json.dumps(noise.tolist()))
    return {k: str(v) for k, v in paths.items()}


def test_a_round_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    files = _files(tmp_path)

    def state(account: int) -> str:
        return str(tmp_path / f"state-{account}.sqlite")

    for i in (1, 2, 3):  # the dev accounts hold ETH but no AGR
        cli.dep.token.mint(cli.chain.dev_signers[i].address, 1_000 * ONE, sender=cli.chain.dev_signers[0])
    created = _json(
        cli(
            "create", "--pool", "50", "--threshold", "300", "--targets", files["targets"], "--state", state(1), "--json"
        )
    )
    rid = str(created["round"])
    assert created["pool_wei"] == 50 * ONE and created["stake_threshold_wei"] == 300 * ONE
    assert created["targets_cid"].startswith("bafkrei")
    sub = _json(cli("submit", rid, files["good"], "--stake", "200", "--state", state(2), "--json", account=2))
    assert (sub["index"], sub["stake_wei"]) == (0, 200 * ONE)
    sub = _json(cli("submit", rid, files["noise"], "--stake", "100", "--state", state(3), "--json", account=3))
    assert sub["index"] == 1
    code, _, err = cli("reveal", rid, "--state", state(2), account=2)
    assert code == 1 and "reveals open at its close" in one_line_error(err)

    cli.chain.advance_time(3_600)
    for account in (2, 3):
        revealed = _json(cli("reveal", rid, "--state", state(account), "--json", account=account))
        assert revealed["predictions_cid"].startswith("bafkrei")
    cli.chain.advance_time(3_600)
    resolved = _json(cli("resolve", rid, "--state", state(1), "--json"))
    assert (
        resolved["leaves"] == 2
        and resolved["total_wei"] + resolved["burn_wei"] == 300 * ONE + resolved["pool_used_wei"]
    )
    scores = _json(cli("scores", rid, "--json"))
    good, noise = scores["models"]
    assert scores["root"] == resolved["root"] and good["corr"] > 0.05 and good["payout_wei"] > noise["payout_wei"]
    assert good["paid_wei"] is None  # nothing claimed yet
    code, out, _ = cli("scores", rid)
    assert code == 0 and "CORR" in out and "MMC" in out and "payout factor" in out

    code, _, err = cli("claim", rid, account=2)
    assert code == 1 and "has no final root yet" in one_line_error(err)
    cli.chain.advance_time(86_400)
    before = {a: int(cli.dep.token.balanceOf(cli.chain.dev_signers[a].address)) for a in (2, 3)}
    for account, row in ((2, good), (3, noise)):
        claimed = _json(cli("claim", rid, "--json", account=account))
        assert claimed["paid_wei"] == row["amount_wei"] and claimed["burned_wei"] == max(0, -row["payout_wei"])
        after = int(cli.dep.token.balanceOf(cli.chain.dev_signers[account].address))
        assert after - before[account] == row["amount_wei"]
    settled = _json(cli("scores", rid, "--json"))["models"]
    assert [m["paid_wei"] for m in settled] == [good["amount_wei"], noise["amount_wei"]]


def test_a_failed_round_is_refunded(cli: Any, tmp_path: Path) -> None:
    files = _files(tmp_path)
    for i in (1, 2):
        cli.dep.token.mint(cli.chain.dev_signers[i].address, 1_000 * ONE, sender=cli.chain.dev_signers[0])
    state1, state2 = str(tmp_path / "s1.sqlite"), str(tmp_path / "s2.sqlite")
    rid = str(
        _json(
            cli(
                "create",
                "--pool",
                "5",
                "--targets",
                files["targets"],
                "--settle-window",
                "60",
                "--state",
                state1,
                "--json",
            )
        )["round"]
    )
    _json(cli("submit", rid, files["good"], "--stake", "10", "--state", state2, "--json", account=2))
    cli.chain.advance_time(3_600)
    _json(cli("reveal", rid, "--state", state2, "--json", account=2))
    code, _, err = cli("refund", rid, account=2)
    assert code == 1 and "has not failed" in one_line_error(err)
    cli.chain.advance_time(3_600 + 60)  # the resolver never revealed the targets
    refunded = _json(cli("refund", rid, "--json", account=2))
    assert refunded["paid_wei"] == 10 * ONE and refunded["burned_wei"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("submit", "99", "PREDICTIONS", "--stake", "1"), "there is no round 99"),
        (("submit", "1", "NOT_A_VECTOR", "--stake", "1"), "predictions: not a .npy array or a JSON list of numbers"),
        (("submit", "1", "PREDICTIONS", "--stake", "lots"), "lots"),
        (("claim", "1", "--leaves", "nope"), "--leaves 'nope' is not a CID"),
        (("create", "--pool", "1", "--resolver", "0x123"), "'0x123' is not an address"),
    ],
)
def test_bad_inputs_get_one_line(cli: Any, tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(np.arange(10.0).tolist()))
    bad = tmp_path / "bad.txt"
    bad.write_text("these are not numbers")
    argv = [str(good) if a == "PREDICTIONS" else str(bad) if a == "NOT_A_VECTOR" else a for a in args]
    code, out, err = cli(*argv)
    assert code != 0 and out == ""
    assert words in one_line_error(err)
