"""The tournament story of the value chapter of ``agora demo``: one staked prediction round, as
Numerai runs them, settled on chain.

A creator funds a round's reward pool and is its resolver: it commits to the targets of 2,000
synthetic rows (a seeded generator: a hidden signal plus noise, on Numerai's five buckets). Four
models stake on their predictions and commit to them: a good one (the signal plus noise), pure
noise, an anti-correlated one and a copy of the good one. After the close they reveal; at the
resolution time the resolver reveals the targets, scores the round (CORR, MMC against the
stake-weighted meta model, payout = stake × clip(factor × (0.5·CORR + 2·MMC), ±5%)) and posts the
settlement root with its bond. The challenge window passes, every model claims its leaf (gains from
the pool, losses burned), the unused pool and the bond are released, and the books are reconciled
to the wei: pool + stakes in == claims out + burns + pool returned + pool left. Every step asserts
what it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agora.chain import Chain, Signer
from agora.errors import AgoraError
from agora.protocol import Deployment, fund_account
from agora.storage import Storage
from agora.value.tournament import payout
from agora.value.tournaments import Tournaments, is_within_band, payout_wei

__all__ = ["STORY_ROWS", "STORY_STAKES", "STORY_THRESHOLD", "TournamentDemoFailed", "tournament_story"]

_ONE = 10**18
#: Rows of the synthetic round.
STORY_ROWS = 2_000
#: Each model's stake (wei): good, noise, anti-correlated, a copy of good.
STORY_STAKES = (1_000 * _ONE, 800 * _ONE, 600 * _ONE, 400 * _ONE)
#: The round's reward pool (wei).
STORY_POOL = 100 * _ONE
#: The round's stake threshold (wei): Numerai's 72,000 scaled to the story's stakes, so that the
#: payout factor (min(1, threshold / at risk)) shows.
STORY_THRESHOLD = 300 * _ONE
_NAMES = ("good", "noise", "anti-correlated", "copy of good")
_HOUR = 3_600


class TournamentDemoFailed(AgoraError):
    """A tournament demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise TournamentDemoFailed(f"demo check failed: {what}")


