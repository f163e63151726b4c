# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora provider registry
@custom:contract-name ProviderRegistry
@license AGPL-3.0-only
@notice Providers of AI work stake here, declare the workload kinds
        they serve and their price, and earn a reputation. Markets that
        the owner authorises draw providers for jobs (stake-weighted,
        reputation-gated), reward them, penalise stalls and slash
        cheaters. Stake stays slashable for `unbond_delay` after a
        provider starts unbonding.
@dev The registry holds exactly the bonded and unbonding stakes:
     token balance = sum(stake) + sum(unbonding). A slash sends the
     slashed tokens to the calling market, which credits the harmed
     party and the treasury.
     Provider word: stake(96) | price(96) | reputation(16) | kinds(16) |
     active(8) | registered(8), one slot read per draw.
     The draw: a Fenwick tree per workload kind over active stake gives
     an O(log n) stake-weighted pick; reputation is applied by rejection
     (accept with probability reputation/10000), so a reputation change
     never touches the tree.
"""


# @dev Only the owner authorises markets and sets stake parameters.
from snekmate.auth import ownable
initializes: ownable

# @dev Expose owner(), transfer_ownership(), renounce_ownership().
exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)


from ethereum.ercs import IERC20

# @dev BPS, the masks of the packed words, MAX_KINDS and MAX_EXCLUDE
# (constants only: no state, nothing to initialise).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev What markets call here; the compiler checks that it matches.
from ..common import IProviderRegistry
implements: IProviderRegistry


MAX_ATTEMPTS: constant(uint256) = 24
MAX_SKIP: constant(uint256) = constants.MAX_EXCLUDE + MAX_ATTEMPTS
REP_START: public(constant(uint256)) = 5_000
REP_FLOOR: constant(uint256) = 100


struct ProviderView:
    stake: uint256
    unbonding: uint256
    unbond_at: uint256
    price: uint256
    reputation: uint256
    kinds: uint256
    active: bool
    registered: bool
    metadata: bytes32


event ProviderRegistered:
    provider: indexed(address)
    kinds: uint256
    price: uint256
    stake: uint256
    metadata: bytes32

event ProviderUpdated:
    provider: indexed(address)
    kinds: uint256
    price: uint256
    metadata: bytes32

event StakeAdded:
    provider: indexed(address)
    amount: uint256
    stake: uint256

event UnbondStarted:
    provider: indexed(address)
    amount: uint256
    unlock_at: uint256

event StakeWithdrawn:
    provider: indexed(address)
    amount: uint256

event ProviderDeactivated:
    provider: indexed(address)
    stake: uint256

event Slashed:
    provider: indexed(address)
    market: indexed(address)
    amount: uint256

event ReputationChanged:
    provider: indexed(address)
    reputation: uint256

event MarketSet:
    market: indexed(address)
    allowed: bool

event ParamsChanged:
    min_stake: uint256
    unbond_delay: uint256


token: public(immutable(IERC20))
min_stake: public(uint256)
unbond_delay: public(uint256)
is_market: public(HashMap[address, bool])

_prov: HashMap[address, uint256]
_unbond: HashMap[address, uint256]          # amount(128) << 64 | unlock_at(64)
_meta: HashMap[address, bytes32]

# Fenwick trees over active stake, one per kind; key = kind << 32 | index (1-based)
_tree: HashMap[uint256, uint256]
_leaf: HashMap[uint256, uint256]
_member: HashMap[uint256, address]
_pool: HashMap[uint256, uint256]            # kind => members(32) | total active stake(224)
_index: HashMap[address, HashMap[uint256, uint256]]


@deploy
def __init__(token_: address, min_stake_: uint256, unbond_delay_: uint256):
    """
    @notice Creates the registry for stakes in `token_`.
    @param token_ The 20-byte ERC-20 staked.
    @param min_stake_ The 32-byte minimum stake to be drawn for jobs.
    @param unbond_delay_ Seconds between unbonding and withdrawal.
    """
    ownable.__init__()
    assert token_ != empty(address), "ProviderRegistry: zero address"
    token = IERC20(token_)
    self._set_stake_params(min_stake_, unbond_delay_)


# ===========================================================================
# owner
# ===========================================================================
@external
def set_market(market: address, allowed: bool):
    """
    @notice Lets `market` draw, reward, penalise and slash providers (owner only).
    @param market The 20-byte market contract.
    @param allowed True to authorise, false to revoke.
    """
    ownable._check_owner()
    assert market != empty(address), "ProviderRegistry: zero address"
    self.is_market[market] = allowed
    log MarketSet(market=market, allowed=allowed)


@external
def set_stake_params(min_stake_: uint256, unbond_delay_: uint256):
    """
    @notice Changes the minimum stake and the unbonding delay (owner only).
            A provider below a raised minimum leaves the draw at its next
            stake change.
    @param min_stake_ The 32-byte minimum stake.
    @param unbond_delay_ Seconds of unbonding (at most 90 days).
    """
    ownable._check_owner()
    self._set_stake_params(min_stake_, unbond_delay_)


@internal
def _set_stake_params(min_stake_: uint256, unbond_delay_: uint256):
    assert min_stake_ > 0 and min_stake_ <= constants.MASK96, "ProviderRegistry: bad min stake"
    assert unbond_delay_ <= 90 * 86400, "ProviderRegistry: unbond delay too long"
    self.min_stake = min_stake_
    self.unbond_delay = unbond_delay_
    log ParamsChanged(min_stake=min_stake_, unbond_delay=unbond_delay_)


# ===========================================================================
# providers
# ===========================================================================
@external
@nonreentrant
def register(kinds: uint256, price: uint256, stake: uint256, metadata: bytes32):
    """
    @notice Registers the caller as a provider with `stake` tokens
            (approved beforehand) serving the workload kinds in `kinds`.
    @param kinds A bitmap of workload kind ids (bit i = kind i, 0..15).
    @param price The lowest price per work unit the provider accepts.
    @param stake The 32-byte stake, at least `min_stake`.
    @param metadata The sha2-256 digest of the provider's manifest CID
           (endpoint, models served).
    """
    assert self._prov[msg.sender] == 0, "ProviderRegistry: already registered"
    self._validate_kinds_price(kinds, price)
    assert stake >= self.min_stake and stake <= constants.MASK96, "ProviderRegistry: stake below minimum"
    transfers._transfer_in(token, msg.sender, stake)
    self._prov[msg.sender] = self._pack(stake, price, REP_START, kinds, True)
    self._meta[msg.sender] = metadata
    for kind: uint256 in range(constants.MAX_KINDS):
        if kinds & (1 << kind) != 0:
            self._set_weight(msg.sender, kind, stake)
    log ProviderRegistered(provider=msg.sender, kinds=kinds, price=price, stake=stake, metadata=metadata)


@external
def update_provider(kinds: uint256, price: uint256, metadata: bytes32):
    """
    @notice Changes what the caller serves and its price; jobs already
            assigned are unaffected.
    @param kinds The new bitmap of workload kinds.
    @param price The new price per unit.
    @param metadata The new manifest digest.
    """
    p: uint256 = self._prov[msg.sender]
    assert p != 0, "ProviderRegistry: not a provider"
    self._validate_kinds_price(kinds, price)
    stake: uint256 = p & constants.MASK96
    active: bool = (p >> 224) & constants.MASK8 == 1
    old: uint256 = (p >> 208) & constants.MASK16
    self._prov[msg.sender] = self._pack(stake, price, (p >> 192) & constants.MASK16, kinds, active)
    self._meta[msg.sender] = metadata
    for kind: uint256 in range(constants.MAX_KINDS):
        bit: uint256 = 1 << kind
        if kinds & bit != 0 and active:
            self._set_weight(msg.sender, kind, stake)
        elif (old | kinds) & bit != 0:
            self._set_weight(msg.sender, kind, 0)
    log ProviderUpdated(provider=msg.sender, kinds=kinds, price=price, metadata=metadata)


@external
@nonreentrant
def add_stake(amount: uint256):
    """
    @notice Tops up the caller's stake; it rejoins the draw once at the minimum.
    @param amount The 32-byte amount (approved beforehand).
    """
    p: uint256 = self._prov[msg.sender]
    assert p != 0, "ProviderRegistry: not a provider"
    assert amount > 0, "ProviderRegistry: zero amount"
    stake: uint256 = (p & constants.MASK96) + amount
    assert stake <= constants.MASK96, "ProviderRegistry: stake too large"
    transfers._transfer_in(token, msg.sender, amount)
    self._restake(msg.sender, p, stake)
    log StakeAdded(provider=msg.sender, amount=amount, stake=stake)


@external
def unbond(amount: uint256):
    """
    @notice Starts unbonding `amount` of stake: it leaves the draw now,
            stays slashable for `unbond_delay` seconds, then can be
            withdrawn. A new unbond adds to the pending amount and
            restarts the delay.
    @param amount The 32-byte amount to unbond.
    """
    p: uint256 = self._prov[msg.sender]
    assert p != 0, "ProviderRegistry: not a provider"
    stake: uint256 = p & constants.MASK96
    assert amount > 0 and amount <= stake, "ProviderRegistry: bad unbond amount"
    self._restake(msg.sender, p, stake - amount)
    unlock_at: uint256 = block.timestamp + self.unbond_delay
    self._unbond[msg.sender] = ((self._unbond[msg.sender] >> 64) + amount) << 64 | unlock_at
    log UnbondStarted(provider=msg.sender, amount=amount, unlock_at=unlock_at)


@external
@nonreentrant
def withdraw_stake():
    """
    @notice Pays out the caller's unbonded stake once the delay is over.
    """
    u: uint256 = self._unbond[msg.sender]
    amount: uint256 = u >> 64
    assert amount > 0, "ProviderRegistry: nothing unbonding"
    assert block.timestamp >= u & constants.MASK64, "ProviderRegistry: still unbonding"
    self._unbond[msg.sender] = 0
    transfers._transfer_out(token, msg.sender, amount)
    log StakeWithdrawn(provider=msg.sender, amount=amount)


# ===========================================================================
# markets
# ===========================================================================
@external
def reward(who: address):
    """
    @notice A verified good outcome: reputation moves 1/32 of the way to
            the top (markets only). Nothing is written once saturated.
    @param who The provider.
    """
    assert self.is_market[msg.sender], "ProviderRegistry: markets only"
    p: uint256 = self._prov[who]
    step: uint256 = (constants.BPS - ((p >> 192) & constants.MASK16)) // 32
    if step == 0 or p == 0:
        return
    self._prov[who] = p + (step << 192)
    log ReputationChanged(provider=who, reputation=((p >> 192) & constants.MASK16) + step)


@external
def penalize(who: address):
    """
    @notice A missed deadline or an unproven disagreement: a tenth of the
            reputation (and so of future work), no stake (markets only).
    @param who The provider.
    """
    assert self.is_market[msg.sender], "ProviderRegistry: markets only"
    self._set_rep(who, 10)


@external
@nonreentrant
def slash(who: address, bps: uint256) -> uint256:
    """
    @notice Takes `bps` of `who`'s bonded and unbonding stake, sends it to
            the calling market and halves `who`'s reputation (markets
            only). A provider left below the minimum leaves the draw.
    @param who The provider.
    @param bps The share to slash, in basis points.
    @return The 32-byte amount slashed (sent to the caller).
    """
    assert self.is_market[msg.sender], "ProviderRegistry: markets only"
    assert bps <= constants.BPS, "ProviderRegistry: bad bps"
    p: uint256 = self._prov[who]
    if p == 0:
        return 0
    stake: uint256 = p & constants.MASK96
    u: uint256 = self._unbond[who]
    unb: uint256 = u >> 64
    amount: uint256 = (stake + unb) * bps // constants.BPS
    from_stake: uint256 = min(amount, stake)
    from_unb: uint256 = amount - from_stake
    if from_unb > 0:
        self._unbond[who] = (unb - from_unb) << 64 | (u & constants.MASK64)
    self._restake(who, p, stake - from_stake)
    self._set_rep(who, 2)
    if amount > 0:
        transfers._transfer_out(token, msg.sender, amount)
    log Slashed(provider=who, market=msg.sender, amount=amount)
    return amount


# ===========================================================================
# views
# ===========================================================================
@view
@external
def draw(
    kind: uint256, max_price: uint256, seed: uint256,
    excl_idx: DynArray[uint256, constants.MAX_EXCLUDE], excl_w: DynArray[uint256, constants.MAX_EXCLUDE],
) -> (address, uint256, uint256):
    """
    @notice A stake-weighted draw among the active providers of `kind`,
            outside the exclusion list, skipping those above `max_price`,
            accepted with probability reputation/10000.
    @param kind The workload kind id.
    @param max_price The highest acceptable price per unit.
    @param seed 32 bytes of randomness.
    @param excl_idx Tree indices to leave out (from earlier draws).
    @param excl_w Their weights, as returned by earlier draws.
    @return The provider (empty if nobody is available), its tree index
            and its weight, for the caller to exclude it later.
    """
    assert len(excl_idx) == len(excl_w), "ProviderRegistry: length mismatch"
    # room for the caller's exclusions plus one per attempt, so skipping providers above
    # the price never runs out of space before the attempts do
    idx_list: DynArray[uint256, MAX_SKIP] = excl_idx
    w_list: DynArray[uint256, MAX_SKIP] = excl_w
    pool: uint256 = self._pool[kind]
    n: uint256 = pool & constants.MASK32
    top: uint256 = 1
    for _: uint256 in range(64):
        if top * 2 > n:
            break
        top *= 2
    total: uint256 = pool >> 32
    fallback: uint256 = 0
    r: uint256 = seed
    for attempt: uint256 in range(MAX_ATTEMPTS):
        avail: uint256 = total
        for w: uint256 in w_list:
            avail -= w
        if avail == 0:
            break
        r = convert(keccak256(abi_encode(r, attempt)), uint256)
        target: uint256 = r % avail
        pos: uint256 = 0
        step: uint256 = top
        for _: uint256 in range(64):
            if step == 0:
                break
            nxt: uint256 = pos + step
            if nxt <= n:
                w: uint256 = self._tree[kind << 32 | nxt]
                for e: uint256 in range(MAX_SKIP):
                    if e >= len(idx_list):
                        break
                    if idx_list[e] > pos and idx_list[e] <= nxt:
                        w -= w_list[e]
                if w <= target:
                    pos = nxt
                    target -= w
            step //= 2
        idx: uint256 = pos + 1
        who: address = self._member[kind << 32 | idx]
        p: uint256 = self._prov[who]
        if (p >> 96) & constants.MASK96 > max_price:
            idx_list.append(idx)
            w_list.append(self._leaf[kind << 32 | idx])
            continue
        if (r >> 128) % constants.BPS < (p >> 192) & constants.MASK16:
            # a drawn provider's leaf weight is its stake (the tree holds active stake)
            return who, idx, p & constants.MASK96
        if fallback == 0:
            fallback = idx
    if fallback == 0:
        return empty(address), 0, 0
    return self._member[kind << 32 | fallback], fallback, self._leaf[kind << 32 | fallback]


@view
@external
def exclusion(kind: uint256, who: address) -> (uint256, uint256):
    """
    @notice `who`'s tree index and weight in `kind`, to exclude it from a draw.
    @param kind The workload kind id.
    @param who The provider.
    @return The index (0 if never listed) and the current weight.
    """
    idx: uint256 = self._index[who][kind]
    if idx == 0:
        return 0, 0
    return idx, self._leaf[kind << 32 | idx]


@view
@external
def provider(account: address) -> ProviderView:
    """
    @notice A provider's stake, price, reputation and status.
    @param account The provider's address.
    @return The provider's record.
    """
    p: uint256 = self._prov[account]
    u: uint256 = self._unbond[account]
    return ProviderView(
        stake=p & constants.MASK96, unbonding=u >> 64, unbond_at=u & constants.MASK64, price=(p >> 96) & constants.MASK96,
        reputation=(p >> 192) & constants.MASK16, kinds=(p >> 208) & constants.MASK16, active=(p >> 224) & constants.MASK8 == 1,
        registered=p != 0, metadata=self._meta[account],
    )


@view
@external
def kind_weight(kind: uint256) -> (uint256, uint256):
    """
    @notice The draw pool of a workload kind.
    @param kind The kind id.
    @return The number of providers ever listed and their total active stake.
    """
    pool: uint256 = self._pool[kind]
    return pool & constants.MASK32, pool >> 32


@view
@external
def member(kind: uint256, index: uint256) -> address:
    """
    @notice The provider at 1-based `index` in the pool of `kind`.
    @param kind The kind id.
    @param index The 1-based index.
    @return The provider (empty if none).
    """
    return self._member[kind << 32 | index]


@view
@external
def designated(kind: uint256, index: uint256, max_price: uint256) -> address:
    """
    @notice The provider at 1-based `index` in the pool of `kind` if it
            serves that kind now (active stake in the pool) at or below
            `max_price` per unit, else the zero address. A market calls it
            for a job only one provider can run (compute-to-data: the
            holder of the data), instead of a draw.
    @param kind The kind id.
    @param index The 1-based index (`member`).
    @param max_price The highest acceptable price per unit.
    @return The provider, or empty.
    """
    who: address = self._member[kind << 32 | index]
    if who == empty(address) or self._leaf[kind << 32 | index] == 0:
        return empty(address)
    if (self._prov[who] >> 96) & constants.MASK96 > max_price:
        return empty(address)
    return who


# ===========================================================================
# internals
# ===========================================================================
@internal
@pure
def _pack(stake: uint256, price: uint256, rep: uint256, kinds: uint256, active: bool) -> uint256:
    a: uint256 = 0
    if active:
        a = 1
    return stake | price << 96 | rep << 192 | kinds << 208 | a << 224 | 1 << 232


@internal
@pure
def _validate_kinds_price(kinds: uint256, price: uint256):
    assert kinds > 0 and kinds <= constants.MASK16, "ProviderRegistry: bad kinds bitmap"
    assert price > 0 and price <= constants.MASK96, "ProviderRegistry: bad price"


@internal
def _set_rep(who: address, divisor: uint256):
    """Lowers reputation by 1/divisor (2: halve, 10: a tenth), never below the floor."""
    p: uint256 = self._prov[who]
    if p == 0:
        return
    rep: uint256 = (p >> 192) & constants.MASK16
    new: uint256 = max(rep - rep // divisor, REP_FLOOR)
    if new != rep:
        self._prov[who] = (p & ~(constants.MASK16 << 192)) | new << 192
        log ReputationChanged(provider=who, reputation=new)


@internal
def _restake(who: address, p: uint256, stake: uint256):
    """Sets `who`'s stake; (de)activates at the minimum and updates the draw trees."""
    active: bool = stake >= self.min_stake
    kinds: uint256 = (p >> 208) & constants.MASK16
    self._prov[who] = self._pack(stake, (p >> 96) & constants.MASK96, (p >> 192) & constants.MASK16, kinds, active)
    w: uint256 = 0
    if active:
        w = stake
    for kind: uint256 in range(constants.MAX_KINDS):
        if kinds & (1 << kind) != 0:
            self._set_weight(who, kind, w)
    if (p >> 224) & constants.MASK8 == 1 and not active:
        log ProviderDeactivated(provider=who, stake=stake)


