"""Tournaments on the embedded chain, through :class:`agora.value.tournaments.Tournaments`: the demo's
four-model round with payouts checked against ``payout()`` and the books reconciled to the wei;
copying the crowd earns little (MMC); a late submission refused; an unrevealed stake burned;
predictions revealed that do not match the commitment refused, and a restarted client revealing
from its kept salt; a resolver that never reveals (every stake refunded, the pool returned); a bad
root disputed, then the honest one posted and paid.

One chain for the module, with only the contracts the flow touches (the token and the value
layer's ``tournament``, deployed from the layer's declaration); each test plays its own round.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from agora.chain import Chain, Signer, connect, deploy
from agora.errors import ConfigError, Reverted
from agora.layers import get_layer
from agora.protocol import TOKEN, Deployment, fund_account
from agora.storage import LocalStore, Storage
from agora.value.demo_tournament import STORY_STAKES, STORY_THRESHOLD, build_story_data, tournament_story
from agora.value.tournament import meta_model, mmc, numerai_corr, payout, score_round
from agora.value.tournaments import (
    SUB_BURNED,
    SUB_REFUNDED,
    Settlement,
    Tournaments,
    floor_amount,
    is_within_band,
    payout_wei,
)

ONE = 10**18
HOUR = 3_600


def deploy_tournament(chain: Chain) -> Deployment:
    """The token and the value layer's Tournament, as ``deploy_protocol`` deploys them."""
    deployer = chain.dev_signers[0]
    start = chain.block_number()
    addresses: dict[str, str] = {}
    artifacts: dict[str, str] = {}
    specs = [TOKEN, *(c for c in get_layer("value").contracts if c.role == "tournament")]
    for spec in specs:
        c = deploy(chain, spec.artifact, *spec.args(addresses, deployer), sender=deployer)
        addresses[spec.role], artifacts[spec.role] = c.address, spec.artifact
    return Deployment(chain, addresses, artifacts, block=start)


@dataclass
class World:
    chain: Chain
    dep: Deployment
    storage: Storage
    home: Path

    @property
    def s(self) -> list[Signer]:
        return self.chain.dev_signers

    def client(self, state: str | None = None) -> Tournaments:
        return Tournaments(self.dep, self.storage, state=self.home / state if state else None)

    def open_round(
        self,
        t: Tournaments,
        resolver: Signer,
        targets: np.ndarray,
        *,
        pool: int = 100 * ONE,
        threshold: int = STORY_THRESHOLD,
        settle: int = 2 * 86_400,
    ) -> int:
        now = self.chain.timestamp()
        rid, _ = t.create_round(
            resolver,
            pool=pool,
            close_time=now + HOUR,
            reveal_deadline=now + 2 * HOUR,
            resolution_time=now + 2 * HOUR,
            settle_deadline=now + settle,
            stake_threshold=threshold,
        )
        t.commit_targets(rid, targets, resolver)
        return rid

    def balance(self, who: str) -> int:
        return int(self.dep.token.balanceOf(who))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chain = connect("embedded://")
    dep = deploy_tournament(chain)
    for w in chain.dev_signers[1:]:
        fund_account(dep, w.address, tokens=100_000 * ONE)
    home = tmp_path_factory.mktemp("tournament")
    yield World(chain, dep, Storage(LocalStore(home / "blobs")), home)
    chain.close()


