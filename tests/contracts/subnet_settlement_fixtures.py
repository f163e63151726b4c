"""Shared helpers for the ``SubnetSettlement`` tests: the stake token, the registry and the
settlement deployed on a pinned chain (the registry's owner names the settlement its settler), one
subnet of 3 validators and 3 miners whose hotkeys have fixed keys (so that they sign EIP-712
``EpochResult``s), stakes, an emission rate, a funded pool, and many epochs already advanced.

The books this file's users check:

    settlement's token balance == sum of the pools + sum over posted, non-rejected results of
                                  (total - paid)
    registry's token balance   == sum of the hotkeys' stakes

Not a test module: ``test_subnet_settlement_stateful`` imports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import boa
import coincurve
from data_fixtures import MAX_UINT256, ROOT, account, chain_id
from eth_account import Account
from subnet_fixtures import ONE, SubnetWorld, block_number, deploy_subnets, mine

from agora.subnet.settlement import EpochClaim, epoch_digest, settlement_domain

SETTLEMENT_PATH = ROOT / "contracts/subnet/SubnetSettlement.vy"
SETTLEMENT = boa.load_partial(str(SETTLEMENT_PATH))
VERIFIER = boa.load_partial(str(ROOT / "contracts/subnet/SubnetVerifier.vy"))

WINDOW = 3_600  # the challenge window (seconds)
TEMPO = 3
IMMUNITY = 20  # blocks: the first epochs see every UID immune
EPOCHS = 40
EMISSION = 100 * ONE
POOL = 6 * EMISSION
STAKES = (800 * ONE, 400 * ONE, 600 * ONE)  # validators 0 and 1: exactly 2/3 of the permitted stake
MIN_BURN = ONE
MAX_BURN = 10 * ONE

__all__ = [
    "EMISSION",
    "EPOCHS",
    "IMMUNITY",
    "POOL",
    "SETTLEMENT",
    "STAKES",
    "TEMPO",
    "WINDOW",
    "SettlementWorld",
    "deploy_settlement",
    "raw_sig",
    "settlement_lab",
]


def raw_sig(key: bytes, digest: bytes) -> tuple[int, bytes, bytes]:
    """The contract's ``Signature`` (v, r, s) of ``digest`` by ``key`` (low s, as libsecp256k1 signs)."""
    sig = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    return sig[64] + 27, sig[:32], sig[32:64]


@dataclass(repr=False)
class SettlementWorld:
    """The registry world, the settlement, one subnet and its neurons.

    ``hotkeys[i]`` / ``keys[i]`` / ``coldkeys[i]`` belong to UID ``i``: UIDs 0..2 are the
    validators, 3..5 the miners. ``burned`` is what the registrations burnt."""

    w: SubnetWorld
    s: object
    netuid: int
    subnet_owner: str
    hotkeys: list
    keys: list
    coldkeys: list
    staker: str
    burned: int
    domain: object = None
    sig_cache: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"SettlementWorld(settlement={self.s.address})"

    @property
    def token(self):
        return self.w.token

    @property
    def reg(self):
        return self.w.reg

    def digest(self, epoch: int, claim: EpochClaim) -> bytes:
        return epoch_digest(self.domain, self.netuid, epoch, claim)

    def sign(self, key: bytes, epoch: int, claim: EpochClaim) -> tuple[int, bytes, bytes]:
        k = (key, epoch, claim)
        if k not in self.sig_cache:
            self.sig_cache[k] = raw_sig(key, self.digest(epoch, claim))
        return self.sig_cache[k]

    def signatures(self, epoch: int, claim: EpochClaim, keys: Sequence[bytes]) -> list:
        """Signatures by ``keys``, in ascending order of signer (as ``post_epoch`` wants them)."""
        pairs = sorted(((_address(k), k) for k in keys), key=lambda p: int(p[0], 16))
        return [self.sign(k, epoch, claim) for _, k in pairs]


@cache
def _address(key: bytes) -> str:
    return Account.from_key(key).address


def deploy_settlement(prefix: str = "ss") -> SettlementWorld:
    """Token, registry and settlement; a subnet (tempo ``TEMPO``, immunity ``IMMUNITY`` blocks, 3
    permits) with validators 0..2 (stakes ``STAKES``: 0 and 1 hold exactly 2/3 until epoch 20) and
    miners 3..5 (miner 5 registers at epoch 8, so the epochs before it cover 5 UIDs),
    validator 2's stake raised by 1,000 at epoch 20 and miner 3 staked 2,000 at epoch 30 (so it takes
    validator 1's permit), the emission rate ``EMISSION`` and a pool of ``POOL``; ``EPOCHS`` epochs."""
    w = deploy_subnets(set_settler=False)
    with boa.env.prank(w.owner):
        verifier = VERIFIER.deploy()
        s = SETTLEMENT.deploy(w.token.address, w.reg.address, WINDOW, verifier.address)
        w.reg.set_settler(s.address)
    owner = w.fund(account(f"{prefix}-subnet-owner").address, 10**27)
    with boa.env.prank(owner):
        w.token.approve(s.address, MAX_UINT256)
    staker = w.fund(account(f"{prefix}-staker").address, 10**27)
    accts = [account(f"{prefix}-hotkey-{i}") for i in range(6)]
    hotkeys = [a.address for a in accts]
    keys = [bytes(a.key) for a in accts]
    coldkeys = [w.fund(account(f"{prefix}-coldkey-{i}").address, 10**24) for i in range(6)]
    netuid = w.subnet(
        owner,
        tempo=TEMPO,
        max_uids=8,
        immunity=IMMUNITY,
        min_burn=MIN_BURN,
        max_burn=MAX_BURN,
        max_allowed_validators=3,
        activity_cutoff=10_000,
    )
    burned = 0

    def register(i: int) -> None:
        nonlocal burned
        burned += w.reg.current_burn(netuid)
        assert w.register(coldkeys[i], netuid, hotkeys[i]) == i

    for i in range(5):
        register(i)
    for i, amount in enumerate(STAKES):
        w.stake(staker, netuid, hotkeys[i], amount)
    with boa.env.prank(owner):
        s.set_emission(netuid, EMISSION)
        s.fund(netuid, POOL)
    for e in range(1, EPOCHS + 1):
        mine(TEMPO)
        assert w.act(owner, w.reg.advance_epoch, netuid) == e
        mine(1)  # stakes are frozen in the block of an epoch
        if e == 8:
            register(5)
        elif e == 20:
            w.stake(staker, netuid, hotkeys[2], 1_000 * ONE)
        elif e == 30:
            w.stake(staker, netuid, hotkeys[3], 2_000 * ONE)
    mine(1)
    world = SettlementWorld(
        w=w,
        s=s,
        netuid=netuid,
        subnet_owner=owner,
        hotkeys=hotkeys,
        keys=keys,
        coldkeys=coldkeys,
        staker=staker,
        burned=burned,
    )
    world.domain = settlement_domain(chain_id(), s.address)
    # the EIP-712 domain the contract reports is the one the Python digests use
    assert s.eip712Domain()[1:5] == ("Agora SubnetSettlement", "1", chain_id(), s.address)
    assert block_number() > w.reg.epoch_block(netuid, EPOCHS)
    return world


@contextmanager
def settlement_lab() -> Iterator[SettlementWorld]:
    """A world in an environment of its own (``SubnetWorld.gas`` resets boa's warm slots, which
    breaks the journal an anchor holds on to)."""
    with boa.swap_env(boa.Env()):
        yield deploy_settlement("ss-gas")
