"""Shared helpers for the value contract tests (``ModelRegistry`` + ``PaymentChannels`` + ``ModelPayee``).

Not a test module: the ``test_value_*`` modules import it. It compiles the
token, the registry, the payee implementation and the channel contract once, deploys them on a pinned
clock, registers models with revenue splits, funds and approves payers (who
have private keys, so they can sign EIP-2612 permits and EIP-712 cheques with
eth-account), signs cheques exactly as a wallet's ``eth_signTypedData_v4``
would, and checks that the money adds up:

    channels' token balance == sum over open channels of (deposit - claimed)
                               + sum(pot) + sum(balance_of)

(tokens sent to a model's payee are outside this sum until a ``sweep`` moves them into its pot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import boa
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak, to_checksum_address

from agora.chain.permits import permit_typed_data

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = ROOT / "contracts/token/AgoraToken.vy"
REGISTRY_PATH = ROOT / "contracts/value/ModelRegistry.vy"
CHANNELS_PATH = ROOT / "contracts/value/PaymentChannels.vy"
PAYEE_PATH = ROOT / "contracts/value/ModelPayee.vy"

# Compiled once per session (module import), deployed per test module.
TOKEN = boa.load_partial(str(TOKEN_PATH))
REGISTRY = boa.load_partial(str(REGISTRY_PATH))
CHANNELS = boa.load_partial(str(CHANNELS_PATH))
PAYEE = boa.load_partial(str(PAYEE_PATH))

ZERO = "0x0000000000000000000000000000000000000000"
ZERO32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1
MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1
MASK96 = (1 << 96) - 1
MAX_NONCE = MASK32                  # cheque nonces are 32-bit in the channel's word
BPS = 10_000
E18 = 10**18
SUPPLY = 10**30                     # > 2**96: a deposit can reach the 96-bit limit
MAX_DURATION = 366 * 86_400
MAX_SHARES = 8
MAX_LINKS = 32
MAX_BATCH = 64
MAX_WITHDRAW_MODELS = 32
#: secp256k1 group order, and the EIP-2 bound on s
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2

GENESIS_TIME = 1_800_000_000
DAY = 86_400

CHANNELS_NAME = "Agora PaymentChannels"
REGISTRY_NAME = "Agora ModelRegistry"
TOKEN_NAME = "Agora Token"

DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
CHEQUE_TYPES = {
    "EIP712Domain": DOMAIN_FIELDS,
    "Cheque": [
        {"name": "channelId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
    ],
}
NFT_PERMIT_TYPES = {
    "EIP712Domain": DOMAIN_FIELDS,
    "Permit": [
        {"name": "spender", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}

# A registry that calls every model id active: the only way to reach the channel
# contract's "model id too large" guard (the real registry counts ids from 1).
PERMISSIVE_REGISTRY_SOURCE = """
# pragma version ~=0.4.3
struct Share:
    recipient: address
    bps: uint256

@external
@view
def is_active(model_id: uint256) -> bool:
    return True

@external
@view
def payees(model_id: uint256) -> DynArray[Share, 8]:
    return [Share(recipient=msg.sender, bps=10000)]
"""


# A dataset registry as ModelRegistry sees one: an ERC-721 ``ownerOf`` that reverts for an id nobody
# holds (as the data layer's DataRegistry does), with a setter to create and move datasets.
DATASETS_SOURCE = """
# pragma version ~=0.4.3
owners: public(HashMap[uint256, address])

@external
def set_owner(token_id: uint256, owner: address):
    self.owners[token_id] = owner

@external
@view
def ownerOf(token_id: uint256) -> address:
    owner: address = self.owners[token_id]
    assert owner != empty(address), "Datasets: unknown dataset"
    return owner
