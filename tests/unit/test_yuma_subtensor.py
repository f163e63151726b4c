"""Subtensor's own Yuma unit tests, replayed against :func:`agora.subnet.yuma.epoch`.

The cases live in ``yuma_subtensor_cases.json`` beside this file, transcribed from
``pallets/subtensor/src/tests/epoch.rs`` of opentensor/subtensor (snapshot ``14bc6f9f``):

* ``test_bonds`` — Yuma 2, β = 1, α = 0.1, 4 validators → 4 servers, 7 epochs of weight changes
  (self-weights, consensus collapsing to 0 and the stake fallback); the stored u16 bonds the Rust
  test asserts, here to ±2 u16 (the chain truncates in I32F32 where we compute in float64);
* ``test_10_graph`` — 10 self-weighting UIDs: consensus, incentive and dividends 0 and every UID
  99 999 999 rao of 1e9 (the stake fallback), here to ±1 rao;
* ``test_active_stake`` — inactive validators lose their stake's say (activity cutoff), bonds
  EMA over three epochs: dividends (u16) to ±1, emission to ±2 rao, stored bonds to ±2 u16;
* ``test_outdated_weights`` — a miner's UID replaced by a new registration (``replace_neuron``):
  dividends, emission and bonds as asserted there;
* ``test_512_graph`` — 512 UIDs, 64 equally staked validators (the top-64 permit cut falls
  exactly on the zero stakes) weighting the 448 servers equally, with and without server
  self-weights, three layouts of the validators: every UID's consensus, incentive, dividends (u16,
  ±1), emission (±2 rao) and the bonds to a validator and a server;
* ``test_yuma_3_kappa_moves_first``, ``_second``, ``_last``, ``test_yuma_3_one_epoch_switch``,
  ``test_yuma_3_liquid_alpha_disabled``, ``test_yuma_3_stable_miner``, ``test_yuma_3_bonds_reset``
  — Yuma 3 with and without liquid alpha; the per-epoch dividends to 1e-3 as the Rust tests
  check them, and the bond targets to 1e-3 (the Rust helper zips its bond rows with
  ``target.iter().skip(3)`` and so never compares them; here they are compared, on the last
  ``len(target)`` columns of the three validator rows).

Each case is a sequence of chain calls as the Rust test makes them: ``set_weights`` (the row is
max-upscaled as ``do_set_weights`` stores it and ``last_update`` becomes the current block),
``next_block`` (``next_block_no_epoch``), ``epoch`` (``SubtensorModule::epoch``, with
``last_tempo = block − tempo`` since no ``LastMechansimStepBlock`` is recorded by manual epochs),
``run_to_block``, ``set_params``, ``reset_bonds`` (``do_reset_bonds``: the UID's column leaves
every bond row) and ``replace_neuron`` (``replace_neuron`` + ``clear_neuron``: new registration
block, weights set by and to the UID zeroed, its bond row and permit cleared, the new hotkey's stake).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agora.subnet.weights import weights_row
from agora.subnet.yuma import EpochResult, YumaParams, epoch

CASES = json.loads((Path(__file__).with_name("yuma_subtensor_cases.json")).read_text())["cases"]
U16 = 65535


class Subnet:
    """The chain state one Rust test drives: stake, stored weights and bonds, permits, blocks."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.n = int(case["n"])
        self.validators = [int(u) for u in case.get("validators", [])]
        self.servers = [u for u in range(self.n) if u not in set(self.validators)]
        stakes = case["stakes"]
        if isinstance(stakes, dict):  # {"validators": s, "servers": s} for the large graphs
            self.stake = np.zeros(self.n)
            self.stake[self.validators] = stakes["validators"]
            self.stake[self.servers] = stakes["servers"]
        else:
            self.stake = np.asarray(stakes, dtype=np.float64)
        self.tempo = int(case["tempo"])
        self.block = int(case["start_block"])
        self.registered_at = np.broadcast_to(np.asarray(case["registered_at"], dtype=np.int64), (self.n,)).copy()
        self.last_update = self.registered_at.copy()
        self.weights = np.zeros((self.n, self.n), dtype=np.uint16)
        self.bonds = np.zeros((self.n, self.n), dtype=np.uint16)
        self.permit = np.zeros(self.n, dtype=bool)
        self.params = YumaParams(**case["params"])

    def uids(self, spec: str | list[int]) -> list[int]:
        if spec == "validators":
            return self.validators
        if spec == "servers":
            return self.servers
        assert isinstance(spec, list)
        return spec

    def apply(self, action: dict[str, Any]) -> EpochResult | None:
        op = action["op"]
        if op == "set_weights":
            self.weights[action["uid"]] = weights_row(self.n, action["uids"], action["values"])
            self.last_update[action["uid"]] = self.block
        elif op == "set_weights_same":  # init_run_epochs: every uid gives every target the same u16
            uids, targets = self.uids(action["uids"]), self.uids(action["targets"])
            row = weights_row(self.n, targets, [action["value"]] * len(targets))
            self.weights[uids] = row
            self.last_update[uids] = self.block
        elif op == "self_weights":  # the servers' self-weight in init_run_epochs
            uids = self.uids(action["uids"])
            self.weights[uids] = 0
            self.weights[uids, uids] = U16
            self.last_update[uids] = self.block
        elif op == "next_block":
            self.block += 1
        elif op == "run_to_block":
            self.block = int(action["block"])
        elif op == "replace_neuron":
            # subnets/uids.rs::replace_neuron + clear_neuron: a new hotkey takes the UID at this block.
            uid = action["uid"]
            self.stake[uid] = action["stake"]
            self.registered_at[uid] = self.block
            self.last_update[uid] = self.block
            self.weights[uid] = 0
            self.weights[:, uid] = 0
            self.bonds[uid] = 0
            self.permit[uid] = False
        elif op == "set_params":
            changes = {k: v for k, v in action.items() if k != "op"}
            self.params = dataclasses.replace(self.params, **changes)
        elif op == "reset_bonds":
            self.bonds[:, action["uid"]] = 0
        elif op == "epoch":
            result = epoch(
                self.stake,
                self.weights,
                self.bonds,
                self.permit,
                self.last_update,
                self.registered_at,
                block=self.block,
                last_tempo=max(self.block - self.tempo, 0),
                params=self.params,
            )
            self.bonds = result.bonds
            self.permit = result.validator_permit
            return result
        else:  # pragma: no cover - a typo in the JSON
            raise AssertionError(f"unknown op {op}")
        return None


