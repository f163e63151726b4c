"""Unit tests of ``DataServices``: algorithms allowed per dataset (deny by default), the compute
node and output policy, privacy budgets spent once per reference and never past the budget, and
federated runs (escrow, rounds paid per participant, refunds): every entry point, every revert."""

from __future__ import annotations

import re

import boa
import pytest
from data_fixtures import DAY, ZERO, ZERO32, account, digest_of, events, now
from services_fixtures import SERVICES, SERVICES_PATH, deploy_services

PAY = 10**17

# boa warns when it meets a datatoken proxy (45 bytes of code, not the compiled datatoken)
pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")


@pytest.fixture(scope="module")
def sw():
    return deploy_services()


@pytest.fixture(autouse=True)
def _anchor(sw):
    with boa.env.anchor():
        yield


@pytest.fixture(scope="module")
def pub(sw):
    a = account("publisher")
    sw.data.fund(a.address)
    return a.address


def dataset_with_node(sw, owner, node) -> int:
    ds = sw.data.publish(owner)
    sw.act(owner, sw.services.set_compute_node, ds, node)
    return ds


def test_every_revert_is_tested():
    text = open(__file__).read()
    reasons = set(re.findall(r'"(DataServices: [^"]+)"', SERVICES_PATH.read_text()))
    assert len(reasons) >= 15
    missing = sorted(r for r in reasons if f'"{r}"' not in text)
    assert not missing, missing


def test_constructor(sw):
    assert sw.services.registry() == sw.data.registry.address
    with boa.reverts("DataServices: zero registry"):
        SERVICES.deploy(ZERO)


def test_algorithms_are_denied_until_the_owner_or_manager_allows_them(sw, pub):
    s, r = sw.services, sw.data.registry
    ds = sw.data.publish(pub)
    algo, other = digest_of("algorithm v1"), digest_of("algorithm v2")
    assert not s.algorithm_allowed(ds, algo)
    stranger, manager = account("stranger").address, account("manager").address
    with boa.reverts("DataServices: not the owner or manager"):
        sw.act(stranger, s.set_algorithm, ds, algo, True)
    with boa.reverts("DataServices: empty algorithm"):
        sw.act(pub, s.set_algorithm, ds, ZERO32, True)
    with boa.reverts("DataRegistry: unknown dataset"):
        sw.act(pub, s.set_algorithm, 99, algo, True)
    sw.act(pub, s.set_algorithm, ds, algo, True)
    (e,) = events(sw.data.last_logs, "AlgorithmSet")
    assert (e.dataset, e.algorithm, e.allowed, e.by) == (ds, algo, True, pub)
    assert s.algorithm_allowed(ds, algo) and not s.algorithm_allowed(ds, other)
    assert not s.algorithm_allowed(ds + 1, algo)          # per dataset
    sw.act(pub, r.set_roles, ds, manager, ZERO)
    sw.act(manager, s.set_algorithm, ds, algo, False)     # the manager may deny it again
    assert not s.algorithm_allowed(ds, algo)


def test_compute_node_and_output_policy(sw, pub):
    s = sw.services
    ds = sw.data.publish(pub)
    node = account("node").address
    with boa.reverts("DataServices: not the owner or manager"):
        sw.act(node, s.set_compute_node, ds, node)
    sw.act(pub, s.set_compute_node, ds, node)
    assert s.compute_node(ds) == node
    (e,) = events(sw.data.last_logs, "ComputeNodeSet")
    assert (e.dataset, e.node) == (ds, node)
    policy = digest_of("output policy: weights only, k >= 20, 1 MiB")
    with boa.reverts("DataServices: not the owner or manager"):
        sw.act(node, s.set_output_policy, ds, policy)
    sw.act(pub, s.set_output_policy, ds, policy)
    assert s.output_policy(ds) == policy
    (e,) = events(sw.data.last_logs, "OutputPolicySet")
    assert (e.dataset, e.policy) == (ds, policy)


