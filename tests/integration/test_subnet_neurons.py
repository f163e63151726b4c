"""A working inference subnet on the embedded chain: 1 owner, 3 validators (``Validator`` objects
stepped in process, each serving its signatures on a free 127.0.0.1 port) and 6 miners (the digits
classifier served over HTTP on free ports, announced on chain), one of which turns cheater.

* the cheater (honest at first, then replaying old answers) sees its emission fall to ~0 and,
  with the subnet full, is the UID a new registration replaces;
* a validator that reverses the ranking (away from consensus) earns less dividends than the
  honest ones of the same stake;
* a validator restarted mid-epoch (a new ``Validator`` on the same state folder) reveals what its
  predecessor committed and repeats nothing;
* a wrong result posted by others is proven wrong (its leaves checked) and replaced by the right one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from agora.chain import Chain, Signer, connect, signer_from_key
from agora.protocol import deploy_devnet
from agora.subnet.miner import Miner, MinerServer, announce, serve_app, stop_app
from agora.subnet.settlement import epoch_key, leaves_root
from agora.subnet.subnets import Subnets
from agora.subnet.validator import Validator, compute_settled

ONE = 10**18
TEMPO = 3
EMISSION = 100 * ONE
WINDOW = 3_601  # the settlement's challenge window, and a second


@dataclass
class World:
    chain: Chain
    s: Subnets
    netuid: int
    owner: Signer
    vkeys: list[Signer]
    miners: list[Miner]
    mkeys: list[Signer]
    servers: list[MinerServer]
    state: Path
    validators: list[Validator] = field(default_factory=list)

    def validator(self, i: int, **kwargs: Any) -> Validator:
        v = Validator(self.s, self.netuid, self.vkeys[i], self.state / f"v{i}", serve=True, seed=100 + i, **kwargs)
        self.validators.append(v)
        return v

    def advance(self) -> int:
        self.chain.mine(TEMPO)
        return self.s.advance_epoch(self.netuid, self.owner)


def _hotkey(chain: Chain) -> Signer:
    """A fresh hotkey with gas money."""
    key = signer_from_key(os.urandom(32))
    chain.transfer_native(key.address, ONE, chain.dev_signers[0])
    return key


def _world(tmp_path: Path, *, max_uids: int) -> World:
    chain = connect("embedded://")
    s = Subnets(deploy_devnet(chain))
    owner = chain.dev_signers[1]
    netuid = s.create(owner, tempo=TEMPO, max_uids=max_uids, immunity_period=2, min_burn=ONE, max_burn=10 * ONE)
    s.set_hyperparams(netuid, owner, max_allowed_validators=3, activity_cutoff=10_000, weights_rate_limit=0)
    vkeys = chain.dev_signers[2:5]
    for v in vkeys:
        s.register(netuid, v.address, v)
        s.add_stake(netuid, v.address, 1_000 * ONE, v)
    miners, mkeys, servers = [], [], []
    for i in range(6):
        key = _hotkey(chain)
        s.register(netuid, key.address, chain.dev_signers[5 + i % 4])
        miner = Miner("honest", seed=i)
        server = MinerServer(miner).start()
        announce(s, netuid, key, server.url)
        miners.append(miner)
        mkeys.append(key)
        servers.append(server)
    s.set_emission(netuid, EMISSION, owner)
    s.fund(netuid, 20 * EMISSION, owner)
    return World(chain, s, netuid, owner, list(vkeys), miners, mkeys, servers, tmp_path)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = _world(tmp_path, max_uids=9)
    yield w
    for v in w.validators:
        v.close()
    for server in w.servers:
        server.stop()


def _epoch(w: World, validators: list[Validator]) -> int:
    """One epoch: advance, every validator's rounds until it is posted, the window, the claims."""
    e = w.advance()
    for _ in range(2):
        for v in validators:
            v.step()
    w.chain.advance_time(WINDOW)
    for v in validators:
        v.step()
    return e


