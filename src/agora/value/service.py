"""The paid service: checks cheques locally, charges calls durably, signs receipts, claims.

Nothing here calls the chain on a paid call. Each channel's chain state
(deposit, expiry, signer, what was claimed) is cached and kept current from
the contract's events by :meth:`PaidService.sync`; a channel the node has never
seen is read once (one ``eth_call``) on its first cheque, and again only if a
cheque exceeds the cached deposit (the payer topped up) or a stale expiry.

Accounting per channel: ``spent`` is the sum of the charges of answered calls.
A call is admitted if its cheque is fresh (a nonce never used on the channel and
above the last claimed one), signed by the channel's signer in this contract's
EIP-712 domain, within the deposit, and if the best cheque seen so far covers
``spent`` + calls in flight + this call. So calls on one channel may run
concurrently and arrive out of order, and a replayed cheque buys nothing. The
charge and the cheque are stored in SQLite before the answer leaves. A claim
submits, per channel, the highest stored cheque whose amount is at most
``spent``: the service never claims more than it served.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agora.chain import Chain, Signer
from agora.chain.eip712 import Domain, recover_hash_bytes
from agora.chain.eip712 import keccak256 as keccak
from agora.chain.evidence import ReceiptBook
from agora.storage.state import StateLock, lock_state
from agora.value.channels import ChannelInfo, Channels, channel_signer_bytes
from agora.value.cheques import Cheque
from agora.value.ledger import Ledger
from agora.value.models import (
    ModelCard,
    ModelRegistry,
    fetch_weights,
    validate_card,
    validate_service_key,
    validate_weights,
)
from agora.value.receipts import Receipt, call_receipt, receipts_domain
from agora.value.x402 import PaymentError
from agora.workloads import Workload

if TYPE_CHECKING:
    from agora.context import Context

__all__ = ["ClaimResult", "PaidService", "Ticket", "ServiceStats", "build_paid_service", "claim_earned",
           "default_ledger_path"]
log = logging.getLogger("agora.value.service")


@dataclass
class _Channel:
    info: ChannelInfo
    spent: int = 0
    reserved: int = 0
    best: Cheque | None = None
    stored: list[Cheque] = field(default_factory=list)  # answered calls' cheques above the claimable one
    claimable: Cheque | None = None
    used: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def signer_bytes(self) -> bytes:
        """The channel's signer as 20 raw bytes (the channel id carries it)."""
        return channel_signer_bytes(self.info.id)

    def state(self) -> dict[str, Any]:
        best = self.best
        return {
            "id": str(self.info.id), "spent": str(self.spent), "deposit": str(self.info.deposit),
            "claimed": str(self.info.claimed), "expiry": self.info.expiry,
            "latestCheque": best.to_json() if best else None,
        }


@dataclass(frozen=True)
class Ticket:
    """An admitted call: its cheque and charge, reserved until :meth:`PaidService.commit` or
    :meth:`PaidService.release`."""

    channel: int
    cheque: Cheque
    charge: int
    payer: str


@dataclass
class ServiceStats:
    """Counters of one service (for logs, /health and the benchmark)."""

    calls: int = 0
    rejected: int = 0
    chain_reads: int = 0
    claims: int = 0
    claimed: int = 0


