"""The PettingZoo face of the limit order book: PettingZoo's API and seed tests (parallel and
AEC), the registry, spaces shared with the single-agent face, per-agent accounting on every
step, price-time priority between agents, the one-path view of the batched core, errors."""

import warnings

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import asmm_env  # noqa: F401  (registers the ids)
from asmm_env.lob import BookParams, LimitOrderBook
from asmm_env.lob import competition as lob_competition
from asmm_env.lob.competition import CompetitionLOBEnv
from asmm_env.lob.env import (
    action_space,
    depths_to_offsets,
    observation_names,
    observation_space,
    offsets_to_action,
)
from baselines import AvellanedaStoikovPolicy, RandomPolicy

ENV_ID = "asmm_env/CompetitionLOB-v0"
SHORT = dict(T=30.0)                   # 30 steps of dt = 1
LEDGER = ("pnl", "cash", "inventory", "bid_fills", "ask_fills", "fills", "bid_volume",
          "ask_volume", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
          "liquidation", "mid")
STEP_KEYS = ("bid_level", "ask_level", "bid_filled", "ask_filled")


def _as_policy(params, gamma):
    """AS with explicit arguments (its from_env needs MarketParams): sigma about a tick per
    15 time units, k about 3 per tick."""
    return AvellanedaStoikovPolicy(gamma, sigma=params.tick_size / np.sqrt(15.0),
                                   k=3.0 / params.tick_size, T=params.T,
                                   action_map=params)


class _Levels:
    """A fixed-level policy: quotes ``bid`` and ``ask`` ticks behind the best."""

    def __init__(self, params, bid, ask):
        self.action = offsets_to_action(bid, ask, params)

    def act(self, obs):
        return self.action


def _run_episode(env, policies, seed, check=None):
    obs, infos = env.reset(seed=seed)
    total = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {agent: policies[i].act(obs[agent])
                   for i, agent in enumerate(env.possible_agents) if agent in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        for agent, reward in rewards.items():
            total[agent] += reward
        if check is not None:
            check(env, obs, infos, rewards, actions)
    return total, infos


# -- PettingZoo API ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(n_agents=1), dict(n_agents=4),
                                    dict(n_agents=3, n_levels=1, fee=0.001, **SHORT),
                                    dict(n_agents=2, reward="inventory_penalty",
                                         inventory_penalty=0.1, q0=2.0)])
