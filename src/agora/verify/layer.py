"""The verify layer's declaration (see :mod:`agora.layers`): Agora's evidence for ERC-8004 tools —
a validation registry over the model registry, and a validator whose answers are read from the
chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.context import Context
    from agora.verify.client import VerifyClient

__all__ = ["LAYER", "build_facade"]


def build_facade(ctx: Context) -> VerifyClient:
    """``Client.verify``: receipts checked, models' validations (ERC-8004)."""
    from agora.verify.client import VerifyClient

    return VerifyClient(ctx.deployment, ctx.signer)


LAYER = Layer(
    name="verify",
    summary="evidence for ERC-8004: validations of models read from the chain; receipts and traces",
    contracts=(
        # the identity registry is the value layer's model registry (a model is an agent)
        ContractSpec("validations", "ValidationRegistry", lambda a, d: (a["models"],)),
        # answers about a model's training jobs, read from the compute market
        ContractSpec("evidence_validator", "EvidenceValidator",
                     lambda a, d: (a["validations"], a["models"], a["market"])),
    ),
    requires=("compute", "value"),
    facade=("verify", "agora.verify.layer:build_facade"),
    cli={"validation": "agora.cli.validation:app"},
    bench="bench/verify.py",
    docs="docs/verifiability.md",
)
