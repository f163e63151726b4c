"""``agora.chain.Backoff``: exponential waits with jitter, capped; one log line per change and one on
recovery; and the provider daemon waits through it when the node goes away. A fake clock and sleep:
nothing here waits."""

from __future__ import annotations

import logging

import pytest

from agora.chain import Backoff
from agora.errors import NodeUnreachable


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make(t: FakeTime, rand: float = 0.0, **kw: float) -> Backoff:
    return Backoff(sleep=t.sleep, clock=t.clock, rand=lambda: rand, log=logging.getLogger("test.backoff"), **kw)


def test_waits_double_from_one_second_up_to_thirty() -> None:
    t = FakeTime()
    b = make(t)
    for _ in range(8):
        b.failed()
    assert t.slept == [1, 2, 4, 8, 16, 30, 30, 30]
    assert b.failing


def test_jitter_makes_a_wait_at_most_a_fifth_longer() -> None:
    t = FakeTime()
    b = make(t, rand=0.999)
    assert b.failed() == pytest.approx(1.2, abs=0.001)
    assert b.failed() == pytest.approx(2.4, abs=0.001)


def test_success_starts_again_from_the_base() -> None:
    t = FakeTime()
    b = make(t)
    b.failed(), b.failed(), b.failed()
    b.succeeded()
    assert not b.failing and b.failures == 0
    b.failed()
    assert t.slept[-1] == 1
    b.reset()
    assert b.next_delay() == 1


def test_logs_once_per_change_and_once_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    b = make(t, base=1, cap=2)
    with caplog.at_level(logging.INFO, logger="test.backoff"):
        b.succeeded()  # nothing failed: nothing to say
        for _ in range(5):
            b.failed(NodeUnreachable("cannot reach the node"))
        b.succeeded()
        b.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "node unreachable (cannot reach the node), retrying in 1 s",
        "node unreachable (cannot reach the node), retrying in 2 s",
        "node is back after 9 s",  # 1 + 2 + 2 + 2 + 2 seconds of waiting
    ]


def test_refuses_a_base_above_the_cap() -> None:
    with pytest.raises(ValueError):
        Backoff(base=5, cap=1)


def test_the_provider_daemon_backs_off_while_the_node_is_away() -> None:
    from agora.compute.provider import ProviderDaemon

    t = FakeTime()
    rounds = iter([NodeUnreachable("down"), NodeUnreachable("down"), NodeUnreachable("down"), None, None])
    class LoopOnly(ProviderDaemon):
        next_block = 0  # type: ignore[assignment]  # no state file here

    daemon = LoopOnly.__new__(LoopOnly)  # the loop only: no chain, no state file
    daemon.backoff = make(t)
    daemon._running = {}
    daemon.poll_interval = 0.0
    daemon.address = "0x0000000000000000000000000000000000000001"
    done: list[bool] = []

    class Stop:
        def is_set(self) -> bool:
            return bool(done)

        def wait(self, seconds: float) -> bool:
            return bool(done)

    def step() -> None:
        outcome = next(rounds, None)
        if outcome is None:
            done.append(True)
            return
        raise outcome

    daemon._stop = Stop()  # type: ignore[assignment]
    daemon.step = step  # type: ignore[method-assign]
    daemon.close = lambda grace=0.0: None  # type: ignore[method-assign]
    daemon.run()
    assert t.slept == [1, 2, 4]
    assert not daemon.backoff.failing
