"""Client of the ``PaymentChannels`` contract: open, fund, claim, split, withdraw; the models' payees
(where plain token transfers to a model go) and their sweeps into the pots."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from agora.chain import Contract, Signer, TxReceipt, sign_permit
from agora.chain.eip712 import Domain
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment
from agora.value.cheques import Cheque, channels_domain

__all__ = [
    "ChannelIdParts",
    "ChannelInfo",
    "Channels",
    "ClosedChannel",
    "MAX_CLAIM_BATCH",
    "MAX_SWEEP_MODELS",
    "channel_signer_bytes",
    "decode_channel_id",
    "encode_channel_id",
    "parse_channel_id",
    "validate_closable",
]

#: Cheques per ``claim_many`` transaction (the contract's limit).
MAX_CLAIM_BATCH = 64
#: Models per ``sweep`` transaction (the contract's limit).
MAX_SWEEP_MODELS = 32
_ZERO_ADDRESS = "0x" + "00" * 20
_CHANNEL_SELECTOR = function_signature_to_4byte_selector("channel(uint256)")
_CHANNEL_TYPES = ["address", "address", "uint256", "uint256", "uint256", "uint256", "uint256"]

# The channel id's layout (PaymentChannels.vy): signer(160) | model(64) | sequence(32).
_SIGNER_SHIFT = 96
_MODEL_SHIFT = 32
_MODEL_MASK = 2**64 - 1
_SEQUENCE_MASK = 2**32 - 1


@dataclass(frozen=True)
class ChannelIdParts:
    """What a channel id carries: the cheques' signer, the model paid, the contract's sequence number."""

    signer: str
    model_id: int
    sequence: int


def encode_channel_id(signer: str, model_id: int, sequence: int) -> int:
    """The id the contract gives the ``sequence``-th channel, signed by ``signer``, to ``model_id``."""
    if not 0 <= model_id <= _MODEL_MASK:
        raise ValueError(f"model id {model_id} does not fit in 64 bits")
    if not 0 <= sequence <= _SEQUENCE_MASK:
        raise ValueError(f"sequence {sequence} does not fit in 32 bits")
    return (int(to_checksum_address(signer), 16) << _SIGNER_SHIFT) | (model_id << _MODEL_SHIFT) | sequence


def decode_channel_id(channel_id: int) -> ChannelIdParts:
    """The parts of a channel id (see :func:`encode_channel_id`)."""
    if not 0 <= channel_id < 2**256:
        raise ValueError(f"{channel_id} is not a 256-bit channel id")
    return ChannelIdParts(
        to_checksum_address(channel_signer_bytes(channel_id)),
        (channel_id >> _MODEL_SHIFT) & _MODEL_MASK,
        channel_id & _SEQUENCE_MASK,
    )


def channel_signer_bytes(channel_id: int) -> bytes:
    """The channel's signer as 20 raw bytes (no checksum: for the paid call's hot path)."""
    return (channel_id >> _SIGNER_SHIFT).to_bytes(20, "big")


def parse_channel_id(text: str) -> int:
    """A channel id written in decimal or ``0x`` hex; ConfigError if it is not one."""
    try:
        channel_id = int(text, 0)
    except ValueError:
        raise ConfigError(f"{text!r} is not a channel id") from None
    if not 0 <= channel_id < 2**256:
        raise ConfigError(f"{text!r} is not a channel id")
    return channel_id


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as the chain holds it."""

    id: int
    payer: str
    signer: str
    model_id: int
    deposit: int
    claimed: int
    nonce: int
    expiry: int  # 0 once closed

    @property
    def exists(self) -> bool:
        """False for an id never opened."""
        return self.deposit != 0 or self.expiry != 0

    @property
    def open(self) -> bool:
        """True until the payer closed it."""
        return self.expiry != 0

    @property
    def unclaimed(self) -> int:
        """Deposit not yet claimed."""
        return self.deposit - self.claimed

    @property
    def sequence(self) -> int:
        """The contract's sequence number of the channel (the low bits of its id)."""
        return decode_channel_id(self.id).sequence


@dataclass(frozen=True)
class ClosedChannel:
    """A channel the payer closed after its expiry, and what came back."""

    id: int
    payer: str
    refund: int
    tx: TxReceipt


