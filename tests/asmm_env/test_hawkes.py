"""Tests of asmm_env/hawkes.py: two-sided Hawkes market-order flow, exact and batched.

Statistical tests are seeded, state their path counts, and compare with theory within 4
standard errors estimated from independent paths (batch means). Independent references: the
stationary mean ``(I - alpha / beta)^-1 mu`` solved here, and the exact variance of the counts
of a stationary one-dimensional exponential Hawkes process (derived in
``stationary_fano_factor`` below from its Bartlett spectrum).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from asmm_env.hawkes import SIDES, HawkesFlow, HawkesParams

# Two independent one-dimensional processes (no cross-excitation), branching ratios 0.4, 0.7.
UNIVARIATE = HawkesParams(
    mu=(1.0, 2.0), alpha=((0.6, 0.0), (0.0, 2.1)), beta=((1.5, 1.0), (1.0, 3.0))
)
# Cross-excited, a different decay for every pair; branching ratio 0.679.
CROSS = HawkesParams(
    mu=(0.5, 0.8), alpha=((0.4, 0.3), (0.5, 0.6)), beta=((1.0, 2.0), (1.5, 1.2))
)


def simulate_totals(params, n_paths, T, dt, seed, burn_in=0.0):
    """Counts per side over [0, T] on each path, from steps of dt; shape (n_paths, 2)."""
    rng = np.random.default_rng(seed)
    flow = HawkesFlow(params)
    flow.reset(n_paths, rng, burn_in=burn_in)
    total = np.zeros((n_paths, 2), dtype=np.int64)
    for _ in range(round(T / dt)):
        total += flow.advance(dt, rng)
    return total, flow


def batch_means(values, n_batches=20):
    """Mean over batches of a per-batch statistic's array and its standard error."""
    values = np.asarray(values)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(len(values))


def stationary_fano_factor(n, beta, T):
    """``Var N(0, T) / E N(0, T)`` for a stationary 1-d Hawkes process, kernel alpha e^{-beta t}.

    The Bartlett spectrum is ``m |1 - alpha / (beta + i w)|^-2 = m (1 + (beta^2 - g^2) /
    (g^2 + w^2))`` with ``g = beta (1 - n)``, so the covariance density of the counts is
    ``m delta(s) + m (beta^2 - g^2) / (2 g) e^{-g |s|}`` and

        Var N(0, T) = m T + m (beta^2 - g^2) / g^2 (T - (1 - e^{-g T}) / g),

    which tends to ``m T / (1 - n)^2`` (Hawkes 1971).
    """
    g = beta * (1.0 - n)
    return 1.0 + (beta**2 - g**2) / g**2 * (1.0 - (1.0 - math.exp(-g * T)) / (g * T))


# --------------------------------------------------------------------------------------------
# Parameters: derived quantities
# --------------------------------------------------------------------------------------------


def test_branching_ratio_and_stationary_intensity_of_a_symmetric_flow():
    p = HawkesParams.symmetric(mu=60.0, alpha_self=100.0, alpha_cross=50.0, beta=300.0)
    assert p.branching_ratio == pytest.approx(0.5, rel=1e-14)
    np.testing.assert_allclose(p.stationary_intensity, [120.0, 120.0], rtol=1e-14)
    assert p.relaxation_time == pytest.approx(1.0 / (300.0 * 0.5), rel=1e-12)


def test_stationary_intensity_solves_m_equals_mu_plus_K_m_with_per_pair_decays():
    m = CROSS.stationary_intensity
    K = np.array([[0.4 / 1.0, 0.3 / 2.0], [0.5 / 1.5, 0.6 / 1.2]])
    np.testing.assert_allclose(m, CROSS.mu_vector + K @ m, rtol=1e-13)
    np.testing.assert_allclose(CROSS.branching_matrix, K, rtol=1e-15)
    assert CROSS.branching_ratio == pytest.approx(max(abs(np.linalg.eigvals(K))), rel=1e-14)
    assert 0.67 < CROSS.branching_ratio < 0.69


