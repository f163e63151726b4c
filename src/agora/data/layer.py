"""The data layer's declaration: its contracts (see :mod:`agora.layers`). Its CLI groups, SDK
facade, demo chapter and benchmark come later."""

from __future__ import annotations

from agora.layers import ContractSpec, Layer

__all__ = ["LAYER"]


LAYER = Layer(
    name="data",
    summary="datasets as ERC-721 tokens with ERC-20 datatokens: every use paid, recorded and split",
    contracts=(
        # the implementation that each dataset's datatoken is an EIP-1167 proxy of
        ContractSpec("datatoken_impl", "Datatoken"),
        ContractSpec("data_registry", "DataRegistry", lambda a, d: (a["datatoken_impl"],)),
    ),
)
