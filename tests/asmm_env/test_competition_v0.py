"""The PettingZoo face of the competition market: PettingZoo's API and seed tests (parallel
and AEC), the registry, errors, per-agent accounting on every step, volume conservation, the
one-path view of the batched core, and the N = 1 sanity check against the single-agent AS
statistics (two-sample, 4 standard errors, 2,000 paths per model)."""

import math
import warnings

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import asmm_env  # noqa: F401  (registers the ids)
from asmm_env import MarketParams, competition_v0
from asmm_env.competition_v0 import CompetitionEnv
from asmm_env.fills import IntensityFills, ReachFills
from asmm_env.market import Market
from asmm_env.rollout import rollout
from asmm_env.spaces import action_space, observation_space
from baselines import AvellanedaStoikovPolicy, ConstantSpreadPolicy, SymmetricPolicy

ENV_ID = "asmm_env/Competition-v0"
SHORT = dict(T=0.1)                     # 20 steps
LEDGER = ("pnl", "cash", "inventory", "bid_fills", "ask_fills", "fills", "spread_capture",
          "inventory_pnl", "adverse_selection", "fees", "mid")
STEP_KEYS = ("bid_depth", "ask_depth", "bid_volume", "ask_volume", "inside_spread")


def _as_policies(env, gammas):
    return [AvellanedaStoikovPolicy.from_env(env, gamma) for gamma in gammas]


def _run_episode(env, policies, seed, check=None):
    """Drive every agent with its policy for one episode; ``check(env, obs, infos, rewards)``
    after each step. Returns the summed rewards per agent and the last infos."""
    obs, infos = env.reset(seed=seed)
    total = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {agent: policies[i].act(obs[agent])
                   for i, agent in enumerate(env.possible_agents) if agent in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        for agent, reward in rewards.items():
            total[agent] += reward
        if check is not None:
            check(env, obs, infos, rewards)
    return total, infos


# -- PettingZoo API ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(n_agents=1), dict(n_agents=4),
                                    dict(n_agents=3, max_inventory=2.0, market_order_size=2.0)])
