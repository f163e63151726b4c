# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title The house Merkle proof
@custom:contract-name merkle
@license AGPL-3.0-only
@notice Checks that item `index` with digest `digest` is a leaf of the
        tree with root `root`, under the one tree shape every Agora
        contract and `agora.chain.merkle` agree on:
        - a leaf is keccak256(0x00 ++ abi_encode(index, digest)), 65
          bytes, so no inner node (the hash of 64 bytes) can pose as a
          leaf, and a proof for item 3 never passes for item 5;
        - a parent is keccak256(left ++ right); an odd node at the end of
          a level is paired with 32 zero bytes;
        - a proof is the list of siblings from the leaf up, each read on
          the left or the right from the index's bits (bit 0 first).
@dev No state: `from ..common import merkle`, then
     `merkle._verify(root, index, digest, proof)`; no `uses:` or
     `initializes:` needed. The same walk as `ComputeMarket.verify_item`.
     The index must fit in the proof's depth (`index < 2**len(proof)`), so
     every leaf has exactly one valid (index, proof) pair. Not a
     deployable contract.
"""


# The deepest tree a proof may climb: 2**32 leaves.
MAX_PROOF: constant(uint256) = 32


@internal
@pure
def _leaf(index: uint256, digest: bytes32) -> bytes32:
    """
    @dev The leaf node of item `index` with digest `digest`.
    @param index The 32-byte position of the item.
    @param digest The 32-byte digest of the item.
    @return bytes32 keccak256(0x00 ++ abi_encode(index, digest)).
    """
    return keccak256(concat(b"\x00", abi_encode(index, digest)))


@internal
@pure
def _verify(root: bytes32, index: uint256, digest: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    """
    @dev Whether `proof` leads from item `index`'s leaf to `root`.
    @param root The 32-byte root.
    @param index The 32-byte position of the item (< 2**len(proof)).
    @param digest The 32-byte digest of the item.
    @param proof The sibling hashes from the leaf up (at most 32).
    @return bool True if the walk ends at `root`.
    """
    if index >> len(proof) != 0:
        return False
    node: bytes32 = self._leaf(index, digest)
    idx: uint256 = index
    for sib: bytes32 in proof:
        if idx & 1 == 0:
            node = keccak256(concat(node, sib))
        else:
            node = keccak256(concat(sib, node))
        idx >>= 1
    return node == root


# The most items `_root` builds a tree of (a subnet's 256 UIDs and its owner).
MAX_ITEMS: constant(uint256) = 257


@internal
@pure
def _root(digests: DynArray[bytes32, MAX_ITEMS]) -> bytes32:
    """
    @dev The root of the tree over items with these digests, in order (at
         least one): what `agora.chain.merkle` builds off chain.
    @param digests The 32-byte item digests (at most `MAX_ITEMS`).
    @return bytes32 The root.
    """
    level: DynArray[bytes32, MAX_ITEMS + 1] = []
    for i: uint256 in range(len(digests), bound=MAX_ITEMS):
        level.append(self._leaf(i, digests[i]))
    for _: uint256 in range(10):
        n: uint256 = len(level)
        if n == 1:
            break
        if n % 2 == 1:
            level.append(empty(bytes32))
            n += 1
        nxt: DynArray[bytes32, MAX_ITEMS + 1] = []
        for j: uint256 in range(0, n // 2, bound=(MAX_ITEMS + 1) // 2 + 1):
            nxt.append(keccak256(concat(level[2 * j], level[2 * j + 1])))
        level = nxt
    return level[0]


@internal
@pure
def _payments_root(accounts: DynArray[address, MAX_ITEMS], amounts: DynArray[uint256, MAX_ITEMS]) -> bytes32:
    """
    @dev The root of payment leaves (account, amount), item digest
         keccak256(abi_encode(account, amount)) (as `common/settlement.vy`
         claims them); `accounts` and `amounts` of one length.
    @param accounts The 20-byte accounts, in leaf order.
    @param amounts The 32-byte amounts, in leaf order.
    @return bytes32 The root.
    """
    digests: DynArray[bytes32, MAX_ITEMS] = []
    for i: uint256 in range(len(accounts), bound=MAX_ITEMS):
        digests.append(keccak256(abi_encode(accounts[i], amounts[i])))
    return self._root(digests)
