"""The ``DataRegistry`` client: datasets as ERC-721 tokens with ERC-20 datatokens, paid orders,
access-node quotes and the revenue split.

A quote is the EIP-712 message an access node signs to price one use of one dataset's
service for one consumer::

    Quote(uint256 dataset, uint256 serviceId, address consumer, address provider,
          address feeToken, uint256 fee, uint256 validUntil, uint256 nonce)

in the domain ``("Agora DataRegistry", "1", chain id, registry)``. The provider is the signer
and the fee's recipient; the dataset, service and consumer are signed, so a quote cannot be
used for another dataset, service or consumer (nor on another chain or registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from agora.chain import Contract, Signer, TxReceipt, sign_permit
from agora.chain.eip712 import DOMAIN_FIELDS, Domain, keccak256, recover_hash, type_hash, word
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment
from agora.storage import bytes32_to_cid, cid_digest

__all__ = [
    "MAX_SHARES",
    "MAX_SOURCES",
    "ONE",
    "OWNER",
    "QUOTE_FIELDS",
    "QUOTE_TYPES",
    "DataRegistry",
    "DatasetInfo",
    "OrderInfo",
    "Quote",
    "Share",
    "Source",
    "order_id_hex",
    "order_key",
    "parse_order_id",
    "quote_typed_data",
    "registry_domain",
    "sign_quote",
    "validate_split",
]

#: The split recipient that stands for "whoever owns the dataset token at payout".
OWNER = "0x" + "00" * 20
#: One whole datatoken in units: what an order spends.
ONE = 10**18
#: The most shares a split may have.
MAX_SHARES = 8
#: The most sources a dataset may name.
MAX_SOURCES = 8
_BPS = 10_000

#: The fields of the ``Quote`` struct, in signing order.
QUOTE_FIELDS: list[dict[str, str]] = [
    {"name": "dataset", "type": "uint256"},
    {"name": "serviceId", "type": "uint256"},
    {"name": "consumer", "type": "address"},
    {"name": "provider", "type": "address"},
    {"name": "feeToken", "type": "address"},
    {"name": "fee", "type": "uint256"},
    {"name": "validUntil", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
]
#: The full EIP-712 ``types`` object of a quote.
QUOTE_TYPES: dict[str, list[dict[str, str]]] = {"EIP712Domain": DOMAIN_FIELDS, "Quote": QUOTE_FIELDS}
_QUOTE_TYPEHASH = type_hash(QUOTE_FIELDS, "Quote")


def order_id_hex(order_id: int) -> str:
    """An order id as people and JSON see it: ``0x`` and 64 hex digits (ids are 256-bit: the
    record key of (dataset, service, consumer) and the order's number in that record)."""
    return f"0x{order_id:064x}"


def order_key(dataset: int, service_id: int, consumer: str) -> int:
    """The key of the order record of (dataset, service, consumer): the top 224 bits of
    ``keccak256(abi_encode(dataset, service_id, consumer))``, as the contract computes it. Every
    order id of that record is ``key << 32 | n``, so ``order_id >> 32 == key`` tells, without a
    chain call, that an order is for that dataset, service and consumer."""
    word = dataset.to_bytes(32, "big") + service_id.to_bytes(32, "big") + bytes(12) + bytes.fromhex(
        to_checksum_address(consumer)[2:])
    return int.from_bytes(keccak256(word), "big") >> 32


def parse_order_id(text: str | int) -> int:
    """An order id from ``0x``-hex (as printed) or decimal; ConfigError otherwise."""
    if isinstance(text, int):
        value = text
    else:
        raw = text.strip()
        try:
            value = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
        except ValueError:
            raise ConfigError(f"{text!r} is not an order id (0x and 64 hex digits, as `agora data order` prints "
                              "it)") from None
    if not 0 < value < 2**256:
        raise ConfigError(f"{text!r} is not an order id")
    return value


def registry_domain(chain_id: int, contract: str) -> Domain:
    """The EIP-712 domain of the ``DataRegistry`` at ``contract`` on ``chain_id``."""
    return Domain("Agora DataRegistry", "1", chain_id, contract)


@dataclass(frozen=True)
class Source:
    """What a dataset was made from: an id in a contract, and a digest of the evidence.

    Conventions (``docs/data.md``): a model version is ``(models registry, model id)``, a compute
    job ``(compute market, job id)``, a parent dataset ``(this registry, dataset id)``; ``evidence``
    is the 32-byte digest of a CIDv1 in storage (e.g. the paid calls' receipts), or zero bytes.
    """

    registry: str
    id: int
    evidence: bytes = bytes(32)

    def to_chain(self) -> tuple[str, int, bytes]:
        """The ``(contract, id, evidence)`` tuple the contract takes."""
        return to_checksum_address(self.registry), self.id, self.evidence

    def to_json(self) -> dict[str, Any]:
        """The source as JSON (the evidence as its CIDv1 when there is one)."""
        return {"registry": to_checksum_address(self.registry), "id": self.id,
                "evidence": bytes32_to_cid(self.evidence) if any(self.evidence) else None}


@dataclass(frozen=True)
class Share:
    """One entry of a revenue split: a recipient (:data:`OWNER`: the current owner) and basis points."""

    recipient: str
    bps: int

    def to_chain(self) -> tuple[str, int]:
        """The ``(address, bps)`` tuple the contract takes."""
        return to_checksum_address(self.recipient), self.bps


def validate_split(split: Sequence[Share]) -> None:
    """ConfigError unless the split is 1..8 distinct recipients with positive shares summing to 10,000."""
    if not 1 <= len(split) <= MAX_SHARES:
        raise ConfigError(f"a split has 1 to {MAX_SHARES} shares, not {len(split)}")
    if any(s.bps <= 0 for s in split):
        raise ConfigError("every share of a split must be above 0 basis points")
    if len({s.recipient.lower() for s in split}) != len(split):
        raise ConfigError("a split names each recipient once")
    if sum(s.bps for s in split) != _BPS:
        raise ConfigError(f"a split's shares sum to {_BPS} basis points, not {sum(s.bps for s in split)}")


@dataclass(frozen=True)
class Quote:
    """An access node's signed price for one use of a dataset's service by one consumer."""

    dataset: int
    service_id: int
    consumer: str
    provider: str
    fee_token: str
    fee: int
    valid_until: int
    nonce: int
    signature: bytes

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` of the quote (signature excluded)."""
        return _struct_hash(self.dataset, self.service_id, self.consumer, self.provider, self.fee_token, self.fee,
                            self.valid_until, self.nonce)

    def signer(self, domain: Domain) -> str | None:
        """Who signed it in ``domain`` (None if the signature is malformed)."""
        return recover_hash(domain.digest(self.struct_hash()), self.signature)

    @classmethod
    def free(cls, dataset: int, service_id: int, consumer: str) -> Quote:
        """No provider fee: an unsigned quote (the zero provider), which ``order`` takes without a
        signature check (cheaper by ~5,000 gas)."""
        return cls(dataset, service_id, to_checksum_address(consumer), OWNER, OWNER, 0, 0, 0, b"")

    @property
    def is_free(self) -> bool:
        """True for an unsigned quote without a fee (:meth:`free`)."""
        return not self.signature and self.fee == 0 and int(self.provider, 16) == 0

    def to_chain(self) -> tuple[str, str, int, int, int, int, bytes, bytes]:
        """The ``Quote`` tuple ``order`` takes: (provider, fee token, fee, valid until, nonce, v, r, s)."""
        if not self.signature:
            return (OWNER, to_checksum_address(self.fee_token), self.fee, self.valid_until, self.nonce, 0,
                    bytes(32), bytes(32))
        v = self.signature[64]
        return (
            to_checksum_address(self.provider), to_checksum_address(self.fee_token), self.fee, self.valid_until,
            self.nonce, v if v >= 27 else v + 27, self.signature[:32], self.signature[32:64],
        )

    @classmethod
    def from_json(cls, body: Any) -> Quote:
        """The quote from :meth:`to_json`'s form; ConfigError when it is not one."""
        try:
            if not isinstance(body, dict):
                raise TypeError
            sig = str(body.get("signature") or "0x")
            return cls(
                int(body["dataset"]), int(body.get("serviceId", 0)), to_checksum_address(str(body["consumer"])),
                to_checksum_address(str(body["provider"])), to_checksum_address(str(body["feeToken"])),
                int(body["fee"]), int(body["validUntil"]), int(body["nonce"]), bytes.fromhex(sig.removeprefix("0x")),
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError("not a fee quote: it needs dataset, serviceId, consumer, provider, feeToken, fee, "
                              "validUntil, nonce and signature") from None

    def to_json(self) -> dict[str, Any]:
        """The quote as JSON (decimal strings for the integers), as an access node hands it out."""
        return {
            "dataset": str(self.dataset), "serviceId": str(self.service_id), "consumer": self.consumer,
            "provider": self.provider, "feeToken": self.fee_token, "fee": str(self.fee),
            "validUntil": str(self.valid_until), "nonce": str(self.nonce), "signature": "0x" + self.signature.hex(),
        }


def _struct_hash(dataset: int, service_id: int, consumer: str, provider: str, fee_token: str, fee: int,
                 valid_until: int, nonce: int) -> bytes:
    return keccak256(
        _QUOTE_TYPEHASH + word(dataset) + word(service_id) + word(consumer) + word(provider) + word(fee_token)
        + word(fee) + word(valid_until) + word(nonce)
    )


def quote_typed_data(domain: Domain, dataset: int, service_id: int, consumer: str, provider: str, fee_token: str,
                     fee: int, valid_until: int, nonce: int) -> dict[str, Any]:
    """The quote as EIP-712 JSON ``{types, primaryType, domain, message}``: what a wallet signs."""
    return {
        "types": QUOTE_TYPES, "primaryType": "Quote", "domain": domain.to_json(),
        "message": {
            "dataset": dataset, "serviceId": service_id, "consumer": to_checksum_address(consumer),
            "provider": to_checksum_address(provider), "feeToken": to_checksum_address(fee_token), "fee": fee,
            "validUntil": valid_until, "nonce": nonce,
        },
    }


def sign_quote(signer: Signer, domain: Domain, dataset: int, service_id: int, consumer: str, *,
               valid_until: int, fee_token: str = OWNER, fee: int = 0, nonce: int = 0) -> Quote:
    """Sign a quote as the access node ``signer`` (the provider and fee recipient)."""
    consumer, fee_token = to_checksum_address(consumer), to_checksum_address(fee_token)
    digest = domain.digest(_struct_hash(dataset, service_id, consumer, signer.address, fee_token, fee, valid_until,
                                        nonce))
    return Quote(dataset, service_id, consumer, signer.address, fee_token, fee, valid_until, nonce,
                 signer.sign_hash(digest))


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's record on chain."""

    id: int
    owner: str
    card: bytes
    content_hash: bytes
    datatoken: str
    timeout: int
    payment_token: str
    price: int
    dispenser_cap: int
    market: str
    market_fee: int
    manager: str
    metadata_updater: str


@dataclass(frozen=True)
class OrderInfo:
    """What an order is for (its payer, service and fees are in its ``OrderStarted`` event)."""

    id: int
    dataset: int
    consumer: str
    expires: int  # 0: never


def _digest32(value: bytes | str, what: str) -> bytes:
    """32 bytes from raw bytes, ``0x``-hex, or a CID (its sha2-256 digest)."""
    if isinstance(value, bytes):
        raw = value
    elif value.startswith("0x"):
        raw = bytes.fromhex(value[2:])
    else:
        raw = cid_digest(value)
    if len(raw) != 32:
        raise ConfigError(f"the {what} is 32 bytes, not {len(raw)}")
    return raw


class DataRegistry:
    """Client of the ``DataRegistry`` contract of one deployment (role ``data_registry``)."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("data_registry")
        self.domain: Domain = registry_domain(self.chain.chain_id, self.contract.address)
        #: The receipt of the last transaction this client sent (``order`` returns only the id).
        self.last_receipt: TxReceipt | None = None

    @property
    def address(self) -> str:
        """The registry's address."""
        return self.contract.address

    def _erc20(self, address: str) -> Contract:
        token = self.dep.token
        return Contract(self.chain, "ERC20", to_checksum_address(address), token.abi)

    def _sent(self, receipt: TxReceipt) -> TxReceipt:
        self.last_receipt = receipt
        return receipt

    # -- publishing -----------------------------------------------------------------
    def publish(
        self, sender: Signer, *, card: bytes | str, content_hash: bytes | str, split: Sequence[Share] | None = None,
        timeout: int = 0, name: str = "", symbol: str = "", initial_supply: int = 0, payment_token: str | None = None,
        price: int = 0, dispenser_cap: int = 0,
    ) -> tuple[int, TxReceipt]:
        """Publish a dataset in one transaction; return its id. ``card`` is the card's CID (or its
        32-byte digest), ``split`` defaults to everything to the owner, ``payment_token`` to none
        (not for sale) unless ``price`` is set, then to the protocol token."""
        shares = list(split) if split is not None else [Share(OWNER, _BPS)]
        validate_split(shares)
        if len(name.encode()) > 32 or len(symbol.encode()) > 16:
            raise ConfigError("a datatoken's name is at most 32 bytes and its symbol at most 16")
        if payment_token is None:
            payment_token = self.dep.token.address if price else OWNER
        receipt = self.contract.publish(
            _digest32(card, "card digest"), _digest32(content_hash, "content hash"), [s.to_chain() for s in shares],
            timeout, name, symbol, initial_supply, (to_checksum_address(payment_token), price, dispenser_cap),
            sender=sender,
        )
        (event,) = self.contract.events_in(self._sent(receipt), "DatasetPublished")
        return int(event.args["dataset"]), receipt

    def update_metadata(self, dataset: int, card: bytes | str, content_hash: bytes | str, sender: Signer) -> TxReceipt:
        """Point the dataset at a new card and content (its owner or metadata updater)."""
        return self._sent(self.contract.update_metadata(
            dataset, _digest32(card, "card digest"), _digest32(content_hash, "content hash"), sender=sender,
        ))

    def set_roles(
        self, dataset: int, sender: Signer, *, manager: str = OWNER, metadata_updater: str = OWNER,
    ) -> TxReceipt:
        """Name the dataset's manager and metadata updater (its owner; cleared when the token moves)."""
        return self._sent(self.contract.set_roles(
            dataset, to_checksum_address(manager), to_checksum_address(metadata_updater), sender=sender,
        ))

    def set_price(self, dataset: int, sender: Signer, *, payment_token: str, price: int,
                  dispenser_cap: int = 0) -> TxReceipt:
        """Change the dataset's pricing (its owner or manager)."""
        return self._sent(self.contract.set_price(
            dataset, (to_checksum_address(payment_token), price, dispenser_cap), sender=sender,
        ))

    def set_market_fee(self, dataset: int, market: str, fee: int, sender: Signer) -> TxReceipt:
        """Set the fee each order pays the dataset's market (its owner or manager)."""
        return self._sent(self.contract.set_market_fee(dataset, to_checksum_address(market), fee, sender=sender))

    def set_sources(self, dataset: int, sources: Sequence[Source], sender: Signer) -> TxReceipt:
        """Record once what the dataset was made from (its owner): 1..8 sources."""
        if not 1 <= len(sources) <= MAX_SOURCES:
            raise ConfigError(f"a dataset names 1 to {MAX_SOURCES} sources, not {len(sources)}")
        return self._sent(self.contract.set_sources(dataset, [src.to_chain() for src in sources], sender=sender))

    def sources(self, dataset: int) -> list[Source]:
        """What the dataset was made from (empty when its owner named nothing)."""
        try:
            raw = self.contract.sources(dataset)
        except Reverted:
            raise ConfigError(f"there is no dataset {dataset} on chain {self.chain.chain_id}") from None
        return [Source(to_checksum_address(r), int(i), bytes(e)) for r, i, e in raw]

    def mint_datatokens(self, dataset: int, to: str, amount: int, sender: Signer) -> TxReceipt:
        """Mint datatokens of the dataset (its owner or manager)."""
        return self._sent(self.contract.mint_datatokens(dataset, to_checksum_address(to), amount, sender=sender))

    # -- reading --------------------------------------------------------------------
    def fetch(self, dataset: int) -> DatasetInfo:
        """The dataset's record; ConfigError if there is none."""
        try:
            raw = self.contract.dataset_info(dataset)
        except Reverted:
            raise ConfigError(f"there is no dataset {dataset} on chain {self.chain.chain_id}") from None
        (owner, card, content, datatoken, timeout, token, price, cap, market, market_fee, manager, updater) = raw
        return DatasetInfo(
            dataset, to_checksum_address(owner), bytes(card), bytes(content), to_checksum_address(datatoken),
            int(timeout), to_checksum_address(token), int(price), int(cap), to_checksum_address(market),
            int(market_fee), to_checksum_address(manager), to_checksum_address(updater),
        )

    def datatoken_of(self, dataset: int) -> str:
        """The dataset's datatoken address."""
        return to_checksum_address(self.contract.datatoken_of(dataset))

    def datatoken_balance(self, dataset: int, holder: str) -> int:
        """How many datatoken units ``holder`` has."""
        return int(self._erc20(self.datatoken_of(dataset)).balanceOf(to_checksum_address(holder)))

    def split(self, dataset: int) -> list[Share]:
        """The revenue split as published (:data:`OWNER` for the owner's share)."""
        return [Share(to_checksum_address(r), int(b)) for r, b in self.contract.split_of(dataset)]

    def owner_of(self, dataset: int) -> str:
        """Who owns the dataset token."""
        return to_checksum_address(self.contract.ownerOf(dataset))

    # -- buying and ordering ---------------------------------------------------------
    def _ensure_allowance(self, token: str, owner: Signer, amount: int) -> None:
        if amount == 0:
            return
        erc20 = self._erc20(token)
        if int(erc20.allowance(owner.address, self.address)) < amount:
            erc20.approve(self.address, 2**256 - 1, sender=owner)

    def buy(self, dataset: int, amount: int, sender: Signer, *, max_price: int | None = None) -> TxReceipt:
        """Buy ``amount`` datatoken units at the fixed price (approving the payment token if
        needed); ``max_price`` defaults to the price read now."""
        info = self.fetch(dataset)
        cost = (info.price * amount + ONE - 1) // ONE
        self._ensure_allowance(info.payment_token, sender, cost)
        return self._sent(self.contract.buy(dataset, amount, info.price if max_price is None else max_price,
                                            sender=sender))

    def dispense(self, dataset: int, amount: int, sender: Signer) -> TxReceipt:
        """Take free datatokens from the dataset's dispenser (up to its per-address cap)."""
        return self._sent(self.contract.dispense(dataset, amount, sender=sender))

    def sign_quote(self, node: Signer, dataset: int, service_id: int, consumer: str, *, valid_until: int,
                   fee_token: str = OWNER, fee: int = 0, nonce: int = 0) -> Quote:
        """A quote signed by the access node ``node`` in this registry's domain."""
        return sign_quote(node, self.domain, dataset, service_id, consumer, valid_until=valid_until,
                          fee_token=fee_token, fee=fee, nonce=nonce)

    def _order_fees(self, info: DatasetInfo, quote: Quote, *, with_price: bool) -> dict[str, int]:
        """What an order pulls from the payer, by token."""
        _, bps = self.protocol_fee()
        fees: dict[str, int] = {}
        if info.payment_token != OWNER:
            pay = info.price * bps // _BPS + info.market_fee + (info.price if with_price else 0)
            fees[info.payment_token] = pay
        if quote.fee:
            key = to_checksum_address(quote.fee_token)
            fees[key] = fees.get(key, 0) + quote.fee
        return fees

    def order(self, dataset: int, service_id: int, consumer: str, quote: Quote | None, sender: Signer) -> int:
        """Spend one datatoken of ``sender`` on an order for ``consumer`` (approving the fees'
        tokens if needed); return the order id (the receipt is :attr:`last_receipt`). ``quote``
        None: no provider fee (:meth:`Quote.free`)."""
        if quote is None:
            quote = Quote.free(dataset, service_id, consumer)
        for token, amount in self._order_fees(self.fetch(dataset), quote, with_price=False).items():
            self._ensure_allowance(token, sender, amount)
        receipt = self._sent(self.contract.order(dataset, service_id, to_checksum_address(consumer),
                                                 quote.to_chain(), sender=sender))
        return self._order_id(receipt)

    def buy_and_order(self, dataset: int, service_id: int, consumer: str, quote: Quote | None, sender: Signer, *,
                      max_price: int | None = None, deadline: int | None = None) -> int:
        """Buy one datatoken and order with it in one transaction, paying with an EIP-2612 permit
        of the payment token (no approval); a provider fee in another token still needs an
        allowance, approved here if missing. Return the order id. ``quote`` None: no provider fee."""
        if quote is None:
            quote = Quote.free(dataset, service_id, consumer)
        info = self.fetch(dataset)
        if info.payment_token == OWNER:
            raise ConfigError(f"dataset {dataset} is not for sale")
        fees = self._order_fees(info, quote, with_price=True)
        for token, amount in fees.items():
            if token != info.payment_token:
                self._ensure_allowance(token, sender, amount)
        erc20 = self._erc20(info.payment_token)
        _, tname, version, chain_id, verifying, _, _ = erc20.eip712Domain()
        domain = {"name": tname, "version": version, "chainId": chain_id, "verifyingContract": verifying}
        deadline = self.chain.timestamp() + 3_600 if deadline is None else deadline
        value = fees[info.payment_token]
        v, r, s = sign_permit(sender, domain, self.address, value, int(erc20.nonces(sender.address)), deadline)
        receipt = self._sent(self.contract.buy_and_order(
            dataset, service_id, to_checksum_address(consumer), quote.to_chain(),
            info.price if max_price is None else max_price, deadline, v, r, s, sender=sender,
        ))
        return self._order_id(receipt)

    def _order_id(self, receipt: TxReceipt) -> int:
        (event,) = self.contract.events_in(receipt, "OrderStarted")
        return int(event.args["order_id"])

    def order_valid(self, order_id: int, consumer: str) -> bool:
        """Whether the order lets ``consumer`` use its service now."""
        return bool(self.contract.order_valid(order_id, to_checksum_address(consumer)))

    def order_id_of(self, dataset: int, service_id: int, consumer: str) -> int:
        """The id of ``consumer``'s latest order of the service (0 if none, expired or not)."""
        return int(self.contract.order_id_of(dataset, service_id, to_checksum_address(consumer)))

    def order_info(self, order_id: int) -> OrderInfo:
        """The order's dataset, consumer and expiry; ConfigError for an unknown order."""
        try:
            dataset, consumer, expires = self.contract.order_info(order_id)
        except Reverted:
            raise ConfigError(f"there is no order {order_id} on chain {self.chain.chain_id}") from None
        return OrderInfo(order_id, int(dataset), to_checksum_address(consumer), int(expires))

    # -- revenue ----------------------------------------------------------------------
    def pot(self, dataset: int, token: str) -> int:
        """The dataset's sales in ``token`` not yet split."""
        return int(self.contract.pot(dataset, to_checksum_address(token)))

    def earnings(self, recipient: str, token: str) -> int:
        """What ``recipient`` may withdraw in ``token`` now (split shares and protocol fees)."""
        return int(self.contract.earnings(to_checksum_address(recipient), to_checksum_address(token)))

    def distribute(self, dataset: int, token: str, sender: Signer) -> TxReceipt:
        """Split the dataset's pot in ``token`` into its recipients' earnings."""
        return self._sent(self.contract.distribute(dataset, to_checksum_address(token), sender=sender))

    def withdraw(self, token: str, sender: Signer, *, datasets: Sequence[int] = ()) -> int:
        """Distribute ``datasets``' pots first, then withdraw ``sender``'s earnings in ``token``;
        return the amount paid (0, and no transaction, when there is nothing)."""
        for d in datasets:
            if self.pot(d, token):
                self.distribute(d, token, sender)
        amount = self.earnings(sender.address, token)
        if amount == 0:
            return 0
        self._sent(self.contract.withdraw(to_checksum_address(token), sender=sender))
        return amount

    def protocol_fee(self) -> tuple[str, int]:
        """The protocol fee's recipient and basis points (of a datatoken's price, per order)."""
        recipient, bps = self.contract.protocol_fee()
        return to_checksum_address(recipient), int(bps)

    def set_protocol_fee(self, recipient: str, bps: int, sender: Signer) -> TxReceipt:
        """Set the protocol fee (the contract owner only; at most 1,000 bps)."""
        return self._sent(self.contract.set_protocol_fee(to_checksum_address(recipient), bps, sender=sender))

    def transfer(self, dataset: int, to: str, sender: Signer) -> TxReceipt:
        """Transfer the dataset token (the pot is split first; roles are cleared)."""
        return self._sent(self.contract.transferFrom(sender.address, to_checksum_address(to), dataset, sender=sender))
