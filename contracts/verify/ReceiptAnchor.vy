# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Receipt anchor: Merkle roots of signed AI receipts, one storage word and one event a batch
@custom:contract-name ReceiptAnchor
@license AGPL-3.0-only
@notice Services and providers sign a receipt for every AI output they
        produce (what ran, on what, what came out, who ran it, who paid,
        when) and post the Merkle root of each batch of receipts here. A
        receipt is then checked with one read: its inclusion proof leads
        to a root that its signer's poster anchored, and when (the anchor's
        time bounds when the receipt can have been issued).
        - `anchor(root, count)` records `root` for the sender: the time and
          the number of receipts under it. Anyone may anchor; a root counts
          only for the account that anchored it, so no one can take
          another's root first (`anchored(poster, root)`).
        - An anchor is never changed or removed: a root anchored twice by
          the same poster is refused.
        The tree is the house Merkle tree (`common/merkle.vy`,
        `agora.chain.merkle`); `verify(poster, root, index, digest, proof)`
        checks a receipt's inclusion on chain for contracts that need it.
@dev No roles and no funds. Storage: one word per (poster, root), under
     keccak256(abi_encode(poster, root)): time (64 bits) | count (64) << 64.
"""

from ..common import merkle


#: The most receipts one anchor may cover (its count fits in 64 bits).
MAX_COUNT: constant(uint256) = 2**64 - 1

_anchors: HashMap[bytes32, uint256]          # keccak256(poster, root) -> time | count << 64


event Anchored:
    poster: indexed(address)
    root: indexed(bytes32)
    count: uint256


@external
def anchor(root: bytes32, count: uint256):
    """
    @notice Anchors the Merkle root of a batch of `count` receipts for the sender.
    @param root The 32-byte root of the batch (not zero).
    @param count The number of receipts under it (1 .. 2**64 - 1).
    """
    assert root != empty(bytes32), "ReceiptAnchor: empty root"
    assert count != 0 and count <= MAX_COUNT, "ReceiptAnchor: bad count"
    key: bytes32 = keccak256(abi_encode(msg.sender, root))
    assert self._anchors[key] == 0, "ReceiptAnchor: root already anchored"
    self._anchors[key] = block.timestamp | (count << 64)
    log Anchored(poster=msg.sender, root=root, count=count)


@external
@view
def anchored(poster: address, root: bytes32) -> (uint256, uint256):
    """
    @notice When `poster` anchored `root`, and how many receipts it covers.
    @param poster The 20-byte account that anchored it.
    @param root The 32-byte root.
    @return (uint256, uint256) The anchor's time (seconds; 0: never anchored) and its count.
    """
    word: uint256 = self._anchors[keccak256(abi_encode(poster, root))]
    return word & (2**64 - 1), word >> 64


@external
@view
def verify(poster: address, root: bytes32, index: uint256, digest: bytes32,
           proof: DynArray[bytes32, merkle.MAX_PROOF]) -> uint256:
    """
    @notice Whether item `index` with digest `digest` (a receipt's
            EIP-712 hashStruct) is under `root`, anchored by `poster`.
    @param poster The 20-byte account that anchored the root.
    @param root The 32-byte root.
    @param index The 32-byte position of the receipt in its batch.
    @param digest The 32-byte digest of the receipt.
    @param proof The sibling hashes from the leaf up.
    @return uint256 The anchor's time if the receipt is under an anchored
            root (0 if not: never anchored, an index past its count, or a
            proof that does not lead to it).
    """
    word: uint256 = self._anchors[keccak256(abi_encode(poster, root))]
    if word == 0 or index >= word >> 64 or not merkle._verify(root, index, digest, proof):
        return 0
    return word & (2**64 - 1)
