"""The data layer: datasets as economic assets.

* :mod:`~agora.data.registry` — the ``DataRegistry`` client: publish a dataset (an ERC-721
  token with its own ERC-20 datatoken, a revenue split and pricing) in one transaction, buy and
  dispense datatokens, order a service with an access node's signed quote (or buy and order in
  one transaction with a permit), check orders, split and withdraw revenue.
* :mod:`~agora.data.client` — ``DatasetsClient``, the layer's facade (``Client.data``): publish a
  file with its card, price, buy, order from an access node, download checked against the chain.
* :mod:`~agora.data.cards` — ``DatasetCard``, stored by CID, its digest on chain.
* :mod:`~agora.data.access` — ``AccessNode`` and its FastAPI app: files encrypted at rest, served
  to the consumers of valid orders; fee quotes signed over the registry's ``Quote``.
* :mod:`~agora.data.orders` — ``ChainOrders``, the access node's order checks on chain.

The names below are imported on first use, so that loading the layer's declaration (or
``agora --help``) does not pull in web3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
    from agora.data.access import AccessNode
    from agora.data.cards import DatasetCard, build_dataset_card
    from agora.data.client import DatasetsClient, DatasetView, Earnings, OrderResult, Publication, parse_split
    from agora.data.orders import ChainOrders
    from agora.data.registry import (
        OWNER,
        QUOTE_TYPES,
        DataRegistry,
        DatasetInfo,
        OrderInfo,
        Quote,
        Share,
        Source,
        order_id_hex,
        parse_order_id,
        quote_typed_data,
        registry_domain,
        sign_quote,
        validate_split,
    )

__all__ = [
    "OWNER",
    "QUOTE_TYPES",
    "AccessNode",
    "ChainOrders",
    "DataRegistry",
    "DatasetCard",
    "DatasetInfo",
    "DatasetView",
    "DatasetsClient",
    "Earnings",
    "OrderInfo",
    "OrderResult",
    "Publication",
    "Quote",
    "Share",
    "Source",
    "build_dataset_card",
    "order_id_hex",
    "parse_order_id",
    "parse_split",
    "quote_typed_data",
    "registry_domain",
    "sign_quote",
    "validate_split",
]

_MODULES: dict[str, tuple[str, ...]] = {
    "agora.data.cards": ("DatasetCard", "build_dataset_card"),
    "agora.data.client": ("DatasetView", "DatasetsClient", "Earnings", "OrderResult", "Publication", "parse_split"),
    "agora.data.access": ("AccessNode",),
    "agora.data.orders": ("ChainOrders",),
}
#: Where each public name lives (imported on first use).
_EXPORTS: dict[str, str] = {
    name: next((m for m, names in _MODULES.items() if name in names), "agora.data.registry") for name in __all__
}

__getattr__, __dir__ = export_lazily(globals(), _EXPORTS)
