"""Tools users already have drive the envs unchanged: rendering for video wrappers, Gymnasium's
list-of-seeds vector convention, and Stable-Baselines3 (when installed: the `sb3` extra)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

import asmm_env  # noqa: F401
from baselines import AvellanedaStoikovPolicy

ENV_ID = "asmm_env/AvellanedaStoikov-v0"


def test_rgb_array_render_is_an_image_of_the_episode_so_far():
    env = gym.make(ENV_ID, render_mode="rgb_array", T=0.1)
    policy = AvellanedaStoikovPolicy.from_env(env, gamma=0.1)
    obs, _ = env.reset(seed=0)
    first = env.render()
    for _ in range(20):
        obs, *_ = env.step(policy.act(obs))
    later = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert later.shape == first.shape
    assert not np.array_equal(first, later)       # the picture shows the steps taken


def test_rgb_array_render_does_not_change_the_paths():
    plain, drawn = gym.make(ENV_ID, T=0.05), gym.make(ENV_ID, T=0.05, render_mode="rgb_array")
    a, b = plain.reset(seed=3)[0], drawn.reset(seed=3)[0]
    for _ in range(10):
        action = np.array([0.02, 0.03])
        a, *_, info_a = plain.step(action)
        b, *_, info_b = drawn.step(action)
        assert np.array_equal(a, b) and info_a == info_b


def test_vector_env_accepts_a_list_of_seeds_reproducibly():
    envs = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point")
    first = envs.reset(seed=[1, 2, 3])[0]
    step1 = envs.step(np.zeros((3, 2)))[0]
    envs.reset(seed=[1, 2, 3])
    assert np.array_equal(envs.step(np.zeros((3, 2)))[0], step1)
    envs.reset(seed=[1, 2, 4])
    assert not np.array_equal(envs.step(np.zeros((3, 2)))[0], step1)
    assert first.shape == (3, 3)


@pytest.mark.parametrize("seed", [[1, 2], [1, 2, -3]])
def test_vector_env_rejects_a_seed_list_of_the_wrong_length_or_sign(seed):
    envs = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match="seed"):
        envs.reset(seed=seed)


def test_stable_baselines3_checks_and_trains_on_the_env():
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    env = gym.make(ENV_ID, T=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    # SB3 only recommends float32 actions; we keep float64 depths (money precision).
    assert all("float32" in str(w.message) for w in caught), [str(w.message) for w in caught]
    vec = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"T": 0.1})
    model = sb3.PPO("MlpPolicy", vec, n_steps=40, batch_size=40, n_epochs=1, seed=0)
    model.set_logger(Logger(folder=None, output_formats=[]))   # no SB3-* folder in /tmp
    model.learn(total_timesteps=80)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert action.shape == (2,) and np.isfinite(action).all()


def test_vector_infos_keep_their_values_after_later_steps_and_are_read_only():
    # Infos are views of the ledger without copies: the ledger must never write into them.
    envs = gym.make_vec(ENV_ID, num_envs=50, vectorization_mode="vector_entry_point")
    envs.reset(seed=5)
    _, _, _, _, infos = envs.step(np.full((50, 2), 0.01))
    kept = {key: np.array(value) for key, value in infos.items()}
    for _ in range(5):
        envs.step(np.full((50, 2), 0.01))
    for key, value in kept.items():
        assert np.array_equal(infos[key], value), key
    with pytest.raises(ValueError, match="read-only"):
        infos["cash"][0] = 1.0
