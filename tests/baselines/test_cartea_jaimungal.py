"""The Cartea–Jaimungal policy (baselines/cartea_jaimungal.py), end to end: a Monte Carlo run
reproduces the closed-form value ``cj_value``.

The policy maximises ``E[PnL_T - alpha q_T^2 - phi int_0^T q_t^2 dt]`` (inventory marked at
the mid; risk neutral: the volatility does not enter the value). The closed form is for
continuous time; the market is a discrete-time chain (per step and side ``min(Poisson(lambda
dt), capacity)`` fills at the depths held over the step; the penalty charges the inventory
held over each step, after its fills). Two checks, as for GLFT (test_glft_end_to_end.py):

1. ``chain_value`` computes, without Monte Carlo, the exact expected objective of that chain
   under the policy (a linear backward recursion on q = -Q..Q, written from the step rule of
   asmm_env/fills.py, not from its code: the mid's move adds nothing in expectation). The
   Monte Carlo mean must equal it within 4 s.e.
2. The chain's gap to ``cj_value`` is O(dt): measured -0.0609, -0.0301, -0.0150 at dt =
   0.005, 0.0025, 0.00125 (ratios 2.02, 2.01) with cj_value 65.9329 (phi 0.2, alpha 0.05,
   Q 10, the AS 2008 A and k, T 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from asmm_env import MarketParams
from asmm_env.analytic import cj_depths, cj_value
from asmm_env.rollout import rollout
from baselines import CarteaJaimungalPolicy
from baselines.cartea_jaimungal import RunningPenalty

PHI, ALPHA, Q = 0.2, 0.05, 10          # phi = gamma sigma^2 / 2 at gamma 0.1, sigma 2
MARKET = MarketParams(T=1.0, dt=0.005, max_inventory=float(Q))
VALUE = cj_value(0, phi=PHI, alpha=ALPHA, A=MARKET.A, k=MARKET.k, Q=Q, T=MARKET.T)


def chain_value(policy, params: MarketParams, phi: float, alpha: float, q0: int = 0) -> float:
    """Exact ``E[PnL_T - alpha q_T^2 - phi sum_i q_(i+1)^2 dt]`` of the discrete-time market
    under a policy whose depths depend on (time remaining, inventory) only (module
    docstring): per step and side ``min(N, capacity)`` fills, ``N ~ Poisson(A min(1,
    exp(-k delta)) dt)``, each earning its depth; then the post-fill inventory q' pays
    ``phi q'^2 dt``."""
    Qb = round(params.max_inventory)
    q = np.arange(-Qb, Qb + 1)
    n = np.arange(2 * Qb + 1)
    dt = params.dt
    v = -alpha * q.astype(float) ** 2
    for i in range(params.n_steps - 1, -1, -1):
        tau = (params.n_steps - i) * dt
        obs = np.stack([np.full(q.size, params.s0), q, np.full(q.size, tau)], axis=-1)
        depths = np.stack(policy.depths(obs), axis=-1)                    # (q, side)
        rate_dt = params.A * np.exp(-params.k * np.maximum(depths, 0.0)) * dt
        capacity = np.stack([Qb - q, Qb + q], axis=-1)
        pmf = stats.poisson.pmf(n, rate_dt[..., None])                     # (q, side, n)
        pmf = np.where(n < capacity[..., None], pmf, 0.0)
        tail = 1.0 - pmf.sum(axis=-1)                 # min(N, capacity): the rest at capacity
        np.put_along_axis(pmf, capacity[..., None], tail[..., None], axis=-1)
        after = v - phi * q.astype(float) ** 2 * dt
        shift = q[:, None, None] + n[None, :, None] - n[None, None, :]
        inside = (shift >= -Qb) & (shift <= Qb)
        values = np.where(inside, after[np.clip(shift + Qb, 0, 2 * Qb)], 0.0)
        earn = (n[None, :, None] * depths[:, 0, None, None]
                + n[None, None, :] * depths[:, 1, None, None])
        v = np.einsum("qb,qa,qba->q", pmf[:, 0], pmf[:, 1], values + earn)
    return float(v[q0 + Qb])


