"""The access node's view of the chain: :class:`ChainOrders`, the real ``OrderBook``
(:class:`agora.data.access.OrderBook`) over the ``DataRegistry`` contract.

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

from agora.data.registry import DataRegistry

__all__ = ["ChainOrders"]


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

    def order_is_for(self, order_id: int, dataset_id: int, service_id: int, consumer: str) -> bool:
        """Whether the order's id carries the record key of (dataset, service, consumer): no chain call."""
        from agora.data.registry import order_key

        return order_id >> 32 == order_key(dataset_id, service_id, consumer)

    def order_dataset(self, order_id: int) -> int:
        """The dataset order ``order_id`` is for (one ``eth_call``); ConfigError for an unknown order."""
        with self._lock:
            return self.registry.order_info(order_id).dataset
