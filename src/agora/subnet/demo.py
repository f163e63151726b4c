"""The subnet chapter of ``agora demo``: an inference subnet where good nodes stay and bad ones leave.

An owner creates a subnet (tempo 3 blocks, room for 9 UIDs, an emission of 100 AGR an epoch from
a pool it funds). Three validators register and stake 1,000 AGR each; six miners register (each
registration burns a little more than the last) and serve the digits classifier over HTTP on
loopback ports, announced on chain. Each epoch every validator (a :class:`Validator`, stepped in
process, serving its signatures on its own port) challenges every miner with fresh digits,
scores the answers against the reference model, commits its weights, reveals the previous
epoch's, computes Yuma consensus from the chain, signs the epoch's Merkle root, and the first to
gather two thirds of the permitted stake posts it; the others check it and agree. After the
challenge window every UID's owner claims its emission by Merkle proof.

From epoch 2 one miner cheats (it replays its first answers whatever it is asked): once the
weights scored after that count (epoch 4) its emission falls to next to nothing, the final epoch
names it the prune candidate, and the next registration in the full subnet replaces it. One
validator reverses the ranking (weights away from consensus): it earns clearly less dividends
than the honest validators of the same stake. The books are reconciled to the wei: every
account's balance moved by exactly its claims less its burn and stake, the pool by exactly what
the epochs emitted, and the token's supply by the mints less the burns. Every step asserts what it
shows.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from agora.chain import Chain, Signer, signer_from_key
from agora.errors import AgoraError
from agora.layers import DemoContext
from agora.protocol import Deployment, fund_account
from agora.subnet.miner import Miner, MinerServer, announce
from agora.subnet.settlement import epoch_key
from agora.subnet.subnets import Subnets
from agora.subnet.validator import Validator, compute_settled

__all__ = ["DEMO_EMISSION", "DEMO_EPOCHS", "DEMO_STAKE", "SubnetDemoFailed", "demo_chapter", "run_subnet_chapter"]

_ONE = 10**18
#: Blocks per epoch.
DEMO_TEMPO = 3
#: The subnet's emission per epoch (wei).
DEMO_EMISSION = 100 * _ONE
#: What the owner puts in the emission pool (wei): more than the chapter's epochs use.
DEMO_POOL = 500 * _ONE
#: Each validator's stake (wei).
DEMO_STAKE = 1_000 * _ONE
#: Epochs the chapter runs; the miner turns cheater in :data:`CHEAT_FROM`.
DEMO_EPOCHS = 4
CHEAT_FROM = 2
#: What each neuron's owner gets from the faucet for its registration burn (wei).
_BURN_MONEY = 20 * _ONE
#: The settlement's challenge window and a second.
_WINDOW = 3_601


class SubnetDemoFailed(AgoraError):
    """A subnet demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise SubnetDemoFailed(f"demo check failed: {what}")


def _actor(name: str) -> Signer:
    """A key of the chapter's cast, derived from its name (the same on every run; never printed)."""
    return signer_from_key(hashlib.sha256(b"agora demo subnet: " + name.encode()).digest())


def _burned(s: Subnets, netuid: int, block: int, hotkey: str) -> tuple[int, str]:
    """What registering ``hotkey`` burned, and whom it replaced, from its ``NeuronRegistered`` event."""
    topic = [netuid.to_bytes(32, "big"), None, bytes(12) + bytes.fromhex(hotkey[2:])]
    (ev,) = s.registry.get_events("NeuronRegistered", block, block, where=topic)
    return int(ev.args["burned"]), str(ev.args["replaced_hotkey"])


