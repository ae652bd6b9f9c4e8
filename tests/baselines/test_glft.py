"""Tests of baselines/glft.py: the exact GLFT policy (table lookup) and the asymptotic policy.

The end-to-end Monte Carlo check of the exact policy against the analytic certainty
equivalent is in test_glft_end_to_end.py (slow).
"""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
import pytest

import asmm_env  # noqa: F401  (registers the env ids)
from asmm_env.analytic import glft_asymptotic_depths, glft_depths
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import GLFTAsymptoticPolicy, GLFTPolicy, Policy

GAMMA = 0.1
AS2008_Q = MarketParams(max_inventory=10.0)          # AS 2008 market, |q| <= 10
LIQUID_Q = MarketParams(sigma=0.5, A=400.0, k=4.0, dt=0.001, max_inventory=50.0)


def obs(q, tau, mid=100.0):
    """Observations (n, 3) = (mid, inventory, time_remaining) for broadcast q and tau."""
    q, tau = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(tau, dtype=float))
    return np.stack([np.full(q.shape, mid), q, tau], axis=-1)


def model(p: MarketParams, gamma: float = GAMMA) -> dict:
    return dict(gamma=gamma, sigma=p.sigma, A=p.A, k=p.k)


# --- construction ----------------------------------------------------------------------------
def test_from_env_takes_Q_from_max_inventory_and_satisfies_the_policy_protocol():
    policy = GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA)
    assert policy.Q == 10
    assert policy.table.dt == AS2008_Q.dt and policy.table.n_steps == AS2008_Q.n_steps
    assert isinstance(policy, Policy) and isinstance(GLFTAsymptoticPolicy.from_env(
        AS2008_Q, gamma=GAMMA), Policy)


def test_from_env_accepts_a_gymnasium_env():
    env = gym.make("asmm_env/AvellanedaStoikov-v0", max_inventory=4.0)
    assert GLFTPolicy.from_env(env, gamma=GAMMA).Q == 4
    env.close()


def test_explicit_Q_overrides_max_inventory_and_warns_about_the_mismatch(caplog):
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        policy = GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA, Q=5)
    assert policy.Q == 5
    assert "max_inventory" in caplog.text


# --- the quotes --------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [AS2008_Q, LIQUID_Q], ids=["as2008", "liquid"])
def test_depths_equal_glft_depths_at_every_grid_time_and_inventory(params):
    policy = GLFTPolicy.from_env(params, gamma=GAMMA)
    Q = policy.Q
    tau = (params.n_steps - np.arange(0, params.n_steps + 1, 10)) * params.dt
    q = np.arange(-Q, Q + 1)
    tt, qq = np.meshgrid(tau, q, indexing="ij")
    bid, ask = policy.depths(obs(qq, tt))
    exact_bid, exact_ask = glft_depths(tt, qq, **model(params), Q=Q)
    quoted_bid, quoted_ask = np.isfinite(exact_bid), np.isfinite(exact_ask)
    np.testing.assert_allclose(bid[quoted_bid], exact_bid[quoted_bid], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ask[quoted_ask], exact_ask[quoted_ask], rtol=1e-9, atol=1e-12)
    # Where GLFT has no quote the policy quotes out of reach (30 / k).
    assert np.all(bid[~quoted_bid] == policy.no_quote_depth)
    assert np.all(ask[~quoted_ask] == policy.no_quote_depth)


def test_actions_are_the_depths_through_the_action_map_and_keep_the_batch_shape():
    policy = GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA)
    o = obs([-3.0, 0.0, 4.0], [1.0, 0.5, 0.005])
    bid, ask = policy.depths(o)
    np.testing.assert_allclose(AS2008_Q.action_map.to_depths(policy.act(o), 3),
                               np.stack([bid, ask], -1), rtol=1e-12)
    assert policy.act(o[1]).shape == (2,)
    np.testing.assert_allclose(policy.act(o[1]), policy.act(o)[1])


@pytest.mark.parametrize("params", [AS2008_Q, LIQUID_Q], ids=["as2008", "liquid"])
def test_bid_at_q_equals_ask_at_minus_q_through_the_policy(params):
    policy = GLFTPolicy.from_env(params, gamma=GAMMA)
    q = np.arange(-policy.Q, policy.Q + 1, dtype=float)
    for tau in (params.T, 0.5 * params.T, 3 * params.dt, params.dt):
        action = policy.act(obs(q, tau))
        np.testing.assert_array_equal(action[:, 0], action[::-1, 1])


