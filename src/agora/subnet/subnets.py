"""Typed access to a deployment's ``SubnetRegistry`` and ``SubnetSettlement``, and the epoch flow.

    >>> subnets = Subnets(dep)
    >>> netuid = subnets.create(owner, tempo=10, max_uids=16, immunity_period=20)
    >>> uid = subnets.register(netuid, hotkey.address, coldkey)
    >>> subnets.commit_weights(netuid, hotkey, [1, 2], [30000, 65535], salt)   # epoch e
    >>> subnets.reveal_weights(netuid, hotkey, [1, 2], [30000, 65535], salt)   # epoch e + 1
    >>> inputs = subnets.epoch_inputs(netuid, e)                               # read from the chain
    >>> settled = subnets.compute_epoch(netuid, e, bonds)                      # Yuma, leaves, root
    >>> subnets.post_epoch(netuid, e, settled.claim, [subnets.sign(netuid, e, settled.claim, v) for v in vals])

Everything an epoch needs is read from the chain: the stakes at the epoch's block
(``stake_at``), the weight rows as they stood at that block (rebuilt from ``WeightsRevealed``
and ``NeuronRegistered`` events), the permits, the registration and update blocks. The bonds
are the one input carried between epochs off chain (each validator keeps its own; the posted
``state`` is their digest).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_abi import encode
from eth_utils.address import to_checksum_address

from agora.chain import Contract, Event, Signer
from agora.chain.eip712 import keccak256
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment
from agora.subnet.settlement import (
    NO_PRUNE,
    WAD,
    EpochClaim,
    consensus_proof,
    consensus_root,
    epoch_digest,
    epoch_key,
    epoch_leaves,
    leaves_proof,
    leaves_root,
    prune_candidate,
    settlement_domain,
)
from agora.subnet.yuma import EpochResult, YumaParams, epoch

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from agora.chain import TxReceipt

__all__ = ["EpochInputs", "Neuron", "SettledEpoch", "Subnets", "pack_row", "weights_commit_hash"]

_U16 = 65_535


def weights_commit_hash(netuid: int, hotkey: str, uids: Sequence[int], values: Sequence[int], salt: bytes) -> bytes:
    """The hash ``commit_weights`` takes and ``reveal_weights`` checks:
    ``keccak256(abi_encode(netuid, hotkey, uids, values, salt))``."""
    return keccak256(encode(["uint256", "address", "uint16[]", "uint16[]", "bytes32"],
                            [netuid, to_checksum_address(hotkey), list(uids), list(values), salt]))


def pack_row(uids: Sequence[int], values: Sequence[int]) -> list[int]:
    """A weight row as the registry digests it: 16 words, UID u's u16 at word u >> 4, bits
    16 * (u & 15)."""
    words = [0] * 16
    for u, v in zip(uids, values, strict=True):
        words[u >> 4] |= (v & _U16) << ((u & 15) << 4)
    return words


@dataclass(frozen=True)
class Neuron:
    """One UID of a subnet, now."""

    uid: int
    hotkey: str
    coldkey: str
    registered_at: int
    last_update: int
    stake: int


@dataclass(frozen=True)
class EpochInputs:
    """What Yuma takes for one epoch, read from the chain (``n`` UIDs)."""

    netuid: int
    epoch: int
    block: int
    stake: NDArray[np.float64]
    weights: NDArray[np.int64]          # (n, n) u16 rows as they stood at ``block``
    permits: NDArray[np.bool_]          # the previous epoch's validator permits
    last_update: NDArray[np.int64]
    registered_at: NDArray[np.int64]
    coldkeys: list[str]
    params: YumaParams
    immunity_period: int
    rows: dict[int, tuple[list[int], list[int]]]   # each UID's revealed (uids, values) standing at ``block``
    tempo: int = 0


@dataclass(frozen=True)
class SettledEpoch:
    """An epoch computed and made payable: Yuma's result, the leaves, the claim to sign."""

    inputs: EpochInputs
    result: EpochResult
    accounts: list[str]
    amounts: list[int]
    claim: EpochClaim
    consensus: list[int]          # each UID's consensus, 1e18 fixed point
    ranks: list[int]              # each UID's rank: the stake-weighted sum of its clipped weights, 1e18

    def proof(self, index: int) -> list[bytes]:
        """Leaf ``index``'s Merkle proof."""
        return leaves_proof(self.accounts, self.amounts, index)

    def consensus_proof(self, uid: int) -> list[bytes]:
        """UID ``uid``'s proof in the consensus root."""
        return consensus_proof(self.consensus, self.ranks, uid)


