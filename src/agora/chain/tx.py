"""Transaction sending: local signing, client-side nonces, bounded in-flight, receipts.

Nodes differ in how they treat bursts: anvil silently drops transactions that
it signs itself when many arrive at once. So Agora never asks a node to sign:
each :class:`TxSender` signs locally, hands out nonces itself, keeps at most
``max_in_flight`` unconfirmed transactions, confirms every one by its receipt,
and re-broadcasts the same signed bytes if a receipt is slow to appear (which
is harmless: a node that already has it answers "already known").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from agora.chain.accounts import Signer
from agora.chain.receipts import TxReceipt
from agora.errors import ChainError, TransactionDropped

if TYPE_CHECKING:
    from agora.chain.connection import Chain

__all__ = ["PendingTx", "TxSender"]

GAS_MARGIN = 1.25  # estimates are exact for the state they saw; leave room for state drift


@dataclass
class PendingTx:
    """A signed, broadcast transaction that has no receipt yet."""

    tx_hash: str
    raw: bytes
    nonce: int
    tx: dict[str, Any]
    sent_at: float  # last broadcast
    outcome: TxReceipt | ChainError | None = None  # set once the receipt is in
    first_sent: float = 0.0  # the receipt timeout counts from here
    replaced: list[str] = field(default_factory=list)  # earlier hashes of this nonce

    def __post_init__(self) -> None:
        if not self.first_sent:
            self.first_sent = self.sent_at


def _stale_nonce(exc: BaseException) -> bool:
    """Whether the node refused a transaction for a nonce it has seen used (another process
    sending from the same account: the CLI while a daemon of that account runs)."""
    text = str(exc).lower()
    return "nonce too low" in text or "nonce is too low" in text or "oldnonce" in text


class TxSender:
    """Sends the transactions of one account, in nonce order, without losing any."""

    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        *,
        max_in_flight: int = 64,
        receipt_timeout: float = 120.0,
        rebroadcast_after: float = 5.0,
    ) -> None:
        self.chain = chain
        self.signer = signer
        self.max_in_flight = max(1, max_in_flight)
        self.receipt_timeout = receipt_timeout
        self.rebroadcast_after = rebroadcast_after
        self._nonce: int | None = None
        self._lock = threading.RLock()
        self._in_flight: OrderedDict[str, PendingTx] = OrderedDict()

    @property
    def address(self) -> str:
        """The sending account."""
        return self.signer.address

    def resync(self) -> None:
        """Forget the local nonce; the next send reads it from the node again."""
        with self._lock:
            self._nonce = None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            address = to_checksum_address(self.address)
            self._nonce = self.chain._rpc(lambda: self.chain.w3.eth.get_transaction_count(address, "pending"))
        return self._nonce

    def submit(self, tx: dict[str, Any]) -> PendingTx:
        """Fill in, sign and broadcast ``tx``; return without waiting for it to be mined.

        Blocks first while ``max_in_flight`` transactions of this account are
        unconfirmed. Raises :class:`~agora.errors.Reverted` if gas estimation
        shows the transaction would revert (nothing is sent then).
        """
        while len(self._in_flight) >= self.max_in_flight:
            if not self.settle():
                time.sleep(0.002)
        with self._lock:
            tx = dict(tx)
            tx.setdefault("from", self.address)
            tx.setdefault("value", 0)
            tx["chainId"] = self.chain.chain_id
            if "gas" not in tx and self.chain.embedded:
                # py-evm estimates by binary search (3x the cost of the send itself);
                # in process, a generous limit costs nothing: only used gas is charged,
                # and a revert still reports its reason (see Chain.explain_failure)
                tx["gas"] = min(10_000_000, self.chain.block_gas_limit)
            elif "gas" not in tx:
                estimate = self.chain.estimate_gas(tx)
                tx["gas"] = min(int(estimate * GAS_MARGIN) + 5_000, self.chain.block_gas_limit)
            if "maxFeePerGas" not in tx and "gasPrice" not in tx:
                tx.update(self.chain.fee_params())
            for attempt in range(2):
                tx["nonce"] = self._next_nonce()
                unsigned = {k: v for k, v in tx.items() if k != "from"}
                raw = self.signer.sign_transaction(unsigned)
                try:
                    tx_hash = self.chain.send_raw(raw, tx)
                    break
                except ChainError as exc:
                    # the node refused these bytes; if it already holds them (a broadcast that
                    # reached it although its answer did not reach us, or the same nonce, fees
                    # and calldata signed again), they are sent: their hash is theirs alone
                    tx_hash = "0x" + keccak(raw).hex()
                    if self._node_has(tx_hash):
                        break
                    self._nonce = None  # truly refused: our nonce view may be stale
                    if attempt == 0 and _stale_nonce(exc):
                        continue  # another process sent from this account: sign again with the node's nonce
                    raise
                except Exception:
                    self._nonce = None
                    raise
            self._nonce = tx["nonce"] + 1
            pending = PendingTx(tx_hash, raw, tx["nonce"], tx, time.monotonic())
            self._in_flight[tx_hash] = pending
            return pending

    def wait(self, pending: PendingTx, timeout: float | None = None) -> TxReceipt:
        """Wait for ``pending``'s receipt; raise :class:`Reverted` if it failed on chain."""
        if isinstance(pending.outcome, TxReceipt):
            return pending.outcome
        if pending.outcome is not None:
            raise pending.outcome
        timeout = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last_send = pending.sent_at
        delay = 0.001
        while True:
            (receipt,) = self.chain.fetch_receipts([pending.tx_hash])
            if receipt is not None:
                break
            now = time.monotonic()
            if now > deadline:
                raise self._drop(pending, timeout)
            if now - last_send > self.rebroadcast_after:
                self._nudge(pending)
                last_send = now
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        with self._lock:
            self._in_flight.pop(pending.tx_hash, None)
        if receipt.status != 1:
            pending.outcome = self.chain.explain_failure(pending.tx, receipt)
            raise pending.outcome
        pending.outcome = receipt
        return receipt

    def settle(self) -> int:
        """Look up every in-flight transaction's receipt in one batch; return how many
        were mined. Each one's outcome (receipt or error) is recorded on its PendingTx;
        transactions slow to appear are re-broadcast."""
        with self._lock:
            pendings = list(self._in_flight.values())
        if not pendings:
            return 0
        receipts = self.chain.fetch_receipts([p.tx_hash for p in pendings])
        done = 0
        now = time.monotonic()
        for p, receipt in zip(pendings, receipts, strict=True):
            if receipt is None and p.replaced:
                # a replaced transaction: the original may have been mined after all
                receipt = next((r for r in self.chain.fetch_receipts(p.replaced) if r is not None), None)
            if receipt is None:
                if now - p.first_sent > self.receipt_timeout:
                    self._drop(p, self.receipt_timeout)
                elif now - p.sent_at > self.rebroadcast_after:
                    self._nudge(p)
                continue
            with self._lock:
                self._in_flight.pop(p.tx_hash, None)
            p.outcome = (
                receipt if receipt.status == 1 else self.chain.explain_failure(p.tx, receipt)
            )
            done += 1
        return done

    def _node_has(self, tx_hash: str) -> bool:
        """Whether the node holds ``tx_hash`` (pending or mined); any error counts as no."""
        try:
            return self.chain.w3.eth.get_transaction(HexStr(tx_hash)) is not None
        except Exception:  # noqa: BLE001 - not found, or no answer: not known to be sent
            return False

    def _nudge(self, p: PendingTx) -> None:
        """A transaction slow to be mined: broadcast it again, or, if the node has lost it
        (it no longer knows the hash, yet may refuse the same bytes as "already known"),
        replace it: the same nonce, re-signed with fees 25 % higher (a new hash)."""
        p.sent_at = time.monotonic()
        if self.chain.knows_transaction(p.tx_hash):
            self.chain.rebroadcast(p.raw)
            return
        tx = dict(p.tx)
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
            if key in tx:
                tx[key] = int(tx[key]) * 5 // 4 + 1
        raw = self.signer.sign_transaction({k: v for k, v in tx.items() if k != "from"})
        try:
            new_hash = self.chain.send_raw(raw, tx)
        except ChainError:
            self.chain.rebroadcast(p.raw)  # refused (e.g. mined meanwhile): the receipt will tell
            return
        with self._lock:
            self._in_flight.pop(p.tx_hash, None)
            p.replaced.append(p.tx_hash)
            p.tx_hash, p.raw, p.tx = new_hash, raw, tx
            self._in_flight[new_hash] = p

    def _drop(self, pending: PendingTx, timeout: float) -> TransactionDropped:
        with self._lock:
            self._in_flight.pop(pending.tx_hash, None)
            self._nonce = None
        pending.outcome = TransactionDropped(
            f"transaction {pending.tx_hash} (nonce {pending.nonce}) was not mined "
            f"within {timeout:.0f}s",
            hint="check that the node is mining and the fee is high enough",
        )
        return pending.outcome

    def send(self, tx: dict[str, Any]) -> TxReceipt:
        """Submit ``tx`` and wait for its receipt."""
        return self.wait(self.submit(tx))

    def send_many(self, txs: list[dict[str, Any]]) -> list[TxReceipt]:
        """Send many transactions pipelined (up to ``max_in_flight`` at once), in order.

        Returns one receipt per transaction. Nonces are consecutive, so if one
        fails the error is raised after the others are confirmed.
        """
        pendings = [self.submit(tx) for tx in txs]
        delay = 0.001
        while any(p.outcome is None for p in pendings):
            if not self.settle():
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            else:
                delay = 0.001
        receipts: list[TxReceipt] = []
        for p in pendings:
            if isinstance(p.outcome, ChainError):
                raise p.outcome  # the first failure, once every transaction is settled
            assert isinstance(p.outcome, TxReceipt)
            receipts.append(p.outcome)
        return receipts
