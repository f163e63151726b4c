"""Properties of :func:`agora.subnet.yuma.epoch` and the chain's edge cases, one by one.

Hypothesis draws small subnets (2–10 UIDs, any permits, stale and fresh weights, stored bonds,
every hyperparameter); the edge cases the chain has on purpose (κ, top-k ties, the stake fallback,
self-weights, the outdated and recently-registered masks, both bond paths, u16 storage) each have
a test with the numbers worked by hand. The median is also checked against a literal port of the
chain's mid-pivot search.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agora.subnet.weights import normalize_max_weight, u16_max_upscale, weights_row, weights_to_u16
from agora.subnet.yuma import EpochResult, YumaParams, epoch, is_topk_nonzero, weighted_median_col

U16 = 65535
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Masking a row or an entry can change the order of a float sum: equal means to 1e-12 here.
FIELDS = ("consensus", "incentive", "dividends", "validator_trust", "server_emission", "validator_emission")


def run(inputs: dict[str, Any]) -> EpochResult:
    return epoch(
        inputs["stake"],
        inputs["weights"],
        inputs["bonds"],
        inputs["validator_permit"],
        inputs["last_update"],
        inputs["registered_at"],
        block=inputs["block"],
        last_tempo=inputs["last_tempo"],
        params=inputs["params"],
    )


@st.composite
def params_st(draw: st.DrawFn, kappas: tuple[int, ...] = (32767, 65535, 0, 21845, 50000)) -> YumaParams:
    low = draw(st.integers(1638, U16))
    return YumaParams(
        kappa=draw(st.sampled_from(kappas)),
        bonds_penalty=draw(st.sampled_from([0, 65535, 32768, 1000])),
        bonds_moving_average=draw(st.sampled_from([900_000, 975_000, 0, 500_000, 1_000_000])),
        yuma3=draw(st.booleans()),
        liquid_alpha=draw(st.booleans()),
        alpha_low=low,
        alpha_high=draw(st.integers(low, U16)),
        alpha_sigmoid_steepness=draw(st.sampled_from([1000.0, 0.0, 100.0, 5000.0])),
        max_allowed_validators=draw(st.integers(1, 12)),
        activity_cutoff=draw(st.sampled_from([5000, 10])),
    )


@st.composite
def subnet_st(draw: st.DrawFn, distinct_stake: bool = False, params: Any = None) -> dict[str, Any]:
    """A random subnet state: stake, stored u16 weights and bonds, permits, blocks."""
    n = draw(st.integers(2, 10))
    if distinct_stake:
        positive = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
        zero = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        stake = np.array([0 if z else s for s, z in zip(positive, zero, strict=True)], dtype=np.float64)
    else:
        stake = np.array(draw(st.lists(st.sampled_from([0, 1, 2, 5, 10, 1000]), min_size=n, max_size=n)), float)
    u16 = st.sampled_from([0, 0, 0, 1, 100, 20000, 32768, 65535])
    weights = np.array(draw(st.lists(u16, min_size=n * n, max_size=n * n)), dtype=np.uint16).reshape(n, n)
    bonds = np.array(draw(st.lists(u16, min_size=n * n, max_size=n * n)), dtype=np.uint16).reshape(n, n)
    block = 1000
    return {
        "stake": stake,
        "weights": weights,
        "bonds": bonds,
        "validator_permit": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        "last_update": np.array(draw(st.lists(st.sampled_from([0, 500, 990, 999]), min_size=n, max_size=n))),
        "registered_at": np.array(draw(st.lists(st.sampled_from([0, 400, 995]), min_size=n, max_size=n))),
        "block": block,
        "last_tempo": draw(st.sampled_from([0, 900, 996])),
        "params": draw(params) if params is not None else draw(params_st()),
    }


# --- invariants ---------------------------------------------------------------------------------


@FAST
@given(subnet_st())
def test_shares_are_proportions(inputs: dict[str, Any]) -> None:
    r = run(inputs)
    n = len(inputs["stake"])
    for field in FIELDS:
        value = getattr(r, field)
        assert value.shape == (n,)
        assert np.all(value >= 0), field
        assert np.all(value <= 1 + 1e-12), field
    total = r.server_emission.sum() + r.validator_emission.sum()
    assert total == pytest.approx(1.0 if inputs["stake"].sum() > 0 else 0.0, abs=1e-9)
    for field in ("incentive", "dividends"):
        assert getattr(r, field).sum() == pytest.approx(0.0, abs=1e-12) or getattr(r, field).sum() == pytest.approx(1.0)
    assert r.bonds.dtype == np.uint16 and r.bonds.shape == (n, n)
    assert not r.bonds[~r.validator_permit].any()
    assert r.validator_permit.sum() <= inputs["params"].max_allowed_validators
    assert not r.validator_permit[inputs["stake"] == 0].any()


@FAST
@given(subnet_st())
def test_fallback_when_nothing_is_earned(inputs: dict[str, Any]) -> None:
    """Σ(I + D) = 0 ⇒ miners get nothing and validators their active stake (else their stake)."""
    r = run(inputs)
    earned = r.incentive.sum() + r.dividends.sum()
    if earned != 0:
        np.testing.assert_allclose(r.server_emission, r.incentive / earned, atol=1e-12)
        np.testing.assert_allclose(r.validator_emission, r.dividends / earned, atol=1e-12)
        return
    assert not r.server_emission.any()
    stake = inputs["stake"] / inputs["stake"].sum() if inputs["stake"].sum() else inputs["stake"]
    active = inputs["last_update"] + inputs["params"].activity_cutoff >= inputs["block"]
    active_stake = stake * (active & inputs["validator_permit"])
    expected = active_stake / active_stake.sum() if active_stake.sum() else stake
    np.testing.assert_allclose(r.validator_emission, expected, atol=1e-12)


@FAST
@given(subnet_st(distinct_stake=True, params=params_st(kappas=(32767, 65535, 50000))), st.randoms())
def test_permuting_uids_permutes_results(inputs: dict[str, Any], rnd: Any) -> None:
    n = len(inputs["stake"])
    perm = np.array(rnd.sample(range(n), n))
    permuted = {
        **inputs,
        "stake": inputs["stake"][perm],
        "weights": inputs["weights"][np.ix_(perm, perm)],
        "bonds": inputs["bonds"][np.ix_(perm, perm)],
        "validator_permit": inputs["validator_permit"][perm],
        "last_update": inputs["last_update"][perm],
        "registered_at": inputs["registered_at"][perm],
    }
    a, b = run(inputs), run(permuted)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(a, field)[perm], getattr(b, field), atol=1e-9, err_msg=field)
    np.testing.assert_array_equal(a.validator_permit[perm], b.validator_permit)
    assert np.abs(a.bonds[np.ix_(perm, perm)].astype(int) - b.bonds.astype(int)).max() <= 1


@FAST
@given(subnet_st(), st.data())
def test_a_miner_nobody_weights_earns_nothing(inputs: dict[str, Any], data: st.DataObject) -> None:
    n = len(inputs["stake"])
    j = data.draw(st.integers(0, n - 1))
    inputs["weights"][:, j] = 0
    r = run(inputs)
    assert r.consensus[j] == 0
    assert r.incentive[j] == 0
    assert r.server_emission[j] == 0


@FAST
@given(subnet_st())
def test_self_weights_are_ignored(inputs: dict[str, Any]) -> None:
    with_self = {**inputs, "weights": inputs["weights"].copy()}
    np.fill_diagonal(with_self["weights"], 65535)
    without = {**inputs, "weights": inputs["weights"].copy()}
    np.fill_diagonal(without["weights"], 0)
    a, b = run(with_self), run(without)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-12, err_msg=field)
    assert np.abs(a.bonds.astype(int) - b.bonds.astype(int)).max() <= 1


@FAST
@given(subnet_st())
def test_outdated_weights_are_ignored(inputs: dict[str, Any]) -> None:
    """A weight set at or before its miner's registration block (``last_update_i <= registered_j``)."""
    outdated = inputs["last_update"][:, None] <= inputs["registered_at"][None, :]
    cleared = {**inputs, "weights": np.where(outdated, 0, inputs["weights"]).astype(np.uint16)}
    a, b = run(inputs), run(cleared)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-12, err_msg=field)