@internal
@pure
def _lowbit(i: uint256) -> uint256:
    return i & (~i + 1)


@internal
@view
def _prefix(kind: uint256, i: uint256) -> uint256:
    s: uint256 = 0
    j: uint256 = i
    for _: uint256 in range(64):
        if j == 0:
            break
        s += self._tree[kind << 32 | j]
        j -= self._lowbit(j)
    return s


@internal
def _set_weight(who: address, kind: uint256, w: uint256):
    idx: uint256 = self._index[who][kind]
    pool: uint256 = self._pool[kind]
    n: uint256 = pool & constants.MASK32
    if idx == 0:
        if w == 0:
            return
        idx = n + 1
        self._index[who][kind] = idx
        self._member[kind << 32 | idx] = who
        # a new last node covers (idx - lowbit(idx), idx]: the leaves before it plus its own
        self._tree[kind << 32 | idx] = self._prefix(kind, idx - 1) - self._prefix(kind, idx - self._lowbit(idx)) + w
        self._leaf[kind << 32 | idx] = w
        self._pool[kind] = ((pool >> 32) + w) << 32 | idx
        return
    old: uint256 = self._leaf[kind << 32 | idx]
    if old == w:
        return
    self._leaf[kind << 32 | idx] = w
    self._pool[kind] = ((pool >> 32) + w - old) << 32 | n
    j: uint256 = idx
    for _: uint256 in range(64):
        if j > n:
            break
        self._tree[kind << 32 | j] = self._tree[kind << 32 | j] + w - old
        j += self._lowbit(j)