def test_a_cheating_miner_loses_its_emission_and_is_pruned_and_a_dishonest_validator_earns_less(world: World) -> None:
    w = world
    validators = [w.validator(0), w.validator(1), w.validator(2, mode="dishonest")]
    cheater = 8  # UIDs: 0-2 validators, 3-8 miners
    emission: dict[int, list[int]] = {}
    # weights scored in epoch e are committed in e, revealed in e + 1 and count from epoch e + 2
    for e in range(1, 5):
        if e == 2:
            w.miners[cheater - 3].mode = "copy"  # from now on: replays its first answers
        assert _epoch(w, validators) == e
        res = validators[0].result(e)
        assert res is not None and res["status"] in ("posted", "agreed")
        # every validator computed the same claim (one posted it, the others agreed)
        assert {v.result(e)["claim"]["root"] for v in validators} == {res["claim"]["root"]}
        assert sorted(v.result(e)["status"] for v in validators) == ["agreed", "agreed", "posted"]
        emission[e] = res["amounts"]
        assert sum(res["amounts"]) == EMISSION
    print("\nemission (AGR) per epoch, by UID (0-2 validators, 2 dishonest; 3-8 miners, 8 the cheater):")
    for e, amounts in emission.items():
        print(f"  epoch {e}:", [round(a / ONE, 3) for a in amounts[:-1]], "owner", round(amounts[-1] / ONE, 3))

    # no weights before epoch 3: the validators share the emission by stake, the miners get nothing
    assert all(emission[e][u] == 0 for e in (1, 2) for u in range(3, 9))
    # the cheater: paid like the others while its honest answers count, then next to nothing
    honest = [3, 4, 5, 6, 7]
    assert emission[3][cheater] > 0.5 * min(emission[3][u] for u in honest)
    assert emission[4][cheater] < 0.01 * min(emission[4][u] for u in honest)
    # the validators saw why: its answers no longer agree with the reference model
    scores = validators[0].scores(2)
    assert [s.uid for s in scores] == [3, 4, 5, 6, 7, 8]
    assert scores[-1].agreement < 0.5 and all(s.agreement == 1.0 for s in scores[:-1])

    # the dishonest validator (same stake) earns less dividends once weights count
    for e in (3, 4):
        assert emission[e][2] < 0.8 * min(emission[e][0], emission[e][1]), emission[e][:3]

    # every validator claimed its own leaf and finalized: the last epoch named the cheater
    assert all({d[0] for d in v.decisions("claimed")} == {1, 2, 3, 4} for v in validators)
    for uid in range(3):
        assert w.s.settlement.claimed(epoch_key(w.netuid, 4), uid)
    assert tuple(w.s.registry.prune_candidate(w.netuid)) == (True, cheater)
    # the subnet is full: a newcomer replaces the cheater
    newcomer = _hotkey(w.chain)
    assert w.s.size(w.netuid) == 9
    assert w.s.register(w.netuid, newcomer.address, w.chain.dev_signers[9]) == cheater
    (ev,) = w.s.registry.get_events("NeuronRegistered", w.chain.block_number())
    assert ev.args["replaced_hotkey"] == w.mkeys[cheater - 3].address


def test_a_restarted_validator_reveals_what_it_committed_and_repeats_nothing(world: World) -> None:
    w = world
    v0 = w.validator(0)
    e = w.advance()  # epoch 1: v0 scores, commits, signs; dies
    v0.step()
    committed = v0.weights(e)
    assert committed is not None and committed[2] == "committed"
    signed = v0.result(e)
    assert signed is not None and signed["status"] == "signed"
    calls = [m.calls for m in w.miners]
    assert calls == [1] * 6
    v0.close()
    again = w.validator(0)  # same state folder, same epoch
    again.step()
    assert [m.calls for m in w.miners] == calls  # not challenged twice
    topic = [w.netuid.to_bytes(32, "big"), (0).to_bytes(32, "big")]
    assert len(w.s.registry.get_events("WeightsCommitted", 0, where=topic)) == 1  # not committed twice
    assert again.result(e) == signed  # nor signed anew
    assert w.advance() == e + 1
    again.step()  # reveals the predecessor's commit
    (ev,) = w.s.registry.get_events("WeightsRevealed", 0, where=topic)
    assert ev.args["epoch"] == e
    assert list(ev.args["uids"]) == committed[0] and list(ev.args["values"]) == committed[1]
    assert again.weights(e)[2] == "revealed"
    assert again.weights(e + 1)[2] == "committed"


def test_a_wrong_result_posted_by_others_is_disputed_and_replaced(world: World) -> None:
    w = world
    e = w.advance()
    honest = compute_settled(w.s, w.netuid, e, None)
    # a forged result: validator 0's emission paid to someone else, signed with all three keys
    accounts = list(honest.accounts)
    accounts[0] = w.chain.dev_signers[9].address
    bad = replace(honest.claim, root=leaves_root(accounts, honest.amounts))
    w.s.post_epoch(w.netuid, e, bad, [w.s.sign(w.netuid, e, bad, k) for k in w.vkeys], w.owner)
    # one signer serves the forged leaves (the validators find a posted result's leaves at its signers)
    forged = FastAPI()
    forged.get(f"/epoch/{e}/leaves")(lambda: {"accounts": accounts, "amounts": [str(a) for a in honest.amounts]})
    server, thread, port = serve_app(forged, "127.0.0.1", 0, "forged-leaves")
    try:
        validators = [w.validator(0), w.validator(1), w.validator(2, peers={0: f"http://127.0.0.1:{port}"})]
        validators[2].step()
        assert validators[2].result(e)["status"] == "disputed"
        (ev,) = w.s.settlement.get_events("EpochDisputed", 0)
        assert ev.args["reason"] == "a UID is paid to someone other than its owner"
        assert [d[2]["reason"] for d in validators[2].decisions("disputed")] == [ev.args["reason"]]
        for v in validators[:2]:
            v.step()  # they compute, sign and serve the honest result; the second posts it
        for v in validators:
            v.step()
        # the honest result, posted by the first to gather a quorum, agreed by the others
        assert sorted(v.result(e)["status"] for v in validators) == ["agreed", "agreed", "posted"]
        assert w.s.settlement.result(epoch_key(w.netuid, e))[0] == honest.claim.root
    finally:
        stop_app(server, thread)
