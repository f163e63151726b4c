"""Shared helpers for the compute contract tests (``ProviderRegistry`` + ``ComputeMarket``).

Not a test module: the three ``test_compute_*`` modules import it. It deploys
the token, the registry and the market on a pinned chain (fixed timestamp and
block hashes, so every draw is reproducible), registers providers, posts jobs,
commits and reveals, and checks that the money adds up:

* market token balance == sum of open escrows + sum of ``owed``;
* registry token balance == sum of (stake + unbonding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import boa
from eth_abi import encode
from eth_utils import keccak

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = ROOT / "contracts/token/AgoraToken.vy"
REGISTRY_PATH = ROOT / "contracts/compute/ProviderRegistry.vy"
MARKET_PATH = ROOT / "contracts/compute/ComputeMarket.vy"

# Compiled once per session (module import), deployed per test module.
TOKEN = boa.load_partial(str(TOKEN_PATH))
REGISTRY = boa.load_partial(str(REGISTRY_PATH))
MARKET = boa.load_partial(str(MARKET_PATH))

ZERO = "0x0000000000000000000000000000000000000000"
ZERO32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1
MASK96 = (1 << 96) - 1
MASK80 = (1 << 80) - 1
MASK16 = (1 << 16) - 1
BPS = 10_000
E18 = 10**18

SUPPLY = 10**30
MIN_STAKE = 100 * E18
UNBOND_DELAY = 7 * 86400
MIN_FEE = 10**16
FEE_BPS = 250
SLASH_BPS = 2000
HARMED_BPS = 5000
COMMIT_WINDOW = 600
REVEAL_WINDOW = 600
MAX_REPLACEMENTS = 2
REP_START = 5_000

STAKE = 200 * E18
PRICE = 10**15          # every provider's asking price per unit
UNITS = 10
PAY = UNITS * PRICE     # pay per execution of a default job
DURATION = 3600

NONE, AUDIT, REPLICATE, DIRECT = 0, 1, 2, 3
(ST_NONE, ST_ASSIGNED, ST_COMMITTED, ST_REVEALING, ST_AUDIT_COMMIT, ST_AUDIT_REVEAL,
 ST_TIE_COMMIT, ST_TIE_REVEAL, ST_SETTLED, ST_REFUNDED) = range(10)

GENESIS_TIME = 1_800_000_000
MODEL = keccak(text="model")
INPUT = keccak(text="input")
GOOD = keccak(text="good result")
BAD = keccak(text="bad result")
OTHER = keccak(text="third result")
RESULT_CID = keccak(text="result blob")

def pin_chain() -> None:
    """Fix the timestamp and the 256 previous block hashes: draws become reproducible.

    boa's genesis hash depends on the wall clock, and the market seeds its draws with
    ``blockhash(block.number - 1)``; without this, assignments change from run to run.
    """
    boa.env.evm.patch.timestamp = GENESIS_TIME
    boa.env.evm.patch.prev_hashes = [keccak(i.to_bytes(32, "big")) for i in range(256)]


def now() -> int:
    return boa.env.evm.patch.timestamp


def block_number() -> int:
    return boa.env.evm.patch.block_number


def next_block() -> None:
    boa.env.time_travel(blocks=1)


def event_names(logs) -> list[str]:
    return [type(log).__name__ for log in logs]


def events(logs, name: str) -> list:
    return [log for log in logs if type(log).__name__ == name]


def salt_for(job_id: int, who) -> bytes:
    return keccak(encode(["uint256", "address", "string"], [job_id, str(who), "salt"]))


def commitment(job_id: int, who, digest: bytes, salt: bytes) -> bytes:
    return keccak(encode(["uint256", "address", "bytes32", "bytes32"], [job_id, str(who), digest, salt]))


def spec(
    kind=0, units=UNITS, items=1, price=PRICE, policy=NONE, param=0, duration=DURATION, model=MODEL, inp=INPUT,
) -> tuple:
    """A JobSpec tuple: (kind, model, input, units, items, price_per_unit, policy, param, duration)."""
    return (kind, model, inp, units, items, price, policy, param, duration)


def revert_strings(path: Path) -> set[str]:
    """Every literal revert reason (``assert ..., "x"`` and ``raise "x"``) in a Vyper source."""
    text = path.read_text()
    return set(re.findall(r'"((?:ProviderRegistry|ComputeMarket): [^"]+)"', text))


@dataclass
class World:
    """One deployment and the accounts that act on it."""

    token: object
    registry: object
    market: object
    owner: str
    treasury: str
    providers: list = field(default_factory=list)
    requesters: list = field(default_factory=list)
    extra_accounts: list = field(default_factory=list)
    last_logs: list = field(default_factory=list)

    def fork(self) -> World:
        """A copy with its own Python-side lists (the chain is rolled back by an anchor)."""
        return World(
            token=self.token, registry=self.registry, market=self.market, owner=self.owner,
            treasury=self.treasury, providers=list(self.providers), requesters=list(self.requesters),
            extra_accounts=list(self.extra_accounts),
        )

    # -------------------------------------------------------------- accounts

    @property
    def accounts(self) -> list:
        seen = []
        for a in [self.owner, self.treasury, *self.providers, *self.requesters, *self.extra_accounts]:
            if a not in seen:
                seen.append(a)
        return seen

    def fund(self, who, amount: int) -> None:
        with boa.env.prank(self.owner):
            self.token.transfer(who, amount)

    def new_account(self, name: str, amount: int = 0):
        who = boa.env.generate_address(name)
        if amount:
            self.fund(who, amount)
        self.extra_accounts.append(who)
        return who

    def add_provider(self, name: str, stake=STAKE, price=PRICE, kinds=1, metadata=None):
        """Fund, approve and register a provider; returns its address."""
        who = boa.env.generate_address(name)
        self.fund(who, 10 * stake + 1000 * E18)
        with boa.env.prank(who):
            self.token.approve(self.registry.address, MAX_UINT256)
            self.registry.register(kinds, price, stake, metadata or keccak(text=name))
        self.providers.append(who)
        return who

    def add_requester(self, name: str, amount=10**24):
        who = boa.env.generate_address(name)
        self.fund(who, amount)
        with boa.env.prank(who):
            self.token.approve(self.market.address, MAX_UINT256)
        self.requesters.append(who)
        return who

    # -------------------------------------------------------------- actions

    def act(self, who, fn, *args, **kwargs):
        """Call ``fn`` as ``who`` and keep the call's logs in ``last_logs``."""
        with boa.env.prank(who):
            out = fn(*args, **kwargs)
        self.last_logs = self.market.get_logs()
        return out

    def post(self, requester=None, **kw) -> int:
        requester = requester or self.requesters[0]
        return self.act(requester, self.market.post, spec(**kw))

    def job(self, job_id: int):
        return self.market.job(job_id)

    def assignees(self, job_id: int) -> list:
        return list(self.market.job(job_id).providers)

    def commit(self, job_id: int, who, digest: bytes = GOOD) -> None:
        c = commitment(job_id, who, digest, salt_for(job_id, who))
        self.act(who, self.market.commit, job_id, c)

    def reveal(self, job_id: int, who, digest: bytes = GOOD, result: bytes = RESULT_CID) -> None:
        self.act(who, self.market.reveal, job_id, digest, result, salt_for(job_id, who))

    def timeout(self, job_id: int, caller=None) -> None:
        self.act(caller or self.owner, self.market.timeout, job_id)

    def open_audit(self, job_id: int, caller=None) -> None:
        self.act(caller or self.owner, self.market.open_audit, job_id)

    def rep(self, who) -> int:
        return self.registry.provider(who).reputation

    def stake(self, who) -> int:
        return self.registry.provider(who).stake

    def owed(self, who) -> int:
        return self.market.owed(who)

    def set_max_replacements(self, n: int) -> None:
        m = self.market
        with boa.env.prank(self.owner):
            m.set_params(
                m.min_fee(), m.fee_bps(), m.slash_bps(), m.harmed_bps(), m.commit_window(), m.reveal_window(), n
            )

    # -------------------------------------------------------------- the books

    def open_escrow(self) -> int:
        m = self.market
        return sum(m.job(i).escrow for i in range(1, m.job_count() + 1))

    def check_books(self) -> None:
        """The market holds exactly the open escrows plus what it owes; the registry exactly the stakes."""
        m, r, t = self.market, self.registry, self.token
        owed = sum(m.owed(a) for a in self.accounts)
        assert t.balanceOf(m.address) == self.open_escrow() + owed
        bonded = 0
        for a in self.accounts:
            p = r.provider(a)
            bonded += p.stake + p.unbonding
        assert t.balanceOf(r.address) == bonded