"""


def pin_chain() -> None:
    """Fix the clock: ``registered_at`` and expiries become reproducible."""
    boa.env.evm.patch.timestamp = GENESIS_TIME


def now() -> int:
    return boa.env.evm.patch.timestamp


def chain_id() -> int:
    return boa.env.evm.patch.chain_id


def digest_of(text: str) -> bytes:
    return keccak(text=text)


def key_for(name: str) -> bytes:
    """A fixed private key per name (reproducible accounts)."""
    return keccak(text=f"agora-value-test:{name}")


def account(name: str):
    """An eth-account ``LocalAccount`` with a fixed key."""
    return Account.from_key(key_for(name))


def event_names(logs) -> list[str]:
    return [type(log).__name__ for log in logs]


def events(logs, name: str, address=None) -> list:
    return [
        log for log in logs
        if type(log).__name__ == name and (address is None or str(log.address) == str(address))
    ]


def revert_strings(path: Path, prefix: str) -> set[str]:
    """Every literal revert reason ``"<prefix>: ..."`` in a Vyper source."""
    return set(re.findall(rf'"({re.escape(prefix)}: [^"]+)"', path.read_text()))


def untested_reverts(path: Path, prefix: str, test_file: str, at_least: int) -> list[str]:
    """The revert reasons of ``path`` that ``test_file`` never quotes (there must be ``at_least``)."""
    reasons = revert_strings(path, prefix)
    assert len(reasons) >= at_least
    tests = Path(test_file).read_text()
    return sorted(r for r in reasons if f'"{r}"' not in tests)


# ----------------------------------------------------------------------------- EIP-712


def domain(name: str, contract, cid: int | None = None, version: str = "1") -> dict:
    return {
        "name": name, "version": version, "chainId": chain_id() if cid is None else cid,
        "verifyingContract": str(contract),
    }


def cheque_typed_data(contract, channel_id: int, nonce: int, amount: int, cid: int | None = None,
                      name: str = CHANNELS_NAME, version: str = "1") -> dict:
    """The full EIP-712 message of a cheque (what ``eth_signTypedData_v4`` takes)."""
    return {
        "types": CHEQUE_TYPES,
        "primaryType": "Cheque",
        "domain": domain(name, contract, cid, version),
        "message": {"channelId": channel_id, "nonce": nonce, "amount": amount},
    }


def cheque_hash(contract, channel_id: int, nonce: int, amount: int, cid: int | None = None) -> bytes:
    """eth-account's EIP-712 digest of a cheque (the reference the contract must match)."""
    return _hash_eip191_message(encode_typed_data(full_message=cheque_typed_data(contract, channel_id, nonce, amount,
                                                                                 cid)))


def sign_cheque(key, contract, channel_id: int, nonce: int, amount: int, cid: int | None = None,
                **kw) -> tuple[int, bytes, bytes]:
    """Sign a cheque with eth-account; return ``(v, r, s)`` as ``claim`` takes them."""
    sig = Account.sign_typed_data(key, full_message=cheque_typed_data(contract, channel_id, nonce, amount, cid, **kw))
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


def pack(channel_id: int, nonce: int, amount: int, v: int, r: bytes, s: bytes) -> tuple:
    """A ``PackedCheque`` for ``claim_many``: ``(channel id, amount << 32 | nonce, r, vs)`` with the
    EIP-2098 compact ``vs = (v - 27) << 255 | s``."""
    vs = ((v - 27) << 255) | int.from_bytes(s, "big")
    return (channel_id, (amount << 32) | nonce, r, vs.to_bytes(32, "big"))