def test_parallel_env_passes_pettingzoo_parallel_api_test(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # any API warning fails the test
        parallel_api_test(competition_v0.parallel_env(**kwargs), num_cycles=300)


@pytest.mark.parametrize("n_agents", [1, 3])
def test_aec_env_passes_pettingzoo_api_test(n_agents):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api_test(competition_v0.env(n_agents=n_agents), num_cycles=300)


def test_parallel_and_aec_forms_pass_pettingzoo_seed_tests():
    parallel_seed_test(lambda: competition_v0.parallel_env(n_agents=3), num_cycles=300)
    seed_test(lambda: competition_v0.env(n_agents=3), num_cycles=300)


def test_registry_makes_parallel_and_aec_forms():
    par = pettingzoo.make("parallel", ENV_ID, n_agents=5)
    assert isinstance(par, CompetitionEnv)
    assert par.possible_agents == [f"maker_{i}" for i in range(5)]
    aec = pettingzoo.make("aec", ENV_ID, n_agents=5, sigma=3.0)
    assert isinstance(aec, pettingzoo.AECEnv)
    assert isinstance(aec.unwrapped, CompetitionEnv) and aec.unwrapped.params.sigma == 3.0
    aec.reset(seed=0)
    assert aec.num_agents == 5 and aec.agent_selection == "maker_0"
    assert competition_v0.raw_env is CompetitionEnv
    assert CompetitionEnv.metadata["name"] == "asmm_competition_v0"


def test_spaces_are_the_shared_ones_and_the_same_object_on_every_call():
    env = competition_v0.parallel_env(n_agents=3, sigma=1.5)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
        assert env.observation_space(agent) == observation_space(env.params)
        assert env.action_space(agent) == action_space(env.params)
    assert env.observation_space("maker_0") is not env.observation_space("maker_1")


def test_reset_gives_every_agent_the_start_state_and_its_ledger():
    env = competition_v0.parallel_env(n_agents=2, q0=1.0, s0=50.0)
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == set(env.possible_agents) == set(env.agents)
    for agent in env.agents:
        np.testing.assert_array_equal(obs[agent], [50.0, 1.0, 1.0])
        assert env.observation_space(agent).contains(obs[agent])
        assert set(infos[agent]) == set(LEDGER)
        assert infos[agent]["pnl"] == 0.0 and infos[agent]["inventory"] == 1.0
    np.testing.assert_array_equal(env.state(), [50.0, 1.0, 1.0, 1.0])
    assert env.state_space.contains(env.state())


def test_all_agents_terminate_together_at_t_and_step_after_the_end_raises():
    env = competition_v0.parallel_env(n_agents=3, **SHORT)
    env.reset(seed=1)
    for step in range(20):
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        _, rewards, terminations, truncations, infos = env.step(actions)
        assert set(rewards) == set(terminations) == set(truncations) == set(infos) == set(actions)
        assert all(terminations.values()) == (step == 19)
        assert not any(truncations.values())
    assert env.agents == [] and env.market.time == pytest.approx(0.1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_seeded_reset_reproduces_the_episode_and_unseeded_reset_continues_the_stream():
    def episode(env, seed):
        policies = _as_policies(env, [0.05, 0.5])
        total, infos = _run_episode(env, policies, seed)
        return [infos[a]["pnl"] for a in env.possible_agents]

    env1 = competition_v0.parallel_env(n_agents=2, **SHORT)
    env2 = competition_v0.parallel_env(n_agents=2, **SHORT)
    first = episode(env1, 7)
    assert first == episode(env2, 7)
    follow_up = episode(env1, None)               # the generator carries on: a new episode,
    assert follow_up != first                     # the same for the same seeded history
    assert follow_up == episode(env2, None)
    assert episode(env1, 8) != episode(env2, 9)


def test_render_ansi_shows_every_agent_and_no_mode_returns_none():
    env = competition_v0.parallel_env(n_agents=2, render_mode="ansi", **SHORT)
    env.reset(seed=0)
    env.step({agent: np.array([0.02, 0.02]) for agent in env.agents})
    text = env.render()
    assert "inside_spread" in text and "maker_0" in text and "maker_1" in text
    quiet = competition_v0.parallel_env(n_agents=2, **SHORT)
    quiet.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert quiet.render() is None
    env.close()


# -- arguments and errors ------------------------------------------------------------------

def test_market_parameters_come_from_kwargs_or_params_with_overrides():
    env = competition_v0.parallel_env(n_agents=2, params=MarketParams(sigma=3.0, A=100.0),
                                      A=50.0, market_order_size=2.0)
    assert (env.params.sigma, env.params.A) == (3.0, 50.0)
    assert isinstance(env.market.fill_model, ReachFills)
    assert env.market.fill_model.market_order_size == 2.0
    custom = IntensityFills(50.0, 1.5)
    assert competition_v0.parallel_env(n_agents=2, fill_model=custom).market.fill_model is custom


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(n_agents=0), ValueError, "n_agents"),
    (dict(n_agents=2.5), ValueError, "n_agents"),
    (dict(sigma=-1.0), ValueError, "sigma"),
    (dict(volatility=1.0), TypeError, "volatility"),
    (dict(render_mode="human"), ValueError, "render_mode"),
    (dict(market_order_size=0.0), ValueError, "market_order_size"),
    (dict(market_order_size=2.0, fill_model=IntensityFills(1.0, 1.0)), ValueError,
     "market_order_size"),
    (dict(reward="sharpe"), ValueError, "reward"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        competition_v0.parallel_env(**kwargs)


@pytest.mark.parametrize(("actions", "name"), [
    ({"maker_0": np.zeros(2)}, "maker_1"),
    ({"maker_0": np.zeros(2), "maker_1": np.zeros(2), "maker_9": np.zeros(2)}, "maker_9"),
    ({"maker_0": np.zeros(2), "maker_1": np.array([np.nan, 0.0])}, "maker_1"),
    ({"maker_0": np.zeros(3), "maker_1": np.zeros(2)}, "maker_0"),
])
def test_bad_actions_raise_value_error_naming_the_agent(actions, name):
    env = competition_v0.parallel_env(n_agents=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=name):
        env.step(actions)


# -- accounting and allocation -------------------------------------------------------------

def test_every_agents_accounting_identity_holds_on_every_step():
    """5 heterogeneous agents (AS with gamma 0.01 .. 1, symmetric, constant spread) with fees,
    orders of 2 quotes, over 3 seeded episodes of 200 steps."""
    env = competition_v0.parallel_env(n_agents=5, fee=0.01, market_order_size=2.0)
    policies = (_as_policies(env, [0.01, 0.1, 1.0])
                + [SymmetricPolicy.from_env(env, 0.1), ConstantSpreadPolicy.from_env(env, 0.4)])
    p = env.params

    def check(env, obs, infos, rewards):
        for i, agent in enumerate(env.possible_agents):
            info = infos[agent]
            assert set(info) == set(LEDGER) | set(STEP_KEYS)
            residual = info["pnl"] - (info["spread_capture"] + info["inventory_pnl"]
                                      + info["fees"])
            assert abs(residual) <= 1e-9
            mark = info["cash"] + info["inventory"] * info["mid"] - p.q0 * p.s0
            assert info["pnl"] == pytest.approx(mark, abs=1e-9)
            assert obs[agent][1] == info["inventory"]
            assert info["fills"] == info["bid_fills"] + info["ask_fills"]
            assert env.market.ledger.inventory[0, i] == info["inventory"]

    for seed in range(3):
        total, infos = _run_episode(env, policies, seed, check)
        for agent in env.possible_agents:
            assert total[agent] == pytest.approx(infos[agent]["pnl"], abs=1e-9)


@pytest.mark.parametrize("market_order_size", [1.0, 3.0])
def test_agents_fill_exactly_the_volume_the_market_orders_execute(market_order_size):
    """8 AS agents, 4 seeded episodes: per step and side, the shares filled over agents equal
    the shares the step's market orders executed, each at most its size."""
    env = competition_v0.parallel_env(n_agents=8, market_order_size=market_order_size)
    policies = _as_policies(env, np.geomspace(0.01, 2.0, 8))
    seen = {"orders": 0, "multi": 0}

    def check(env, obs, infos, rewards):
        orders = env.market.fill_model.last_orders
        assert np.all(orders.executed <= market_order_size + 1e-12)
        for side, key in enumerate(("bid_volume", "ask_volume")):
            filled = sum(infos[agent][key] for agent in env.possible_agents)
            assert filled == pytest.approx(orders.executed[orders.side == side].sum())
            seen["multi"] += sum(infos[agent][key] > 0 for agent in env.possible_agents) > 1
        seen["orders"] += orders.reach.size

    for seed in range(4):
        _run_episode(env, policies, seed, check)
    assert seen["orders"] > 0 and seen["multi"] > 0


def test_fill_probabilities_follow_price_priority_and_the_inside_spread_is_reported():
    """Constant quotes at depths 0.2, 0.5, 0.8, 10 episodes (4,000 quote-steps per agent).
    The best quote fills like a lone quote, p0 = 1 - exp(-lambda), lambda = A e^{-0.2 k} dt;
    the second only if a later order of the step reaches 0.5 (each of the lambda-Poisson
    orders does with q = e^{-0.3 k}): p1 = 1 - e^{-lambda} - e^{-lambda} (e^{lambda (1-q)} -
    1) / (1 - q). Both within 4 binomial s.e."""
    env = competition_v0.parallel_env(n_agents=3)
    p = env.params
    policies = [ConstantSpreadPolicy.from_env(env, depth) for depth in (0.2, 0.5, 0.8)]
    fills = np.zeros(3)

    def check(env, obs, infos, rewards):
        for agent in env.possible_agents:
            assert infos[agent]["inside_spread"] == pytest.approx(0.4)
            assert infos[agent]["bid_depth"] == pytest.approx(
                0.2 + 0.3 * env.agent_name_mapping[agent])

    n_episodes = 10
    for seed in range(n_episodes):
        _, infos = _run_episode(env, policies, seed, check)
        fills += [infos[agent]["fills"] for agent in env.possible_agents]
    trials = n_episodes * p.n_steps * 2
    lam, q = p.A * math.exp(-0.2 * p.k) * p.dt, math.exp(-0.3 * p.k)
    p0 = 1 - math.exp(-lam)
    p1 = 1 - math.exp(-lam) - math.exp(-lam) * (math.exp(lam * (1 - q)) - 1) / (1 - q)
    for observed, expected in ((fills[0], p0), (fills[1], p1)):
        se = math.sqrt(expected * (1 - expected) / trials)
        assert abs(observed / trials - expected) <= 4 * se, (observed / trials, expected)
    assert fills[1] > fills[2]


def test_the_env_is_the_one_path_view_of_the_batched_core():
    """Same seed, same quotes: the env's infos equal a Market(params, 1, N) with ReachFills
    stepped by hand, bit for bit."""
    params = MarketParams(T=0.5, fee=0.005)
    env = competition_v0.parallel_env(n_agents=3, params=params, market_order_size=2.0)
    policies = _as_policies(env, [0.05, 0.2, 0.8])
    market = Market(params, 1, 3, fill_model=ReachFills.from_params(params, 2.0))
    market.reset(np.random.default_rng(12))
    bound = params.depth_bound

    def check(env, obs, infos, rewards):
        depths = np.array([[[infos[a]["bid_depth"], infos[a]["ask_depth"]]
                            for a in env.possible_agents]])
        market.step(depths)
        pnl = market.pnl()
        for i, agent in enumerate(env.possible_agents):
            assert infos[agent]["pnl"] == pnl[0, i]
            assert infos[agent]["inventory"] == market.ledger.inventory[0, i]
            assert infos[agent]["cash"] == market.ledger.cash[0, i]
        assert bound == env.params.depth_bound

    _run_episode(env, policies, 12, check)
    assert market.done


def test_aec_form_is_driven_by_baseline_policies():
    aec = competition_v0.env(n_agents=3, **SHORT)
    policies = dict(zip(aec.possible_agents, _as_policies(aec, [0.05, 0.2, 0.8]), strict=True))
    aec.reset(seed=3)
    for agent in aec.agent_iter():
        obs, reward, terminated, truncated, info = aec.last()
        aec.step(None if terminated or truncated else policies[agent].act(obs))
    assert aec.agents == []
    assert aec.unwrapped.market.done


# -- N = 1: the single-agent AS statistics -------------------------------------------------

def _two_sample_z(a, b):
    return (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


@pytest.mark.slow
@pytest.mark.parametrize("probability", ["exponential", "linear"])
def test_one_agent_reproduces_the_single_agent_as_statistics(probability):
    """AS gamma = 0.1 on the AS 2008 market, 2,000 paths per model (independent seeds): the
    competition core (ReachFills) against the single-agent core (IntensityFills); mean
    terminal PnL, fills, inventory std within 4 s.e."""
    params = MarketParams(fill_rule=probability)
    policy = AvellanedaStoikovPolicy.from_env(params, 0.1)
    single = rollout(policy, params, n_paths=2000, seed=21).paths
    compete = rollout(policy, params, n_paths=2000, seed=22, market_factory=lambda p, n, a: (
        Market(p, n, a, fill_model=ReachFills.from_params(p)))).paths
    for column in ("terminal_pnl", "fills", "spread_capture"):
        z = _two_sample_z(single[column].to_numpy(), compete[column].to_numpy())
        assert abs(z) <= 4, (column, z)
    inv_a, inv_b = single.terminal_inventory.to_numpy(), compete.terminal_inventory.to_numpy()
    # s.e. of a sample variance ~ sqrt(2 / n) var (near-Gaussian terminal inventory)
    se = math.sqrt(2 / 2000) * math.hypot(inv_a.var(), inv_b.var())
    assert abs(inv_a.var() - inv_b.var()) <= 4 * se


@pytest.mark.slow
def test_one_agent_env_episodes_match_the_single_agent_env_in_mean():
    """250 episodes of each PettingZoo env (N = 1) and the Gymnasium env (T = 0.5, 100 steps),
    AS gamma = 0.1: mean terminal PnL and fills within 4 s.e."""
    import gymnasium as gym

    params = MarketParams(T=0.5)
    policy = AvellanedaStoikovPolicy.from_env(params, 0.1)
    comp = competition_v0.parallel_env(n_agents=1, params=params)
    single = gym.make("asmm_env/AvellanedaStoikov-v0", params=params)
    stats = {"comp": [], "single": []}
    for seed in range(250):
        _, infos = _run_episode(comp, [policy], 1000 + seed)
        stats["comp"].append((infos["maker_0"]["pnl"], infos["maker_0"]["fills"]))
        obs, info = single.reset(seed=5000 + seed)
        done = False
        while not done:
            obs, _, done, _, info = single.step(policy.act(obs))
        stats["single"].append((info["pnl"], info["bid_fills"] + info["ask_fills"]))
    comp_stats, single_stats = np.array(stats["comp"]), np.array(stats["single"])
    for column in range(2):
        z = _two_sample_z(comp_stats[:, column], single_stats[:, column])
        assert abs(z) <= 4, (column, z)


# -- SuperSuit -----------------------------------------------------------------------------

def test_supersuit_vectorises_the_parallel_env():
    supersuit = pytest.importorskip("supersuit")
    env = supersuit.pettingzoo_env_to_vec_env_v1(competition_v0.parallel_env(n_agents=3, **SHORT))
    obs, infos = env.reset(seed=0)
    assert np.asarray(obs).shape == (3, 3)
    obs, rewards, terminations, truncations, infos = env.step(np.zeros((3, 2)))
    assert np.asarray(rewards).shape == (3,)