def test_relaxation_time_ignores_decays_of_pairs_that_do_not_excite():
    # Side 0 relaxes at 1.5 (1 - 0.4) = 0.9, side 1 at 3 (1 - 0.7) = 0.9; the unused cross
    # decays (0.1) are no mode of the flow.
    p = HawkesParams(mu=(1.0, 2.0), alpha=((0.6, 0.0), (0.0, 2.1)), beta=((1.5, 0.1), (0.1, 3.0)))
    assert p.relaxation_time == pytest.approx(1 / 0.9, rel=1e-12)
    poisson = HawkesParams(mu=1.0, alpha=((0.0, 0.0), (0.0, 0.0)), beta=1.0)
    assert poisson.relaxation_time == 0.0
    # Cross-excited with per-pair decays: the mean excitations, started at 0, approach their
    # stationary values at that rate (the ODE of the means, written and integrated here).
    from scipy.integrate import solve_ivp

    alpha, beta, mu = CROSS.alpha_matrix, CROSS.beta_matrix, CROSS.mu_vector

    def means(_, x):
        x = x.reshape(2, 2)
        lam = mu + x.sum(axis=1)
        return (-beta * x + alpha * lam[None, :]).ravel()

    sol = solve_ivp(means, (0, 40), np.zeros(4), rtol=1e-10, atol=1e-14, t_eval=[30, 40])
    x_inf = (alpha * CROSS.stationary_intensity[None, :] / beta).ravel()
    gap = np.abs(sol.y - x_inf[:, None]).max(axis=0)
    assert math.log(gap[0] / gap[1]) / 10 == pytest.approx(1 / CROSS.relaxation_time, rel=1e-4)


def test_fields_are_stored_as_tuples_and_scalars_are_broadcast():
    p = HawkesParams(mu=2.0, alpha=np.array([[0.1, 0.0], [0.0, 0.1]]), beta=1.0)
    assert p.mu == (2.0, 2.0)
    assert p.beta == ((1.0, 1.0), (1.0, 1.0))
    assert p.alpha == ((0.1, 0.0), (0.0, 0.1))
    assert hash(p) == hash(HawkesParams(mu=(2, 2), alpha=((0.1, 0), (0, 0.1)), beta=1))
    assert SIDES == ("sell", "buy")


def test_reset_starts_every_path_at_the_stationary_intensity():
    for params in (UNIVARIATE, CROSS):
        flow = HawkesFlow(params)
        flow.reset(5, np.random.default_rng(0))
        assert flow.n_paths == 5
        np.testing.assert_allclose(
            flow.intensity, np.tile(params.stationary_intensity, (5, 1)), rtol=1e-13
        )


# --------------------------------------------------------------------------------------------
# Statistics of the simulated flow
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_long_run_rate_per_side_is_mu_over_one_minus_n():
    # 4,000 paths, T = 50 (~1.7 M events). Observed: 1.6681 +- 0.0048 (theory 1.6667) and
    # 6.6544 +- 0.0187 (theory 6.6667); intensity at T 1.652 +- 0.009 and 6.680 +- 0.064.
    n_paths, T = 4000, 50.0
    total, flow = simulate_totals(UNIVARIATE, n_paths, T, dt=T, seed=1)
    rate = total / T
    mean, se = rate.mean(axis=0), rate.std(axis=0, ddof=1) / math.sqrt(n_paths)
    theory = np.array([1.0 / (1 - 0.4), 2.0 / (1 - 0.7)])
    assert np.all(np.abs(mean - theory) < 4 * se)
    assert np.all(se < 0.01 * theory)  # the test has power: 4 se < 4 % of the rate
    # The mean intensity stays at its stationary value (the mean dynamics are linear).
    end = flow.intensity
    end_se = end.std(axis=0, ddof=1) / math.sqrt(n_paths)
    assert np.all(np.abs(end.mean(axis=0) - theory) < 4 * end_se)


