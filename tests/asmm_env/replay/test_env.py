"""The replay's Gymnasium faces: the checker, spaces, slices and autoreset, the baselines run
unchanged, the identity on every step, and a hand-written LOBSTER pair (not written by our
writer) that loads and replays with fills checked by hand."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import asmm_env  # noqa: F401  (registers the ids)
from asmm_env import MarketParams
from asmm_env.data import read_lobster, simulated_trades_quotes
from asmm_env.replay import ReplayParams
from asmm_env.replay.env import OBSERVATION_NAMES, ReplayEnv, ReplayVectorEnv
from baselines import AvellanedaStoikovPolicy, GLFTPolicy, RandomPolicy
from tests.asmm_env.test_data import MESSAGES, ORDERBOOK, _write_pair

ENV_ID = "asmm_env/Replay-v0"
MODEL = MarketParams(T=2.0)


@pytest.fixture(scope="module")
def days():
    """Two sessions of the reduced-form market, quotes every dt/2."""
    return simulated_trades_quotes(MODEL.replace(dt=MODEL.dt / 2), n_days=2, seed=3)


@pytest.fixture
def lobster(tmp_path):
    return read_lobster(*_write_pair(tmp_path, MESSAGES, ORDERBOOK), tick_size=0.01)


def _kwargs(**extra):
    return dict(T=1.0, dt=MODEL.dt, tick_size=0.0, max_depth=MODEL.depth_bound) | extra


@pytest.mark.parametrize("extra", [{}, dict(queue="random", entry_latency=0.002, fee=0.01,
                                            reward="inventory_penalty", inventory_penalty=0.1),
                                   dict(render_mode="ansi", max_inventory=5.0)])
def test_gymnasium_env_checker_passes_without_warnings(days, extra):
    env = gym.make(ENV_ID, data=days, **_kwargs(**extra))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_hand_written_lobster_pair_passes_the_checker_and_replays_fills_checked_by_hand(
        lobster):
    env = gym.make(ENV_ID, data=lobster, start=34200.0, T=5.0, dt=1.0, order_size=100.0,
                   queue="worst")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    action = env.unwrapped.params.action_map.to_action(0.005, 0.005)   # the best quotes
    obs, _ = env.reset(seed=0)
    assert obs[0] == pytest.approx(100.005) and obs[7] == obs[8] == -1     # no order yet
    sold = []
    for _ in range(3):
        obs, _, _, _, info = env.step(action)
        sold.append(info["ask_volume"])
    # Our ask at 100.01 joined behind 300 (worst case: the 200 cancelled at 34200.42 were
    # behind us). At 34202.051 a buy takes the 300 at 100.01 (none left for us), then walks
    # to 100.02: through our price, our 100 shares are filled at 100.01, with the mid after
    # the first execution (100.00 / 100.02) at 100.01: no spread captured.
    assert sold == [0.0, 0.0, 100.0]
    assert info["ask_fills"] == 1 and info["spread_capture"] == pytest.approx(0.0)
    assert info["bid_volume"] == 0 and obs[7] == 200      # the bid moved up by one execution
    assert abs(info["pnl"] - (info["spread_capture"] + info["inventory_pnl"])) < 1e-9


def test_vector_env_replays_every_slice_and_moves_on_at_autoreset(days):
    env = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", data=days,
                       **_kwargs(T=0.5))
    core = env.unwrapped.market
    assert core.n_slices == 8 and env.observation_space.shape == (3, 9)
    obs, info = env.reset(seed=1)
    assert info["slice"].tolist() == [0, 1, 2] and obs.shape == (3, 9)
    action = np.zeros((3, 2))
    for _ in range(core.n_steps):
        obs, reward, terminated, truncated, info = env.step(action)
        assert np.all(np.abs(info["pnl"] - (info["spread_capture"] + info["inventory_pnl"]))
                      < 1e-9)
    assert terminated.all() and not truncated.any()
    obs, reward, terminated, _, info = env.step(action)          # next-step autoreset
    assert info["slice"].tolist() == [3, 4, 5] and (reward == 0).all()
    again, info = env.reset(seed=1)
    assert info["slice"].tolist() == [0, 1, 2]


def test_same_seed_same_bytes_and_single_env_cycles_slices(days):
    env = ReplayEnv(data=days, **_kwargs(T=0.5, entry_latency=0.002, queue="random"))
    runs = []
    for _ in range(2):
        obs, info = env.reset(seed=4)
        rewards = []
        for t in range(env.params.n_steps):
            obs, r, *_ = env.step(np.array([0.1 * np.sin(t), -0.1]))
            rewards.append(r)
        runs.append(rewards)
    assert runs[0] == runs[1]
    assert [env.reset()[1]["slice"] for _ in range(3)] == [1.0, 2.0, 3.0]
    assert env.observation_names == OBSERVATION_NAMES


def test_baselines_run_unchanged_and_from_env_finds_the_replay_params(days):
    env = gym.make(ENV_ID, data=days, **_kwargs(max_inventory=10.0))
    with pytest.raises(ValueError, match="sigma must be given"):
        AvellanedaStoikovPolicy.from_env(env, gamma=0.1)
    policies = [AvellanedaStoikovPolicy.from_env(env, gamma=0.1, sigma=2.0, k=1.5),
                GLFTPolicy.from_env(env, gamma=0.1, sigma=2.0, A=140.0, k=1.5)]
    for policy in policies:
        obs, _ = env.reset(seed=0)
        done = False
        while not done:
            obs, _, done, _, info = env.step(policy.act(obs))
        assert info["bid_fills"] + info["ask_fills"] > 20
        assert abs(info["inventory"]) <= 10


def test_rollout_drives_the_replay_core_with_the_identity_on_every_step(lobster):
    import functools

    from asmm_env.replay import ReplayMarket
    from asmm_env.rollout import rollout

    params = ReplayParams(start=34200.0, T=10.0, dt=1.0, order_size=100.0,
                          entry_latency=0.3, cancel_latency=0.1)
    core = ReplayMarket(params, 1, data=lobster)
    policy = RandomPolicy(-0.02, 0.04, action_map=core.params, seed=3)
    res = rollout(policy, core.params, n_paths=core.n_slices, seed=2,
                  market_factory=functools.partial(ReplayMarket, data=core.tape))
    assert len(res.paths) == core.n_slices == 9
    assert res.paths["max_identity_residual"].max() < 1e-9


def test_make_without_data_names_it():
    with pytest.raises(ValueError, match="data must be given"):
        ReplayEnv(T=1.0)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        ReplayVectorEnv(num_envs=0, data=None)