class PaidService:
    """Sells calls to one registered model over payment channels.

    Unless ``exclusive=False`` (a one-off claim beside a running server), it holds an exclusive
    lock next to its ledger (``<ledger_path>.lock``) from its creation to :meth:`close` (or its
    process's end): a second service on the same ledger raises
    :class:`~agora.storage.state.StateLocked` and changes nothing.
    """

    def __init__(
        self,
        *,
        chain: Chain,
        registry: ModelRegistry,
        channels: Channels,
        model_id: int,
        card: ModelCard,
        workload: Workload,
        model_bytes: bytes,
        signer: Signer,
        ledger_path: Path,
        claim_threshold: int | None = None,
        min_claim_interval_s: float = 60.0,
        expiry_margin_s: int = 120,
        durable: bool = False,
        exclusive: bool = True,
        anchor_interval_s: float = 60.0,
        anchor_batch: int = 4096,
    ) -> None:
        # one server per ledger: two would sell the same channels and claim each other's cheques
        self._lock: StateLock | None = None
        if exclusive:
            self._lock = lock_state(ledger_path, f"another server of model {model_id} is already running on "
                                                 f"the ledger {ledger_path}")
        self.chain = chain
        self.registry = registry
        self.channels = channels
        self.model_id = model_id
        self.card = card
        self.workload = workload
        self.model_bytes = model_bytes
        self.signer = signer
        self.weights_hash = bytes.fromhex(card.weights_hash[2:])
        self.domain: Domain = channels.domain
        self.receipt_domain: Domain = receipts_domain(chain.chain_id, registry.contract.address)
        #: claim once the unclaimed charges pass this (default: 100 calls' worth)
        self.claim_threshold = claim_threshold if claim_threshold is not None else max(card.price, 1) * 100
        #: and at most once per this many seconds unless a channel nears its expiry (or ``force``):
        #: a busy service sends one claim transaction a minute, not one per sync round
        self.min_claim_interval_s = min_claim_interval_s
        self._last_claim = -float("inf")  # time.monotonic() of the last claim sent
        #: the ledger fsyncs every paid call (see :class:`~agora.value.ledger.Ledger`)
        self.durable = durable
        #: refuse cheques on channels expiring within this margin, and claim before it
        self.expiry_margin_s = expiry_margin_s
        self.stats = ServiceStats()
        #: the signed receipts, kept until their batch's root is anchored (None: the deployment
        #: has no ``ReceiptAnchor``); anchored every ``anchor_interval_s`` or ``anchor_batch``
        #: receipts (the book's ``interval_s`` and ``batch``)
        self.book: ReceiptBook | None = None
        anchor_address = registry.dep.addresses.get("anchor")
        if anchor_address is not None:
            self.book = ReceiptBook(
                ledger_path.with_name(ledger_path.stem + "-receipts.sqlite"), registry.dep.contract("anchor"),
                signer.address, durable=durable, interval_s=anchor_interval_s, batch=anchor_batch,
            )
        self._chans: dict[int, _Channel] = {}
        self._chans_lock = threading.Lock()
        self._chain_lock = threading.RLock()  # the embedded chain is not thread-safe
        #: held around every chain access of this service (share it with what else uses the chain)
        self.chain_lock = self._chain_lock
        self._clock_offset = chain.timestamp() - int(time.time())  # kept up by sync()
        try:
            self.ledger = Ledger(ledger_path, durable=durable)
            self._restore()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    # -- startup -------------------------------------------------------------------
    def _restore(self) -> None:
        for row in self.ledger.load_channels():
            self._chans[row[0]] = _Channel(ChannelInfo(*row))
        for cid in self.ledger.channel_ids_with_calls():
            ch = self._chans.get(cid)
            if ch is None:
                ch = self._chans[cid] = _Channel(self._read_chain(cid))
            for cheque, charge in self.ledger.cheques(cid):
                ch.spent += charge
                ch.used.add(cheque.nonce)
                self._note_best(ch, cheque)
                ch.stored.append(cheque)
            self._advance_claimable(ch)

    def close(self) -> None:
        """Close the ledger (and let its lock go)."""
        self.ledger.close()
        if self.book is not None:
            self.book.close()
        if self._lock is not None:
            self._lock.release()

    # -- the paid call -------------------------------------------------------------
    def price_of(self, data: bytes) -> int:
        """What a call with input ``data`` costs (price × input items); WorkloadError if bad."""
        items = self.workload.units(data)
        if items > self.card.max_items:
            from agora.workloads import WorkloadError

            raise WorkloadError(f"a call takes at most {self.card.max_items} input items, got {items}")
        return self.card.price * items

    def items_in(self, price: int) -> int:
        """How many input items a call priced ``price`` holds (a free model's: at most ``max_items``)."""
        return price // self.card.price if self.card.price else self.card.max_items

    def needs_chain(self, cheque: Cheque) -> bool:
        """Whether admitting ``cheque`` may read the chain: its channel is new to this node, or
        its cached state may be stale (the channel near its expiry, or the cheque above the
        cached deposit). Otherwise :meth:`admit` is pure CPU."""
        ch = self._chans.get(cheque.channel_id)
        if ch is None:
            return True
        info = ch.info
        return info.open and (self.now() + self.expiry_margin_s >= info.expiry or cheque.amount > info.deposit)

    def admit(self, cheque: Cheque, charge: int) -> Ticket:
        """Check ``cheque`` pays for a call costing ``charge`` and reserve it; PaymentError if not.
        No chain access unless the channel is new to this node or its cached state is stale."""
        ch = self._channel(cheque.channel_id)
        with ch.lock:
            try:
                self._check(ch, cheque, charge)
            except PaymentError:
                self.stats.rejected += 1
                raise
            ch.used.add(cheque.nonce)
            ch.reserved += charge
            self._note_best(ch, cheque)
            return Ticket(ch.info.id, cheque, charge, ch.info.payer)

    def _check(self, ch: _Channel, q: Cheque, charge: int) -> None:
        info = ch.info
        if info.model_id != self.model_id:
            raise PaymentError(
                "wrong_model", f"channel {info.id} pays model {info.model_id}, not model {self.model_id}"
            )
        if q.nonce <= info.nonce or q.nonce in ch.used:
            raise PaymentError("cheque_replayed", f"cheque nonce {q.nonce} on channel {info.id} was already used")
        # the signature first: only the channel's signer can make the node read the chain below
        signer = recover_hash_bytes(q.digest(self.domain), q.signature)
        if signer is None or signer != ch.signer_bytes:
            raise PaymentError(
                "invalid_signature",
                f"the cheque is not signed by channel {info.id}'s signer for this chain and contract",
            )
        if not info.open:  # closing is final: no need to ask the chain again
            raise PaymentError("channel_closed", f"channel {info.id} is closed")
        now = self.now()
        if now + self.expiry_margin_s >= info.expiry:
            info = self._refresh(ch)  # maybe extended or closed since
            if not info.open:
                raise PaymentError("channel_closed", f"channel {info.id} is closed")
            if now + self.expiry_margin_s >= info.expiry:
                raise PaymentError(
                    "channel_expiring",
                    f"channel {info.id} expires at {info.expiry}, within {self.expiry_margin_s} s",
                    hint="extend the channel",
                )
        if q.amount > info.deposit:
            info = self._refresh(ch)  # maybe topped up since
            if q.amount > info.deposit:
                raise PaymentError(
                    "amount_above_deposit",
                    f"the cheque's total {q.amount} exceeds channel {info.id}'s deposit {info.deposit}",
                    hint="top up the channel",
                )
        best = ch.best
        if best is not None and q.amount > best.amount and q.nonce < best.nonce:
            raise PaymentError("nonce_not_rising", f"a cheque raising the total must have a nonce above {best.nonce}")
        need = ch.spent + ch.reserved + charge
        cover = max(q.amount, best.amount if best else 0)
        if cover < need:
            raise PaymentError(
                "insufficient_amount",
                f"the cheque's running total {q.amount} does not cover this call: at least {need} is needed",
            )

    def commit(self, ticket: Ticket, data: bytes, output: bytes) -> Receipt:
        """Record the answered call durably and return its signed receipt."""
        ch = self._chans[ticket.channel]
        now = self.now()  # the chain's clock: receipts are checked against block times
        with ch.lock:
            self.ledger.record_call(ticket.cheque, ticket.charge, now)
            ch.reserved -= ticket.charge
            ch.spent += ticket.charge
            ch.stored.append(ticket.cheque)
            self._advance_claimable(ch)
        return self.sign_receipt(
            data, output, amount=ticket.charge, payer=ticket.payer, channel_id=ticket.channel,
            nonce=ticket.cheque.nonce, time_=now,
        )

    def sign_receipt(
        self, data: bytes, output: bytes, *, amount: int, payer: str, channel_id: int, nonce: int,
        time_: int | None = None,
    ) -> Receipt:
        """Count one answered call and sign its receipt: ``channel_id`` and ``nonce`` name the
        payment (a cheque; or ``0`` and the EIP-3009 nonce for an ``exact`` payment)."""
        self.stats.calls += 1
        receipt = call_receipt(
            model_id=self.model_id, weights_hash=self.weights_hash, input_hash=keccak(data),
            output_hash=keccak(output), amount=amount, channel_id=channel_id, nonce=nonce, payer=payer,
            time=self.now() if time_ is None else time_, runner=self.signer.address,
        )
        # signed here rather than through sign_receipt: the digest is computed once for the
        # signature and the book (a paid call's hot path)
        digest = receipt.digest(self.receipt_domain)
        r = receipt
        signed = Receipt(r.kind, r.subject, r.item, r.weights_hash, r.input_hash, r.output_hash, r.runner, r.payer,
                         r.amount, r.payment, r.time, self.signer.sign_hash(digest))
        if self.book is not None:  # written with the next sync round (at once with a durable ledger)
            self.book.add(signed, self.receipt_domain, digest=digest, buffered=not self.durable)
        return signed

    def anchor(self, *, force: bool = False) -> int:
        """Anchor the receipts signed since the last batch (their Merkle root, one transaction)
        once ``anchor_batch`` wait or the oldest has waited ``anchor_interval_s`` (or ``force``);
        return how many were anchored now."""
        if self.book is None:
            return 0
        with self._chain_lock:
            return self.book.anchor_if_due(self.signer, force=force)

    def release(self, ticket: Ticket) -> None:
        """Give back an admitted call's reservation (the model failed: no charge)."""
        ch = self._chans[ticket.channel]
        with ch.lock:
            ch.reserved -= ticket.charge
            ch.used.discard(ticket.cheque.nonce)

    def run(self, data: bytes) -> bytes:
        """Run the model on ``data`` (canonical output bytes)."""
        return self.workload.run(self.model_bytes, data)

    def channel_state(self, channel_id: int) -> dict[str, Any] | None:
        """The node's view of a known channel of this model (for a client that lost its own);
        None for a channel unknown here or one that pays another model."""
        ch = self._chans.get(channel_id)
        return ch.state() if ch is not None and ch.info.model_id == self.model_id else None

    # -- channel bookkeeping -----------------------------------------------------------
    @staticmethod
    def _note_best(ch: _Channel, q: Cheque) -> None:
        best = ch.best
        if best is None or (q.amount, q.nonce) > (best.amount, best.nonce):
            ch.best = q

    @staticmethod
    def _advance_claimable(ch: _Channel) -> None:
        """claimable := the stored cheque with the largest (amount, nonce) and amount <= spent."""
        keep: list[Cheque] = []
        top = ch.claimable
        for q in ch.stored:
            if q.amount <= ch.spent:
                if top is None or (q.amount, q.nonce) > (top.amount, top.nonce):
                    top = q
            else:
                keep.append(q)
        ch.claimable, ch.stored = top, keep

    def _channel(self, channel_id: int) -> _Channel:
        ch = self._chans.get(channel_id)
        if ch is not None:
            return ch
        info = self._read_chain(channel_id)
        if not info.exists:
            raise PaymentError("unknown_channel", f"there is no channel {channel_id} on chain {self.chain.chain_id}")
        with self._chans_lock:
            ch = self._chans.setdefault(channel_id, _Channel(info))
        if info.model_id == self.model_id:
            self.ledger.save_channel(_row(info))
        return ch

    def _read_chain(self, channel_id: int) -> ChannelInfo:
        with self._chain_lock:
            self.stats.chain_reads += 1
            return self.channels.fetch(channel_id)

    def _refresh(self, ch: _Channel) -> ChannelInfo:
        info = self._read_chain(ch.info.id)
        ch.info = info
        self.ledger.save_channel(_row(info))
        return info

    def now(self) -> int:
        """Unix time as the chain sees it (wall clock plus the chain's offset, learned in sync)."""
        return int(time.time()) + self._clock_offset

    # -- chain side: sync and claims ----------------------------------------------------
    def sync(self) -> int:
        """Apply the channel contract's new events to the cache; return how many were read."""
        # Lock order: a paid call holds its channel's lock and may then take the chain lock
        # (to read a channel it cannot vouch for), so the chain lock is never held while
        # taking a channel's lock: the chain is read first, the cache updated after.
        with self._chain_lock:
            start = self.ledger.cursor()
            if start is None:
                start = self.channels.dep.block
            head = self.chain.block_number()
            self._clock_offset = self.chain.timestamp() - int(time.time())
            if head < start:
                return 0
            events = self.channels.contract.get_events(
                ["ChannelOpened", "ChannelFunded", "ChannelClosed", "Claimed"], start, head
            )
            touched: dict[int, ChannelInfo] = {}
            for ev in events:
                cid = int(ev.args["channel_id"])
                if ev.name == "ChannelOpened" and int(ev.args["model_id"]) != self.model_id:
                    continue
                if ev.name != "ChannelOpened" and cid not in self._chans:
                    continue
                touched[cid] = self.channels.fetch(cid)
        for cid, info in touched.items():
            with self._chans_lock:
                ch = self._chans.setdefault(cid, _Channel(info))
            with ch.lock:
                ch.info = info
        self.ledger.save_channels((_row(i) for i in touched.values()), cursor=head + 1)
        return len(events)

    def due_cheques(self, *, force: bool = False) -> list[Cheque]:
        """The cheques to claim now: all claimable ones once their total passes the threshold
        and the last claim is ``min_claim_interval_s`` old (or ``force``), else only those of
        channels near their expiry."""
        now = self.now()
        out: list[Cheque] = []
        total = 0
        urgent: list[Cheque] = []
        for ch in list(self._chans.values()):
            with ch.lock:
                q, info = ch.claimable, ch.info
                if q is None or q.amount <= info.claimed or q.nonce <= info.nonce or not info.open:
                    continue
                out.append(q)
                total += q.amount - info.claimed
                if now + 2 * self.expiry_margin_s >= info.expiry:
                    urgent.append(q)
        if force or (total >= self.claim_threshold
                     and time.monotonic() - self._last_claim >= self.min_claim_interval_s):
            return out
        return urgent

    def claim(self, *, force: bool = False) -> int:
        """Claim what is due (see :meth:`due_cheques`) in batched transactions; return the amount
        newly claimed."""
        cheques = self.due_cheques(force=force)
        if not cheques:
            return 0
        self._last_claim = time.monotonic()
        with self._chain_lock:  # the chain only; channel locks are taken after (see sync)
            receipts = self.channels.claim_many(cheques, self.signer)
            expected = 0
            for q in cheques:
                ch = self._chans[q.channel_id]
                expected += q.amount - ch.info.claimed
            got = sum(
                int(ev.args["amount"]) for r in receipts for ev in self.channels.contract.events_in(r, "BatchClaimed")
            )
            # some were skipped (closed, or claimed by someone else): ask the chain
            fresh = {} if got == expected else {q.channel_id: self.channels.fetch(q.channel_id) for q in cheques}
        for q in cheques:
            ch = self._chans[q.channel_id]
            with ch.lock:
                ch.info = fresh[q.channel_id] if fresh else _replace_claim(ch.info, q.amount, q.nonce)
                # nonces up to the claimed one are refused by that rule alone: forget them
                ch.used = {n for n in ch.used if n > ch.info.nonce}
        self.ledger.save_channels(_row(self._chans[q.channel_id].info) for q in cheques)
        self.stats.claims += len(receipts)
        self.stats.claimed += got
        return got

    def unclaimed(self) -> int:
        """Charges earned but not yet claimed on chain."""
        return sum(max(ch.spent - ch.info.claimed, 0) for ch in self._chans.values())

    def earned(self) -> int:
        """Charges of every answered call."""
        return sum(ch.spent for ch in self._chans.values())


