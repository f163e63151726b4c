"""Typed access to the compute contracts: ``ProviderRegistry`` and ``ComputeMarket``.

Everything the requester client, the provider daemon and the CLI say to the
chain about compute goes through :class:`Market`, so the encodings (policies,
states, commitments, CIDs as 32-byte digests) live in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from agora.chain import Contract, Signer, TxReceipt, sign_permit
from agora.errors import AgoraError, ConfigError, Reverted
from agora.protocol import Deployment

# bytes32_to_cid / cid_to_bytes32 moved to the storage seam in 0.4; still importable from here for 0.3 code
from agora.storage import bytes32_to_cid, cid_to_bytes32

__all__ = [
    "Policy",
    "JobState",
    "JobSpec",
    "JobInfo",
    "ProviderInfo",
    "Market",
    "commitment",
    "cid_to_bytes32",
    "bytes32_to_cid",
]

BPS = 10_000
_JOB_SELECTOR = keccak(text="job(uint256)")[:4]
_JOB_VIEW = "(address,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,address[],bytes32)"


def commitment(job_id: int, provider: str, digest: bytes, salt: bytes) -> bytes:
    """``keccak256(abi_encode(job_id, provider, digest, salt))``, as the contract checks it."""
    return keccak(
        encode(["uint256", "address", "bytes32", "bytes32"], [job_id, to_checksum_address(provider), digest, salt])
    )


@dataclass(frozen=True)
class Policy:
    """How a job's result is verified.

    ``Policy.none()`` — reputation only; ``Policy.audit(0.1)`` — one provider, and with
    probability p (drawn after its commit) an auditor re-executes, a mismatch goes to a
    tie-breaker and the loser is slashed; ``Policy.replicate(3)`` — k providers, the
    majority digest wins and dissenters are slashed; ``Policy.direct(i)`` — the one provider at
    1-based index ``i`` of the kind's pool runs it (compute-to-data: only the holder of the data
    can), verified by nobody else; it may decline before committing (a full refund), and a
    silent one is penalised and the job refunded; ``Policy.zk(model_id)`` — one provider, whose
    result the market accepts only as the digest the ``zk_checker`` recorded after verifying a
    zero-knowledge proof of registered model ``model_id`` on the input the requester committed to.
    """

    name: str
    param: int = 0  # basis points for audit, k for replicate

    NONE = 0
    AUDIT = 1
    REPLICATE = 2
    DIRECT = 3
    ZK = 4

    @classmethod
    def none(cls) -> Policy:
        """Reputation only."""
        return cls("none", 0)

    @classmethod
    def audit(cls, p: float) -> Policy:
        """Spot-check audits with probability ``p`` (0..1)."""
        if not 0 <= p <= 1:
            raise ConfigError(f"audit probability {p} is not between 0 and 1")
        return cls("audit", round(p * BPS))

    @classmethod
    def replicate(cls, k: int) -> Policy:
        """``k`` providers (2..7), majority wins."""
        if not 2 <= k <= 7:
            raise ConfigError(f"replicate needs 2..7 providers, not {k}")
        return cls("replicate", k)

    @classmethod
    def direct(cls, index: int) -> Policy:
        """The provider at 1-based ``index`` in the kind's pool (``ProviderRegistry.member``)."""
        if not 1 <= index <= 0xFFFF:
            raise ConfigError(f"a provider index is 1..65535, not {index}")
        return cls("direct", index)

    @classmethod
    def zk(cls, model_id: int) -> Policy:
        """Proven in zero knowledge: the model registry's ``model_id`` (registered for it)."""
        if model_id <= 0:
            raise ConfigError(f"a ZK job names a registered model (an id from 1), not {model_id}")
        return cls("zk", model_id)

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``none``, ``audit:0.1`` or ``replicate:3`` (what the CLI accepts)."""
        name, _, arg = text.strip().lower().partition(":")
        try:
            if name == "none" and not arg:
                return cls.none()
            if name == "audit":
                return cls.audit(float(arg or "0.1"))
            if name == "replicate":
                return cls.replicate(int(arg or "3"))
            if name == "zk" and arg:
                return cls.zk(int(arg))
        except ValueError:
            pass
        raise ConfigError(f"unknown policy {text!r}",
                          hint="use none, audit:<p> (e.g. audit:0.1), replicate:<k> or zk:<model id>")

    @classmethod
    def from_chain(cls, code: int, param: int) -> Policy:
        """The policy stored on chain as (code, param)."""
        return cls(("none", "audit", "replicate", "direct", "zk")[code], param)

    @property
    def code(self) -> int:
        """The contract's policy number."""
        return {"none": 0, "audit": 1, "replicate": 2, "direct": 3, "zk": 4}[self.name]

    @property
    def executions(self) -> int:
        """Executions the escrow covers in the worst case."""
        return {"none": 1, "audit": 3, "replicate": self.param, "direct": 1, "zk": 1}[self.name]

    def __str__(self) -> str:
        if self.name == "audit":
            return f"audit:{self.param / BPS:g}"
        if self.name == "replicate":
            return f"replicate:{self.param}"
        if self.name == "direct":
            return f"direct:{self.param}"
        if self.name == "zk":
            return f"zk:{self.param}"
        return "none"


