"""Shared helpers for the data contract tests (``DataRegistry`` + ``Datatoken``).

Not a test module: the ``test_data_*`` modules and ``bench/_data_gas.py`` import it. It
compiles the token, the datatoken implementation and the registry once, deploys them on a
pinned clock, publishes datasets, signs access-node quotes (EIP-712, with eth-account, as a
wallet's ``eth_signTypedData_v4`` would) and payment-token permits, and checks that the
money adds up:

    registry's balance of every token t == sum(pot[*][t]) + sum(earnings[*][t])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import boa
from eth_account import Account
from eth_utils import keccak

from agora.chain.permits import permit_typed_data

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = ROOT / "contracts/token/AgoraToken.vy"
REGISTRY_PATH = ROOT / "contracts/data/DataRegistry.vy"
DATATOKEN_PATH = ROOT / "contracts/data/Datatoken.vy"

TOKEN = boa.load_partial(str(TOKEN_PATH))
REGISTRY = boa.load_partial(str(REGISTRY_PATH))
DATATOKEN = boa.load_partial(str(DATATOKEN_PATH))

ZERO = "0x0000000000000000000000000000000000000000"
ZERO32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1
MASK96 = (1 << 96) - 1
BPS = 10_000
ONE = 10**18
SUPPLY = 10**30
MAX_SHARES = 8
MAX_PROTOCOL_FEE_BPS = 1_000
GENESIS_TIME = 1_800_000_000
DAY = 86_400
TOKEN_NAME = "Agora Token"
REGISTRY_NAME = "Agora DataRegistry"

QUOTE_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Quote": [
        {"name": "dataset", "type": "uint256"},
        {"name": "serviceId", "type": "uint256"},
        {"name": "consumer", "type": "address"},
        {"name": "provider", "type": "address"},
        {"name": "feeToken", "type": "address"},
        {"name": "fee", "type": "uint256"},
        {"name": "validUntil", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ],
}


def pin_chain() -> None:
    boa.env.evm.patch.timestamp = GENESIS_TIME


def now() -> int:
    return boa.env.evm.patch.timestamp


def chain_id() -> int:
    return boa.env.evm.patch.chain_id


def digest_of(text: str) -> bytes:
    return keccak(text=text)


def account(name: str):
    """An eth-account ``LocalAccount`` with a fixed key per name."""
    return Account.from_key(keccak(text=f"agora-data-test:{name}"))


def events(logs, name: str) -> list:
    return [log for log in logs if type(log).__name__ == name]


def split_parts(amount: int, bps: list[int]) -> list[int]:
    """The documented rounding rule: every share but the first gets floor(amount * bps / 10,000),
    the first gets the rest."""
    parts = [amount * b // BPS for b in bps]
    parts[0] = amount - sum(parts[1:])
    return parts


def quote_typed_data(registry, dataset: int, service_id: int, consumer, provider, fee_token, fee: int,
                     valid_until: int, nonce: int, cid: int | None = None) -> dict:
    return {
        "types": QUOTE_TYPES,
        "primaryType": "Quote",
        "domain": {"name": REGISTRY_NAME, "version": "1", "chainId": chain_id() if cid is None else cid,
                   "verifyingContract": str(registry.address)},
        "message": {
            "dataset": dataset, "serviceId": service_id, "consumer": str(consumer), "provider": str(provider),
            "feeToken": str(fee_token), "fee": fee, "validUntil": valid_until, "nonce": nonce,
        },
    }


#: The quote ``order`` takes when there is no provider fee: nothing signed, nothing checked.
FREE_QUOTE = (ZERO, ZERO, 0, 0, 0, 0, ZERO32, ZERO32)


def order_id_of(dataset: int, service_id: int, consumer, n: int = 1) -> int:
    """The id of the ``n``-th order of ``consumer`` for the service: the record key (the top 224
    bits of keccak256(abi_encode(dataset, service_id, consumer))) and then ``n``."""
    word = dataset.to_bytes(32, "big") + service_id.to_bytes(32, "big") + bytes(12) + bytes.fromhex(str(consumer)[2:])
    return (int.from_bytes(keccak(word), "big") >> 32 << 32) | n


def sign_quote(key, registry, dataset: int, service_id: int, consumer, fee_token=ZERO, fee: int = 0,
               valid_until: int | None = None, nonce: int = 1, provider=None, cid: int | None = None) -> tuple:
    """A ``Quote`` tuple as ``order`` takes it, signed by ``key`` (the provider is the key's address
    unless ``provider`` says otherwise, to forge one)."""
    signer = Account.from_key(key)
    provider = signer.address if provider is None else str(provider)
    valid_until = now() + 3600 if valid_until is None else valid_until
    msg = quote_typed_data(registry, dataset, service_id, consumer, provider, fee_token, fee, valid_until, nonce, cid)
    sig = Account.sign_typed_data(key, full_message=msg)
    return (provider, str(fee_token), fee, valid_until, nonce, sig.v, sig.r.to_bytes(32, "big"),
            sig.s.to_bytes(32, "big"))


def sign_token_permit(key, token, spender, value: int, deadline: int, nonce: int | None = None) -> tuple:
    owner = Account.from_key(key).address
    if nonce is None:
        nonce = token.nonces(owner)
    dom = {"name": TOKEN_NAME, "version": "1", "chainId": chain_id(), "verifyingContract": str(token.address)}
    msg = permit_typed_data(dom, owner, str(spender), value, nonce, deadline)
    sig = Account.sign_typed_data(key, full_message=msg)
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


@dataclass(repr=False)
class World:
    """One deployment (payment token, datatoken implementation, registry) and its accounts."""

    token: object
    registry: object
    impl: object
    owner: str                                   # deployer: token supply, contract owner, fee recipient
    accounts: list = field(default_factory=list)
    tokens: list = field(default_factory=list)   # every payment token the books look at
    last_logs: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"World(registry={self.registry.address})"

    def remember(self, who) -> None:
        if str(who) not in [str(a) for a in self.accounts]:
            self.accounts.append(str(who))

    def fund(self, who, amount: int = 10**24, token=None, approve: bool = True) -> None:
        token = token or self.token
        with boa.env.prank(self.owner):
            token.transfer(str(who), amount)
        if approve:
            with boa.env.prank(str(who)):
                token.approve(self.registry.address, MAX_UINT256)
        self.remember(who)

    def datatoken(self, dataset: int):
        return DATATOKEN.at(self.registry.datatoken_of(dataset))

    def publish(self, owner, split=None, timeout: int = DAY, price: int = ONE, token=None, cap: int = 0,
                supply: int = 0, card=None, content=None, name: str = "Data", symbol: str = "DT") -> int:
        """Publish a dataset as ``owner`` (default: all to the owner, priced 1 token per datatoken)."""
        self.remember(owner)
        split = [(ZERO, BPS)] if split is None else split
        for recipient, _ in split:
            if recipient != ZERO:
                self.remember(recipient)
        token = self.token if token is None else token
        token_addr = ZERO if token == ZERO else str(token.address)
        n = self.registry.dataset_count() + 1
        with boa.env.prank(str(owner)):
            dataset = self.registry.publish(
                card or digest_of(f"card-{n}"), content or digest_of(f"content-{n}"),
                [(str(r), b) for r, b in split], timeout, name, symbol, supply, (token_addr, price, cap),
            )
        self.last_logs = self.registry.get_logs()
        return dataset

    def act(self, who, fn, *args, **kwargs):
        with boa.env.prank(str(who)):
            out = fn(*args, **kwargs)
        self.last_logs = self.registry.get_logs()
        return out

    def check_books(self) -> None:
        """The registry holds, in every token, exactly the pots and the unwithdrawn earnings."""
        r = self.registry
        for t in self.tokens:
            pots = sum(r.pot(d, t.address) for d in range(1, r.dataset_count() + 1))
            owed = sum(r.earnings(a, t.address) for a in self.accounts)
            assert t.balanceOf(r.address) == pots + owed


def deploy_world(token=TOKEN) -> World:
    """Payment token (supply 1e30 to the deployer), datatoken implementation and registry."""
    pin_chain()
    owner = boa.env.generate_address("data-owner")
    with boa.env.prank(owner):
        token = token.deploy(SUPPLY)
        impl = DATATOKEN.deploy()
        registry = REGISTRY.deploy(impl.address)
    return World(token=token, registry=registry, impl=impl, owner=owner, accounts=[owner], tokens=[token])
