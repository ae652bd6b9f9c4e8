"""AvellanedaStoikovPolicy: its actions are the AS (2008) quotes, and in the AS 2008 market it
controls risk far better than the symmetric strategy."""

import math

import gymnasium as gym
import numpy as np
import pytest

import asmm_env  # noqa: F401  (registers the env ids)
from asmm_env import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy, SymmetricPolicy

# AS 2008 (S0 = 100, T = 1, sigma = 2, dt = 0.005, A = 140, k = 1.5), with actions that reach
# every depth the formula quotes here (the default range [-1/k, 3/k] clips gamma = 0.5's).
PARAMS = MarketParams(min_depth=-30.0, max_depth=30.0)


def _formula_depths(q, tau, gamma, sigma=2.0, k=1.5, include_time_term=True):
    """AS (2008) depths written out: bid = s - (r - spread / 2), ask = (r + spread / 2) - s."""
    skew = q * gamma * sigma**2 * tau                                  # s - r
    spread = 2.0 / gamma * math.log(1.0 + gamma / k)
    if include_time_term:
        spread = spread + gamma * sigma**2 * tau
    return skew + spread / 2, -skew + spread / 2


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
@pytest.mark.parametrize("include_time_term", [True, False])
def test_actions_convert_back_to_the_as_formula_depths(gamma, include_time_term):
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, gamma, include_time_term=include_time_term)
    obs = np.array([[100.0, 0.0, 1.0], [101.3, 3.0, 0.5], [97.0, -5.0, 0.05], [99.0, 12.0, 0.0]])
    action = policy.act(obs)
    assert action.shape == (4, 2)
    bid, ask = _formula_depths(obs[:, 1], obs[:, 2], gamma, include_time_term=include_time_term)
    depths = PARAMS.action_map.to_depths(action, 4)
    np.testing.assert_allclose(depths[:, 0], bid, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(depths[:, 1], ask, rtol=1e-12, atol=1e-12)


def test_one_observation_gives_one_action_equal_to_the_batch_row():
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    batch = np.array([[100.0, 2.0, 0.7], [100.0, -1.0, 0.2]])
    single = policy.act(batch[1])
    assert single.shape == (2,)
    assert np.array_equal(single, policy.act(batch)[1])
    assert policy.act([100.0, 2.0, 0.7]).shape == (2,)        # plain lists are accepted


def test_quotes_do_not_depend_on_the_mid():
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    assert np.array_equal(policy.act([50.0, 3.0, 0.4]), policy.act([150.0, 3.0, 0.4]))


@pytest.mark.parametrize("face", ["params", "env", "wrapped", "vector"])
def test_from_env_reads_the_market_of_every_face(face):
    params = MarketParams(sigma=3.0, k=2.0, T=0.5)
    source = {
        "params": lambda: params,
        "env": lambda: gym.make("asmm_env/AvellanedaStoikov-v0", params=params).unwrapped,
        "wrapped": lambda: gym.make("asmm_env/AvellanedaStoikov-v0", params=params),
        "vector": lambda: gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=2,
                                       vectorization_mode="vector_entry_point",
                                       params=params),
    }[face]()
    policy = AvellanedaStoikovPolicy.from_env(source, 0.2)
    assert (policy.sigma, policy.k, policy.T, policy.action_map) == (3.0, 2.0, 0.5,
                                                                     params.action_map)


@pytest.mark.parametrize("name", ["gamma", "sigma", "k", "T"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_constructor_argument_raises_value_error_naming_it(name, value):
    kwargs = dict(gamma=0.1, sigma=2.0, k=1.5, T=1.0, action_map=PARAMS) | {name: value}
    gamma = kwargs.pop("gamma")
    with pytest.raises(ValueError, match=rf"^{name} must"):
        AvellanedaStoikovPolicy(gamma, **kwargs)


@pytest.mark.parametrize("shape", [(2,), (5, 2), (2, 3, 3), ()])
def test_misshapen_observation_raises_value_error_naming_it(shape):
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    with pytest.raises(ValueError, match=r"^observation must have shape \(d,\) or \(n, d\)"):
        policy.act(np.ones(shape))


def test_extra_observation_features_after_the_first_three_are_ignored():
    # The order-book env appends book features after (mid, inventory, time_remaining).
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    obs = np.array([[100.0, 3.0, 0.4], [99.0, -2.0, 0.9]])
    extended = np.hstack([obs, np.full((2, 5), 7.0)])
    np.testing.assert_array_equal(policy.act(extended), policy.act(obs))


def test_from_env_rejects_objects_without_market_params():
    with pytest.raises(TypeError, match="MarketParams"):
        AvellanedaStoikovPolicy.from_env(object(), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("gamma", [0.1, 0.01, 0.5])
def test_inventory_strategy_has_far_smaller_risk_than_the_symmetric_strategy(gamma):
    """The AS 2008 experiment (section 4), 2,000 paths per strategy: the inventory strategy's
    terminal PnL and terminal inventory have a much smaller standard deviation than those of
    the symmetric strategy with the same average spread. Measured ratios (2,000 paths): PnL
    0.45-0.68, inventory 0.30-0.64 (smallest effect at gamma = 0.01, paper: 8.76 / 13.40 =
    0.65). With 2,000 paths a std ratio has a relative s.e. of about sqrt(1/2000) = 2.2 % (a
    little more for the fat-tailed PnL), so 0.8 is more than 4 s.e. above every measured
    ratio, while a strategy no better than the symmetric one (ratio 1) is far above it."""
    n = 2000
    inventory = rollout(AvellanedaStoikovPolicy.from_env(PARAMS, gamma), PARAMS, n_paths=n,
                        seed=1).paths
    symmetric = rollout(SymmetricPolicy.from_env(PARAMS, gamma), PARAMS, n_paths=n,
                        seed=2).paths
    pnl_ratio = inventory.terminal_pnl.std() / symmetric.terminal_pnl.std()
    q_ratio = inventory.terminal_inventory.std() / symmetric.terminal_inventory.std()
    assert pnl_ratio < 0.8, pnl_ratio
    assert q_ratio < 0.8, q_ratio
    assert (inventory.max_identity_residual < 1e-9).all()