def test_privacy_budget_is_spent_once_per_reference_and_never_past_the_budget(sw, pub):
    s = sw.services
    node = account("node").address
    ds = dataset_with_node(sw, pub, node)
    with boa.reverts("DataServices: not the owner or manager"):
        sw.act(node, s.set_privacy_budget, ds, 10**6)
    with boa.reverts("DataServices: budget too large"):
        sw.act(pub, s.set_privacy_budget, ds, 2**128)
    sw.act(pub, s.set_privacy_budget, ds, 3 * 10**6)          # epsilon 3
    (e,) = events(sw.data.last_logs, "PrivacyBudgetSet")
    assert (e.dataset, e.budget) == (ds, 3 * 10**6) and s.privacy(ds) == (3 * 10**6, 0)
    with boa.reverts("DataServices: not the compute node"):
        sw.act(pub, s.spend_privacy, ds, 1, 10**6)
    with boa.reverts("DataServices: not the compute node"):   # a dataset without a node: nobody
        sw.act(ZERO, s.spend_privacy, ds + 1, 1, 10**6)
    with boa.reverts("DataServices: zero epsilon"):
        sw.act(node, s.spend_privacy, ds, 1, 0)
    sw.act(node, s.spend_privacy, ds, 1, 2 * 10**6)
    (e,) = events(sw.data.last_logs, "PrivacySpent")
    assert (e.dataset, e.reference, e.amount, e.spent, e.budget) == (ds, 1, 2 * 10**6, 2 * 10**6, 3 * 10**6)
    with boa.reverts("DataServices: already spent for this reference"):
        sw.act(node, s.spend_privacy, ds, 1, 1)
    # two jobs that together exceed the budget: the second is refused, nothing changes
    with boa.reverts("DataServices: privacy budget exceeded"):
        sw.act(node, s.spend_privacy, ds, 2, 10**6 + 1)
    sw.act(node, s.spend_privacy, ds, 3, 10**6)
    assert s.privacy(ds) == (3 * 10**6, 3 * 10**6)
    assert (s.privacy_spent(ds, 1), s.privacy_spent(ds, 2), s.privacy_spent(ds, 3)) == (2 * 10**6, 0, 10**6)
    with boa.reverts("DataServices: budget below what is spent"):
        sw.act(pub, s.set_privacy_budget, ds, 3 * 10**6 - 1)
    sw.act(pub, s.set_privacy_budget, ds, 5 * 10**6)          # raised: more may be spent
    sw.act(node, s.spend_privacy, ds, 2, 10**6 + 1)
    assert s.privacy(ds) == (5 * 10**6, 4 * 10**6 + 1)


def holders(sw, pub, n=3):
    nodes = [account(f"hospital-{i}").address for i in range(n)]
    return [dataset_with_node(sw, pub, node) for node in nodes], nodes


def test_a_run_pays_each_participant_per_round_and_refunds_the_rest(sw, pub):
    s, token = sw.services, sw.data.token
    datasets, nodes = holders(sw, pub)
    consumer = account("consumer").address
    sw.data.fund(consumer)
    sw.approve(consumer)
    before = token.balanceOf(consumer)
    run = sw.act(consumer, s.open_run, datasets, 2, token.address, PAY, now() + DAY)
    assert run == 1 and s.run_count() == 1
    (e,) = events(sw.data.last_logs, "RunOpened")
    assert (e.run_id, e.consumer, e.rounds, e.pay_per_round) == (1, consumer, 2, PAY)
    assert list(e.datasets) == datasets and list(e.nodes) == nodes
    assert token.balanceOf(consumer) == before - 6 * PAY and token.balanceOf(s.address) == 6 * PAY
    agg = digest_of("aggregate round 1")
    sw.act(consumer, s.record_round, run, 1, 0b101, agg)        # holder 1 dropped out of round 1
    (e,) = events(sw.data.last_logs, "RoundRecorded")
    assert (e.run_id, e.round, e.participants, e.aggregate, e.paid) == (run, 1, 0b101, agg, 2 * PAY)
    assert [s.owed(n, token.address) for n in nodes] == [PAY, 0, PAY]
    assert s.run(run).recorded == 1 and s.run(run).escrow == 4 * PAY
    sw.check_books(nodes + [consumer])
    assert sw.act(consumer, s.close_run, run) == 4 * PAY       # the consumer stops after one round
    (e,) = events(sw.data.last_logs, "RunClosed")
    assert (e.run_id, e.refund) == (run, 4 * PAY)
    assert s.run(run).closed and s.owed(consumer, token.address) == 4 * PAY
    sw.check_books(nodes + [consumer])
    assert sw.act(nodes[0], s.withdraw, token.address) == PAY
    (e,) = events(sw.data.last_logs, "Withdrawn")
    assert (e.account, e.token, e.amount) == (nodes[0], token.address, PAY)
    sw.act(consumer, s.withdraw, token.address)
    assert token.balanceOf(consumer) == before - 2 * PAY
    with boa.reverts("DataServices: nothing to withdraw"):
        sw.act(nodes[1], s.withdraw, token.address)
    sw.check_books(nodes + [consumer])


