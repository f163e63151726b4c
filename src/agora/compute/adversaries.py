"""Misbehaving providers, for tests, the demo and benchmarks — never for the product path.

Each is a :class:`~agora.compute.provider.ProviderDaemon` with one habit
changed, so it speaks the real protocol to the real contracts and the
protocol has to catch it:

- :class:`WrongOutputProvider` skips the work on a fraction of its jobs and
  returns garbage (saving the compute, which is why cheating tempts);
- :class:`StallingProvider` takes jobs and never commits;
- :class:`CopyingProvider` commits a guess, then tries to reveal a result
  another provider revealed (commit-reveal makes the reveal fail);
- :class:`CrashingProvider` dies (``os._exit``) right after a chosen step.

``python -m agora.compute.adversaries --behavior wrong --rate 1`` runs one
as a process, configured like ``agora provider run`` (AGORA_CHAIN,
AGORA_ACCOUNT, AGORA_HOME …).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from eth_utils import keccak

from agora.compute.execution import Outcome
from agora.compute.provider import ProviderDaemon, WorkItem, daemon_db_path

__all__ = [
    "WrongOutputProvider",
    "StallingProvider",
    "CopyingProvider",
    "CrashingProvider",
    "cheats_on",
    "BEHAVIORS",
]


def cheats_on(address: str, job_id: int, rate: float) -> bool:
    """Whether a provider cheating at ``rate`` cheats on ``job_id`` (deterministic, uniform)."""
    if rate >= 1:
        return True
    draw = int.from_bytes(keccak(address.lower().encode() + job_id.to_bytes(32, "big"))[:8], "big")
    return draw / 2**64 < rate


class WrongOutputProvider(ProviderDaemon):
    """Returns a made-up result, without computing, on ``rate`` of its jobs."""

    def __init__(self, *args: Any, rate: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate = rate
        self.cheated: set[int] = set()

    def execute(self, item: WorkItem, posted: tuple[Any, ...]) -> Outcome:
        """Skip the work and invent a result on the jobs it cheats on."""
        if not cheats_on(self.address, item.job_id, self.rate):
            return super().execute(item, posted)
        self.cheated.add(item.job_id)
        fake = b"agora-result/1 forged 0\n" + keccak(self.address.encode() + item.job_id.to_bytes(32, "big"))
        return Outcome(keccak(fake), self.storage.put(fake), [fake])


class StallingProvider(ProviderDaemon):
    """Accepts assignments and never commits."""

    def should_commit(self, item: WorkItem) -> bool:
        """Never."""
        return False


class CopyingProvider(ProviderDaemon):
    """Commits without working, then tries to reveal someone else's revealed digest."""

    def execute(self, item: WorkItem, posted: tuple[Any, ...]) -> Outcome:
        """A placeholder: the copier has nothing of its own."""
        guess = b"copy of job %d" % item.job_id
        return Outcome(keccak(guess), self.storage.put(guess), [guess])

    def reveal_digest(self, item: WorkItem) -> bytes:
        """Another provider's revealed digest for this job, if one is visible yet."""
        for ev in self.market.contract.get_events("Revealed", self.market.dep.block):
            if ev.args["job_id"] == item.job_id and ev.args["provider"] != self.address:
                return bytes(ev.args["digest"])
        return super().reveal_digest(item)


class CrashingProvider(ProviderDaemon):
    """Dies (``os._exit(3)``) the first time one of its jobs reaches ``crash_after``
    (``computed`` or ``committed``)."""

    def __init__(self, *args: Any, crash_after: str = "committed", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_after = crash_after

    def _update(self, item: WorkItem, status: str, **fields: Any) -> None:
        super()._update(item, status, **fields)
        if status == self.crash_after:
            logging.getLogger("agora.provider").warning('{"event":"crashing","job":%d}', item.job_id)
            os._exit(3)


BEHAVIORS = {
    "wrong": WrongOutputProvider,
    "stall": StallingProvider,
    "copy": CopyingProvider,
    "crash": CrashingProvider,
}


def main(argv: list[str] | None = None) -> int:
    """Run one adversary as a process (see the module docstring)."""
    from agora.compute.market import Market
    from agora.context import Context

    ap = argparse.ArgumentParser(prog="python -m agora.compute.adversaries")
    ap.add_argument("--behavior", choices=sorted(BEHAVIORS), required=True)
    ap.add_argument("--rate", type=float, default=1.0, help="wrong: share of jobs to cheat on")
    ap.add_argument("--crash-after", default="committed", choices=["computed", "committed"])
    ap.add_argument("--poll", type=float, default=0.1)
    args = ap.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    client = Context()
    signer = client.require_signer()
    kwargs: dict[str, Any] = {"poll_interval": args.poll}
    if args.behavior == "wrong":
        kwargs["rate"] = args.rate
    if args.behavior == "crash":
        kwargs["crash_after"] = args.crash_after
    daemon = BEHAVIORS[args.behavior](
        Market(client.deployment), signer, client.storage,
        daemon_db_path(client.state_dir("compute"), signer.address), **kwargs,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: daemon.stop())
    daemon.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
