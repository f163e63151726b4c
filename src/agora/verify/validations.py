"""The ERC-8004 validation registry (``ValidationRegistry``) and Agora's evidence validator.

An agentId is a model id of the ``ModelRegistry`` (the identity registry). The model's owner
asks a validator to validate something (a request hash); only that validator answers, 0..100.
``EvidenceValidator`` is a validator whose answers are read from the chain: asked about one of
the model's training jobs, it answers from the job's state in the compute market (100 checked by
replication or an audit, 50 under an undrawn audit, 25 unchecked, 0 refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from agora.chain import Signer, TxReceipt
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment

__all__ = ["TRAINING_JOB_TAG", "ZK_JOB_TAG", "Validation", "Validations"]

#: The tag of ``EvidenceValidator``'s answers about training jobs.
TRAINING_JOB_TAG = "agora:training-job"
#: The tag of its answers about zero-knowledge jobs.
ZK_JOB_TAG = "agora:zk-job"


@dataclass(frozen=True)
class Validation:
    """One request and its latest answer (``response`` None until answered)."""

    request_hash: bytes
    validator: str
    agent_id: int
    response: int | None
    response_hash: bytes
    tag: str
    last_update: int

    def to_json(self) -> dict[str, Any]:
        """The validation as JSON."""
        return {
            "request_hash": "0x" + self.request_hash.hex(), "validator": self.validator, "agent_id": self.agent_id,
            "response": self.response, "response_hash": "0x" + self.response_hash.hex(), "tag": self.tag,
            "last_update": self.last_update,
        }


class Validations:
    """Typed access to ``ValidationRegistry`` and ``EvidenceValidator`` of a deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract = dep.contract("validations")
        self.evidence = dep.contract("evidence_validator")

    def request(self, agent_id: int, validator: str, request_hash: bytes, sender: Signer, uri: str = "") -> TxReceipt:
        """Ask ``validator`` to validate ``request_hash`` for model ``agent_id`` (its owner or an
        approved operator); ConfigError for a request that exists or a sender not allowed."""
        try:
            return self.contract.validationRequest(to_checksum_address(validator), agent_id, uri, request_hash,
                                                   sender=sender)
        except Reverted as exc:
            raise ConfigError(f"cannot request the validation of model {agent_id}: {exc.reason}") from None

    def respond(self, request_hash: bytes, response: int, sender: Signer, *, uri: str = "",
                response_hash: bytes = bytes(32), tag: str = "") -> TxReceipt:
        """Answer a request as its validator (0..100)."""
        if not 0 <= response <= 100:
            raise ConfigError(f"a response is 0..100, not {response}")
        try:
            return self.contract.validationResponse(request_hash, response, uri, response_hash, tag, sender=sender)
        except Reverted as exc:
            raise ConfigError(f"cannot answer request 0x{request_hash.hex()}: {exc.reason}") from None

    def status(self, request_hash: bytes) -> Validation:
        """A request and its latest answer; ConfigError for an unknown request."""
        try:
            validator, agent, response, rhash, tag, at = self.contract.getValidationStatus(request_hash)
        except Reverted:
            raise ConfigError(f"there is no validation request 0x{request_hash.hex()}") from None
        answered = bool(self.contract.hasResponse(request_hash))
        return Validation(request_hash, to_checksum_address(validator), int(agent), int(response) if answered else None,
                          bytes(rhash), str(tag), int(at))

    def of_agent(self, agent_id: int) -> list[Validation]:
        """Every request about model ``agent_id`` (pages through the registry's lists)."""
        hashes: list[bytes] = []
        while True:
            page = [bytes(h) for h in self.contract.getAgentValidationsPage(agent_id, len(hashes))]
            hashes += page
            if len(page) < 1024:
                break
        return [self.status(h) for h in hashes]

    def summary(self, agent_id: int, validators: list[str] | None = None, tag: str = "") -> tuple[int, int]:
        """``(count, mean response)`` of model ``agent_id``'s answered validations (ERC-8004 ``getSummary``)."""
        count, mean = self.contract.getSummary(agent_id, [to_checksum_address(v) for v in validators or []], tag)
        return int(count), int(mean)

    def training_job_request(self, agent_id: int, job_id: int) -> bytes:
        """The request hash that asks ``EvidenceValidator`` about model ``agent_id``'s training job ``job_id``."""
        return bytes(self.evidence.training_job_request(agent_id, job_id))

    def attest_training_job(
        self, agent_id: int, job_id: int, owner: Signer, sender: Signer | None = None
    ) -> Validation:
        """Have ``EvidenceValidator`` validate one of the model's training jobs: the owner's request
        (unless made before), then the validator's answer read from the chain (sent by ``sender``,
        anyone; the owner by default). ConfigError with the contract's reason if it cannot answer."""
        return self._attest("training", agent_id, job_id, owner, sender)

    def attest_zk_job(self, agent_id: int, job_id: int, owner: Signer, sender: Signer | None = None) -> Validation:
        """The same for one of the model's zero-knowledge jobs (100: settled on a verified proof)."""
        return self._attest("zk", agent_id, job_id, owner, sender)

    def _attest(self, what: str, agent_id: int, job_id: int, owner: Signer, sender: Signer | None) -> Validation:
        if what == "zk":
            request, answer = bytes(self.evidence.zk_job_request(agent_id, job_id)), self.evidence.attest_zk_job
        else:
            request, answer = self.training_job_request(agent_id, job_id), self.evidence.attest_training_job
        known = True
        try:
            self.contract.getValidationStatus(request)
        except Reverted:
            known = False
        if not known:
            self.request(agent_id, self.evidence.address, request, owner, uri=f"agora:job:{job_id}")
        try:
            answer(agent_id, job_id, sender=sender or owner)
        except Reverted as exc:
            raise ConfigError(f"the evidence validator cannot answer for job {job_id} of model {agent_id}: "
                              f"{exc.reason}") from None
        return self.status(request)
