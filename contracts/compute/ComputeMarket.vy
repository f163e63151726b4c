# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora compute market
@custom:contract-name ComputeMarket
@license AGPL-3.0-only
@notice Requesters post AI jobs with the payment escrowed; the contract
        assigns providers from the `ProviderRegistry` (stake-weighted,
        reputation-gated), collects commit-reveal results, verifies them
        by a policy (`NONE`, `AUDIT(p)`, `REPLICATE(k)`), pays honest
        providers, has cheaters slashed and moves reputation. The AI
        itself runs off-chain; the chain holds escrow, 32-byte
        commitments and digests.
@dev Money: token balance = sum of open escrows + sum(owed). Escrow is
     the worst case (`pay` x executions: 1 for NONE, 3 for AUDIT —
     worker, auditor, tie-breaker —, k for REPLICATE); settlement pays
     by pull into `owed` and refunds the unused rest.
     Gas is a first-class cost, so job state is packed by hand into two
     uint256 words (Vyper gives every value its own slot):
       word A: requester(160) | pay(80) | kind(4) | policy(4) | agreed(4)
     `agreed` is 1 + the slot whose digest is the job's agreed result, 0
     while there is none (the digest stays in `_commit`, no extra slot).
       word B: provider0(160) | deadline(32) | mark(32) | state(4) |
               replacements(4) | param(16) | revealed bitmap(8)
     `mark` holds, by state: the commit-by time (ASSIGNED, AUDIT_COMMIT,
     TIE_COMMIT), the commit block (COMMITTED, for the audit draw), the
     reveal-by time (REVEALING, AUDIT_REVEAL, TIE_REVEAL).
     Assignment 0 lives in word B; assignments 1.. in `_extra`.
     A job may be a batch of `items` inputs: its result digest is then
     the Merkle root of the item digests (see `verify_item`), so one
     record carries any number of jobs.
@custom:security Randomness comes from `block.prevrandao`, the previous
     block hash and the job id. A requester can choose when to post (and
     so grind over blocks) and a block producer can withhold a block:
     both can bias WHICH provider serves a job, but neither lets a
     provider choose a job, and the requester pays either way. The audit
     draw uses the hash of the block that holds the provider's commit,
     which the provider cannot know when it signs; only a provider that
     also produces that block can predict it (see docs/compute.md).
