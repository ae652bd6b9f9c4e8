"""The Gymnasium faces of the AS market: the single env and the native vector env.

Checks the Gymnasium API (checker, next-step autoreset, vector infos, wrappers), seeding
(byte-identical trajectories, no global RNG), errors, and that the two faces agree in law."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import NormalizeObservation, RecordEpisodeStatistics
from gymnasium.wrappers import vector as vector_wrappers

from asmm_env import MarketParams
from asmm_env.envs.avellaneda_stoikov import (
    INFO_KEYS,
    AvellanedaStoikovEnv,
    AvellanedaStoikovVectorEnv,
)
from baselines import AvellanedaStoikovPolicy

ENV_ID = "asmm_env/AvellanedaStoikov-v0"
SHORT = dict(T=0.1)          # 20 steps


def _make_vec(num_envs, **kwargs):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **kwargs)


def _action(env, step, n=None):
    """Quotes 0.3 below and 0.2 to 0.6 above the mid, as an action in the env's units."""
    depths = np.array([0.3, 0.2 + 0.1 * (step % 5)])
    action = env.unwrapped.params.action_map.to_action(depths[0], depths[1])
    return action if n is None else np.tile(action, (n, 1))


def _single_episode(env, seed, actions=None):
    """(obs, rewards, terminated, infos) of one episode as stacked arrays (infos: the reset
    info's keys), and the last info as returned."""
    obs, info = env.reset(seed=seed)
    all_obs, rewards, terms, infos = [obs], [], [], [info]
    step, terminated = 0, False
    while not terminated:
        action = actions[step] if actions is not None else _action(env, step)
        obs, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        all_obs.append(obs)
        rewards.append(reward)
        terms.append(terminated)
        infos.append(info)
        step += 1
    stacked = {key: np.array([i[key] for i in infos]) for key in infos[0]}
    return np.array(all_obs), np.array(rewards), np.array(terms), stacked, info


def _vector_episode(env, seed):
    obs, info = env.reset(seed=seed)
    n = env.num_envs
    all_obs, rewards, terms, infos = [obs], [], [], [info]
    for step in range(env.unwrapped.params.n_steps):
        obs, reward, terminated, truncated, info = env.step(_action(env, step, n))
        assert not truncated.any()
        all_obs.append(obs)
        rewards.append(reward)
        terms.append(terminated)
        infos.append(info)
    stacked = {key: np.array([i[key] for i in infos]) for key in infos[0]}
    return np.array(all_obs), np.array(rewards), np.array(terms), stacked


def _assert_identical(first, second):
    for a, b in zip(first[:3], second[:3], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert first[3].keys() == second[3].keys()
    for key in first[3]:
        assert np.array_equal(first[3][key], second[3][key]), key


# --- the Gymnasium API -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {},
    dict(price_dynamics="binomial", fill_rule="linear", q0=2.0, max_inventory=5.0),
    dict(price_dynamics="gbm", sigma=0.3, fee=0.01, reward="inventory_penalty",
         inventory_penalty=0.1),
    dict(toxicity=0.5, jump_intensity=10.0, jump_std=0.5, vol_of_vol=1.0, reward="cara"),
    dict(render_mode="ansi"),
])
def test_gymnasium_env_checker_passes_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_registered_id_builds_both_faces():
    assert isinstance(gym.make(ENV_ID).unwrapped, AvellanedaStoikovEnv)
    venv = _make_vec(3)
    assert isinstance(venv, AvellanedaStoikovVectorEnv) and venv.num_envs == 3
    assert venv.observation_space.shape == (3, 3) and venv.action_space.shape == (3, 2)
    assert venv.single_observation_space == gym.make(ENV_ID).observation_space
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


def test_single_env_terminates_at_t_over_dt_steps_with_time_remaining_counting_down():
    env = gym.make(ENV_ID, **SHORT)
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs, [100.0, 0.0, 0.1])
    for step in range(1, 21):
        obs, _, terminated, truncated, _ = env.step(np.array([0.1, 0.1]))
        assert obs[2] == pytest.approx(0.1 - 0.005 * step, abs=1e-12)
        assert terminated == (step == 20) and not truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(np.array([0.1, 0.1]))


