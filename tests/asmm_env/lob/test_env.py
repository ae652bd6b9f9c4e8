"""The Gymnasium faces of the limit order book: the checker, spaces and the action mapping,
the ledger in the infos, seeding, next-step autoreset of the vector env, and errors."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from asmm_env.lob import BookParams
from asmm_env.lob.env import (
    INFO_KEYS,
    AvellanedaStoikovLOBEnv,
    AvellanedaStoikovLOBVectorEnv,
    depths_to_offsets,
    observation_names,
    offsets_to_action,
)

ENV_ID = "asmm_env/AvellanedaStoikovLOB-v0"
SHORT = dict(T=20.0)          # 20 steps of dt = 1
INSTANT = dict(T=1e-4, dt=1e-4)   # one step too short for events (rate ~13 per unit time)


def _make_vec(num_envs, **kwargs):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **kwargs)


def _episode(env, seed, action_fn):
    obs, info = env.reset(seed=seed)
    out = dict(obs=[obs], reward=[], info=[info])
    terminated, step = False, 0
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(action_fn(step))
        assert not truncated
        out["obs"].append(obs)
        out["reward"].append(reward)
        out["info"].append(info)
        step += 1
    return out


@pytest.mark.parametrize("kwargs", [
    {},
    dict(n_levels=1, market_boost=0.0, **SHORT),
    dict(n_levels=5, q0=3.0, fee=0.001, reward="inventory_penalty", inventory_penalty=0.1,
         **SHORT),
    dict(cancel_rate=0.0, reward="cara", risk_aversion=0.5, **SHORT),
    dict(render_mode="ansi", **SHORT),
])
def test_gymnasium_env_checker_passes_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_registered_id_builds_both_faces_with_the_documented_shapes():
    env = gym.make(ENV_ID, n_levels=4)
    assert isinstance(env.unwrapped, AvellanedaStoikovLOBEnv)
    assert env.observation_space.shape == (11 + 8,) and env.action_space.shape == (2,)
    assert env.unwrapped.observation_names == observation_names(4)
    assert env.unwrapped.observation_names[:3] == ("mid", "inventory", "time_remaining")
    venv = _make_vec(3, n_levels=4)
    assert isinstance(venv, AvellanedaStoikovLOBVectorEnv) and venv.num_envs == 3
    assert venv.observation_space.shape == (3, 19) and venv.action_space.shape == (3, 2)
    assert venv.single_observation_space == env.observation_space


def test_observation_holds_the_book_and_our_orders_and_stays_in_its_space():
    env = gym.make(ENV_ID, **SHORT)
    names = env.unwrapped.observation_names
    obs, _ = env.reset(seed=0)
    assert obs[:3].tolist() == [100.0, 0.0, 20.0]
    assert obs[names.index("bid_level")] == -1 and obs[names.index("bid_queue_position")] == -1
    action = offsets_to_action(0, 1, env.unwrapped.params)
    for step in range(1, 21):
        obs, _, terminated, _, _ = env.step(action)
        o = dict(zip(names, obs, strict=True))
        assert env.observation_space.contains(obs)
        assert o["time_remaining"] == pytest.approx(20.0 - step)
        assert o["best_ask"] - o["best_bid"] == pytest.approx(0.01)
        assert o["mid"] == pytest.approx((o["best_bid"] + o["best_ask"]) / 2)
        qb, qa = o["bid_queue_0"], o["ask_queue_0"]
        assert o["imbalance"] == pytest.approx((qb - qa) / (qb + qa))
        assert o["micro_price"] == pytest.approx((o["best_bid"] * qa + o["best_ask"] * qb)
                                                 / (qb + qa))
        # our orders rest where the action put them unless the price moved since
        assert o["bid_level"] >= 0 and o["ask_level"] >= 0
        assert 0 <= o["bid_queue_position"] < o[f"bid_queue_{int(o['bid_level'])}"]
        assert terminated == (step == 20)


def test_actions_map_to_levels_by_depth_bins_of_one_tick():
    p = BookParams(n_levels=3, tick_size=0.5)
    assert p.depth_bound == 1.5
    depths = np.array([-1.0, 0.0, 0.49, 0.5, 0.99, 1.0, 1.49, 1.5, 9.0])
    assert depths_to_offsets(depths, p).tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    for j in range(3):
        action = offsets_to_action(j, 2 - j, p)
        assert depths_to_offsets(p.action_map.to_depths(action, 1)[0], p).tolist() == [j, 2 - j]
    env = gym.make(ENV_ID, n_levels=3, tick_size=0.5, **INSTANT)
    env.reset(seed=1)
    env.step(np.array([1.0, -1.0]))
    assert env.unwrapped.book.order_levels()[0, 0].tolist() == [2, 0]


def test_info_is_the_ledger_and_the_pnl_identity_holds_on_every_step():
    env = gym.make(ENV_ID, fee=0.002, q0=1.0, T=60.0)
    rng = np.random.default_rng(0)
    out = _episode(env, 3, lambda step: rng.uniform(-1, 1, size=2))
    previous_q = 1.0
    for info, reward, i in zip(out["info"][1:], out["reward"], range(1, 61), strict=True):
        assert set(info) == set(INFO_KEYS)
        assert info["pnl"] == pytest.approx(info["spread_capture"] + info["inventory_pnl"]
                                            + info["fees"], abs=1e-9)
        assert info["inventory"] == pytest.approx(previous_q + info["bid_filled"]
                                                  - info["ask_filled"])
        previous_q = info["inventory"]
        assert reward == pytest.approx(info["pnl"] - out["info"][i - 1]["pnl"], abs=1e-9)
    last = out["info"][-1]
    fills = sum(i["bid_filled"] + i["ask_filled"] for i in out["info"][1:])
    assert fills > 0 and last["spread_capture"] == pytest.approx(0.005 * fills)


def test_same_seed_gives_the_same_bytes_and_another_seed_differs():
    def run(seed):
        rng = np.random.default_rng(0)
        out = _episode(gym.make(ENV_ID, **SHORT), seed, lambda step: rng.uniform(-1, 1, 2))
        return np.array(out["obs"]), np.array(out["reward"])

    first, second, other = run(5), run(5), run(6)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=True))
    assert first[0].tobytes() != other[0].tobytes()


def test_vector_env_is_seeded_and_autoresets_on_the_next_step():
    def run(seed):
        venv = _make_vec(300, **SHORT)      # above the book's compaction threshold
        obs, _ = venv.reset(seed=seed)
        trace = [obs]
        for _ in range(20):
            obs, reward, terminated, truncated, infos = venv.step(np.full((300, 2), 0.2))
            trace += [obs, reward]
        assert terminated.all() and not truncated.any()
        assert set(INFO_KEYS) <= set(infos) and infos["_pnl"].all()
        obs, reward, terminated, _, _ = venv.step(np.full((300, 2), 0.2))   # the reset step
        assert (reward == 0).all() and not terminated.any() and (obs[:, 2] == 20.0).all()
        return trace

    first, second = run(1), run(1)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("action, match", [
    (np.array([0.1]), "shape"),
    (np.array([[0.1, 0.2, 0.3]]), "shape"),
    (np.array([np.nan, 0.1]), "finite"),
    (np.array([0.1, np.inf]), "finite"),
])
def test_malformed_actions_raise_naming_the_action(action, match):
    env = gym.make(ENV_ID, **SHORT)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action") as info:
        env.step(action)
    assert info.match(match)


def test_actions_beyond_the_box_are_clipped_to_the_deepest_and_the_best_level():
    env = gym.make(ENV_ID, n_levels=3, **INSTANT)
    env.reset(seed=0)
    env.step(np.array([5.0, -5.0]))
    assert env.unwrapped.book.order_levels()[0, 0].tolist() == [2, 0]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sigma=2.0), TypeError, "sigma"),
    (dict(tick_size=-0.01), ValueError, "tick_size"),
    (dict(render_mode="human"), ValueError, "render_mode"),
    (dict(params=object()), TypeError, "BookParams"),
])
def test_bad_arguments_raise_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        AvellanedaStoikovLOBEnv(**kwargs)


def test_params_object_and_overrides_are_accepted():
    env = gym.make(ENV_ID, params=BookParams(n_levels=2), T=10.0)
    assert env.unwrapped.params.n_levels == 2 and env.unwrapped.params.T == 10.0


def test_step_after_the_end_raises_and_render_describes_the_book():
    env = gym.make(ENV_ID, T=2.0, render_mode="ansi")
    env.reset(seed=0)
    env.step(np.zeros(2))
    env.step(np.zeros(2))
    assert "bid=" in env.render() and "ahead=" in env.render()
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(np.zeros(2))
