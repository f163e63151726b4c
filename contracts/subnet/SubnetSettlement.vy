# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Subnet epoch settlement: a quorum of validators signs, anyone may prove it wrong, claims by proof
@custom:contract-name SubnetSettlement
@license AGPL-3.0-only
@notice Each subnet epoch's emission is computed off chain by Yuma
        consensus (`agora.subnet.yuma`), a public, deterministic function
        of the subnet's on-chain weights and stakes, and committed here as
        one Merkle root of per-UID payments (`common/settlement.vy`):
        - `post_epoch` records the root once validators holding at least
          2/3 of the epoch's permitted stake (as it stood at the
          end of the block before the epoch began) have signed it
          (EIP-712 `EpochResult`); the epoch's emission is reserved from
          the subnet's pool;
        - during `window` seconds anyone may prove it wrong on chain:
          `dispute_leaves` (given every leaf: the sum, each UID's account,
          the subnet owner's cut, the prune candidate) rejects the root,
          returns its emission to the pool and slashes every signer;
          `dispute_equivocation` slashes a validator that signed two
          different results for one epoch; the verifier
          (`SubnetVerifier`: Yuma's consensus, ranks and incentives
          recomputed on chain) rejects through `reject_proven`;
        - then each leaf is claimed once by Merkle proof (`claim`), and
          `finalize` hands the registry the epoch's prune candidate.
        Leaf i < n pays UID i's owner (coldkey) its server and validator
        emission; leaf n pays the subnet owner its cut. Bonds and the
        dividend split are not re-executed on chain: see `docs/subnets.md`
        for exactly what an honest minority can and cannot enforce.
@dev Roles: the registry's owner wires this contract as its settler (it
     alone may slash and set the prune candidate); a subnet's owner sets
     its emission per epoch; anyone funds a subnet's pool, posts a signed
     result, disputes or claims. Money: the token balance is the sum of
     the pools plus, for every posted result not rejected, what is not
     yet claimed of its total. The disputes that re-execute Yuma live in
     `SubnetVerifier`, so that this contract stays well under the
     24,576-byte limit on every EVM version.
