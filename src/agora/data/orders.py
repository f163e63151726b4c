"""The access node's view of the chain: :class:`ChainOrders`, the real ``OrderBook``
(:class:`agora.data.access.OrderBook`) over the ``DataRegistry`` contract, and
:class:`ChainAccessNode`, an access node whose fee quotes the contract accepts.

**Reads per request.** Nothing is cached: every download request the node checks costs two
``eth_call``s — ``order_valid(order, consumer)`` and then ``order_info(order)`` for the order's
dataset — so an order that expires, or a chain that is reset, is seen at the next request. A
chain that cannot be asked raises, which the node answers ``503 orders_unavailable`` (it never
serves on a failed check).

**Threads.** The node answers requests on several threads. An HTTP or WebSocket chain is safe to
share between them; the embedded chain (py-evm in this process) is not, so on it every read
holds a lock (pass the lock that the rest of the process uses for that chain, if any).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from agora.data.access import AccessNode
from agora.data.quotes import ProviderFeeQuote
from agora.data.registry import DataRegistry
from agora.errors import ConfigError

__all__ = ["ChainAccessNode", "ChainOrders"]


class ChainOrders:
    """Order checks against the ``DataRegistry`` on chain, one ``eth_call`` each (see the module)."""

    def __init__(self, registry: DataRegistry, *, lock: AbstractContextManager[Any] | None = None) -> None:
        self.registry = registry
        if lock is None:
            lock = threading.RLock() if registry.chain.embedded else nullcontext()
        self._lock: AbstractContextManager[Any] = lock

    def __repr__(self) -> str:
        return f"ChainOrders({self.registry.address} on chain {self.registry.chain.chain_id})"

    def order_valid(self, order_id: int, consumer: str) -> bool:
        """Whether order ``order_id`` exists, is ``consumer``'s and has not expired (one ``eth_call``)."""
        with self._lock:
            return self.registry.order_valid(order_id, consumer)

    def order_dataset(self, order_id: int) -> int:
        """The dataset order ``order_id`` is for (one ``eth_call``); ConfigError for an unknown order."""
        with self._lock:
            return self.registry.order_info(order_id).dataset


class ChainAccessNode(AccessNode):
    """An :class:`AccessNode` whose provider-fee quotes are signed as the ``DataRegistry``
    contract checks them: the EIP-712 ``Quote(uint256 dataset,uint256 serviceId,address consumer,
    address provider,address feeToken,uint256 fee,uint256 validUntil,uint256 nonce)`` in the
    registry's domain (:func:`agora.data.registry.sign_quote`).

    The quote's fields are the same as :class:`~agora.data.quotes.ProviderFeeQuote`'s (``datasetId``
    is ``dataset``, ``feeAmount`` is ``fee``, ``quoteId`` is ``nonce``) and travel in that JSON
    form; only the signature is made over the contract's type, so an order with it is accepted.
    """

    def build_quote(self, dataset_id: int, consumer: str, service_id: int = 0) -> ProviderFeeQuote:
        """A quote for serving ``dataset_id`` to ``consumer``, signed as the contract checks it."""
        from agora.data.registry import registry_domain, sign_quote

        q = super().build_quote(dataset_id, consumer, service_id)
        if self.chain_id <= 0:  # pragma: no cover - a node always knows its chain
            raise ConfigError("an access node needs its chain id to sign quotes")
        signed = sign_quote(
            self.signer, registry_domain(self.chain_id, self.registry), q.dataset_id, q.service_id, q.consumer,
            valid_until=q.valid_until, fee_token=q.fee_token, fee=q.fee_amount, nonce=q.quote_id,
        )
        return ProviderFeeQuote(q.dataset_id, q.service_id, signed.consumer, q.provider, signed.fee_token,
                                q.fee_amount, q.valid_until, q.quote_id, signed.signature)