@FAST
@given(subnet_st())
def test_bonds_to_recently_registered_uids_are_dropped(inputs: dict[str, Any]) -> None:
    recent = inputs["last_tempo"] <= inputs["registered_at"]
    cleared = {**inputs, "bonds": np.where(recent[None, :], 0, inputs["bonds"]).astype(np.uint16)}
    a, b = run(inputs), run(cleared)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-12, err_msg=field)
    assert np.abs(a.bonds.astype(int) - b.bonds.astype(int)).max() <= 1


@FAST
@given(subnet_st())
def test_weights_without_a_previous_permit_are_ignored(inputs: dict[str, Any]) -> None:
    forbid = ~inputs["validator_permit"]
    cleared = {**inputs, "weights": np.where(forbid[:, None], 0, inputs["weights"]).astype(np.uint16)}
    a, b = run(inputs), run(cleared)
    for field in ("consensus", "incentive", "validator_trust"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-12, err_msg=field)


def _pivot_median(stake: list[float], score: list[float], majority: float) -> float:
    """``math.rs::weighted_median`` as the chain writes it (mid pivot, partition by stake)."""
    total = sum(stake)
    stake = [s / total for s in stake]
    minority = sum(stake) - majority
    lo, hi = 0.0, sum(stake)
    current = list(range(len(stake)))
    for _ in range(len(stake) + 1):
        if not current:
            return 0.0
        if len(current) == 1:
            return score[current[0]]
        pivot = score[current[len(current) // 2]]
        lower = [i for i in current if score[i] < pivot]
        upper = [i for i in current if score[i] > pivot]
        lo_stake = sum(stake[i] for i in lower)
        hi_stake = sum(stake[i] for i in upper)
        if minority < lo + lo_stake and lower:
            current, hi = lower, lo + lo_stake
        elif hi - hi_stake <= minority and upper:
            current, lo = upper, hi - hi_stake
        else:
            return pivot
    return 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=9),
    st.data(),
    st.sampled_from([32767, 65535, 1, 40000, 60000]),
)
def test_median_is_the_chains_pivot_search(stakes: list[int], data: st.DataObject, kappa: int) -> None:
    m = len(stakes)
    columns = data.draw(st.integers(1, 6))
    values = st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 0.3])
    score = np.array(data.draw(st.lists(values, min_size=m * columns, max_size=m * columns))).reshape(m, columns)
    stake = np.array(stakes, dtype=np.float64)
    got = weighted_median_col(stake, score, kappa / U16)
    want = [_pivot_median(stake.tolist(), score[:, c].tolist(), kappa / U16) for c in range(columns)]
    np.testing.assert_allclose(got, want)


