"""The subnet layer's declaration (see :mod:`agora.layers`): subnets where validators score
miners and Yuma consensus shares the emission, settled on chain by a Merkle root that a quorum
of validator stake signs and anyone may prove wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.context import Context
    from agora.protocol import Deployment
    from agora.subnet.client import SubnetsClient

__all__ = ["LAYER", "SUBNET_PARAMS", "build_facade"]

#: Default parameters: the challenge window of an epoch's result, in seconds (see docs/subnets.md).
SUBNET_PARAMS: dict[str, int] = {"challenge_window": 3_600}


def _wire_settler(dep: Deployment) -> list[dict[str, Any]]:
    """The registry lets the settlement slash signers and set prune candidates (once)."""
    registry, settlement = dep.contract("subnet_registry"), dep.addresses["subnet_settlement"]
    if str(registry.settler()).lower() == settlement.lower():
        return []
    return [registry.set_settler.build(settlement)]


def build_facade(ctx: Context) -> SubnetsClient:
    """``Client.subnets``: create subnets, register, stake, set weights, settle epochs, claim, and
    run miners and validators."""
    from agora.subnet.client import SubnetsClient

    return SubnetsClient(ctx.deployment, ctx.signer, ctx.state_dir("subnet"))


LAYER = Layer(
    name="subnet",
    summary="subnets: validators score miners, Yuma consensus shares the emission, settled on chain by Merkle root",
    contracts=(
        ContractSpec("subnet_registry", "SubnetRegistry", lambda a, d: (a["token"],)),
        ContractSpec("subnet_verifier", "SubnetVerifier"),
        ContractSpec("subnet_settlement", "SubnetSettlement",
                     lambda a, d: (a["token"], a["subnet_registry"], SUBNET_PARAMS["challenge_window"],
                                   a["subnet_verifier"])),
    ),
    wiring=_wire_settler,
    params=SUBNET_PARAMS,
    facade=("subnets", "agora.subnet.layer:build_facade"),
    cli={"subnet": "agora.cli.subnet:app"},
    demo="agora.subnet.demo:demo_chapter",
    demo_view="agora.cli.subnet:print_demo_chapter",
    bench="bench/incentives.py",
    docs="docs/subnets.md",
    lineage="agora.subnet.lineage:lineage",
    receipts={"subnet-answer": "agora.subnet.evidence:entitled"},
)
