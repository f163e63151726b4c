"""A subnet's transactions, from real receipts on the embedded chain.

Helper of the incentives benchmark. One subnet (3 validators, 5 miners, stakes 1000/600/400),
driven through :class:`agora.subnet.subnets.Subnets` as a validator would:

* ``gas_weights_commit`` / ``gas_weights_reveal`` — a validator's commit of an 8-UID row and its
  reveal one epoch later (the median over the three validators);
* ``gas_epoch_settle`` — an epoch's first ``post_epoch``: 3 validators' EIP-712 signatures
  checked against their permits and stakes at the epoch's block, the root and its consensus root
  recorded, the emission reserved (``…_repost``: posting again after a rejected result);
* ``gas_emission_claim`` — the median claim of one leaf by Merkle proof, tokens paid;
* ``gas_dispute_consensus`` — a consensus dispute that recomputes one column on chain (3 voters'
  rows checked against the registry's digests, the weighted median and the rank) and proves a
  posted result wrong: rejected, its emission back in the pool, its signers slashed.

Runnable on its own: ``python bench/_incentives_subnet_gas.py``.
"""

from __future__ import annotations

import json
import statistics

ONE = 10**18


def measure() -> dict[str, float]:
    from agora.chain import connect
    from agora.protocol import deploy_devnet
    from agora.subnet.settlement import EpochClaim, consensus_root, leaves_root
    from agora.subnet.subnets import Subnets

    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    s = Subnets(dep)
    owner = chain.dev_signers[1]
    validators, miners = chain.dev_signers[2:5], chain.dev_signers[5:10]
    tempo = 4
    netuid = s.create(owner, tempo=tempo, max_uids=16, immunity_period=2, min_burn=ONE, max_burn=10 * ONE)
    s.set_hyperparams(netuid, owner, max_allowed_validators=3, activity_cutoff=10_000)
    for who in [*validators, *miners]:
        s.register(netuid, who.address, who)
    for v, amount in zip(validators, (1000, 600, 400), strict=True):
        s.add_stake(netuid, v.address, amount * ONE, v)
    s.set_emission(netuid, 100 * ONE, owner)
    s.fund(netuid, 1000 * ONE, owner)
    chain.mine(tempo)
    s.advance_epoch(netuid, owner)
    uids = list(range(8))
    rows = {i: [0, 0, 0, *(65535 - 4000 * k - 900 * i for k in range(5))] for i in range(3)}
    commit_gas, reveal_gas, salts = [], [], {}
    for i, v in enumerate(validators):
        salts[i] = s.commit_weights(netuid, v, uids, rows[i])
        commit_gas.append(_last_gas(chain))
    chain.mine(tempo)
    s.advance_epoch(netuid, owner)
    for i, v in enumerate(validators):
        r = s.reveal_weights(netuid, v, uids, rows[i], salts[i])
        reveal_gas.append(r.gas_used)
    chain.mine(tempo)
    e = s.advance_epoch(netuid, owner)
    settled = s.compute_epoch(netuid, e)
    # a wrong consensus for miner 4, posted and proven wrong on chain (the dispute's cost)
    cs = list(settled.consensus)
    cs[4] += 10**17
    c = settled.claim
    bad = EpochClaim(c.root, c.total, c.prune_uid, c.state, consensus_root(cs, settled.ranks), c.rank_sum, c.split)
    first = s.post_epoch(netuid, e, bad, [s.sign(netuid, e, bad, v) for v in validators], owner)
    dispute = s.dispute_consensus(netuid, e, settled, 4, chain.dev_signers[0], consensus=cs)
    post = s.post_epoch(netuid, e, settled.claim, [s.sign(netuid, e, settled.claim, v) for v in validators], owner)
    chain.advance_time(3_601)
    claim_gas = []
    for i in range(len(settled.accounts)):
        s.claim(netuid, e, settled, i, owner)
        claim_gas.append(_last_gas(chain))
    assert leaves_root(settled.accounts, settled.amounts) == settled.claim.root
    return {
        "gas_weights_commit": int(statistics.median(commit_gas)),
        "gas_weights_reveal": int(statistics.median(reveal_gas)),
        "gas_epoch_settle": int(first.gas_used),          # an epoch's first post: every slot fresh
        "gas_epoch_settle_repost": int(post.gas_used),    # after a rejected one
        "gas_emission_claim": int(statistics.median(claim_gas)),
        "gas_dispute_consensus": int(dispute.gas_used),
    }


def _last_gas(chain: object) -> int:
    """The gas of the latest block's (only) transaction."""
    block = chain.w3.eth.get_block("latest", full_transactions=False)  # type: ignore[attr-defined]
    receipt = chain.w3.eth.get_transaction_receipt(block["transactions"][-1])  # type: ignore[attr-defined]
    return int(receipt["gasUsed"])


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
