"""Monte Carlo statistics: standard errors of means and standard deviations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.stats import format_ci, mean_ci, ratio_ci, sharpe_ci, std_ci


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
