"""The ``DataServices`` client: compute-to-data rules, privacy budgets and federated runs.

What a dataset's holder lets others do with the data without handing it out
(``contracts/data/DataServices.vy``): algorithms allowed per dataset by content hash (deny by
default), the dataset's compute node and output policy, a privacy budget in micro-epsilon spent
by that node once per job, and federated-learning runs whose rounds are paid to the holders that
took part. Compute-to-data jobs themselves are ``ComputeMarket`` jobs with the ``DIRECT`` policy;
:mod:`agora.data.c2d` posts and runs them.

    >>> services = DataServices(deployment)
    >>> services.set_algorithm(dataset, algorithm_cid, True, owner)
    >>> services.algorithm_allowed(dataset, algorithm_cid)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from agora.chain import Contract, Signer, TxReceipt
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment
from agora.storage import cid_digest

__all__ = ["MICRO", "DataServices", "FLRun", "epsilon_to_micro", "fl_reference", "micro_to_epsilon"]

#: Micro-epsilon per epsilon: budgets and spends are integers on chain.
MICRO = 10**6


#: A federated run's privacy spends are recorded under this reference bit (job ids stay below it).
_FL_REFERENCE = 1 << 128


def fl_reference(run_id: int) -> int:
    """The reference a holder records federated run ``run_id``'s ε under (``spend_privacy``)."""
    return _FL_REFERENCE | run_id


def epsilon_to_micro(epsilon: float) -> int:
    """Epsilon as the chain's integer micro-epsilon, rounded up (a spend is never under-recorded)
    after float noise below 1e-6 micro-epsilon is dropped (1.1 is 1,100,000, not 1,100,001): the
    one rule the chain, the node's ledger and the clients share."""
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon >= 0):
        raise ConfigError(f"epsilon must be a finite number >= 0, not {epsilon!r}")
    return math.ceil(round(epsilon * MICRO, 6))


def micro_to_epsilon(micro: int) -> float:
    """The chain's micro-epsilon as epsilon."""
    return micro / MICRO


def _digest(algorithm: bytes | str) -> bytes:
    """An algorithm's 32-byte id: its CIDv1's digest (or 32 raw bytes)."""
    if isinstance(algorithm, bytes):
        if len(algorithm) != 32:
            raise ConfigError("an algorithm id is 32 bytes (its CID's digest) or a CID")
        return algorithm
    return cid_digest(algorithm)


@dataclass(frozen=True)
class FLRun:
    """A federated run as the chain records it."""

    id: int
    consumer: str
    token: str
    pay_per_round: int
    rounds: int
    recorded: int
    deadline: int
    escrow: int
    closed: bool
    datasets: list[int]
    nodes: list[str]


