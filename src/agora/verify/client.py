"""``Client.verify``: ERC-8004 validations of models, and checks of receipts, for one account."""

from __future__ import annotations

from typing import Any

from agora.chain import Signer
from agora.chain.evidence import Bundle
from agora.errors import ConfigError
from agora.protocol import Deployment
from agora.verification import Verdict, verify_bundle
from agora.verify.validations import Validation, Validations

__all__ = ["VerifyClient"]


class VerifyClient:
    """Evidence for one account: check receipts, validate a model's training through
    ``EvidenceValidator``, read a model's validations (ERC-8004)."""

    def __init__(self, dep: Deployment, signer: Signer | None) -> None:
        self.dep = dep
        self.signer = signer
        self.validations = Validations(dep)

    def receipt(self, doc: dict[str, Any]) -> Verdict:
        """Check a receipt or a bundle (JSON); ``ReceiptError`` naming the first check that fails."""
        return verify_bundle(self.dep, Bundle.from_json(doc))

    def attest_training_job(self, model_id: int, job_id: int) -> Validation:
        """As the model's owner: have ``EvidenceValidator`` answer for one of its training jobs."""
        if self.signer is None:
            raise ConfigError("validating a model's training job needs an account (its owner)")
        return self.validations.attest_training_job(model_id, job_id, self.signer)

    def attest_zk_job(self, model_id: int, job_id: int) -> Validation:
        """As the model's owner: have ``EvidenceValidator`` answer for one of its ZK jobs."""
        if self.signer is None:
            raise ConfigError("validating a model's ZK job needs an account (its owner)")
        return self.validations.attest_zk_job(model_id, job_id, self.signer)

    def of_model(self, model_id: int) -> list[Validation]:
        """Every validation of the model, with its latest answer."""
        return self.validations.of_agent(model_id)

    def summary(self, model_id: int, tag: str = "") -> tuple[int, int]:
        """``(count, mean response)`` of the model's answered validations (``tag``: only those)."""
        return self.validations.summary(model_id, None, tag)
