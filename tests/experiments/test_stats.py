"""Monte Carlo statistics: standard errors, the certainty equivalent and its reliability, tail
risk, drawdowns and the standard summary row, each checked against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.stats import (
    SUMMARY_COLUMNS,
    certainty_equivalent,
    format_ci,
    max_drawdown,
    mean_ci,
    moments,
    pareto_k,
    pnl_summary,
    proportion_ci,
    ratio_ci,
    sharpe_ci,
    std_ci,
    value_at_risk,
)


def test_std_se_is_sigma_over_sqrt_2n_for_normal_data():
    x = np.random.default_rng(1).standard_normal(40_000)
    out = std_ci(x)
    assert out["std"] == pytest.approx(1.0, abs=0.02)
    assert out["se"] == pytest.approx(1 / math.sqrt(2 * x.size), rel=0.05)


def test_std_se_widens_with_heavy_tails():
    # Exponential data: kurtosis 9, so se(s) = sigma sqrt((9 - 1) / (4 n)) = sqrt(2 / n).
    x = np.random.default_rng(2).standard_exponential(40_000)
    assert std_ci(x)["se"] == pytest.approx(math.sqrt(2 / x.size), rel=0.15)


def test_std_ci_covers_the_true_std_about_95_percent_of_the_time():
    # 2,000 samples of 200 normals, seed 3: coverage within 4 binomial s.e. of 95%.
    x = np.random.default_rng(3).standard_normal((2_000, 200))
    covered = [(lambda c: c["ci_low"] <= 1 <= c["ci_high"])(std_ci(row)) for row in x]
    assert abs(np.mean(covered) - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 2_000)


def test_degenerate_samples_do_not_raise():
    assert math.isnan(std_ci([1.0])["se"])
    assert std_ci([2.0, 2.0, 2.0])["se"] == 0.0
    assert math.isnan(mean_ci([1.0])["se"])


def test_format_ci():
    assert format_ci(62.944, 62.5, 63.25) == "62.94 [62.50, 63.25]"
    assert format_ci(float("nan"), 0, 1) == "n/a"


def test_sharpe_ci_is_lo_for_normal_data_and_covers_the_true_sharpe():
    # Normal data: se -> sqrt((1 + SR^2 / 2) / n) (Lo 2002); 40,000 draws, SR = 0.5.
    x = np.random.default_rng(4).normal(0.5, 1.0, 40_000)
    c = sharpe_ci(x)
    assert c["se"] == pytest.approx(math.sqrt((1 + 0.5**2 / 2) / x.size), rel=0.05)
    # Coverage over 2,000 samples of 300 (seed 5): within 4 binomial s.e. of 95%.
    rows = np.random.default_rng(5).normal(0.3, 1.0, (2_000, 300))
    covered = [(lambda r: r["ci_low"] <= 0.3 <= r["ci_high"])(sharpe_ci(row)) for row in rows]
    assert abs(np.mean(covered) - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 2_000)
    assert math.isnan(sharpe_ci([1.0, 1.0, 1.0])["sharpe"])


def test_ratio_ci_is_the_pooled_ratio_with_a_delta_method_interval():
    x, y = np.array([1.0, 2.0, 3.0, 2.0]), np.array([2.0, 4.0, 5.0, 5.0])
    r = ratio_ci(x, y)
    assert r["ratio"] == pytest.approx(8 / 16)
    d = x - 0.5 * y
    assert r["se"] == pytest.approx(np.std(d, ddof=1) / (y.mean() * 2))
    assert math.isnan(ratio_ci([0.0], [0.0])["ratio"])


# --- certainty equivalent ------------------------------------------------------------------
def test_ce_matches_the_unshifted_formula_and_its_diagnostics_recomputed_by_hand():
    x = np.random.default_rng(6).normal(3.0, 2.0, 1_000)
    gamma = 0.3
    w = np.exp(-gamma * x)                          # no overflow at these values
    c = certainty_equivalent(x, gamma)
    assert c["ce"] == pytest.approx(-np.log(w.mean()) / gamma, rel=1e-12)
    assert c["ess"] == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-9)
    assert c["ess_ratio"] == pytest.approx(c["ess"] / x.size)
    assert c["top1_share"] == pytest.approx(np.sort(w)[-10:].sum() / w.sum(), rel=1e-9)
    assert c["se"] == pytest.approx(w.std(ddof=1) / (np.sqrt(x.size) * w.mean() * gamma),
                                    rel=1e-9)


def test_ce_is_shift_equivariant_and_does_not_overflow_for_large_losses():
    x = np.random.default_rng(7).normal(0.0, 1.0, 500)
    a, b = certainty_equivalent(x, 0.5), certainty_equivalent(x - 10_000.0, 0.5)
    assert b["ce"] == pytest.approx(a["ce"] - 10_000.0, abs=1e-8)   # exp(5000) would overflow
    assert b["ess"] == pytest.approx(a["ess"], rel=1e-9)


def test_ce_of_gaussian_pnl_is_mean_minus_half_gamma_variance_with_a_shrinking_interval():
    # X ~ N(50, 5^2), gamma = 0.1: CE = 50 - 0.1 * 25 / 2 = 48.75; 2,000 then 50,000 paths.
    rng = np.random.default_rng(8)
    small = certainty_equivalent(rng.normal(50.0, 5.0, 2_000), 0.1)
    large = certainty_equivalent(rng.normal(50.0, 5.0, 50_000), 0.1)
    for c in (small, large):
        assert c["reliable"] and c["reason"] == ""
        assert abs(c["ce"] - 48.75) < 4 * c["se"]
        assert c["ci_low"] < c["ce"] < c["ci_high"]
    ratio = (small["ci_high"] - small["ci_low"]) / (large["ci_high"] - large["ci_low"])
    assert 4.5 < ratio < 5.5                     # sqrt(25) = 5


def test_ce_interval_covers_the_true_ce_about_95_percent_of_the_time_for_gaussian_pnl():
    # 500 samples of 2,000 paths (seed 9): coverage within 4 binomial s.e. of 95%.
    rows = np.random.default_rng(9).normal(50.0, 5.0, (500, 2_000))
    covered = [(lambda c: c["ci_low"] <= 48.75 <= c["ci_high"])(certainty_equivalent(r, 0.1))
               for r in rows]
    assert abs(np.mean(covered) - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 500)


@pytest.mark.parametrize("n", [2_000, 50_000])
def test_ce_of_inventory_times_price_move_is_flagged_unreliable_without_an_interval(n):
    # The symmetric strategy's shape: X = a + q Z, q ~ N(0, 8^2), Z ~ N(0, 2^2); at gamma = 0.1
    # E[exp(-gamma X)] = E[exp(0.02 q^2)] is infinite, so no interval can be honest.
    rng = np.random.default_rng(10)
    x = 60.0 + rng.normal(0.0, 8.0, n) * rng.normal(0.0, 2.0, n)
    c = certainty_equivalent(x, 0.1)
    assert not c["reliable"]
    assert math.isnan(c["ci_low"]) and math.isnan(c["ci_high"]) and math.isnan(c["se"])
    assert np.isfinite(c["ce"])
    assert c["pareto_k"] >= 0.5 and "tail shape" in c["reason"]
    assert c["ess_ratio"] < 0.05


def test_ce_of_a_constant_pnl_is_that_constant_and_reliable_with_a_zero_width_interval():
    c = certainty_equivalent(np.full(200, 7.5), 2.0)
    assert c["ce"] == pytest.approx(7.5) and c["reliable"]
    assert c["ci_low"] == pytest.approx(7.5) and c["ci_high"] == pytest.approx(7.5)
    assert math.isnan(c["pareto_k"]) and c["ess"] == pytest.approx(200)


def test_small_samples_get_no_ce_interval_and_say_why():
    c = certainty_equivalent(np.random.default_rng(11).normal(0, 1, 50), 0.1)
    assert not c["reliable"] and "effective sample size" in c["reason"]
    assert math.isnan(c["ci_low"])


@pytest.mark.parametrize("shape", [0.2, 0.7, 1.0])
def test_pareto_k_recovers_the_shape_of_generalized_pareto_weights(shape):
    from scipy import stats

    w = stats.genpareto.rvs(shape, size=20_000, random_state=12)
    k = pareto_k(w)
    # Tail of 3 sqrt(n) = 425 points: s.e. about (1 + k) / sqrt(425) < 0.1.
    assert abs(k - shape) < 0.2
    # Independent fit: scipy's maximum likelihood on the same exceedances.
    m = math.ceil(3 * math.sqrt(w.size))
    ordered = np.sort(w)
    mle = stats.genpareto.fit(ordered[-m:] - ordered[-m - 1], floc=0)[0]
    assert abs(k - mle) < 0.05
    assert pareto_k(3.0 * w) == pytest.approx(k, abs=1e-9)


def test_pareto_k_of_lognormal_weights_from_gaussian_pnl_is_below_one_half():
    w = np.exp(np.random.default_rng(13).normal(0.0, 0.5, 10_000))
    assert pareto_k(w) < 0.5


# --- tail risk -------------------------------------------------------------------------------
def test_var_and_cvar_are_order_statistics_and_the_quantile_integral_of_the_losses():
    pnl = np.random.default_rng(14).normal(1.0, 2.0, 1_010)
    loss = np.sort(-pnl)
    r = value_at_risk(pnl, 0.95)
    assert r["var"] == loss[math.ceil(1_010 * 0.95) - 1]          # rank 960
    # n (1 - level) = 50.5: the 50 worst losses in full and half of the 51st.
    expected = (loss[-50:].sum() + 0.5 * loss[-51]) / 50.5
    assert r["cvar"] == pytest.approx(expected, rel=1e-12)
    # The same integral on a fine grid of the inverted empirical CDF (midpoint rule).
    u = 0.95 + 0.05 * (np.arange(200_000) + 0.5) / 200_000
    grid = np.quantile(loss, u, method="inverted_cdf").mean()
    assert r["cvar"] == pytest.approx(grid, rel=1e-4)
    assert r["var_ci_low"] <= r["var"] <= r["var_ci_high"]
    assert r["cvar_ci_low"] < r["cvar"] < r["cvar_ci_high"]


def test_var_and_cvar_of_normal_pnl_match_the_closed_forms_losses_positive():
    # PnL ~ N(1, 2^2): loss ~ N(-1, 4); VaR95 = -1 + 2 z, CVaR95 = -1 + 2 phi(z) / 0.05.
    from scipy import stats

    pnl = np.random.default_rng(15).normal(1.0, 2.0, 100_000)
    z = stats.norm.ppf(0.95)
    r = value_at_risk(pnl, 0.95)
    assert r["var_ci_low"] <= -1 + 2 * z <= r["var_ci_high"]
    assert abs(r["cvar"] - (-1 + 2 * stats.norm.pdf(z) / 0.05)) < 4 * r["cvar_se"]
    assert r["var"] > 0 and r["cvar"] > r["var"]


def test_var_and_cvar_intervals_cover_about_95_percent_of_the_time():
    # 1,000 samples of 2,000 standard normals (seed 16), level 0.95 (100 tail paths).
    from scipy import stats

    z = stats.norm.ppf(0.95)
    es = stats.norm.pdf(z) / 0.05
    rows = np.random.default_rng(16).standard_normal((1_000, 2_000))
    results = [value_at_risk(r, 0.95) for r in rows]
    var_cov = np.mean([r["var_ci_low"] <= z <= r["var_ci_high"] for r in results])
    cvar_cov = np.mean([r["cvar_ci_low"] <= es <= r["cvar_ci_high"] for r in results])
    se = 4 * math.sqrt(0.95 * 0.05 / 1_000)
    assert var_cov > 0.95 - se                    # order-statistic interval: conservative
    assert abs(cvar_cov - 0.95) < se


def test_tail_intervals_are_nan_when_too_few_paths_lie_beyond_the_var():
    r = value_at_risk(np.random.default_rng(17).normal(0, 1, 100), 0.99)
    assert np.isfinite(r["var"]) and np.isfinite(r["cvar"])
    assert math.isnan(r["var_ci_high"]) and math.isnan(r["cvar_ci_low"])


def test_moments_match_scipy_bias_adjusted_estimators():
    from scipy import stats

    x = np.random.default_rng(18).standard_exponential(5_000)
    m = moments(x)
    assert m["skew"] == pytest.approx(stats.skew(x, bias=False), rel=1e-10)
    assert m["excess_kurtosis"] == pytest.approx(stats.kurtosis(x, bias=False), rel=1e-10)
    assert 1.5 < m["skew"] < 2.5 and 4 < m["excess_kurtosis"] < 8     # exponential: 2 and 6
    assert math.isnan(moments([1.0, 2.0, 3.0])["skew"])


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    paths = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, -3.0], [3.0, -2.0], [1.0, 5.0]])
    assert max_drawdown(paths).tolist() == [3.0, 3.0]
    walks = np.cumsum(np.random.default_rng(19).normal(0, 1, (51, 40)), axis=0)
    expected = []
    for path in walks.T:                          # a plain loop, as a reader would write it
        peak, worst = -np.inf, 0.0
        for value in path:
            peak = max(peak, value)
            worst = max(worst, peak - value)
        expected.append(worst)
    assert max_drawdown(walks) == pytest.approx(expected)


# --- the standard summary row ------------------------------------------------------------------
def test_pnl_summary_has_the_standard_columns_from_the_component_estimators():
    rng = np.random.default_rng(20)
    paths = np.vstack([np.zeros(3_000), np.cumsum(rng.normal(0.05, 1.0, (100, 3_000)), 0)])
    pnl = paths[-1]
    row = pnl_summary(pnl, gamma=0.1, pnl_paths=paths)
    assert tuple(row) == SUMMARY_COLUMNS
    assert row["paths"] == 3_000
    assert row["mean"] == pytest.approx(pnl.mean())
    assert row["sharpe"] == pytest.approx(sharpe_ci(pnl)["sharpe"])
    assert row["p_loss"] == pytest.approx(np.mean(pnl < 0))
    assert row["p_loss_ci_low"] < row["p_loss"] < row["p_loss_ci_high"]
    assert row["ce"] == pytest.approx(certainty_equivalent(pnl, 0.1)["ce"])
    assert row["ce_reliable"] and row["ce_ci_low"] < row["ce"] < row["ce_ci_high"]
    assert row["var99"] > row["var95"] and row["cvar99"] > row["cvar95"]
    assert row["max_drawdown_mean"] == pytest.approx(max_drawdown(paths).mean())
    assert row["max_drawdown_ci_low"] < row["max_drawdown_mean"] < row["max_drawdown_ci_high"]
    without = pnl_summary(pnl, gamma=0.1)
    assert tuple(without) == SUMMARY_COLUMNS and math.isnan(without["max_drawdown_mean"])


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "message"), [
    (lambda: certainty_equivalent([1.0, 2.0], 0.0), "gamma must be > 0"),
    (lambda: certainty_equivalent([1.0, 2.0], float("nan")), "gamma must be a finite number"),
    (lambda: certainty_equivalent([], 0.1), "pnl must hold at least 1"),
    (lambda: certainty_equivalent([1.0, np.nan], 0.1), "pnl must be finite"),
    (lambda: certainty_equivalent([[1.0, 2.0]], 0.1), "pnl must be one-dimensional"),
    (lambda: certainty_equivalent(["a"], 0.1), "pnl must be an array of numbers"),
    (lambda: value_at_risk([1.0, 2.0], 1.0), "level must be a number in [0.5, 1)"),
    (lambda: value_at_risk([1.0, 2.0], 0.05), "level must be a number in [0.5, 1)"),
    (lambda: moments([np.inf, 1.0]), "pnl must be finite"),
    (lambda: max_drawdown([1.0, 2.0]), "pnl_paths must have shape (n_steps + 1, n_paths)"),
    (lambda: max_drawdown([[1.0, np.nan]]), "pnl_paths must be finite"),
    (lambda: pnl_summary([1.0], gamma=0.1), "pnl must hold at least 2"),
    (lambda: pnl_summary([1.0, 2.0], gamma=-1.0), "gamma must be > 0"),
    (lambda: pareto_k(-np.ones(30)), "weights must be >= 0"),
    (lambda: pareto_k(np.ones(10)), "weights must hold at least 25"),
    (lambda: proportion_ci(5, 3), "successes must be in [0, trials]"),
])
def test_bad_input_raises_a_value_error_naming_the_parameter(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_format_ci_says_no_ci_when_the_interval_is_missing():
    assert format_ci(45.1, float("nan"), float("nan")) == "45.10 (no CI)"
