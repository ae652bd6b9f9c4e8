"""IntensityFills (the one-agent AS fill model): empirical fill frequencies against the chosen
fill probability, informed flow, masks and sizes. (ReachFills: tests/asmm_env/test_reach_fills.py.)

Every frequency test uses N_TRIALS independent quotes and a 4 standard-error tolerance with the
binomial s.e. sqrt(p (1 - p) / N_TRIALS)."""

import math

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.fills import IntensityFills, ReachFills, build_fill_model

N_TRIALS = 200_000          # quotes per frequency estimate (100,000 paths x 2 sides)
A, K, DT = 140.0, 1.5, 0.005


def _probability(depth, probability, multiplier=1.0):
    rate_dt = A * math.exp(-K * depth) * DT * multiplier
    return 1.0 - math.exp(-rate_dt) if probability == "exponential" else min(rate_dt, 1.0)


def _fill(model, depth, dS, seed, allowed=None):
    n = dS.shape[0]
    depths = np.full((n, 1, 2), float(depth))
    mid = np.full(n, 100.0)
    model.reset(n, 1)
    # A copy: a model may reuse its output buffer at the next call.
    return model.fill(mid, depths, allowed, dS, DT, np.random.default_rng(seed)).copy()


def _assert_frequency(filled, p):
    freq = filled.mean()
    se = math.sqrt(p * (1 - p) / filled.size)
    assert abs(freq - p) <= 4 * se, (freq, p, se)


@pytest.mark.parametrize("probability", ["exponential", "linear"])
@pytest.mark.parametrize("depth", [0.0, 0.3, 1.0, 2.5])
def test_fill_frequency_matches_the_chosen_fill_rule(probability, depth):
    model = IntensityFills(A, K, probability)
    filled = _fill(model, depth, np.zeros(N_TRIALS // 2), seed=int(10 * depth)) > 0
    _assert_frequency(filled, _probability(depth, probability))


def test_negative_depth_exponential_fill_rule_uses_the_boosted_intensity():
    # depth -0.5: lambda dt = 0.7 e^0.75 = 1.48 > 1, probability 1 - exp(-1.48) = 0.77.
    filled = _fill(IntensityFills(A, K, "exponential"), -0.5, np.zeros(N_TRIALS // 2), 1) > 0
    _assert_frequency(filled, _probability(-0.5, "exponential"))


def test_negative_depth_linear_fill_rule_saturates_at_one():
    filled = _fill(IntensityFills(A, K, "linear"), -0.5, np.zeros(N_TRIALS // 2), 2)
    assert (filled == 1.0).all()


@pytest.mark.parametrize("probability", ["exponential", "linear"])
def test_quote_far_through_the_mid_always_fills_without_overflow_warnings(probability):
    # k * depth = 1.5e4: the intensity overflows float64 unless the model guards it; pytest
    # turns RuntimeWarnings into errors (pyproject), so a warning would fail this test.
    filled = _fill(IntensityFills(A, K, probability), -1e4, np.zeros(1000), 3)
    assert (filled == 1.0).all()


@pytest.mark.parametrize("probability", ["exponential", "linear"])
def test_quote_far_from_the_mid_never_fills(probability):
    filled = _fill(IntensityFills(A, K, probability), 1e3, np.zeros(1000), 4)
    assert (filled == 0.0).all()


@pytest.mark.parametrize("probability", ["exponential", "linear"])
def test_toxic_flow_keeps_the_mean_rate_but_conditions_on_the_coming_move(probability):
    """Half the paths move up, half down. Market sells (which hit our bid) arrive at rate
    A (1 - toxicity) before an up-move and A (1 + toxicity) before a down-move; buys (our ask)
    mirrored. So the bid fills (1 -/+ toxicity) times as often as without toxicity (exactly so
    for "linear", where probability is proportional to the rate; through 1 - exp(-rate dt)
    for "exponential"), and averaged over the two moves the rate is A."""
    toxicity, depth, n = 0.6, 1.0, N_TRIALS
    dS = np.where(np.arange(n) % 2 == 0, 0.1, -0.1)
    filled = _fill(IntensityFills(A, K, probability, toxicity), depth, dS, seed=5) > 0
    up, down = dS > 0, dS < 0
    p_lo = _probability(depth, probability, 1 - toxicity)
    p_hi = _probability(depth, probability, 1 + toxicity)
    _assert_frequency(filled[up, 0, 0], p_lo)      # bid before an up-move: fewer sells
    _assert_frequency(filled[down, 0, 0], p_hi)    # bid before a down-move: more sells
    _assert_frequency(filled[up, 0, 1], p_hi)      # ask before an up-move: more buys
    _assert_frequency(filled[down, 0, 1], p_lo)
    if probability == "linear":
        p0 = _probability(depth, "linear")
        assert p_lo == pytest.approx((1 - toxicity) * p0) and p_hi == pytest.approx(
            (1 + toxicity) * p0)
        # mean rate unchanged: the unconditional frequency is the AS probability
        _assert_frequency(filled, p0)


def test_full_toxicity_never_fills_the_bid_before_an_up_move():
    dS = np.full(10_000, 0.1)
    filled = _fill(IntensityFills(A, K, "exponential", toxicity=1.0), 0.0, dS, seed=6)
    assert (filled[:, 0, 0] == 0).all() and filled[:, 0, 1].mean() > 0.5


def test_zero_move_leaves_the_rate_unchanged_under_toxicity():
    filled = _fill(IntensityFills(A, K, "linear", toxicity=0.9), 1.0, np.zeros(N_TRIALS // 2),
                   seed=7) > 0
    _assert_frequency(filled, _probability(1.0, "linear"))


def test_disallowed_quotes_never_fill():
    n = 5000
    allowed = np.zeros((n, 1, 2), dtype=bool)
    allowed[:, 0, 1] = True
    filled = _fill(IntensityFills(A, K), -5.0, np.zeros(n), seed=8, allowed=allowed)
    assert (filled[:, 0, 0] == 0).all() and (filled[:, 0, 1] == 1).all()


def test_volume_is_order_size_shares_per_fill():
    filled = _fill(IntensityFills(A, K, order_size=2.5), 0.5, np.zeros(5000), seed=9)
    assert set(np.unique(filled)) == {0.0, 2.5}


def test_fills_depend_only_on_the_generator_passed(reseed_global_numpy):
    model = IntensityFills(A, K)
    first = _fill(model, 0.5, np.zeros(1000), seed=10)
    reseed_global_numpy(123)
    second = _fill(model, 0.5, np.zeros(1000), seed=10)
    assert np.array_equal(first, second)


def test_build_fill_model_gives_intensity_fills_for_one_agent_with_the_params():
    p = MarketParams(A=50.0, k=2.0, fill_rule="linear", toxicity=0.2, order_size=3.0)
    model = build_fill_model(p, n_agents=1)
    assert type(model) is IntensityFills
    assert (model.A, model.k, model.probability, model.toxicity, model.order_size) == (
        50.0, 2.0, "linear", 0.2, 3.0)
    assert type(build_fill_model(p, n_agents=2)) is ReachFills
