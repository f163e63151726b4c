# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Subnet epoch verifier: Yuma's consensus, ranks and incentives recomputed on chain
@custom:contract-name SubnetVerifier
@license AGPL-3.0-only
@notice The disputes of a subnet epoch's result that re-execute Yuma
        arithmetic on chain, kept apart from `SubnetSettlement` (which
        holds the money and would not fit under the 24,576-byte limit
        with them):
        - `dispute_consensus` recomputes one UID's consensus (the
          stake-weighted median at kappa of its column) and rank (the
          stake-weighted sum of the weights clipped at it) from the rows
          revealed at the epoch, checked against the registry's record;
        - `dispute_incentive` proves from the whole consensus list and
          leaf list that a UID is not paid its incentive.
        A proven result is rejected by the settlement (`reject_proven`),
        which returns its total to the pool and slashes each signer to
        the disputer.
@dev No state and no roles: every entry point names the settlement it
     disputes, reads the posted result, the registry and the hyper-
     parameters from it, and asks it to reject. A settlement accepts
     `reject_proven` only from the verifier it was deployed with, so a
     fake settlement given here can only reject itself.
"""

from ..common import constants
from ..common import merkle


interface ISubnetRegistry:
    def epoch_block(netuid: uint256, e: uint256) -> uint256: view
    def permits_at(netuid: uint256, e: uint256) -> uint256: view
    def stake_at(netuid: uint256, uid: uint256, blk: uint256) -> uint256: view
    def registered_at(netuid: uint256, uid: uint256) -> uint256: view
    def weights_at(netuid: uint256, uid: uint256, blk: uint256) -> (bytes32, uint256): view


struct Posted:
    signers: bytes32
    prune_uid: uint256
    state: bytes32
    size: uint256
    finalized: bool
    consensus_root: bytes32
    rank_sum: uint256
    split: uint256
    kappa: uint256
    activity_cutoff: uint256


struct Result:
    root: bytes32
    total: uint256
    paid: uint256
    posted_at: uint256
    final_at: uint256
    status: uint256


interface ISubnetSettlement:
    def registry() -> address: view
    def posted(netuid: uint256, epoch: uint256) -> Posted: view
    def result(key: bytes32) -> Result: view
    def reject_proven(netuid: uint256, epoch: uint256, signers: DynArray[address, MAX_VALIDATORS], by: address,
                      reason: String[64]): nonpayable


MAX_VALIDATORS: constant(uint256) = 128
MAX_LEAVES: constant(uint256) = merkle.MAX_ITEMS
#: The subnet owner's cut of each epoch's emission (basis points), as `SubnetSettlement`.
OWNER_CUT_BPS: constant(uint256) = 1_800
#: 1.0 in the fixed point of consensus, ranks and weights.
WAD: constant(uint256) = 10**18
#: How far a committed consensus or rank may be from the chain's own fixed-point recomputation
#: (float64 off chain, integers here) before it is wrong: 1e-9, plus 1 unit per voter for ranks.
TOLERANCE: constant(uint256) = 10**9
#: What a UID's payment may be off from its incentive share (per 1e9 of the pot, plus 1 unit).
PAY_TOLERANCE_PPB: constant(uint256) = 1
STATUS_PENDING: constant(uint256) = 1


@external
def dispute_consensus(settlement: address, netuid: uint256, epoch: uint256, uid: uint256, consensus: uint256,
                      rank: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF],
                      rows: DynArray[uint256[16], MAX_VALIDATORS],
                      signers: DynArray[address, MAX_VALIDATORS]) -> String[64]:
    """
    @notice Proves a pending result's consensus or rank of one UID wrong
            by recomputing them on chain, exactly as Yuma does, from the
            weights that stood at the epoch's block (each validator's row,
            checked against the registry's record of it), the stakes and
            the permits: the stake-weighted median at kappa of the UID's
            column, and its rank, the stake-weighted sum of the weights
            clipped at that median. A proven result is rejected and its
            signers slashed to the sender. Reverts if both check out
            (within `TOLERANCE`).
    @param settlement The 20-byte `SubnetSettlement` holding the result.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @param uid The UID whose column is recomputed.
    @param consensus Its committed consensus (1e18 fixed point).
    @param rank Its committed rank (1e18 fixed point).
    @param proof The proof of (consensus, rank) at index `uid` in the consensus root.
    @param rows Each previous-epoch permit holder's weight row at the epoch
           (16 packed words, as `SubnetRegistry.weights_at` digests them), in ascending UID order.
    @param signers The result's signers, as its `EpochPosted` event lists them.
    @return String The reason the result is wrong.
    """
    s: ISubnetSettlement = ISubnetSettlement(settlement)
    registry: ISubnetRegistry = ISubnetRegistry(staticcall s.registry())
    p: Posted = self._pending(s, netuid, epoch, signers)
    assert merkle._verify(p.consensus_root, uid, keccak256(abi_encode(consensus, rank)), proof), \
        "SubnetVerifier: bad consensus proof"
    blk: uint256 = staticcall registry.epoch_block(netuid, epoch)
    assert uid < p.size and staticcall registry.registered_at(netuid, uid) <= blk, \
        "SubnetVerifier: UID replaced since the epoch"
    col: DynArray[uint256, 128] = []
    stk: DynArray[uint256, 128] = []
    col, stk = self._column(registry, netuid, epoch, blk, uid, p, rows)
    reason: String[64] = ""
    if not self._is_median(col, stk, consensus, p.kappa):
        reason = "the consensus is not the stake-weighted median"
    else:
        total: uint256 = 0
        for x: uint256 in stk:
            total += x
        r: uint256 = 0
        if total != 0:
            for i: uint256 in range(len(col), bound=128):
                r += stk[i] * WAD // total * min(col[i], consensus) // WAD
        if r + TOLERANCE + len(col) < rank or rank + TOLERANCE + len(col) < r:
            reason = "the rank is not the clipped weighted sum"
    assert reason != "", "SubnetVerifier: the consensus checks out"
    extcall s.reject_proven(netuid, epoch, signers, msg.sender, reason)
    return reason


@external
def dispute_incentive(settlement: address, netuid: uint256, epoch: uint256, consensus: DynArray[uint256, 256],
                      ranks: DynArray[uint256, 256], accounts: DynArray[address, MAX_LEAVES],
                      amounts: DynArray[uint256, MAX_LEAVES], signers: DynArray[address, MAX_VALIDATORS]) -> String[64]:
    """
    @notice Proves from the whole consensus list and the whole leaf list
            (each must rebuild its root) that a pending result pays a UID
            other than its incentive: the ranks must sum to `rank_sum`, a
            UID without a permit in the previous epoch (a miner: no bonds,
            no dividends) is paid exactly its share of the pot after the
            owner's cut, rank / rank_sum / split, and a validator at least
            that. A proven result is rejected and its signers slashed to
            the sender.
    @param settlement The 20-byte `SubnetSettlement` holding the result.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @param consensus Every UID's committed consensus.
    @param ranks Every UID's committed rank.
    @param accounts Every leaf's account.
    @param amounts Every leaf's amount.
    @param signers The result's signers, as posted.
    @return String The reason the result is wrong.
    """
    s: ISubnetSettlement = ISubnetSettlement(settlement)
    p: Posted = self._pending(s, netuid, epoch, signers)
    n: uint256 = p.size
    assert len(consensus) == n and len(ranks) == n, "SubnetVerifier: not one consensus per UID"
    assert len(accounts) == n + 1 and len(amounts) == n + 1, "SubnetVerifier: not one leaf per UID plus the owner's"
    digests: DynArray[bytes32, MAX_LEAVES] = []
    for i: uint256 in range(n, bound=256):
        digests.append(keccak256(abi_encode(consensus[i], ranks[i])))
    assert merkle._root(digests) == p.consensus_root, "SubnetVerifier: consensus does not match its root"
    res: Result = staticcall s.result(keccak256(abi_encode(netuid, epoch)))
    assert merkle._payments_root(accounts, amounts) == res.root, "SubnetVerifier: leaves do not match the root"
    reason: String[64] = ""
    total_rank: uint256 = 0
    for r: uint256 in ranks:
        total_rank += r
    if total_rank != p.rank_sum:
        reason = "the ranks do not sum to the rank sum"
    elif p.split != 0:
        pot: uint256 = res.total - res.total * OWNER_CUT_BPS // constants.BPS
        slack: uint256 = pot * PAY_TOLERANCE_PPB // 10**9 + 1
        prev: uint256 = 0
        if epoch > 1:
            prev = staticcall ISubnetRegistry(staticcall s.registry()).permits_at(netuid, epoch - 1)
        for i: uint256 in range(n, bound=256):
            share: uint256 = 0
            if total_rank != 0:
                share = pot * ranks[i] // total_rank // p.split
            if (prev >> i) & 1 == 0:
                if amounts[i] + slack < share or share + slack < amounts[i]:
                    reason = "a miner is not paid its incentive"
                    break
            elif amounts[i] + slack < share:
                reason = "a validator is paid less than its incentive"
                break
    assert reason != "", "SubnetVerifier: the incentive checks out"
    extcall s.reject_proven(netuid, epoch, signers, msg.sender, reason)
    return reason


@internal
@view
def _pending(s: ISubnetSettlement, netuid: uint256, epoch: uint256,
             signers: DynArray[address, MAX_VALIDATORS]) -> Posted:
    """The pending result of the epoch (still in its window), posted by exactly `signers`."""
    res: Result = staticcall s.result(keccak256(abi_encode(netuid, epoch)))
    assert res.status == STATUS_PENDING and block.timestamp < res.final_at, "SubnetVerifier: no pending result"
    p: Posted = staticcall s.posted(netuid, epoch)
    assert keccak256(abi_encode(signers)) == p.signers, "SubnetVerifier: not the posted signers"
    return p


@internal
@view
def _column(registry: ISubnetRegistry, netuid: uint256, epoch: uint256, blk: uint256, uid: uint256, p: Posted,
            rows: DynArray[uint256[16], MAX_VALIDATORS]) -> (DynArray[uint256, 128], DynArray[uint256, 128]):
    """
    @dev Each voter's normalised weight on `uid` (1e18) and stake, as Yuma
         sees them at the epoch: the previous epoch's permit holders that
         set weights within the activity cutoff, with stake; each row as
         revealed (checked against the registry), without its self-weight
         and the entries older than their UID's registration, normalised.
    """
    col: DynArray[uint256, 128] = []
    stk: DynArray[uint256, 128] = []
    prev: uint256 = 0
    if epoch > 1:
        prev = staticcall registry.permits_at(netuid, epoch - 1)
    # every UID's registration block, read once (each must be the neuron of the epoch)
    regs: DynArray[uint256, 256] = []
    for j: uint256 in range(p.size, bound=256):
        reg: uint256 = staticcall registry.registered_at(netuid, j)
        regs.append(reg)
    row: uint256 = 0
    for i: uint256 in range(256):
        if prev >> i == 0:
            break
        if (prev >> i) & 1 == 0:
            continue
        assert row < len(rows), "SubnetVerifier: a voter's row is missing"
        words: uint256[16] = rows[row]
        row += 1
        digest: bytes32 = empty(bytes32)
        updated: uint256 = 0
        digest, updated = staticcall registry.weights_at(netuid, i, blk)
        if updated == 0:
            assert keccak256(abi_encode(words)) == keccak256(abi_encode(empty(uint256[16]))), \
                "SubnetVerifier: a row that was never revealed"
        else:
            assert keccak256(abi_encode(words)) == digest, "SubnetVerifier: a row is not the one revealed"
        stake: uint256 = staticcall registry.stake_at(netuid, i, blk - 1)
        if updated + p.activity_cutoff < blk or stake == 0:
            continue
        total: uint256 = 0
        mine: uint256 = 0
        for j: uint256 in range(p.size, bound=256):
            v: uint256 = (words[j >> 4] >> ((j & 15) << 4)) & constants.MASK16
            if j == i or v == 0:
                continue
            assert regs[j] <= blk, "SubnetVerifier: UID replaced since the epoch"
            if updated <= regs[j]:
                continue
            total += v
            if j == uid:
                mine = v
        # a voter whose row is empty (or all masked) votes 0 for every UID
        col.append(mine * WAD // total if total != 0 else 0)
        stk.append(stake)
    assert row == len(rows), "SubnetVerifier: rows of non-voters"
    return col, stk


@internal
@pure
def _is_median(col: DynArray[uint256, 128], stk: DynArray[uint256, 128], c: uint256, kappa: uint256) -> bool:
    """
    @dev Whether `c` is, within `TOLERANCE`, the smallest value v of the
         column for which the stake of the entries <= v is above the
         minority (1 - kappa / 65535) of the voters' stake: the column's
         stake-weighted median at kappa (the column's maximum if none;
         0 without voters).
    """
    total: uint256 = 0
    top: uint256 = 0
    for i: uint256 in range(len(col), bound=128):
        total += stk[i]
        top = max(top, col[i])
    if total == 0:
        return c <= TOLERANCE
    if kappa == 0:
        return c + TOLERANCE >= top and c <= top + TOLERANCE
    minority: uint256 = total * (65_535 - kappa)       # in stake x 65535
    upto: uint256 = 0       # stake of the entries <= c + TOLERANCE
    below: uint256 = 0      # stake of the entries < c - TOLERANCE
    for i: uint256 in range(len(col), bound=128):
        if col[i] <= c + TOLERANCE:
            upto += stk[i]
        if col[i] + TOLERANCE < c:
            below += stk[i]
    slack: uint256 = total * 65_535 // 10**9 + 1
    return upto * 65_535 + slack > minority and below * 65_535 <= minority + slack