class JobState(enum.IntEnum):
    """A job's phase on chain."""

    NONE = 0
    ASSIGNED = 1
    COMMITTED = 2
    REVEALING = 3
    AUDIT_COMMIT = 4
    AUDIT_REVEAL = 5
    TIE_COMMIT = 6
    TIE_REVEAL = 7
    SETTLED = 8
    REFUNDED = 9

    @property
    def closed(self) -> bool:
        """True once the job is settled or refunded."""
        return self >= JobState.SETTLED

    @property
    def label(self) -> str:
        """Lower-case name for display."""
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class JobSpec:
    """What to run, how to verify it, and the price offered per work unit."""

    kind: int
    model: str  # CID
    input: str  # CID (for a batch: the manifest listing the item inputs)
    units: int
    price_per_unit: int
    policy: Policy = field(default_factory=lambda: Policy.audit(0.1))
    items: int = 1
    duration: int = 3_600

    def to_chain(self) -> tuple[Any, ...]:
        """The ``JobSpec`` struct as the contract takes it."""
        return (
            self.kind, cid_to_bytes32(self.model), cid_to_bytes32(self.input), self.units, self.items,
            self.price_per_unit, self.policy.code, self.policy.param, self.duration,
        )

    @property
    def pay(self) -> int:
        """What one execution pays."""
        return self.units * self.price_per_unit

    @property
    def escrow(self) -> int:
        """The worst-case cost escrowed at post (the unused part is refunded)."""
        return self.pay * self.policy.executions


@dataclass(frozen=True)
class JobInfo:
    """A job as the chain sees it."""

    id: int
    requester: str
    pay: int
    kind: int
    policy: Policy
    state: JobState
    deadline: int
    mark: int
    replacements: int
    escrow: int
    providers: list[str]
    result: bytes

    @property
    def closed(self) -> bool:
        """Settled or refunded."""
        return self.state.closed


@dataclass(frozen=True)
class ProviderInfo:
    """A provider's record in the registry."""

    address: str
    stake: int
    unbonding: int
    unbond_at: int
    price: int
    reputation: int
    kinds: int
    active: bool
    registered: bool
    metadata: bytes

    @property
    def kind_ids(self) -> list[int]:
        """The workload kind ids served."""
        return [k for k in range(16) if self.kinds >> k & 1]