def test_no_bid_at_plus_Q_and_no_ask_at_minus_Q_are_out_of_reach_and_actions_past_one():
    policy = GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA)
    taus = np.array([1.0, 0.5, 0.005])
    bid, _ = policy.depths(obs(10.0, taus))
    _, ask = policy.depths(obs(-10.0, taus))
    assert np.all(bid == 30.0 / AS2008_Q.k) and np.all(ask == 30.0 / AS2008_Q.k)
    at_plus = policy.act(obs(10.0, taus))
    at_minus = policy.act(obs(-10.0, taus))
    assert np.all(at_plus[:, 0] > 1.0) and np.all(at_minus[:, 1] > 1.0)   # the env clips to 1
    wide = GLFTPolicy.from_env(AS2008_Q.replace(min_depth=-30.0, max_depth=30.0), gamma=GAMMA)
    # The other side is quoted, inside a wide action range.
    assert np.all(np.abs(wide.act(obs(10.0, taus))[:, 1]) < 1.0)
    assert np.all(np.abs(wide.act(obs(-10.0, taus))[:, 0]) < 1.0)


def test_inventory_beyond_Q_is_quoted_as_at_the_bound():
    policy = GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA, Q=5)
    np.testing.assert_array_equal(policy.act(obs(7.0, 0.5)), policy.act(obs(5.0, 0.5)))


def test_order_size_scales_inventory_to_orders_and_gamma_to_gamma_times_order_size():
    params = MarketParams(order_size=2.0, max_inventory=12.0)
    policy = GLFTPolicy.from_env(params, gamma=GAMMA)
    assert policy.Q == 6
    bid, ask = policy.depths(obs([-6.0, 0.0, 4.0], 0.5))
    exact_bid, exact_ask = glft_depths(0.5, [-3, 0, 2], **model(params, 2 * GAMMA), Q=6)
    np.testing.assert_allclose(bid, exact_bid)
    np.testing.assert_allclose(ask, exact_ask)


def test_asymptotic_policy_quotes_the_closed_form_whatever_the_time():
    policy = GLFTAsymptoticPolicy.from_env(AS2008_Q, gamma=GAMMA)
    q = np.arange(-10.0, 11.0)
    expected = glft_asymptotic_depths(q, **model(AS2008_Q))
    for tau in (1.0, 0.01):
        bid, ask = policy.depths(obs(q, tau))
        np.testing.assert_allclose(bid, expected[0])
        np.testing.assert_allclose(ask, expected[1])
        np.testing.assert_allclose(bid, ask[::-1])


WIDE = dict(min_depth=-30.0, max_depth=30.0)


@pytest.mark.parametrize("params", [AS2008_Q.replace(**WIDE),
                                    MarketParams(max_inventory=100.0, **WIDE),
                                    LIQUID_Q.replace(**WIDE),
                                    LIQUID_Q.replace(max_inventory=100.0, **WIDE)],
                         ids=["as2008-Q10", "as2008-Q100", "liquid-Q50", "liquid-Q100"])
def test_a_wide_action_map_contains_every_exact_and_asymptotic_quote(params, caplog):
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        policy = GLFTPolicy.from_env(params, gamma=GAMMA)
    low, high = policy.depth_range
    reach = params.action_map
    assert reach.low < low and high < reach.high
    assert "clips" not in caplog.text
    Q = policy.Q
    bid, ask = GLFTAsymptoticPolicy.from_env(params, gamma=GAMMA).depths(
        obs(np.arange(-Q, Q + 1.0), 0.5))
    both = np.concatenate([bid, ask])
    assert np.all((reach.low < both) & (both < reach.high))


def test_an_env_whose_actions_do_not_reach_the_quotes_is_reported_and_params_are_not(caplog):
    params = MarketParams(max_inventory=100.0, min_depth=-1.0, max_depth=1.0)  # [-2.1, 3.4]
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        GLFTPolicy.from_env(gym.make("asmm_env/AvellanedaStoikov-v0", params=params),
                            gamma=GAMMA)
    assert "the env clips those quotes" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        GLFTPolicy.from_env(params, gamma=GAMMA)          # the runner: depths as they are
    assert caplog.text == ""


# --- in the env ---------------------------------------------------------------------------------
def test_inventory_never_leaves_minus_Q_Q_in_the_bounded_market():
    # gamma small and Q small: the bound binds on many of the 2,000 paths.
    params = MarketParams(max_inventory=3.0, T=0.5)
    result = rollout(GLFTPolicy.from_env(params, gamma=0.01), params, n_paths=2_000, seed=11)
    max_abs = result.paths["max_abs_inventory"]
    assert max_abs.max() == 3.0
    assert (max_abs == 3.0).mean() > 0.5


