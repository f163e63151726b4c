"""``SubnetSettlement``'s refusals and proofs, each on its own: who may fund, set the emission,
post (quorum, signer order, permits, registration, epoch, total), what each leaf-list dispute
proves, equivocation, claims (bad proof, twice, before final), finalize and the prune candidate."""

from __future__ import annotations

import pytest

from agora.errors import Reverted
from agora.subnet.settlement import NO_PRUNE, EpochClaim, epoch_key, epoch_leaves, leaves_root
from tests.integration.subnet_helpers import EMISSION, ONE, TEMPO, subnet

__all__ = ["subnet"]     # the fixture


def _signed(s, netuid, e, claim, signers):
    return [s.sign(netuid, e, claim, v) for v in signers]


def test_only_the_subnet_owner_sets_the_emission_and_funding_needs_a_subnet(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    with pytest.raises(Reverted, match="not the subnet owner"):
        s.set_emission(netuid, 1, validators[0])
    with pytest.raises(Reverted, match="unknown subnet"):
        s.fund(99, ONE, owner)
    with pytest.raises(Reverted, match="zero amount"):
        s.settlement.fund(netuid, 0, sender=owner)
    assert s.epoch_emission(netuid) == EMISSION


def test_post_refusals(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    claim = settled.claim
    sigs = _signed(s, netuid, 3, claim, validators)
    with pytest.raises(Reverted, match="epoch not started"):
        s.post_epoch(netuid, 4, claim, _signed(s, netuid, 4, claim, validators), owner)
    with pytest.raises(Reverted, match="epoch not started"):
        s.post_epoch(netuid, 0, claim, _signed(s, netuid, 0, claim, validators), owner)
    too_much = EpochClaim(claim.root, EMISSION + 1, claim.prune_uid)
    with pytest.raises(Reverted, match="total above the epoch's emission"):
        s.post_epoch(netuid, 3, too_much, _signed(s, netuid, 3, too_much, validators), owner)
    bad_prune = EpochClaim(claim.root, claim.total, 6)
    with pytest.raises(Reverted, match="bad prune UID"):
        s.post_epoch(netuid, 3, bad_prune, _signed(s, netuid, 3, bad_prune, validators), owner)
    # signatures out of order, or one signer twice
    ordered = sorted(sigs, key=lambda x: int(x[0], 16))
    raw = [(sig[64], sig[:32], sig[32:64]) for _, sig in ordered]
    with pytest.raises(Reverted, match="signers not in ascending order"):
        s.settlement.post_epoch(netuid, 3, claim.as_tuple(), raw[::-1], sender=owner)
    with pytest.raises(Reverted, match="signers not in ascending order"):
        s.settlement.post_epoch(netuid, 3, claim.as_tuple(), [raw[0], raw[0]], sender=owner)
    # a miner (registered, no permit) and an outsider
    with pytest.raises(Reverted, match="signer has no permit in that epoch"):
        s.post_epoch(netuid, 3, claim, [*sigs, s.sign(netuid, 3, claim, miners[0])], owner)
    with pytest.raises(Reverted, match="signer not registered"):
        s.post_epoch(netuid, 3, claim, [*sigs, s.sign(netuid, 3, claim, chain.dev_signers[9])], owner)
    # a signature of another result recovers to someone else: not registered
    other = EpochClaim(b"\x01" * 32, claim.total, claim.prune_uid)
    with pytest.raises(Reverted, match="signer not registered|below the quorum|signers not in ascending order"):
        s.post_epoch(netuid, 3, claim, _signed(s, netuid, 3, other, validators[:1]) + sigs[1:], owner)
    with pytest.raises(Reverted, match="below the quorum"):
        s.post_epoch(netuid, 3, claim, [], owner)
    s.post_epoch(netuid, 3, claim, sigs, owner)
    with pytest.raises(Reverted, match="result already posted"):
        s.post_epoch(netuid, 3, claim, sigs, owner)


def _post_bad(s, netuid, owner, validators, settled, accounts, amounts, prune_uid=None):
    total = sum(amounts)
    claim = EpochClaim(leaves_root(accounts, amounts), total,
                       settled.claim.prune_uid if prune_uid is None else prune_uid)
    s.post_epoch(netuid, 3, claim, _signed(s, netuid, 3, claim, validators), owner)
    return claim


@pytest.mark.parametrize("case", ["sum", "owner", "leaf count", "prune immune", "prune not lowest", "no prune"])
def test_each_leaf_list_dispute(subnet, case: str) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    accounts, amounts = list(settled.accounts), list(settled.amounts)
    prune = None
    reason = "the prune candidate is not the lowest-paid non-immune UID"
    if case == "sum":        # a claim whose total is not what its leaves add up to
        claim = EpochClaim(leaves_root(accounts, amounts), settled.claim.total - 1, settled.claim.prune_uid)
        s.post_epoch(netuid, 3, claim, _signed(s, netuid, 3, claim, validators), owner)
        reason = "the leaves do not sum to the total"
    elif case == "owner":    # the owner's cut taken by a validator
        amounts[0] += amounts[-1] - 10
        amounts[-1] = 10
        _post_bad(s, netuid, owner, validators, settled, accounts, amounts)
        reason = "the subnet owner's leaf is wrong"
    elif case == "leaf count":
        accounts, amounts = accounts[:-2] + accounts[-1:], amounts[:-2] + [amounts[-2] + amounts[-1]]
        _post_bad(s, netuid, owner, validators, settled, accounts, amounts)
        reason = "not one leaf per UID plus the owner's"
    elif case == "prune immune":   # every UID is past its 2-block immunity here: make one immune
        s.set_hyperparams(netuid, owner, immunity_period=10_000)
        prune = settled.claim.prune_uid
        _post_bad(s, netuid, owner, validators, settled, accounts, amounts, prune)
    elif case == "prune not lowest":
        prune = max(range(6), key=lambda u: amounts[u])
        _post_bad(s, netuid, owner, validators, settled, accounts, amounts, prune)
    else:
        _post_bad(s, netuid, owner, validators, settled, accounts, amounts, NO_PRUNE)
    disputer = chain.dev_signers[9]
    before = dep.token.balanceOf(disputer.address)
    receipt = s.dispute_leaves(netuid, 3, accounts, amounts, disputer)
    (ev,) = s.settlement.events_in(receipt, "EpochDisputed")
    assert ev.args["reason"] == reason
    assert dep.token.balanceOf(disputer.address) > before        # the signers' slashed stake
    assert int(s.settlement.pool(netuid)) == 10 * EMISSION
    # a rejected result may be replaced; a dispute of it again is refused
    with pytest.raises(Reverted, match="no pending result"):
        s.dispute_leaves(netuid, 3, accounts, amounts, disputer)


def test_dispute_needs_the_posted_signers_and_the_window(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    accounts = list(settled.accounts)
    accounts[4] = miners[0].address
    _post_bad(s, netuid, owner, validators, settled, accounts, settled.amounts)
    with pytest.raises(Reverted, match="not the posted signers"):
        s.settlement.dispute_leaves(netuid, 3, accounts, settled.amounts, [v.address for v in validators[:2]],
                                    sender=owner)
    chain.advance_time(3_601)
    with pytest.raises(Reverted, match="no pending result"):
        s.dispute_leaves(netuid, 3, accounts, settled.amounts, owner)


def test_equivocation_slashes_the_signer_once(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    s.post_epoch(netuid, 3, settled.claim, _signed(s, netuid, 3, settled.claim, validators), owner)
    other = EpochClaim(b"\x02" * 32, settled.claim.total, settled.claim.prune_uid)
    _, sig = s.sign(netuid, 3, other, validators[1])
    raw = (sig[64], sig[:32], sig[32:64])
    stake = int(s.registry.stake_of(netuid, 1))
    with pytest.raises(Reverted, match="the same result"):
        _, same = s.sign(netuid, 3, settled.claim, validators[1])
        s.settlement.dispute_equivocation(netuid, 3, settled.claim.as_tuple(), (same[64], same[:32], same[32:64]),
                                          sender=owner)
    s.settlement.dispute_equivocation(netuid, 3, other.as_tuple(), raw, sender=owner)
    assert int(s.registry.stake_of(netuid, 1)) == stake - stake // 10
    with pytest.raises(Reverted, match="already slashed"):
        s.settlement.dispute_equivocation(netuid, 3, other.as_tuple(), raw, sender=owner)
    _, msig = s.sign(netuid, 3, other, miners[0])
    with pytest.raises(Reverted, match="not a validator then"):
        s.settlement.dispute_equivocation(netuid, 3, other.as_tuple(), (msig[64], msig[:32], msig[32:64]),
                                          sender=owner)
    with pytest.raises(Reverted, match="nothing posted"):
        s.settlement.dispute_equivocation(netuid, 2, other.as_tuple(), raw, sender=owner)


def test_claims_and_finalize(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    s.post_epoch(netuid, 3, settled.claim, _signed(s, netuid, 3, settled.claim, validators), owner)
    with pytest.raises(Reverted, match="result not final"):
        s.finalize(netuid, 3, owner)
    chain.advance_time(3_601)
    with pytest.raises(Reverted, match="bad proof"):
        s.settlement.claim(netuid, 3, 3, settled.accounts[3], settled.amounts[3] + 1, settled.proof(3), sender=owner)
    with pytest.raises(Reverted, match="bad proof"):
        s.settlement.claim(netuid, 3, 4, settled.accounts[3], settled.amounts[3], settled.proof(3), sender=owner)
    s.settlement.claim(netuid, 3, 3, settled.accounts[3], settled.amounts[3], settled.proof(3), sender=owner)
    with pytest.raises(Reverted, match="already claimed"):
        s.settlement.claim(netuid, 3, 3, settled.accounts[3], settled.amounts[3], settled.proof(3), sender=owner)
    s.finalize(netuid, 3, owner)
    with pytest.raises(Reverted, match="already finalized"):
        s.finalize(netuid, 3, owner)
    assert tuple(s.registry.prune_candidate(netuid)) == (True, settled.claim.prune_uid)
    # leaves never claimed go back to the pool after the claim period; later claims are refused
    with pytest.raises(Reverted, match="claims still open"):
        s.settlement.sweep(netuid, 3, sender=owner)
    with pytest.raises(Reverted, match="result not final"):
        s.settlement.sweep(netuid, 2, sender=owner)
    pool = int(s.settlement.pool(netuid))
    chain.advance_time(30 * 86_400)
    s.settlement.sweep(netuid, 3, sender=owner)
    assert int(s.settlement.pool(netuid)) == pool + settled.claim.total - settled.amounts[3]
    with pytest.raises(Reverted, match="above the total"):
        s.settlement.claim(netuid, 3, 4, settled.accounts[4], settled.amounts[4], settled.proof(4), sender=owner)


def test_leaves_split_the_total_exactly() -> None:
    accounts, amounts = epoch_leaves(["0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20], "0x" + "44" * 20,
                                     [0.5, 0.3, 0.2], 10**20 + 7)
    cut = (10**20 + 7) * 1800 // 10_000
    assert sum(amounts) == 10**20 + 7 and cut <= amounts[-1] <= cut + 3
    with pytest.raises(ValueError, match="without emission shares"):
        epoch_leaves(["0x" + "11" * 20], "0x" + "44" * 20, [0.0], 5)
    assert epoch_leaves(["0x" + "11" * 20], "0x" + "44" * 20, [0.0], 0)[1] == [0, 0]
    assert TEMPO > 0


def _repost(s, netuid, owner, validators, settled, *, consensus=None, ranks=None, amounts=None):
    """Post a result built from altered lists (signed by every validator)."""
    from agora.subnet.settlement import consensus_root

    cs, rs = list(consensus or settled.consensus), list(ranks or settled.ranks)
    am = list(amounts or settled.amounts)
    c = settled.claim
    claim = EpochClaim(leaves_root(settled.accounts, am), c.total, c.prune_uid, c.state, consensus_root(cs, rs),
                       sum(rs), c.split)
    s.post_epoch(netuid, 3, claim, _signed(s, netuid, 3, claim, validators), owner)
    return cs, rs, am


def test_the_chain_recomputes_every_column_as_yuma_does(subnet) -> None:
    """An honest result survives a consensus dispute on every UID: the contract's integer
    recomputation of each column's weighted median and rank agrees with Yuma's float one."""
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    s.post_epoch(netuid, 3, settled.claim, _signed(s, netuid, 3, settled.claim, validators), owner)
    for uid in range(6):
        with pytest.raises(Reverted, match="the consensus checks out"):
            s.dispute_consensus(netuid, 3, settled, uid, owner)
    with pytest.raises(Reverted, match="the incentive checks out"):
        s.dispute_incentive(netuid, 3, settled.consensus, settled.ranks, settled.accounts, settled.amounts, owner)
    # rows that are not the ones revealed are refused
    rows = s.voter_rows(netuid, 3)
    rows[0][0] ^= 1
    def dispute(uid: int, consensus: int, rows: list, settlement: str = s.settlement.address) -> None:
        s.verifier.dispute_consensus(settlement, netuid, 3, uid, consensus, settled.ranks[uid],
                                     settled.consensus_proof(uid), rows, s.signers(netuid, 3), sender=owner)

    with pytest.raises(Reverted, match="a row is not the one revealed"):
        dispute(4, settled.consensus[4], rows)
    with pytest.raises(Reverted, match="a voter's row is missing"):
        dispute(4, settled.consensus[4], s.voter_rows(netuid, 3)[:2])
    with pytest.raises(Reverted, match="bad consensus proof"):
        dispute(4, settled.consensus[4] + 1, s.voter_rows(netuid, 3))
    # the settlement rejects only on its own verifier's word
    assert s.settlement.verifier() == s.verifier.address
    with pytest.raises(Reverted, match="SubnetSettlement: not the verifier"):
        s.settlement.reject_proven(netuid, 3, s.signers(netuid, 3), owner.address, "because I say so", sender=owner)
    assert int(s.settlement.result(epoch_key(netuid, 3))[5]) == 1  # still pending


@pytest.mark.parametrize("case", ["consensus", "rank", "miner paid", "rank sum"])
def test_a_wrong_yuma_result_is_proven_on_chain(subnet, case: str) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    cs, rs, am = list(settled.consensus), list(settled.ranks), list(settled.amounts)
    disputer = chain.dev_signers[9]
    if case == "consensus":           # miner 4's consensus inflated (its rank unchanged)
        cs[4] += 10**17
        cs, rs, am = _repost(s, netuid, owner, validators, settled, consensus=cs)
        receipt = s.dispute_consensus(netuid, 3, settled, 4, disputer, consensus=cs, ranks=rs)
        reason = "the consensus is not the stake-weighted median"
    elif case == "rank":
        rs[5] += 10**16
        cs, rs, am = _repost(s, netuid, owner, validators, settled, ranks=rs)
        receipt = s.dispute_consensus(netuid, 3, settled, 5, disputer, consensus=cs, ranks=rs)
        reason = "the rank is not the clipped weighted sum"
    elif case == "miner paid":        # 1 token moved from miner 3 to miner 5: the leaf list alone cannot tell
        am[3] -= ONE
        am[5] += ONE
        cs, rs, am = _repost(s, netuid, owner, validators, settled, amounts=am)
        with pytest.raises(Reverted, match="the result checks out"):
            s.dispute_leaves(netuid, 3, settled.accounts, am, disputer)
        receipt = s.dispute_incentive(netuid, 3, cs, rs, settled.accounts, am, disputer)
        reason = "a miner is not paid its incentive"
    else:
        c = settled.claim
        claim = EpochClaim(c.root, c.total, c.prune_uid, c.state, c.consensus_root, c.rank_sum + 1, c.split)
        s.post_epoch(netuid, 3, claim, _signed(s, netuid, 3, claim, validators), owner)
        receipt = s.dispute_incentive(netuid, 3, cs, rs, settled.accounts, am, disputer)
        reason = "the ranks do not sum to the rank sum"
    (ev,) = s.settlement.events_in(receipt, "EpochDisputed")
    assert ev.args["reason"] == reason
    assert int(s.settlement.pool(netuid)) == 10 * EMISSION


@pytest.mark.parametrize("case", ["miner paid", "consensus"])
def test_a_validator_daemon_proves_wrong_yuma_arithmetic_through_the_verifier(subnet, tmp_path, case: str) -> None:
    """Leaves that pass every leaf check (right accounts, sum, owner's cut, prune candidate) but
    pay miners other than their incentive, or commit a wrong consensus: the validator daemon, which
    finds the posted leaves and consensus lists at a signer, proves it through the verifier."""
    from fastapi import FastAPI

    from agora.subnet.miner import serve_app, stop_app
    from agora.subnet.validator import Validator

    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    cs, rs, am = list(settled.consensus), list(settled.ranks), list(settled.amounts)
    if case == "miner paid":
        am[3], am[5] = am[3] - ONE, am[5] + ONE
        want = "a miner is not paid its incentive"
    else:
        cs[4] += 10**17
        want = "the consensus is not the stake-weighted median"
    cs, rs, am = _repost(s, netuid, owner, validators, settled, consensus=cs, amounts=am)
    forged = FastAPI()
    body = {"accounts": settled.accounts, "amounts": [str(a) for a in am], "consensus": [str(c) for c in cs],
            "ranks": [str(r) for r in rs]}
    forged.get("/epoch/3/leaves")(lambda: body)
    server, thread, port = serve_app(forged, "127.0.0.1", 0, "forged-yuma")
    v = Validator(s, netuid, validators[2], tmp_path, peers={0: f"http://127.0.0.1:{port}"})
    try:
        v.step()  # epoch 3: nothing to challenge or commit; it checks the posted result
        assert v.result(3)["status"] == "disputed"
    finally:
        v.close()
        stop_app(server, thread)
    (ev,) = s.settlement.get_events("EpochDisputed", 0)
    assert ev.args["reason"] == want and ev.args["by"] == validators[2].address
    assert int(s.settlement.pool(netuid)) == 10 * EMISSION  # the emission is back in the pool