def test_parallel_env_passes_pettingzoo_parallel_api_test(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # any API warning fails the test
        parallel_api_test(lob_competition.parallel_env(**kwargs), num_cycles=400)


@pytest.mark.parametrize("n_agents", [1, 3])
def test_aec_env_passes_pettingzoo_api_test(n_agents):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api_test(lob_competition.env(n_agents=n_agents, **SHORT), num_cycles=100)


def test_parallel_and_aec_forms_pass_pettingzoo_seed_tests():
    parallel_seed_test(lambda: lob_competition.parallel_env(n_agents=3), num_cycles=300)
    seed_test(lambda: lob_competition.env(n_agents=3, **SHORT), num_cycles=100)


def test_registry_makes_parallel_and_aec_forms():
    par = pettingzoo.make("parallel", ENV_ID, n_agents=5)
    assert isinstance(par, CompetitionLOBEnv)
    assert par.possible_agents == [f"maker_{i}" for i in range(5)]
    aec = pettingzoo.make("aec", ENV_ID, n_agents=4, n_levels=2)
    assert isinstance(aec, pettingzoo.AECEnv)
    assert isinstance(aec.unwrapped, CompetitionLOBEnv) and aec.unwrapped.params.n_levels == 2
    aec.reset(seed=0)
    assert aec.num_agents == 4 and aec.agent_selection == "maker_0"
    assert lob_competition.raw_env is CompetitionLOBEnv
    assert CompetitionLOBEnv.metadata["name"] == "asmm_competition_lob_v0"


def test_spaces_are_the_single_agent_faces_and_the_same_object_on_every_call():
    env = lob_competition.parallel_env(n_agents=3, n_levels=4)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
        assert env.observation_space(agent) == observation_space(env.params)
        assert env.action_space(agent) == action_space(env.params)
    assert env.observation_space("maker_0") is not env.observation_space("maker_1")
    assert env.observation_names == observation_names(4)
    assert env.observation_space("maker_0").shape == (11 + 2 * 4,)
    assert env.state_space.shape == (3 + 6 + 2 * 4,)


def test_reset_gives_every_agent_the_start_state_and_its_ledger():
    env = lob_competition.parallel_env(n_agents=2, q0=1.0, s0=50.0)
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == set(env.possible_agents) == set(env.agents)
    for agent in env.agents:
        o = obs[agent]
        assert env.observation_space(agent).contains(o)
        assert o[0] == 50.0 and o[1] == 1.0 and o[2] == env.params.T
        assert o[3] == pytest.approx(50.0 - 0.005) and o[4] == pytest.approx(50.0 + 0.005)
        assert o[7:11].tolist() == [-1.0, -1.0, -1.0, -1.0]      # no order yet
        assert set(infos[agent]) == set(LEDGER)
        assert infos[agent]["pnl"] == 0.0 and infos[agent]["inventory"] == 1.0
    state = env.state()
    assert state[:4].tolist() == [50.0, 1.0, 1.0, env.params.T]
    assert env.state_space.contains(state)


def test_all_agents_terminate_together_at_t_and_step_after_the_end_raises():
    env = lob_competition.parallel_env(n_agents=3, **SHORT)
    env.reset(seed=1)
    for step in range(30):
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        _, rewards, terminations, truncations, infos = env.step(actions)
        assert set(rewards) == set(terminations) == set(truncations) == set(infos) == set(actions)
        assert all(terminations.values()) == (step == 29)
        assert not any(truncations.values())
    assert env.agents == [] and env.book.time == pytest.approx(30.0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_seeded_reset_reproduces_the_episode_and_unseeded_reset_continues_the_stream():
    def episode(env, seed):
        policies = [_as_policy(env.params, 5.0), _Levels(env.params, 0, 0)]
        _, infos = _run_episode(env, policies, seed)
        return [infos[a]["pnl"] for a in env.possible_agents] + [infos["maker_0"]["mid"]]

    env1 = lob_competition.parallel_env(n_agents=2, T=100.0)
    env2 = lob_competition.parallel_env(n_agents=2, T=100.0)
    first = episode(env1, 7)
    assert first == episode(env2, 7)
    follow_up = episode(env1, None)
    assert follow_up != first
    assert follow_up == episode(env2, None)
    assert episode(env1, 8) != episode(env2, 9)


# -- accounting, priority, the core ----------------------------------------------------------

def test_every_agents_accounting_identity_holds_on_every_step():
    """4 agents (AS at two risk aversions, always at the best, random) with a fee, 3 seeded
    episodes of 300 steps: per agent and step pnl = spread capture + inventory PnL + fees,
    pnl = cash + q mid - q0 s0, the spread capture is half a tick per share filled, the
    rewards sum to the PnL, and the shared book features are the same for every agent."""
    env = lob_competition.parallel_env(n_agents=4, fee=0.002, q0=1.0)
    p = env.params
    policies = [_as_policy(p, 1.0), _as_policy(p, 20.0), _Levels(p, 0, 0),
                RandomPolicy(0.0, p.depth_bound, action_map=p, seed=3)]
    filled = dict.fromkeys(env.possible_agents, 0.0)

    def check(env, obs, infos, rewards, actions):
        for i, agent in enumerate(env.possible_agents):
            info = infos[agent]
            assert set(info) == set(LEDGER) | set(STEP_KEYS)
            residual = info["pnl"] - (info["spread_capture"] + info["inventory_pnl"]
                                      + info["fees"])
            assert abs(residual) <= 1e-9
            mark = info["cash"] + info["inventory"] * info["mid"] - p.q0 * p.s0
            assert info["pnl"] == pytest.approx(mark, abs=1e-9)
            assert obs[agent][1] == info["inventory"] == env.book.ledger.inventory[0, i]
            assert info["fills"] == info["bid_fills"] + info["ask_fills"]
            filled[agent] += info["bid_filled"] + info["ask_filled"]
            assert info["spread_capture"] == pytest.approx(filled[agent] * p.tick_size / 2,
                                                           abs=1e-12)
            assert info["fees"] == pytest.approx(-p.fee * filled[agent], abs=1e-12)
            levels = depths_to_offsets(p.action_map.to_depths(actions[agent], 1), p)
            assert [info["bid_level"], info["ask_level"]] == levels[0].tolist()
            np.testing.assert_array_equal(obs[agent][[0, 2, 3, 4, 5, 6]],
                                          obs["maker_0"][[0, 2, 3, 4, 5, 6]])
            np.testing.assert_array_equal(obs[agent][11:], obs["maker_0"][11:])

    for seed in range(3):
        filled.update(dict.fromkeys(env.possible_agents, 0.0))
        total, infos = _run_episode(env, policies, seed, check)
        for agent in env.possible_agents:
            assert total[agent] == pytest.approx(infos[agent]["pnl"], abs=1e-9)
    assert all(value > 0 for value in filled.values())


def test_agents_at_the_same_level_queue_in_time_priority():
    """Three agents always at the best, 5 seeded episodes: at every step the agents resting
    at the same level of a side hold distinct places, and the best queue counts them all."""
    env = lob_competition.parallel_env(n_agents=3, T=100.0)
    policies = [_Levels(env.params, 0, 0)] * 3
    seen_shared = 0

    def check(env, obs, infos, rewards, actions):
        nonlocal seen_shared
        levels, ahead = env.book.order_levels()[0], env.book.queue_positions()[0]
        sizes = env.book.queue_sizes()[0]
        for side in (0, 1):
            for level in set(levels[:, side].tolist()) - {-1}:
                at = levels[:, side] == level
                places = ahead[at, side]
                assert len(set(places.tolist())) == at.sum()
                assert places.max() < sizes[side, level]
                seen_shared += at.sum() > 1
        for i, agent in enumerate(env.possible_agents):
            assert obs[agent][7] == ahead[i, 0] and obs[agent][8] == ahead[i, 1]

    for seed in range(5):
        _run_episode(env, policies, seed, check)
    assert seen_shared > 0


def test_the_env_is_the_one_path_view_of_the_batched_core():
    """Same seed, same actions: the env's infos equal a LimitOrderBook(params, 1, 3) stepped
    by hand, bit for bit."""
    params = BookParams(T=120.0, fee=0.001)
    env = lob_competition.parallel_env(n_agents=3, params=params)
    policies = [_as_policy(params, 2.0), _Levels(params, 1, 0), _Levels(params, 0, 2)]
    book = LimitOrderBook(params, 1, 3)
    book.reset(seed=12)

    def check(env, obs, infos, rewards, actions):
        offsets = np.array([[[infos[a]["bid_level"], infos[a]["ask_level"]]
                             for a in env.possible_agents]])
        book.step(offsets)
        pnl = book.pnl()
        for i, agent in enumerate(env.possible_agents):
            assert infos[agent]["pnl"] == pnl[0, i]
            assert infos[agent]["inventory"] == book.ledger.inventory[0, i]
            assert infos[agent]["cash"] == book.ledger.cash[0, i]
        assert infos["maker_0"]["mid"] == book.mid[0]

    _run_episode(env, policies, 12, check)
    assert book.done


def test_aec_form_is_driven_by_baseline_policies():
    aec = lob_competition.env(n_agents=3, **SHORT)
    params = aec.unwrapped.params
    policies = dict(zip(aec.possible_agents,
                        [_as_policy(params, g) for g in (0.5, 5.0, 50.0)], strict=True))
    aec.reset(seed=3)
    for agent in aec.agent_iter():
        obs, reward, terminated, truncated, info = aec.last()
        aec.step(None if terminated or truncated else policies[agent].act(obs))
    assert aec.agents == []
    assert aec.unwrapped.book.done


def test_render_ansi_shows_the_book_and_every_agent_and_no_mode_returns_none():
    env = lob_competition.parallel_env(n_agents=2, render_mode="ansi", **SHORT)
    env.reset(seed=0)
    env.step({agent: offsets_to_action(0, 1, env.params) for agent in env.agents})
    text = env.render()
    assert "bid=" in text and "maker_0" in text and "maker_1" in text and "ask level 1" in text
    quiet = lob_competition.parallel_env(n_agents=2, **SHORT)
    quiet.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert quiet.render() is None
    env.close()


# -- arguments and errors ------------------------------------------------------------------

def test_book_parameters_come_from_kwargs_or_params_with_overrides():
    env = lob_competition.parallel_env(n_agents=2, params=BookParams(n_levels=4, T=60.0),
                                       T=30.0)
    assert (env.params.n_levels, env.params.T) == (4, 30.0)
    assert env.book.n_agents == 2 and env.book.n_paths == 1 and env.market is env.book


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(n_agents=0), ValueError, "n_agents"),
    (dict(n_agents=2.5), ValueError, "n_agents"),
    (dict(tick_size=-1.0), ValueError, "tick_size"),
    (dict(sigma=1.0), TypeError, "sigma"),
    (dict(params=object()), TypeError, "BookParams"),
    (dict(render_mode="human"), ValueError, "render_mode"),
    (dict(reward="sharpe"), ValueError, "reward"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        lob_competition.parallel_env(**kwargs)


@pytest.mark.parametrize(("actions", "name"), [
    ({"maker_0": np.zeros(2)}, "maker_1"),
    ({"maker_0": np.zeros(2), "maker_1": np.zeros(2), "maker_9": np.zeros(2)}, "maker_9"),
    ({"maker_0": np.zeros(2), "maker_1": np.array([np.nan, 0.0])}, "maker_1"),
    ({"maker_0": np.zeros(3), "maker_1": np.zeros(2)}, "maker_0"),
])
def test_bad_actions_raise_value_error_naming_the_agent(actions, name):
    env = lob_competition.parallel_env(n_agents=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=name):
        env.step(actions)