"""


# @dev Only the owner may change parameters and the treasury.
from snekmate.auth import ownable
initializes: ownable

# @dev Expose owner(), transfer_ownership(), renounce_ownership().
exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)


from ethereum.ercs import IERC20

# @dev EIP-2612 `permit`, for `deposit_with_permit` (snekmate's interface).
from snekmate.tokens.interfaces import IERC20Permit

# @dev BPS, the masks of the packed words, MAX_KINDS and MAX_EXCLUDE
# (constants only: no state, nothing to initialise).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev The registry's draw and scoring, as `ProviderRegistry` implements them.
from ..common import IProviderRegistry


interface IZkChecker:
    def proven(job_id: uint256) -> bytes32: view


# --- policies and states ------------------------------------------------
POLICY_NONE: public(constant(uint256)) = 0
POLICY_AUDIT: public(constant(uint256)) = 1
POLICY_REPLICATE: public(constant(uint256)) = 2
# compute-to-data: one named provider (the holder of the data, by its index
# in the kind's pool, in `param`), verified by nobody else (nobody else has
# the data); it may `decline` before committing (a full refund)
POLICY_DIRECT: public(constant(uint256)) = 3
# zero-knowledge: one drawn provider whose reveal must be the digest that
# `zk_checker` recorded for the job after verifying a proof of the model
# (`param`: its id in the model registry) on the job's input
POLICY_ZK: public(constant(uint256)) = 4

ST_NONE: constant(uint256) = 0
ST_ASSIGNED: constant(uint256) = 1      # waiting for commits
ST_COMMITTED: constant(uint256) = 2     # AUDIT/NONE: commit in, reveal open
ST_REVEALING: constant(uint256) = 3     # REPLICATE: reveals open
ST_AUDIT_COMMIT: constant(uint256) = 4  # AUDIT: auditor must commit
ST_AUDIT_REVEAL: constant(uint256) = 5  # AUDIT: provider and auditor reveal
ST_TIE_COMMIT: constant(uint256) = 6    # AUDIT: tie-breaker must commit
ST_TIE_REVEAL: constant(uint256) = 7    # AUDIT: tie-breaker reveals
ST_SETTLED: constant(uint256) = 8
ST_REFUNDED: constant(uint256) = 9

MAX_K: constant(uint256) = 7
MAX_BATCH: constant(uint256) = 128
MAX_PROOF: constant(uint256) = 32


struct Job:
    requester: address
    pay: uint256
    kind: uint256
    policy: uint256
    provider: address
    deadline: uint256
    mark: uint256
    state: uint256
    replacements: uint256
    param: uint256
    revealed: uint256


struct JobSpec:
    kind: uint256
    model: bytes32          # sha2-256 digest of the model's CIDv1
    input: bytes32          # sha2-256 digest of the input's CIDv1
    units: uint256          # work units (for a batch: all items together)
    items: uint256          # 1 for a single job, n for a batch
    price_per_unit: uint256
    policy: uint256
    param: uint256          # AUDIT: p in basis points; REPLICATE: k
    duration: uint256       # seconds until the job's deadline


struct JobView:
    requester: address
    pay: uint256
    kind: uint256
    policy: uint256
    param: uint256
    state: uint256
    deadline: uint256
    mark: uint256
    replacements: uint256
    escrow: uint256
    providers: DynArray[address, MAX_K]
    result: bytes32


# --- events ---------------------------------------------------------------
event JobPosted:
    job_id: indexed(uint256)
    requester: indexed(address)
    kind: uint256
    policy: uint256
    param: uint256
    model: bytes32
    input: bytes32
    units: uint256
    items: uint256
    pay: uint256
    deadline: uint256

event Assigned:
    job_id: indexed(uint256)
    provider: indexed(address)
    slot: uint256
    role: uint256           # 0 worker, 1 auditor, 2 tie-breaker
    commit_by: uint256

event Committed:
    job_id: indexed(uint256)
    provider: indexed(address)
    commitment: bytes32

event Revealed:
    job_id: indexed(uint256)
    provider: indexed(address)
    digest: bytes32
    result: bytes32

event AuditOpened:
    job_id: indexed(uint256)
    auditor: indexed(address)

event Replaced:
    job_id: indexed(uint256)
    provider: indexed(address)
    slot: uint256

event Settled:
    job_id: indexed(uint256)
    digest: bytes32
    paid: uint256
    refund: uint256
    fee: uint256

event Refunded:
    job_id: indexed(uint256)
    amount: uint256

event Slashed:
    provider: indexed(address)
    job_id: indexed(uint256)
    amount: uint256
    to_harmed: uint256

event Deposited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event ParamsChanged:
    min_fee: uint256
    fee_bps: uint256
    slash_bps: uint256
    harmed_bps: uint256
    commit_window: uint256
    reveal_window: uint256
    max_replacements: uint256


# --- storage ---------------------------------------------------------------
token: public(immutable(IERC20))
registry: public(immutable(IProviderRegistry))
# Parameters, packed so that a job's hot path reads one word each:
#   _p1: treasury(160) | fee_bps(16) | slash_bps(16) | harmed_bps(16) | max_replacements(8)
#   _p2: min_fee(128) | commit_window(32) | reveal_window(32)
_p1: uint256
_p2: uint256
#: The contract that verifies zero-knowledge proofs of ZK jobs (set once by the owner).
zk_checker: public(address)
# job_count(64) | protocol fees accrued for the treasury(192): posting a job writes this
# word anyway, so charging its fee costs no extra storage write
_counter: uint256
_owed: HashMap[address, uint256]   # pull balances: payments, refunds, deposits, slash shares

_job_a: HashMap[uint256, uint256]
_job_b: HashMap[uint256, uint256]
_extra: HashMap[uint256, HashMap[uint256, address]]    # job => slot (1..) => provider
_commit: HashMap[uint256, HashMap[uint256, bytes32]]   # job => slot => commitment, then digest


@deploy
def __init__(
    token_: address,
    registry_: address,
    treasury_: address,
    min_fee_: uint256,
    fee_bps_: uint256,
    slash_bps_: uint256,
    harmed_bps_: uint256,
    commit_window_: uint256,
    reveal_window_: uint256,
):
    """
    @notice Creates the market for payments in `token_`, drawing providers
            from `registry_` (which must authorise it with `set_market`).
    @param token_ The 20-byte ERC-20 used for payment (the registry's stake token).
    @param registry_ The 20-byte ProviderRegistry.
    @param treasury_ The 20-byte address that receives fees and slashes.
    @param min_fee_ The 32-byte flat fee per posted job or batch.
    @param fee_bps_ The protocol fee on payments, in basis points.
    @param slash_bps_ The share of stake slashed per offence, in basis points.
    @param harmed_bps_ The share of a slash paid to the harmed requester.
    @param commit_window_ Seconds a provider has to commit.
    @param reveal_window_ Seconds to reveal once reveals open.
    """
    ownable.__init__()
    assert token_ != empty(address) and treasury_ != empty(address) and registry_ != empty(address), "ComputeMarket: zero address"
    token = IERC20(token_)
    registry = IProviderRegistry(registry_)
    self._p1 = convert(treasury_, uint256)
    self._set_params(min_fee_, fee_bps_, slash_bps_, harmed_bps_, commit_window_, reveal_window_, 2)


# ===========================================================================
# owner
# ===========================================================================
@external
def set_zk_checker(checker: address):
    """
    @notice Names the ZK policy's proof checker (once; owner only).
    @param checker The 20-byte `ZkChecker`.
    """
    ownable._check_owner()
    assert self.zk_checker == empty(address) and checker != empty(address), "ComputeMarket: checker set"
    self.zk_checker = checker


@external
def set_params(
    min_fee_: uint256,
    fee_bps_: uint256,
    slash_bps_: uint256,
    harmed_bps_: uint256,
    commit_window_: uint256,
    reveal_window_: uint256,
    max_replacements_: uint256,
):
    """
    @notice Changes the market's parameters (owner only). Running jobs keep
            the payment they escrowed; new windows apply to new phases.
    @param min_fee_ The 32-byte flat fee per job.
    @param fee_bps_ Protocol fee in basis points (at most 2,000).
    @param slash_bps_ Slash share in basis points (at most 10,000).
    @param harmed_bps_ Share of a slash to the harmed requester.
    @param commit_window_ Seconds to commit (1 s to 30 days).
    @param reveal_window_ Seconds to reveal (1 s to 30 days).
    @param max_replacements_ Replacements per job before a refund (at most 15).
    """
    ownable._check_owner()
    self._set_params(min_fee_, fee_bps_, slash_bps_, harmed_bps_, commit_window_, reveal_window_, max_replacements_)


@external
def set_treasury(treasury_: address):
    """
    @notice Moves the treasury (owner only). Fees accrued so far are
            credited to the old one.
    @param treasury_ The 20-byte new treasury.
    """
    ownable._check_owner()
    assert treasury_ != empty(address), "ComputeMarket: zero address"
    c: uint256 = self._counter
    self._owed[self._treasury()] += c >> 64
    self._counter = c & constants.MASK64
    self._p1 = (self._p1 & ~constants.MASK160) | convert(treasury_, uint256)


@internal
def _set_params(
    min_fee_: uint256, fee_bps_: uint256, slash_bps_: uint256, harmed_bps_: uint256,
    commit_window_: uint256, reveal_window_: uint256, max_replacements_: uint256,
):
    assert fee_bps_ <= 2_000 and slash_bps_ <= constants.BPS and harmed_bps_ <= constants.BPS, "ComputeMarket: bad bps"
    assert commit_window_ > 0 and reveal_window_ > 0, "ComputeMarket: zero window"
    assert commit_window_ <= 30 * 86400 and reveal_window_ <= 30 * 86400, "ComputeMarket: window too long"
    assert max_replacements_ <= 15, "ComputeMarket: too many replacements"
    assert min_fee_ <= constants.MASK128, "ComputeMarket: fee too large"
    self._p1 = (self._p1 & constants.MASK160) | fee_bps_ << 160 | slash_bps_ << 176 | harmed_bps_ << 192 | max_replacements_ << 208
    self._p2 = min_fee_ | commit_window_ << 128 | reveal_window_ << 160
    log ParamsChanged(
        min_fee=min_fee_, fee_bps=fee_bps_, slash_bps=slash_bps_, harmed_bps=harmed_bps_,
        commit_window=commit_window_, reveal_window=reveal_window_, max_replacements=max_replacements_,
    )


# ===========================================================================
# parameters and balances
# ===========================================================================
@view
@external
def treasury() -> address:
    """
    @notice The address that receives protocol fees and the treasury's share of slashes.
    @return The 20-byte treasury.
    """
    return self._treasury()


@view
@external
def min_fee() -> uint256:
    """
    @notice The flat fee per posted job or batch (anti-spam).
    @return The 32-byte fee.
    """
    return self._p2 & constants.MASK128


@view
@external
def fee_bps() -> uint256:
    """
    @notice The protocol fee on every payment, in basis points.
    @return The fee rate.
    """
    return (self._p1 >> 160) & constants.MASK16


@view
@external
def slash_bps() -> uint256:
    """
    @notice The share of stake slashed for a wrong or missing result.
    @return The rate in basis points.
    """
    return (self._p1 >> 176) & constants.MASK16


@view
@external
def harmed_bps() -> uint256:
    """
    @notice The share of a slash paid to the harmed requester.
    @return The rate in basis points.
    """
    return (self._p1 >> 192) & constants.MASK16


@view
@external
def max_replacements() -> uint256:
    """
    @notice Replacements per job before it is refunded.
    @return The limit.
    """
    return (self._p1 >> 208) & constants.MASK8


@view
@external
def commit_window() -> uint256:
    """
    @notice Seconds a provider has to commit.
    @return The window.
    """
    return self._commit_window()


@view
@external
def reveal_window() -> uint256:
    """
    @notice Seconds to reveal once reveals open.
    @return The window.
    """
    return self._reveal_window()


@view
@external
def job_count() -> uint256:
    """
    @notice How many jobs were ever posted (ids run from 1).
    @return The count.
    """
    return self._counter & constants.MASK64


@view
@external
def owed(account: address) -> uint256:
    """
    @notice What the market owes `account` (withdrawable): payments,
            refunds, deposits, slash shares, and for the treasury the
            fees accrued.
    @param account The 20-byte account.
    @return The 32-byte amount.
    """
    amount: uint256 = self._owed[account]
    if account == self._treasury():
        amount += self._counter >> 64
    return amount


@internal
@view
def _treasury() -> address:
    return convert(convert(self._p1 & constants.MASK160, uint160), address)


@internal
@view
def _commit_window() -> uint256:
    return (self._p2 >> 128) & constants.MASK32


@internal
@view
def _reveal_window() -> uint256:
    return (self._p2 >> 160) & constants.MASK32


@internal
def _accrue(fees: uint256):
    """Credits protocol fees to the treasury (in the job-count word)."""
    self._counter += fees << 64


# ===========================================================================
# requesters
# ===========================================================================
@external
@nonreentrant
def deposit(amount: uint256):
    """
    @notice Adds `amount` (approved beforehand) to the caller's balance in
            the market; `post` draws from it before pulling tokens.
    @param amount The 32-byte amount.
    """
    assert amount > 0, "ComputeMarket: zero amount"
    transfers._transfer_in(token, msg.sender, amount)
    self._owed[msg.sender] += amount
    log Deposited(account=msg.sender, amount=amount)


@external
@nonreentrant
def deposit_with_permit(amount: uint256, deadline: uint256, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Like `deposit`, with an EIP-2612 permit instead of an approval.
    @param amount The 32-byte amount.
    @param deadline The permit's 32-byte deadline.
    @param v The signature's recovery id.
    @param r The signature's r.
    @param s The signature's s.
    """
    assert amount > 0, "ComputeMarket: zero amount"
    extcall IERC20Permit(token.address).permit(msg.sender, self, amount, deadline, v, r, s)
    transfers._transfer_in(token, msg.sender, amount)
    self._owed[msg.sender] += amount
    log Deposited(account=msg.sender, amount=amount)


@external
@nonreentrant
def withdraw():
    """
    @notice Pays out everything the market owes the caller (payments,
            refunds, unspent deposits, slash shares).
    """
    amount: uint256 = self._owed[msg.sender]
    self._owed[msg.sender] = 0
    if msg.sender == self._treasury():
        c: uint256 = self._counter
        amount += c >> 64
        self._counter = c & constants.MASK64
    assert amount > 0, "ComputeMarket: nothing owed"
    transfers._transfer_out(token, msg.sender, amount)
    log Withdrawn(account=msg.sender, amount=amount)


@external
@nonreentrant
def post(spec: JobSpec) -> uint256:
    """
    @notice Posts a job (or a batch of `spec.items` jobs under one record),
            escrows its worst-case cost and assigns providers.
    @dev The cost is drawn from the caller's market balance if it covers
         it, else pulled with `transferFrom` (approve or permit first).
    @param spec What to run, how to verify it and the price offered.
    @return The 32-byte job id.
    """
    c: uint256 = self._counter
    job_id: uint256 = (c & constants.MASK64) + 1
    p2: uint256 = self._p2
    cost: uint256 = self._open(job_id, spec, (p2 >> 128) & constants.MASK32)
    fee: uint256 = p2 & constants.MASK128
    self._counter = (c + 1) + (fee << 64)
    self._charge(msg.sender, cost + fee)
    return job_id


@external
@nonreentrant
def post_many(specs: DynArray[JobSpec, MAX_BATCH]) -> uint256:
    """
    @notice Posts several jobs in one transaction; one escrow charge.
    @param specs The jobs.
    @return The id of the first job; the others follow consecutively.
    """
    assert len(specs) > 0, "ComputeMarket: no jobs"
    c: uint256 = self._counter
    first: uint256 = (c & constants.MASK64) + 1
    p2: uint256 = self._p2
    cost: uint256 = 0
    for i: uint256 in range(len(specs), bound=MAX_BATCH):
        cost += self._open(first + i, specs[i], (p2 >> 128) & constants.MASK32)
    fee: uint256 = p2 & constants.MASK128
    self._counter = (c + len(specs)) + ((fee * len(specs)) << 64)
    self._charge(msg.sender, cost + fee * len(specs))
    return first


# ===========================================================================
# results: commit, reveal, audits
# ===========================================================================
@external
def commit(job_id: uint256, commitment: bytes32):
    """
    @notice Commits to a result without showing it:
            `commitment = keccak256(abi_encode(job_id, provider, digest, salt))`.
    @param job_id The 32-byte job id.
    @param commitment The 32-byte commitment.
    """
    self._commit_one(job_id, commitment)


@external
def commit_many(job_ids: DynArray[uint256, MAX_BATCH], commitments: DynArray[bytes32, MAX_BATCH]):
    """
    @notice Commits to many jobs in one transaction.
    @param job_ids The job ids.
    @param commitments One commitment per job.
    """
    assert len(job_ids) == len(commitments), "ComputeMarket: length mismatch"
    for i: uint256 in range(len(job_ids), bound=MAX_BATCH):
        self._commit_one(job_ids[i], commitments[i])


@external
def reveal(job_id: uint256, digest: bytes32, result: bytes32, salt: bytes32):
    """
    @notice Reveals a committed result. Under AUDIT, a job that was not
            drawn for audit settles in this call; one that was must first
            have its auditor committed (`open_audit`).
    @param job_id The 32-byte job id.
    @param digest The result digest (a Merkle root for a batch).
    @param result The sha2-256 digest of the result blob's CIDv1.
    @param salt The 32-byte salt used in the commitment.
    """
    self._reveal_one(job_id, digest, result, salt)


@external
def reveal_many(
    job_ids: DynArray[uint256, MAX_BATCH],
    digests: DynArray[bytes32, MAX_BATCH],
    results: DynArray[bytes32, MAX_BATCH],
    salts: DynArray[bytes32, MAX_BATCH],
):
    """
    @notice Reveals (and where possible settles) many jobs in one transaction.
    @param job_ids The job ids.
    @param digests One digest per job.
    @param results One result CID digest per job.
    @param salts One salt per job.
    """
    n: uint256 = len(job_ids)
    assert len(digests) == n and len(results) == n and len(salts) == n, "ComputeMarket: length mismatch"
    for i: uint256 in range(n, bound=MAX_BATCH):
        self._reveal_one(job_ids[i], digests[i], results[i], salts[i])


@external
def open_audit(job_id: uint256):
    """
    @notice Starts the audit of a job whose commit was drawn for audit:
            assigns an auditor, who must commit before the provider may
            reveal. Anyone may call it.
    @param job_id The 32-byte job id.
    """
    j: Job = self._load(job_id)
    assert j.state == ST_COMMITTED and j.policy == POLICY_AUDIT, "ComputeMarket: not awaiting audit"
    assert self._audit_drawn(job_id, j), "ComputeMarket: not drawn for audit"
    auditor: address = self._draw_excluding(j, job_id, 1)
    if auditor == empty(address):
        # nobody else can audit: the job goes on unaudited
        j.state = ST_COMMITTED
        j.param = 0
        j.deadline = max(j.deadline, block.timestamp + self._reveal_window())
        self._store(job_id, j)
        return
    self._extra[job_id][1] = auditor
    j.state = ST_AUDIT_COMMIT
    j.mark = block.timestamp + self._commit_window()
    self._store(job_id, j)
    log AuditOpened(job_id=job_id, auditor=auditor)
    log Assigned(job_id=job_id, provider=auditor, slot=1, role=1, commit_by=j.mark)


@external
def decline(job_id: uint256):
    """
    @notice The provider of a `DIRECT` job hands it back before committing
            (it will not or cannot run it: the algorithm is not allowed,
            the dataset's privacy budget would be exceeded, the algorithm
            crashed): the requester's escrow is refunded in full and the
            provider is not penalised.
    @param job_id The 32-byte job id.
    """
    j: Job = self._load(job_id)
    assert j.state == ST_ASSIGNED and j.policy == POLICY_DIRECT, "ComputeMarket: cannot decline"
    assert msg.sender == j.provider, "ComputeMarket: not assigned to this job"
    self._close_refund(job_id, j)


@external
def timeout(job_id: uint256):
    """
    @notice Moves a job whose current phase is past its time: replaces
            providers that did not commit (reputation penalty), or refunds
            after `max_replacements`; settles a reveal phase with the
            reveals that came in, slashing whoever committed and did not
            reveal. Anyone may call it.
    @param job_id The 32-byte job id.
    """
    j: Job = self._load(job_id)
    st: uint256 = j.state
    assert st != ST_NONE, "ComputeMarket: no such job"
    assert st < ST_SETTLED, "ComputeMarket: job is closed"
    if st == ST_COMMITTED:
        # committed but never revealed by the deadline
        assert block.timestamp > j.deadline, "ComputeMarket: not timed out"
        self._slash(j.provider, job_id, j.requester)
        self._close_refund(job_id, j)
        return
    assert block.timestamp > j.mark, "ComputeMarket: not timed out"
    if st == ST_ASSIGNED:
        self._timeout_commits(job_id, j)
    elif st == ST_REVEALING:
        self._settle_replicate(job_id, j)
    elif st == ST_AUDIT_COMMIT or st == ST_TIE_COMMIT:
        slot: uint256 = 1 if st == ST_AUDIT_COMMIT else 2
        staller: address = self._extra[job_id][slot]
        self._penalize_stall(staller)
        log Replaced(job_id=job_id, provider=staller, slot=slot)
        repl: address = empty(address)
        if j.replacements < ((self._p1 >> 208) & constants.MASK8):
            repl = self._draw_excluding(j, job_id, slot)
        if repl == empty(address):
            if st == ST_AUDIT_COMMIT:
                # no auditor available: the provider reveals unaudited, with time to do it
                # even if the stalled auditors used up its deadline
                self._extra[job_id][1] = empty(address)
                j.state = ST_COMMITTED
                j.param = 0
                j.mark = block.number - 1
                j.deadline = max(j.deadline, block.timestamp + self._reveal_window())
                self._store(job_id, j)
            else:
                self._settle_audit(job_id, j, PHASE_NO_TIE)
            return
        j.replacements += 1
        self._extra[job_id][slot] = repl
        j.mark = block.timestamp + self._commit_window()
        self._store(job_id, j)
        log Assigned(job_id=job_id, provider=repl, slot=slot, role=slot, commit_by=j.mark)
    else:
        # AUDIT_REVEAL or TIE_REVEAL past its time: settle with what was revealed
        phase: uint256 = PHASE_AUDIT
        if st == ST_TIE_REVEAL:
            phase = PHASE_TIE
        self._settle_audit(job_id, j, phase)


# ===========================================================================
# views
# ===========================================================================
@view
@external
def commitment_of(job_id: uint256, provider: address, digest: bytes32, salt: bytes32) -> bytes32:
    """
    @notice The commitment a provider sends for `digest`.
    @param job_id The job id.
    @param provider The provider's address.
    @param digest The result digest.
    @param salt The provider's secret salt.
    @return keccak256(abi_encode(job_id, provider, digest, salt)).
    """
    return keccak256(abi_encode(job_id, provider, digest, salt))


@view
@external
def is_audited(job_id: uint256) -> bool:
    """
    @notice Whether a committed AUDIT job was drawn for audit (false
            before the commit is one block old).
    @param job_id The job id.
    @return True if an auditor must re-execute it.
    """
    j: Job = self._load(job_id)
    if j.state != ST_COMMITTED or j.policy != POLICY_AUDIT or block.number <= j.mark:
        return False
    return self._audit_drawn(job_id, j)


@view
@external
def job(job_id: uint256) -> JobView:
    """
    @notice Everything the chain knows about a job.
    @param job_id The job id.
    @return The job's requester, price, policy, state, times, escrow,
            assigned providers and agreed result digest.
    """
    j: Job = self._load(job_id)
    provs: DynArray[address, MAX_K] = []
    n: uint256 = self._slots(job_id, j)
    for i: uint256 in range(n, bound=MAX_K):
        provs.append(self._assignee(job_id, j, i))
    esc: uint256 = 0
    if j.state != ST_NONE and j.state < ST_SETTLED:
        esc = j.pay * self._max_execs(j.policy, j.param)
    return JobView(
        requester=j.requester, pay=j.pay, kind=j.kind, policy=j.policy, param=j.param, state=j.state,
        deadline=j.deadline, mark=j.mark, replacements=j.replacements, escrow=esc, providers=provs,
        result=self._agreed(job_id),
    )


@view
@external
def assignment(job_id: uint256, slot: uint256) -> (address, bytes32, bool):
    """
    @notice One assignment of a job.
    @param job_id The job id.
    @param slot The slot (0 = worker, then replicas / auditor / tie-breaker).
    @return The provider, its commitment (or digest once revealed), and
            whether it has revealed.
    """
    j: Job = self._load(job_id)
    return self._assignee(job_id, j, slot), self._commit[job_id][slot], (j.revealed >> slot) & 1 == 1


@view
@external
def verify_item(job_id: uint256, index: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    """
    @notice Checks that item `index` of a settled batch had digest `leaf`.
    @dev Leaves are keccak256(0x00 ++ abi_encode(index, item digest)), 65
         bytes, so no inner node (keccak256 of 64 bytes: left ++ right)
         can pose as a leaf; an odd node is paired with 32 zero bytes.
    @param job_id The job id.
    @param index The item's position in the batch.
    @param leaf The item's result digest.
    @param proof The sibling hashes from the leaf up.
    @return True if the proof leads to the job's agreed root.
    """
    root: bytes32 = self._agreed(job_id)
    if root == empty(bytes32):
        return False
    node: bytes32 = keccak256(concat(b"\x00", abi_encode(index, leaf)))
    idx: uint256 = index
    for sib: bytes32 in proof:
        if idx & 1 == 0:
            node = keccak256(concat(node, sib))
        else:
            node = keccak256(concat(sib, node))
        idx >>= 1
    return node == root


# ===========================================================================
# internals: jobs
# ===========================================================================
@internal
@view
def _load(job_id: uint256) -> Job:
    a: uint256 = self._job_a[job_id]
    b: uint256 = self._job_b[job_id]
    return Job(
        requester=convert(convert(a & constants.MASK160, uint160), address),
        pay=(a >> 160) & constants.MASK80,
        kind=(a >> 240) & 15,
        policy=(a >> 244) & 15,
        provider=convert(convert(b & constants.MASK160, uint160), address),
        deadline=(b >> 160) & constants.MASK32,
        mark=(b >> 192) & constants.MASK32,
        state=(b >> 224) & 15,
        replacements=(b >> 228) & 15,
        param=(b >> 232) & constants.MASK16,
        revealed=b >> 248,
    )


@internal
@view
def _agreed(job_id: uint256) -> bytes32:
    """The job's agreed result digest (empty while there is none)."""
    slot: uint256 = (self._job_a[job_id] >> 248) & 15
    if slot == 0:
        return empty(bytes32)
    return self._commit[job_id][slot - 1]


@internal
def _store(job_id: uint256, j: Job):
    self._job_b[job_id] = (
        convert(j.provider, uint256) | j.deadline << 160 | j.mark << 192 | j.state << 224
        | j.replacements << 228 | j.param << 232 | j.revealed << 248
    )


@internal
def _open(job_id: uint256, spec: JobSpec, commit_window: uint256) -> uint256:
    assert spec.kind < constants.MAX_KINDS, "ComputeMarket: unknown kind"
    assert spec.items > 0 and spec.units >= spec.items, "ComputeMarket: bad units"
    assert spec.duration > commit_window and spec.duration <= 365 * 86400, "ComputeMarket: bad duration"
    pay: uint256 = spec.units * spec.price_per_unit
    assert pay > 0 and pay <= constants.MASK80, "ComputeMarket: bad price"
    policy: uint256 = spec.policy
    k: uint256 = 1
    if policy == POLICY_AUDIT:
        assert spec.param <= constants.BPS, "ComputeMarket: audit rate above 100%"
    elif policy == POLICY_REPLICATE:
        assert spec.param >= 2 and spec.param <= MAX_K, "ComputeMarket: replicas must be 2..7"
        k = spec.param
    elif policy == POLICY_DIRECT:
        assert spec.param != 0 and spec.param <= constants.MASK16, "ComputeMarket: bad provider index"
    elif policy == POLICY_ZK:
        assert spec.param != 0 and self.zk_checker != empty(address), "ComputeMarket: no ZK model"
    else:
        assert policy == POLICY_NONE, "ComputeMarket: unknown policy"
        assert spec.param == 0, "ComputeMarket: NONE takes no parameter"
    j: Job = empty(Job)
    j.requester = msg.sender
    j.pay = pay
    j.kind = spec.kind
    j.policy = policy
    j.deadline = block.timestamp + spec.duration
    j.mark = block.timestamp + commit_window
    j.state = ST_ASSIGNED
    j.param = spec.param
    self._job_a[job_id] = convert(msg.sender, uint256) | pay << 160 | spec.kind << 240 | policy << 244
    # draw k distinct providers willing to work at this price
    excl_idx: DynArray[uint256, constants.MAX_EXCLUDE] = []
    excl_w: DynArray[uint256, constants.MAX_EXCLUDE] = []
    seed: uint256 = self._seed(job_id, 0)
    for i: uint256 in range(k, bound=MAX_K):
        who: address = empty(address)
        idx: uint256 = 0
        w: uint256 = 0
        if policy == POLICY_DIRECT:
            who = staticcall registry.designated(spec.kind, spec.param, spec.price_per_unit)
        else:
            who, idx, w = staticcall registry.draw(spec.kind, spec.price_per_unit, seed + i, excl_idx, excl_w)
        assert who != empty(address), "ComputeMarket: no eligible provider"
        excl_idx.append(idx)
        excl_w.append(w)
        if i == 0:
            j.provider = who
        else:
            self._extra[job_id][i] = who
        log Assigned(job_id=job_id, provider=who, slot=i, role=0, commit_by=j.mark)
    self._store(job_id, j)
    log JobPosted(
        job_id=job_id, requester=msg.sender, kind=spec.kind, policy=policy, param=spec.param, model=spec.model,
        input=spec.input, units=spec.units, items=spec.items, pay=pay, deadline=j.deadline,
    )
    return pay * self._max_execs(policy, spec.param)


@internal
def _charge(payer: address, total: uint256):
    """Draws `total` from the payer's market balance, or pulls it with transferFrom."""
    bal: uint256 = self._owed[payer]
    if bal >= total:
        self._owed[payer] = bal - total
    else:
        transfers._transfer_in(token, payer, total)


@internal
@pure
def _max_execs(policy: uint256, param: uint256) -> uint256:
    if policy == POLICY_REPLICATE:
        return param
    if policy == POLICY_AUDIT:
        return 3   # worker, auditor, tie-breaker: the unused part is refunded
    return 1


@internal
@view
def _slots(job_id: uint256, j: Job) -> uint256:
    """How many assignment slots the job uses (worker, replicas, auditor, tie-breaker)."""
    if j.state == ST_NONE:
        return 0
    if j.policy == POLICY_REPLICATE:
        return j.param
    if j.policy == POLICY_AUDIT:
        st: uint256 = j.state
        if st == ST_TIE_COMMIT or st == ST_TIE_REVEAL:
            return 3
        if st == ST_AUDIT_COMMIT or st == ST_AUDIT_REVEAL:
            return 2
        if st >= ST_SETTLED:
            # closed: as many as took part (read only by views)
            if self._extra[job_id][2] != empty(address):
                return 3
            if self._extra[job_id][1] != empty(address):
                return 2
    return 1


@internal
@view
def _assignee(job_id: uint256, j: Job, slot: uint256) -> address:
    if slot == 0:
        return j.provider
    return self._extra[job_id][slot]


@internal
@view
def _slot_of(job_id: uint256, j: Job, who: address) -> uint256:
    """Index of `who` among the job's current assignees; reverts if none."""
    n: uint256 = self._slots(job_id, j)
    for i: uint256 in range(n, bound=MAX_K):
        if self._assignee(job_id, j, i) == who:
            return i
    raise "ComputeMarket: not assigned to this job"


@internal
def _commit_one(job_id: uint256, commitment: bytes32):
    assert commitment != empty(bytes32), "ComputeMarket: empty commitment"
    j: Job = self._load(job_id)
    st: uint256 = j.state
    assert st == ST_ASSIGNED or st == ST_AUDIT_COMMIT or st == ST_TIE_COMMIT, "ComputeMarket: not accepting commits"
    assert block.timestamp <= j.mark, "ComputeMarket: commit window closed"
    slot: uint256 = self._slot_of(job_id, j, msg.sender)
    if st == ST_AUDIT_COMMIT:
        assert slot == 1, "ComputeMarket: only the auditor commits now"
    elif st == ST_TIE_COMMIT:
        assert slot == 2, "ComputeMarket: only the tie-breaker commits now"
    assert self._commit[job_id][slot] == empty(bytes32), "ComputeMarket: already committed"
    self._commit[job_id][slot] = commitment
    log Committed(job_id=job_id, provider=msg.sender, commitment=commitment)
    if st == ST_ASSIGNED:
        if j.policy == POLICY_REPLICATE:
            if self._all_committed(job_id, j.param):
                j.state = ST_REVEALING
                j.mark = block.timestamp + self._reveal_window()
                self._store(job_id, j)
            return
        j.state = ST_COMMITTED
        j.mark = block.number
    else:
        j.state = ST_AUDIT_REVEAL if st == ST_AUDIT_COMMIT else ST_TIE_REVEAL
        j.mark = block.timestamp + self._reveal_window()
    self._store(job_id, j)


@internal
@view
def _all_committed(job_id: uint256, k: uint256) -> bool:
    for i: uint256 in range(k, bound=MAX_K):
        if self._commit[job_id][i] == empty(bytes32):
            return False
    return True


@internal
def _reveal_one(job_id: uint256, digest: bytes32, result: bytes32, salt: bytes32):
    assert digest != empty(bytes32), "ComputeMarket: empty digest"
    j: Job = self._load(job_id)
    st: uint256 = j.state
    slot: uint256 = self._slot_of(job_id, j, msg.sender)
    if st == ST_COMMITTED:
        assert block.number > j.mark, "ComputeMarket: reveal in a later block than the commit"
        assert block.timestamp <= j.deadline, "ComputeMarket: past the deadline"
        if j.policy == POLICY_AUDIT:
            assert not self._audit_drawn(job_id, j), "ComputeMarket: drawn for audit; open_audit first"
        elif j.policy == POLICY_ZK:
            assert staticcall IZkChecker(self.zk_checker).proven(job_id) == digest, "ComputeMarket: not proven"
    elif st == ST_REVEALING or st == ST_AUDIT_REVEAL:
        assert block.timestamp <= j.mark, "ComputeMarket: reveal window closed"
    elif st == ST_TIE_REVEAL:
        assert block.timestamp <= j.mark, "ComputeMarket: reveal window closed"
        assert slot == 2, "ComputeMarket: only the tie-breaker reveals now"
    else:
        raise "ComputeMarket: not accepting reveals"
    assert (j.revealed >> slot) & 1 == 0, "ComputeMarket: already revealed"
    c: bytes32 = self._commit[job_id][slot]
    assert c != empty(bytes32), "ComputeMarket: nothing committed"
    assert keccak256(abi_encode(job_id, msg.sender, digest, salt)) == c, "ComputeMarket: reveal does not match commitment"
    self._commit[job_id][slot] = digest
    j.revealed |= 1 << slot
    log Revealed(job_id=job_id, provider=msg.sender, digest=digest, result=result)
    if st == ST_COMMITTED:
        # paid, but nothing was verified: reputation moves only with verified outcomes
        # (an audit, a replica, a tie-break), so an unaudited result earns none
        self._pay_and_close(job_id, j, digest, 1 << 0)
        return
    if st == ST_REVEALING:
        if self._all_revealed(j.revealed, j.param):
            self._settle_replicate(job_id, j)
            return
    elif st == ST_AUDIT_REVEAL:
        if j.revealed & 3 == 3:
            self._settle_audit(job_id, j, PHASE_AUDIT)
            return
    else:
        self._settle_audit(job_id, j, PHASE_TIE)
        return
    self._store(job_id, j)


@internal
@pure
def _all_revealed(revealed: uint256, k: uint256) -> bool:
    return revealed == (1 << k) - 1


@internal
@view
def _audit_drawn(job_id: uint256, j: Job) -> bool:
    """The audit draw for a job committed in block `j.mark` (needs block.number > mark)."""
    if j.param == 0:
        return False
    if block.number - j.mark > 256:
        return True   # the commit block's hash is gone: audit rather than let a delay dodge it
    r: uint256 = convert(keccak256(abi_encode(blockhash(j.mark), job_id, "audit")), uint256)
    return r % constants.BPS < j.param


# ===========================================================================
# internals: settlement
# ===========================================================================
@internal
def _pay_and_close(job_id: uint256, j: Job, digest: bytes32, winners: uint256) -> uint256:
    """Pays `pay` (less the fee) to each assignee in the `winners` bitmap,
    refunds the rest of the escrow to the requester, closes the job."""
    escrow: uint256 = j.pay * self._max_execs(j.policy, j.param)
    paid: uint256 = 0
    fee_total: uint256 = 0
    fee_bps: uint256 = (self._p1 >> 160) & constants.MASK16
    for i: uint256 in range(MAX_K):
        if winners >> i == 0:
            break
        if (winners >> i) & 1 == 1:
            fee: uint256 = j.pay * fee_bps // constants.BPS
            self._owed[self._assignee(job_id, j, i)] += j.pay - fee
            fee_total += fee
            paid += j.pay
    if fee_total > 0:
        self._accrue(fee_total)
    refund: uint256 = escrow - paid
    if refund > 0:
        self._owed[j.requester] += refund
    if digest != empty(bytes32):
        first: uint256 = 0
        for i: uint256 in range(MAX_K):
            if (winners >> i) & 1 == 1:
                first = i
                break
        self._job_a[job_id] = self._job_a[job_id] | (first + 1) << 248
    j.state = ST_SETTLED
    self._store(job_id, j)
    log Settled(job_id=job_id, digest=digest, paid=paid - fee_total, refund=refund, fee=fee_total)
    return paid


@internal
def _close_refund(job_id: uint256, j: Job):
    escrow: uint256 = j.pay * self._max_execs(j.policy, j.param)
    self._owed[j.requester] += escrow
    j.state = ST_REFUNDED
    self._store(job_id, j)
    log Refunded(job_id=job_id, amount=escrow)


@internal
def _settle_replicate(job_id: uint256, j: Job):
    """Majority of the k commitments wins; dissenters and silent committers are slashed."""
    k: uint256 = j.param
    best: bytes32 = empty(bytes32)
    best_n: uint256 = 0
    committed: uint256 = 0
    for i: uint256 in range(k, bound=MAX_K):
        if self._commit[job_id][i] != empty(bytes32):
            committed += 1
        if (j.revealed >> i) & 1 == 0:
            continue
        d: bytes32 = self._commit[job_id][i]
        n: uint256 = 0
        for m: uint256 in range(k, bound=MAX_K):
            if (j.revealed >> m) & 1 == 1 and self._commit[job_id][m] == d:
                n += 1
        if n > best_n:
            best = d
            best_n = n
    winners: uint256 = 0
    if best_n * 2 > committed:
        for i: uint256 in range(k, bound=MAX_K):
            if (j.revealed >> i) & 1 == 1 and self._commit[job_id][i] == best:
                winners |= 1 << i
    else:
        best = empty(bytes32)
    for i: uint256 in range(k, bound=MAX_K):
        who: address = self._assignee(job_id, j, i)
        if self._commit[job_id][i] == empty(bytes32):
            continue   # never committed: already penalized by the commit timeout
        if (winners >> i) & 1 == 1:
            self._reward(who)
        elif (j.revealed >> i) & 1 == 0:
            self._slash(who, job_id, j.requester)          # committed, never revealed
        elif best != empty(bytes32):
            self._slash(who, job_id, j.requester)          # outvoted by the majority
        else:
            self._penalize_stall(who)                      # no majority: suspect, not proven
    self._pay_and_close(job_id, j, best, winners)


PHASE_AUDIT: constant(uint256) = 0     # worker and auditor revealed, or their reveal window closed
PHASE_TIE: constant(uint256) = 1       # the tie-breaker revealed, or its reveal window closed
PHASE_NO_TIE: constant(uint256) = 2    # a tie-breaker was needed and none committed


@internal
def _settle_audit(job_id: uint256, j: Job, phase: uint256):
    """Worker (slot 0) against auditor (slot 1), and the tie-breaker (slot 2) if needed."""
    r0: bool = j.revealed & 1 == 1
    r1: bool = j.revealed & 2 == 2
    d0: bytes32 = self._commit[job_id][0]
    d1: bytes32 = self._commit[job_id][1]
    worker: address = j.provider
    auditor: address = self._extra[job_id][1]
    if phase == PHASE_AUDIT:
        if r0 and r1 and d0 == d1:
            self._reward(worker)
            self._reward(auditor)
            self._pay_and_close(job_id, j, d0, 3)
        elif r0 and r1:
            # disagreement: a third provider breaks the tie
            tb: address = self._draw_excluding(j, job_id, 2)
            if tb != empty(address):
                self._extra[job_id][2] = tb
                j.state = ST_TIE_COMMIT
                j.mark = block.timestamp + self._commit_window()
                self._store(job_id, j)
                log Assigned(job_id=job_id, provider=tb, slot=2, role=2, commit_by=j.mark)
                return
        elif r0:
            # the auditor committed and went silent
            self._slash(auditor, job_id, j.requester)
            self._reward(worker)
            self._pay_and_close(job_id, j, d0, 1)
        elif r1:
            # the worker hid its result from the audit
            self._slash(worker, job_id, j.requester)
            self._reward(auditor)
            self._pay_and_close(job_id, j, d1, 2)
        else:
            self._slash(worker, job_id, j.requester)
            self._slash(auditor, job_id, j.requester)
            self._close_refund(job_id, j)
        if not (r0 and r1 and d0 != d1):
            return
        phase = PHASE_NO_TIE   # nobody is left to break the tie
    tbk: address = self._extra[job_id][2]
    if phase == PHASE_TIE and j.revealed & 4 == 4:
        d2: bytes32 = self._commit[job_id][2]
        if d2 == d0:
            self._slash(auditor, job_id, j.requester)
            self._reward(worker)
            self._reward(tbk)
            self._pay_and_close(job_id, j, d0, 5)
            return
        if d2 == d1:
            self._slash(worker, job_id, j.requester)
            self._reward(auditor)
            self._reward(tbk)
            self._pay_and_close(job_id, j, d1, 6)
            return
        # three different answers: the job is not reproducible; pay the work, slash nobody
        self._penalize_stall(tbk)
    elif phase == PHASE_TIE:
        self._slash(tbk, job_id, j.requester)   # committed, never revealed
    # unresolved: both did the work and neither is proven wrong
    self._penalize_stall(worker)
    self._penalize_stall(auditor)
    winners: uint256 = 3
    if phase == PHASE_TIE and j.revealed & 4 == 4:
        winners = 7
    self._pay_and_close(job_id, j, empty(bytes32), winners)


@internal
def _timeout_commits(job_id: uint256, j: Job):
    """Replaces every provider that did not commit in time, or refunds."""
    if j.policy == POLICY_DIRECT:
        # nobody else holds the data: no replacement
        self._penalize_stall(j.provider)
        self._close_refund(job_id, j)
        return
    k: uint256 = 1
    if j.policy == POLICY_REPLICATE:
        k = j.param
    missing: uint256 = 0
    for i: uint256 in range(k, bound=MAX_K):
        if self._commit[job_id][i] == empty(bytes32):
            missing |= 1 << i
    if j.replacements >= ((self._p1 >> 208) & constants.MASK8):
        if missing == (1 << k) - 1:
            for i: uint256 in range(k, bound=MAX_K):
                self._penalize_stall(self._assignee(job_id, j, i))
            self._close_refund(job_id, j)
            return
        # some replicas committed: go on to reveal with them
        for i: uint256 in range(k, bound=MAX_K):
            if (missing >> i) & 1 == 1:
                self._penalize_stall(self._assignee(job_id, j, i))
        j.state = ST_REVEALING
        j.mark = block.timestamp + self._reveal_window()
        self._store(job_id, j)
        return
    j.replacements += 1
    excl_idx: DynArray[uint256, constants.MAX_EXCLUDE] = []
    excl_w: DynArray[uint256, constants.MAX_EXCLUDE] = []
    for i: uint256 in range(k, bound=MAX_K):
        xi: uint256 = 0
        xw: uint256 = 0
        xi, xw = staticcall registry.exclusion(j.kind, self._assignee(job_id, j, i))
        if xi != 0:
            excl_idx.append(xi)
            excl_w.append(xw)
    j.mark = block.timestamp + self._commit_window()
    seed: uint256 = self._seed(job_id, j.replacements)
    for i: uint256 in range(k, bound=MAX_K):
        if (missing >> i) & 1 == 0:
            continue
        old: address = self._assignee(job_id, j, i)
        self._penalize_stall(old)
        log Replaced(job_id=job_id, provider=old, slot=i)
        who: address = empty(address)
        widx: uint256 = 0
        ww: uint256 = 0
        who, widx, ww = staticcall registry.draw(j.kind, self._unit_price_cap(), seed + i, excl_idx, excl_w)
        if who == empty(address):
            # nobody left to take it
            for m: uint256 in range(k, bound=MAX_K):
                if (missing >> m) & 1 == 1 and m > i:
                    self._penalize_stall(self._assignee(job_id, j, m))
            self._close_refund(job_id, j)
            return
        excl_idx.append(widx)
        excl_w.append(ww)
        if i == 0:
            j.provider = who
        else:
            self._extra[job_id][i] = who
        log Assigned(job_id=job_id, provider=who, slot=i, role=0, commit_by=j.mark)
    self._store(job_id, j)


@internal
@pure
def _unit_price_cap() -> uint256:
    # Replacements and auditors are drawn regardless of their asking price:
    # the job's payment is fixed, and a provider that registered for a kind
    # agreed to audit it at the offered price.
    return max_value(uint256)


@internal
def _draw_excluding(j: Job, job_id: uint256, slot: uint256) -> address:
    """A provider of the job's kind that holds none of slots 0..slot (the one being filled
    included); empty if none."""
    excl_idx: DynArray[uint256, constants.MAX_EXCLUDE] = []
    excl_w: DynArray[uint256, constants.MAX_EXCLUDE] = []
    for i: uint256 in range(slot + 1, bound=MAX_K):
        who: address = self._assignee(job_id, j, i)
        if who != empty(address):
            xi: uint256 = 0
            xw: uint256 = 0
            xi, xw = staticcall registry.exclusion(j.kind, who)
            if xi != 0 and xi not in excl_idx:
                excl_idx.append(xi)
                excl_w.append(xw)
    picked: address = empty(address)
    pi: uint256 = 0
    pw: uint256 = 0
    picked, pi, pw = staticcall registry.draw(j.kind, self._unit_price_cap(), self._seed(job_id, 16 + slot + j.replacements * 4), excl_idx, excl_w)
    return picked


# ===========================================================================
# internals: the registry
# ===========================================================================
@internal
def _slash(who: address, job_id: uint256, harmed: address):
    """Slashes `who` in the registry; the tokens arrive here and are split
    between the harmed party and the treasury."""
    if not self._authorised():
        return
    amount: uint256 = extcall registry.slash(who, ((self._p1 >> 176) & constants.MASK16))
    to_harmed: uint256 = amount * ((self._p1 >> 192) & constants.MASK16) // constants.BPS
    if to_harmed > 0:
        self._owed[harmed] += to_harmed
    if amount > to_harmed:
        self._accrue(amount - to_harmed)
    log Slashed(provider=who, job_id=job_id, amount=amount, to_harmed=to_harmed)


@internal
@view
def _authorised() -> bool:
    """Whether the registry still lets this market score providers. A market the registry
    has retired can no longer slash or move reputation, but it still settles and refunds
    its open jobs: their escrow is never stuck."""
    return staticcall registry.is_market(self)


@internal
def _reward(who: address):
    if self._authorised():
        extcall registry.reward(who)


@internal
def _penalize_stall(who: address):
    if self._authorised():
        extcall registry.penalize(who)


@internal
@view
def _seed(job_id: uint256, salt: uint256) -> uint256:
    return convert(keccak256(abi_encode(block.prevrandao, blockhash(block.number - 1), job_id, salt)), uint256)
