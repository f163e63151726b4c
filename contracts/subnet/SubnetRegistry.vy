# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora subnet registry
@custom:contract-name SubnetRegistry
@license AGPL-3.0-only
@notice Bittensor-style subnets on an EVM chain: who the neurons are, what
        they staked, which validators hold a permit in each epoch and the
        weights they revealed. Emission and its settlement (Yuma) live in a
        separate contract, the `settler`, which reads the stakes, permits
        and weights here and may slash stake and name prune candidates.
        - **Subnets**: anyone creates one and owns it; the owner sets its
          hyperparameters within checked bounds (`hyperparams` returns all
          of them, for the off-chain Yuma).
        - **Registration**: `register` burns `current_burn` of the stake
          token. Each registration multiplies the price by
          (1 + burn_rise_bps / 10,000), capped at `max_burn`; between
          registrations the part above `min_burn` halves every
          `burn_half_life` blocks. A full subnet replaces the settler's
          prune candidate (the non-immune UID with the lowest emission),
          else the non-immune UID registered longest ago (lowest UID on
          ties); a UID is immune for `immunity_period` blocks after its
          registration.
        - **Stake**: anyone stakes to a registered hotkey and gets shares
          of the hotkey's pool, so a slash reduces every staker pro rata.
          Every change of a UID's stake is checkpointed, so `stake_at`
          answers for any past block.
        - **Epochs and permits**: `advance_epoch`, open to anyone once per
          `tempo` blocks, gives validator permits to the top
          `max_allowed_validators` UIDs by stake (non-zero stake only; on
          equal stake the higher UID wins, as subtensor's ascending stable
          sort in `is_topk_nonzero` has it).
        - **Weights** by commit-reveal: a permitted validator's hotkey
          commits `keccak256(abi_encode(netuid, hotkey, uids, values,
          salt))` (netuid uint256, hotkey address, uids uint16[], values
          uint16[], salt bytes32: the standard ABI encoding of that tuple)
          and reveals it during the next epoch.
