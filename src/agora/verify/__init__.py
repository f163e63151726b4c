"""The verify layer: Agora's evidence for agents and tools that speak ERC-8004.

* :mod:`~agora.verify.validations` — ``Validations``: the ERC-8004 validation registry over the
  model registry (a model is an agent), and ``EvidenceValidator``'s answers read from the chain
  (a model's training job verified by replication or audit).
* :mod:`~agora.verify.identity` — ``agent_registration``: a model as an ERC-8004 agent
  registration file.

Receipts (``agora.chain.evidence``), their checks (``agora.verification``) and traces
(``agora.trace``) serve every layer and live below them; this layer holds what is ERC-8004's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
    from agora.verify.client import VerifyClient
    from agora.verify.identity import agent_registration
    from agora.verify.validations import TRAINING_JOB_TAG, ZK_JOB_TAG, Validation, Validations

__all__ = ["TRAINING_JOB_TAG", "ZK_JOB_TAG", "Validation", "Validations", "VerifyClient", "agent_registration"]

__getattr__, __dir__ = export_lazily(
    globals(),
    {
        "TRAINING_JOB_TAG": "agora.verify.validations",
        "ZK_JOB_TAG": "agora.verify.validations",
        "Validation": "agora.verify.validations",
        "Validations": "agora.verify.validations",
        "VerifyClient": "agora.verify.client",
        "agent_registration": "agora.verify.identity",
    },
)
