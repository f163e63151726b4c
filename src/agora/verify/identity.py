"""A model as an ERC-8004 agent: its registration file.

ERC-8004's identity registry is an ERC-721 whose ``tokenURI`` names the agent's registration
file. Agora's ``ModelRegistry`` is that registry for models (``ownerOf``, ``tokenURI``, and the
identity reads ``getAgentWallet`` — the service key — and ``getMetadata``); this module renders
the registration file from the model's on-chain record and card, so that ERC-8004 tools can read
an Agora model like any agent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REGISTRATION_TYPE", "agent_registration"]

#: The ``type`` of an ERC-8004 registration file.
REGISTRATION_TYPE = "https://eips.ethereum.org/EIPS/eip-8004#registration-v1"


def agent_registration(
    *, chain_id: int, registry: str, agent_id: int, name: str, description: str, endpoint: str | None,
    wallet: str, weights_hash: bytes, validations: str | None = None,
) -> dict[str, Any]:
    """The registration file of model ``agent_id`` of the ``ModelRegistry`` at ``registry``: its
    name and description, its paid endpoint (x402), its wallet (the service key that signs its
    receipts), its registration in CAIP-10 form and the trust models Agora supports."""
    services: list[dict[str, Any]] = []
    if endpoint:
        services.append({"name": "x402", "endpoint": endpoint.rstrip("/") + "/call", "version": "2"})
        services.append({"name": "agora-receipts", "endpoint": endpoint.rstrip("/") + "/receipts/{digest}"})
    out: dict[str, Any] = {
        "type": REGISTRATION_TYPE,
        "name": name,
        "description": description,
        "services": services,
        "x402Support": bool(endpoint),
        "active": True,
        "registrations": [{"agentId": agent_id, "agentRegistry": f"eip155:{chain_id}:{registry}"}],
        "supportedTrust": ["crypto-economic", "validation"],
        "agentWallet": f"eip155:{chain_id}:{wallet}",
        "agora": {"weightsHash": "0x" + weights_hash.hex()},
    }
    if validations:
        out["agora"]["validationRegistry"] = f"eip155:{chain_id}:{validations}"
    return out