# --- the chain's edge cases, worked by hand -------------------------------------------------------


def _subnet(stake: list[float], weights: list[list[int]], **over: Any) -> dict[str, Any]:
    n = len(stake)
    inputs: dict[str, Any] = {
        "stake": np.array(stake, dtype=np.float64),
        "weights": np.array(weights, dtype=np.uint16),
        "bonds": np.zeros((n, n), dtype=np.uint16),
        "validator_permit": np.array(stake) > 0,
        "last_update": np.full(n, 10),
        "registered_at": np.zeros(n, dtype=np.int64),
        "block": 20,
        "last_tempo": 15,
        "params": YumaParams(),
    }
    inputs.update(over)
    return inputs


def test_kappa_is_a_stake_weighted_median_of_each_column() -> None:
    # Validators 0,1,2 with stake 0.5, 0.3, 0.2 weight miner 3 at 0.2, 0.6, 1.0 of their rows.
    rows = [[0, 0, 0, 13107, 52428], [0, 0, 0, 39321, 26214], [0, 0, 0, 65535, 0]]
    w = [*rows, [0] * 5, [0] * 5]
    base = _subnet([5, 3, 2, 0, 0], w)
    c = run(base).consensus[3]
    # κ ≈ 0.5: the largest weight backed by at least half the stake is validator 1's 0.6.
    assert c == pytest.approx(0.6, abs=1e-4)
    # κ = 1 (65535): only what every staked validator gives: 0.2.
    strict = run({**base, "params": YumaParams(kappa=65535)}).consensus[3]
    assert strict == pytest.approx(0.2, abs=1e-4)
    # κ = 32767 is 0.49999…, not 0.5: stakes 0.5/0.5 split → the higher weight still has "half".
    split = _subnet([1, 1, 0], [[0, 0, 65535], [0, 0, 0], [0, 0, 0]])
    split["weights"][1, 0] = 65535  # validator 1 weights validator 0 only; column 2 gets 1.0 and 0
    assert run(split).consensus[2] == pytest.approx(1.0)
    assert run({**split, "params": YumaParams(kappa=32768)}).consensus[2] == 0


