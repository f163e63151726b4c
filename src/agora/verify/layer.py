"""The verify layer's declaration (see :mod:`agora.layers`): Agora's evidence for ERC-8004 tools —
a validation registry over the model registry, and a validator whose answers are read from the
chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.context import Context
    from agora.protocol import Deployment
    from agora.verify.client import VerifyClient

__all__ = ["LAYER", "build_facade"]


def build_facade(ctx: Context) -> VerifyClient:
    """``Client.verify``: receipts checked, models' validations (ERC-8004)."""
    from agora.verify.client import VerifyClient

    return VerifyClient(ctx.deployment, ctx.signer)


def _wire_zk_checker(dep: Deployment) -> list[dict[str, Any]]:
    """The market accepts ZK jobs' results as this checker records them (once)."""
    market, checker = dep.contract("market"), dep.addresses["zk_checker"]
    if str(market.zk_checker()).lower() == checker.lower():
        return []
    return [market.set_zk_checker.build(checker)]


LAYER = Layer(
    name="verify",
    summary="evidence for ERC-8004: validations of models read from the chain; receipts and traces",
    contracts=(
        # the identity registry is the value layer's model registry (a model is an agent)
        ContractSpec("validations", "ValidationRegistry", lambda a, d: (a["models"],)),
        # the compute market's ZK policy: proofs of registered models' inference, checked here
        ContractSpec("zk_checker", "ZkChecker", lambda a, d: (a["models"], a["market"])),
        # answers about a model's training jobs and ZK jobs, read from the compute market
        ContractSpec("evidence_validator", "EvidenceValidator",
                     lambda a, d: (a["validations"], a["models"], a["market"], a["zk_checker"])),
    ),
    wiring=_wire_zk_checker,
    requires=("compute", "value"),
    facade=("verify", "agora.verify.layer:build_facade"),
    cli={"validation": "agora.cli.validation:app", "zk": "agora.cli.zk:app"},
    demo="agora.verify.demo:demo_chapter",
    demo_view="agora.cli.validation:print_demo_chapter",
    bench="bench/verify.py",
    docs="docs/verifiability.md",
)