class DataServices:
    """Typed calls of the deployment's ``DataServices`` contract (role ``data_services``)."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("data_services")
        self.last_receipt: TxReceipt | None = None

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    def _sent(self, receipt: TxReceipt) -> TxReceipt:
        self.last_receipt = receipt
        return receipt

    # -- compute-to-data rules -------------------------------------------------------
    def set_algorithm(self, dataset: int, algorithm: bytes | str, allowed: bool, sender: Signer) -> TxReceipt:
        """Allow (or deny again) an algorithm, by its CID, on the dataset (its owner or manager)."""
        return self._sent(self.contract.set_algorithm(dataset, _digest(algorithm), allowed, sender=sender))

    def algorithm_allowed(self, dataset: int, algorithm: bytes | str) -> bool:
        """Whether the algorithm may run next to the dataset (deny by default)."""
        return bool(self.contract.algorithm_allowed(dataset, _digest(algorithm)))

    def set_compute_node(self, dataset: int, node: str, sender: Signer) -> TxReceipt:
        """Name the account that runs jobs on the dataset and records its privacy spends."""
        return self._sent(self.contract.set_compute_node(dataset, to_checksum_address(node), sender=sender))

    def compute_node(self, dataset: int) -> str | None:
        """The dataset's compute node (None: none named)."""
        node = to_checksum_address(self.contract.compute_node(dataset))
        return None if int(node, 16) == 0 else node

    def set_output_policy(self, dataset: int, policy_cid: str, sender: Signer) -> TxReceipt:
        """Record the digest of the dataset's output policy document (stored by CID)."""
        return self._sent(self.contract.set_output_policy(dataset, cid_digest(policy_cid), sender=sender))

    def output_policy(self, dataset: int) -> bytes:
        """The digest of the dataset's output policy (32 zero bytes: none)."""
        return bytes(self.contract.output_policy(dataset))

    # -- privacy budgets ---------------------------------------------------------------
    def set_privacy_budget(self, dataset: int, epsilon: float, sender: Signer) -> TxReceipt:
        """Set the dataset's total budget (epsilon; not below what is spent)."""
        return self._sent(self.contract.set_privacy_budget(dataset, epsilon_to_micro(epsilon), sender=sender))

    def privacy(self, dataset: int) -> tuple[int, int]:
        """``(budget, spent)`` in micro-epsilon."""
        budget, spent = self.contract.privacy(dataset)
        return int(budget), int(spent)

    def spend_privacy(self, dataset: int, reference: int, micro: int, sender: Signer) -> TxReceipt:
        """Record that job ``reference`` spent ``micro`` micro-epsilon (the compute node only)."""
        return self._sent(self.contract.spend_privacy(dataset, reference, micro, sender=sender))

    def privacy_spent(self, dataset: int, reference: int) -> int:
        """What job ``reference`` spent, in micro-epsilon (0: nothing)."""
        return int(self.contract.privacy_spent(dataset, reference))

    # -- federated runs ------------------------------------------------------------------
    def open_run(self, datasets: Sequence[int], rounds: int, pay_per_round: int, deadline: int, sender: Signer,
                 *, token: str | None = None) -> int:
        """Open a federated run (escrowing rounds x datasets x pay, approved here); return its id."""
        if not datasets:
            raise ConfigError("a federated run needs at least one dataset")
        token_addr = to_checksum_address(token) if token is not None else self.dep.token.address
        escrow = rounds * len(datasets) * pay_per_round
        if escrow:
            erc20 = Contract(self.chain, "ERC20", token_addr, self.dep.token.abi)
            if erc20.allowance(sender.address, self.address) < escrow:
                erc20.approve(self.address, escrow, sender=sender)
        receipt = self._sent(self.contract.open_run(list(datasets), rounds, token_addr, pay_per_round, deadline,
                                                    sender=sender))
        (event,) = self.contract.events_in(receipt, "RunOpened")
        return int(event.args["run_id"])

    def record_round(self, run_id: int, round_: int, participants: Sequence[int], aggregate: bytes,
                     sender: Signer) -> TxReceipt:
        """Record round ``round_`` with the indices (in the run's order) of the holders that took part."""
        bits = 0
        for i in participants:
            bits |= 1 << i
        return self._sent(self.contract.record_round(run_id, round_, bits, aggregate, sender=sender))

    def recorded_rounds(self, run_id: int, from_block: int = 0) -> dict[int, tuple[int, ...]]:
        """The run's rounds recorded on chain (from its ``RoundRecorded`` events): round -> the
        indices (in the run's order) of the holders paid for it."""
        where: list[bytes | None] = [run_id.to_bytes(32, "big")]
        out: dict[int, tuple[int, ...]] = {}
        for ev in self.contract.get_events("RoundRecorded", from_block, where=where):
            bits = int(ev.args["participants"])
            out[int(ev.args["round"])] = tuple(i for i in range(bits.bit_length()) if bits >> i & 1)
        return out

    def close_run(self, run_id: int, sender: Signer) -> TxReceipt:
        """Close the run; what was not earned is credited back to its consumer."""
        return self._sent(self.contract.close_run(run_id, sender=sender))

    def run(self, run_id: int) -> FLRun:
        """The run's record; ConfigError for an unknown run."""
        try:
            r = self.contract.run(run_id)
        except Reverted:
            raise ConfigError(f"there is no federated run {run_id} on chain {self.chain.chain_id}") from None
        consumer, token, pay, rounds, recorded, deadline, escrow, closed, datasets, nodes = r
        return FLRun(run_id, to_checksum_address(consumer), to_checksum_address(token), int(pay), int(rounds),
                     int(recorded), int(deadline), int(escrow), bool(closed), [int(d) for d in datasets],
                     [to_checksum_address(n) for n in nodes])

    def owed(self, account: str, token: str | None = None) -> int:
        """What ``account`` may withdraw in ``token`` (default: the protocol token)."""
        token_addr = to_checksum_address(token) if token is not None else self.dep.token.address
        return int(self.contract.owed(to_checksum_address(account), token_addr))

    def withdraw(self, sender: Signer, token: str | None = None) -> int:
        """Withdraw everything owed in ``token``; return the amount (0: nothing, no transaction)."""
        token_addr = to_checksum_address(token) if token is not None else self.dep.token.address
        amount = self.owed(sender.address, token_addr)
        if amount:
            self._sent(self.contract.withdraw(token_addr, sender=sender))
        return amount