@pytest.mark.slow
def test_long_run_rates_of_cross_excited_flow_match_the_matrix_formula():
    # 4,000 paths, T = 50, per-pair decays. m = (I - alpha / beta)^-1 mu = (1.4800, 2.5867).
    # Observed 1.4706 +- 0.0057 (-1.7 s.e.) and 2.5780 +- 0.0090 (-1.0 s.e.); correlation 0.69.
    n_paths, T = 4000, 50.0
    total, _ = simulate_totals(CROSS, n_paths, T, dt=T, seed=2)
    rate = total / T
    mean, se = rate.mean(axis=0), rate.std(axis=0, ddof=1) / math.sqrt(n_paths)
    K = CROSS.alpha_matrix / CROSS.beta_matrix
    theory = np.linalg.solve(np.eye(2) - K, [0.5, 0.8])
    assert np.all(np.abs(mean - theory) < 4 * se)
    assert np.all(se < 0.01 * theory)
    # Cross-excitation makes the sides' counts positively correlated.
    assert np.corrcoef(total.T)[0, 1] > 0.3


@pytest.mark.slow
def test_branching_ratio_is_recovered_from_the_variance_to_mean_ratio_of_counts():
    # 20,000 stationary paths (burn-in 20 relaxation times of the slower side) of two
    # independent sides, counted over T = 40. The exact Fano factor of a window
    # (stationary_fano_factor) is inverted for n; its standard error comes from 20 batch
    # Fano factors of 1,000 paths and the delta method. Observed Fano 2.761 +- 0.022 (exact
    # 2.728, asymptotic 2.778) and 10.94 +- 0.13 (exact 10.83, asymptotic 11.11); so
    # n = 0.4036 +- 0.0024 (true 0.4) and 0.7016 +- 0.0018 (true 0.7).
    n_paths, T = 20_000, 40.0
    burn_in = 20 * max(1 / (1.5 * 0.6), 1 / (3.0 * 0.3))
    total, _ = simulate_totals(UNIVARIATE, n_paths, T, dt=T, seed=3, burn_in=burn_in)
    for side, (beta, true_n) in enumerate([(1.5, 0.4), (3.0, 0.7)]):
        batches = total[:, side].reshape(20, -1)
        fano, fano_se = batch_means(batches.var(axis=1, ddof=1) / batches.mean(axis=1))
        n_hat = brentq(lambda n, b=beta, f=fano: stationary_fano_factor(n, b, T) - f, 0.0, 0.99)
        slope = (stationary_fano_factor(n_hat + 1e-6, beta, T)
                 - stationary_fano_factor(n_hat - 1e-6, beta, T)) / 2e-6
        n_se = fano_se / slope
        assert abs(n_hat - true_n) < 4 * n_se, (side, n_hat, n_se)
        assert n_se < 0.01
        # The window is long enough that the asymptotic 1 / (1 - n)^2 is within 6 %.
        assert fano == pytest.approx(1 / (1 - true_n) ** 2, rel=0.06)


@pytest.mark.slow
def test_counts_have_the_same_law_whatever_the_step():
    # 20,000 paths each of [0, 3] in steps of 0.5 and of 0.125 (independent seeds), cross-excited
    # flow (decays 1 - 2 per unit time, so a step of 0.5 is coarse: a scheme freezing the
    # intensity over a step would be biased). Means, variances and the covariance of the
    # totals agree within 4 s.e.; the means equal m T exactly (stationary-mean start).
    # Observed (coarse / fine): means 4.431 / 4.435 and 7.766 / 7.735 (m T = 4.44, 7.76),
    # variances 9.98 +- 0.22 / 9.83 +- 0.14 and 22.4 +- 0.3 / 22.2 +- 0.3, covariance
    # 6.91 +- 0.16 / 6.89 +- 0.16.
    n_paths, T = 20_000, 3.0
    coarse, _ = simulate_totals(CROSS, n_paths, T, dt=0.5, seed=4)
    fine, _ = simulate_totals(CROSS, n_paths, T, dt=0.125, seed=5)
    m_T = CROSS.stationary_intensity * T

    def moments(total):
        batches = total.reshape(20, -1, 2)
        per_batch = np.stack(
            [
                batches.mean(axis=1)[:, 0],
                batches.mean(axis=1)[:, 1],
                batches.var(axis=1, ddof=1)[:, 0],
                batches.var(axis=1, ddof=1)[:, 1],
                [np.cov(b.T)[0, 1] for b in batches],
            ],
            axis=1,
        )
        return batch_means(per_batch)

    (coarse_m, coarse_se), (fine_m, fine_se) = moments(coarse), moments(fine)
    diff_se = np.hypot(coarse_se, fine_se)
    assert np.all(np.abs(coarse_m - fine_m) < 4 * diff_se), (coarse_m, fine_m, diff_se)
    for m, se in ((coarse_m, coarse_se), (fine_m, fine_se)):
        assert np.all(np.abs(m[:2] - m_T) < 4 * se[:2])
    # Overdispersed relative to Poisson: the test compares a law far from the trivial one.
    assert np.all(coarse_m[2:4] > 2 * m_T)


