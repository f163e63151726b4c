"""An epoch's emission as ``SubnetSettlement`` pays it: leaves, prune candidate, what validators sign.

Pure functions (no chain access), so that a validator, a disputer and the tests compute exactly
what the contract checks:

* :func:`epoch_leaves` — the leaves ``(account, amount)`` of an epoch: leaf ``i < n`` pays UID
  ``i``'s owner its share of ``total`` less the subnet owner's cut (``OWNER_CUT_BPS``), by its
  server plus validator emission (:class:`agora.subnet.yuma.EpochResult`), rounded down; leaf
  ``n`` pays the subnet owner its cut plus the rounding dust (at most 1 per UID).
* :func:`prune_candidate` — the non-immune UID paid least (ties: the lowest UID), or
  ``NO_PRUNE``.
* :class:`EpochClaim` and :func:`epoch_digest` — what validators sign (EIP-712 ``EpochResult``).
* :func:`check_leaves` — what ``dispute_leaves`` proves on chain, in Python: "" when the chain
  can find nothing wrong, else the reason (the contract's own words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from agora.chain.eip712 import Domain, keccak256, type_hash, word
from agora.chain.merkle import merkle_proof, merkle_root

__all__ = [
    "EPOCH_FIELDS",
    "NO_PRUNE",
    "OWNER_CUT_BPS",
    "QUORUM",
    "EpochClaim",
    "WAD",
    "check_leaves",
    "consensus_digest",
    "consensus_proof",
    "consensus_root",
    "epoch_digest",
    "epoch_key",
    "epoch_leaves",
    "leaf_digest",
    "leaves_proof",
    "leaves_root",
    "prune_candidate",
    "settlement_domain",
]

#: The subnet owner's cut of each epoch (basis points), as ``SubnetSettlement.OWNER_CUT_BPS``.
OWNER_CUT_BPS = 1_800
#: The share of the epoch's permitted stake whose signatures a result needs: at least 2/3.
QUORUM = (2, 3)
#: ``prune_uid`` when every UID is immune.
NO_PRUNE = 65_535
_BPS = 10_000

#: The fields of the EIP-712 ``EpochResult`` struct, in signing order.
EPOCH_FIELDS: list[dict[str, str]] = [
    {"name": "netuid", "type": "uint256"},
    {"name": "epoch", "type": "uint256"},
    {"name": "root", "type": "bytes32"},
    {"name": "total", "type": "uint256"},
    {"name": "pruneUid", "type": "uint256"},
    {"name": "state", "type": "bytes32"},
    {"name": "consensusRoot", "type": "bytes32"},
    {"name": "rankSum", "type": "uint256"},
    {"name": "split", "type": "uint256"},
]
#: 1.0 in the fixed point of consensus and ranks.
WAD = 10**18
_EPOCH_TYPEHASH = type_hash(EPOCH_FIELDS, "EpochResult")


@dataclass(frozen=True)
class EpochClaim:
    """A result of one epoch, as validators sign it and ``post_epoch`` takes it."""

    root: bytes
    total: int
    prune_uid: int
    state: bytes = bytes(32)
    consensus_root: bytes = bytes(32)
    rank_sum: int = 0
    split: int = 0

    def as_tuple(self) -> tuple[bytes, int, int, bytes, bytes, int, int]:
        """The contract's ``EpochClaim`` struct."""
        return (self.root, self.total, self.prune_uid, self.state, self.consensus_root, self.rank_sum, self.split)


def settlement_domain(chain_id: int, contract: str) -> Domain:
    """The EIP-712 domain of a ``SubnetSettlement`` deployment."""
    return Domain("Agora SubnetSettlement", "1", chain_id, contract)


def epoch_key(netuid: int, epoch: int) -> bytes:
    """The settlement key of a subnet's epoch: ``keccak256(abi_encode(netuid, epoch))``."""
    return keccak256(word(netuid) + word(epoch))


def epoch_digest(domain: Domain, netuid: int, epoch: int, claim: EpochClaim) -> bytes:
    """The 32-byte digest a validator signs for ``claim`` (``SubnetSettlement.digest``)."""
    struct = keccak256(_EPOCH_TYPEHASH + word(netuid) + word(epoch) + word(claim.root) + word(claim.total)
                       + word(claim.prune_uid) + word(claim.state) + word(claim.consensus_root)
                       + word(claim.rank_sum) + word(claim.split))
    return domain.digest(struct)


