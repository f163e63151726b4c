"""The compute layer's declaration: its contracts, their parameters and wiring, its CLI groups,
its SDK facade, its demo chapter and its benchmark (see :mod:`agora.layers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.compute.requester import ComputeClient
    from agora.context import Context
    from agora.protocol import Deployment

__all__ = ["COMPUTE_PARAMS", "LAYER", "build_facade"]

#: Default compute-market parameters (18-decimal token amounts). See docs/compute.md
#: for the economics: with these, cheating at any rate earns less than honesty.
COMPUTE_PARAMS: dict[str, int] = {
    "min_stake": 100 * 10**18,
    "unbond_delay": 7 * 86_400,
    "min_fee": 10**16,
    "fee_bps": 250,
    "slash_bps": 2_000,
    "harmed_bps": 5_000,
    "commit_window": 600,
    "reveal_window": 600,
}


def _authorise_market(dep: Deployment) -> list[dict[str, Any]]:
    """The registry lets the market reward, penalise and slash (once)."""
    registry, market = dep.contract("registry"), dep.addresses["market"]
    return [] if registry.is_market(market) else [registry.set_market.build(market, True)]


def build_facade(ctx: Context) -> ComputeClient:
    """``Client.compute``: submit jobs, follow them, get verified results."""
    from agora.compute.market import Market
    from agora.compute.requester import ComputeClient

    return ComputeClient(Market(ctx.deployment), ctx.storage, ctx.signer)


_P = COMPUTE_PARAMS

LAYER = Layer(
    name="compute",
    summary="staked providers sell AI compute; jobs are assigned, verified (audit, replication), paid or slashed",
    contracts=(
        ContractSpec("registry", "ProviderRegistry", lambda a, d: (a["token"], _P["min_stake"], _P["unbond_delay"])),
        ContractSpec(
            "market", "ComputeMarket",
            lambda a, d: (
                a["token"], a["registry"], d.address, _P["min_fee"], _P["fee_bps"], _P["slash_bps"],
                _P["harmed_bps"], _P["commit_window"], _P["reveal_window"],
            ),
        ),
    ),
    wiring=_authorise_market,
    params=COMPUTE_PARAMS,
    facade=("compute", "agora.compute.layer:build_facade"),
    cli={"job": "agora.cli.job:app", "provider": "agora.cli.provider:app"},
    demo="agora.compute.demo:demo_chapter",
    demo_view="agora.cli.job:print_demo_chapter",
    bench="bench/compute.py",
    docs="docs/compute.md",
    lineage="agora.compute.lineage:lineage",
    receipts={"compute-item": "agora.compute.evidence:entitled"},
)
