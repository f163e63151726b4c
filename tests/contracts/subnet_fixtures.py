"""Shared helpers for the ``SubnetRegistry`` tests: the stake token and the registry deployed on
a pinned chain, accounts with tokens and allowances, the weight commit hash, block mining, and
the books:

    registry's token balance == sum over (netuid, hotkey) of the hotkey's stake

Not a test module: ``test_subnet_registry`` and ``test_subnet_registry_stateful`` import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import boa
from data_fixtures import MAX_UINT256, ROOT, TOKEN, ZERO, account, events, pin_chain

from agora.subnet.subnets import weights_commit_hash

REGISTRY_PATH = ROOT / "contracts/subnet/SubnetRegistry.vy"
REGISTRY = boa.load_partial(str(REGISTRY_PATH))

SUPPLY = 2**130          # more than one pool may hold (2**128), to reach "stake too large"
ONE = 10**18
BPS = 10_000
U16_MAX = 65_535

__all__ = ["BPS", "ONE", "REGISTRY", "REGISTRY_PATH", "SUPPLY", "U16_MAX", "ZERO", "SubnetWorld", "account",
           "block_number", "commit_hash", "deploy_subnets", "events", "gas_lab", "mine"]


def commit_hash(netuid: int, hotkey: str, uids: Sequence[int], values: Sequence[int], salt: bytes) -> bytes:
    """The hash ``commit_weights`` takes and ``reveal_weights`` checks:
    ``keccak256(abi_encode(netuid, hotkey, uids, values, salt))`` (the SDK's own function)."""
    return weights_commit_hash(netuid, str(hotkey), uids, values, salt)


def mine(blocks: int = 1) -> None:
    """Moves the chain ``blocks`` blocks on (12 s each)."""
    boa.env.time_travel(blocks=blocks)


def block_number() -> int:
    return boa.env.evm.patch.block_number


@dataclass(repr=False)
class SubnetWorld:
    """The stake token and the registry, their owner and the settler."""

    token: object
    reg: object
    owner: str
    settler: str
    last_logs: list = field(default_factory=list)
    hotkeys: dict = field(default_factory=dict)       # netuid -> every hotkey ever registered

    def __repr__(self) -> str:
        return f"SubnetWorld(registry={self.reg.address})"

    def act(self, who, fn, *args, **kwargs):
        with boa.env.prank(str(who)):
            out = fn(*args, **kwargs)
        self.last_logs = self.reg.get_logs()
        return out

    def gas(self, who, fn, *args) -> int:
        """The gas of one call as a transaction: execution with every slot and account cold
        (boa keeps them warm across calls otherwise), plus the 21,000 base and the calldata
        (16 per non-zero byte, 4 per zero byte); refunds are not subtracted."""
        data = fn.prepare_calldata(*args)
        boa.env.evm.reset_access_counters()
        self.act(who, fn, *args)
        calldata = sum(16 if b else 4 for b in data)
        return fn.contract._computation.get_gas_used() + 21_000 + calldata

    def fund(self, who, amount: int = 10**24) -> str:
        who = str(who)
        with boa.env.prank(self.owner):
            self.token.transfer(who, amount)
        with boa.env.prank(who):
            self.token.approve(self.reg.address, MAX_UINT256)
        return who

    def subnet(self, who, tempo: int = 10, max_uids: int = 8, immunity: int = 0, min_burn: int = ONE,
               max_burn: int = 100 * ONE, **params) -> int:
        """A subnet created by ``who``; ``params`` override hyperparameters (through its owner)."""
        netuid = self.act(who, self.reg.create_subnet, tempo, max_uids, immunity, min_burn, max_burn)
        if params:
            self.set_params(who, netuid, **params)
        return netuid

    def set_params(self, who, netuid: int, **changes) -> None:
        p = self.reg.hyperparams(netuid)._asdict()
        p.update(changes)
        self.act(who, self.reg.set_hyperparams, netuid, tuple(p.values()))

    def register(self, coldkey, netuid: int, hotkey, max_burn: int = MAX_UINT256) -> int:
        uid = self.act(coldkey, self.reg.register, netuid, str(hotkey), max_burn)
        self.hotkeys.setdefault(netuid, []).append(str(hotkey))
        return uid

    def stake(self, staker, netuid: int, hotkey, amount: int) -> int:
        return self.act(staker, self.reg.add_stake, netuid, str(hotkey), amount)

    def check_books(self) -> None:
        """The registry holds exactly the stakes of every hotkey ever registered."""
        total = 0
        for netuid, keys in self.hotkeys.items():
            for h in set(keys):
                total += self.reg.hotkey_stake(netuid, h)[0]
        assert self.token.balanceOf(self.reg.address) == total


@contextmanager
def gas_lab() -> Iterator[SubnetWorld]:
    """A world in an environment of its own, without snapshots, where :meth:`SubnetWorld.gas`
    may reset boa's warm slots (that breaks the journal an anchor holds on to)."""
    with boa.swap_env(boa.Env()):
        yield deploy_subnets()


def deploy_subnets(set_settler: bool = True) -> SubnetWorld:
    """The stake token (supply 2**130 to the deployer) and a registry owned by the deployer."""
    pin_chain()
    owner = boa.env.generate_address("subnet-owner")
    settler = account("settler").address
    with boa.env.prank(owner):
        token = TOKEN.deploy(SUPPLY)
        reg = REGISTRY.deploy(token.address)
        if set_settler:
            reg.set_settler(settler)
    return SubnetWorld(token=token, reg=reg, owner=owner, settler=settler)