def malleate(v: int, r: bytes, s: bytes) -> tuple[int, bytes, bytes]:
    """The high-s twin of a signature: same signer, other (v, s)."""
    return 55 - v, r, (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")


def sign_token_permit(key, token, spender, value: int, deadline: int, nonce: int | None = None):
    """An EIP-2612 permit of the token, signed with eth-account; ``(v, r, s)``."""
    owner = Account.from_key(key).address
    if nonce is None:
        nonce = token.nonces(owner)
    msg = permit_typed_data(domain(TOKEN_NAME, token.address), owner, str(spender), value, nonce, deadline)
    sig = Account.sign_typed_data(key, full_message=msg)
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


def sign_nft_permit(key, registry, spender, token_id: int, deadline: int, nonce: int | None = None):
    """An ERC-4494 permit of a model token, signed with eth-account; ``(v, r, s)``."""
    if nonce is None:
        nonce = registry.nonces(token_id)
    msg = {
        "types": NFT_PERMIT_TYPES,
        "primaryType": "Permit",
        "domain": domain(REGISTRY_NAME, registry.address),
        "message": {"spender": str(spender), "tokenId": token_id, "nonce": nonce, "deadline": deadline},
    }
    sig = Account.sign_typed_data(key, full_message=msg)
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


def channel_id_of(signer, model_id: int, seq: int) -> int:
    """A channel id as the contract builds it: signer(160) | model(64) | sequence(32)."""
    return (int(str(signer), 16) << 96) | (model_id << 32) | seq


#: EIP-1167: the creation code Vyper's ``create_minimal_proxy_to`` deploys, around the implementation
PROXY_LOADER = bytes.fromhex("602d3d8160093d39f3")
PROXY_PRE = bytes.fromhex("363d3d373d3d3d363d73")
PROXY_POST = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


def predicted_payee(channels, impl, model_id: int) -> str:
    """The CREATE2 address of a model's payee (deployer: the channels, salt: the model id), which
    is known before ``create_payee`` makes it."""
    init = PROXY_LOADER + PROXY_PRE + bytes.fromhex(str(impl)[2:]) + PROXY_POST
    raw = keccak(b"\xff" + bytes.fromhex(str(channels)[2:]) + model_id.to_bytes(32, "big") + keccak(init))[12:]
    return to_checksum_address(raw)


def split_parts(amount: int, bps: list[int]) -> list[int]:
    """The documented rounding rule: every share but the first gets floor(amount * bps / 10,000),
    the first gets the rest."""
    parts = [amount * b // BPS for b in bps]
    parts[0] = amount - sum(parts[1:])
    return parts


# ----------------------------------------------------------------------------- the world


@dataclass(repr=False)
class World:
    """One deployment (token, registry, payee implementation, channels) and the accounts that act on it."""

    token: object
    registry: object
    channels: object
    owner: str                                   # token deployer (holds the supply)
    payee_impl: object = None                    # the ModelPayee implementation the payees clone
    accounts: list = field(default_factory=list)  # every address the books look at
    channel_ids: list = field(default_factory=list)   # every channel opened (ids are not sequential)
    last_logs: list = field(default_factory=list)

    def __repr__(self) -> str:      # short: hypothesis prints it with every falsifying example
        return f"World(channels={self.channels.address}, {len(self.channel_ids)} channels)"

    def fork(self) -> World:
        return World(token=self.token, registry=self.registry, channels=self.channels, owner=self.owner,
                     payee_impl=self.payee_impl, accounts=list(self.accounts), channel_ids=list(self.channel_ids))

    # -------------------------------------------------------------- accounts

    def _remember(self, who) -> None:
        if str(who) not in [str(a) for a in self.accounts]:
            self.accounts.append(str(who))

    def fund(self, who, amount: int) -> None:
        with boa.env.prank(self.owner):
            self.token.transfer(who, amount)
        self._remember(who)

    def address(self, name: str) -> str:
        """A fresh (keyless) address, remembered for the books."""
        who = boa.env.generate_address(name)
        self._remember(who)
        return who

    def payer(self, name: str, amount: int = 10**24, approve: bool = True):
        """A funded account with a private key (``LocalAccount``), approved for the channels."""
        acct = account(name)
        if amount:
            self.fund(acct.address, amount)
        if approve:
            with boa.env.prank(acct.address):
                self.token.approve(self.channels.address, MAX_UINT256)
        self._remember(acct.address)
        return acct

    # -------------------------------------------------------------- calls

    def act(self, who, fn, *args, **kwargs):
        """Call ``fn`` as ``who``; keep the call's logs in ``last_logs``."""
        with boa.env.prank(str(who)):
            out = fn(*args, **kwargs)
        self.last_logs = fn.contract.get_logs() if hasattr(fn, "contract") else []
        return out

    def register(self, owner, split=None, card=None, weights=None, uri="ipfs://card", datasets=(), jobs=(),
                 parent=0) -> int:
        """Register a model as ``owner`` (default split: all to the owner)."""
        self._remember(owner)
        split = [(ZERO, BPS)] if split is None else split
        for recipient, _ in split:
            if recipient != ZERO:
                self._remember(recipient)
        n = self.registry.next_id()
        with boa.env.prank(str(owner)):
            model_id = self.registry.register(
                card or digest_of(f"card-{n}"), weights or digest_of(f"weights-{n}"), uri, list(datasets),
                list(jobs), [(str(r), b) for r, b in split], parent,
            )
        self.last_logs = self.registry.get_logs()
        return model_id

    def open(self, payer, model_id: int, deposit: int, expiry: int | None = None, signer=ZERO) -> int:
        expiry = now() + DAY if expiry is None else expiry
        with boa.env.prank(str(payer)):
            cid = self.channels.open(model_id, deposit, expiry, str(signer))
        self.last_logs = self.channels.get_logs()
        return self.track(cid)

    def track(self, channel_id: int) -> int:
        """Remember a channel for the books (``open`` does it; call it after a direct open)."""
        self.channel_ids.append(channel_id)
        return channel_id

    def cheque(self, key, channel_id: int, nonce: int, amount: int, **kw) -> tuple:
        """A signed cheque ``(channel_id, nonce, amount, v, r, s)``: the arguments of ``claim``."""
        return (channel_id, nonce, amount, *sign_cheque(key, self.channels.address, channel_id, nonce, amount, **kw))

    def packed(self, key, channel_id: int, nonce: int, amount: int, **kw) -> tuple:
        """A signed cheque packed as ``claim_many`` takes it (see :func:`pack`)."""
        return pack(*self.cheque(key, channel_id, nonce, amount, **kw))

    def claim(self, key, channel_id: int, nonce: int, amount: int, caller=None, **kw) -> int:
        v, r, s = sign_cheque(key, self.channels.address, channel_id, nonce, amount, **kw)
        with boa.env.prank(str(caller or self.owner)):
            out = self.channels.claim(channel_id, nonce, amount, v, r, s)
        self.last_logs = self.channels.get_logs()
        return out

    def create_payee(self, model_id: int, caller=None) -> str:
        """The model's payee (created by ``caller`` if it has none); its logs in ``last_logs``."""
        with boa.env.prank(str(caller or self.owner)):
            payee = self.channels.create_payee(model_id)
        self.last_logs = self.channels.get_logs()
        return payee

    def pay_payee(self, model_id: int, amount: int, payer=None) -> None:
        """A plain token transfer of ``amount`` to the model's payee (as an x402 ``exact`` payment's
        ``transferWithAuthorization`` ends), from ``payer`` (default: the owner)."""
        payee = self.channels.payee_of(model_id)
        assert payee != ZERO, "the model has no payee"
        with boa.env.prank(str(payer or self.owner)):
            self.token.transfer(payee, amount)

    def transfer_model(self, model_id: int, to) -> None:
        owner = self.registry.ownerOf(model_id)
        with boa.env.prank(str(owner)):
            self.registry.transferFrom(owner, str(to), model_id)
        self._remember(to)

    # -------------------------------------------------------------- the books

    def open_escrow(self) -> int:
        c = self.channels
        total = 0
        for i in self.channel_ids:
            _, _, _, deposit, claimed, _, expiry = c.channel(i)
            if expiry != 0:
                total += deposit - claimed
        return total

    def pots(self) -> int:
        return sum(self.channels.pot(m) for m in range(1, self.registry.next_id()))

    def balances(self) -> int:
        return sum(self.channels.balance_of(a) for a in self.accounts)

    def check_books(self) -> None:
        """The channel contract holds exactly the open escrow, the pots and the balances."""
        assert self.token.balanceOf(self.channels.address) == self.open_escrow() + self.pots() + self.balances()


def deploy_world(token=TOKEN, dataset_registry: str = ZERO) -> World:
    """Token (supply 1e30 to the owner), registry, payee implementation and channels on a pinned
    clock. ``token`` is the token's deployer (``deploy(initial_supply)``): AgoraToken, or a mock
    such as ``mock_tokens.FALSE_TOKEN``; ``dataset_registry`` the ERC-721 the model registry checks
    dataset ids against (zero: unchecked)."""
    pin_chain()
    owner = boa.env.generate_address("value-owner")
    with boa.env.prank(owner):
        token = token.deploy(SUPPLY)
        registry = REGISTRY.deploy(dataset_registry)
        payee_impl = PAYEE.deploy()
        channels = CHANNELS.deploy(token.address, registry.address, payee_impl.address)
    return World(token=token, registry=registry, channels=channels, owner=owner, payee_impl=payee_impl,
                 accounts=[owner])