def test_single_env_info_is_the_ledger_and_satisfies_the_pnl_identity():
    _, rewards, _, infos, _ = _single_episode(gym.make(ENV_ID, **SHORT, fee=0.02), seed=1)
    assert set(infos) == set(INFO_KEYS)
    terms = infos["spread_capture"] + infos["inventory_pnl"] + infos["fees"]
    np.testing.assert_allclose(infos["pnl"], terms, rtol=1e-9, atol=1e-9)
    # q0 = 0 and cash_0 = 0: pnl is cash + inventory * mid
    np.testing.assert_allclose(infos["pnl"], infos["cash"] + infos["inventory"] * infos["mid"],
                               rtol=1e-9, atol=1e-9)
    assert infos["bid_fills"][-1] + infos["ask_fills"][-1] > 0


def test_vector_env_autoresets_on_the_step_after_termination():
    n, params = 4, MarketParams(**SHORT, q0=1.0)
    env = _make_vec(n, params=params)
    env.reset(seed=5)
    action = np.full((n, 2), 0.05)
    for step in range(params.n_steps):
        obs, reward, terminated, truncated, infos = env.step(action)
        assert terminated.dtype == bool and terminated.shape == (n,)
        assert terminated.all() == (step == params.n_steps - 1) and not truncated.any()
    assert (obs[:, 2] == 0).all()
    first_episode_pnl = infos["pnl"].copy()

    obs, reward, terminated, truncated, infos = env.step(np.full((n, 2), 0.9))
    assert np.array_equal(obs, np.tile([100.0, 1.0, 0.1], (n, 1)))     # reset observations
    assert np.array_equal(reward, np.zeros(n))
    assert not terminated.any() and not truncated.any()
    assert np.array_equal(infos["pnl"], np.zeros(n)) and np.array_equal(infos["cash"],
                                                                         np.zeros(n))
    # the next episode runs on and is a fresh draw, not a replay of the first
    for _ in range(params.n_steps):
        _, _, terminated, _, infos = env.step(action)
    assert terminated.all() and not np.array_equal(infos["pnl"], first_episode_pnl)


def test_vector_env_ignores_the_action_of_the_autoreset_step():
    def run(reset_action):
        env = _make_vec(3, **SHORT)
        env.reset(seed=8)
        for _ in range(20):
            env.step(np.full((3, 2), 0.05))
        env.step(reset_action)
        return env.step(np.full((3, 2), 0.05))

    first, second = run(np.full((3, 2), 0.9)), run(np.full((3, 2), -0.9))
    for a, b in zip(first[:4], second[:4], strict=True):
        assert np.array_equal(a, b)


def test_vector_infos_have_the_single_env_keys_as_arrays_with_masks():
    n = 5
    single_keys = set(gym.make(ENV_ID).reset(seed=0)[1])
    env = _make_vec(n, **SHORT)
    for infos in (env.reset(seed=0)[1], env.step(np.zeros((n, 2)))[4]):
        assert set(infos) == single_keys | {"_" + key for key in single_keys}
        for key in single_keys:
            assert isinstance(infos[key], np.ndarray) and infos[key].shape == (n,), key
            mask = infos["_" + key]
            assert mask.dtype == bool and mask.shape == (n,) and mask.all(), key


def test_vector_env_with_one_path_reproduces_the_single_env_bytes():
    single = _single_episode(gym.make(ENV_ID, **SHORT).unwrapped, seed=17)[:4]
    obs, rewards, terms, infos = _vector_episode(_make_vec(1, **SHORT), seed=17)
    vector = (obs[:, 0], rewards[:, 0], terms[:, 0],
              {key: value[:, 0] for key, value in infos.items() if not key.startswith("_")})
    _assert_identical(single, vector)


# --- wrappers ------------------------------------------------------------------------------

