"""Paid federated learning on the embedded chain: a consumer escrows a run over three datasets,
trains across their holders with Flower's simulation engine and SecAgg+, each round is recorded on
chain with its participants and aggregate hash, each holder's node is paid per round it took part
in, and what a holder that dropped out did not earn goes back to the consumer."""

from __future__ import annotations

import pytest

from agora.chain import connect
from agora.data import DataRegistry
from agora.data.federated import flower_available
from agora.data.fl_market import run_paid
from agora.data.services import DataServices
from agora.errors import ConfigError
from agora.protocol import deploy_devnet

PAY = 10**16
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("flower"),
              pytest.mark.skipif(not flower_available(), reason="Flower's environment (.venv-flower) is missing")]


@pytest.fixture
def world():
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    registry, services = DataRegistry(dep), DataServices(dep)
    owner = chain.dev_signers[1]
    nodes = [chain.dev_signers[2 + i] for i in range(3)]
    datasets = []
    for i, node in enumerate(nodes):
        ds, _ = registry.publish(owner, card=bytes([i + 1]) * 32, content_hash=bytes([i + 7]) * 32)
        services.set_compute_node(ds, node.address, owner)
        datasets.append(ds)
    return chain, dep, services, datasets, nodes


def test_each_holder_is_paid_per_round_it_took_part_in(world, tmp_path) -> None:
    chain, dep, services, datasets, nodes = world
    consumer = chain.dev_signers[6]
    before = dep.token.balanceOf(consumer.address)
    seen: list[int] = []
    paid = run_paid(services, consumer, datasets, rounds=2, pay_per_round=PAY,
                    config={"drop-partition": 2, "drop-round": 2}, on_round=lambda r: seen.append(r.round),
                    receipts=tmp_path / "rounds.sqlite")
    assert seen == [1, 2] and paid.result is not None and paid.result.final_accuracy > 0.8
    assert [r.participants for r in paid.recorded] == [(0, 1, 2), (0, 1)]   # holder 2 dropped out of round 2
    run = services.run(paid.run_id)
    assert run.recorded == 2 and run.closed and run.escrow == 0
    assert [services.owed(n.address) for n in nodes] == [2 * PAY, 2 * PAY, PAY]
    assert paid.refund == PAY and services.owed(consumer.address) == PAY
    assert services.withdraw(nodes[2]) == PAY
    assert dep.token.balanceOf(consumer.address) == before - 6 * PAY
    assert paid.to_json()["rounds"][1]["participants"] == datasets[:2]
    # the aggregate hashes on chain are the ones Flower logged
    events = services.contract.get_events("RoundRecorded", from_block=0)
    assert ["0x" + bytes(e.args["aggregate"]).hex() for e in events] == ["0x" + r.aggregate_hash
                                                                         for r in paid.recorded]
    # each round left the consumer's signed receipt, anchored when the run ended
    from agora.chain.evidence import Bundle, ReceiptBook, ReceiptError, receipt_domain, sign_receipt
    from agora.data.fl_market import round_receipt
    from agora.verification import verify_bundle

    book = ReceiptBook(tmp_path / "rounds.sqlite", dep.contract("anchor"), consumer.address)
    domain = receipt_domain(chain.chain_id, services.contract.address)
    kept = book.kept()
    assert [r.item for _, r in kept] == [1, 2]
    for (digest, _), r in zip(kept, paid.recorded, strict=True):
        verdict = verify_bundle(dep, book.bundle(digest))
        assert verdict.final and "who recorded round" in verdict.entitled_as
        assert verdict.bundle.receipt.amount == PAY * len(r.participants)
    # a holder's receipt for the round (not the consumer's), or one claiming another aggregate: refused
    fake = round_receipt(services, paid.run_id, paid.recorded[0], nodes[0])
    with pytest.raises(ReceiptError, match="is not the consumer of federated run"):
        verify_bundle(dep, Bundle(fake, domain))
    from dataclasses import replace

    other = sign_receipt(consumer, domain, replace(round_receipt(services, paid.run_id, paid.recorded[0], consumer),
                                                   output_hash=b"\x05" * 32))
    with pytest.raises(ReceiptError, match="recorded with another aggregate"):
        verify_bundle(dep, Bundle(other, domain))
    book.close()


