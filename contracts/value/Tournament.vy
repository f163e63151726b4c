# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora tournaments: staked predictions, settled by Merkle root
@custom:contract-name Tournament
@license AGPL-3.0-only
@notice Prediction rounds in the manner of Numerai, settled on chain:
        - anyone **creates a round** (`create_round`), funding its reward
          pool in AGR and naming its **resolver**, who commits to the
          targets (`commit_targets`: keccak256(abi_encode(targets_cid,
          salt))) before the close. Submissions open only once the
          targets are committed, so the resolver can never pick targets
          after seeing predictions;
        - **models submit** a commitment to their predictions with a stake
          before the close (`submit`: keccak256(abi_encode(round,
          submitter, predictions_cid, salt))), one submission per account
          and round: submitting again before the close replaces the commit
          and tops the stake up (a stake never goes down). Each
          submission gets the next leaf index of the round (0, 1, ...);
        - models **reveal** (`reveal`) after the close and before the
          reveal deadline. A submission not revealed loses its whole
          stake: anyone may burn it after the reveal deadline
          (`burn_unrevealed`), whatever becomes of the round;
        - from the resolution time the resolver **reveals the targets**
          (`reveal_targets`) and **posts the settlement** (`post_root`)
          before the settle deadline: a root over one leaf per submission,
          leaf i = (account of submission i, amount it gets back: its
          stake plus its payout, or minus its burn; 0 for a submission not
          revealed), with the total returned, the total burned and the
          part of the pool used, and a bond;
        - for the challenge window anyone may **dispute** a leaf that is
          provably wrong (`dispute`): the root is rejected, the bond goes
          to the disputer, and the resolver may post again before the
          settle deadline;
        - once the root is final each revealed model **claims** its leaf
          (`claim`): its stake back, plus its gain from the pool, or minus
          the loss, burned. A model that no leaf pays (left out of the
          tree) takes 95% back with `exit_round`. `release` then returns
          the unused pool to the creator and the bond to the resolver;
        - a round whose resolver never reveals the targets, or has no
          root standing at the settle deadline (none posted, or the last
          one rejected), **fails**: every revealed stake is refunded in
          full (`refund`) and the whole pool goes back to the creator
          (`release`).
@dev Scores (CORR, MMC, the payout factor with `stake_threshold`) are
     computed off chain by a public, deterministic function of the
     revealed CIDs and the targets; the contract checks everything it can
     without them:
     - at posting, with S the sum of the revealed stakes and P the part
       of the pool used: total returned + total burned == S + P, P <=
       pool, P and the burn each at most 5% of S;
     - at claiming, each leaf's amount within [0.95, 1.05] x the model's
       stake (an amount refused there is also provable in a dispute),
       the leaf index the model's own, each model paid once; gains are
       paid out of P and burns counted against the stated burn, never
       past either.
     Times are in seconds, intervals half open: submit and commit targets
     before `close_time`; reveal in [close_time, reveal_deadline);
     reveal targets and post in [resolution_time, settle_deadline); a root
     is final `challenge_window` seconds after it is posted.
     Money: token.balanceOf(this) == sum of live stakes (submitted, not
     yet claimed, refunded or burned) + sum of round pools + sum of bonds
     held.
     Storage: a submission is one word, stake(128) | index(64) << 128 |
     state(8) << 192, next to its commitment (which the reveal overwrites
     with the predictions CID).
@custom:security A dispute proves a leaf wrong on chain; it cannot prove
     scores wrong. A root whose leaves are all within bounds and bound to
     the right accounts but not what the public scoring function gives
     (wrong CORR or MMC, payouts shifted between models), or whose leaves
     do not add up to the stated totals, cannot be rejected on chain:
     anyone can recompute it from the public data and see it, but only
     the bounds limit the harm: each model loses at most 5% of its
     stake, the pool pays at most the stated P <= pool, and burns through
     claims never exceed the stated burn (whichever claims come first get
     their gains while P lasts). A model left out of the tree (absence is
     not provable by one Merkle proof) exits at 95% (`exit_round`).
     What a lying resolver can take for itself is therefore at most P
     (through models of its own at +5%), and it posts a bond of at least
     P + burn, which it loses to the first provable wrong leaf.
     Unclaimed gains keep their share of the pool reserved: no deadline
     ends a model's right to claim.
