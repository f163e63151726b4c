# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora data services: compute-to-data rules, privacy budgets, federated runs
@custom:contract-name DataServices
@license AGPL-3.0-only
@notice What a dataset's holder lets others do with the data without
        handing it out, next to the `DataRegistry` that owns the dataset:
        - **Algorithms** a consumer may run next to the data (compute-to-
          data), allowed by content hash per dataset, deny by default, by
          the dataset's owner or manager;
        - the dataset's **compute node** (the holder's account that runs
          compute-to-data and federated rounds and records privacy spends)
          and its **output policy** (the digest of the document that says
          what may leave: weights, aggregates over at least k rows, a size
          cap);
        - a **privacy budget** (epsilon, in micro-epsilon) per dataset,
          spent by its compute node per job or order, at most once per
          reference, never past the budget: two jobs that together exceed
          it cannot both be recorded;
        - **federated learning runs**: a consumer escrows, in any ERC-20,
          a payment per round per dataset; records each round (who took
          part, the aggregate's hash); each participating dataset's compute
          node is credited its payment for that round; what is not earned
          goes back to the consumer when the run is closed (by the consumer
          at any time, by anyone after its deadline). Recipients withdraw
          (pull).
        Compute-to-data jobs themselves are `ComputeMarket` jobs with the
        `DIRECT` policy (escrow, deadline, refund, result digest on chain):
        this contract holds only what the market has no place for.
@dev Money: for every ERC-20 `t`, t.balanceOf(this) = sum of the open
     runs' escrow in `t` + sum(owed[*][t]).
     Roles come from the `DataRegistry` (`dataset_info`: owner, manager).
@custom:security The consumer records the rounds, so it could leave a
     holder out of a round it took part in; a holder's node therefore does
     not train round r + 1 before round r is recorded with it on chain, so
     at most one round's work is ever at risk. The aggregate hash lets
     anyone check the model the consumer later registers against the run.
"""


from ethereum.ercs import IERC20

# @dev BPS and the masks (constants only; no state).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev Only for its interface (`dataset_info`): roles live in the registry.
from . import DataRegistry


# --- types ------------------------------------------------------------------
struct Run:
    consumer: address
    token: address
    pay_per_round: uint256      # per dataset per round
    rounds: uint256
    recorded: uint256           # rounds recorded so far
    deadline: uint256
    escrow: uint256             # what is still held for the run
    closed: bool
    datasets: DynArray[uint256, MAX_HOLDERS]
    nodes: DynArray[address, MAX_HOLDERS]


# --- constants ----------------------------------------------------------------
#: The most datasets (holders) one federated run may train across.
MAX_HOLDERS: public(constant(uint256)) = 16
#: The most rounds one federated run may have.
MAX_ROUNDS: public(constant(uint256)) = 1_000


# --- storage --------------------------------------------------------------------
#: The `DataRegistry` whose datasets these are.
registry: public(immutable(address))

_allowed: HashMap[uint256, HashMap[bytes32, bool]]
_node: HashMap[uint256, address]
_policy: HashMap[uint256, bytes32]
_privacy: HashMap[uint256, uint256]                     # budget(128) | spent(128), micro-epsilon
_spent: HashMap[uint256, HashMap[uint256, uint256]]     # dataset -> reference -> micro-epsilon
_runs: HashMap[uint256, Run]
_run_count: uint256

#: What each account may withdraw, by token.
owed: public(HashMap[address, HashMap[address, uint256]])


# --- events ---------------------------------------------------------------------
event AlgorithmSet:
    dataset: indexed(uint256)
    algorithm: indexed(bytes32)
    allowed: bool
    by: address


event ComputeNodeSet:
    dataset: indexed(uint256)
    node: indexed(address)


event OutputPolicySet:
    dataset: indexed(uint256)
    policy: bytes32


event PrivacyBudgetSet:
    dataset: indexed(uint256)
    budget: uint256


event PrivacySpent:
    dataset: indexed(uint256)
    reference: indexed(uint256)
    amount: uint256
    spent: uint256
    budget: uint256


event RunOpened:
    run_id: indexed(uint256)
    consumer: indexed(address)
    token: address
    pay_per_round: uint256
    rounds: uint256
    deadline: uint256
    datasets: DynArray[uint256, MAX_HOLDERS]
    nodes: DynArray[address, MAX_HOLDERS]


event RoundRecorded:
    run_id: indexed(uint256)
    round: indexed(uint256)
    participants: uint256
    aggregate: bytes32
    paid: uint256


event RunClosed:
    run_id: indexed(uint256)
    refund: uint256


event Withdrawn:
    account: indexed(address)
    token: indexed(address)
    amount: uint256


@deploy
@payable
def __init__(registry_: address):
    """
    @notice Creates the services of the datasets of `registry_`.
    @param registry_ The 20-byte `DataRegistry`.
    """
    assert registry_ != empty(address), "DataServices: zero registry"
    registry = registry_


# --- compute-to-data rules ---------------------------------------------------------
@external
def set_algorithm(dataset: uint256, algorithm: bytes32, allowed: bool):
    """
    @notice Allows (or denies again) an algorithm on the dataset: the
            sha2-256 digest of its CIDv1 (Python source, or an ONNX model
            of a registered workload). Everything not allowed is denied.
            The dataset's owner or manager only.
    @param dataset The 32-byte dataset id.
    @param algorithm The 32-byte digest of the algorithm's CIDv1.
    @param allowed True to allow, False to deny.
    """
    self._check_manager(dataset)
    assert algorithm != empty(bytes32), "DataServices: empty algorithm"
    self._allowed[dataset][algorithm] = allowed
    log AlgorithmSet(dataset=dataset, algorithm=algorithm, allowed=allowed, by=msg.sender)


@external
@view
def algorithm_allowed(dataset: uint256, algorithm: bytes32) -> bool:
    """
    @notice Whether the algorithm may run next to the dataset.
    @param dataset The 32-byte dataset id.
    @param algorithm The 32-byte digest of the algorithm's CIDv1.
    @return bool True only if its owner or manager allowed it.
    """
    return self._allowed[dataset][algorithm]


@external
def set_compute_node(dataset: uint256, node: address):
    """
    @notice Names the account that runs compute-to-data and federated
            rounds on the dataset and records its privacy spends (the
            holder's node; zero: none). The owner or manager only.
    @param dataset The 32-byte dataset id.
    @param node The 20-byte node account.
    """
    self._check_manager(dataset)
    self._node[dataset] = node
    log ComputeNodeSet(dataset=dataset, node=node)


@external
@view
def compute_node(dataset: uint256) -> address:
    """
    @notice The dataset's compute node (zero: none).
    @param dataset The 32-byte dataset id.
    @return address The 20-byte node account.
    """
    return self._node[dataset]


@external
def set_output_policy(dataset: uint256, policy: bytes32):
    """
    @notice Records the digest of the dataset's output policy (the CIDv1
            digest of the document that says what a job may return). The
            owner or manager only.
    @param dataset The 32-byte dataset id.
    @param policy The 32-byte digest (zero: none yet).
    """
    self._check_manager(dataset)
    self._policy[dataset] = policy
    log OutputPolicySet(dataset=dataset, policy=policy)


@external
@view
def output_policy(dataset: uint256) -> bytes32:
    """
    @notice The digest of the dataset's output policy.
    @param dataset The 32-byte dataset id.
    @return bytes32 The 32-byte digest (zero: none).
    """
    return self._policy[dataset]


# --- privacy budgets ------------------------------------------------------------------
@external
def set_privacy_budget(dataset: uint256, budget: uint256):
    """
    @notice Sets the dataset's total privacy budget in micro-epsilon (it
            may not drop below what is already spent). The owner or
            manager only.
    @param dataset The 32-byte dataset id.
    @param budget The 32-byte budget (10**6 = epsilon 1).
    """
    self._check_manager(dataset)
    assert budget <= constants.MASK128, "DataServices: budget too large"
    spent: uint256 = self._privacy[dataset] & constants.MASK128
    assert budget >= spent, "DataServices: budget below what is spent"
    self._privacy[dataset] = (budget << 128) | spent
    log PrivacyBudgetSet(dataset=dataset, budget=budget)


@external
def spend_privacy(dataset: uint256, reference: uint256, amount: uint256):
    """
    @notice Records that a job (or order) `reference` spent `amount`
            micro-epsilon of the dataset's budget. The dataset's compute node only; once
            per reference; never past the budget.
    @param dataset The 32-byte dataset id.
    @param reference The 32-byte job or order id the spend is for.
    @param amount The 32-byte micro-epsilon spent (> 0).
    """
    assert msg.sender == self._node[dataset] and msg.sender != empty(address), "DataServices: not the compute node"
    assert amount != 0, "DataServices: zero epsilon"
    assert self._spent[dataset][reference] == 0, "DataServices: already spent for this reference"
    w: uint256 = self._privacy[dataset]
    budget: uint256 = w >> 128
    spent: uint256 = (w & constants.MASK128) + amount
    assert spent <= budget, "DataServices: privacy budget exceeded"
    self._privacy[dataset] = (budget << 128) | spent
    self._spent[dataset][reference] = amount
    log PrivacySpent(dataset=dataset, reference=reference, amount=amount, spent=spent, budget=budget)


@external
@view
def privacy(dataset: uint256) -> (uint256, uint256):
    """
    @notice The dataset's privacy budget and what is spent, in micro-epsilon.
    @param dataset The 32-byte dataset id.
    @return (uint256, uint256) The budget and the spent total.
    """
    w: uint256 = self._privacy[dataset]
    return w >> 128, w & constants.MASK128


@external
@view
def privacy_spent(dataset: uint256, reference: uint256) -> uint256:
    """
    @notice What job or order `reference` spent of the dataset's budget.
    @param dataset The 32-byte dataset id.
    @param reference The 32-byte reference.
    @return uint256 The micro-epsilon (0: nothing recorded).
    """
    return self._spent[dataset][reference]


# --- federated runs -------------------------------------------------------------------
@external
def open_run(
    datasets: DynArray[uint256, MAX_HOLDERS], rounds: uint256, token: address, pay_per_round: uint256,
    deadline: uint256,
) -> uint256:
    """
    @notice Opens a federated run across the datasets (their compute
            nodes at this moment are the holders paid), escrowing
            `rounds * len(datasets) * pay_per_round` of `token` from the
            caller (approve it first).
    @param datasets 1..16 distinct dataset ids, each with a compute node.
    @param rounds 1..1000 rounds.
    @param token The 20-byte ERC-20 of the payments.
    @param pay_per_round The 32-byte payment per dataset per round.
    @param deadline The 32-byte time after which anyone may close the run.
    @return uint256 The run id (from 1).
    """
    n: uint256 = len(datasets)
    assert n != 0, "DataServices: no datasets"
    assert rounds != 0 and rounds <= MAX_ROUNDS, "DataServices: bad rounds"
    assert token != empty(address), "DataServices: zero token"
    assert deadline > block.timestamp, "DataServices: deadline passed"
    nodes: DynArray[address, MAX_HOLDERS] = []
    for i: uint256 in range(n, bound=MAX_HOLDERS):
        for k: uint256 in range(i, bound=MAX_HOLDERS):
            assert datasets[k] != datasets[i], "DataServices: dataset twice"
        node: address = self._node[datasets[i]]
        assert node != empty(address), "DataServices: dataset without a compute node"
        nodes.append(node)
    escrow: uint256 = rounds * n * pay_per_round
    run_id: uint256 = self._run_count + 1
    self._run_count = run_id
    self._runs[run_id] = Run(
        consumer=msg.sender, token=token, pay_per_round=pay_per_round, rounds=rounds, recorded=0,
        deadline=deadline, escrow=escrow, closed=False, datasets=datasets, nodes=nodes,
    )
    if escrow != 0:
        transfers._transfer_in(IERC20(token), msg.sender, escrow)
    log RunOpened(
        run_id=run_id, consumer=msg.sender, token=token, pay_per_round=pay_per_round, rounds=rounds,
        deadline=deadline, datasets=datasets, nodes=nodes,
    )
    return run_id


@external
def record_round(run_id: uint256, round: uint256, participants: uint256, aggregate: bytes32):
    """
    @notice Records round `round` (the next one) of the run: bit i of
            `participants` set for each dataset i (in the run's order)
            whose holder took part, and the hash of the aggregate; credits
            each participant's node its payment. The run's consumer only,
            before the deadline.
    @param run_id The 32-byte run id.
    @param round The 32-byte round number (1, 2, ...).
    @param participants The bitmap of the holders that took part (not 0).
    @param aggregate The 32-byte hash of the aggregated weights.
    """
    r: Run = self._runs[run_id]
    assert r.consumer != empty(address), "DataServices: unknown run"
    assert msg.sender == r.consumer, "DataServices: not the consumer"
    assert not r.closed, "DataServices: run closed"
    assert block.timestamp <= r.deadline, "DataServices: past the deadline"
    assert round == r.recorded + 1 and round <= r.rounds, "DataServices: not the next round"
    n: uint256 = len(r.nodes)
    assert participants != 0 and participants >> n == 0, "DataServices: bad participants"
    paid: uint256 = 0
    for i: uint256 in range(n, bound=MAX_HOLDERS):
        if (participants >> i) & 1 == 1:
            self.owed[r.nodes[i]][r.token] += r.pay_per_round
            paid += r.pay_per_round
    self._runs[run_id].recorded = round
    self._runs[run_id].escrow = r.escrow - paid
    log RoundRecorded(run_id=run_id, round=round, participants=participants, aggregate=aggregate, paid=paid)


@external
def close_run(run_id: uint256) -> uint256:
    """
    @notice Closes the run and gives the consumer back what was not earned
            (the consumer at any time, anyone after the deadline).
    @param run_id The 32-byte run id.
    @return uint256 The refund, credited to the consumer (withdraw it).
    """
    r: Run = self._runs[run_id]
    assert r.consumer != empty(address), "DataServices: unknown run"
    assert not r.closed, "DataServices: run closed"
    assert msg.sender == r.consumer or block.timestamp > r.deadline, "DataServices: not the consumer"
    self._runs[run_id].closed = True
    self._runs[run_id].escrow = 0
    self.owed[r.consumer][r.token] += r.escrow
    log RunClosed(run_id=run_id, refund=r.escrow)
    return r.escrow


@external
@view
def run(run_id: uint256) -> Run:
    """
    @notice A federated run's record.
    @param run_id The 32-byte run id.
    @return Run Consumer, token, payment, rounds, recorded rounds,
            deadline, escrow left, whether closed, datasets and nodes.
    """
    r: Run = self._runs[run_id]
    assert r.consumer != empty(address), "DataServices: unknown run"
    return r


@external
@view
def run_count() -> uint256:
    """
    @notice How many runs were opened (the last run id).
    @return uint256 The count.
    """
    return self._run_count


@external
def withdraw(token: address) -> uint256:
    """
    @notice Pays the caller everything it is owed in `token` (round
            payments, refunds).
    @param token The 20-byte ERC-20.
    @return uint256 The amount paid.
    """
    amount: uint256 = self.owed[msg.sender][token]
    assert amount != 0, "DataServices: nothing to withdraw"
    self.owed[msg.sender][token] = 0
    transfers._transfer_out(IERC20(token), msg.sender, amount)
    log Withdrawn(account=msg.sender, token=token, amount=amount)
    return amount


# --- internals --------------------------------------------------------------------------
@internal
@view
def _check_manager(dataset: uint256):
    info: DataRegistry.Dataset = staticcall DataRegistry.__at__(registry).dataset_info(dataset)
    assert msg.sender == info.owner or msg.sender == info.manager, "DataServices: not the owner or manager"