def test_four_models_paid_and_burned_by_their_scores(world: World) -> None:
    story = tournament_story(world.chain, world.dep, world.storage)  # asserts every step itself
    assert story["reconciled"] is True
    # the scores again, model by model with the per-model functions, and the payouts with payout()
    targets, predictions = build_story_data()
    meta = meta_model(np.stack(predictions), np.array(STORY_STAKES) / ONE)
    at_risk = sum(STORY_STAKES)
    paid = burned = 0
    for m, preds, stake in zip(story["models"], predictions, STORY_STAKES, strict=True):
        corr, contribution = numerai_corr(preds, targets), mmc(preds, meta, targets)
        assert m["corr"] == pytest.approx(corr, abs=1e-12) and m["mmc"] == pytest.approx(contribution, abs=1e-12)
        tokens = payout(stake / ONE, m["corr"], m["mmc"], at_risk / ONE, STORY_THRESHOLD / ONE)
        assert m["payout_wei"] == payout_wei(stake, m["corr"], m["mmc"], at_risk, STORY_THRESHOLD)
        assert abs(m["payout_wei"] - tokens * ONE) <= stake // 10**12
        assert m["paid_wei"] - stake == m["payout_wei"] and m["burned_wei"] == max(0, -m["payout_wei"])
        paid, burned = paid + m["paid_wei"], burned + m["burned_wei"]
    good, noise, anti, copy = story["models"]
    assert good["payout_wei"] > 0 > anti["payout_wei"] and noise["payout_wei"] < good["payout_wei"]
    assert anti["payout_wei"] == -STORY_STAKES[2] // 20  # clipped at -5%
    assert copy["payout_wei"] * STORY_STAKES[0] == good["payout_wei"] * STORY_STAKES[3]  # the same per stake
    # pool + stakes in == claims out + burns + pool returned + pool left
    assert story["pool_wei"] + sum(STORY_STAKES) == paid + burned + story["pool_returned_wei"] + story["pool_left_wei"]
    assert story["pool_used_wei"] == paid - sum(STORY_STAKES) + burned


def test_copying_the_crowd_earns_little(world: World) -> None:
    """A model that submits the meta model of the others has the best CORR and no MMC; an original
    model (a signal the crowd lacks) earns several times more."""
    rng = np.random.default_rng(11)
    n = 2_000
    s1, s2 = rng.normal(size=n), rng.normal(size=n)
    targets = np.digitize(s1 + s2 + 3 * rng.normal(size=n), [-3.0, -1.0, 1.0, 3.0]) / 4
    crowd = [s1 + 2 * rng.normal(size=n) for _ in range(3)]
    original = s2 + 2 * rng.normal(size=n)
    copy = meta_model(np.stack(crowd), np.ones(3))
    s, t = world.s, world.client()
    rid = world.open_round(t, s[1], targets, threshold=500 * ONE)
    models = [s[2], s[3], s[4], s[5], s[6]]
    for who, preds in zip(models, [*crowd, original, copy], strict=True):
        t.submit(rid, preds, 1_000 * ONE, who)
    world.chain.advance_time(HOUR)
    for who in models:
        t.reveal(rid, who)
    world.chain.advance_time(HOUR)
    t.reveal_targets(rid, s[1])
    rows = t.score(rid).rows
    orig_row, copy_row = rows[3], rows[4]
    assert copy_row.corr is not None and orig_row.corr is not None
    assert copy_row.corr > max(r.corr or 0 for r in rows[:4])  # the ensemble correlates best…
    assert copy_row.mmc is not None and orig_row.mmc is not None
    assert abs(copy_row.mmc) < 0.05 < orig_row.mmc  # …but contributes nothing the crowd lacks
    assert orig_row.payout > 3 * copy_row.payout > 0
    corr, contribution = score_round(np.stack([*crowd, original, copy]), np.ones(5), targets)
    assert [r.payout for r in rows] == [
        payout_wei(1_000 * ONE, float(c), float(m), 5_000 * ONE, 500 * ONE)
        for c, m in zip(corr, contribution, strict=True)
    ]


def test_a_late_submission_is_refused(world: World) -> None:
    s, t = world.s, world.client()
    targets, (good, *_) = build_story_data()
    rid = world.open_round(t, s[1], targets)
    t.submit(rid, good, 10 * ONE, s[2])
    world.chain.advance_time(HOUR)
    before = world.balance(s[3].address)
    with pytest.raises(ConfigError, match="is closed: submissions are taken before its close time"):
        t.submit(rid, good, 10 * ONE, s[3])
    t.dep.token.approve(t.address, 10 * ONE, sender=s[3])
    with pytest.raises(Reverted, match="Tournament: round closed"):  # and the contract, asked directly
        t.contract.submit(rid, b"\x01" * 32, 10 * ONE, sender=s[3])
    assert world.balance(s[3].address) == before and t.fetch_round(rid).submissions == 1


