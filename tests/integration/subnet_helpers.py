"""A subnet on the embedded chain, three epochs in: 3 validators (stakes 1000/600/400) who
committed in epoch 1 and revealed in epoch 2, 3 miners, an emission pool. Not a test module."""

from __future__ import annotations

import pytest

from agora.chain import connect
from agora.protocol import deploy_devnet
from agora.subnet.subnets import Subnets

ONE = 10**18
TEMPO = 4
EMISSION = 100 * ONE
WEIGHTS = {0: [0, 0, 0, 65535, 30000, 10000], 1: [0, 0, 0, 60000, 30000, 12000], 2: [0, 0, 0, 65535, 29000, 9000]}

__all__ = ["EMISSION", "ONE", "TEMPO", "WEIGHTS", "subnet"]


@pytest.fixture
def subnet():
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    s = Subnets(dep)
    owner = chain.dev_signers[1]
    validators = chain.dev_signers[2:5]
    miners = chain.dev_signers[5:8]
    netuid = s.create(owner, tempo=TEMPO, max_uids=8, immunity_period=2, min_burn=ONE, max_burn=10 * ONE)
    s.set_hyperparams(netuid, owner, max_allowed_validators=3, activity_cutoff=10_000)
    for who in [*validators, *miners]:
        s.register(netuid, who.address, who)
    for v, amount in zip(validators, (1000, 600, 400), strict=True):
        s.add_stake(netuid, v.address, amount * ONE, v)
    s.set_emission(netuid, EMISSION, owner)
    s.fund(netuid, 10 * EMISSION, owner)
    chain.mine(TEMPO)
    assert s.advance_epoch(netuid, owner) == 1
    # epoch 1: the validators (permits: the top 3 by stake) commit; epoch 2: they reveal
    weights = WEIGHTS
    salts = {i: s.commit_weights(netuid, v, range(6), weights[i]) for i, v in enumerate(validators)}
    chain.mine(TEMPO)
    assert s.advance_epoch(netuid, owner) == 2
    for i, v in enumerate(validators):
        s.reveal_weights(netuid, v, range(6), weights[i], salts[i])
    chain.mine(TEMPO)
    assert s.advance_epoch(netuid, owner) == 3
    return chain, dep, s, netuid, owner, validators, miners
