"""The value layer's declaration: its contracts, its CLI groups, its SDK facade, its demo chapter
and its benchmark (see :mod:`agora.layers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import ContractSpec, Layer

if TYPE_CHECKING:
    from agora.context import Context
    from agora.value.client import ModelsClient

__all__ = ["LAYER", "VALUE_PARAMS", "build_facade"]

#: Default value-layer contract parameters (18-decimal token amounts, seconds): a tournament
#: root is open to dispute for a day and posted with a bond of at least 10 AGR.
VALUE_PARAMS: dict[str, int] = {
    "tournament_challenge_window": 86_400,
    "tournament_min_bond": 10 * 10**18,
}


def build_facade(ctx: Context) -> ModelsClient:
    """``Client.models``: registered models as paid APIs, with checked receipts."""
    from agora.value.channels import Channels
    from agora.value.client import ModelsClient
    from agora.value.models import ModelRegistry

    # the folder is this chain's and deployment's (Context.chain_key): a reset devnet starts afresh
    state = ctx.state_dir("value") / f"client-{ctx.address or 'anonymous'}.sqlite"
    return ModelsClient(
        ModelRegistry(ctx.deployment, ctx.storage), Channels(ctx.deployment), ctx.signer, state,
        storage=ctx.storage,
    )


LAYER = Layer(
    name="value",
    summary="models as economic actors: registered with provenance, called as paid APIs, revenue split",
    contracts=(
        # a model's dataset ids are tokens of the data layer's registry, checked at registration
        ContractSpec("models", "ModelRegistry", lambda a, d: (a["data_registry"],)),
        # the implementation that each model's payee (x402 `exact` payTo) is a proxy of
        ContractSpec("model_payee", "ModelPayee"),
        ContractSpec("channels", "PaymentChannels", lambda a, d: (a["token"], a["models"], a["model_payee"])),
        # staked prediction rounds (as Numerai's), settled by a bonded, disputable Merkle root
        ContractSpec(
            "tournament", "Tournament",
            lambda a, d: (
                a["token"], VALUE_PARAMS["tournament_challenge_window"], VALUE_PARAMS["tournament_min_bond"],
            ),
        ),
    ),
    # the data layer's registry must exist first: ModelRegistry checks dataset ids against it (linked
    # by address and ids only; this layer imports nothing of the data layer)
    requires=("data",),
    params=VALUE_PARAMS,
    facade=("models", "agora.value.layer:build_facade"),
    cli={"model": "agora.cli.model:app", "channel": "agora.cli.channel:app",
         "tournament": "agora.cli.tournament:app"},
    demo="agora.value.demo:demo_chapter",
    demo_view="agora.cli.model:print_demo_chapter",
    bench="bench/value.py",
    docs="docs/value.md",
    lineage="agora.value.lineage:lineage",
    receipts={"model-call": "agora.value.evidence:entitled"},
)