def _row(info: ChannelInfo) -> tuple[Any, ...]:
    return (info.id, info.payer, info.signer, info.model_id, info.deposit, info.claimed, info.nonce, info.expiry)


def _replace_claim(info: ChannelInfo, amount: int, nonce: int) -> ChannelInfo:
    from dataclasses import replace

    return replace(info, claimed=max(info.claimed, amount), nonce=max(info.nonce, nonce))


def default_ledger_path(home: Path, chain_id: int, channels: str, model_id: int) -> Path:
    """The ledger path of releases before per-deployment state folders: one file per chain, channel
    contract and model under ``<home>/value``. :func:`build_paid_service` now keeps it under
    ``ctx.state_dir("value")`` (chain, genesis and deployment)."""
    return Path(home) / "value" / f"serve-{chain_id}-{channels}-{model_id}.sqlite"


def build_paid_service(
    ctx: Context, model_id: int, *, ledger_path: Path | None = None, **options: Any,
) -> PaidService:
    """The model's :class:`PaidService` for ``ctx``'s account, after checking that the account is
    the model's service key, that the card names the registered weights and that the weights at
    hand (from storage) hash to them. The ledger is ``ledger_path``, by default
    ``<state_dir("value")>/serve-<channel contract>-<model id>.sqlite``, shared by the server and
    a one-off claim. ``options``: :class:`PaidService`'s tuning keywords."""
    from agora.workloads import get_workload

    signer = ctx.require_signer()
    registry = ModelRegistry(ctx.deployment, ctx.storage)
    info = registry.fetch(model_id)
    validate_service_key(model_id, registry.service_of(model_id), signer.address)
    card = registry.fetch_card(model_id, info)
    validate_card(card, info)
    workload = get_workload(card.kind)
    model_bytes = fetch_weights(ctx.storage, model_id, card)
    validate_weights(model_id, workload, model_bytes, info.weights_hash)
    channels = Channels(ctx.deployment)
    if ledger_path is None:  # one per chain and deployment (state_dir), channel contract and model
        ledger_path = ctx.state_dir("value") / f"serve-{channels.address}-{model_id}.sqlite"
        legacy = default_ledger_path(ctx.settings.home, ctx.chain.chain_id, channels.address, model_id)
        if not ledger_path.exists() and legacy.exists():
            log.warning("model %s's ledger moved to %s; the one at %s may hold cheques not yet claimed: "
                        "claim them with `agora model claim %s --ledger %s`", model_id, ledger_path, legacy,
                        model_id, legacy)
    return PaidService(
        chain=ctx.chain, registry=registry, channels=channels, model_id=model_id, card=card, workload=workload,
        model_bytes=model_bytes, signer=signer, ledger_path=ledger_path, **options,
    )


@dataclass(frozen=True)
class ClaimResult:
    """One claim by a model's service: what it newly claimed, and what it earned and still has not."""

    model_id: int
    claimed: int
    unclaimed: int


def claim_earned(ctx: Context, model_id: int, *, ledger_path: Path | None = None) -> ClaimResult:
    """Claim everything the model's service has earned and not claimed, from its ledger (safe
    while the server runs: a cheque claimed twice is skipped by the contract)."""
    service = build_paid_service(ctx, model_id, ledger_path=ledger_path, exclusive=False)
    try:
        service.sync()
        amount = service.claim(force=True)
        return ClaimResult(model_id, amount, service.unclaimed())
    finally:
        service.close()
