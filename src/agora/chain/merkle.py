"""Merkle trees over batch results, exactly as ``ComputeMarket.verify_item`` checks them.

A batch job's result digest is the root of a tree whose leaves are
``keccak256(0x00 ++ abi_encode(index, item_digest))`` (65 bytes, so no inner
node — the hash of 64 bytes — can be passed off as a leaf); a parent is
``keccak256(left ++ right)`` and an odd node at the end of a level is paired
with 32 zero bytes, so every level has a sibling and a proof is just the
list of siblings, read left or right from the index's bits. Binding the index into the leaf means a proof for item 3 can
never be passed off as item 5.
"""

from __future__ import annotations

from eth_utils.crypto import keccak

__all__ = ["leaf_hash", "merkle_root", "merkle_proof", "verify_proof"]

_ZERO = bytes(32)


def leaf_hash(index: int, digest: bytes) -> bytes:
    """The leaf of item ``index`` with result digest ``digest``."""
    if len(digest) != 32:
        raise ValueError("an item digest is 32 bytes")
    return keccak(b"\x00" + index.to_bytes(32, "big") + digest)


def _levels(digests: list[bytes]) -> list[list[bytes]]:
    if not digests:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [leaf_hash(i, d) for i, d in enumerate(digests)]
    levels = [level]
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, _ZERO]
            levels[-1] = level
        nxt = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(nxt)
        level = nxt
    return levels


def merkle_root(digests: list[bytes]) -> bytes:
    """The root over the item digests, in order."""
    return _levels(digests)[-1][0]


def merkle_proof(digests: list[bytes], index: int) -> list[bytes]:
    """The sibling hashes from item ``index``'s leaf up to the root."""
    if not 0 <= index < len(digests):
        raise ValueError(f"item {index} is not in a batch of {len(digests)}")
    proof = []
    idx = index
    for level in _levels(digests)[:-1]:
        proof.append(level[idx ^ 1])
        idx //= 2
    return proof


def verify_proof(root: bytes, index: int, digest: bytes, proof: list[bytes]) -> bool:
    """Check a proof off-chain, as ``ComputeMarket.verify_item`` does on chain."""
    node = leaf_hash(index, digest)
    idx = index
    for sib in proof:
        node = keccak(node + sib) if idx % 2 == 0 else keccak(sib + node)
        idx //= 2
    return node == root