def test_without_excitation_the_counts_are_poisson():
    # 20,000 paths, T = 1 in 10 steps, mu = (3, 5): mean = variance = mu T within 4 s.e.
    params = HawkesParams(mu=(3.0, 5.0), alpha=((0.0, 0.0), (0.0, 0.0)), beta=1.0)
    assert params.branching_ratio == 0.0
    total, _ = simulate_totals(params, 20_000, 1.0, dt=0.1, seed=6)
    batches = total.reshape(20, -1, 2)
    mean, mean_se = batch_means(batches.mean(axis=1))
    var, var_se = batch_means(batches.var(axis=1, ddof=1))
    assert np.all(np.abs(mean - [3.0, 5.0]) < 4 * mean_se)
    assert np.all(np.abs(var - [3.0, 5.0]) < 4 * var_se)


# --------------------------------------------------------------------------------------------
# Randomness and state
# --------------------------------------------------------------------------------------------


def run_steps(params, seed, n_paths=50, steps=(0.1, 0.3, 0.05, 1.0)):
    rng = np.random.default_rng(seed)
    flow = HawkesFlow(params)
    flow.reset(n_paths, rng, burn_in=0.5)
    return np.stack([flow.advance(dt, rng) for dt in steps]), flow.intensity


@pytest.mark.parametrize("params", [UNIVARIATE, CROSS], ids=["univariate", "cross"])
def test_same_seed_gives_the_same_bytes_whatever_numpys_global_state(params, reseed_global_numpy):
    reseed_global_numpy(1)
    counts_a, intensity_a = run_steps(params, seed=11)
    reseed_global_numpy(2)
    counts_b, intensity_b = run_steps(params, seed=11)
    assert counts_a.dtype == np.int64 and counts_a.shape == (4, 50, 2)
    assert counts_a.tobytes() == counts_b.tobytes()
    assert intensity_a.tobytes() == intensity_b.tobytes()
    counts_c, _ = run_steps(params, seed=12)
    assert counts_c.tobytes() != counts_a.tobytes()


def test_draws_come_only_from_the_generator_passed_in():
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    flow = HawkesFlow(CROSS)
    flow.reset(10, rng)  # no burn-in: no draws
    assert rng.bit_generator.state == before
    assert not flow.advance(0.0, rng).any()
    assert rng.bit_generator.state == before
    flow.advance(0.1, rng)
    assert rng.bit_generator.state != before


def test_intensity_jumps_by_alpha_at_events_and_decays_in_between():
    # One path, a long idle stretch: with no event the excitation decays as exp(-beta t), so
    # the intensity after the interval is mu + (lambda(0) - mu) e^{-beta dt} when no event
    # occurred; with events it is at least that plus the smallest jump times e^{-beta dt}.
    p = HawkesParams.symmetric(mu=1.0, alpha_self=0.5, alpha_cross=0.2, beta=2.0)
    rng = np.random.default_rng(0)
    flow = HawkesFlow(p)
    flow.reset(2000, rng)
    start = flow.intensity
    dt = 0.3
    counts = flow.advance(dt, rng)
    end = flow.intensity
    idle = counts.sum(axis=1) == 0
    assert idle.any() and (~idle).any()
    expected_idle = 1.0 + (start[idle] - 1.0) * math.exp(-2.0 * dt)
    np.testing.assert_allclose(end[idle], expected_idle, rtol=1e-13)
    assert np.all(end[~idle] > 1.0 + (start[~idle] - 1.0) * math.exp(-2.0 * dt)
                  + 0.2 * math.exp(-2.0 * dt) - 1e-12)