"""


from ethereum.ercs import IERC20

# @dev BPS and the masks of the packed words (constants only; no state).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev The proof bound `MAX_PROOF` (no state).
from ..common import merkle

# @dev Post, reject and claim by Merkle root; it owns the results'
# storage (one result per round, keyed by the round id).
from ..common import settlement
initializes: settlement

# @dev The settlement views: `result(key)`, `claimed(key, index)`,
# `is_final(key)`, with key = the round id as bytes32.
exports: (settlement.result, settlement.claimed, settlement.is_final)


# --- interfaces --------------------------------------------------------------
# AGR's burn (snekmate `erc20.burn`): burns the caller's own tokens.
interface IBurnable:
    def burn(amount: uint256): nonpayable


# --- types -------------------------------------------------------------------
struct Round:
    creator: address
    resolver: address
    close_time: uint256
    reveal_deadline: uint256
    resolution_time: uint256
    settle_deadline: uint256
    stake_threshold: uint256    # for the off-chain payout factor, min(1, threshold / at risk)
    targets_commit: bytes32
    targets_cid: bytes32        # zero until revealed
    submissions: uint256        # count; also the next leaf index
    revealed_stake: uint256     # S: the sum of the revealed stakes
    pool: uint256               # what the contract still holds of the pool
    gain_left: uint256          # what of the standing root's pool use P claims may still take
    burn_left: uint256          # what of the standing root's stated burn claims may still burn
    bond: uint256               # the resolver's bond held for the standing root
    released: bool


struct Submission:
    stake: uint256
    index: uint256
    state: uint256              # see SUB_*
    commit: bytes32             # the commitment, then (revealed) the predictions CID


# --- constants ----------------------------------------------------------------
#: The most a model's return may differ from its stake: 5%.
BAND_BPS: public(constant(uint256)) = 500
#: How long after a root is final its gains stay claimable before `sweep` may return them.
CLAIM_PERIOD: public(constant(uint256)) = 30 * 86_400

# Submission states.
SUB_NONE: constant(uint256) = 0
SUB_COMMITTED: constant(uint256) = 1
SUB_REVEALED: constant(uint256) = 2
SUB_CLAIMED: constant(uint256) = 3
SUB_REFUNDED: constant(uint256) = 4
SUB_BURNED: constant(uint256) = 5


# --- storage -------------------------------------------------------------------
#: The stake and reward token (AGR: an ERC-20 with `burn`).
token: public(immutable(address))
#: How long a posted root is open to dispute, in seconds.
challenge_window: public(immutable(uint256))
#: The smallest bond a root is posted with.
min_bond: public(immutable(uint256))

_rounds: HashMap[uint256, Round]
_round_count: uint256
_subs: HashMap[uint256, HashMap[address, uint256]]          # stake(128) | index(64) | state(8)
_commits: HashMap[uint256, HashMap[address, bytes32]]       # commit, then predictions CID


# --- events ----------------------------------------------------------------------
event RoundCreated:
    round: indexed(uint256)
    creator: indexed(address)
    resolver: indexed(address)
    close_time: uint256
    reveal_deadline: uint256
    resolution_time: uint256
    settle_deadline: uint256
    reward_pool: uint256
    stake_threshold: uint256


event TargetsCommitted:
    round: indexed(uint256)
    commit: bytes32


event Submitted:
    round: indexed(uint256)
    account: indexed(address)
    index: uint256
    commit: bytes32
    stake: uint256


event Revealed:
    round: indexed(uint256)
    account: indexed(address)
    predictions_cid: bytes32
    stake: uint256


event TargetsRevealed:
    round: indexed(uint256)
    targets_cid: bytes32


event RootPosted:
    round: indexed(uint256)
    root: bytes32
    total: uint256
    pool_used: uint256
    burn: uint256
    bond: uint256


event Disputed:
    round: indexed(uint256)
    disputer: indexed(address)
    index: uint256
    account: address
    amount: uint256
    bond: uint256


event StakeSettled:
    round: indexed(uint256)
    account: indexed(address)
    paid: uint256
    burned: uint256


event Burned:
    round: indexed(uint256)
    account: indexed(address)
    amount: uint256


event Refunded:
    round: indexed(uint256)
    account: indexed(address)
    amount: uint256


event Released:
    round: indexed(uint256)
    creator_amount: uint256
    resolver_amount: uint256


event Swept:
    round: indexed(uint256)
    amount: uint256


@deploy
@payable
def __init__(token_: address, challenge_window_: uint256, min_bond_: uint256):
    """
    @notice Creates the tournament contract.
    @param token_ The 20-byte stake and reward token (AGR, with `burn`).
    @param challenge_window_ The dispute window of a root, in seconds (> 0).
    @param min_bond_ The 32-byte smallest bond a root is posted with.
    """
    assert token_ != empty(address), "Tournament: zero token"
    assert challenge_window_ != 0, "Tournament: zero window"
    token = token_
    challenge_window = challenge_window_
    min_bond = min_bond_


# --- rounds ---------------------------------------------------------------------------
@external
def create_round(
    close_time: uint256, reveal_deadline: uint256, resolution_time: uint256, settle_deadline: uint256,
    resolver: address, reward_pool: uint256, stake_threshold: uint256,
) -> uint256:
    """
    @notice Creates a round and funds its reward pool from the caller
            (approve `reward_pool` AGR first). Anyone may.
    @dev Times: now < close_time < reveal_deadline <= resolution_time <
         settle_deadline (seconds).
    @param close_time The 32-byte time submissions close (reveals open).
    @param reveal_deadline The 32-byte time reveals close.
    @param resolution_time The 32-byte time the targets may be revealed.
    @param settle_deadline The 32-byte time by which the targets must be
           revealed and a root posted, or the round fails.
    @param resolver The 20-byte account that commits to and reveals the
           targets and posts the settlement.
    @param reward_pool The 32-byte AGR pool that pays the gains.
    @param stake_threshold The 32-byte stake threshold of the payout factor
           (an input of the off-chain payout function; not used on chain).
    @return uint256 The round id (from 1).
    """
    assert block.timestamp < close_time and close_time < reveal_deadline, "Tournament: bad times"
    assert reveal_deadline <= resolution_time and resolution_time < settle_deadline, "Tournament: bad times"
    assert settle_deadline <= constants.MASK64, "Tournament: bad times"
    assert resolver != empty(address), "Tournament: zero resolver"
    round_id: uint256 = self._round_count + 1
    self._round_count = round_id
    r: Round = empty(Round)
    r.creator = msg.sender
    r.resolver = resolver
    r.close_time = close_time
    r.reveal_deadline = reveal_deadline
    r.resolution_time = resolution_time
    r.settle_deadline = settle_deadline
    r.stake_threshold = stake_threshold
    r.pool = reward_pool
    self._rounds[round_id] = r
    if reward_pool != 0:
        transfers._transfer_in(IERC20(token), msg.sender, reward_pool)
    log RoundCreated(
        round=round_id, creator=msg.sender, resolver=resolver, close_time=close_time,
        reveal_deadline=reveal_deadline, resolution_time=resolution_time, settle_deadline=settle_deadline,
        reward_pool=reward_pool, stake_threshold=stake_threshold,
    )
    return round_id


@external
def commit_targets(round_id: uint256, commit: bytes32):
    """
    @notice Commits the round's targets: keccak256(abi_encode(targets_cid,
            salt)). The resolver only, once, before the close; the round
            takes no submission before it.
    @param round_id The 32-byte round id.
    @param commit The 32-byte commitment (not zero).
    """
    self._check_round(round_id)
    assert msg.sender == self._rounds[round_id].resolver, "Tournament: not the resolver"
    assert block.timestamp < self._rounds[round_id].close_time, "Tournament: round closed"
    assert self._rounds[round_id].targets_commit == empty(bytes32), "Tournament: targets already committed"
    assert commit != empty(bytes32), "Tournament: empty commit"
    self._rounds[round_id].targets_commit = commit
    log TargetsCommitted(round=round_id, commit=commit)


@external
def reveal_targets(round_id: uint256, targets_cid: bytes32, salt: bytes32):
    """
    @notice Reveals the round's targets, between the resolution time and
            the settle deadline. The resolver only, once.
    @param round_id The 32-byte round id.
    @param targets_cid The 32-byte CID digest of the targets.
    @param salt The 32-byte salt of the commitment.
    """
    self._check_round(round_id)
    r: Round = self._rounds[round_id]
    assert msg.sender == r.resolver, "Tournament: not the resolver"
    assert block.timestamp >= r.resolution_time, "Tournament: too early for the targets"
    assert block.timestamp < r.settle_deadline, "Tournament: past the settle deadline"
    assert r.targets_cid == empty(bytes32), "Tournament: targets already revealed"
    assert targets_cid != empty(bytes32), "Tournament: empty targets"
    assert keccak256(abi_encode(targets_cid, salt)) == r.targets_commit, "Tournament: targets do not match commit"
    self._rounds[round_id].targets_cid = targets_cid
    log TargetsRevealed(round=round_id, targets_cid=targets_cid)


# --- models -------------------------------------------------------------------------------
@external
def submit(round_id: uint256, commit: bytes32, stake: uint256):
    """
    @notice Submits (or replaces) the caller's commitment to its
            predictions, keccak256(abi_encode(round, submitter,
            predictions_cid, salt)), adding `stake` AGR to its stake
            (approve it first). Before the close, once the targets are
            committed. The first submission needs a stake; later ones
            replace the commit and may top the stake up (or add 0).
    @param round_id The 32-byte round id.
    @param commit The 32-byte commitment (not zero).
    @param stake The 32-byte AGR added to the stake.
    """
    self._check_round(round_id)
    assert self._rounds[round_id].targets_commit != empty(bytes32), "Tournament: targets not committed"
    assert block.timestamp < self._rounds[round_id].close_time, "Tournament: round closed"
    assert commit != empty(bytes32), "Tournament: empty commit"
    w: uint256 = self._subs[round_id][msg.sender]
    index: uint256 = (w >> 128) & constants.MASK64
    if (w >> 192) == SUB_NONE:
        assert stake != 0, "Tournament: zero stake"
        index = self._rounds[round_id].submissions
        self._rounds[round_id].submissions = index + 1
    total: uint256 = (w & constants.MASK128) + stake
    assert total <= constants.MASK128, "Tournament: stake too large"
    self._subs[round_id][msg.sender] = total | (index << 128) | (SUB_COMMITTED << 192)
    self._commits[round_id][msg.sender] = commit
    if stake != 0:
        transfers._transfer_in(IERC20(token), msg.sender, stake)
    log Submitted(round=round_id, account=msg.sender, index=index, commit=commit, stake=total)


@external
def reveal(round_id: uint256, predictions_cid: bytes32, salt: bytes32):
    """
    @notice Reveals the caller's predictions: their CID digest and the
            salt of the commitment. After the close, before the reveal
            deadline. A submission never revealed is burned.
    @param round_id The 32-byte round id.
    @param predictions_cid The 32-byte CID digest of the predictions.
    @param salt The 32-byte salt of the commitment.
    """
    w: uint256 = self._subs[round_id][msg.sender]
    state: uint256 = w >> 192
    assert state != SUB_NONE, "Tournament: no submission"
    assert state == SUB_COMMITTED, "Tournament: already revealed"
    assert block.timestamp >= self._rounds[round_id].close_time, "Tournament: reveal not open"
    assert block.timestamp < self._rounds[round_id].reveal_deadline, "Tournament: reveal closed"
    commit: bytes32 = keccak256(abi_encode(round_id, msg.sender, predictions_cid, salt))
    assert commit == self._commits[round_id][msg.sender], "Tournament: reveal does not match commit"
    stake: uint256 = w & constants.MASK128
    self._subs[round_id][msg.sender] = (w & ((1 << 192) - 1)) | (SUB_REVEALED << 192)
    self._commits[round_id][msg.sender] = predictions_cid
    self._rounds[round_id].revealed_stake += stake
    log Revealed(round=round_id, account=msg.sender, predictions_cid=predictions_cid, stake=stake)


@external
def burn_unrevealed(round_id: uint256, account: address) -> uint256:
    """
    @notice Burns the whole stake of a submission that was not revealed.
            Anyone may, after the reveal deadline, in every round (a
            failed one too: the model broke its own commitment).
    @param round_id The 32-byte round id.
    @param account The 20-byte submitter.
    @return uint256 The AGR burned.
    """
    self._check_round(round_id)
    assert block.timestamp >= self._rounds[round_id].reveal_deadline, "Tournament: reveal still open"
    w: uint256 = self._subs[round_id][account]
    assert w >> 192 == SUB_COMMITTED, "Tournament: nothing to burn"
    stake: uint256 = w & constants.MASK128
    self._subs[round_id][account] = (w & ((1 << 192) - 1)) | (SUB_BURNED << 192)
    extcall IBurnable(token).burn(stake)
    log Burned(round=round_id, account=account, amount=stake)
    return stake


# --- settlement ----------------------------------------------------------------------------
@external
def post_root(round_id: uint256, root: bytes32, total: uint256, pool_used: uint256, burn: uint256):
    """
    @notice Posts the round's settlement: the Merkle root of one leaf per
            submission, leaf i = (account of submission i, amount it gets
            back), the total of the amounts, the part of the pool the
            gains use and the total burned. Pulls the bond from the
            resolver (approve it first: `required_bond(pool_used, burn)`).
            The resolver only, after revealing the targets, before the
            settle deadline; again after a rejection.
    @dev Checked here: total + burn == S + pool_used (S: the revealed
         stakes), pool_used <= pool, pool_used and burn each <= 5% of S.
         The leaves themselves are checked when claimed or disputed; the
         scores behind them cannot be checked on chain.
    @param round_id The 32-byte round id.
    @param root The 32-byte Merkle root (house convention; digest =
           keccak256(abi_encode(account, amount))).
    @param total The 32-byte sum of the leaves' amounts.
    @param pool_used The 32-byte part of the pool paid out as gains.
    @param burn The 32-byte sum of the stakes' losses, burned.
    """
    self._check_round(round_id)
    r: Round = self._rounds[round_id]
    assert msg.sender == r.resolver, "Tournament: not the resolver"
    assert r.targets_cid != empty(bytes32), "Tournament: targets not revealed"
    assert block.timestamp < r.settle_deadline, "Tournament: past the settle deadline"
    assert pool_used <= r.pool, "Tournament: pool used above the pool"
    band: uint256 = r.revealed_stake * BAND_BPS
    assert pool_used * constants.BPS <= band and burn * constants.BPS <= band, "Tournament: beyond 5% of the stakes"
    assert total + burn == r.revealed_stake + pool_used, "Tournament: totals do not add up"
    bond: uint256 = self._required_bond(pool_used, burn)
    settlement._post(convert(round_id, bytes32), root, total, challenge_window)
    self._rounds[round_id].gain_left = pool_used
    self._rounds[round_id].burn_left = burn
    self._rounds[round_id].bond = bond
    if bond != 0:
        transfers._transfer_in(IERC20(token), msg.sender, bond)
    log RootPosted(round=round_id, root=root, total=total, pool_used=pool_used, burn=burn, bond=bond)


@external
def dispute(round_id: uint256, index: uint256, account: address, amount: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF]):
    """
    @notice Proves a leaf of the round's pending root wrong: the root is
            rejected and its bond paid to the caller. Anyone may, before
            the root is final. A leaf (index, account, amount) is wrong
            if the account made no submission in the round, or its
            submission has another index, or it did not reveal and
            `amount` is not 0, or it revealed and `amount` is outside
            [0.95, 1.05] x its stake.
    @dev A leaf carries no stake: the contract knows each submission's
         stake and index, so a leaf "with another stake" is one whose
         amount falls outside the band of the real stake, or one at
         another submission's index. Not provable here (see the
         contract's `@custom:security`): the scores behind the amounts
         (CORR, MMC, the payout factor), a submission left out of the
         tree (its model exits at 95% with `exit_round`), leaves that do
         not add up to the stated totals.
    @param round_id The 32-byte round id.
    @param index The 32-byte leaf index.
    @param account The 20-byte account of the leaf.
    @param amount The 32-byte amount of the leaf.
    @param proof The sibling hashes from the leaf up (at most 32).
    """
    key: bytes32 = convert(round_id, bytes32)
    settlement._reject(key)
    assert settlement._verify(key, index, account, amount, proof), "Tournament: bad proof"
    w: uint256 = self._subs[round_id][account]
    state: uint256 = w >> 192
    wrong: bool = state == SUB_NONE or (w >> 128) & constants.MASK64 != index
    if not wrong:
        if state == SUB_REVEALED:
            wrong = not self._within_band(amount, w & constants.MASK128)
        else:       # not revealed (committed or already burned): nothing comes back
            wrong = amount != 0
    assert wrong, "Tournament: leaf is valid"
    bond: uint256 = self._rounds[round_id].bond
    self._rounds[round_id].bond = 0
    self._rounds[round_id].gain_left = 0
    self._rounds[round_id].burn_left = 0
    if bond != 0:
        transfers._transfer_out(IERC20(token), msg.sender, bond)
    log Disputed(round=round_id, disputer=msg.sender, index=index, account=account, amount=amount, bond=bond)


@external
def claim(round_id: uint256, index: uint256, amount: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF]) -> uint256:
    """
    @notice Settles the caller's revealed stake by its leaf of the final
            root: pays back min(amount, stake) of the stake, pays
            amount - stake from the pool if positive, burns stake -
            amount if negative. Once per submission.
    @dev Gains are paid while the stated pool use lasts and burns while
         the stated burn lasts (an honest root uses both exactly); past
         either, the model keeps its stake.
    @param round_id The 32-byte round id.
    @param index The 32-byte leaf index (the submission's index).
    @param amount The 32-byte amount of the leaf, within [0.95, 1.05] x
           the stake.
    @param proof The sibling hashes from the leaf up (at most 32).
    @return uint256 The AGR paid to the caller.
    """
    w: uint256 = self._subs[round_id][msg.sender]
    state: uint256 = w >> 192
    assert state != SUB_CLAIMED and state != SUB_REFUNDED, "Tournament: already settled"
    assert state == SUB_REVEALED, "Tournament: not revealed"
    assert (w >> 128) & constants.MASK64 == index, "Tournament: wrong index"
    stake: uint256 = w & constants.MASK128
    assert self._within_band(amount, stake), "Tournament: amount out of bounds"
    settlement._claim(convert(round_id, bytes32), index, msg.sender, amount, proof)
    self._subs[round_id][msg.sender] = (w & ((1 << 192) - 1)) | (SUB_CLAIMED << 192)
    paid: uint256 = stake
    burned: uint256 = 0
    if amount > stake:
        gain: uint256 = min(amount - stake, self._rounds[round_id].gain_left)
        if gain != 0:
            self._rounds[round_id].gain_left -= gain
            self._rounds[round_id].pool -= gain
            paid += gain
    elif amount < stake:
        burned = min(stake - amount, self._rounds[round_id].burn_left)
        if burned != 0:
            self._rounds[round_id].burn_left -= burned
            paid -= burned
            extcall IBurnable(token).burn(burned)
    transfers._transfer_out(IERC20(token), msg.sender, paid)
    log StakeSettled(round=round_id, account=msg.sender, paid=paid, burned=burned)
    return paid


@external
def exit_round(round_id: uint256) -> uint256:
    """
    @notice Settles the caller's revealed stake at the floor of the band
            when no leaf of the final root pays it (left out of the
            tree, or given an amount out of bounds that nobody
            disputed): pays back 95% of the stake and burns 5%, the most
            any valid leaf could take. Once per submission, instead of
            `claim`; a model with a valid leaf never gains by it.
    @dev Without it, a resolver could lock a revealed stake forever by
         leaving it out of the tree, which no dispute can prove (a
         Merkle root does not prove absence). The burn is outside the
         root's stated burn.
    @param round_id The 32-byte round id.
    @return uint256 The AGR paid to the caller.
    """
    assert settlement._is_final(convert(round_id, bytes32)), "Tournament: root not final"
    w: uint256 = self._subs[round_id][msg.sender]
    state: uint256 = w >> 192
    assert state != SUB_CLAIMED and state != SUB_REFUNDED, "Tournament: already settled"
    assert state == SUB_REVEALED, "Tournament: not revealed"
    stake: uint256 = w & constants.MASK128
    burned: uint256 = stake * BAND_BPS // constants.BPS
    self._subs[round_id][msg.sender] = (w & ((1 << 192) - 1)) | (SUB_CLAIMED << 192)
    if burned != 0:
        extcall IBurnable(token).burn(burned)
    transfers._transfer_out(IERC20(token), msg.sender, stake - burned)
    log StakeSettled(round=round_id, account=msg.sender, paid=stake - burned, burned=burned)
    return stake - burned


@external
def refund(round_id: uint256) -> uint256:
    """
    @notice Refunds the caller's revealed stake in full when the round
            failed: at the settle deadline the targets were not revealed
            or no root stood (none posted, or the last one rejected).
    @param round_id The 32-byte round id.
    @return uint256 The AGR refunded.
    """
    self._check_round(round_id)
    assert self._failed(round_id), "Tournament: round not failed"
    w: uint256 = self._subs[round_id][msg.sender]
    state: uint256 = w >> 192
    assert state != SUB_CLAIMED and state != SUB_REFUNDED, "Tournament: already settled"
    assert state == SUB_REVEALED, "Tournament: not revealed"
    stake: uint256 = w & constants.MASK128
    self._subs[round_id][msg.sender] = (w & ((1 << 192) - 1)) | (SUB_REFUNDED << 192)
    transfers._transfer_out(IERC20(token), msg.sender, stake)
    log Refunded(round=round_id, account=msg.sender, amount=stake)
    return stake


@external
def release(round_id: uint256):
    """
    @notice Once the round's root is final: returns the pool the root does
            not use to the creator and the bond to the resolver. Once the
            round failed: returns the whole pool to the creator. Anyone
            may, once.
    @dev What the root's gains still reserve stays for their claims.
    @param round_id The 32-byte round id.
    """
    self._check_round(round_id)
    r: Round = self._rounds[round_id]
    assert not r.released, "Tournament: already released"
    to_creator: uint256 = 0
    to_resolver: uint256 = 0
    if settlement._is_final(convert(round_id, bytes32)):
        to_creator = r.pool - r.gain_left
        to_resolver = r.bond
        self._rounds[round_id].pool = r.gain_left
        self._rounds[round_id].bond = 0
    else:
        assert self._failed(round_id), "Tournament: round not settled"
        to_creator = r.pool
        self._rounds[round_id].pool = 0
    self._rounds[round_id].released = True
    if to_creator != 0:
        transfers._transfer_out(IERC20(token), r.creator, to_creator)
    if to_resolver != 0:
        transfers._transfer_out(IERC20(token), r.resolver, to_resolver)
    log Released(round=round_id, creator_amount=to_creator, resolver_amount=to_resolver)


@external
def sweep(round_id: uint256) -> uint256:
    """
    @notice `CLAIM_PERIOD` after the round's root became final, and once
            released: returns to the creator what the root's gains still
            reserve (gains never claimed, or given up by `exit_round`).
            Anyone may. A later claim still gets its stake back, without
            the gain.
    @param round_id The 32-byte round id.
    @return uint256 The AGR returned to the creator.
    """
    self._check_round(round_id)
    r: Round = self._rounds[round_id]
    key: bytes32 = convert(round_id, bytes32)
    assert r.released and settlement._is_final(key), "Tournament: not released"
    assert block.timestamp >= settlement._final_at(key) + CLAIM_PERIOD, "Tournament: claims still open"
    amount: uint256 = r.pool
    self._rounds[round_id].pool = 0
    self._rounds[round_id].gain_left = 0
    if amount != 0:
        transfers._transfer_out(IERC20(token), r.creator, amount)
    log Swept(round=round_id, amount=amount)
    return amount


# --- views --------------------------------------------------------------------------------------
@external
@view
def round(round_id: uint256) -> Round:
    """
    @notice A round's record.
    @param round_id The 32-byte round id.
    @return Round Creator, resolver, times, stake threshold, targets
            commitment and CID, submission count, revealed stakes, pool
            held, what is left of the standing root's pool use and burn
            (its stated values are in `RootPosted`), the bond held,
            whether released.
    """
    self._check_round(round_id)
    return self._rounds[round_id]


@external
@view
def round_count() -> uint256:
    """
    @notice How many rounds were created (the last round id).
    @return uint256 The count.
    """
    return self._round_count


@external
@view
def submission(round_id: uint256, account: address) -> Submission:
    """
    @notice An account's submission to a round.
    @param round_id The 32-byte round id.
    @param account The 20-byte submitter.
    @return Submission The stake, the leaf index, the state (0 none, 1
            committed, 2 revealed, 3 claimed, 4 refunded, 5 burned) and
            the commitment (the predictions CID once revealed).
    """
    w: uint256 = self._subs[round_id][account]
    return Submission(
        stake=w & constants.MASK128, index=(w >> 128) & constants.MASK64, state=w >> 192,
        commit=self._commits[round_id][account],
    )


@external
@view
def required_bond(pool_used: uint256, burn: uint256) -> uint256:
    """
    @notice The bond a root that uses `pool_used` of the pool and burns
            `burn` is posted with: what it moves (pool_used + burn), at
            least `min_bond`.
    @param pool_used The 32-byte pool use.
    @param burn The 32-byte burn.
    @return uint256 The bond.
    """
    return self._required_bond(pool_used, burn)


@external
@view
def is_failed(round_id: uint256) -> bool:
    """
    @notice Whether the round failed (past the settle deadline with no
            root standing): stakes are refundable, the pool returns.
    @param round_id The 32-byte round id.
    @return bool True if failed.
    """
    self._check_round(round_id)
    return self._failed(round_id)


# --- internals --------------------------------------------------------------------------------------
@internal
@view
def _check_round(round_id: uint256):
    assert self._rounds[round_id].creator != empty(address), "Tournament: unknown round"


@internal
@view
def _failed(round_id: uint256) -> bool:
    """Past the settle deadline and no root pending or final."""
    return (
        block.timestamp >= self._rounds[round_id].settle_deadline
        and settlement._status(convert(round_id, bytes32)) != settlement.STATUS_PENDING
    )


@internal
@pure
def _within_band(amount: uint256, stake: uint256) -> bool:
    """Whether amount lies in [0.95, 1.05] x stake (exactly, no rounding; stakes fit in 128 bits)."""
    return (
        amount <= constants.MASK128
        and amount * constants.BPS >= stake * (constants.BPS - BAND_BPS)
        and amount * constants.BPS <= stake * (constants.BPS + BAND_BPS)
    )


@internal
@view
def _required_bond(pool_used: uint256, burn: uint256) -> uint256:
    """The bond: what the root moves, at least `min_bond`."""
    return max(min_bond, pool_used + burn)
