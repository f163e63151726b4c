"""A requester's side of a job's money on the embedded chain: the quote before posting, timing out
a job whose providers went silent (refused, one line, while it is not overdue or not yours), and
taking the refund back."""

from __future__ import annotations

from pathlib import Path

import pytest

from agora.chain import connect
from agora.compute import ComputeClient, JobState, Market, Policy
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads import build_digits_model, digits_inputs

pytestmark = pytest.mark.slow

PRICE = 10**15


def test_quote_then_timeout_a_silent_job_and_withdraw_its_refund(tmp_path: Path) -> None:
    chain = connect("embedded://")
    market = Market(deploy_devnet(chain))
    storage = Storage(LocalStore(tmp_path / "blobs"))
    silent = chain.dev_signers[1]  # registered, runs no daemon: never commits
    market.register(silent, kinds=[1], price=PRICE, stake=1_000 * 10**18)
    me, other = chain.dev_signers[9], chain.dev_signers[8]
    requester = ComputeClient(market, storage, me)

    spec = requester.build_spec("onnx-classify", build_digits_model(), digits_inputs(4),
                                policy=Policy.audit(0.1), price_per_unit=PRICE)
    quote = requester.quote(spec)
    assert (quote.units, quote.items, quote.executions) == (4, 1, 3)  # worker, auditor, tie-breaker
    assert quote.escrow == PRICE * 4 * 3 and quote.fee == int(market.contract.min_fee())
    assert quote.total == quote.escrow + quote.fee and quote.balance == 0
    balance = int(market.token.balanceOf(me.address))
    job = requester.post(spec)
    assert int(market.token.balanceOf(me.address)) == balance - quote.total
    assert job.status().state == JobState.ASSIGNED

    with pytest.raises(ConfigError, match=rf"job {job.id} is assigned and not overdue: its window ends at .* UTC \(in"):
        requester.time_out(job.id)
    with pytest.raises(ConfigError, match=rf"job {job.id} was posted by {me.address}, not by {other.address}"):
        ComputeClient(market, storage, other).time_out(job.id)

    chain.advance_time(int(market.contract.commit_window()) + 1)
    outcome = requester.time_out(job.id)  # nobody else serves the kind: refunded
    assert outcome.before.state == JobState.ASSIGNED and outcome.refunded
    assert outcome.owed == requester.owed() == quote.escrow
    with pytest.raises(ConfigError, match=rf"job {job.id} is already refunded; nothing to time out"):
        requester.time_out(job.id)
    assert requester.withdraw() == quote.escrow
    assert requester.owed() == 0 and requester.withdraw() == 0
    assert int(market.token.balanceOf(me.address)) == balance - quote.fee