@dev Money: token.balanceOf(this) = sum over (netuid, hotkey) of
     `_stake[netuid][hotkey]`. Registration burns are pulled and burnt
     in the same call; slashed stake is paid out or burnt at once.
     The stake token must have snekmate's `burn(amount)` (AgoraToken).
     Packed storage (offsets in bits):
     - `_neuron[netuid][uid]`: hotkey(160) | last_update(48) @160 |
       row word mask(16) @208 | epoch of registration(32) @224;
     - `_reg[netuid][uid >> 2]`: registration blocks, 4 x 64 bits;
     - `_uid_stake[netuid][uid >> 1]`: the stake counted for the UID
       (its hotkey's pool), 2 x 128 bits: `advance_epoch` reads 128
       words for 256 UIDs;
     - `_w[netuid][uid << 4 | j]`: weights to UIDs 16j..16j+15, 16 x u16
       (UID 16j + i at bit 16i); bit j of the row mask says word j is
       non-zero, so a new row rewrites and a replacement clears only
       the words in use;
     - `_epoch[netuid]`: current epoch << 64 | its block;
     - `_ckpt[netuid][uid][i]`: block << 128 | stake(128);
     - `_shares`, `_pool_shares`: generation(32) @224 | shares(224).
     A slash of 100% leaves shares worth nothing: the pool's generation
     is bumped, and shares of an older generation count as zero.
@custom:security `stake_at(b)` is the stake at the end of block `b`. So
     that the stake of an epoch's block is the one its permits were
     computed from, a UID's stake cannot change in the block in which
     its subnet's epoch advanced (after `advance_epoch`): such calls
     revert with "stake frozen until the next block" — except the
     settler's slash, so that no one can block a dispute by advancing
     the epoch in its block.
"""


# @dev Only the owner sets the settler (once).
from snekmate.auth import ownable
initializes: ownable

# @dev Expose owner(), transfer_ownership(), renounce_ownership().
exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)


from ethereum.ercs import IERC20

# @dev BPS and the masks of the packed words (constants only; no state).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers


# snekmate's `erc20.burn`: destroys the caller's own tokens.
interface IBurnable:
    def burn(amount: uint256): nonpayable


# --- types ------------------------------------------------------------------
struct Hyperparams:
    tempo: uint256                      # blocks between epochs, 1..50,400
    max_uids: uint256                   # 1..256, never below the subnet's size
    immunity_period: uint256            # blocks a new neuron cannot be pruned
    kappa: uint256                      # u16
    bonds_penalty: uint256              # u16
    bonds_moving_average: uint256       # per million, <= 1,000,000
    max_weight_limit: uint256           # u16, 1..65,535 (65,535: no limit)
    weights_rate_limit: uint256         # blocks between two commits
    max_allowed_validators: uint256     # 1..min(max_uids, 128)
    activity_cutoff: uint256            # blocks
    yuma3: bool
    liquid_alpha: bool
    alpha_low: uint256                  # u16, <= alpha_high
    alpha_high: uint256                 # u16
    min_burn: uint256                   # the floor the burn decays to
    max_burn: uint256                   # the cap it rises to, < 2**128
    burn_rise_bps: uint256              # rise per registration, <= 10,000
    burn_half_life: uint256             # blocks, >= 1


# --- constants ----------------------------------------------------------------
#: The most UIDs of one subnet (a permit bitmap is one word).
MAX_UIDS: public(constant(uint256)) = 256
#: The most validator permits of one subnet.
MAX_VALIDATORS: public(constant(uint256)) = 128
#: The longest tempo (about 7 days of 12-second blocks), as subtensor.
MAX_TEMPO: public(constant(uint256)) = 50_400
MAX_PERIOD: constant(uint256) = (1 << 32) - 1
U16_MAX: constant(uint256) = 65_535
MASK48: constant(uint256) = (1 << 48) - 1
MASK224: constant(uint256) = (1 << 224) - 1


# --- storage --------------------------------------------------------------------
#: The stake and registration token (burnable).
token: public(immutable(IERC20))
#: The settlement contract: names prune candidates and slashes (set once).
settler: public(address)
#: How many subnets exist (netuids are 1..subnet_count).
subnet_count: public(uint256)

_hp: HashMap[uint256, Hyperparams]
_subnet_owner: HashMap[uint256, address]
_size: HashMap[uint256, uint256]
_burn: HashMap[uint256, uint256]                            # block << 128 | burn at that block
_epoch: HashMap[uint256, uint256]                           # epoch << 64 | its block
_epoch_block: HashMap[uint256, HashMap[uint256, uint256]]
_permits: HashMap[uint256, HashMap[uint256, uint256]]
_prune: HashMap[uint256, uint256]                           # candidate uid + 1 (0: none)

_neuron: HashMap[uint256, HashMap[uint256, uint256]]
_reg: HashMap[uint256, HashMap[uint256, uint256]]
_coldkey: HashMap[uint256, HashMap[uint256, address]]
_uid1: HashMap[uint256, HashMap[address, uint256]]          # hotkey => uid + 1 (0: not registered)
_w: HashMap[uint256, HashMap[uint256, uint256]]
_commit: HashMap[uint256, HashMap[uint256, bytes32]]
_commit_meta: HashMap[uint256, HashMap[uint256, uint256]]   # pending @128 | epoch(64) @64 | block + 1 (64)

_stake: HashMap[uint256, HashMap[address, uint256]]
_pool_shares: HashMap[uint256, HashMap[address, uint256]]
_shares: HashMap[uint256, HashMap[address, HashMap[address, uint256]]]
_uid_stake: HashMap[uint256, HashMap[uint256, uint256]]
_ckpt: HashMap[uint256, HashMap[uint256, HashMap[uint256, uint256]]]
_ckpt_n: HashMap[uint256, HashMap[uint256, uint256]]
# each UID's weight rows over time, for settlement disputes: index -> the block of a reveal (or of
# a new registration, which clears the row) and the row's digest keccak256(abi_encode(words)) of
# its 16 packed words (UID u's u16 at word u >> 4, bits 16 * (u & 15)); 0 when cleared
_wck_block: HashMap[uint256, HashMap[uint256, HashMap[uint256, uint256]]]
_wck_digest: HashMap[uint256, HashMap[uint256, HashMap[uint256, bytes32]]]
_wck_n: HashMap[uint256, HashMap[uint256, uint256]]
# where each hotkey's neuron serves (miners' endpoints)
_endpoint: HashMap[uint256, HashMap[address, String[256]]]


# --- events ---------------------------------------------------------------------
event SubnetCreated:
    netuid: indexed(uint256)
    owner: indexed(address)
    tempo: uint256
    max_uids: uint256
    immunity_period: uint256

event ParamsChanged:
    netuid: indexed(uint256)
    params: Hyperparams

event SettlerSet:
    settler: indexed(address)

event PruneCandidateSet:
    netuid: indexed(uint256)
    uid: uint256

event NeuronRegistered:
    netuid: indexed(uint256)
    uid: indexed(uint256)
    hotkey: indexed(address)
    owner: address
    replaced_hotkey: address
    burned: uint256

event StakeAdded:
    netuid: indexed(uint256)
    hotkey: indexed(address)
    staker: indexed(address)
    amount: uint256
    shares: uint256

event StakeRemoved:
    netuid: indexed(uint256)
    hotkey: indexed(address)
    staker: indexed(address)
    amount: uint256
    shares: uint256

event Slashed:
    netuid: indexed(uint256)
    hotkey: indexed(address)
    to: indexed(address)
    amount: uint256

event EpochAdvanced:
    netuid: indexed(uint256)
    epoch: indexed(uint256)
    block: uint256
    permits: uint256

event WeightsCommitted:
    netuid: indexed(uint256)
    uid: indexed(uint256)
    epoch: uint256
    commit_hash: bytes32

event NeuronServing:
    netuid: indexed(uint256)
    uid: indexed(uint256)
    hotkey: indexed(address)
    endpoint: String[256]


event WeightsRevealed:
    netuid: indexed(uint256)
    uid: indexed(uint256)
    epoch: uint256
    uids: DynArray[uint16, MAX_UIDS]
    values: DynArray[uint16, MAX_UIDS]


@deploy
def __init__(token_: address):
    """
    @notice Creates the registry for stakes and registration burns in `token_`.
    @param token_ The 20-byte ERC-20 (it must have `burn(uint256)`).
    """
    ownable.__init__()
    assert token_ != empty(address), "SubnetRegistry: zero address"
    token = IERC20(token_)


# ===========================================================================
# owners
# ===========================================================================
@external
def set_settler(settler_: address):
    """
    @notice Names the settlement contract, once (contract owner only).
    @param settler_ The 20-byte settler.
    """
    ownable._check_owner()
    assert self.settler == empty(address), "SubnetRegistry: settler already set"
    assert settler_ != empty(address), "SubnetRegistry: zero address"
    self.settler = settler_
    log SettlerSet(settler=settler_)


@external
def create_subnet(tempo: uint256, max_uids: uint256, immunity_period: uint256, min_burn: uint256,
                  max_burn: uint256) -> uint256:
    """
    @notice Creates a subnet owned by the caller, with subtensor's defaults
            for the other hyperparameters (kappa 32,767, bonds penalty
            65,535, bonds moving average 900,000, no weight limit, a
            weights rate limit of 100 blocks, min(64, max_uids) validators,
            activity cutoff 5,000, Yuma 3 on, liquid alpha off, alpha
            45,875..58,982, burn rise 2,600 bps (x1.26), half-life 360
            blocks). Epoch 0 starts now, without permits.
    @param tempo Blocks between epochs, 1..50,400.
    @param max_uids 1..256 UIDs.
    @param immunity_period Blocks a new neuron cannot be pruned.
    @param min_burn The first burn and the floor it decays to.
    @param max_burn The cap of the burn (>= min_burn, < 2**128).
    @return uint256 The netuid (from 1).
    """
    p: Hyperparams = Hyperparams(
        tempo=tempo, max_uids=max_uids, immunity_period=immunity_period, kappa=32_767, bonds_penalty=U16_MAX,
        bonds_moving_average=900_000, max_weight_limit=U16_MAX, weights_rate_limit=100,
        max_allowed_validators=min(64, max_uids), activity_cutoff=5_000, yuma3=True, liquid_alpha=False,
        alpha_low=45_875, alpha_high=58_982, min_burn=min_burn, max_burn=max_burn, burn_rise_bps=2_600,
        burn_half_life=360,
    )
    self._validate(p, 0)
    netuid: uint256 = self.subnet_count + 1
    self.subnet_count = netuid
    self._hp[netuid] = p
    self._subnet_owner[netuid] = msg.sender
    self._burn[netuid] = block.number << 128 | min_burn
    self._epoch[netuid] = block.number
    self._epoch_block[netuid][0] = block.number
    log SubnetCreated(netuid=netuid, owner=msg.sender, tempo=tempo, max_uids=max_uids,
                      immunity_period=immunity_period)
    return netuid


@external
def set_hyperparams(netuid: uint256, params: Hyperparams):
    """
    @notice Replaces all of a subnet's hyperparameters (its owner only).
            `max_uids` may not drop below the subnet's size; the burn
            keeps its current value, moved into [min_burn, max_burn].
    @param netuid The 32-byte subnet id.
    @param params The new hyperparameters (see `Hyperparams`).
    """
    self._check_subnet(netuid)
    assert msg.sender == self._subnet_owner[netuid], "SubnetRegistry: not the subnet owner"
    self._validate(params, self._size[netuid])
    burn: uint256 = self._current_burn(netuid)
    self._hp[netuid] = params
    self._burn[netuid] = block.number << 128 | min(max(burn, params.min_burn), params.max_burn)
    log ParamsChanged(netuid=netuid, params=params)


@external
def set_prune_candidate(netuid: uint256, uid: uint256):
    """
    @notice Names the UID the next registration in a full subnet replaces
            (the non-immune UID with the lowest emission, which only the
            settler knows; settler only). It lapses when that UID is
            replaced, and is skipped while the UID is immune.
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    """
    assert msg.sender == self.settler, "SubnetRegistry: not the settler"
    assert uid < self._size[netuid], "SubnetRegistry: unknown UID"
    self._prune[netuid] = uid + 1
    log PruneCandidateSet(netuid=netuid, uid=uid)


# ===========================================================================
# neurons
# ===========================================================================
@external
@nonreentrant
def register(netuid: uint256, hotkey: address, max_burn: uint256) -> uint256:
    """
    @notice Registers `hotkey` in the subnet for the caller (its owner, or
            coldkey), burning `current_burn(netuid)` of the caller's tokens
            (approve them first). In a full subnet it replaces the prune
            candidate if it is set and not immune, else the non-immune UID
            registered longest ago (lowest UID on ties); the replaced UID's
            weights, last update and pending commit are cleared, and its
            hotkey's stake stops counting for it (its stakers may still
            withdraw it).
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte address that will commit and reveal weights.
    @param max_burn The most the caller will burn (guards against a rise
           front-running the call).
    @return uint256 The neuron's UID.
    """
    self._check_subnet(netuid)
    assert hotkey != empty(address), "SubnetRegistry: zero hotkey"
    assert self._uid1[netuid][hotkey] == 0, "SubnetRegistry: hotkey already registered"
    burn: uint256 = self._current_burn(netuid)
    assert burn <= max_burn, "SubnetRegistry: burn above max_burn"
    n: uint256 = self._size[netuid]
    uid: uint256 = n
    replaced: address = empty(address)
    if n < self._hp[netuid].max_uids:
        self._size[netuid] = n + 1
    else:
        uid = self._prune_target(netuid, n)
        word: uint256 = self._neuron[netuid][uid]
        replaced = convert(convert(word & constants.MASK160, uint160), address)
        self._uid1[netuid][replaced] = 0
        mask: uint256 = (word >> 208) & constants.MASK16
        for j: uint256 in range(16):
            if mask & (1 << j) != 0:
                self._w[netuid][uid << 4 | j] = 0
        self._commit_meta[netuid][uid] = 0
        if self._prune[netuid] == uid + 1:
            self._prune[netuid] = 0
    if replaced != empty(address):
        self._push_row(netuid, uid, empty(bytes32))
    self._uid1[netuid][hotkey] = uid + 1
    self._neuron[netuid][uid] = convert(hotkey, uint256) | (self._epoch[netuid] >> 64) << 224
    sh: uint256 = (uid & 3) << 6
    self._reg[netuid][uid >> 2] = (self._reg[netuid][uid >> 2] & ~(constants.MASK64 << sh)) | block.number << sh
    self._coldkey[netuid][uid] = msg.sender
    self._set_uid_stake(netuid, uid, self._stake[netuid][hotkey], False)
    rise: uint256 = burn * (constants.BPS + self._hp[netuid].burn_rise_bps) // constants.BPS
    self._burn[netuid] = block.number << 128 | min(rise, self._hp[netuid].max_burn)
    if burn != 0:
        transfers._transfer_in(token, msg.sender, burn)
        extcall IBurnable(token.address).burn(burn)
    log NeuronRegistered(netuid=netuid, uid=uid, hotkey=hotkey, owner=msg.sender, replaced_hotkey=replaced,
                         burned=burn)
    return uid


# ===========================================================================
# stake
# ===========================================================================
@external
@nonreentrant
def add_stake(netuid: uint256, hotkey: address, amount: uint256) -> uint256:
    """
    @notice Stakes `amount` tokens (approved beforehand) to a registered
            hotkey; the caller gets shares of the hotkey's pool.
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte registered hotkey.
    @param amount The 32-byte amount (> 0; the pool stays below 2**128).
    @return uint256 The shares minted.
    """
    uid: uint256 = self._uid_of(netuid, hotkey)
    assert amount != 0, "SubnetRegistry: zero amount"
    stake: uint256 = self._stake[netuid][hotkey]
    pool: uint256 = self._pool_shares[netuid][hotkey]
    total: uint256 = pool & MASK224
    # stake <= total shares always (a slash lowers the ratio and the rounding
    # down of a withdrawal never lifts it above 1), so shares >= amount > 0
    shares: uint256 = amount
    if total != 0:
        shares = amount * total // stake
    assert stake + amount <= constants.MASK128, "SubnetRegistry: stake too large"
    gen: uint256 = pool >> 224
    mine: uint256 = self._shares[netuid][hotkey][msg.sender]
    if mine >> 224 != gen:
        mine = gen << 224
    self._shares[netuid][hotkey][msg.sender] = mine + shares
    self._pool_shares[netuid][hotkey] = pool + shares
    self._stake[netuid][hotkey] = stake + amount
    self._set_uid_stake(netuid, uid, stake + amount, False)
    transfers._transfer_in(token, msg.sender, amount)
    log StakeAdded(netuid=netuid, hotkey=hotkey, staker=msg.sender, amount=amount, shares=shares)
    return shares


@external
@nonreentrant
def remove_stake(netuid: uint256, hotkey: address, shares: uint256) -> uint256:
    """
    @notice Burns `shares` of the caller's shares in the hotkey's pool and
            pays out their value, shares * stake / total shares (rounded
            down). Also for a hotkey that was pruned or never re-registered.
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @param shares The 32-byte number of shares (> 0, at most the caller's).
    @return uint256 The amount paid.
    """
    assert shares != 0, "SubnetRegistry: zero shares"
    pool: uint256 = self._pool_shares[netuid][hotkey]
    mine: uint256 = self._shares[netuid][hotkey][msg.sender]
    held: uint256 = 0
    if mine >> 224 == pool >> 224:
        held = mine & MASK224
    assert shares <= held, "SubnetRegistry: not enough shares"
    stake: uint256 = self._stake[netuid][hotkey]
    amount: uint256 = shares * stake // (pool & MASK224)
    self._shares[netuid][hotkey][msg.sender] = mine - shares
    self._pool_shares[netuid][hotkey] = pool - shares
    self._stake[netuid][hotkey] = stake - amount
    uid1: uint256 = self._uid1[netuid][hotkey]
    if uid1 != 0:
        self._set_uid_stake(netuid, uid1 - 1, stake - amount, False)
    if amount != 0:
        transfers._transfer_out(token, msg.sender, amount)
    log StakeRemoved(netuid=netuid, hotkey=hotkey, staker=msg.sender, amount=amount, shares=shares)
    return amount


@external
@nonreentrant
def slash(netuid: uint256, hotkey: address, bps: uint256, to: address) -> uint256:
    """
    @notice Takes `bps` of the hotkey's pool (every staker loses the same
            share) and pays it to `to`, or burns it if `to` is empty
            (settler only).
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @param bps The share to take, in basis points (<= 10,000).
    @param to The 20-byte recipient, or empty to burn.
    @return uint256 The amount slashed.
    """
    assert msg.sender == self.settler, "SubnetRegistry: not the settler"
    assert bps <= constants.BPS, "SubnetRegistry: bad bps"
    stake: uint256 = self._stake[netuid][hotkey]
    amount: uint256 = stake * bps // constants.BPS
    self._stake[netuid][hotkey] = stake - amount
    if stake == amount:
        # nothing left: the old shares are worth nothing, a new generation starts
        self._pool_shares[netuid][hotkey] = ((self._pool_shares[netuid][hotkey] >> 224) + 1) << 224
    uid1: uint256 = self._uid1[netuid][hotkey]
    if uid1 != 0:
        self._set_uid_stake(netuid, uid1 - 1, stake - amount, True)
    if amount != 0:
        if to == empty(address):
            extcall IBurnable(token.address).burn(amount)
        else:
            transfers._transfer_out(token, to, amount)
    log Slashed(netuid=netuid, hotkey=hotkey, to=to, amount=amount)
    return amount


# ===========================================================================
# epochs and weights
# ===========================================================================
@external
def advance_epoch(netuid: uint256) -> uint256:
    """
    @notice Starts the subnet's next epoch once `tempo` blocks have passed
            since the last one (anyone may call): validator permits go to
            the `max_allowed_validators` UIDs with the most stake (non-zero
            only; on equal stake the higher UID wins, as in subtensor).
    @param netuid The 32-byte subnet id.
    @return uint256 The new epoch number.
    """
    self._check_subnet(netuid)
    word: uint256 = self._epoch[netuid]
    assert block.number >= (word & constants.MASK64) + self._hp[netuid].tempo, "SubnetRegistry: epoch not due"
    e: uint256 = (word >> 64) + 1
    permits: uint256 = self._top_k(netuid, self._size[netuid], self._hp[netuid].max_allowed_validators)
    self._epoch[netuid] = e << 64 | block.number
    # the epoch's block, and the subnet's size then (the UIDs its settlement covers)
    self._epoch_block[netuid][e] = self._size[netuid] << 64 | block.number
    self._permits[netuid][e] = permits
    log EpochAdvanced(netuid=netuid, epoch=e, block=block.number, permits=permits)
    return e


@external
def commit_weights(netuid: uint256, commit_hash: bytes32):
    """
    @notice Commits the hash of the caller's next weights (the caller is a
            hotkey whose UID holds a permit in the current epoch, and
            registered before it began). Reveal them during the next epoch.
            A new commit replaces an unrevealed one; at most one commit per
            `weights_rate_limit` blocks.
    @param netuid The 32-byte subnet id.
    @param commit_hash keccak256(abi_encode(netuid, hotkey, uids, values, salt)).
    """
    uid: uint256 = self._uid_of(netuid, msg.sender)
    e: uint256 = self._epoch[netuid] >> 64
    assert (self._permits[netuid][e] >> uid) & 1 == 1 and self._neuron[netuid][uid] >> 224 < e, \
        "SubnetRegistry: no validator permit"
    last: uint256 = self._commit_meta[netuid][uid] & constants.MASK64
    assert last == 0 or block.number + 1 >= last + self._hp[netuid].weights_rate_limit, \
        "SubnetRegistry: weights rate limited"
    self._commit[netuid][uid] = commit_hash
    self._commit_meta[netuid][uid] = 1 << 128 | e << 64 | (block.number + 1)
    log WeightsCommitted(netuid=netuid, uid=uid, epoch=e, commit_hash=commit_hash)


@external
def reveal_weights(netuid: uint256, uids: DynArray[uint16, MAX_UIDS], values: DynArray[uint16, MAX_UIDS],
                   salt: bytes32):
    """
    @notice Reveals the committed weights during the epoch after the
            commit's, and stores them as the caller's row (and its
            `last_update`). UIDs strictly increasing and below the size;
            the values sum to more than 0 and none exceeds the max-weight
            limit once the row is normalised to its sum.
    @param netuid The 32-byte subnet id.
    @param uids The target UIDs (u16 each, at most 256).
    @param values Their weights (u16 each, relative).
    @param salt The 32-byte salt of the commit.
    """
    uid: uint256 = self._uid_of(netuid, msg.sender)
    meta: uint256 = self._commit_meta[netuid][uid]
    assert meta >> 128 == 1, "SubnetRegistry: no commit"
    ce: uint256 = (meta >> 64) & constants.MASK64
    e: uint256 = self._epoch[netuid] >> 64
    assert e > ce, "SubnetRegistry: reveal too early"
    assert e == ce + 1, "SubnetRegistry: reveal too late"
    assert keccak256(abi_encode(netuid, msg.sender, uids, values, salt)) == self._commit[netuid][uid], \
        "SubnetRegistry: reveal does not match commit"
    count: uint256 = len(uids)
    assert count == len(values), "SubnetRegistry: length mismatch"
    n: uint256 = self._size[netuid]
    words: uint256[16] = empty(uint256[16])
    total: uint256 = 0
    top: uint256 = 0
    nxt: uint256 = 0
    for i: uint256 in range(count, bound=MAX_UIDS):
        u: uint256 = convert(uids[i], uint256)
        assert u >= nxt, "SubnetRegistry: UIDs not strictly increasing"
        assert u < n, "SubnetRegistry: unknown UID"
        nxt = u + 1
        v: uint256 = convert(values[i], uint256)
        total += v
        top = max(top, v)
        words[u >> 4] |= v << ((u & 15) << 4)
    assert total != 0, "SubnetRegistry: zero weights"
    assert top * U16_MAX <= self._hp[netuid].max_weight_limit * total, "SubnetRegistry: weight above the max"
    word: uint256 = self._neuron[netuid][uid]
    old: uint256 = (word >> 208) & constants.MASK16
    mask: uint256 = 0
    for j: uint256 in range(16):
        if words[j] != 0:
            mask |= 1 << j
            self._w[netuid][uid << 4 | j] = words[j]
        elif old & (1 << j) != 0:
            self._w[netuid][uid << 4 | j] = 0
    self._neuron[netuid][uid] = (word & ~(MASK48 << 160 | constants.MASK16 << 208)) | block.number << 160 | mask << 208
    self._commit_meta[netuid][uid] = meta & constants.MASK128
    self._push_row(netuid, uid, keccak256(abi_encode(words)))
    log WeightsRevealed(netuid=netuid, uid=uid, epoch=ce, uids=uids, values=values)


@external
def serve(netuid: uint256, endpoint: String[256]):
    """
    @notice Announces where the caller's neuron serves (a registered hotkey;
            a miner's URL). A new registration of the UID starts without one.
    @param netuid The 32-byte subnet id.
    @param endpoint The endpoint, e.g. an http(s) URL (at most 256 bytes).
    """
    uid: uint256 = self._uid_of(netuid, msg.sender)
    self._endpoint[netuid][msg.sender] = endpoint
    log NeuronServing(netuid=netuid, uid=uid, hotkey=msg.sender, endpoint=endpoint)


@view
@external
def endpoint_of(netuid: uint256, uid: uint256) -> String[256]:
    """
    @notice Where a UID's neuron serves ("" if it never said).
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return String The endpoint.
    """
    word: uint256 = self._neuron_word(netuid, uid)
    return self._endpoint[netuid][convert(convert(word & constants.MASK160, uint160), address)]


@view
@external
def weights_at(netuid: uint256, uid: uint256, blk: uint256) -> (bytes32, uint256):
    """
    @notice The weight row that stood for a UID at the end of block `blk`:
            the digest keccak256(abi_encode(words)) of its 16 packed words
            (UID u's u16 weight at word u >> 4, bits 16 * (u & 15)) and the
            reveal's block, or (0, 0) if none stood (never revealed, or
            cleared by a new registration).
    @param netuid The 32-byte subnet id.
    @param uid The UID.
    @param blk A block number.
    @return (bytes32, uint256) The row's digest and the block it was revealed in.
    """
    lo: uint256 = 0
    hi: uint256 = self._wck_n[netuid][uid]
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) >> 1
        if self._wck_block[netuid][uid][mid] > blk:
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return empty(bytes32), 0
    digest: bytes32 = self._wck_digest[netuid][uid][lo - 1]
    if digest == empty(bytes32):
        return empty(bytes32), 0
    return digest, self._wck_block[netuid][uid][lo - 1]


# ===========================================================================
# views
# ===========================================================================
@view
@external
def hyperparams(netuid: uint256) -> Hyperparams:
    """
    @notice All of a subnet's hyperparameters (what Yuma and the settler need).
    @param netuid The 32-byte subnet id.
    @return Hyperparams The hyperparameters.
    """
    self._check_subnet(netuid)
    return self._hp[netuid]


@view
@external
def subnet_owner(netuid: uint256) -> address:
    """
    @notice The subnet's owner (its creator).
    @param netuid The 32-byte subnet id.
    @return address The 20-byte owner (empty: no such subnet).
    """
    return self._subnet_owner[netuid]


@view
@external
def size(netuid: uint256) -> uint256:
    """
    @notice How many UIDs the subnet has (UIDs are 0..size - 1).
    @param netuid The 32-byte subnet id.
    @return uint256 The number of UIDs.
    """
    return self._size[netuid]


@view
@external
def current_burn(netuid: uint256) -> uint256:
    """
    @notice What `register` burns now.
    @dev The part above `min_burn` halves every `burn_half_life` blocks
         since the last registration, linearly between halvings (never
         below the exact 2**(-t / half_life)).
    @param netuid The 32-byte subnet id.
    @return uint256 The 32-byte amount.
    """
    self._check_subnet(netuid)
    return self._current_burn(netuid)


@view
@external
def hotkey_of(netuid: uint256, uid: uint256) -> address:
    """
    @notice The hotkey at a UID.
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return address The 20-byte hotkey.
    """
    return convert(convert(self._neuron_word(netuid, uid) & constants.MASK160, uint160), address)


@view
@external
def coldkey_of(netuid: uint256, uid: uint256) -> address:
    """
    @notice The account that registered the UID's neuron (its owner).
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return address The 20-byte owner.
    """
    self._neuron_word(netuid, uid)
    return self._coldkey[netuid][uid]


@view
@external
def uid_of(netuid: uint256, hotkey: address) -> uint256:
    """
    @notice The UID of a registered hotkey (reverts if it is not registered).
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @return uint256 The UID.
    """
    return self._uid_of(netuid, hotkey)


@view
@external
def is_registered(netuid: uint256, hotkey: address) -> bool:
    """
    @notice Whether the hotkey holds a UID in the subnet.
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @return bool True if registered.
    """
    return self._uid1[netuid][hotkey] != 0


@view
@external
def registered_at(netuid: uint256, uid: uint256) -> uint256:
    """
    @notice The block in which the UID's neuron registered.
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return uint256 The block number.
    """
    self._neuron_word(netuid, uid)
    return self._reg_at(netuid, uid)


@view
@external
def last_update(netuid: uint256, uid: uint256) -> uint256:
    """
    @notice The block of the UID's last revealed weights (0: none since it
            registered).
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return uint256 The block number.
    """
    return (self._neuron_word(netuid, uid) >> 160) & MASK48


@view
@external
def weights(netuid: uint256, uid: uint256) -> DynArray[uint16, MAX_UIDS]:
    """
    @notice The UID's weight row, dense: entry i is its weight on UID i.
    @param netuid The 32-byte subnet id.
    @param uid The UID (< size).
    @return DynArray[uint16, 256] `size` u16 weights, as revealed.
    """
    mask: uint256 = (self._neuron_word(netuid, uid) >> 208) & constants.MASK16
    n: uint256 = self._size[netuid]
    row: DynArray[uint16, MAX_UIDS] = []
    word: uint256 = 0
    for i: uint256 in range(n, bound=MAX_UIDS):
        if i & 15 == 0:
            word = 0
            if mask & (1 << (i >> 4)) != 0:
                word = self._w[netuid][uid << 4 | i >> 4]
        row.append(convert((word >> ((i & 15) << 4)) & constants.MASK16, uint16))
    return row


@view
@external
def pending_commit(netuid: uint256, uid: uint256) -> (bytes32, uint256, bool):
    """
    @notice The UID's last commit.
    @param netuid The 32-byte subnet id.
    @param uid The UID.
    @return (bytes32, uint256, bool) Its hash, the epoch it was made in,
            and whether it still awaits its reveal.
    """
    meta: uint256 = self._commit_meta[netuid][uid]
    return self._commit[netuid][uid], (meta >> 64) & constants.MASK64, meta >> 128 == 1


@view
@external
def prune_candidate(netuid: uint256) -> (bool, uint256):
    """
    @notice The settler's prune candidate.
    @param netuid The 32-byte subnet id.
    @return (bool, uint256) Whether one is set, and its UID.
    """
    c: uint256 = self._prune[netuid]
    if c == 0:
        return False, 0
    return True, c - 1


@view
@external
def stake_of(netuid: uint256, uid: uint256) -> uint256:
    """
    @notice The stake that counts for a UID now (its hotkey's pool).
    @param netuid The 32-byte subnet id.
    @param uid The UID.
    @return uint256 The 32-byte stake.
    """
    return (self._uid_stake[netuid][uid >> 1] >> ((uid & 1) << 7)) & constants.MASK128


@view
@external
def stake_at(netuid: uint256, uid: uint256, blk: uint256) -> uint256:
    """
    @notice The stake that counted for a UID at the end of a past block
            (a binary search over its checkpoints, as ERC20Votes).
    @param netuid The 32-byte subnet id.
    @param uid The UID.
    @param blk A block number before the current one.
    @return uint256 The 32-byte stake.
    """
    assert blk < block.number, "SubnetRegistry: future lookup"
    lo: uint256 = 0
    hi: uint256 = self._ckpt_n[netuid][uid]
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) >> 1
        if self._ckpt[netuid][uid][mid] >> 128 > blk:
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return 0
    return self._ckpt[netuid][uid][lo - 1] & constants.MASK128


@view
@external
def hotkey_stake(netuid: uint256, hotkey: address) -> (uint256, uint256):
    """
    @notice A hotkey's pool, registered or not.
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @return (uint256, uint256) Its stake and its total shares.
    """
    return self._stake[netuid][hotkey], self._pool_shares[netuid][hotkey] & MASK224


@view
@external
def shares_of(netuid: uint256, hotkey: address, staker: address) -> uint256:
    """
    @notice A staker's shares in a hotkey's pool (0 after a 100% slash).
    @param netuid The 32-byte subnet id.
    @param hotkey The 20-byte hotkey.
    @param staker The 20-byte staker.
    @return uint256 The shares.
    """
    mine: uint256 = self._shares[netuid][hotkey][staker]
    if mine >> 224 != self._pool_shares[netuid][hotkey] >> 224:
        return 0
    return mine & MASK224


@view
@external
def epoch(netuid: uint256) -> uint256:
    """
    @notice The subnet's current epoch (0 until the first `advance_epoch`).
    @param netuid The 32-byte subnet id.
    @return uint256 The epoch number.
    """
    return self._epoch[netuid] >> 64


@view
@external
def epoch_block(netuid: uint256, e: uint256) -> uint256:
    """
    @notice The block in which epoch `e` began (0: not yet).
    @param netuid The 32-byte subnet id.
    @param e The epoch number.
    @return uint256 The block number.
    """
    return self._epoch_block[netuid][e] & constants.MASK64


@view
@external
def epoch_size(netuid: uint256, e: uint256) -> uint256:
    """
    @notice How many UIDs the subnet had when epoch `e` began (0 for epoch 0).
    @param netuid The 32-byte subnet id.
    @param e The epoch number.
    @return uint256 The size.
    """
    return self._epoch_block[netuid][e] >> 64


@view
@external
def permits_at(netuid: uint256, e: uint256) -> uint256:
    """
    @notice The validator permits of epoch `e`: bit i set for UID i.
    @param netuid The 32-byte subnet id.
    @param e The epoch number.
    @return uint256 The 256-bit bitmap.
    """
    return self._permits[netuid][e]


# ===========================================================================
# internals
# ===========================================================================
@internal
@view
def _check_subnet(netuid: uint256):
    assert netuid != 0 and netuid <= self.subnet_count, "SubnetRegistry: unknown subnet"


@internal
@view
def _uid_of(netuid: uint256, hotkey: address) -> uint256:
    uid1: uint256 = self._uid1[netuid][hotkey]
    assert uid1 != 0, "SubnetRegistry: unknown hotkey"
    return uid1 - 1


@internal
@view
def _neuron_word(netuid: uint256, uid: uint256) -> uint256:
    assert uid < self._size[netuid], "SubnetRegistry: unknown UID"
    return self._neuron[netuid][uid]


@internal
@view
def _reg_at(netuid: uint256, uid: uint256) -> uint256:
    return (self._reg[netuid][uid >> 2] >> ((uid & 3) << 6)) & constants.MASK64


@internal
@pure
def _validate(p: Hyperparams, n: uint256):
    assert p.tempo != 0 and p.tempo <= MAX_TEMPO, "SubnetRegistry: bad tempo"
    assert p.max_uids != 0 and p.max_uids <= MAX_UIDS and p.max_uids >= n, "SubnetRegistry: bad max_uids"
    assert p.immunity_period <= MAX_PERIOD and p.weights_rate_limit <= MAX_PERIOD \
        and p.activity_cutoff <= MAX_PERIOD, "SubnetRegistry: bad period"
    assert p.kappa <= U16_MAX and p.bonds_penalty <= U16_MAX and p.max_weight_limit != 0 \
        and p.max_weight_limit <= U16_MAX, "SubnetRegistry: bad u16 parameter"
    assert p.bonds_moving_average <= 1_000_000, "SubnetRegistry: bad bonds moving average"
    assert p.max_allowed_validators != 0 and p.max_allowed_validators <= min(p.max_uids, MAX_VALIDATORS), \
        "SubnetRegistry: bad max_allowed_validators"
    assert p.alpha_low <= p.alpha_high and p.alpha_high <= U16_MAX, "SubnetRegistry: bad alpha"
    assert p.min_burn <= p.max_burn and p.max_burn <= constants.MASK128 and p.burn_rise_bps <= constants.BPS \
        and p.burn_half_life != 0 and p.burn_half_life <= MAX_PERIOD, "SubnetRegistry: bad burn parameters"


@internal
@view
def _current_burn(netuid: uint256) -> uint256:
    word: uint256 = self._burn[netuid]
    lo: uint256 = self._hp[netuid].min_burn
    value: uint256 = word & constants.MASK128
    if value <= lo:
        return lo
    half: uint256 = self._hp[netuid].burn_half_life
    since: uint256 = block.number - (word >> 128)
    halvings: uint256 = since // half
    if halvings >= 128:
        return lo
    excess: uint256 = (value - lo) >> halvings
    # between two halvings, the chord of 2**(-x): 1 - x/2 over x in [0, 1)
    return lo + excess - excess * (since % half) // (2 * half)


@internal
@view
def _prune_target(netuid: uint256, n: uint256) -> uint256:
    immunity: uint256 = self._hp[netuid].immunity_period
    c: uint256 = self._prune[netuid]
    if c != 0 and block.number - self._reg_at(netuid, c - 1) >= immunity:
        return c - 1
    best: uint256 = max_value(uint256)
    best_uid: uint256 = 0
    word: uint256 = 0
    for uid: uint256 in range(n, bound=MAX_UIDS):
        if uid & 3 == 0:
            word = self._reg[netuid][uid >> 2]
        r: uint256 = (word >> ((uid & 3) << 6)) & constants.MASK64
        if r < best and block.number - r >= immunity:
            best = r
            best_uid = uid
    assert best != max_value(uint256), "SubnetRegistry: every UID is immune"
    return best_uid


@internal
def _push_row(netuid: uint256, uid: uint256, digest: bytes32):
    """Checkpoints the UID's weight row (a reveal's digest, or 0 when cleared); one per block."""
    n: uint256 = self._wck_n[netuid][uid]
    if n != 0 and self._wck_block[netuid][uid][n - 1] == block.number:
        self._wck_digest[netuid][uid][n - 1] = digest
        return
    self._wck_block[netuid][uid][n] = block.number
    self._wck_digest[netuid][uid][n] = digest
    self._wck_n[netuid][uid] = n + 1


@internal
def _set_uid_stake(netuid: uint256, uid: uint256, stake: uint256, settler: bool):
    """Sets the stake counted for `uid` and checkpoints it (nothing if unchanged). The settler's
    slash is never frozen: a dispute must get through in any block of its window (the settlement
    counts stakes at the block before an epoch's, which no later change touches)."""
    sh: uint256 = (uid & 1) << 7
    word: uint256 = self._uid_stake[netuid][uid >> 1]
    if (word >> sh) & constants.MASK128 == stake:
        return
    e: uint256 = self._epoch[netuid]
    assert settler or e >> 64 == 0 or e & constants.MASK64 != block.number, \
        "SubnetRegistry: stake frozen until the next block"
    self._uid_stake[netuid][uid >> 1] = (word & ~(constants.MASK128 << sh)) | stake << sh
    k: uint256 = self._ckpt_n[netuid][uid]
    if k != 0 and self._ckpt[netuid][uid][k - 1] >> 128 == block.number:
        k -= 1
    else:
        self._ckpt_n[netuid][uid] = k + 1
    self._ckpt[netuid][uid][k] = block.number << 128 | stake


@internal
@view
def _top_k(netuid: uint256, n: uint256, k: uint256) -> uint256:
    """
    The permit bitmap: the k largest keys stake << 8 | uid among the UIDs
    with stake (a min-heap of size k over one pass; equal stakes rank by UID).
    """
    heap: uint256[MAX_VALIDATORS] = empty(uint256[MAX_VALIDATORS])
    h: uint256 = 0
    word: uint256 = 0
    for uid: uint256 in range(n, bound=MAX_UIDS):
        if uid & 1 == 0:
            word = self._uid_stake[netuid][uid >> 1]
        s: uint256 = (word >> ((uid & 1) << 7)) & constants.MASK128
        if s == 0:
            continue
        key: uint256 = s << 8 | uid
        i: uint256 = 0
        if h < k:
            i = h
            h += 1
            for _: uint256 in range(8):
                if i == 0:
                    break
                parent: uint256 = (i - 1) >> 1
                if heap[parent] <= key:
                    break
                heap[i] = heap[parent]
                i = parent
        elif key > heap[0]:
            for _: uint256 in range(8):
                c: uint256 = 2 * i + 1
                if c >= h:
                    break
                if c + 1 < h and heap[c + 1] < heap[c]:
                    c += 1
                if heap[c] >= key:
                    break
                heap[i] = heap[c]
                i = c
        else:
            continue
        heap[i] = key
    permits: uint256 = 0
    for j: uint256 in range(h, bound=MAX_VALIDATORS):
        permits |= 1 << (heap[j] & 255)
    return permits