def test_an_unrevealed_stake_is_burned(world: World) -> None:
    s, t = world.s, world.client()
    targets, (good, noise, *_) = build_story_data()
    rid = world.open_round(t, s[1], targets)
    t.submit(rid, good, 50 * ONE, s[2])
    t.submit(rid, noise, 30 * ONE, s[3])  # never revealed
    world.chain.advance_time(HOUR)
    t.reveal(rid, s[2])
    world.chain.advance_time(HOUR)
    with pytest.raises(ConfigError, match="reveals closed: the stake will be burned"):
        t.reveal(rid, s[3])
    supply = int(world.dep.token.totalSupply())
    assert t.burn_unrevealed(rid, s[3].address, s[4]) == 30 * ONE  # anyone may
    assert supply - int(world.dep.token.totalSupply()) == 30 * ONE
    assert t.fetch_submission(rid, s[3].address).state == SUB_BURNED
    posted = t.resolve(rid, s[1])
    assert posted.settlement.leaves[1] == (s[3].address, 0)  # its leaf returns nothing
    world.chain.advance_time(86_400)
    with pytest.raises(ConfigError, match="has no revealed submission"):
        t.claim(rid, s[3])
    assert t.claim(rid, s[2]).paid == posted.settlement.leaves[0][1]


def test_a_reveal_that_does_not_match_the_commit_is_refused(world: World) -> None:
    s = world.s
    t = world.client("model.sqlite")
    targets, (good, noise, *_) = build_story_data()
    rid = world.open_round(t, s[1], targets)
    t.submit(rid, good, 10 * ONE, s[2])
    t.close()
    world.chain.advance_time(HOUR)
    other = world.client()  # no salt kept here
    with pytest.raises(ConfigError, match="no salt is kept here"):
        other.reveal(rid, s[2])
    other_cid = world.storage.put(b"[1, 2, 3]")
    with pytest.raises(Reverted, match="Tournament: reveal does not match commit"):
        other.reveal(rid, s[2], cid=other_cid, salt=b"\x00" * 32)
    restarted = world.client("model.sqlite")  # the same state file: the salt survived the restart
    restarted.reveal(rid, s[2])
    assert restarted.fetch_submission(rid, s[2].address).predictions_cid is not None
    with pytest.raises(ConfigError, match="is already revealed"):
        restarted.reveal(rid, s[2])


def test_a_resolver_that_never_reveals_refunds_every_stake(world: World) -> None:
    s, t = world.s, world.client()
    targets, (good, noise, *_) = build_story_data()
    creator_before = world.balance(s[1].address)
    rid = world.open_round(t, s[1], targets, pool=40 * ONE, settle=3 * HOUR)
    stakes = {s[2].address: 70 * ONE, s[3].address: 20 * ONE}
    before = {a: world.balance(a) for a in stakes}
    t.submit(rid, good, 70 * ONE, s[2])
    t.submit(rid, noise, 20 * ONE, s[3])
    world.chain.advance_time(HOUR)
    t.reveal(rid, s[2])
    t.reveal(rid, s[3])
    with pytest.raises(ConfigError, match="has not failed"):
        t.refund(rid, s[2])
    world.chain.advance_time(2 * HOUR)  # the settle deadline passes: no targets, no root
    info = t.fetch_round(rid)
    assert info.failed and info.phase(world.chain.timestamp()) == "failed"
    with pytest.raises(ConfigError, match="past its settle deadline"):
        t.reveal_targets(rid, s[1])
    for who in (s[2], s[3]):
        c = t.refund(rid, who)
        assert c.paid == stakes[who.address] and c.burned == 0
        assert world.balance(who.address) == before[who.address]
        assert t.fetch_submission(rid, who.address).state == SUB_REFUNDED
    with pytest.raises(Reverted, match="Tournament: already settled"):
        t.refund(rid, s[2])
    assert t.release(rid, s[5]) == (40 * ONE, 0)
    assert world.balance(s[1].address) == creator_before