def run_subnet_chapter(
    chain: Chain, dep: Deployment, *, workdir: Path | None = None, step: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the chapter (see the module's docstring) on ``dep``; its summary. Raises
    :class:`SubnetDemoFailed` when a step does not show what it claims."""
    t0 = time.perf_counter()
    s = Subnets(dep)
    token = dep.token
    owner = _actor("owner")
    vkeys = [_actor(f"validator {i}") for i in range(3)]
    mkeys = [_actor(f"miner {i}") for i in range(6)]
    newcomer = _actor("newcomer")
    cast = [owner, *vkeys, *mkeys, newcomer]
    funded = {k.address: _BURN_MONEY for k in cast}
    funded[owner.address] = DEMO_POOL
    for k in vkeys:
        funded[k.address] += DEMO_STAKE
    supply0 = int(token.totalSupply())
    for k in cast:
        fund_account(dep, k.address, tokens=funded[k.address], eth=_ONE)
    before = {k.address: int(token.balanceOf(k.address)) for k in cast}

    step("subnet: the owner creates an inference subnet (9 UIDs, 100 AGR an epoch) and funds its pool")
    netuid = s.create(owner, tempo=DEMO_TEMPO, max_uids=9, immunity_period=2, min_burn=_ONE, max_burn=10 * _ONE)
    s.set_hyperparams(netuid, owner, max_allowed_validators=3, activity_cutoff=10_000, weights_rate_limit=0)
    s.set_emission(netuid, DEMO_EMISSION, owner)
    s.fund(netuid, DEMO_POOL, owner)
    _check(int(s.settlement.pool(netuid)) == DEMO_POOL, "the pool holds what the owner funded")

    step("subnet: 3 validators register and stake; 6 miners register and serve the digits classifier")
    burns: dict[str, int] = {}
    for k in vkeys:
        s.register(netuid, k.address, k)
        burns[k.address], _ = _burned(s, netuid, chain.block_number(), k.address)
        s.add_stake(netuid, k.address, DEMO_STAKE, k)
    miners: list[Miner] = []
    servers: list[MinerServer] = []
    validators: list[Validator] = []
    # the validators' state: a fresh folder each run (it belongs to this chain)
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(prefix="agora-subnet-demo-", dir=workdir)
    state = Path(tmp.name)
    try:
        for i, k in enumerate(mkeys):
            s.register(netuid, k.address, k)
            burns[k.address], _ = _burned(s, netuid, chain.block_number(), k.address)
            miner = Miner("honest", seed=i)
            server = MinerServer(miner).start()
            announce(s, netuid, k, server.url)
            miners.append(miner)
            servers.append(server)
        burn_list = [burns[k.address] for k in [*vkeys, *mkeys]]
        _check(all(b < a for b, a in zip(burn_list, burn_list[1:], strict=False)),
               "each registration burns more than the one before")
        validators = [
            Validator(s, netuid, k, state / f"validator-{i}", serve=True, seed=100 + i,
                      mode="dishonest" if i == 2 else "honest")
            for i, k in enumerate(vkeys)
        ]
        cheater, dishonest = 3 + 5, 2   # UIDs: 0-2 validators, 3-8 miners
        epochs: list[dict[str, Any]] = []
        for e in range(1, DEMO_EPOCHS + 1):
            if e == CHEAT_FROM:
                miners[cheater - 3].mode = "copy"
            step(f"subnet: epoch {e}: validators challenge the miners, set weights, compute Yuma, sign, post")
            chain.mine(DEMO_TEMPO)
            _check(s.advance_epoch(netuid, owner) == e, f"epoch {e} began")
            for _ in range(2):
                for v in validators:
                    v.step()
            results = [v.result(e) for v in validators]
            _check(all(r is not None for r in results), f"every validator computed epoch {e}")
            roots = {r["claim"]["root"] for r in results if r}
            _check(len(roots) == 1, f"every validator computed the same root for epoch {e}")
            statuses = sorted(r["status"] for r in results if r)
            _check(statuses == ["agreed", "agreed", "posted"], f"one posted epoch {e}, the others agreed")
            step(f"subnet: epoch {e}: the challenge window passes; the validators claim and finalize")
            chain.advance_time(_WINDOW)
            for v in validators:
                v.step()
            res = results[0]
            assert res is not None
            _check(sum(res["amounts"]) == DEMO_EMISSION, f"epoch {e} emitted exactly 100 AGR")
            scores = {sc.uid: sc.agreement for sc in validators[0].scores(e)}
            epochs.append({"epoch": e, "root": res["claim"]["root"], "amounts_wei": res["amounts"],
                           "posted_by": next(v.address for v, r in zip(validators, results, strict=True)
                                             if r and r["status"] == "posted"),
                           "agreement": {str(u): a for u, a in sorted(scores.items())}})

        step("subnet: every UID's owner claims its emission by Merkle proof")
        claims: dict[str, int] = {k.address: 0 for k in cast}
        for v in validators:   # the validators claimed their own leaves in their rounds
            for ep, _event, detail in v.decisions("claimed"):
                claims[v.address] += int(detail.get("amount") or 0)
                _check(detail.get("uid") == validators.index(v), f"validator {v.address} claimed epoch {ep}")
        by_address = {k.address: k for k in cast}
        carried = None   # each epoch computed once, with the bonds the one before carries
        for e in range(1, DEMO_EPOCHS + 1):
            settled = compute_settled(s, netuid, e, carried)
            carried = settled.result.bonds
            _check("0x" + settled.claim.root.hex() == epochs[e - 1]["root"], f"epoch {e}'s leaves rebuild its root")
            for i, account in enumerate(settled.accounts):
                if i < 3 or settled.amounts[i] == 0:
                    continue
                payer = by_address[str(to_checksum_address(account))]
                claims[payer.address] += s.claim(netuid, e, settled, i, payer)
            _check(all(s.settlement.claimed(epoch_key(netuid, e), i) for i, a in enumerate(settled.amounts) if a),
                   f"every paid leaf of epoch {e} is claimed")

        amounts = [ep["amounts_wei"] for ep in epochs]
        honest = [u for u in range(3, 9) if u != cheater]
        last = amounts[-1]
        _check(all(amounts[e][u] == 0 for e in (0, 1) for u in range(3, 9)),
               "no miner is paid before the first revealed weights count (epoch 3)")
        _check(amounts[2][cheater] > 0.5 * min(amounts[2][u] for u in honest),
               "the cheater is paid while its honest answers count (epoch 3)")
        _check(last[cheater] < 0.01 * min(last[u] for u in honest),
               "the cheater's emission falls to next to nothing once its copied answers count")
        _check(all(ep[dishonest] < 0.8 * min(ep[0], ep[1]) for ep in amounts[2:]),
               "the validator away from consensus earns less dividends than the honest ones")
        _check(tuple(s.registry.prune_candidate(netuid)) == (True, cheater),
               "the last final epoch names the cheater the prune candidate")

        step("subnet: the subnet is full; a newcomer's registration replaces the cheater")
        _check(s.size(netuid) == 9, "the subnet is full")
        uid = s.register(netuid, newcomer.address, newcomer)
        burns[newcomer.address], replaced = _burned(s, netuid, chain.block_number(), newcomer.address)
        _check(uid == cheater and replaced == mkeys[cheater - 3].address, "the newcomer took the cheater's UID")
    finally:
        for v in validators:
            v.close()
        for server in servers:
            server.stop()
        tmp.cleanup()

    step("subnet: reconciling every balance, the pool and the supply to the wei")
    emitted = sum(sum(a) for a in amounts)
    stakes = {k.address: DEMO_STAKE for k in vkeys}
    for k in cast:
        spent = burns.get(k.address, 0) + stakes.get(k.address, 0) + (DEMO_POOL if k is owner else 0)
        _check(int(token.balanceOf(k.address)) == before[k.address] - spent + claims[k.address],
               "every account moved by its claims less its burn, stake and funding")
    _check(sum(claims.values()) == emitted, "the claims add up to what the epochs emitted")
    _check(int(s.settlement.pool(netuid)) == DEMO_POOL - emitted, "the pool lost exactly what the epochs emitted")
    _check(int(token.totalSupply()) == supply0 + sum(funded.values()) - sum(burns.values()),
           "the supply grew by the faucet's mints less the registration burns")
    return {
        "netuid": netuid,
        "tempo_blocks": DEMO_TEMPO,
        "emission_per_epoch_wei": DEMO_EMISSION,
        "validators": [k.address for k in vkeys],
        "miners": [k.address for k in mkeys],
        "dishonest_validator_uid": dishonest,
        "cheater_uid": cheater,
        "cheater_from_epoch": CHEAT_FROM,
        "epochs": epochs,
        "burns_wei": [burns[k.address] for k in [*vkeys, *mkeys, newcomer]],
        "claimed_wei": sum(claims.values()),
        "emitted_wei": emitted,
        "pool_left_wei": int(s.settlement.pool(netuid)),
        "cheater_last_share": last[cheater] / DEMO_EMISSION,
        "replaced_by": newcomer.address,
        "reconciled": True,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def demo_chapter(demo: DemoContext) -> dict[str, Any]:
    """The subnet layer's chapter of ``agora demo`` (its cast: keys derived for the chapter,
    funded from the devnet faucet)."""
    return run_subnet_chapter(demo.chain, demo.deployment, workdir=demo.workdir, step=demo.step)
