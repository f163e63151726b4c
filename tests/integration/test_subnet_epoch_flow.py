"""A subnet's epoch end to end on the embedded chain: register, stake, commit and reveal weights,
advance epochs, compute Yuma from what the chain holds, sign with a quorum of validator stake,
post, prove a wrong root wrong (its signers slashed), post the right one, claim every leaf by
proof after the window, hand the registry the prune candidate — reconciled to the wei."""

from __future__ import annotations

import pytest

from agora.errors import Reverted
from agora.subnet.settlement import EpochClaim, check_leaves, leaves_root
from tests.integration.subnet_helpers import EMISSION, subnet

__all__ = ["subnet"]     # the fixture


def test_an_epoch_is_computed_from_the_chain_signed_posted_disputed_and_claimed(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    r = settled.result
    assert r.validator_permit[:3].all() and not r.validator_permit[3:].any()
    # the miners are paid in the order the validators rank them; validators earn dividends
    assert r.incentive[3] > r.incentive[4] > r.incentive[5] > 0
    assert (r.dividends[:3] > 0).all()
    total = settled.claim.total
    assert total == EMISSION and sum(settled.amounts) == total
    registry = s.registry
    stake_before = [int(registry.stake_of(netuid, uid)) for uid in range(3)]

    # a quorum that pays miner 3's emission to validator 0's owner: provably wrong on chain
    bad_accounts = list(settled.accounts)
    bad_accounts[3] = validators[0].address
    bad = EpochClaim(leaves_root(bad_accounts, settled.amounts), total, settled.claim.prune_uid)
    # the first two validators hold 1600 of 2000 stake (80 % >= 66.67 %)
    with pytest.raises(Reverted, match="below the quorum"):
        s.post_epoch(netuid, 3, bad, [s.sign(netuid, 3, bad, validators[1])], owner)
    s.post_epoch(netuid, 3, bad, [s.sign(netuid, 3, bad, v) for v in validators[:2]], owner)
    assert int(s.settlement.pool(netuid)) == 9 * EMISSION       # reserved while pending
    disputer = chain.dev_signers[9]
    with pytest.raises(Reverted, match="leaves do not match the root"):
        s.dispute_leaves(netuid, 3, settled.accounts, settled.amounts, disputer)
    s.dispute_leaves(netuid, 3, bad_accounts, settled.amounts, disputer)
    assert int(s.settlement.pool(netuid)) == 10 * EMISSION      # back in the pool
    stake_after = [int(registry.stake_of(netuid, uid)) for uid in range(3)]
    assert stake_after[:2] == [x * 9 // 10 for x in stake_before[:2]] and stake_after[2] == stake_before[2]
    assert dep.token.balanceOf(disputer.address) >= (stake_before[0] + stake_before[1]) // 10

    # the honest result: a fresh computation (stakes at the epoch's block are unchanged by the slash)
    honest = s.compute_epoch(netuid, 3)
    assert honest.claim == settled.claim
    s.post_epoch(netuid, 3, honest.claim, [s.sign(netuid, 3, honest.claim, v) for v in validators], owner)
    with pytest.raises(Reverted, match="the result checks out"):
        s.dispute_leaves(netuid, 3, honest.accounts, honest.amounts, disputer)
    with pytest.raises(Reverted, match="result not final"):
        s.claim(netuid, 3, honest, 3, disputer)
    chain.advance_time(3_601)
    balances = {a: dep.token.balanceOf(a) for a in set(honest.accounts)}
    paid = sum(s.claim(netuid, 3, honest, i, disputer) for i in range(len(honest.accounts)))
    assert paid == total
    assert s.claim(netuid, 3, honest, 3, disputer) == 0            # once
    gained = {a: dep.token.balanceOf(a) - b for a, b in balances.items()}
    expected: dict[str, int] = {}
    for a, x in zip(honest.accounts, honest.amounts, strict=True):
        expected[a] = expected.get(a, 0) + x
    assert gained == expected
    s.finalize(netuid, 3, owner)
    assert int(s.settlement.pool(netuid)) == 9 * EMISSION


def test_the_python_check_agrees_with_the_contract(subnet) -> None:
    chain, dep, s, netuid, owner, validators, miners = subnet
    settled = s.compute_epoch(netuid, 3)
    x = settled.inputs
    args = dict(total=settled.claim.total, size=len(x.stake), subnet_owner=owner.address, coldkeys=x.coldkeys,
                registered_at=list(x.registered_at), epoch_block=x.block, immunity=x.immunity_period,
                prune_uid=settled.claim.prune_uid)
    assert check_leaves(settled.accounts, settled.amounts, **args) == ""
    shifted = list(settled.amounts)
    shifted[-1] += 1
    assert check_leaves(settled.accounts, shifted, **args) == "the leaves do not sum to the total"


def test_a_posted_epoch_recomputed_after_the_emission_changed_gives_the_posted_root(subnet) -> None:
    chain, _dep, s, netuid, owner, validators, _miners = subnet
    settled = s.compute_epoch(netuid, 3)
    assert settled.claim.total == EMISSION
    s.post_epoch(netuid, 3, settled.claim, [s.sign(netuid, 3, settled.claim, v) for v in validators], owner)
    s.set_emission(netuid, EMISSION // 3, owner)   # what later epochs may emit changes (or the pool runs low)
    assert s.epoch_emission(netuid) == EMISSION // 3
    again = s.compute_epoch(netuid, 3)
    assert again.claim == settled.claim and again.amounts == settled.amounts