def test_a_holder_refuses_to_train_on_while_its_round_is_unrecorded(world, monkeypatch: pytest.MonkeyPatch) -> None:
    """A consumer that records round 1 without holder 0 (who trained in it) gets no more work from
    holder 0: its ClientApp reads the chain's record (through its watcher) before round 2 and
    refuses; rounds 2 and 3 go on with the two others, and holder 0 is owed nothing it did not
    refuse."""
    import agora.data.fl_market as fl_market

    chain, dep, services, datasets, nodes = world
    consumer = chain.dev_signers[6]
    honest = fl_market._indices

    def stiff_holder_0(fl_round, labels):
        found = honest(fl_round, labels)
        return tuple(i for i in found if i != 0) if fl_round.round == 1 else found

    monkeypatch.setattr(fl_market, "_indices", stiff_holder_0)
    paid = run_paid(services, consumer, datasets, rounds=3, pay_per_round=PAY, config={"round-gate-timeout": 3.0})
    assert [r.participants for r in paid.recorded] == [(1, 2), (1, 2), (1, 2)]
    # holder 0 trained once (round 1, unpaid), then refused: Flower's log of rounds 2 and 3 lacks it
    assert paid.result is not None
    assert [sorted(r.holders) for r in paid.result.rounds[1:]] == [["partition-1", "partition-2"]] * 2
    assert [services.owed(n.address) for n in nodes] == [0, 3 * PAY, 3 * PAY]
    assert services.recorded_rounds(paid.run_id) == {1: (1, 2), 2: (1, 2), 3: (1, 2)}


RECORD_DP = {"dp-record-clip": 1.0, "dp-record-noise": 8.0, "lr": 5.0, "local-epochs": 10}


def test_a_holder_stops_when_its_privacy_budget_cannot_pay_for_the_next_round(world) -> None:
    """Dataset 0's owner cuts its budget after round 1 to less than two rounds cost: holder 0's
    ClientApp reads what is left on chain (through its gate) and refuses rounds 2 and 3."""
    from agora.data.fl_market import planned_epsilon

    chain, dep, services, datasets, nodes = world
    owner, consumer = chain.dev_signers[1], chain.dev_signers[6]
    one_round, three = planned_epsilon(RECORD_DP, 1), planned_epsilon(RECORD_DP, 3)
    assert one_round is not None and three is not None
    services.set_privacy_budget(datasets[0], three + 0.1, owner)

    def cut(r) -> None:
        if r.round == 1:
            services.set_privacy_budget(datasets[0], one_round + 0.01, owner)

    paid = run_paid(services, consumer, datasets, rounds=3, pay_per_round=PAY, config=RECORD_DP, on_round=cut)
    assert [r.participants for r in paid.recorded] == [(0, 1, 2), (1, 2), (1, 2)]
    assert paid.epsilon is not None and abs(paid.epsilon - three) < 1e-9


def test_a_run_over_a_privacy_budget_is_refused_before_escrow(world) -> None:
    chain, dep, services, datasets, nodes = world
    owner, consumer = chain.dev_signers[1], chain.dev_signers[6]
    services.set_privacy_budget(datasets[1], 2.0, owner)
    with pytest.raises(ConfigError, match=f"dataset {datasets[1]} has a privacy budget: train on it with record"):
        run_paid(services, consumer, datasets, rounds=2, pay_per_round=PAY)
    with pytest.raises(ConfigError, match=r"would spend epsilon .* of dataset \d+, which has 2 left"):
        run_paid(services, consumer, datasets, rounds=3, pay_per_round=PAY, config=RECORD_DP)
    with pytest.raises(ConfigError, match="unknown run config keys"):
        run_paid(services, consumer, datasets, rounds=1, pay_per_round=PAY, config={"dp-clipp": 1.0})
    assert services.contract.run_count() == 0


