"""``Backoff``: how a long-lived process waits for a node that went away.

A daemon's loop calls :meth:`Backoff.failed` when a round could not reach the node and
:meth:`Backoff.succeeded` after a round that did. The waits grow exponentially (1 s, 2 s,
4 s … up to 30 s) with jitter, so a hundred daemons do not hammer a restarting node in step;
the log says once that the node is unreachable (and again only when the wait changes), and once
that it is back, after how long.

The clock, the sleep and the random source are injectable, so tests never wait.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

__all__ = ["Backoff"]

_log = logging.getLogger("agora.chain")


class Backoff:
    """Exponential back-off with jitter between ``base`` and ``cap`` seconds.

    ``sleep`` waits (a daemon passes its stop event's ``wait`` so a stop ends the wait);
    ``clock`` is monotonic seconds; ``jitter`` is the largest fraction added at random to
    each wait (0.2: up to 20 % longer).
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 30.0,
        jitter: float = 0.2,
        what: str = "node",
        log: logging.Logger | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("Backoff needs 0 < base <= cap")
        self.base, self.cap, self.jitter, self.what = base, cap, jitter, what
        self.log = log or _log
        self._sleep, self._clock, self._rand = sleep, clock, rand
        self.failures = 0
        self._since: float | None = None
        self._said: float | None = None

    @property
    def failing(self) -> bool:
        """Whether the last round failed (the node is, as far as we know, unreachable)."""
        return self._since is not None

    def next_delay(self) -> float:
        """The wait after the current number of failures, before jitter (``base`` × 2ⁿ, at most ``cap``)."""
        return float(min(self.cap, self.base * 2.0 ** max(0, self.failures - 1)))

    def failed(self, error: object = None) -> float:
        """Note a failed round, log it if the wait changed, wait, and return the seconds waited."""
        if self._since is None:
            self._since = self._clock()
        self.failures += 1
        delay = self.next_delay()
        if delay != self._said:
            why = f" ({error})" if error is not None else ""
            self.log.warning("%s unreachable%s, retrying in %s s", self.what, why, _secs(delay))
            self._said = delay
        waited = delay * (1.0 + self.jitter * self._rand())
        self._sleep(waited)
        return waited

    def succeeded(self) -> None:
        """Note a round that reached the node: log the recovery once, and start again from ``base``."""
        if self._since is not None:
            self.log.warning("%s is back after %s s", self.what, _secs(self._clock() - self._since))
        self.reset()

    def run(
        self,
        step: Callable[[], object],
        stop: threading.Event,
        interval: Callable[[], float],
        until: Callable[[], bool] | None = None,
    ) -> None:
        """A daemon's loop: ``step()`` until ``stop`` is set (or ``until()``), waiting ``interval()``
        seconds after each round that reached the node, and backing off after each that raised
        :class:`~agora.errors.ChainError` (the node away). Other errors end the loop."""
        from agora.errors import ChainError

        while not stop.is_set() and not (until and until()):
            try:
                step()
            except ChainError as exc:
                self.failed(exc)
                continue
            self.succeeded()
            stop.wait(interval())

    def reset(self) -> None:
        """Forget past failures (the next failure waits ``base`` again)."""
        self.failures = 0
        self._since = None
        self._said = None


def _secs(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}".removesuffix(".0")