def test_a_bad_root_is_disputed_then_the_honest_one_paid(world: World) -> None:
    s, t = world.s, world.client()
    targets, (good, noise, anti, _) = build_story_data()
    rid = world.open_round(t, s[1], targets)
    for who, preds, stake in ((s[2], good, 100 * ONE), (s[3], noise, 100 * ONE), (s[4], anti, 100 * ONE)):
        t.submit(rid, preds, stake, who)
    world.chain.advance_time(HOUR)
    for who in (s[2], s[3], s[4]):
        t.reveal(rid, who)
    world.chain.advance_time(HOUR)
    t.reveal_targets(rid, s[1])
    honest = t.score(rid).settlement
    # the resolver moves 12 AGR from model 1's leaf to model 2's (a friend's): the totals still add up,
    # but both leaves leave the band of their stake
    (a0, m0), (a1, m1), (a2, m2) = honest.leaves
    shift = 12 * ONE
    bad = Settlement(rid, ((a0, m0), (a1, m1 - shift), (a2, m2 + shift)), honest.pool_used, honest.burn)
    resolver_before = world.balance(s[1].address)
    posted = t.post(rid, s[1], bad)
    checks = t.check_root(rid, bad)
    assert [c.provable for c in checks] == [False, True, True]
    assert checks[0].expected == m0 and "outside" in checks[2].reason
    with pytest.raises(ConfigError, match="is valid on chain"):
        t.dispute(rid, s[6], bad, index=0)
    disputer_before = world.balance(s[6].address)
    d = t.dispute(rid, s[6], bad)
    assert d.index == 1 and d.bond == posted.bond
    assert world.balance(s[6].address) - disputer_before == posted.bond
    assert world.balance(s[1].address) == resolver_before - posted.bond
    with pytest.raises(ConfigError, match="has no root standing"):
        t.check_root(rid, bad)
    fixed = t.post(rid, s[1])  # the honest root, again before the settle deadline
    assert fixed.settlement == honest
    with pytest.raises(ConfigError, match="no leaf of round .* is provably wrong"):
        t.dispute(rid, s[6], honest)
    with pytest.raises(ConfigError, match="no final root yet"):
        t.claim(rid, s[2])
    world.chain.advance_time(86_400)
    for who, (_, amount) in zip((s[2], s[3], s[4]), honest.leaves, strict=True):
        assert t.claim(rid, who).paid == amount
    assert t.release(rid, s[1]) == (100 * ONE - honest.pool_used, fixed.bond)
    assert min(amount for _, amount in honest.leaves) >= floor_amount(100 * ONE)


def test_every_amount_stays_in_the_band_and_the_leaves_document_round_trips() -> None:
    """No chain: the integer rule keeps every leaf inside [0.95, 1.05] x stake, as the contract
    checks it, whatever the stake's size or the scores; the stored leaves parse back to the root."""
    for stake in (1, 19, 10**18 + 7, 3 * 10**21 + 1, 2**127 - 1):
        for corr, contribution in ((1.0, 1.0), (-1.0, -1.0), (0.013, -0.002), (0.0, 0.0), (0.3, -0.07)):
            p = payout_wei(stake, corr, contribution, stake * 3, 0)
            assert is_within_band(stake + p, stake) and abs(p) <= stake // 20
        assert is_within_band(floor_amount(stake), stake) and not is_within_band(floor_amount(stake) - 1, stake)
    leaves = Settlement(7, (("0x" + "11" * 20, 5 * ONE), ("0x" + "22" * 20, 0)), 0, ONE)
    doc = leaves.to_bytes("0x" + "33" * 20, 31337)
    back = Settlement.from_bytes(doc)
    assert back.root == leaves.root and back.leaves[0][1] == 5 * ONE and back.burn == ONE
    with pytest.raises(ConfigError, match="root does not match its leaves"):
        Settlement.from_bytes(doc.replace(str(5 * ONE).encode(), str(6 * ONE).encode()))
    with pytest.raises(ConfigError, match="not a tournament settlement"):
        Settlement.from_bytes(b"{}")