def test_topk_permits_lower_uid_loses_ties() -> None:
    assert is_topk_nonzero(np.array([5.0, 5.0, 5.0, 1.0]), 2).tolist() == [False, True, True, False]
    assert is_topk_nonzero(np.array([0.0, 3.0, 0.0]), 5).tolist() == [False, True, False]
    assert is_topk_nonzero(np.array([2.0, 0.0, 1.0]), 3).tolist() == [True, False, True]
    r = run(_subnet([5, 5, 5, 1], [[0] * 4] * 4, params=YumaParams(max_allowed_validators=2)))
    assert r.validator_permit.tolist() == [False, True, True, False]


def test_permits_of_this_epoch_come_from_the_previous_one() -> None:
    # UID 0 has most stake but no permit yet: its weights do not count, it gets a permit for next time.
    w = [[0, 0, 65535, 0], [0, 0, 0, 65535], [0] * 4, [0] * 4]
    inputs = _subnet([10, 1, 0, 0], w, validator_permit=np.array([False, True, False, False]))
    r = run(inputs)
    assert r.consensus.tolist() == pytest.approx([0, 0, 0, 1])
    assert r.incentive.tolist() == pytest.approx([0, 0, 0, 1])
    assert r.validator_permit.tolist() == [True, True, False, False]
    assert r.dividends.tolist() == pytest.approx([0, 1, 0, 0])
    assert r.bonds[0].any() == False  # noqa: E712 - no weights counted, so no bonds formed


def test_empty_consensus_falls_back_to_stake() -> None:
    # Only self-weights: all masked → validators get their active stake, miners nothing.
    w = [[65535, 0, 0], [0, 65535, 0], [0, 0, 0]]
    r = run(_subnet([3, 1, 0], w))
    assert not r.incentive.any() and not r.dividends.any() and not r.server_emission.any()
    assert r.validator_emission.tolist() == pytest.approx([0.75, 0.25, 0])
    # Validator 1 inactive: active stake is validator 0's alone.
    r = run(_subnet([3, 1, 0], w, last_update=np.array([10, 10, 10]), block=20, params=YumaParams(activity_cutoff=5)))
    assert r.validator_emission.tolist() == pytest.approx([0.75, 0.25, 0])  # nobody active → stake
    r = run(_subnet([3, 1, 0], w, last_update=np.array([19, 10, 10]), block=20, params=YumaParams(activity_cutoff=5)))
    assert r.validator_emission.tolist() == pytest.approx([1, 0, 0])


def test_yuma2_bonds_ema_and_storage() -> None:
    # test_bonds' first epoch, by hand: ΔB column = stake share 0.1..0.4, stored max-upscaled.
    w = [[0, 0, 0, 0, 16383, 32767, 49149, 65535]] * 4 + [[0] * 8] * 4
    r = run(_subnet([1, 2, 3, 4, 0, 0, 0, 0], w))
    assert r.bonds[:4, 4].tolist() == [16383, 32767, 49151, 65535]
    assert r.dividends[:4].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # β = 0: bonds on raw weights, the same here since everyone agrees; α from bonds_moving_average.
    previous = np.zeros((8, 8), dtype=np.uint16)
    previous[0, 4:] = 65535  # validator 0 held every bond
    r2 = run(_subnet([1, 2, 3, 4, 0, 0, 0, 0], w, bonds=previous, params=YumaParams(bonds_moving_average=500_000)))
    # B = 0.5·ΔB + 0.5·B_prev → column 4: [0.05 + 0.5, 0.1, 0.15, 0.2]; max-upscaled by 0.55.
    assert r2.bonds[:4, 4].tolist() == [65535, int(0.1 / 0.55 * U16), int(0.15 / 0.55 * U16), int(0.2 / 0.55 * U16)]