def test_policy_alone_keeps_inventory_in_minus_Q_Q_with_one_fill_a_step_at_most(caplog):
    # With at most one order a step the policy's own "no quote" at +/-Q is a bound; with
    # Poisson counts a quote at Q - 1 can take two fills in a step, and only the market's
    # max_inventory (capacities) enforces Q.
    params = MarketParams(T=0.5, fill_rule="exponential")
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        policy = GLFTPolicy.from_env(params, gamma=0.01, Q=3)
    # The runner uses the policy's no_quote_depth (30 / k), which never fills: no warning
    # for a policy built from the params (through an env, see the next test, there is one).
    assert caplog.text == ""
    assert policy.no_quote_depth == 30.0 / params.k
    result = rollout(policy, params, n_paths=2_000, seed=12)
    assert result.paths["max_abs_inventory"].max() == 3.0
    poisson = rollout(policy, params.replace(fill_rule="poisson"), n_paths=2_000, seed=12)
    assert poisson.paths["max_abs_inventory"].max() > 3.0
    bounded = rollout(policy, params.replace(fill_rule="poisson", max_inventory=3.0),
                      n_paths=2_000, seed=12)
    assert bounded.paths["max_abs_inventory"].max() == 3.0


def test_an_unbounded_env_warns_that_Q_leaks_only_if_its_deepest_action_fills(caplog):
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        GLFTPolicy.from_env(gym.make("asmm_env/AvellanedaStoikov-v0", max_depth=2.0),
                            gamma=0.1, Q=3)
    assert "without max_inventory" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="baselines.glft"):
        GLFTPolicy.from_env(gym.make("asmm_env/AvellanedaStoikov-v0", max_depth=30.0),
                            gamma=0.1, Q=3)
    assert "without max_inventory" not in caplog.text


def test_gymnasium_env_episode_with_the_policy_stays_within_Q():
    env = gym.make("asmm_env/AvellanedaStoikov-v0", max_inventory=2.0, T=0.5)
    policy = GLFTPolicy.from_env(env, gamma=0.01)
    observation, _ = env.reset(seed=3)
    seen, done = [observation[1]], False
    while not done:
        observation, _, done, _, info = env.step(policy.act(observation))
        seen.append(info["inventory"])
    env.close()
    assert max(abs(q) for q in seen) <= 2.0
    assert max(abs(q) for q in seen) == 2.0


# --- errors ---------------------------------------------------------------------------------------
def test_missing_Q_without_max_inventory_raises_value_error_naming_Q():
    with pytest.raises(ValueError, match=r"^Q must be given.*max_inventory=None"):
        GLFTPolicy.from_env(MarketParams(), gamma=GAMMA)


@pytest.mark.parametrize("Q", [0, -3, 2.5, "10", True])
def test_bad_Q_raises_value_error_naming_Q(Q):
    with pytest.raises(ValueError, match=r"^Q must be an integer >= 1"):
        GLFTPolicy.from_env(MarketParams(), gamma=GAMMA, Q=Q)


def test_max_inventory_not_a_whole_number_of_orders_raises_value_error_naming_it():
    params = MarketParams(max_inventory=5.0, order_size=2.0)
    with pytest.raises(ValueError, match=r"max_inventory=5.0, order_size=2.0"):
        GLFTPolicy.from_env(params, gamma=GAMMA)


@pytest.mark.parametrize("gamma", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_gamma_raises_value_error_naming_gamma(gamma):
    with pytest.raises(ValueError, match=r"^gamma must be"):
        GLFTPolicy.from_env(AS2008_Q, gamma=gamma)
    with pytest.raises(ValueError, match=r"^gamma must be"):
        GLFTAsymptoticPolicy.from_env(AS2008_Q, gamma=gamma)


@pytest.mark.parametrize("name", ["sigma", "A", "k", "T", "dt", "order_size"])
def test_bad_model_parameter_raises_value_error_naming_it(name):
    kwargs = dict(sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005, Q=5,
                  action_map=MarketParams().action_map, order_size=1.0)
    kwargs[name] = -1.0
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        GLFTPolicy(GAMMA, **kwargs)
    asymptotic = {key: kwargs[key] for key in ("sigma", "A", "k", "action_map", "order_size")}
    if name in asymptotic:
        with pytest.raises(ValueError, match=rf"^{name} must be"):
            GLFTAsymptoticPolicy(GAMMA, **asymptotic)


def test_dt_not_dividing_T_raises_value_error_naming_dt():
    with pytest.raises(ValueError, match=r"^T / dt must be a whole number of steps >= 1"):
        GLFTPolicy(GAMMA, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.3, Q=5,
                   action_map=MarketParams().action_map)


def test_observation_of_the_wrong_shape_raises_value_error_naming_observation():
    with pytest.raises(ValueError, match=r"^observation must have shape"):
        GLFTPolicy.from_env(AS2008_Q, gamma=GAMMA).act(np.zeros((4, 2)))
