"""Avellaneda–Stoikov (2008) closed-form quotes against the paper's formulas, written out
independently here: r = s - q gamma sigma^2 (T - t), spread = gamma sigma^2 (T - t) +
(2 / gamma) ln(1 + gamma / k)."""

import math

import numpy as np
import pytest

from asmm_env.analytic import average_spread, optimal_depths, optimal_spread, reservation_price

AS = dict(gamma=0.1, sigma=2.0, k=1.5, T=1.0)
AS_NO_K = dict(gamma=0.1, sigma=2.0, T=1.0)     # reservation_price does not depend on k


@pytest.mark.parametrize(("s", "q", "t"), [(100.0, 0.0, 0.0), (100.0, 3.0, 0.25),
                                           (95.5, -7.0, 0.9), (100.0, 2.0, 1.0)])
def test_reservation_price_is_s_minus_q_gamma_sigma_squared_time_to_go(s, q, t):
    expected = s - q * 0.1 * 2.0**2 * (1.0 - t)
    assert reservation_price(s, q, t, **AS_NO_K) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0])
def test_spread_is_gamma_sigma_squared_time_to_go_plus_log_term(t):
    expected = 0.1 * 4.0 * (1.0 - t) + 2.0 / 0.1 * math.log(1.0 + 0.1 / 1.5)
    assert optimal_spread(t, **AS) == pytest.approx(expected, rel=1e-12)


def test_spread_without_time_term_is_the_as_2008_table_value():
    assert optimal_spread(0.3, **AS, include_time_term=False) == pytest.approx(1.29, abs=5e-3)
    assert optimal_spread(np.zeros(4), **AS, include_time_term=False).shape == (4,)


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
def test_depths_are_the_quotes_around_the_reservation_price(gamma):
    params = dict(AS, gamma=gamma)
    s, q, t = 100.0, np.array([-4.0, 0.0, 2.0, 9.0]), 0.4
    bid_depth, ask_depth = optimal_depths(q, t, **params)
    r = s - q * gamma * 4.0 * 0.6
    spread = gamma * 4.0 * 0.6 + 2.0 / gamma * math.log(1.0 + gamma / 1.5)
    np.testing.assert_allclose(s - bid_depth, r - spread / 2, rtol=1e-12)   # log(1 + x) vs log1p(x)
    np.testing.assert_allclose(s + ask_depth, r + spread / 2, rtol=1e-12)   # log(1 + x) vs log1p(x)
    np.testing.assert_allclose(bid_depth + ask_depth, spread, rtol=1e-12)   # log(1 + x) vs log1p(x)


def test_depths_go_through_the_mid_at_large_inventory():
    bid_depth, ask_depth = optimal_depths(30.0, 0.0, **AS)
    assert bid_depth > 0 > ask_depth          # long: the ask is below the mid
    bid_depth, ask_depth = optimal_depths(-30.0, 0.0, **AS)
    assert ask_depth > 0 > bid_depth


def test_formulas_broadcast_over_arrays():
    s = np.full((3, 1), 100.0)
    q = np.array([[-1.0, 0.0, 1.0, 2.0]])
    t = 0.5
    assert reservation_price(s, q, t, **AS_NO_K).shape == (3, 4)
    bid, ask = optimal_depths(q, np.linspace(0, 1, 3)[:, None], **AS)
    assert bid.shape == ask.shape == (3, 4)


@pytest.mark.parametrize("include_time_term", [True, False])
def test_average_spread_is_the_time_average_of_the_spread(include_time_term):
    t = np.linspace(0.0, 1.0, 100_001)
    spread = optimal_spread(t, **AS, include_time_term=include_time_term)
    numeric = np.trapezoid(spread, t)
    assert average_spread(**AS, include_time_term=include_time_term) == pytest.approx(
        numeric, rel=1e-10)
