"""A ``Tournament`` on AGR, for the unit and the stateful tests, and the off-chain half of its
settlement: commitments, and settlement trees built with ``agora.chain.merkle`` exactly as the
contract checks them (digest = keccak256(abi_encode(account, amount)), leaf i = submission i).

Not a test module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import boa
from data_fixtures import DAY, TOKEN, now, pin_chain
from eth_abi import encode
from eth_utils import keccak

from agora.chain.merkle import merkle_proof, merkle_root

ROOT = Path(__file__).resolve().parents[2]
TOURNAMENT_PATH = ROOT / "contracts/value/Tournament.vy"
SETTLEMENT_PATH = ROOT / "contracts/common/settlement.vy"
HARNESS_PATH = Path(__file__).resolve().parent / "mocks/SettlementHarness.vy"

TOURNAMENT = boa.load_partial(str(TOURNAMENT_PATH))
HARNESS = boa.load_partial(str(HARNESS_PATH))

WINDOW = DAY            # challenge window
MIN_BOND = 10**18
BAND_BPS = 500
BPS = 10_000
ONE = 10**18
MAX_UINT256 = 2**256 - 1

# submission states, as `Tournament.submission` reports them
COMMITTED, REVEALED, CLAIMED, REFUNDED, BURNED = 1, 2, 3, 4, 5


def key_of(round_id: int) -> bytes:
    """The settlement key of a round: its id as bytes32."""
    return round_id.to_bytes(32, "big")


def prediction_commit(round_id: int, who, cid: bytes, salt: bytes) -> bytes:
    return keccak(encode(["uint256", "address", "bytes32", "bytes32"], [round_id, str(who), cid, salt]))


def targets_commit(cid: bytes, salt: bytes) -> bytes:
    return keccak(encode(["bytes32", "bytes32"], [cid, salt]))


def leaf_digest(who, amount: int) -> bytes:
    return keccak(encode(["address", "uint256"], [str(who), amount]))


@dataclass
class Tree:
    """A settlement tree over leaves ``(account, amount)``, in leaf-index order."""

    leaves: list
    digests: list = field(init=False)

    def __post_init__(self) -> None:
        self.digests = [leaf_digest(a, amt) for a, amt in self.leaves]

    @property
    def root(self) -> bytes:
        return merkle_root(self.digests)

    @property
    def total(self) -> int:
        return sum(amt for _, amt in self.leaves)

    def proof(self, index: int) -> list:
        return merkle_proof(self.digests, index)


def band_amount(stake: int, bps: int) -> int:
    """What a model with `stake` gets back for a payout of `bps` (clipped to +-5%), rounded toward the stake."""
    bps = max(-BAND_BPS, min(BAND_BPS, bps))
    delta = stake * abs(bps) // BPS
    return stake + delta if bps >= 0 else stake - delta


def settlement(subs: list, payouts: dict) -> tuple:
    """The honest settlement of a round: ``subs`` is ``[(account, stake, revealed)]`` in index
    order, ``payouts`` maps an account to its payout in basis points. Returns the tree, the pool
    used and the burn."""
    leaves, gains, burns = [], 0, 0
    for who, stake, revealed in subs:
        amount = band_amount(stake, payouts.get(who, 0)) if revealed else 0
        if revealed:
            gains += max(0, amount - stake)
            burns += max(0, stake - amount)
        leaves.append((who, amount))
    return Tree(leaves), gains, burns


@dataclass(repr=False)
class TournamentWorld:
    token: object
    t: object
    owner: str
    last_logs: list = field(default_factory=list)

    def act(self, who, fn, *args, **kwargs):
        with boa.env.prank(str(who)):
            out = fn(*args, **kwargs)
        self.last_logs = self.t.get_logs()
        return out

    def fund(self, who, amount: int = 10**24) -> None:
        with boa.env.prank(self.owner):
            self.token.transfer(str(who), amount)
        with boa.env.prank(str(who)):
            self.token.approve(self.t.address, MAX_UINT256)

    def new_round(self, creator, resolver, pool: int = 100 * ONE, threshold: int = 0, close: int = DAY,
                  reveal: int = 2 * DAY, resolution: int = 10 * DAY, settle: int = 20 * DAY) -> int:
        """A round whose times are offsets from now."""
        t0 = now()
        return self.act(creator, self.t.create_round, t0 + close, t0 + reveal, t0 + resolution, t0 + settle,
                        str(resolver), pool, threshold)

    def goto(self, when: int) -> None:
        """Move the clock to `when` (never back)."""
        if when > now():
            boa.env.time_travel(seconds=when - now())


def deploy_tournament(window: int = WINDOW, min_bond: int = MIN_BOND) -> TournamentWorld:
    pin_chain()
    owner = boa.env.generate_address("tournament-owner")
    with boa.env.prank(owner):
        token = TOKEN.deploy(10**30)
        t = TOURNAMENT.deploy(token.address, window, min_bond)
    return TournamentWorld(token=token, t=t, owner=owner)