def deploy_world(n_providers: int = 5, n_requesters: int = 2, token=TOKEN, **market_params) -> World:
    """Token, registry (min stake 100, 7-day unbonding) and market (the brief's parameters),
    ``n_providers`` providers of kind 0 staking 200 at price ``PRICE``, requesters with 1e24.
    ``token`` is the token's deployer (``deploy(initial_supply)``): AgoraToken, or a mock
    such as ``mock_tokens.FALSE_TOKEN``."""
    pin_chain()
    owner = boa.env.generate_address("compute-owner")
    treasury = boa.env.generate_address("compute-treasury")
    params = dict(
        min_fee=MIN_FEE, fee_bps=FEE_BPS, slash_bps=SLASH_BPS, harmed_bps=HARMED_BPS,
        commit_window=COMMIT_WINDOW, reveal_window=REVEAL_WINDOW,
    )
    params.update(market_params)
    with boa.env.prank(owner):
        token = token.deploy(SUPPLY)
        registry = REGISTRY.deploy(token.address, MIN_STAKE, UNBOND_DELAY)
        market = MARKET.deploy(token.address, registry.address, treasury, *params.values())
        registry.set_market(market.address, True)
    w = World(token=token, registry=registry, market=market, owner=owner, treasury=treasury)
    for i in range(n_providers):
        w.add_provider(f"provider-{i}")
    for i in range(n_requesters):
        w.add_requester(f"requester-{i}")
    return w
