"""A tournament round's gas on the embedded chain (helper of the incentives benchmarks,
:mod:`agora.value.tournaments`), read from the receipts of real transactions:

* ``gas_tournament_submit``: a model's first submission (commitment + stake pulled) to a round that
  already has one, the median over the round's models after the first;
* ``gas_tournament_claim``: the median claim (Merkle proof checked, stake back, gain paid from the
  pool or loss burned) of a round of ``models`` (≥ 8) models, scored and settled honestly.

The chain holds the token and the value layer's ``Tournament`` only (deployed from the layer's
declaration, as ``deploy_protocol`` deploys them): the other layers' contracts do not change these
figures. Runnable on its own: ``python bench/_incentives_tournament.py`` prints them as JSON.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from agora.chain import Chain, connect, deploy, signer_from_key
from agora.layers import get_layer
from agora.protocol import TOKEN, Deployment, fund_account
from agora.storage import LocalStore, Storage
from agora.value.tournaments import Tournaments

ONE = 10**18
HOUR = 3_600
ROWS = 2_000


def _deploy(chain: Chain) -> Deployment:
    deployer = chain.dev_signers[0]
    start = chain.block_number()
    addresses: dict[str, str] = {}
    artifacts: dict[str, str] = {}
    for spec in [TOKEN, *(c for c in get_layer("value").contracts if c.role == "tournament")]:
        c = deploy(chain, spec.artifact, *spec.args(addresses, deployer), sender=deployer)
        addresses[spec.role], artifacts[spec.role] = c.address, spec.artifact
    return Deployment(chain, addresses, artifacts, block=start)


def measure(models: int = 12, seed: int = 0) -> dict[str, float]:
    """``gas_tournament_submit`` and ``gas_tournament_claim`` (see the module's docstring)."""
    assert models >= 8, "the claim is measured in a round of at least 8 models"
    chain = connect("embedded://")
    try:
        dep = _deploy(chain)
        resolver = chain.dev_signers[1]
        accounts = [signer_from_key("0x" + (0xA11CE + i).to_bytes(32, "big").hex()) for i in range(models)]
        for who in [resolver, *accounts]:
            fund_account(dep, who.address, tokens=10_000 * ONE, eth=10**18)
        rng = np.random.default_rng(seed)
        signal = rng.normal(size=ROWS)
        targets = np.digitize(signal + 3 * rng.normal(size=ROWS), [-3.0, -1.0, 1.0, 3.0]) / 4
        with tempfile.TemporaryDirectory() as tmp:
            t = Tournaments(dep, Storage(LocalStore(Path(tmp) / "blobs")))
            now = chain.timestamp()
            rid, _ = t.create_round(
                resolver,
                pool=1_000 * ONE,
                close_time=now + HOUR,
                reveal_deadline=now + 2 * HOUR,
                resolution_time=now + 2 * HOUR,
                settle_deadline=now + 2 * 86_400,
                stake_threshold=3_000 * ONE,
            )
            t.commit_targets(rid, targets, resolver)
            submits: list[int] = []
            for i, who in enumerate(accounts):
                dep.token.approve(t.address, 2**256 - 1, sender=who)  # the approval, outside the figure
                preds = signal * rng.uniform(-1, 1) + 2 * rng.normal(size=ROWS)
                t.submit(rid, preds, int(rng.integers(100, 1_000)) * ONE, who)
                assert t.last_receipt is not None
                if i > 0:  # the round already has a submission
                    submits.append(t.last_receipt.gas_used)
            chain.advance_time(HOUR)
            for who in accounts:
                t.reveal(rid, who)
            chain.advance_time(HOUR)
            leaves = t.resolve(rid, resolver).settlement
            chain.advance_time(int(t.contract.challenge_window()))
            claims = [t.claim(rid, who, leaves).receipt.gas_used for who in accounts]
            assert t.fetch_round(rid).paid == t.fetch_round(rid).total, "every leaf was claimed"
    finally:
        chain.close()
    return {
        "gas_tournament_submit": int(statistics.median_low(submits)),
        "gas_tournament_claim": int(statistics.median_low(claims)),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
