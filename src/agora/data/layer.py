"""The data layer's declaration: its contracts, its CLI group and its SDK facade (see
:mod:`agora.layers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.context import Context
    from agora.data.client import DatasetsClient

__all__ = ["LAYER", "build_facade"]


def build_facade(ctx: Context) -> DatasetsClient:
    """``Client.data``: publish, price, buy, order and download datasets, and get paid."""
    from agora.data.client import DatasetsClient
    from agora.data.registry import DataRegistry

    return DatasetsClient(DataRegistry(ctx.deployment), ctx.storage, ctx.signer, state_dir=ctx.state_dir("data"))


LAYER = Layer(
    name="data",
    summary="datasets as ERC-721 tokens with ERC-20 datatokens: every use paid, recorded and split",
    contracts=(
        # the implementation that each dataset's datatoken is an EIP-1167 proxy of
        ContractSpec("datatoken_impl", "Datatoken"),
        ContractSpec("data_registry", "DataRegistry", lambda a, d: (a["datatoken_impl"],)),
        # compute-to-data rules, privacy budgets, federated runs (jobs: the compute market's DIRECT policy)
        ContractSpec("data_services", "DataServices", lambda a, d: (a["data_registry"],)),
    ),
    facade=("data", "agora.data.layer:build_facade"),
    cli={"data": "agora.cli.data:app", "fl": "agora.cli.fl:app"},
    demo="agora.data.demo:demo_chapter",
    demo_view="agora.cli.data_story:print_demo_chapter",
    bench="bench/data.py",
    docs="docs/data.md",
    lineage="agora.data.lineage:lineage",
    receipts={"fl-round": "agora.data.evidence:entitled"},
)