class Market:
    """The compute contracts of one deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("market")
        self.registry: Contract = dep.contract("registry")
        self.token: Contract = dep.token

    # -- reads --------------------------------------------------------------
    def job(self, job_id: int) -> JobInfo:
        """The job ``job_id``; ConfigError if there is none."""
        # the daemon's hottest read: encoded and decoded directly, not through web3's
        # contract machinery (which costs more CPU than the node takes to answer)
        raw = self.chain.call_raw(self.contract.address, _JOB_SELECTOR + encode(["uint256"], [job_id]))
        (v,) = decode([_JOB_VIEW], raw)
        if v[5] == 0:
            raise ConfigError(f"there is no job {job_id} on chain {self.chain.chain_id}")
        return JobInfo(
            id=job_id, requester=to_checksum_address(v[0]), pay=v[1], kind=v[2], policy=Policy.from_chain(v[3], v[4]),
            state=JobState(v[5]), deadline=v[6], mark=v[7], replacements=v[8], escrow=v[9],
            providers=[to_checksum_address(a) for a in v[10]], result=bytes(v[11]),
        )

    def job_count(self) -> int:
        """How many jobs were ever posted."""
        return int(self.contract.job_count())

    def provider(self, address: str) -> ProviderInfo:
        """The registry's record of ``address``."""
        stake, unbonding, unbond_at, price, reputation, kinds, active, registered, metadata = self.registry.provider(
            to_checksum_address(address)
        )
        return ProviderInfo(
            address=to_checksum_address(address), stake=int(stake), unbonding=int(unbonding),
            unbond_at=int(unbond_at), price=int(price), reputation=int(reputation), kinds=int(kinds),
            active=bool(active), registered=bool(registered), metadata=bytes(metadata),
        )

    def owed(self, address: str) -> int:
        """What the market owes ``address`` (withdrawable)."""
        return int(self.contract.owed(to_checksum_address(address)))

    def zk_commit_input(self, job_id: int, model_id: int, data: bytes, sender: Signer) -> bytes:
        """As a ZK job's requester: commit to its input (``data``: an ``.npy`` array or a JSON list
        of numbers), quantized at the scale the model's circuit records on chain; return the
        commitment. ConfigError if the model has no circuit or hashes its input."""
        from agora.compute.execution import zk_input_values
        from agora.workloads.zk_binding import circuit_fields, quantize, words_digest

        checker = self.dep.contract("zk_checker")
        c = circuit_fields(checker.circuit(model_id))
        if c is None:
            raise ConfigError(f"model {model_id} has no zero-knowledge circuit registered")
        count, input_count, scale = c["count"], c["input_count"], c["input_scale"]
        if input_count == 0:
            raise ConfigError(f"model {model_id}'s circuit hashes its input: commit its Poseidon hash yourself")
        values = quantize(zk_input_values(data), scale)
        if len(values) != input_count or input_count > count:
            raise ConfigError(f"model {model_id}'s circuit takes {input_count} input values, not {len(values)}")
        commitment = words_digest(values)
        try:
            checker.expect_input(job_id, commitment, sender=sender)
        except Reverted as exc:
            raise ConfigError(f"cannot commit job {job_id}'s input: {exc.reason}") from None
        return commitment

    def zk_circuit_id(self, model_id: int) -> bytes | None:
        """The id (sha-256 over its artifacts) of the circuit registered for ``model_id``, or None."""
        if "zk_checker" not in self.dep.addresses:
            return None
        from agora.workloads.zk_binding import circuit_fields

        c = circuit_fields(self.dep.contract("zk_checker").circuit(model_id))
        return None if c is None else bytes(c["artifacts"])

    def zk_prove(self, job_id: int, proof: bytes, instances: list[int], sender: Signer) -> bytes:
        """Submit a ZK job's proof to the deployment's ``zk_checker`` (the verify layer's contract,
        by its role); return the result digest it recorded. AgoraError with its reason if refused."""
        checker = self.dep.contract("zk_checker")
        try:
            checker.prove(job_id, proof, instances, sender=sender)
        except Reverted as exc:
            raise AgoraError(f"job {job_id}'s proof was refused: {exc.reason}") from None
        return bytes(checker.proven(job_id))

    def assignment(self, job_id: int, slot: int) -> tuple[str, bytes, bool]:
        """(provider, commitment or digest, revealed) of one slot."""
        who, c, revealed = self.contract.assignment(job_id, slot)
        return who, bytes(c), bool(revealed)

    def is_audited(self, job_id: int) -> bool:
        """Whether a committed AUDIT job was drawn for audit."""
        return bool(self.contract.is_audited(job_id))

    # -- requester ------------------------------------------------------------
    def ensure_allowance(self, owner: Signer, spender: str, amount: int) -> None:
        """Approve ``spender`` for at least ``amount`` (an unlimited approval, once)."""
        if self.token.allowance(owner.address, spender) < amount:
            self.token.approve(spender, 2**256 - 1, sender=owner)

    def post(self, specs: list[JobSpec], sender: Signer) -> tuple[list[int], TxReceipt]:
        """Post jobs (one transaction; ``post_many`` for several); return their ids."""
        if not specs:
            raise ConfigError("nothing to post")
        cost = sum(s.escrow for s in specs) + int(self.contract.min_fee())
        if self.owed(sender.address) < cost:
            self.ensure_allowance(sender, self.contract.address, cost)
        if len(specs) == 1:
            receipt = self.contract.post(specs[0].to_chain(), sender=sender)
        else:
            receipt = self.contract.post_many([s.to_chain() for s in specs], sender=sender)
        ids = [e["job_id"] for e in self.contract.events_in(receipt, "JobPosted")]
        return ids, receipt

    def deposit(self, amount: int, sender: Signer) -> TxReceipt:
        """Put ``amount`` into the sender's market balance, for posting without a transfer per job."""
        self.ensure_allowance(sender, self.contract.address, amount)
        return self.contract.deposit(amount, sender=sender)

    def deposit_with_permit(self, amount: int, sender: Signer, *, valid_for: int = 3_600) -> TxReceipt:
        """Deposit ``amount`` with an EIP-2612 permit signed locally (EIP-712 typed data),
        instead of a separate approval transaction. The token must support EIP-2612 and
        EIP-5267 (``eip712Domain``), as AgoraToken and most stablecoins do."""
        try:
            _, name, version, chain_id, verifying, _, _ = self.token.eip712Domain()
            nonce = int(self.token.nonces(sender.address))
        except Exception as exc:  # noqa: BLE001 - any failure here means "no permit support"
            raise ConfigError(f"the token at {self.token.address} does not support EIP-2612 permits") from exc
        deadline = self.chain.timestamp() + valid_for
        domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
        v, r, s_ = sign_permit(sender, domain, self.contract.address, amount, nonce, deadline)
        return self.contract.deposit_with_permit(amount, deadline, v, r, s_, sender=sender)

    def withdraw(self, sender: Signer) -> int:
        """Withdraw everything the market owes the sender; return the amount (0 if nothing)."""
        amount = self.owed(sender.address)
        if amount:
            self.contract.withdraw(sender=sender)
        return amount

    def timeout(self, job_id: int, sender: Signer) -> TxReceipt:
        """Move a job whose phase is past its time (anyone may)."""
        return self.contract.timeout(job_id, sender=sender)

    def decline(self, job_id: int, sender: Signer) -> TxReceipt:
        """Hand back a ``direct`` job before committing (its provider only): a full refund."""
        return self.contract.decline(job_id, sender=sender)

    # -- provider -------------------------------------------------------------
    def register(
        self, sender: Signer, *, kinds: list[int], price: int, stake: int, metadata: bytes = bytes(32)
    ) -> TxReceipt:
        """Register ``sender`` as a provider of ``kinds`` at ``price`` per unit with ``stake``."""
        mask = 0
        for k in kinds:
            if not 0 <= k < 16:
                raise ConfigError(f"workload kind id {k} is not in 0..15")
            mask |= 1 << k
        self.ensure_allowance(sender, self.registry.address, stake)
        return self.registry.register(mask, price, stake, metadata, sender=sender)

    def commit(self, job_id: int, digest: bytes, salt: bytes, sender: Signer) -> TxReceipt:
        """Commit to ``digest`` for ``job_id``."""
        return self.contract.commit(job_id, commitment(job_id, sender.address, digest, salt), sender=sender)

    def reveal(self, job_id: int, digest: bytes, result_cid: str, salt: bytes, sender: Signer) -> TxReceipt:
        """Reveal a committed result."""
        return self.contract.reveal(job_id, digest, cid_to_bytes32(result_cid), salt, sender=sender)
