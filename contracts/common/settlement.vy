# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Optimistic settlement by Merkle root
@custom:contract-name settlement
@license AGPL-3.0-only
@notice Scores are computed off chain by a public, deterministic function
        of on-chain data, committed on chain as one Merkle root, open to
        challenge for a window, then paid leaf by leaf against a proof.
        One result per `key` (a tournament round, a subnet epoch...):
        - `_post(key, root, total, window)` records the root of leaves
          `(account, amount)` and `total`, the sum of their amounts: the
          most that can ever be claimed against it. It is pending until
          `final_at = posted_at + window`;
        - `_reject(key)` rejects it while pending (the host decides who
          may, and on what proof); a rejected result may be replaced by a
          new `_post`, a pending or final one never;
        - from `final_at` on it is final and `_claim` pays each leaf once:
          it checks the proof, marks the leaf in a bitmap and keeps the
          sum claimed at most `total`.
        Leaves follow the house convention (`merkle.vy`,
        `agora.chain.merkle`): the item digest is
        keccak256(abi_encode(account, amount)), the leaf
        keccak256(0x00 ++ abi_encode(index, digest)).
@dev Times are in seconds (`block.timestamp`), as every other Agora
     deadline: a window is the same length on every chain, whatever its
     block time. A result is final when `block.timestamp >= final_at`; it
     can be rejected only while `block.timestamp < final_at`, so the two
     never overlap.
     Status: 0 none, 1 pending (final once its window has passed),
     2 rejected.
     Storage, per key: the root; `total`(128) | `paid`(128) in one word;
     `posted_at`(64) | `final_at`(64) | status(8) in one word; and the
     claimed bitmap (256 leaves per word). Totals must fit in 128 bits.
     A module with state: the host says `initializes: settlement` and
     `exports:` the views it wants (`result`, `claimed`, `is_final`). It
     moves no tokens: paying what `_claim` returns is the host's job.
     Not a deployable contract.