def test_bonds_penalty_interpolates_raw_and_clipped_weights() -> None:
    # Equal stakes; validators 0, 1 split 50/50 over miners 3, 4; validator 2 puts all on miner 3.
    # C = (0.5, 0.5), I = (0.6, 0.4). Validator 2's bond weight on miner 3 is 1 + β(0.5 − 1).
    w = [[0, 0, 0, 65535, 65535], [0, 0, 0, 65535, 65535], [0, 0, 0, 65535, 0], [0] * 5, [0] * 5]
    base = _subnet([1, 1, 1, 0, 0], w)
    clipped = run({**base, "params": YumaParams(bonds_penalty=65535)})
    raw = run({**base, "params": YumaParams(bonds_penalty=0)})
    half = run({**base, "params": YumaParams(bonds_penalty=32768)})
    assert clipped.consensus[3:].tolist() == pytest.approx([0.5, 0.5])
    assert clipped.incentive[3:].tolist() == pytest.approx([0.6, 0.4])
    assert clipped.dividends[:3].tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert raw.dividends[:3].tolist() == pytest.approx([0.35, 0.35, 0.3])
    b = 32768 / U16
    share = (1 - b / 2) / (2 * 0.5 + 1 - b / 2)
    assert half.dividends[2] == pytest.approx(0.6 * share, rel=1e-9)


def test_yuma3_bonds_paths() -> None:
    w = [[0, 0, 65535, 0], [0, 0, 65535, 0], [0] * 4, [0] * 4]
    previous = np.zeros((4, 4), dtype=np.uint16)
    previous[0, 3] = 32768
    y3 = YumaParams(yuma3=True, bonds_penalty=0, bonds_moving_average=975_000)
    r = run(_subnet([1, 1, 0, 0], w, bonds=previous, params=y3))
    # No liquid alpha: B = 0.025·W + 0.975·B_prev, stored floor(B·65535).
    assert r.bonds[0, 2] == int(0.025 * U16) and r.bonds[1, 2] == int(0.025 * U16)
    assert r.bonds[0, 3] == int(0.975 * 32768)
    # Liquid alpha, steepness 1000: buying at consensus (d = 0) → α ≈ low; selling all (d ≈ 0.5) → mid.
    la = dataclasses.replace(y3, liquid_alpha=True, alpha_low=6553, alpha_high=19660)
    r = run(_subnet([1, 1, 0, 0], w, bonds=previous, params=la))
    low, high = 6553 / U16, 19660 / U16
    sig0 = 1 / (1 + np.exp(5.0))  # d = 0
    assert r.bonds[0, 2] == int((low + sig0 * (high - low)) * U16)
    d = 32768 / U16
    sig = 1 / (1 + np.exp(-10 * (d - 0.5)))
    assert r.bonds[0, 3] == int((1 - (low + sig * (high - low))) * 32768)
    # Steepness changes the slope: 0 makes every α the midpoint.
    flat = run(_subnet([1, 1, 0, 0], w, bonds=previous, params=dataclasses.replace(la, alpha_sigmoid_steepness=0.0)))
    assert flat.bonds[0, 2] == int((low + 0.5 * (high - low)) * U16)


def test_omitted_weights_decay_bonds_dense_semantics() -> None:
    """A zero weight (omitted or explicit) decays the bond by (1 − α); it is not dropped."""
    w = [[0, 0, 65535, 0], [0, 0, 65535, 0], [0] * 4, [0] * 4]
    previous = np.zeros((4, 4), dtype=np.uint16)
    previous[:2, 3] = 40000
    la = YumaParams(yuma3=True, liquid_alpha=True, bonds_penalty=0, alpha_low=6553, alpha_high=19660)
    r = run(_subnet([1, 1, 0, 0], w, bonds=previous, params=la))
    assert 0 < r.bonds[0, 3] < 40000


def test_liquid_alpha_with_equal_bounds_is_plain_ema() -> None:
    # subtensor tests/epoch.rs::test_liquid_alpha_equal_values_against_itself, on a whole epoch.
    rng = np.random.default_rng(3)
    w = rng.integers(0, U16, (6, 6)).astype(np.uint16)
    b = rng.integers(0, U16, (6, 6)).astype(np.uint16)
    base = _subnet([5, 4, 3, 2, 1, 0], w.tolist(), bonds=b)
    on = YumaParams(yuma3=True, liquid_alpha=True, alpha_low=6553, alpha_high=6553, bonds_moving_average=900_005)
    off = dataclasses.replace(on, liquid_alpha=False)
    a, c = run({**base, "params": on}), run({**base, "params": off})
    np.testing.assert_allclose(a.dividends, c.dividends, atol=1e-3)
    assert np.abs(a.bonds.astype(int) - c.bonds.astype(int)).max() <= 70  # ≤ 1e-3 of 65535


