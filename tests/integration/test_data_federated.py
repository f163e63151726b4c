"""Federated learning across data holders (Flower + SecAgg+), driven from the project's environment.

The Flower runs need Flower's own environment (``.venv-flower``, made by ``make setup``); they
are skipped, saying so, only where it is missing. They run on one xdist worker (ray and the
deployment engine's processes would fight over the two cores otherwise).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agora.data.federated import (
    FederatedError,
    FLRound,
    FLRunResult,
    Holder,
    flower_available,
    parse_rounds,
    run_deployment,
    run_simulation,
    train_central,
)
from agora.workloads.sandbox import sandbox_available

#: Held-out accuracy the federated runs must reach (digits, 2 rounds x 5 local epochs; ~0.93 seen).
ACCURACY_FLOOR = 0.85
#: fl accuracy / centralised accuracy (same model, same epochs on the pooled data).
RATIO_FLOOR = 0.95
#: The recommended record-level DP setting (docs/federated.md): DP-GD, 10 full-batch steps a
#: round, each example's gradient clipped to 1, noise 8x the clip; ε ≈ 3.5 per holder after 3 rounds.
RECORD_DP = {"dp-record-clip": 1.0, "dp-record-noise": 8.0, "lr": 5.0, "local-epochs": 10}


_NO_FLOWER = "Flower's environment .venv-flower is missing (run `make setup`)"


def needs_flower(test: Callable[..., None]) -> Callable[..., None]:
    """Slow, on the "flower" xdist worker, skipped (saying why) without ``.venv-flower``."""
    for mark in (
        pytest.mark.slow,
        pytest.mark.xdist_group("flower"),
        pytest.mark.skipif(not flower_available(), reason=_NO_FLOWER),
    ):
        test = mark(test)
    return test


def _weights_hash(path: Path) -> str:
    with np.load(path) as f:
        arrays = [f["W"], f["b"]]
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


# -- without Flower -----------------------------------------------------------------------------


def test_parse_rounds() -> None:
    line = {
        "round": 2,
        "participants": [7, 9],
        "holders": ["a", "b"],
        "num_examples": [10, 12],
        "dropped": [3],
        "accuracy": 0.9,
        "loss": 0.3,
        "aggregate_hash": "ab" * 32,
        "epsilon": None,
    }
    (r,) = parse_rounds(["", json.dumps(line), "  "])
    assert r == FLRound(2, (7, 9), 0.9, "ab" * 32, ("a", "b"), (10, 12), (3,), 0.3, None)


def test_parse_rounds_record_epsilon() -> None:
    line = {
        "round": 1,
        "participants": [1, 2, 3],
        "accuracy": 0.9,
        "aggregate_hash": "cd" * 32,
        "epsilon": None,
        "epsilon_record": 1.25,
        "delta": 1e-5,
    }
    (r,) = parse_rounds([json.dumps(line)])
    assert r.epsilon is None and r.epsilon_record == 1.25
    (old,) = parse_rounds([json.dumps({k: v for k, v in line.items() if k != "epsilon_record"})])
    assert old.epsilon_record is None  # logs written before record-level DP still parse


def _flower_task() -> Any:
    """The Flower app's ``task`` module (plain numpy; loaded by path, no Flower needed)."""
    path = Path(__file__).resolve().parents[2] / "flower" / "agora_fl" / "agora_fl" / "task.py"
    spec = importlib.util.spec_from_file_location("agora_fl_task", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_per_example_gradients_are_clipped() -> None:
    task = _flower_task()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 64))
    y = rng.integers(0, 10, 40)
    weights = [rng.normal(0, 0.3, (64, 10)), rng.normal(0, 0.3, 10)]
    clip = 0.7
    # reference: each record's gradient built in full, clipped one by one
    ref_w, ref_b = np.zeros((64, 10)), np.zeros(10)
    for xi, yi in zip(x, y, strict=True):
        z = xi @ weights[0] + weights[1]
        p = np.exp(z - z.max())
        p /= p.sum()
        g = p - np.eye(10)[yi]
        gw, gb = np.outer(xi, g), g
        norm = np.sqrt((gw**2).sum() + (gb**2).sum())
        assert norm > clip  # every record is clipped in this check
        ref_w += gw * clip / norm
        ref_b += gb * clip / norm
    sum_w, sum_b = task.clipped_gradient_sum(weights, x, y, clip)
    np.testing.assert_allclose(sum_w, ref_w, atol=1e-12)
    np.testing.assert_allclose(sum_b, ref_b, atol=1e-12)
    # removing one record moves the sum by at most the clip (the Gaussian mechanism's sensitivity)
    less_w, less_b = task.clipped_gradient_sum(weights, x[1:], y[1:], clip)
    moved = np.sqrt(((sum_w - less_w) ** 2).sum() + ((sum_b - less_b) ** 2).sum())
    assert moved == pytest.approx(clip)
    # a large clip leaves the gradients alone
    big_w, _ = task.clipped_gradient_sum(weights, x, y, 1e6)
    z = x @ weights[0] + weights[1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(big_w, x.T @ (p - np.eye(10)[y]), atol=1e-12)


def test_missing_flower_env_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(FederatedError) as exc:
        run_simulation(flower_venv=tmp_path / "nowhere")
    assert "run `make setup`" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_secaggplus_needs_three_holders() -> None:
    if not flower_available():
        pytest.skip(_NO_FLOWER)
    with pytest.raises(FederatedError, match="at least 3 holders"):
        run_simulation(2)


def test_central_baseline() -> None:
    assert train_central(epochs=10) >= 0.9


# -- the simulation engine ----------------------------------------------------------------------


@needs_flower
def test_simulation_secaggplus_reaches_accuracy(tmp_path: Path) -> None:
    seen: list[FLRound] = []
    result = run_simulation(3, rounds=2, on_round=seen.append, workdir=tmp_path)
    assert [r.round for r in result.rounds] == [1, 2]
    assert list(result.rounds) == seen  # the callback saw each round as it was logged
    for r in result.rounds:
        assert len(set(r.participants)) == 3
        assert sorted(r.holders) == ["partition-0", "partition-1", "partition-2"]
        assert r.dropped == ()
        assert len(r.aggregate_hash) == 64
        assert r.epsilon is None
    assert result.rounds[0].participants == result.rounds[1].participants
    assert result.rounds[0].aggregate_hash != result.rounds[1].aggregate_hash
    assert result.final_accuracy >= ACCURACY_FLOOR
    assert result.final_accuracy / train_central(epochs=2 * 5) >= RATIO_FLOOR
    # the last round's hash is the hash of the model the consumer gets
    assert result.model_path is not None
    assert _weights_hash(result.model_path) == result.rounds[-1].aggregate_hash


@needs_flower
def test_simulation_holder_drops_out_mid_round() -> None:
    # partition 2 fails its training in round 2, after the SecAgg+ key exchange: its masks are
    # rebuilt from the others' shares and the round goes on with the two left
    result = run_simulation(3, rounds=2, config={"drop-partition": 2, "drop-round": 2})
    first, second = result.rounds
    assert len(first.participants) == 3 and first.dropped == ()
    assert len(second.participants) == 2
    assert "partition-2" not in second.holders
    assert len(second.dropped) == 1
    assert set(second.participants) | set(second.dropped) == set(first.participants)
    assert result.final_accuracy >= ACCURACY_FLOOR


@needs_flower
def test_simulation_with_dp_accounts_epsilon_per_round() -> None:
    # clip 5, sigma/clip 0.01: weak privacy (a large epsilon), but it shows the accounting
    result = run_simulation(3, rounds=2, config={"dp-clip": 5.0, "dp-noise-multiplier": 0.01, "dp-delta": 1e-5})
    eps = [r.epsilon for r in result.rounds]
    assert all(e is not None and e > 0 for e in eps)
    assert eps[0] is not None and eps[1] is not None and eps[1] > eps[0]
    rho = 2 / (2 * 0.01**2)  # zCDP after two rounds
    assert eps[1] == pytest.approx(rho + 2 * np.sqrt(rho * np.log(1 / 1e-5)))
    assert all(r.epsilon_record is None for r in result.rounds)


@needs_flower
def test_simulation_with_record_level_dp_reaches_accuracy() -> None:
    # DP gradient descent inside each holder: per-example gradients clipped, Gaussian noise on
    # their sum, full-batch steps; ε per holder for one record, composed over every step so far
    result = run_simulation(3, rounds=3, config=RECORD_DP)
    assert result.final_accuracy >= ACCURACY_FLOOR
    eps = [r.epsilon_record for r in result.rounds]
    assert all(r.epsilon is None for r in result.rounds)  # no update-level DP in this run
    for rnd, e in enumerate(eps, start=1):
        steps = rnd * int(RECORD_DP["local-epochs"])  # full-batch steps so far
        rho = steps / (2 * float(RECORD_DP["dp-record-noise"]) ** 2)  # zCDP of `steps` Gaussian mechanisms
        assert e == pytest.approx(rho + 2 * np.sqrt(rho * np.log(1 / 1e-5)))
    assert eps[0] is not None and eps[1] is not None and eps[2] is not None
    assert eps[0] < eps[1] < eps[2] <= 6.0


@needs_flower
def test_unknown_run_config_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FederatedError, match="unknown run config keys") as exc:
        run_simulation(3, rounds=1, config={"no-such-key": 1}, workdir=tmp_path)
    assert f"logs in {tmp_path}" in str(exc.value)
    assert "no-such-key" in (tmp_path / "simulation.log").read_text()


