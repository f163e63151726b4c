"""What the stateful (``RuleBasedStateMachine``) tests share: settings that make a run
reproducible, and reproducible addresses.

Not a test module. A stateful test guards its own strength (enough steps ran, the rare
paths were reached), so its coverage must not depend on luck or on which tests ran
before it in the same worker:

* ``derandomize=True``: hypothesis seeds its draws from the test, not from the clock.
* :func:`run_reproducibly`: hypothesis also mixes into its draws the literal constants
  of every local (non-test) module loaded in the process, so the examples of a
  derandomized test still depend on which ``src/`` modules earlier tests imported in
  the same xdist worker, and on their contents. While a machine runs, that pool is
  empty.
* :func:`fixed_addresses`: ``boa.env.generate_address`` draws from one process-wide
  random stream, so the addresses a module gets (and the order of anything sorted by
  address) depend on how many addresses earlier tests took; inside this context the
  stream is seeded by name.

The chain itself is pinned by the fixtures (timestamp, block hashes), and nothing a
machine does depends on the order of a set of strings. So each run plays the same
sequences of rules and the coverage guards see the same counts every time (for a
given hypothesis version). A change to a machine's rules or strategies changes the
sequences it plays, and its guards say at once whether they still reach the rare paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boa
from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture import providers
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test


def stateful_settings(max_examples: int, steps: int) -> settings:
    """``max_examples`` examples of up to ``steps`` steps each, the same ones on every run."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def run_reproducibly(factory: Callable[[], RuleBasedStateMachine], settings_: settings) -> None:
    """``run_state_machine_as_test``, with no source constants mixed into the draws."""
    # Private hypothesis API (there is no public switch): if it moves, this fails loudly
    # here rather than letting the runs drift apart again.
    saved = providers._get_local_constants
    providers._get_local_constants = providers.Constants
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        run_state_machine_as_test(factory, settings=settings_)
    finally:
        providers._get_local_constants = saved
        providers.CONSTANTS_CACHE.cache.clear()


@contextmanager
def fixed_addresses(seed: str) -> Iterator[None]:
    """Within the block, ``boa.env.generate_address`` gives the same addresses on every run."""
    saved = boa.env._random
    boa.env.set_random_seed(seed)
    try:
        yield
    finally:
        boa.env._random = saved


class CountingMachine(RuleBasedStateMachine):
    """A machine that counts what its rules reached (``self.dep.stats``, a Counter its coverage
    guards read) and runs calls that must succeed or revert with a given reason."""

    dep: Any

    def _count(self, what: str) -> None:
        self.dep.stats[what] += 1

    def _expect(self, reason: str | None, fn: Callable[..., Any], *args: Any, who: str) -> Any:
        """``fn(*args)`` sent by ``who``: its result when ``reason`` is None; else it must revert
        with ``reason``, which is counted as ``"revert: <reason>"``."""
        if reason is None:
            with boa.env.prank(who):
                return fn(*args)
        with boa.reverts(reason), boa.env.prank(who):
            fn(*args)
        self._count(f"revert: {reason}")
        return None