def build_story_data(rows: int = STORY_ROWS, seed: int = 7) -> tuple[np.ndarray, list[np.ndarray]]:
    """The story's targets (on Numerai's buckets 0, 0.25 … 1) and the four models' predictions."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    targets = np.digitize(signal + 3 * rng.normal(size=rows), [-3.0, -1.0, 1.0, 3.0]) / 4
    good = signal + 2 * rng.normal(size=rows)
    noise = rng.normal(size=rows)
    anti = -signal + 2 * rng.normal(size=rows)
    return targets, [good, noise, anti, good.copy()]


def tournament_story(
    chain: Chain,
    dep: Deployment,
    storage: Storage,
    step: Callable[[str], None] = lambda _m: None,
    *,
    resolver: Signer | None = None,
    models: list[Signer] | None = None,
) -> dict[str, Any]:
    """Run the story on ``dep`` (a devnet: it mints the stakes and moves the clock); return its
    summary. ``resolver`` creates, funds and resolves the round (default dev account 4); ``models``
    are the four models' accounts (default dev accounts 5, 6, 8, 9)."""
    s = chain.dev_signers
    resolver = resolver or s[4]
    models = models or [s[5], s[6], s[8], s[9]]
    _check(len(models) == 4, "four models")
    t = Tournaments(dep, storage)
    token = dep.token
    for who in [resolver, *models]:
        fund_account(dep, who.address, tokens=10_000 * _ONE)

    targets, predictions = build_story_data()
    step("a tournament round: four models stake on their predictions of 2,000 rows")
    held0, supply0 = int(token.balanceOf(t.address)), int(token.totalSupply())
    before = {w.address: int(token.balanceOf(w.address)) for w in [resolver, *models]}
    now = chain.timestamp()
    round_id, _ = t.create_round(
        resolver,
        pool=STORY_POOL,
        close_time=now + _HOUR,
        reveal_deadline=now + 2 * _HOUR,
        resolution_time=now + 2 * _HOUR,
        settle_deadline=now + 2 * 86_400,
        stake_threshold=STORY_THRESHOLD,
    )
    targets_cid = t.commit_targets(round_id, targets, resolver)
    submit_gas: list[int] = []
    for who, preds, stake in zip(models, predictions, STORY_STAKES, strict=True):
        sub = t.submit(round_id, preds, stake, who)
        _check(sub.stake == stake and sub.state == 1, "each commitment is staked")
        assert t.last_receipt is not None
        submit_gas.append(t.last_receipt.gas_used)
    _check(
        int(token.balanceOf(t.address)) - held0 == STORY_POOL + sum(STORY_STAKES),
        "the contract holds the pool and every stake",
    )

    step("the round closes; the models reveal, the resolver reveals the targets")
    chain.advance_time(_HOUR)
    for who in models:
        t.reveal(round_id, who)
    chain.advance_time(_HOUR)

    step("scoring the round (CORR, MMC against the stake-weighted meta model) and posting its root")
    posted = t.resolve(round_id, resolver)
    scores = t.score(round_id)
    settlement = posted.settlement
    _check(
        scores.settlement == settlement and scores.targets_cid == targets_cid,
        "the posted settlement is the one the public data give",
    )
    info = t.fetch_round(round_id)
    _check(info.root == settlement.root and info.revealed_stake == sum(STORY_STAKES), "the root is on chain")
    rows = scores.rows
    good, noise, anti, copy = rows
    _check(good.corr is not None and good.corr > 0.05, "the good model correlates with the targets")
    _check(anti.corr is not None and anti.corr < -0.05, "the anti-correlated model anti-correlates")
    _check(noise.corr is not None and abs(noise.corr) < 0.05, "the noise model scores about nothing")
    _check(copy.corr == good.corr and copy.mmc == good.mmc, "the copy scores exactly what it copies")
    at_risk = sum(STORY_STAKES)
    for r in rows:
        assert r.corr is not None and r.mmc is not None
        exact = payout_wei(r.stake, r.corr, r.mmc, at_risk, STORY_THRESHOLD)
        as_float = payout(r.stake / _ONE, r.corr, r.mmc, at_risk / _ONE, STORY_THRESHOLD / _ONE) * _ONE
        _check(
            r.payout == exact and abs(r.payout - as_float) <= r.stake // 10**12,
            "each payout is payout(stake, CORR, MMC, at risk) in wei",
        )
        _check(r.amount == r.stake + r.payout and is_within_band(r.amount, r.stake), "each leaf is in the band")
    _check(
        good.payout > 0
        and copy.payout * good.stake == good.payout * copy.stake
        and anti.payout < 0
        and noise.payout < good.payout,
        "good and its copy earn alike per stake; the anti-correlated one burns",
    )
    _check(
        settlement.pool_used == sum(r.gain for r in rows) <= STORY_POOL
        and settlement.burn == sum(r.burned for r in rows),
        "the totals are the leaves'",
    )

    step("the challenge window passes; every model claims its leaf")
    chain.advance_time(int(t.contract.challenge_window()))
    claims = []
    claim_gas: list[int] = []
    for who, r in zip(models, rows, strict=True):
        c = t.claim(round_id, who)
        _check(c.paid == r.amount and c.burned == max(0, r.stake - r.amount), "each claim pays its leaf")
        claims.append(c)
        claim_gas.append(c.receipt.gas_used)
    to_creator, to_resolver = t.release(round_id, resolver)
    _check(
        to_creator == STORY_POOL - settlement.pool_used and to_resolver == posted.bond,
        "the unused pool returns to the creator, the bond to the resolver",
    )

    step("reconciling the books to the wei")
    paid, burned = sum(c.paid for c in claims), sum(c.burned for c in claims)
    left = t.fetch_round(round_id).pool
    _check(
        STORY_POOL + sum(STORY_STAKES) == paid + burned + to_creator + left,
        "pool + stakes == claims + burns + pool returned + pool left",
    )
    _check(int(token.balanceOf(t.address)) == held0, "the contract holds nothing more of the round")
    _check(supply0 - int(token.totalSupply()) == burned == settlement.burn, "the burns left the supply")
    for who, r in zip(models, rows, strict=True):
        _check(
            int(token.balanceOf(who.address)) - before[who.address] == r.payout,
            "each model's balance moved by its payout",
        )
    _check(
        int(token.balanceOf(resolver.address)) - before[resolver.address] == -settlement.pool_used,
        "the creator paid exactly the gains",
    )
    return {
        "round": round_id,
        "rows": STORY_ROWS,
        "pool_wei": STORY_POOL,
        "stake_threshold_wei": STORY_THRESHOLD,
        "payout_factor": scores.payout_factor,
        "targets_cid": targets_cid,
        "root": "0x" + settlement.root.hex(),
        "leaves_cid": posted.leaves_cid,
        "bond_wei": posted.bond,
        "models": [
            {
                "name": name,
                "account": r.account,
                "stake_wei": r.stake,
                "corr": r.corr,
                "mmc": r.mmc,
                "payout_wei": r.payout,
                "paid_wei": c.paid,
                "burned_wei": c.burned,
            }
            for name, r, c in zip(_NAMES, rows, claims, strict=True)
        ],
        "pool_used_wei": settlement.pool_used,
        "burned_wei": burned,
        "claimed_wei": paid,
        "pool_returned_wei": to_creator,
        "pool_left_wei": left,
        "gas_submit": sorted(submit_gas)[len(submit_gas) // 2],
        "gas_claim": sorted(claim_gas)[len(claim_gas) // 2],
        "reconciled": True,
    }