def test_depths_are_the_closed_form_on_the_time_grid():
    policy = CarteaJaimungalPolicy.from_env(MARKET, phi=PHI, alpha=ALPHA)
    q = np.arange(-Q + 1, Q)
    for tau in (1.0, 0.5, 0.005):
        obs = np.stack([np.full(q.size, 100.0), q, np.full(q.size, tau)], axis=-1)
        bid, ask = policy.depths(obs)
        want_bid, want_ask = cj_depths(tau, q, phi=PHI, alpha=ALPHA, A=MARKET.A, k=MARKET.k,
                                       Q=Q)
        np.testing.assert_allclose(bid, want_bid, rtol=1e-9)
        np.testing.assert_allclose(ask, want_ask, rtol=1e-9)
    # No bid at +Q and no ask at -Q: a depth that never fills.
    bid, ask = policy.depths(np.array([[100.0, Q, 1.0], [100.0, -Q, 1.0]]))
    assert bid[0] == ask[1] == policy.no_quote_depth >= 30 / MARKET.k


def test_the_chain_value_converges_to_cj_value_linearly_in_dt():
    gaps = []
    for dt in (0.005, 0.0025, 0.00125):
        params = MARKET.replace(dt=dt)
        policy = CarteaJaimungalPolicy.from_env(params, phi=PHI, alpha=ALPHA)
        gaps.append(chain_value(policy, params, PHI, ALPHA) - VALUE)
    assert all(-0.1 < g < 0 for g in gaps), gaps
    ratios = [a / b for a, b in zip(gaps[:-1], gaps[1:], strict=True)]
    assert all(1.9 < r < 2.1 for r in ratios), ratios


@pytest.mark.slow
def test_monte_carlo_objective_of_the_policy_is_the_chain_value_and_near_cj_value():
    # 20,000 paths (seed 17). Observed: 65.974 +- 0.059 against the chain's 65.872 and
    # cj_value 65.933.
    policy = CarteaJaimungalPolicy.from_env(MARKET, phi=PHI, alpha=ALPHA)
    result = rollout(policy, MARKET, n_paths=20_000, seed=17, observers=[RunningPenalty])
    paths = result.paths
    assert paths["max_abs_inventory"].max() <= Q
    objective = (paths["terminal_pnl"].to_numpy() - ALPHA * paths["terminal_inventory"] ** 2
                 - PHI * np.concatenate(result.observed[0]))
    mean, se = objective.mean(), objective.std(ddof=1) / np.sqrt(objective.size)
    chain = chain_value(policy, MARKET, PHI, ALPHA)
    assert abs(mean - chain) < 4 * se, (mean, se, chain)
    assert abs(mean - VALUE) < 4 * se + abs(chain - VALUE), (mean, se, VALUE)
    assert se < 0.08


def test_order_size_scales_the_penalties_as_the_problem_in_orders():
    big = MARKET.replace(order_size=2.0, max_inventory=2.0 * Q)
    policy = CarteaJaimungalPolicy.from_env(big, phi=PHI, alpha=ALPHA)
    assert policy.Q == Q and policy.table.phi == 2 * PHI and policy.table.alpha == 2 * ALPHA
    bid, _ = policy.depths(np.array([[100.0, 4.0, 1.0]]))      # 4 shares = 2 orders
    want, _ = cj_depths(1.0, 2, phi=2 * PHI, alpha=2 * ALPHA, A=big.A, k=big.k, Q=Q)
    np.testing.assert_allclose(bid, want, rtol=1e-9)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="phi"):
        CarteaJaimungalPolicy.from_env(MARKET, phi=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        CarteaJaimungalPolicy.from_env(MARKET, phi=0.1, alpha=-0.1)
    with pytest.raises(ValueError, match="Q"):
        CarteaJaimungalPolicy.from_env(MarketParams(), phi=0.1)
