"""The data layer: datasets as economic assets.

* :mod:`~agora.data.registry` — the ``DataRegistry`` client: publish a dataset (an ERC-721
  token with its own ERC-20 datatoken, a revenue split and pricing) in one transaction, buy and
  dispense datatokens, order a service with an access node's signed quote (or buy and order in
  one transaction with a permit), check orders, split and withdraw revenue.

The names below are imported on first use, so that loading the layer's declaration (or
``agora --help``) does not pull in web3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
    from agora.data.registry import (
        OWNER,
        QUOTE_TYPES,
        DataRegistry,
        DatasetInfo,
        OrderInfo,
        Quote,
        Share,
        quote_typed_data,
        registry_domain,
        sign_quote,
        validate_split,
    )

__all__ = [
    "OWNER",
    "QUOTE_TYPES",
    "DataRegistry",
    "DatasetInfo",
    "OrderInfo",
    "Quote",
    "Share",
    "quote_typed_data",
    "registry_domain",
    "sign_quote",
    "validate_split",
]

#: Where each public name lives (imported on first use).
_EXPORTS: dict[str, str] = {name: "agora.data.registry" for name in __all__}

__getattr__, __dir__ = export_lazily(globals(), _EXPORTS)