@pytest.mark.parametrize("yuma3", [False, True])
@settings(max_examples=25, deadline=None)
@given(
    quality=st.lists(st.floats(0.1, 1.0), min_size=3, max_size=6),
    honest=st.integers(3, 6),
    epochs=st.integers(1, 4),
)
def test_a_validator_off_consensus_earns_less_than_an_honest_one(
    yuma3: bool, quality: list[float], honest: int, epochs: int
) -> None:
    """Equal stake; the last validator puts half its weight on a miner nobody else rates."""
    v = honest + 1
    m = len(quality) + 1  # the extra miner is the dishonest validator's favourite
    n = v + m
    row = np.zeros(n)
    row[v : v + len(quality)] = quality
    w = np.zeros((n, n), dtype=np.uint16)
    for i in range(honest):
        w[i] = u16_max_upscale(np.round(row / row.max() * U16))
    bad = row.copy()
    bad[n - 1] = row.sum()  # half its mass off consensus
    w[v - 1] = u16_max_upscale(np.round(bad / bad.max() * U16))
    params = YumaParams(yuma3=yuma3, bonds_penalty=65535 if not yuma3 else 0)
    state = _subnet([100.0] * v + [0.0] * m, w.tolist(), params=params)
    for _ in range(epochs):
        r = run(state)
        state["bonds"] = r.bonds
        state["validator_permit"] = r.validator_permit
    assert r.incentive[n - 1] == 0
    assert r.dividends[v - 1] < r.dividends[0] - 1e-6
    assert r.validator_trust[v - 1] < r.validator_trust[0]


def test_u16_storage_matches_the_chain_rounding() -> None:
    # fixed_proportion_to_u16 truncates: 0.25·65535 = 16383.75 → 16383, 1 → 65535.
    w = [[0, 0, 65535], [0, 0, 65535], [0, 0, 0]]
    r = run(_subnet([1, 3, 0], w))
    assert r.bonds[:2, 2].tolist() == [int(0.25 / 0.75 * U16), 65535]


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError):
        run(_subnet([1, 1], [[0, 1], [1, 0]], bonds=np.zeros((3, 3), dtype=np.uint16)))
    with pytest.raises(ValueError):
        run(_subnet([1, -1], [[0, 1], [1, 0]]))


def test_bonds_of_uids_without_a_new_permit_are_cleared() -> None:
    w = [[0, 0, 65535], [0, 0, 65535], [0, 0, 0]]
    previous = np.full((3, 3), 1000, dtype=np.uint16)
    r = run(_subnet([3, 1, 0], w, bonds=previous, params=YumaParams(max_allowed_validators=1)))
    assert r.validator_permit.tolist() == [True, False, False]
    assert r.bonds[0].any() and not r.bonds[1:].any()


# --- client-side weights ------------------------------------------------------------------------


def test_weights_to_u16_is_the_sdks_emit_conversion() -> None:
    assert weights_to_u16([0, 1, 2], [0.5, 1.0, 0.0]) == ([0, 1], [32768, 65535])
    assert weights_to_u16([3, 4], [0.0, 0.0]) == ([], [])
    assert weights_to_u16([1, 2, 3], [1e-9, 2.0, 1.0]) == ([2, 3], [65535, 32768])
    with pytest.raises(ValueError):
        weights_to_u16([0], [-1.0])
    with pytest.raises(ValueError):
        weights_to_u16([0, 1], [1.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40), st.floats(0.01, 1.0))
def test_normalize_max_weight(x: list[float], limit: float) -> None:
    y = normalize_max_weight(np.array(x), limit)
    assert y.sum() == pytest.approx(1.0)
    assert np.all(y >= 0)
    if sum(x) == 0 or len(x) * limit <= 1:
        np.testing.assert_allclose(y, 1 / len(x))
    else:
        assert y.max() <= limit + 1e-5


def test_normalize_max_weight_examples() -> None:
    np.testing.assert_allclose(normalize_max_weight(np.array([1.0, 1.0, 2.0]), 0.5), [0.25, 0.25, 0.5])
    y = normalize_max_weight(np.array([1.0, 1.0, 8.0]), 0.5)
    assert y.max() == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(y[:2], [0.25, 0.25], atol=1e-6)


def test_weights_row_is_what_the_chain_stores() -> None:
    row = weights_row(5, [1, 3], [100, 50])
    assert row.tolist() == [0, 65535, 0, 32768, 0]
    assert u16_max_upscale([0, 0]).tolist() == [0, 0]