def test_run_reverts(sw, pub):
    s, token = sw.services, sw.data.token
    datasets, nodes = holders(sw, pub)
    bare = sw.data.publish(pub)
    consumer, stranger = account("consumer").address, account("stranger").address
    sw.data.fund(consumer)
    sw.approve(consumer)
    later = now() + DAY
    for args, reason in (
        (([], 1, token.address, PAY, later), "DataServices: no datasets"),
        ((datasets, 0, token.address, PAY, later), "DataServices: bad rounds"),
        ((datasets, 1001, token.address, PAY, later), "DataServices: bad rounds"),
        ((datasets, 1, ZERO, PAY, later), "DataServices: zero token"),
        ((datasets, 1, token.address, PAY, now()), "DataServices: deadline passed"),
        ((datasets + [datasets[0]], 1, token.address, PAY, later), "DataServices: dataset twice"),
        ((datasets + [bare], 1, token.address, PAY, later), "DataServices: dataset without a compute node"),
    ):
        with boa.reverts(reason):
            sw.act(consumer, s.open_run, *args)
    with boa.reverts():     # no allowance: the token refuses the pull
        sw.act(stranger, s.open_run, datasets, 1, token.address, PAY, later)
    run = sw.act(consumer, s.open_run, datasets, 2, token.address, PAY, later)
    agg = digest_of("agg")
    with boa.reverts("DataServices: unknown run"):
        sw.act(consumer, s.record_round, 99, 1, 1, agg)
    with boa.reverts("DataServices: not the consumer"):
        sw.act(stranger, s.record_round, run, 1, 1, agg)
    for rnd in (0, 2):
        with boa.reverts("DataServices: not the next round"):
            sw.act(consumer, s.record_round, run, rnd, 1, agg)
    for bits in (0, 0b1000):
        with boa.reverts("DataServices: bad participants"):
            sw.act(consumer, s.record_round, run, 1, bits, agg)
    sw.act(consumer, s.record_round, run, 1, 0b111, agg)
    sw.act(consumer, s.record_round, run, 2, 0b011, agg)
    with boa.reverts("DataServices: not the next round"):      # all rounds recorded
        sw.act(consumer, s.record_round, run, 3, 1, agg)
    with boa.reverts("DataServices: not the consumer"):        # before the deadline, the consumer only
        sw.act(stranger, s.close_run, run)
    boa.env.time_travel(seconds=DAY + 1)
    with boa.reverts("DataServices: past the deadline"):
        sw.act(consumer, s.record_round, run, 3, 1, agg)
    assert sw.act(stranger, s.close_run, run) == PAY           # anyone after the deadline
    with boa.reverts("DataServices: run closed"):
        sw.act(consumer, s.close_run, run)
    with boa.reverts("DataServices: run closed"):
        sw.act(consumer, s.record_round, run, 3, 1, agg)
    with boa.reverts("DataServices: unknown run"):
        sw.act(consumer, s.close_run, 99)
    with boa.reverts("DataServices: unknown run"):
        s.run(99)
    sw.check_books(nodes + [consumer, stranger])