"""

from ethereum.ercs import IERC20

from ..common import transfers
from ..common import constants
from ..common import merkle
from ..common import settlement
initializes: settlement
exports: (settlement.result, settlement.claimed, settlement.is_final)

from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator
exports: eip712_domain_separator.eip712Domain


interface ISubnetRegistry:
    def subnet_owner(netuid: uint256) -> address: view
    def epoch(netuid: uint256) -> uint256: view
    def epoch_block(netuid: uint256, e: uint256) -> uint256: view
    def permits_at(netuid: uint256, e: uint256) -> uint256: view
    def stake_at(netuid: uint256, uid: uint256, blk: uint256) -> uint256: view
    def is_registered(netuid: uint256, hotkey: address) -> bool: view
    def uid_of(netuid: uint256, hotkey: address) -> uint256: view
    def coldkey_of(netuid: uint256, uid: uint256) -> address: view
    def registered_at(netuid: uint256, uid: uint256) -> uint256: view
    def epoch_size(netuid: uint256, e: uint256) -> uint256: view
    def slash(netuid: uint256, hotkey: address, bps: uint256, to: address) -> uint256: nonpayable
    def set_prune_candidate(netuid: uint256, uid: uint256): nonpayable


# --- types ---------------------------------------------------------------------------
struct Signature:
    v: uint8
    r: bytes32
    s: bytes32


struct EpochClaim:
    root: bytes32           # Merkle root of the leaves (account, amount)
    total: uint256          # the sum of the leaves
    prune_uid: uint256      # the non-immune UID with the lowest emission (NO_PRUNE: none)
    state: bytes32          # the digest of the state carried to the next epoch (the bonds, by CID)
    consensus_root: bytes32 # Merkle root of each UID's (consensus, rank), 1e18 fixed point
    rank_sum: uint256       # the sum of the ranks (1e18 fixed point)
    split: uint256          # what the UIDs' share is divided by: 2 (incentive and dividends), 1 (no dividends)


struct Posted:
    signers: bytes32        # keccak256(abi_encode(signer hotkeys, ascending))
    prune_uid: uint256
    state: bytes32
    size: uint256           # the subnet's size at the epoch: the UIDs the leaves cover (leaf `size` is the owner's)
    finalized: bool
    consensus_root: bytes32
    rank_sum: uint256
    split: uint256
    kappa: uint256          # the hyper-parameters the epoch was computed with, as at posting
    activity_cutoff: uint256


# --- constants -----------------------------------------------------------------------
#: The share of the epoch's permitted stake that must sign a result: at least 2/3.
QUORUM_NUMERATOR: constant(uint256) = 2
QUORUM_DENOMINATOR: constant(uint256) = 3
#: The subnet owner's cut of each epoch's emission (basis points), as subtensor's 18 %.
OWNER_CUT_BPS: public(constant(uint256)) = 1_800
#: Share of each signer's stake slashed for a result proven wrong, or for equivocating.
SLASH_BPS: public(constant(uint256)) = 1_000
#: `prune_uid` when no UID may be pruned (every one is immune).
NO_PRUNE: constant(uint256) = 65_535
MAX_VALIDATORS: constant(uint256) = 128
#: How long a final result's leaves stay claimable before `sweep` returns the rest to the pool.
CLAIM_PERIOD: public(constant(uint256)) = 30 * 86_400
MAX_LEAVES: constant(uint256) = merkle.MAX_ITEMS
#: EIP-712 type of what validators sign.
EPOCH_TYPEHASH: constant(bytes32) = keccak256(
    "EpochResult(uint256 netuid,uint256 epoch,bytes32 root,uint256 total,uint256 pruneUid,bytes32 state,"
    "bytes32 consensusRoot,uint256 rankSum,uint256 split)"
)


# --- storage -------------------------------------------------------------------------
token: public(immutable(IERC20))
registry: public(immutable(ISubnetRegistry))
#: The challenge window of every result, in seconds.
window: public(immutable(uint256))
#: The contract that recomputes Yuma's arithmetic on chain and may have a result rejected (`reject_proven`).
verifier: public(immutable(address))
#: The blocks a new neuron is immune from pruning, per subnet, as its registry says (read at post).
pool: public(HashMap[uint256, uint256])
emission_per_epoch: public(HashMap[uint256, uint256])
_posted: HashMap[bytes32, Posted]
#: (key, hotkey) -> slashed for equivocating already
_equivocated: HashMap[bytes32, HashMap[address, bool]]


# --- events --------------------------------------------------------------------------
event Funded:
    netuid: indexed(uint256)
    by: indexed(address)
    amount: uint256


event EmissionSet:
    netuid: indexed(uint256)
    per_epoch: uint256


event EpochPosted:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    root: bytes32
    total: uint256
    prune_uid: uint256
    state: bytes32
    signers: DynArray[address, MAX_VALIDATORS]
    signed_stake: uint256
    permitted_stake: uint256


event EpochDisputed:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    by: indexed(address)
    reason: String[64]


event Equivocated:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    hotkey: indexed(address)
    by: address


event EpochSwept:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    amount: uint256


event EpochFinalized:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    prune_uid: uint256


@deploy
def __init__(token_: address, registry_: address, window_: uint256, verifier_: address):
    """
    @notice Binds the settlement to the stake token, a subnet registry and a verifier.
    @param token_ The 20-byte token emissions are paid in.
    @param registry_ The 20-byte `SubnetRegistry` (which must name this contract its settler).
    @param window_ The challenge window in seconds (> 0).
    @param verifier_ The 20-byte `SubnetVerifier` whose proofs reject results.
    """
    assert window_ != 0, "SubnetSettlement: zero window"
    assert verifier_ != empty(address), "SubnetSettlement: no verifier"
    token = IERC20(token_)
    registry = ISubnetRegistry(registry_)
    window = window_
    verifier = verifier_
    eip712_domain_separator.__init__("Agora SubnetSettlement", "1")


# --- the emission pool ---------------------------------------------------------------
@external
def fund(netuid: uint256, amount: uint256):
    """
    @notice Adds `amount` to the subnet's emission pool (anyone; approve first).
    @param netuid The 32-byte subnet id.
    @param amount The 32-byte amount (> 0).
    """
    assert amount != 0, "SubnetSettlement: zero amount"
    assert staticcall registry.subnet_owner(netuid) != empty(address), "SubnetSettlement: unknown subnet"
    transfers._transfer_in(token, msg.sender, amount)
    self.pool[netuid] += amount
    log Funded(netuid=netuid, by=msg.sender, amount=amount)


@external
def set_emission(netuid: uint256, per_epoch: uint256):
    """
    @notice Sets what each epoch emits from the pool (the subnet's owner).
    @param netuid The 32-byte subnet id.
    @param per_epoch The 32-byte emission per epoch (< 2**128).
    """
    assert msg.sender == staticcall registry.subnet_owner(netuid), "SubnetSettlement: not the subnet owner"
    assert per_epoch <= constants.MASK128, "SubnetSettlement: emission too large"
    self.emission_per_epoch[netuid] = per_epoch
    log EmissionSet(netuid=netuid, per_epoch=per_epoch)


# --- posting -------------------------------------------------------------------------
@external
@view
def posted(netuid: uint256, epoch: uint256) -> Posted:
    """
    @notice What was posted with an epoch's result besides its root.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch number.
    @return Posted The signers' hash, prune UID, state, size covered, finalized.
    """
    return self._posted[self._key(netuid, epoch)]


@external
def post_epoch(netuid: uint256, epoch: uint256, claim: EpochClaim, signatures: DynArray[Signature, MAX_VALIDATORS]):
    """
    @notice Records epoch `epoch`'s result, signed by validators with permits
            in that epoch holding at least 2/3 of their stake (at
            the epoch's block); reserves its total from the pool. Anyone may
            send it. Signatures in strictly ascending order of signer.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch (started: 1..current).
    @param claim The result signed.
    @param signatures The validators' EIP-712 signatures of `claim`.
    """
    assert epoch != 0 and epoch <= staticcall registry.epoch(netuid), "SubnetSettlement: epoch not started"
    assert claim.total <= min(self.emission_per_epoch[netuid], self.pool[netuid]), \
        "SubnetSettlement: total above the epoch's emission"
    size: uint256 = staticcall registry.epoch_size(netuid, epoch)
    assert claim.prune_uid < size or claim.prune_uid == NO_PRUNE, "SubnetSettlement: bad prune UID"
    assert claim.split <= 2, "SubnetSettlement: bad split"
    # the stakes that count: at the end of the block before the epoch began (final, and past)
    blk: uint256 = staticcall registry.epoch_block(netuid, epoch) - 1
    permits: uint256 = staticcall registry.permits_at(netuid, epoch)
    digest: bytes32 = self._digest(netuid, epoch, claim)
    signers: DynArray[address, MAX_VALIDATORS] = []
    signed: uint256 = 0
    last: address = empty(address)
    for sig: Signature in signatures:
        hotkey: address = self._recover(digest, sig)
        assert convert(hotkey, uint160) > convert(last, uint160), "SubnetSettlement: signers not in ascending order"
        last = hotkey
        assert staticcall registry.is_registered(netuid, hotkey), "SubnetSettlement: signer not registered"
        uid: uint256 = staticcall registry.uid_of(netuid, hotkey)
        assert (permits >> uid) & 1 == 1, "SubnetSettlement: signer has no permit in that epoch"
        signed += staticcall registry.stake_at(netuid, uid, blk)
        signers.append(hotkey)
    permitted: uint256 = 0
    for uid: uint256 in range(256):
        if permits >> uid == 0:
            break
        if (permits >> uid) & 1 == 1:
            permitted += staticcall registry.stake_at(netuid, uid, blk)
    assert permitted != 0 and signed * QUORUM_DENOMINATOR >= permitted * QUORUM_NUMERATOR, \
        "SubnetSettlement: below the quorum"
    key: bytes32 = self._key(netuid, epoch)
    settlement._post(key, claim.root, claim.total, window)
    self.pool[netuid] -= claim.total
    self._posted[key] = Posted(signers=keccak256(abi_encode(signers)), prune_uid=claim.prune_uid, state=claim.state,
                               size=size, finalized=False, consensus_root=claim.consensus_root,
                               rank_sum=claim.rank_sum, split=claim.split, kappa=self._param(netuid, 3),
                               activity_cutoff=self._param(netuid, 9))
    log EpochPosted(netuid=netuid, epoch=epoch, root=claim.root, total=claim.total, prune_uid=claim.prune_uid,
                    state=claim.state, signers=signers, signed_stake=signed, permitted_stake=permitted)


# --- disputes ------------------------------------------------------------------------
@external
def dispute_leaves(netuid: uint256, epoch: uint256, accounts: DynArray[address, MAX_LEAVES],
                   amounts: DynArray[uint256, MAX_LEAVES], signers: DynArray[address, MAX_VALIDATORS]) -> String[64]:
    """
    @notice Proves a pending result wrong from its whole leaf list (which
            must rebuild its root): leaves not summing to its total, a UID
            paid to someone other than its owner, the owner's cut wrong, or
            a prune candidate that is immune or not the lowest paid. A
            proven result is rejected, its total returns to the pool and
            each signer (`signers`, as posted) loses `SLASH_BPS` of its
            stake to the disputer. Reverts when nothing is wrong.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @param accounts Every leaf's account, in leaf order.
    @param amounts Every leaf's amount, in leaf order.
    @param signers The result's signers, as its `EpochPosted` event lists them.
    @return String The reason the result is wrong.
    """
    key: bytes32 = self._key(netuid, epoch)
    p: Posted = self._pending(key, signers)
    assert len(accounts) == len(amounts) and len(accounts) != 0, "SubnetSettlement: bad leaves"
    total: uint256 = settlement._amounts[key] & constants.MASK128
    assert merkle._payments_root(accounts, amounts) == settlement._root[key], "SubnetSettlement: leaves do not match the root"
    reason: String[64] = self._wrong(netuid, epoch, p, total, accounts, amounts)
    assert reason != "", "SubnetSettlement: the result checks out"
    self._reject_and_slash(netuid, epoch, key, signers, msg.sender, reason)
    return reason


@external
def reject_proven(netuid: uint256, epoch: uint256, signers: DynArray[address, MAX_VALIDATORS], by: address,
                  reason: String[64]):
    """
    @notice Rejects a pending result that the verifier (`SubnetVerifier`:
            Yuma's consensus, ranks and incentives recomputed on chain)
            proved wrong; each signer loses `SLASH_BPS` of its stake to
            `by`, the disputer. Only the verifier this settlement was
            deployed with.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @param signers The result's signers, as posted.
    @param by The 20-byte disputer.
    @param reason Why the result is wrong.
    """
    assert msg.sender == verifier, "SubnetSettlement: not the verifier"
    key: bytes32 = self._key(netuid, epoch)
    self._pending(key, signers)
    self._reject_and_slash(netuid, epoch, key, signers, by, reason)


@external
def dispute_equivocation(netuid: uint256, epoch: uint256, other: EpochClaim, sig: Signature):
    """
    @notice Slashes a validator that signed a result for an epoch other
            than the one posted (`SLASH_BPS` of its stake to the disputer),
            once per validator and epoch. The posted result stands.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch (posted).
    @param other The other result the validator signed.
    @param sig Its signature of `other`.
    """
    key: bytes32 = self._key(netuid, epoch)
    assert settlement._status(key) != settlement.STATUS_NONE, "SubnetSettlement: nothing posted"
    p: Posted = self._posted[key]
    assert other.root != settlement._root[key] or other.total != settlement._amounts[key] & constants.MASK128 \
        or other.prune_uid != p.prune_uid or other.state != p.state or other.consensus_root != p.consensus_root \
        or other.rank_sum != p.rank_sum or other.split != p.split, "SubnetSettlement: the same result"
    hotkey: address = self._recover(self._digest(netuid, epoch, other), sig)
    assert not self._equivocated[key][hotkey], "SubnetSettlement: already slashed"
    assert staticcall registry.is_registered(netuid, hotkey), "SubnetSettlement: signer not registered"
    uid: uint256 = staticcall registry.uid_of(netuid, hotkey)
    assert (staticcall registry.permits_at(netuid, epoch) >> uid) & 1 == 1, "SubnetSettlement: not a validator then"
    self._equivocated[key][hotkey] = True
    extcall registry.slash(netuid, hotkey, SLASH_BPS, msg.sender)
    log Equivocated(netuid=netuid, epoch=epoch, hotkey=hotkey, by=msg.sender)


# --- after the window ----------------------------------------------------------------
@external
def claim(netuid: uint256, epoch: uint256, index: uint256, account: address, amount: uint256,
          proof: DynArray[bytes32, merkle.MAX_PROOF]):
    """
    @notice Pays leaf `index` of a final result to its account (anyone may send it).
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @param index The 32-byte leaf index (a UID, or the subnet's size for its owner).
    @param account The 20-byte account of the leaf.
    @param amount The 32-byte amount of the leaf.
    @param proof The sibling hashes from the leaf up.
    """
    paid: uint256 = settlement._claim(self._key(netuid, epoch), index, account, amount, proof)
    if paid != 0:
        transfers._transfer_out(token, account, paid)


@external
def finalize(netuid: uint256, epoch: uint256):
    """
    @notice Once an epoch's result is final, hands the registry its prune
            candidate (anyone; once; only the subnet's latest epoch counts).
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    """
    key: bytes32 = self._key(netuid, epoch)
    assert settlement._is_final(key), "SubnetSettlement: result not final"
    p: Posted = self._posted[key]
    assert not p.finalized, "SubnetSettlement: already finalized"
    self._posted[key].finalized = True
    if p.prune_uid != NO_PRUNE and epoch == staticcall registry.epoch(netuid):
        extcall registry.set_prune_candidate(netuid, p.prune_uid)
    log EpochFinalized(netuid=netuid, epoch=epoch, prune_uid=p.prune_uid)


@external
def sweep(netuid: uint256, epoch: uint256) -> uint256:
    """
    @notice `CLAIM_PERIOD` after an epoch's result became final, returns
            what was never claimed of its total to the subnet's pool
            (anyone): leaves nobody claimed, or a remainder no leaf can
            reach. Later claims of that result are refused.
    @param netuid The 32-byte subnet id.
    @param epoch The 32-byte epoch.
    @return uint256 The amount returned to the pool.
    """
    key: bytes32 = self._key(netuid, epoch)
    assert settlement._is_final(key), "SubnetSettlement: result not final"
    assert block.timestamp >= settlement._final_at(key) + CLAIM_PERIOD, "SubnetSettlement: claims still open"
    a: uint256 = settlement._amounts[key]
    total: uint256 = a & constants.MASK128
    left: uint256 = total - (a >> 128)
    settlement._amounts[key] = total << 128 | total
    self.pool[netuid] += left
    log EpochSwept(netuid=netuid, epoch=epoch, amount=left)
    return left


# --- internals -----------------------------------------------------------------------
@internal
@pure
def _key(netuid: uint256, epoch: uint256) -> bytes32:
    return keccak256(abi_encode(netuid, epoch))


@internal
@view
def _digest(netuid: uint256, epoch: uint256, c: EpochClaim) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(keccak256(abi_encode(
        EPOCH_TYPEHASH, netuid, epoch, c.root, c.total, c.prune_uid, c.state, c.consensus_root, c.rank_sum, c.split,
    )))


@internal
@pure
def _recover(digest: bytes32, sig: Signature) -> address:
    assert convert(sig.s, uint256) <= constants.HALF_N, "SubnetSettlement: bad signature"
    signer: address = ecrecover(digest, sig.v, sig.r, sig.s)
    assert signer != empty(address), "SubnetSettlement: bad signature"
    return signer


@internal
@view
def _pending(key: bytes32, signers: DynArray[address, MAX_VALIDATORS]) -> Posted:
    """The pending result under `key` (still in its window), posted by exactly `signers`."""
    assert settlement._status(key) == settlement.STATUS_PENDING and not settlement._is_final(key), \
        "SubnetSettlement: no pending result"
    p: Posted = self._posted[key]
    assert keccak256(abi_encode(signers)) == p.signers, "SubnetSettlement: not the posted signers"
    return p


@internal
def _reject_and_slash(netuid: uint256, epoch: uint256, key: bytes32, signers: DynArray[address, MAX_VALIDATORS],
                      by: address, reason: String[64]):
    """Rejects the result, returns its total to the pool, slashes each signer to the disputer `by`."""
    settlement._reject(key)
    self.pool[netuid] += settlement._amounts[key] & constants.MASK128
    for hotkey: address in signers:
        extcall registry.slash(netuid, hotkey, SLASH_BPS, by)
    log EpochDisputed(netuid=netuid, epoch=epoch, by=by, reason=reason)


@internal
@view
def _wrong(netuid: uint256, epoch: uint256, p: Posted, total: uint256, accounts: DynArray[address, MAX_LEAVES],
           amounts: DynArray[uint256, MAX_LEAVES]) -> String[64]:
    """What is wrong with the leaves ("" if nothing the chain can check)."""
    n: uint256 = p.size
    if len(accounts) != n + 1:
        return "not one leaf per UID plus the owner's"
    s: uint256 = 0
    for a: uint256 in amounts:
        s += a
    if s != total:
        return "the leaves do not sum to the total"
    cut: uint256 = total * OWNER_CUT_BPS // constants.BPS
    # the owner's leaf is its cut plus the rounding dust of the others (at most 1 each)
    if accounts[n] != staticcall registry.subnet_owner(netuid) or amounts[n] < cut or amounts[n] > cut + n:
        return "the subnet owner's leaf is wrong"
    blk: uint256 = staticcall registry.epoch_block(netuid, epoch)
    immunity: uint256 = self._param(netuid, 2)
    lowest: uint256 = max_value(uint256)
    lowest_uid: uint256 = NO_PRUNE
    for uid: uint256 in range(n, bound=256):
        reg: uint256 = staticcall registry.registered_at(netuid, uid)
        if reg <= blk:
            # the same neuron as at the epoch: its owner is the account paid
            if accounts[uid] != staticcall registry.coldkey_of(netuid, uid):
                return "a UID is paid to someone other than its owner"
            if blk - reg >= immunity and amounts[uid] < lowest:
                lowest = amounts[uid]
                lowest_uid = uid
    if p.prune_uid == NO_PRUNE:
        if lowest_uid != NO_PRUNE:
            return "the prune candidate is not the lowest-paid non-immune UID"
        return ""
    reg: uint256 = staticcall registry.registered_at(netuid, p.prune_uid)
    if reg > blk or blk - reg < immunity or amounts[p.prune_uid] != lowest:
        return "the prune candidate is not the lowest-paid non-immune UID"
    return ""


@internal
@view
def _param(netuid: uint256, word: uint256) -> uint256:
    """Word `word` of the registry's `Hyperparams` (2: immunity period, 3: kappa, 9: activity cutoff)."""
    res: Bytes[576] = raw_call(
        registry.address, concat(method_id("hyperparams(uint256)"), convert(netuid, bytes32)),
        max_outsize=576, is_static_call=True,
    )
    return convert(slice(res, word * 32, 32), uint256)
