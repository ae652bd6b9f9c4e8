"""The Policy protocol and market_params: every baseline is a Policy, and finds its market."""

import gymnasium as gym
import numpy as np
import pytest

import asmm_env  # noqa: F401  (registers the env ids)
from asmm_env import Market, MarketParams
from baselines import (
    AvellanedaStoikovPolicy,
    ConstantSpreadPolicy,
    DepthPolicy,
    GLFTAsymptoticPolicy,
    Policy,
    RandomPolicy,
    SymmetricPolicy,
    market_params,
)

PARAMS = MarketParams(sigma=1.0)


@pytest.mark.parametrize("policy", [
    AvellanedaStoikovPolicy.from_env(PARAMS, 0.1), SymmetricPolicy.from_env(PARAMS, 0.1),
    ConstantSpreadPolicy.from_env(PARAMS, 0.5), RandomPolicy.from_env(PARAMS, 0.0, 1.0, seed=0),
])
def test_every_baseline_is_a_policy_whose_actions_lie_in_the_action_space(policy):
    assert isinstance(policy, Policy)
    env = gym.make("asmm_env/AvellanedaStoikov-v0", params=PARAMS)
    obs, _ = env.reset(seed=0)
    action = policy.act(obs)
    assert env.action_space.contains(action)
    assert policy.act(np.tile(obs, (5, 1))).shape == (5, 2)
    assert repr(policy).startswith(type(policy).__name__)


def test_market_params_finds_the_params_of_every_face():
    env = gym.make("asmm_env/AvellanedaStoikov-v0", params=PARAMS)
    venv = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=2, params=PARAMS,
                        vectorization_mode="vector_entry_point")
    for source in (PARAMS, env, env.unwrapped, venv, Market(PARAMS)):
        assert market_params(source) is PARAMS


def test_market_params_finds_the_params_through_gymnasium_vector_envs_and_the_book():
    from pettingzoo.utils.conversions import parallel_to_aec

    from asmm_env import competition_v0
    from asmm_env.lob import BookParams

    sync = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=2, params=PARAMS,
                        vectorization_mode="sync")
    wrapped = gym.wrappers.RecordEpisodeStatistics(gym.make("asmm_env/AvellanedaStoikov-v0",
                                                            params=PARAMS))
    aec = parallel_to_aec(competition_v0.parallel_env(n_agents=2, params=PARAMS))
    for source in (sync, wrapped, aec):
        assert market_params(source) == PARAMS
    book = BookParams(T=30.0)
    lob = gym.make("asmm_env/AvellanedaStoikovLOB-v0", params=book)
    lob_vec = gym.make_vec("asmm_env/AvellanedaStoikovLOB-v0", num_envs=2, params=book,
                           vectorization_mode="vector_entry_point")
    assert market_params(lob) == book and market_params(lob_vec) == book


@pytest.mark.slow
def test_from_env_works_on_an_async_vector_env():
    envs = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=2, params=PARAMS,
                        vectorization_mode="async")
    try:
        assert AvellanedaStoikovPolicy.from_env(envs, 0.1).sigma == PARAMS.sigma
    finally:
        envs.close()


def test_from_env_on_the_order_book_needs_sigma_and_k_and_names_them():
    lob = gym.make("asmm_env/AvellanedaStoikovLOB-v0", T=30.0)
    with pytest.raises(ValueError, match="^sigma must be given"):
        AvellanedaStoikovPolicy.from_env(lob, 0.1)
    with pytest.raises(ValueError, match="^k must be given"):
        SymmetricPolicy.from_env(lob, 0.1, sigma=0.01)
    with pytest.raises(ValueError, match="^A must be given"):
        GLFTAsymptoticPolicy.from_env(lob, 0.1, sigma=0.01, k=100.0)
    policy = AvellanedaStoikovPolicy.from_env(lob, 0.1, sigma=0.01, k=100.0)
    assert policy.action_map == lob.unwrapped.params.action_map
    obs, _ = lob.reset(seed=0)
    assert lob.action_space.contains(policy.act(obs))


def test_market_params_names_what_it_could_not_read():
    with pytest.raises(TypeError, match="cannot find MarketParams"):
        market_params("not an env")


def test_depth_policy_subclasses_must_implement_depths():
    class Incomplete(DepthPolicy):
        action_map = MarketParams().action_map

    with pytest.raises(NotImplementedError):
        Incomplete().act(np.zeros(3))