def epoch_leaves(coldkeys: Sequence[str], subnet_owner: str, shares: Sequence[float], total: int) -> tuple[
        list[str], list[int]]:
    """The leaves of an epoch paying ``total``: UID ``i``'s owner (``coldkeys[i]``) gets
    ``floor((total - cut) * shares[i])`` where ``shares`` are the UIDs' server plus validator
    emission (summing to 1, or to 0: then every UID gets 0), the subnet owner the cut plus the
    dust."""
    if total < 0:
        raise ValueError("total is not negative")
    if len(coldkeys) != len(shares):
        raise ValueError("one share per UID")
    if any(s < 0 for s in shares) or sum(shares) > 1 + 1e-9:
        raise ValueError("shares are non-negative and sum to at most 1")
    cut = total * OWNER_CUT_BPS // _BPS
    rest = total - cut
    # exact integer shares (2**64 per unit): each leaf rounds down by less than 1, so the dust the
    # owner's leaf takes is at most 1 per UID, as the contract checks
    q = [round(float(s) * 2**64) for s in shares]
    if sum(q) == 0:
        if total:
            raise ValueError("no UID has a share: an epoch without emission shares posts a total of 0")
        amounts = [0] * len(q)
    else:
        amounts = [rest * x // sum(q) for x in q]
    accounts: list[str] = [str(to_checksum_address(c)) for c in coldkeys] + [str(to_checksum_address(subnet_owner))]
    return accounts, [*amounts, total - sum(amounts)]


def prune_candidate(amounts: Sequence[int], registered_at: Sequence[int], epoch_block: int, immunity: int) -> int:
    """The non-immune UID (registered at least ``immunity`` blocks before ``epoch_block``) paid
    least in ``amounts`` (the UIDs' leaves; ties: the lowest UID), or :data:`NO_PRUNE`."""
    best, best_uid = None, NO_PRUNE
    for uid, (amount, reg) in enumerate(zip(amounts, registered_at, strict=False)):
        if reg <= epoch_block and epoch_block - reg >= immunity and (best is None or amount < best):
            best, best_uid = amount, uid
    return best_uid


def leaf_digest(account: str, amount: int) -> bytes:
    """A leaf's item digest: ``keccak256(abi_encode(account, amount))``."""
    return keccak256(word(account) + word(amount))


def consensus_digest(consensus: int, rank: int) -> bytes:
    """A UID's item digest in the consensus root: ``keccak256(abi_encode(consensus, rank))``."""
    return keccak256(word(consensus) + word(rank))


def consensus_root(consensus: Sequence[int], ranks: Sequence[int]) -> bytes:
    """The Merkle root over every UID's (consensus, rank), 1e18 fixed point (a zero root for none)."""
    if not consensus:
        return bytes(32)
    return merkle_root([consensus_digest(c, r) for c, r in zip(consensus, ranks, strict=True)])


def consensus_proof(consensus: Sequence[int], ranks: Sequence[int], uid: int) -> list[bytes]:
    """UID ``uid``'s proof in the consensus root."""
    return merkle_proof([consensus_digest(c, r) for c, r in zip(consensus, ranks, strict=True)], uid)


def leaves_root(accounts: Sequence[str], amounts: Sequence[int]) -> bytes:
    """The Merkle root over the leaves (the house convention, ``agora.chain.merkle``)."""
    return merkle_root([leaf_digest(a, x) for a, x in zip(accounts, amounts, strict=True)])


def leaves_proof(accounts: Sequence[str], amounts: Sequence[int], index: int) -> list[bytes]:
    """Leaf ``index``'s proof, as ``claim`` takes it."""
    return merkle_proof([leaf_digest(a, x) for a, x in zip(accounts, amounts, strict=True)], index)


def check_leaves(accounts: Sequence[str], amounts: Sequence[int], *, total: int, size: int, subnet_owner: str,
                 coldkeys: Sequence[str | None], registered_at: Sequence[int], epoch_block: int, immunity: int,
                 prune_uid: int) -> str:
    """What ``SubnetSettlement.dispute_leaves`` would find wrong ("" for nothing). ``coldkeys[i]``
    is UID ``i``'s owner when it is the same neuron as at the epoch (None otherwise)."""
    if len(accounts) != size + 1 or len(amounts) != size + 1:
        return "not one leaf per UID plus the owner's"
    if sum(amounts) != total:
        return "the leaves do not sum to the total"
    cut = total * OWNER_CUT_BPS // _BPS
    owner_ok = to_checksum_address(accounts[size]) == to_checksum_address(subnet_owner)
    if not owner_ok or not cut <= amounts[size] <= cut + size:
        return "the subnet owner's leaf is wrong"
    for uid in range(size):
        owner = coldkeys[uid]
        if registered_at[uid] <= epoch_block and owner is not None \
                and to_checksum_address(accounts[uid]) != to_checksum_address(owner):
            return "a UID is paid to someone other than its owner"
    lowest = prune_candidate(amounts[:size], registered_at, epoch_block, immunity)
    if prune_uid == NO_PRUNE:
        return "" if lowest == NO_PRUNE else "the prune candidate is not the lowest-paid non-immune UID"
    reg = registered_at[prune_uid] if prune_uid < size else epoch_block + 1
    if lowest == NO_PRUNE or reg > epoch_block or epoch_block - reg < immunity or amounts[prune_uid] != amounts[lowest]:
        return "the prune candidate is not the lowest-paid non-immune UID"
    return ""