def test_an_excitation_that_decays_to_zero_never_rings():
    # beta = 1000 with a tiny baseline: after 2 time units idle the excitation underflows to 0.
    p = HawkesParams.symmetric(mu=1e-3, alpha_self=500.0, beta=1000.0)
    rng = np.random.default_rng(0)
    flow = HawkesFlow(p)
    flow.reset(200, rng)
    flow.advance(2.0, rng)
    idle = flow.intensity[:, 0] == 1e-3
    assert idle.any()
    counts = flow.advance(1.0, rng)
    assert np.all(counts >= 0) and np.all(np.isfinite(flow.intensity))


def test_a_zero_length_interval_and_a_batch_of_one_work():
    flow = HawkesFlow(CROSS)
    rng = np.random.default_rng(5)
    flow.reset(1, rng)
    assert flow.advance(0.0, rng).shape == (1, 2)
    assert flow.advance(10.0, rng).shape == (1, 2)


# --------------------------------------------------------------------------------------------
# Bad inputs: errors name the field
# --------------------------------------------------------------------------------------------

GOOD = dict(mu=(1.0, 1.0), alpha=((0.5, 0.1), (0.1, 0.5)), beta=2.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mu", 0.0),
        ("mu", -1.0),
        ("mu", (1.0, float("nan"))),
        ("mu", (1.0, 2.0, 3.0)),
        ("mu", "fast"),
        ("alpha", 0.5),
        ("alpha", ((0.5, -0.1), (0.1, 0.5))),
        ("alpha", ((0.5, 0.1), (0.1, float("inf")))),
        ("alpha", ((0.5, 0.1, 0.0), (0.1, 0.5, 0.0))),
        ("beta", 0.0),
        ("beta", -2.0),
        ("beta", ((2.0, 2.0), (2.0, 0.0))),
        ("beta", (2.0, 2.0)),
        ("beta", None),
    ],
)
def test_bad_field_raises_value_error_naming_it(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        HawkesParams(**{**GOOD, name: value})


def test_explosive_flow_raises_value_error_naming_the_spectral_radius():
    with pytest.raises(ValueError, match=r"^alpha / beta must have spectral radius .* < 1"):
        HawkesParams(mu=1.0, alpha=((1.5, 0.6), (0.6, 1.5)), beta=2.0)  # n = 1.05
    with pytest.raises(ValueError, match=r"got 1\.0"):
        HawkesParams.symmetric(mu=1.0, alpha_self=1.0, alpha_cross=1.0, beta=2.0)  # n = 1


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_bad_path_count_raises_value_error_naming_n_paths(value):
    with pytest.raises(ValueError, match=r"^n_paths must be an integer >= 1"):
        HawkesFlow(CROSS).reset(value, np.random.default_rng(0))


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "1"])
def test_bad_interval_raises_value_error_naming_dt(value):
    flow = HawkesFlow(CROSS)
    flow.reset(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^dt must be"):
        flow.advance(value, np.random.default_rng(0))


def test_bad_burn_in_raises_value_error_naming_it():
    with pytest.raises(ValueError, match=r"^burn_in must be"):
        HawkesFlow(CROSS).reset(3, np.random.default_rng(0), burn_in=-1.0)


def test_advance_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        HawkesFlow(CROSS).advance(0.1, np.random.default_rng(0))


def test_flow_requires_hawkes_params():
    with pytest.raises(TypeError, match="params must be a HawkesParams"):
        HawkesFlow(dict(GOOD))


def test_docstring_examples_run():
    import doctest

    import asmm_env.hawkes as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