class Subnets:
    """Typed calls of the subnet layer's contracts (roles ``subnet_registry``, ``subnet_settlement``
    and ``subnet_verifier``)."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.registry: Contract = dep.contract("subnet_registry")
        self.settlement: Contract = dep.contract("subnet_settlement")
        self.verifier: Contract = dep.contract("subnet_verifier")
        self.domain = settlement_domain(self.chain.chain_id, self.settlement.address)
        # each subnet's registrations and reveals read so far: (next block, hash of the block
        # before it, events); read forward only, so epoch after epoch costs what is new
        self._history: dict[int, tuple[int, str, list[Event]]] = {}
        self._history_lock = threading.Lock()

    # -- subnets and neurons ------------------------------------------------------------
    def create(self, owner: Signer, *, tempo: int = 100, max_uids: int = 64, immunity_period: int = 200,
               min_burn: int = 10**18, max_burn: int = 100 * 10**18) -> int:
        """Create a subnet owned by ``owner``; its netuid."""
        receipt = self.registry.create_subnet(tempo, max_uids, immunity_period, min_burn, max_burn, sender=owner)
        (event,) = self.registry.events_in(receipt, "SubnetCreated")
        return int(event.args["netuid"])

    def hyperparams(self, netuid: int) -> dict[str, Any]:
        """The subnet's hyper-parameters, by name."""
        values = self.registry.hyperparams(netuid)
        names = ("tempo", "max_uids", "immunity_period", "kappa", "bonds_penalty", "bonds_moving_average",
                 "max_weight_limit", "weights_rate_limit", "max_allowed_validators", "activity_cutoff", "yuma3",
                 "liquid_alpha", "alpha_low", "alpha_high", "min_burn", "max_burn", "burn_rise_bps", "burn_half_life")
        return dict(zip(names, values, strict=True))

    def set_hyperparams(self, netuid: int, owner: Signer, **changes: Any) -> TxReceipt:
        """Change some hyper-parameters (the subnet's owner); the rest stay."""
        hp = self.hyperparams(netuid)
        unknown = set(changes) - set(hp)
        if unknown:
            raise ConfigError(f"unknown hyper-parameters: {sorted(unknown)}")
        hp.update(changes)
        return self.registry.set_hyperparams(netuid, tuple(hp.values()), sender=owner)

    def register(self, netuid: int, hotkey: str, coldkey: Signer, max_burn: int | None = None) -> int:
        """Register ``hotkey`` (owned by ``coldkey``, who pays the burn); its UID."""
        burn = int(self.registry.current_burn(netuid))
        cap = burn if max_burn is None else max_burn
        token = self.dep.token
        if token.allowance(coldkey.address, self.registry.address) < burn:
            token.approve(self.registry.address, cap, sender=coldkey)
        self.registry.register(netuid, to_checksum_address(hotkey), cap, sender=coldkey)
        return int(self.registry.uid_of(netuid, to_checksum_address(hotkey)))

    def add_stake(self, netuid: int, hotkey: str, amount: int, staker: Signer) -> TxReceipt:
        """Stake ``amount`` to ``hotkey`` (approving the registry first if needed)."""
        token = self.dep.token
        if token.allowance(staker.address, self.registry.address) < amount:
            token.approve(self.registry.address, amount, sender=staker)
        return self.registry.add_stake(netuid, to_checksum_address(hotkey), amount, sender=staker)

    def remove_stake(self, netuid: int, hotkey: str, shares: int, staker: Signer) -> TxReceipt:
        """Burn ``shares`` of ``staker``'s shares in ``hotkey``'s pool for their value."""
        return self.registry.remove_stake(netuid, to_checksum_address(hotkey), shares, sender=staker)

    def staked(self, netuid: int, hotkey: str, staker: str) -> tuple[int, int]:
        """``staker``'s shares in ``hotkey``'s pool and what they are worth now (wei, rounded down)."""
        key = to_checksum_address(hotkey)
        shares = int(self.registry.shares_of(netuid, key, to_checksum_address(staker)))
        stake, total = (int(x) for x in self.registry.hotkey_stake(netuid, key))
        return shares, shares * stake // total if total else 0

    def size(self, netuid: int) -> int:
        """How many UIDs the subnet has."""
        return int(self.registry.size(netuid))

    def neurons(self, netuid: int) -> list[Neuron]:
        """Every UID of the subnet, now."""
        out = []
        for uid in range(self.size(netuid)):
            reg = self.registry
            out.append(Neuron(uid, to_checksum_address(reg.hotkey_of(netuid, uid)),
                              to_checksum_address(reg.coldkey_of(netuid, uid)), int(reg.registered_at(netuid, uid)),
                              int(reg.last_update(netuid, uid)), int(reg.stake_of(netuid, uid))))
        return out

    # -- weights and epochs -------------------------------------------------------------
    def commit_weights(self, netuid: int, hotkey: Signer, uids: Sequence[int], values: Sequence[int],
                       salt: bytes | None = None) -> bytes:
        """Commit weights (a validator with a permit); the salt to reveal them with."""
        salt = salt if salt is not None else secrets.token_bytes(32)
        self.registry.commit_weights(netuid, weights_commit_hash(netuid, hotkey.address, uids, values, salt),
                                     sender=hotkey)
        return salt

    def reveal_weights(self, netuid: int, hotkey: Signer, uids: Sequence[int], values: Sequence[int],
                       salt: bytes) -> TxReceipt:
        """Reveal weights committed in the previous epoch."""
        return self.registry.reveal_weights(netuid, list(uids), list(values), salt, sender=hotkey)

    def advance_epoch(self, netuid: int, sender: Signer) -> int:
        """Start the next epoch (anyone, once a tempo has passed); its number."""
        receipt = self.registry.advance_epoch(netuid, sender=sender)
        (event,) = self.registry.events_in(receipt, "EpochAdvanced")
        return int(event.args["epoch"])

    def current_epoch(self, netuid: int) -> int:
        """The subnet's current epoch (0 before the first)."""
        return int(self.registry.epoch(netuid))

    def epoch_inputs(self, netuid: int, e: int) -> EpochInputs:
        """Everything Yuma takes for epoch ``e``, read from the chain as it stood at the epoch's block."""
        if not 1 <= e <= self.current_epoch(netuid):
            raise ConfigError(f"subnet {netuid} has no epoch {e} yet (current: {self.current_epoch(netuid)})")
        block = int(self.registry.epoch_block(netuid, e))
        n = int(self.registry.epoch_size(netuid, e))      # the UIDs of the epoch (later ones are not in it)
        rows = np.zeros((n, n), dtype=np.int64)
        revealed: dict[int, tuple[list[int], list[int]]] = {}
        last = np.zeros(n, dtype=np.int64)
        reg = np.zeros(n, dtype=np.int64)
        coldkeys = [""] * n
        # in chain order: a registration clears the UID's row
        for ev in self._neuron_history(netuid, block):
            uid = int(ev.args["uid"])
            if uid >= n:
                continue
            if ev.name == "NeuronRegistered":
                rows[uid] = 0
                revealed.pop(uid, None)
                last[uid] = 0
                reg[uid] = ev.block_number
                coldkeys[uid] = to_checksum_address(ev.args["owner"])
            else:
                rows[uid] = 0
                revealed[uid] = ([int(j) for j in ev.args["uids"]], [int(v) for v in ev.args["values"]])
                for j, v in zip(ev.args["uids"], ev.args["values"], strict=True):
                    if int(j) < n:
                        rows[uid, int(j)] = int(v)
                last[uid] = ev.block_number
        # stakes as they stood at the end of the block before the epoch began (final; what the
        # settlement's quorum counts)
        for uid in range(n):              # replaced since the epoch: the new neuron's record (its leaf is not checked)
            if not coldkeys[uid]:
                coldkeys[uid] = to_checksum_address(self.registry.coldkey_of(netuid, uid))
                reg[uid] = int(self.registry.registered_at(netuid, uid))
        stake = np.array([float(self.registry.stake_at(netuid, uid, block - 1)) for uid in range(n)])
        prev = int(self.registry.permits_at(netuid, e - 1)) if e > 1 else 0
        permits = np.array([bool(prev >> uid & 1) for uid in range(n)])
        hp = self.hyperparams(netuid)
        params = YumaParams(
            kappa=int(hp["kappa"]), bonds_penalty=int(hp["bonds_penalty"]),
            bonds_moving_average=int(hp["bonds_moving_average"]), yuma3=bool(hp["yuma3"]),
            liquid_alpha=bool(hp["liquid_alpha"]), alpha_low=int(hp["alpha_low"]), alpha_high=int(hp["alpha_high"]),
            max_allowed_validators=int(hp["max_allowed_validators"]), activity_cutoff=int(hp["activity_cutoff"]),
        )
        return EpochInputs(netuid, e, block, stake, rows, permits, last, reg, coldkeys, params,
                           int(hp["immunity_period"]), revealed, int(hp["tempo"]))

    def _neuron_history(self, netuid: int, block: int) -> list[Event]:
        """Subnet ``netuid``'s ``NeuronRegistered`` and ``WeightsRevealed`` events up to ``block``,
        in chain order. Logs are read once: later calls read only the blocks added since (and
        start again if the last block read is no longer on the chain)."""
        with self._history_lock:
            next_block, seen_hash, events = self._history.get(netuid, (0, "", []))
            if next_block and self.chain.get_block(next_block - 1).hash != seen_hash:
                next_block, events = 0, []
            head = self.chain.block_number()
            if next_block <= head:
                events = events + self.registry.get_events(["NeuronRegistered", "WeightsRevealed"], next_block,
                                                           head, where=[netuid.to_bytes(32, "big")])
                self._history[netuid] = (head + 1, self.chain.get_block(head).hash, events)
        return [ev for ev in events if ev.block_number <= block]

    def compute_epoch(self, netuid: int, e: int, bonds: NDArray[np.int64] | None = None,
                      state: bytes = bytes(32)) -> SettledEpoch:
        """Run Yuma on epoch ``e``'s on-chain inputs (and the bonds carried from epoch ``e - 1``),
        and build the leaves, the prune candidate and the claim validators sign."""
        x = self.epoch_inputs(netuid, e)
        n = len(x.stake)
        b = np.zeros((n, n), dtype=np.int64) if bonds is None else _fit(bonds, n)
        tempo = x.tempo
        result = epoch(x.stake, x.weights, b, x.permits, x.last_update, x.registered_at, block=x.block,
                       last_tempo=max(0, x.block - tempo), params=x.params)
        shares = [float(s + v) for s, v in zip(result.server_emission, result.validator_emission, strict=True)]
        if sum(shares) > 1:
            shares = [s / sum(shares) for s in shares]
        total = self.epoch_total(netuid, e) if sum(shares) > 0 else 0
        owner = to_checksum_address(self.registry.subnet_owner(netuid))
        accounts, amounts = epoch_leaves(x.coldkeys, owner, shares, total)
        prune = prune_candidate(amounts[:n], list(x.registered_at), x.block, x.immunity_period) if n else NO_PRUNE
        # what the chain can recompute: each UID's consensus and rank (incentive x the rank sum, the
        # voters' stake-weighted validator trust), and what the shares were divided by
        active = (x.last_update + x.params.activity_cutoff >= x.block) & x.permits
        voting = x.stake * active
        sa = voting / voting.sum() if voting.sum() > 0 else voting
        rank_sum = float(np.dot(sa, result.validator_trust))
        consensus = [round(float(c) * WAD) for c in result.consensus]
        ranks = [round(float(i) * rank_sum * WAD) for i in result.incentive]
        split = round(float(result.incentive.sum() + result.dividends.sum()))
        claim = EpochClaim(leaves_root(accounts, amounts), total, prune, state, consensus_root(consensus, ranks),
                           sum(ranks), split)
        return SettledEpoch(x, result, accounts, amounts, claim, consensus, ranks)

    # -- settlement ---------------------------------------------------------------------
    def sign(self, netuid: int, e: int, claim: EpochClaim, validator: Signer) -> tuple[str, bytes]:
        """A validator's (hotkey's) signature of ``claim``: ``(address, 65-byte signature)``."""
        return validator.address, validator.sign_hash(epoch_digest(self.domain, netuid, e, claim))

    def post_epoch(self, netuid: int, e: int, claim: EpochClaim, signatures: Sequence[tuple[str, bytes]],
                   sender: Signer) -> TxReceipt:
        """Post a result with its validators' signatures (sorted here by signer, as the contract wants)."""
        ordered = sorted(signatures, key=lambda s: int(s[0], 16))
        sigs = [(sig[64] if sig[64] >= 27 else sig[64] + 27, sig[:32], sig[32:64]) for _, sig in ordered]
        return self.settlement.post_epoch(netuid, e, claim.as_tuple(), sigs, sender=sender)

    def signers(self, netuid: int, e: int) -> list[str]:
        """The signers of epoch ``e``'s posted result (from its ``EpochPosted`` event)."""
        found = self.settlement.get_events("EpochPosted", 0, where=[netuid.to_bytes(32, "big"), e.to_bytes(32, "big")])
        if not found:
            raise ConfigError(f"no result posted for subnet {netuid} epoch {e}")
        return [to_checksum_address(a) for a in found[-1].args["signers"]]

    def dispute_leaves(self, netuid: int, e: int, accounts: Sequence[str], amounts: Sequence[int],
                       sender: Signer) -> TxReceipt:
        """Prove a pending result wrong from its whole leaf list (reverts if it checks out)."""
        return self.settlement.dispute_leaves(netuid, e, list(accounts), list(amounts), self.signers(netuid, e),
                                              sender=sender)

    def voter_rows(self, netuid: int, e: int) -> list[list[int]]:
        """The rows ``dispute_consensus`` takes: each previous-epoch permit holder's weight row
        standing at epoch ``e``'s block, as 16 packed words, in ascending UID order."""
        x = self.epoch_inputs(netuid, e)
        return [pack_row(*x.rows.get(u, ([], []))) for u in range(len(x.permits)) if x.permits[u]]

    def dispute_consensus(self, netuid: int, e: int, settled: SettledEpoch | None, uid: int, sender: Signer,
                          consensus: Sequence[int] | None = None, ranks: Sequence[int] | None = None) -> TxReceipt:
        """Prove UID ``uid``'s committed consensus or rank wrong (``consensus``/``ranks``: the lists
        the posted root was built from, default ``settled``'s); reverts if they check out."""
        if settled is None and (consensus is None or ranks is None):
            raise ConfigError("give the posted consensus and ranks, or the settled epoch they come from")
        cs = list(consensus if consensus is not None else settled.consensus)  # type: ignore[union-attr]
        rs = list(ranks if ranks is not None else settled.ranks)  # type: ignore[union-attr]
        return self.verifier.dispute_consensus(self.settlement.address, netuid, e, uid, cs[uid], rs[uid],
                                               consensus_proof(cs, rs, uid), self.voter_rows(netuid, e),
                                               self.signers(netuid, e), sender=sender)

    def dispute_incentive(self, netuid: int, e: int, consensus: Sequence[int], ranks: Sequence[int],
                          accounts: Sequence[str], amounts: Sequence[int], sender: Signer) -> TxReceipt:
        """Prove from the whole consensus and leaf lists that a UID is not paid its incentive."""
        return self.verifier.dispute_incentive(self.settlement.address, netuid, e, list(consensus), list(ranks),
                                               list(accounts), list(amounts), self.signers(netuid, e), sender=sender)

    def claim(self, netuid: int, e: int, settled: SettledEpoch, index: int, sender: Signer) -> int:
        """Pay leaf ``index`` of a final result to its account; the amount (0 if already claimed)."""
        key = epoch_key(netuid, e)
        if self.settlement.claimed(key, index):
            return 0
        self.settlement.claim(netuid, e, index, settled.accounts[index], settled.amounts[index], settled.proof(index),
                              sender=sender)
        return settled.amounts[index]

    def finalize(self, netuid: int, e: int, sender: Signer) -> TxReceipt:
        """Hand the registry a final epoch's prune candidate."""
        return self.settlement.finalize(netuid, e, sender=sender)

    def fund(self, netuid: int, amount: int, sender: Signer) -> TxReceipt:
        """Add to the subnet's emission pool."""
        token = self.dep.token
        if token.allowance(sender.address, self.settlement.address) < amount:
            token.approve(self.settlement.address, amount, sender=sender)
        return self.settlement.fund(netuid, amount, sender=sender)

    def set_emission(self, netuid: int, per_epoch: int, owner: Signer) -> TxReceipt:
        """Set the emission per epoch (the subnet's owner)."""
        return self.settlement.set_emission(netuid, per_epoch, sender=owner)

    def epoch_emission(self, netuid: int) -> int:
        """What the next posted epoch may emit: the subnet's rate, or its pool if smaller."""
        return min(int(self.settlement.emission_per_epoch(netuid)), int(self.settlement.pool(netuid)))

    def epoch_total(self, netuid: int, e: int) -> int:
        """What epoch ``e`` emits: the total of its posted result (standing, pending or final), else
        what the next posted epoch may emit now. (Recomputing an epoch after later ones drew on the
        pool gives the root that was posted.)"""
        posted = self.settlement.result(epoch_key(netuid, e))
        if int(posted[5]) == 1:
            return int(posted[1])
        return self.epoch_emission(netuid)

    def is_final(self, netuid: int, e: int) -> bool:
        """Whether epoch ``e``'s result is final (claims open)."""
        try:
            return bool(self.settlement.is_final(epoch_key(netuid, e)))
        except Reverted:
            return False


def _fit(bonds: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Bonds carried from an epoch with fewer UIDs, padded with zeros (new UIDs have none)."""
    out = np.zeros((n, n), dtype=np.int64)
    m = min(n, bonds.shape[0])
    out[:m, :m] = np.asarray(bonds)[:m, :m]
    return out
