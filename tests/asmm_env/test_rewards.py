"""Reward functions, through the single env: what a step is worth."""

import gymnasium as gym
import numpy as np
import pytest

import asmm_env  # noqa: F401  (registers the env ids)
from asmm_env.rewards import InventoryPenalty, PnLIncrement, TerminalCARA, build_reward

ENV_ID = "asmm_env/AvellanedaStoikov-v0"


def _episode(seed=0, **kwargs):
    """Rewards and infos of one episode quoting at fixed depths 0.3 (action in env units)."""
    env = gym.make(ENV_ID, T=0.2, **kwargs)
    _, info = env.reset(seed=seed)
    action = env.unwrapped.params.action_map.to_action(0.3, 0.3)
    rewards, infos, terminated = [], [info], False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        rewards.append(reward)
        infos.append(info)
    return np.array(rewards), infos, env.unwrapped.params


def test_pnl_reward_is_the_change_of_mark_to_market_pnl_and_sums_to_terminal_pnl():
    rewards, infos, _ = _episode()
    pnl = np.array([info["pnl"] for info in infos])
    np.testing.assert_allclose(rewards, np.diff(pnl), rtol=1e-12, atol=1e-12)
    assert rewards.sum() == pytest.approx(infos[-1]["pnl"], rel=1e-9, abs=1e-9)
    assert np.count_nonzero(rewards) > 10


def test_inventory_penalty_subtracts_phi_q_squared_dt_after_the_step():
    phi = 0.3
    plain, _, _ = _episode(seed=1)
    rewards, infos, params = _episode(seed=1, reward="inventory_penalty", inventory_penalty=phi)
    q = np.array([info["inventory"] for info in infos[1:]])
    assert np.abs(q).max() > 0
    np.testing.assert_allclose(rewards, plain - phi * params.dt * q**2, rtol=1e-12, atol=1e-12)


def test_cara_reward_is_zero_until_the_last_step_then_minus_exp_of_terminal_pnl():
    gamma = 0.1
    rewards, infos, _ = _episode(seed=2, reward="cara", risk_aversion=gamma)
    assert np.array_equal(rewards[:-1], np.zeros(len(rewards) - 1))
    assert rewards[-1] == pytest.approx(-np.exp(-gamma * infos[-1]["pnl"]), rel=1e-12)


def test_a_callable_reward_is_used_as_is():
    rewards, _, _ = _episode(seed=3, reward=lambda change, market: change * 0 + 7.0)
    assert np.array_equal(rewards, np.full(len(rewards), 7.0))


def test_build_reward_names_the_three_rewards():
    assert isinstance(build_reward("pnl"), PnLIncrement)
    assert isinstance(build_reward("inventory_penalty", inventory_penalty=0.1), InventoryPenalty)
    assert isinstance(build_reward("cara", risk_aversion=0.5), TerminalCARA)


def test_unknown_reward_raises_value_error_naming_reward():
    with pytest.raises(ValueError, match=r"^reward must be one of \('pnl'"):
        build_reward("sharpe")
    with pytest.raises(ValueError, match=r"^reward must be one of"):
        gym.make(ENV_ID, reward="sharpe")


@pytest.mark.parametrize("phi", [-0.1, float("nan")])
def test_bad_inventory_penalty_raises_value_error_naming_it(phi):
    with pytest.raises(ValueError, match=r"^inventory_penalty must"):
        InventoryPenalty(phi)
    with pytest.raises(ValueError, match=r"^inventory_penalty must"):
        gym.make(ENV_ID, reward="inventory_penalty", inventory_penalty=phi)


@pytest.mark.parametrize("gamma", [0.0, -1.0, float("inf")])
def test_bad_risk_aversion_raises_value_error_naming_it(gamma):
    with pytest.raises(ValueError, match=r"^risk_aversion must"):
        TerminalCARA(gamma)
    with pytest.raises(ValueError, match=r"^risk_aversion must"):
        gym.make(ENV_ID, reward="cara", risk_aversion=gamma)