def validate_closable(info: ChannelInfo, now: int, chain_id: int, *, label: str | None = None) -> None:
    """ConfigError unless the payer may close the channel now: it exists, is open and has expired
    (until its expiry the service may still claim). ``label`` names the channel in the error (as
    the user wrote its id, e.g. in hex); default: its id in decimal."""
    name = label if label is not None else str(info.id)
    if not info.exists:
        raise ConfigError(f"there is no open channel {name} on chain {chain_id} "
                          "(never opened, or already closed with nothing claimed)")
    if not info.open:
        raise ConfigError(f"channel {name} is already closed")
    if now <= info.expiry:
        raise ConfigError(f"channel {name} runs until {info.expiry} ({info.expiry - now} s from now); "
                          "the service may claim until then")


class Channels:
    """The payment-channel contract of one deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("channels")
        self.token: Contract = dep.token
        self.domain: Domain = channels_domain(self.chain.chain_id, self.contract.address)

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    # -- reads ----------------------------------------------------------------
    def fetch(self, channel_id: int) -> ChannelInfo:
        """The channel's state (one ``eth_call``; all zero for an unknown id)."""
        raw = self.chain.call_raw(self.contract.address, _CHANNEL_SELECTOR + encode(["uint256"], [channel_id]))
        payer, signer, model, deposit, claimed, nonce, expiry = decode(_CHANNEL_TYPES, raw)
        return ChannelInfo(
            channel_id, to_checksum_address(payer), to_checksum_address(signer), model, deposit, claimed, nonce, expiry
        )

    def get(self, channel_id: int) -> ChannelInfo:
        """Deprecated name of :meth:`fetch` (it reads the chain, so it is a ``fetch``); warns."""
        warnings.warn("Channels.get is deprecated; use Channels.fetch", DeprecationWarning, stacklevel=2)
        return self.fetch(channel_id)

    def find(self, payer: str, model_id: int) -> list[ChannelInfo]:
        """Every channel ``payer`` opened to ``model_id``, newest first (one ``eth_getLogs`` per
        5,000 blocks since the deployment, filtered by the node on the indexed payer and model)."""
        who = bytes.fromhex(to_checksum_address(payer)[2:]).rjust(32, b"\0")
        events = self.contract.get_events(
            "ChannelOpened", self.dep.block, where=[None, who, model_id.to_bytes(32, "big")]
        )
        ids = [int(e.args["channel_id"]) for e in events]
        return [self.fetch(i) for i in reversed(ids)]

    def pot(self, model_id: int) -> int:
        """Claimed revenue of ``model_id`` not yet split."""
        return int(self.contract.pot(model_id))

    def balance_of(self, address: str) -> int:
        """Split revenue ``address`` may withdraw."""
        return int(self.contract.balance_of(to_checksum_address(address)))

    # -- payer ------------------------------------------------------------------
    def open(
        self, model_id: int, deposit: int, expiry: int, sender: Signer, *, signer: str | None = None,
        permit: bool = False,
    ) -> tuple[int, TxReceipt]:
        """Open a channel to ``model_id`` with ``deposit``, until ``expiry`` (unix time).
        ``permit``: one transaction with an EIP-2612 permit instead of an approval."""
        key = to_checksum_address(signer) if signer else "0x" + "00" * 20
        if permit:
            _, name, version, chain_id, verifying, _, _ = self.token.eip712Domain()
            domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
            deadline = self.chain.timestamp() + 3_600
            nonce = int(self.token.nonces(sender.address))
            v, r, s = sign_permit(sender, domain, self.address, deposit, nonce, deadline)
            receipt = self.contract.open_with_permit(model_id, deposit, expiry, key, deadline, v, r, s, sender=sender)
        else:
            self._ensure_allowance(sender, deposit)
            receipt = self.contract.open(model_id, deposit, expiry, key, sender=sender)
        (event,) = self.contract.events_in(receipt, "ChannelOpened")
        return int(event.args["channel_id"]), receipt

    def top_up(self, channel_id: int, amount: int, sender: Signer) -> TxReceipt:
        """Add ``amount`` to the channel's deposit."""
        self._ensure_allowance(sender, amount)
        return self.contract.top_up(channel_id, amount, sender=sender)

    def extend(self, channel_id: int, expiry: int, sender: Signer) -> TxReceipt:
        """Move the channel's expiry to ``expiry``."""
        return self.contract.extend(channel_id, expiry, sender=sender)

    def close(self, channel_id: int, sender: Signer) -> TxReceipt:
        """After the expiry: take back what was never claimed."""
        return self.contract.close(channel_id, sender=sender)

    def close_expired(self, channel_id: int, sender: Signer, *, label: str | None = None) -> ClosedChannel:
        """Check the channel may be closed now (:func:`validate_closable`; ``label`` names it in
        the error), close it, and return the refund: one clear error instead of a revert."""
        info = self.fetch(channel_id)
        validate_closable(info, self.chain.timestamp(), self.chain.chain_id, label=label)
        receipt = self.close(channel_id, sender)
        (event,) = self.contract.events_in(receipt, "ChannelClosed")
        return ClosedChannel(channel_id, info.payer, int(event.args["refund"]), receipt)

    def _ensure_allowance(self, owner: Signer, amount: int) -> None:
        if int(self.token.allowance(owner.address, self.address)) < amount:
            self.token.approve(self.address, 2**256 - 1, sender=owner)

    # -- service ----------------------------------------------------------------
    def claim(self, cheque: Cheque, sender: Signer) -> TxReceipt:
        """Settle one cheque."""
        v, r, s = cheque.vrs()
        return self.contract.claim(cheque.channel_id, cheque.nonce, cheque.amount, v, r, s, sender=sender)

    def claim_many(self, cheques: list[Cheque], sender: Signer) -> list[TxReceipt]:
        """Settle many cheques, :data:`MAX_CLAIM_BATCH` per transaction, sorted by channel."""
        if not cheques:
            raise ConfigError("no cheques to claim")
        ordered = sorted(cheques, key=lambda c: c.channel_id)
        txs = [
            self.contract.claim_many.build([c.packed() for c in batch])
            for batch in (ordered[i : i + MAX_CLAIM_BATCH] for i in range(0, len(ordered), MAX_CLAIM_BATCH))
        ]
        return self.chain.sender(sender).send_many(txs)

    def distribute(self, model_id: int, sender: Signer) -> TxReceipt:
        """Split ``model_id``'s pot into its recipients' balances."""
        return self.contract.distribute(model_id, sender=sender)

    def withdraw(self, sender: Signer, model_ids: list[int] = ()) -> int:  # type: ignore[assignment]
        """Distribute ``model_ids``' pots, then pay ``sender`` its whole balance; return the amount."""
        receipt = self.contract.withdraw(list(model_ids), sender=sender)
        (event,) = self.contract.events_in(receipt, "Withdrawn")
        return int(event.args["amount"])

    # -- payees: plain transfers to a model (x402 ``exact``) ------------------------------
    def payee_of(self, model_id: int) -> str | None:
        """The model's payee, the address plain token transfers to it go to (its x402 ``exact``
        ``payTo``); None until :meth:`create_payee`. ConfigError on a deployment whose channel
        contract predates payees."""
        try:
            payee = to_checksum_address(self.contract.payee_of(model_id))
        except Reverted:
            raise ConfigError(
                f"the PaymentChannels contract at {self.address} on chain {self.chain.chain_id} predates "
                "model payees (plain-transfer payments)",
                hint="run `agora deploy --force` to deploy the current contracts",
            ) from None
        return None if payee == _ZERO_ADDRESS else payee

    def create_payee(self, model_id: int, sender: Signer) -> str:
        """The model's payee, created by a transaction from ``sender`` if it has none yet (the
        model must be active); an existing payee is returned without a transaction."""
        existing = self.payee_of(model_id)
        if existing is not None:
            return existing
        receipt = self.contract.create_payee(model_id, sender=sender)
        (event,) = self.contract.events_in(receipt, "PayeeCreated")
        return to_checksum_address(event.args["payee"])

    def sweep(self, model_ids: Sequence[int], sender: Signer) -> int:
        """Move what the models' payees hold into the models' pots (:data:`MAX_SWEEP_MODELS` per
        transaction); return the total swept. Models without a payee or whose payee holds nothing
        are left out, and when none is owed anything no transaction is sent."""
        owed = []
        for model_id in dict.fromkeys(model_ids):
            payee = self.payee_of(model_id)
            if payee is not None and int(self.token.balanceOf(payee)) > 0:
                owed.append(model_id)
        if not owed:
            return 0
        txs = [
            self.contract.sweep.build(owed[i : i + MAX_SWEEP_MODELS]) for i in range(0, len(owed), MAX_SWEEP_MODELS)
        ]
        receipts = self.chain.sender(sender).send_many(txs)
        return sum(int(e.args["amount"]) for r in receipts for e in self.contract.events_in(r, "Swept"))