def test_single_env_wrappers_drive_the_env_unchanged():
    plain = _single_episode(gym.make(ENV_ID, **SHORT), seed=3)
    wrapped_env = RecordEpisodeStatistics(NormalizeObservation(gym.make(ENV_ID, **SHORT)))
    wrapped = _single_episode(wrapped_env, seed=3)
    assert np.array_equal(plain[1], wrapped[1]) and np.array_equal(plain[2], wrapped[2])
    for key in INFO_KEYS:
        assert np.array_equal(plain[3][key], wrapped[3][key]), key
    assert not np.array_equal(plain[0], wrapped[0])          # observations normalised
    episode = wrapped[4]["episode"]
    assert episode["l"] == 20
    assert episode["r"] == pytest.approx(plain[3]["pnl"][-1], rel=1e-9, abs=1e-9)


def test_vector_wrappers_drive_the_vector_env_unchanged():
    n = 6
    plain = _vector_episode(_make_vec(n, **SHORT), seed=4)
    env = vector_wrappers.RecordEpisodeStatistics(
        vector_wrappers.NormalizeObservation(_make_vec(n, **SHORT)))
    env.reset(seed=4)
    returns = np.zeros(n)
    for step in range(20):
        obs, reward, terminated, _, infos = env.step(_action(env, step, n))
        assert np.array_equal(reward, plain[1][step])
        returns += reward
    assert terminated.all()
    assert np.array_equal(infos["_episode"], np.ones(n, dtype=bool))
    assert np.array_equal(infos["episode"]["l"], np.full(n, 20))
    np.testing.assert_allclose(infos["episode"]["r"], plain[3]["pnl"][-1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(infos["episode"]["r"], returns, rtol=1e-12)
    # the statistics wrapper restarts its counters across the autoreset step
    env.step(np.zeros((n, 2)))
    for _ in range(20):
        _, _, terminated, _, infos = env.step(np.full((n, 2), 0.02))
    assert terminated.all() and np.array_equal(infos["episode"]["l"], np.full(n, 20))


# --- seeding -------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_single_env_episodes_and_other_seeds_differ():
    env = gym.make(ENV_ID, **SHORT, toxicity=0.3, jump_intensity=5.0, jump_std=0.3)
    first, second = _single_episode(env, seed=11), _single_episode(env, seed=11)
    _assert_identical(first, second)
    other = _single_episode(env, seed=12)
    assert not np.array_equal(first[1], other[1])


def test_same_seed_gives_byte_identical_vector_episodes_and_other_seeds_differ():
    env = _make_vec(8, **SHORT, vol_of_vol=1.0)
    first, second = _vector_episode(env, seed=11), _vector_episode(env, seed=11)
    _assert_identical(first, second)
    other = _vector_episode(_make_vec(8, **SHORT, vol_of_vol=1.0), seed=12)
    assert not np.array_equal(first[1], other[1])
    assert not np.array_equal(first[1][:, 0], first[1][:, 1])     # paths differ from each other


@pytest.mark.parametrize("face", ["single", "vector"])
def test_numpys_global_generator_plays_no_part(face, reseed_global_numpy):
    def run():
        if face == "single":
            return _single_episode(gym.make(ENV_ID, **SHORT, price_dynamics="binomial"), 21)
        return _vector_episode(_make_vec(4, **SHORT, price_dynamics="binomial"), 21)

    reseed_global_numpy(0)
    first = run()
    reseed_global_numpy(987654)
    second = run()
    _assert_identical(first, second)


# --- errors --------------------------------------------------------------------------------

def test_unknown_keyword_to_make_raises_type_error_naming_it():
    with pytest.raises(TypeError, match="gama"):
        gym.make(ENV_ID, gama=0.1)
    with pytest.raises(TypeError, match="gama"):
        _make_vec(2, gama=0.1)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(sigma=-1.0), "sigma"), (dict(A=float("nan")), "A"), (dict(dt=0.003), "T / dt"),
    (dict(price_dynamics="levy"), "price_dynamics"), (dict(q0=6.0, max_inventory=5.0), "q0"),
])
def test_bad_parameter_raises_value_error_naming_it_on_both_faces(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        gym.make(ENV_ID, **kwargs)
    with pytest.raises(ValueError, match=rf"^{name}"):
        _make_vec(2, **kwargs)


@pytest.mark.parametrize("env_id", [ENV_ID, "asmm_env/AvellanedaStoikovLOB-v0"])
@pytest.mark.parametrize("num_envs", [0, -3, 2.5])
def test_a_bad_num_envs_is_named_as_the_user_wrote_it(env_id, num_envs):
    # The old message named the core's n_paths, which the user never wrote.
    with pytest.raises(ValueError, match="^num_envs must be an integer >= 1"):
        gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")


def test_a_scalar_action_is_told_the_shape_it_needs():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^action must have shape \(2,\)"):
        env.step(np.float64(0.3))


def test_unsupported_render_mode_raises_value_error_naming_it_on_both_faces():
    # ("human" is not refused: gym.make then wraps the "rgb_array" mode in HumanRendering.)
    expected = r"^render_mode must be one of \['ansi', 'rgb_array'\]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # gym.make warns about the mode before we raise
        with pytest.raises(ValueError, match=expected):
            gym.make(ENV_ID, render_mode="video")
        with pytest.raises(ValueError, match=expected):
            _make_vec(2, render_mode="video")


def test_params_object_with_overrides_is_accepted_and_validated():
    env = gym.make(ENV_ID, params=MarketParams(sigma=1.0), A=50.0)
    assert env.unwrapped.params == MarketParams(sigma=1.0, A=50.0)
    with pytest.raises(ValueError, match="^k must"):
        gym.make(ENV_ID, params=MarketParams(), k=0.0)


@pytest.mark.parametrize(("action", "message"), [
    (np.array([np.nan, 0.1]), "action must be finite"),
    (np.array([0.1, np.inf]), "action must be finite"),
    (np.array([0.1, 0.2, 0.3]), "action must have shape"),
    (np.array([[0.1, 0.2], [0.1, 0.2]]), "action must have shape"),
])
def test_malformed_action_raises_value_error_on_the_single_env(action, message):
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize(("action", "message"), [
    (np.array([[np.nan, 0.1], [0.1, 0.1], [0.1, 0.1]]), "action must be finite"),
    (np.array([[0.1, 0.1], [0.1, -np.inf], [0.1, 0.1]]), "action must be finite"),
    (np.array([0.1, 0.2]), "action must have shape"),
    (np.zeros((3, 3)), "action must have shape"),
    (np.zeros((2, 2)), "action must have shape"),
])
def test_malformed_action_raises_value_error_on_the_vector_env(action, message):
    env = _make_vec(3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_render_ansi_describes_the_state_on_both_faces():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(seed=0)
    assert env.render().startswith("t=0.0000 mid=100.0000")
    venv = _make_vec(2, render_mode="ansi")
    venv.reset(seed=0)
    assert len(venv.render()) == 2


# --- the two faces agree in law ------------------------------------------------------------

@pytest.mark.slow
def test_single_and_vector_env_agree_on_terminal_pnl_of_the_as_policy():
    """AS policy (gamma = 0.1) in the AS 2008 market: 300 single-env episodes vs 3,000 vector
    paths (different random streams). Means: two-sample test at 4 s.e.; variances: 4 s.e. of
    the difference, each s.e. from the sample fourth moment."""
    n_single, n_vector = 300, 3000
    env = gym.make(ENV_ID)
    policy = AvellanedaStoikovPolicy.from_env(env, gamma=0.1)
    single = np.empty(n_single)
    env.reset(seed=100)
    for i in range(n_single):
        obs, _ = env.reset()
        terminated = False
        while not terminated:
            obs, _, terminated, _, info = env.step(policy.act(obs))
        single[i] = info["pnl"]
    venv = _make_vec(n_vector)
    obs, _ = venv.reset(seed=200)
    for _ in range(venv.unwrapped.params.n_steps):
        obs, _, terminated, _, infos = venv.step(policy.act(obs))
    assert terminated.all()
    vector = infos["pnl"]

    se_mean = np.sqrt(single.var(ddof=1) / n_single + vector.var(ddof=1) / n_vector)
    assert abs(single.mean() - vector.mean()) < 4 * se_mean

    def var_se(x):
        centred = x - x.mean()
        return np.sqrt((np.mean(centred**4) - np.mean(centred**2) ** 2) / x.size)

    se_var = np.hypot(var_se(single), var_se(vector))
    assert abs(single.var(ddof=1) - vector.var(ddof=1)) < 4 * se_var