def test_a_run_needs_three_holders_with_compute_nodes(world) -> None:
    chain, dep, services, datasets, nodes = world
    consumer = chain.dev_signers[6]
    with pytest.raises(ConfigError, match="at least 3 distinct datasets"):
        run_paid(services, consumer, datasets[:2], rounds=1, pay_per_round=PAY)
    bare, _ = DataRegistry(dep).publish(chain.dev_signers[1], card=b"\x09" * 32, content_hash=b"\x0a" * 32)
    with pytest.raises(ConfigError, match=f"dataset {bare} has no compute node"):
        run_paid(services, consumer, [*datasets[:2], bare], rounds=1, pay_per_round=PAY)
    assert services.contract.run_count() == 0       # refused before anything was escrowed


def test_agora_fl_run(world, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                      agora_home) -> None:
    import json

    import agora.context as sdk_context
    from tests.integration.cli_helpers import agora, one_line_error

    chain, dep, services, datasets, nodes = world
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    ids = ",".join(map(str, datasets))
    code, out, err = agora(capsys, "--account", "6", "fl", "run", "--datasets", ids, "--rounds", "1", "--pay",
                           "0.01", "--json")
    assert code == 0, err
    view = json.loads(out)
    assert [r["participants"] for r in view["rounds"]] == [datasets] and view["refund_wei"] == 0
    assert [services.owed(n.address) for n in nodes] == [PAY] * 3
    code, _, err = agora(capsys, "--account", "6", "fl", "run", "--datasets", ids, "--engine", "cloud")
    assert code == 1 and one_line_error(err) == "error: --engine is simulation or deployment, not 'cloud'"
    code, _, err = agora(capsys, "--account", "6", "fl", "run", "--datasets", ids, "--sandbox")
    assert code == 1 and "--sandbox needs --engine deployment" in one_line_error(err)


def test_agora_fl_run_with_record_level_dp(world, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, agora_home) -> None:
    import json

    import agora.context as sdk_context
    from tests.integration.cli_helpers import agora, one_line_error

    chain, dep, services, datasets, nodes = world
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    ids = ",".join(map(str, datasets))
    code, _, err = agora(capsys, "--account", "6", "fl", "run", "--datasets", ids, "--dp-record-clip", "1")
    assert code == 1 and one_line_error(err) == "error: --dp-record-clip needs --dp-record-noise above 0"
    code, out, err = agora(capsys, "--account", "6", "fl", "run", "--datasets", ids, "--rounds", "2",
                           "--dp-record-clip", "1", "--dp-record-noise", "8", "--local-epochs", "10", "--lr", "5",
                           "--json")
    assert code == 0, err
    rounds = json.loads(out)["rounds"]
    assert 0 < rounds[0]["epsilon_record"] < rounds[1]["epsilon_record"] < 6
    view = json.loads(out)
    eps, run_id, ds = view["epsilon_record"], view["run_id"], str(datasets[0])
    assert eps == rounds[1]["epsilon_record"]
    # the holder's node records the run's ε against its dataset's budget (set by the owner), once
    assert agora(capsys, "--account", "1", "data", "budget", ds, "--set", "10")[0] == 0
    code, _, err = agora(capsys, "--account", "2", "data", "budget", ds, "--spend", str(eps))
    assert code == 1 and one_line_error(err) == "error: --spend and --run go together"
    code, out, err = agora(capsys, "--account", "2", "data", "budget", ds, "--spend", str(eps), "--run", str(run_id),
                           "--json")
    assert code == 0, err
    assert json.loads(out)["epsilon_spent"] == pytest.approx(eps, abs=1e-6)
    code, _, err = agora(capsys, "--account", "2", "data", "budget", ds, "--spend", str(eps), "--run", str(run_id))
    assert code == 1 and "already spent for this reference" in one_line_error(err)
    # and withdraws what the two rounds paid it, with the data earnings
    code, out, err = agora(capsys, "--account", "2", "data", "withdraw", "--json")
    assert code == 0, err
    assert json.loads(out)["withdrawn_wei"] == 2 * PAY and services.owed(nodes[0].address) == 0