def _check_group(result: EpochResult, group: dict[str, Any], uids: list[int], rao: int, where: str) -> None:
    """One value expected of every uid of a group (the large graphs' loops over validators and servers)."""
    for key in ("consensus", "incentive", "dividends"):
        got = np.floor(getattr(result, key)[uids] * U16).astype(np.int64)
        assert np.all(np.abs(got - group[f"{key}_u16"]) <= 1), f"{where}: {key} {sorted(set(got.tolist()))}"
    emitted = np.floor((result.server_emission[uids] + result.validator_emission[uids]) * rao)
    assert np.all(np.abs(emitted - group["emission_rao"]) <= 2), f"{where}: emission {sorted(set(emitted.tolist()))}"
    for col, value in group["bonds_u16_to"]:
        got_b = result.bonds[uids, col].astype(np.int64)
        assert np.all(np.abs(got_b - value) <= 2), f"{where}: bonds to {col} {sorted(set(got_b.tolist()))}"


def _check(result: EpochResult, expect: dict[str, Any], where: str, subnet: Subnet) -> None:
    for group in expect.get("per_uid", []):
        _check_group(result, group, subnet.uids(group["uids"]), expect["rao_emission"], where)
    for i, j, value in expect.get("bonds_u16", []):
        got = int(result.bonds[i, j])
        assert abs(got - value) <= 2, f"{where}: bonds[{i}][{j}] = {got}, chain {value}"
    if "bonds" in expect:
        target = np.asarray(expect["bonds"], dtype=np.float64)
        rows, cols = target.shape
        stored = result.bonds[:rows, result.bonds.shape[1] - cols :] / U16
        np.testing.assert_allclose(stored, target, atol=1e-3, rtol=0, err_msg=f"{where}: bonds")
    if "dividends" in expect:
        np.testing.assert_allclose(result.dividends, expect["dividends"], atol=1e-3, rtol=0, err_msg=f"{where}: D")
    for key in ("consensus", "incentive", "dividends"):
        if f"{key}_u16" in expect:
            got_u16 = np.floor(getattr(result, key) * U16).astype(np.int64)
            assert got_u16.tolist() == expect[f"{key}_u16"], f"{where}: {key}"
    for uid, value in expect.get("dividends_u16_at", []):
        got = int(np.floor(result.dividends[uid] * U16))
        assert abs(got - value) <= 1, f"{where}: dividends[{uid}] = {got} u16, chain {value}"
    for uid, value in expect.get("emission_rao_at", []):
        emitted_i = float(
            np.floor((result.server_emission[uid] + result.validator_emission[uid]) * expect["rao_emission"])
        )
        assert abs(emitted_i - value) <= 2, f"{where}: emission[{uid}] = {emitted_i} rao, chain {value}"
    if "emission_rao" in expect:
        emitted = np.floor((result.server_emission + result.validator_emission) * expect["rao_emission"])
        np.testing.assert_allclose(emitted, expect["emission_rao"], atol=1, rtol=0, err_msg=f"{where}: emission")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_subtensor_case(case: dict[str, Any]) -> None:
    subnet = Subnet(case)
    checked = 0
    epochs = 0
    for action in case["actions"]:
        result = subnet.apply(action)
        if result is None:
            continue
        epochs += 1
        if "expect" in action:
            _check(result, action["expect"], f"{case['name']} epoch call {epochs} (block {subnet.block})", subnet)
            checked += 1
    assert checked > 0


def test_cases_cover_the_brief() -> None:
    names = {c["name"] for c in CASES}
    assert {"test_bonds", "test_10_graph", "test_active_stake", "test_outdated_weights"} <= names
    assert sum(n.startswith("test_512_graph[") for n in names) == 6
    yuma3 = {n for n in names if n.startswith("test_yuma_3_")}
    assert yuma3 == {
        "test_yuma_3_kappa_moves_first",
        "test_yuma_3_kappa_moves_second",
        "test_yuma_3_kappa_moves_last",
        "test_yuma_3_one_epoch_switch",
        "test_yuma_3_liquid_alpha_disabled",
        "test_yuma_3_stable_miner",
        "test_yuma_3_bonds_reset",
    }
    for case in CASES:
        assert "tests/epoch.rs::" + case["name"].split("[")[0] in case["source"]


def test_replay_fails_on_a_wrong_expectation() -> None:
    """The comparison is against the chain's numbers: a changed target must fail."""
    case = json.loads(json.dumps(next(c for c in CASES if c["name"] == "test_bonds")))
    for action in case["actions"]:
        if "expect" in action:
            action["expect"]["bonds_u16"][0][2] += 5
            break
    with pytest.raises(AssertionError):
        test_subtensor_case(case)