# -- the deployment engine: SuperLink + 3 SuperNodes as real processes on loopback --------------


def _holders_alice_has_a_file(tmp_path: Path) -> tuple[list[Holder], int]:
    """Three holders; "alice" trains on her own file: every third example of the training split
    (the server's held-out 25 % is the app's seeded stratified split, left out here too)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x_tr, _, y_tr, _ = train_test_split(
        data.data / 16.0, data.target, test_size=0.25, stratify=data.target, random_state=0
    )
    own = tmp_path / "alice.npz"
    np.savez(own, X=x_tr[::3], y=y_tr[::3])
    return [Holder("alice", own), Holder("bob"), Holder("carol")], len(y_tr[::3])


def _check_deployment(result: FLRunResult, seen: list[int], alice_examples: int) -> None:
    assert seen == [1, 2]
    for r in result.rounds:
        assert sorted(r.holders) == ["alice", "bob", "carol"]
        assert len(set(r.participants)) == 3
    alice = result.rounds[0].holders.index("alice")
    assert result.rounds[0].num_examples[alice] == alice_examples
    assert result.final_accuracy >= ACCURACY_FLOOR
    assert result.model_path is not None
    assert _weights_hash(result.model_path) == result.rounds[-1].aggregate_hash


@needs_flower
def test_deployment_three_supernodes_secaggplus(tmp_path: Path) -> None:
    holders, alice_examples = _holders_alice_has_a_file(tmp_path)
    seen: list[int] = []
    result = run_deployment(holders, rounds=2, on_round=lambda r: seen.append(r.round), workdir=tmp_path / "run")
    _check_deployment(result, seen, alice_examples)


@needs_flower
@pytest.mark.skipif(not sandbox_available()[0], reason=f"no sandbox here: {sandbox_available()[1]}")
def test_deployment_supernodes_in_the_sandbox(tmp_path: Path) -> None:
    holders, alice_examples = _holders_alice_has_a_file(tmp_path)
    seen: list[int] = []
    work = tmp_path / "run"
    gate = tmp_path / "gate"      # each holder's round gate, read in its sandbox (bound read-only)
    gate.mkdir()

    def recorded(r: FLRound | None) -> None:   # what a chain watcher writes once round r is recorded with everyone
        if r is not None:
            seen.append(r.round)
        for name in ("alice", "bob", "carol"):
            (gate / f"{name}.json").write_text(json.dumps({"run": 1, "paid": seen, "epsilon_left": None}))

    recorded(None)

    result = run_deployment(holders, rounds=2, on_round=recorded, workdir=work, sandbox=True,
                            config={"round-gate-dir": str(gate), "round-gate-timeout": 60.0})
    # alice's file was read at /data/alice.npz, in her sandbox; every holder saw round 1 recorded
    # in its gate before it trained round 2 (unreadable, all three would have refused round 2)
    _check_deployment(result, seen, alice_examples)
    # each SuperNode installed the app in its own sandbox's scratch folder (FLWR_HOME), not the host's
    logs = [(work / f"supernode-{i}.log").read_text(errors="replace") for i in range(3)]
    assert all("/scratch/flwr-home" in log for log in logs), logs[0][-2000:]