"""


# @dev The proof walk, shared with other contracts (no state).
from . import merkle

# @dev The masks of the packed words (constants only; no state).
from . import constants


# --- types -----------------------------------------------------------------
struct Result:
    root: bytes32
    total: uint256
    paid: uint256
    posted_at: uint256
    final_at: uint256
    status: uint256


# --- constants -------------------------------------------------------------
# Status of a result.
STATUS_NONE: constant(uint256) = 0
STATUS_PENDING: constant(uint256) = 1
STATUS_REJECTED: constant(uint256) = 2


# --- storage ---------------------------------------------------------------
_root: HashMap[bytes32, bytes32]
_amounts: HashMap[bytes32, uint256]                         # total(128) | paid(128)
_timing: HashMap[bytes32, uint256]                          # posted_at(64) | final_at(64) | status(8)
_claimed: HashMap[bytes32, HashMap[uint256, uint256]]       # key -> word (index >> 8) -> bits


# --- events ----------------------------------------------------------------
event ResultPosted:
    key: indexed(bytes32)
    root: bytes32
    total: uint256
    final_at: uint256


event ResultRejected:
    key: indexed(bytes32)
    root: bytes32
    by: indexed(address)


event Claimed:
    key: indexed(bytes32)
    index: uint256
    account: indexed(address)
    amount: uint256


# --- views (the host exports them) -------------------------------------------
@external
@view
def result(key: bytes32) -> Result:
    """
    @notice The result recorded under `key` (all zero: none).
    @param key The 32-byte key (a round, an epoch).
    @return Result The root, total, sum claimed so far, posting time,
            time it becomes final (seconds) and status (0 none, 1
            pending or final, 2 rejected).
    """
    t: uint256 = self._timing[key]
    a: uint256 = self._amounts[key]
    return Result(
        root=self._root[key], total=a & constants.MASK128, paid=a >> 128, posted_at=t & constants.MASK64,
        final_at=(t >> 64) & constants.MASK64, status=t >> 128,
    )


@external
@view
def claimed(key: bytes32, index: uint256) -> bool:
    """
    @notice Whether leaf `index` of the result under `key` was claimed.
    @param key The 32-byte key.
    @param index The 32-byte leaf index.
    @return bool True once claimed.
    """
    return (self._claimed[key][index >> 8] >> (index & 255)) & 1 == 1


@external
@view
def is_final(key: bytes32) -> bool:
    """
    @notice Whether the result under `key` is final (posted, not
            rejected, its challenge window over): claims are open.
    @param key The 32-byte key.
    @return bool True if final.
    """
    return self._is_final(key)


# --- internals (the host's entry points call these) ----------------------------
@internal
@view
def _status(key: bytes32) -> uint256:
    """
    @dev The status of the result under `key` (0 none, 1 pending, 2
         rejected); a pending result past its window is final.
    """
    return self._timing[key] >> 128


@internal
@view
def _final_at(key: bytes32) -> uint256:
    """
    @dev When the result under `key` becomes final (0: none posted).
    """
    return (self._timing[key] >> 64) & constants.MASK64


@internal
@view
def _is_final(key: bytes32) -> bool:
    """
    @dev Pending and its window over.
    """
    t: uint256 = self._timing[key]
    return t >> 128 == STATUS_PENDING and block.timestamp >= (t >> 64) & constants.MASK64


@internal
def _post(key: bytes32, root: bytes32, total: uint256, window: uint256) -> uint256:
    """
    @dev Records `root` (leaves `(account, amount)` summing to `total`)
         under `key`, final `window` seconds from now. Refused while a
         pending or final result exists; a rejected one is replaced.
    @param key The 32-byte key.
    @param root The 32-byte Merkle root (not zero).
    @param total The 32-byte sum of the leaves' amounts (< 2**128).
    @param window The challenge window in seconds (> 0).
    @return uint256 The time the result becomes final.
    """
    assert self._timing[key] >> 128 != STATUS_PENDING, "settlement: result already posted"
    assert root != empty(bytes32), "settlement: empty root"
    assert total <= constants.MASK128, "settlement: total too large"
    assert window != 0, "settlement: zero window"
    final_at: uint256 = block.timestamp + window
    assert final_at <= constants.MASK64, "settlement: window too long"
    self._root[key] = root
    # a rejected result was never final, so nothing was claimed against it
    self._amounts[key] = total
    self._timing[key] = block.timestamp | (final_at << 64) | (STATUS_PENDING << 128)
    log ResultPosted(key=key, root=root, total=total, final_at=final_at)
    return final_at


@internal
def _reject(key: bytes32):
    """
    @dev Rejects the pending result under `key` before it is final.
    @param key The 32-byte key.
    """
    t: uint256 = self._timing[key]
    assert t >> 128 == STATUS_PENDING, "settlement: no pending result"
    assert block.timestamp < (t >> 64) & constants.MASK64, "settlement: result final"
    self._timing[key] = (t & constants.MASK128) | (STATUS_REJECTED << 128)
    log ResultRejected(key=key, root=self._root[key], by=msg.sender)


@internal
@view
def _verify(key: bytes32, index: uint256, account: address, amount: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF]) -> bool:
    """
    @dev Whether leaf `index` = `(account, amount)` is in the root under
         `key` (whatever the result's status).
    """
    return merkle._verify(self._root[key], index, keccak256(abi_encode(account, amount)), proof)


@internal
def _claim(key: bytes32, index: uint256, account: address, amount: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF]) -> uint256:
    """
    @dev Claims leaf `index` = `(account, amount)` of the final result
         under `key`: checks the proof, marks the leaf claimed, keeps the
         sum claimed at most the total.
    @param key The 32-byte key.
    @param index The 32-byte leaf index.
    @param account The 20-byte account of the leaf.
    @param amount The 32-byte amount of the leaf.
    @param proof The sibling hashes from the leaf up (at most 32).
    @return uint256 `amount`, for the host to pay.
    """
    assert self._is_final(key), "settlement: result not final"
    word: uint256 = self._claimed[key][index >> 8]
    bit: uint256 = 1 << (index & 255)
    assert word & bit == 0, "settlement: already claimed"
    assert self._verify(key, index, account, amount, proof), "settlement: bad proof"
    a: uint256 = self._amounts[key]
    paid: uint256 = (a >> 128) + amount
    assert paid <= a & constants.MASK128, "settlement: above the total"
    self._amounts[key] = (paid << 128) | (a & constants.MASK128)
    self._claimed[key][index >> 8] = word | bit
    log Claimed(key=key, index=index, account=account, amount=amount)
    return amount
