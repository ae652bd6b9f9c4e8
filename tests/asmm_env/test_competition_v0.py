"""The PettingZoo face of the competition market: PettingZoo's API and seed tests (parallel
and AEC), the registry, errors, per-agent accounting on every step, the allocation seen
through the env (every order reaching the best price is filled there, split invariance, price
priority), the one-path view of the batched core, the byte-for-byte equality of one agent with
the single-agent Gymnasium env, and the tick grid."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import asmm_env  # noqa: F401  (registers the ids)
from asmm_env import MarketParams, competition_v0
from asmm_env.competition_v0 import CompetitionEnv
from asmm_env.fills import IndependentFills, OrderFlow, QueueFills
from asmm_env.market import Market
from asmm_env.spaces import action_space, observation_space
from baselines import AvellanedaStoikovPolicy, ConstantSpreadPolicy, SymmetricPolicy

ENV_ID = "asmm_env/Competition-v0"
SHORT = dict(T=0.1)                     # 20 steps
LEDGER = ("pnl", "cash", "inventory", "bid_fills", "ask_fills", "fills", "bid_volume",
          "ask_volume", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
          "liquidation", "mid")
STEP_KEYS = ("bid_depth", "ask_depth", "bid_filled", "ask_filled", "inside_spread")


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
                                    dict(n_agents=3, max_inventory=2.0, order_size=2.0),
                                    dict(n_agents=2, tick_size=0.01, liquidation_cost=0.05)])
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
        assert infos[agent]["fills"] == 0.0 and infos[agent]["liquidation"] == 0.0
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
                                      A=50.0, fill_rule="linear", tick_size=0.01)
    assert (env.params.sigma, env.params.A, env.params.tick_size) == (3.0, 50.0, 0.01)
    model = env.market.fill_model
    assert isinstance(model, QueueFills)
    assert (model.flow.A, model.flow.rule) == (50.0, "linear")
    custom = IndependentFills(OrderFlow(50.0, 1.5))
    assert competition_v0.parallel_env(n_agents=2, fill_model=custom).market.fill_model is custom


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(n_agents=0), ValueError, "n_agents"),
    (dict(n_agents=2.5), ValueError, "n_agents"),
    (dict(sigma=-1.0), ValueError, "sigma"),
    (dict(volatility=1.0), TypeError, "volatility"),
    (dict(market_order_size=2.0), TypeError, "market_order_size"),     # gone with ReachFills
    (dict(fill_rule="cubic"), ValueError, "fill_rule"),
    (dict(tick_size=-0.01), ValueError, "tick_size"),
    (dict(liquidation_cost=-1.0), ValueError, "liquidation_cost"),
    (dict(fill_model="queue"), TypeError, "fill_model"),
    (dict(render_mode="human"), ValueError, "render_mode"),
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
    orders of 2 shares, an inventory bound and a liquidation cost, over 3 seeded episodes of
    200 steps: pnl = spread capture + inventory PnL + fees + liquidation, fills count orders."""
    env = competition_v0.parallel_env(n_agents=5, fee=0.01, order_size=2.0, max_inventory=10.0,
                                      liquidation_cost=0.1)
    policies = (_as_policies(env, [0.01, 0.1, 1.0])
                + [SymmetricPolicy.from_env(env, 0.1), ConstantSpreadPolicy.from_env(env, 0.4)])
    p = env.params

    def check(env, obs, infos, rewards):
        for i, agent in enumerate(env.possible_agents):
            info = infos[agent]
            assert set(info) == set(LEDGER) | set(STEP_KEYS)
            residual = info["pnl"] - (info["spread_capture"] + info["inventory_pnl"]
                                      + info["fees"] + info["liquidation"])
            assert abs(residual) <= 1e-9
            mark = (info["cash"] + info["inventory"] * info["mid"] - p.q0 * p.s0
                    + info["liquidation"])
            assert info["pnl"] == pytest.approx(mark, abs=1e-9)
            assert obs[agent][1] == info["inventory"]
            assert abs(info["inventory"]) <= 10.0
            assert info["fills"] == info["bid_fills"] + info["ask_fills"]
            assert info["bid_filled"] + info["ask_filled"] >= 0
            assert env.market.ledger.inventory[0, i] == info["inventory"]

    for seed in range(3):
        total, infos = _run_episode(env, policies, seed, check)
        for agent in env.possible_agents:
            assert total[agent] == pytest.approx(infos[agent]["pnl"], abs=1e-9)
            led = env.market.ledger
            i = env.agent_name_mapping[agent]
            assert infos[agent]["liquidation"] == -0.1 * abs(led.inventory[0, i])


def test_agents_fill_exactly_the_orders_reaching_the_best_posted_price():
    """4 AS agents and 4 at a constant depth 0.3 (often the best, and then sharing it), 4
    seeded episodes: per step and side the agents' fills sum to the orders reaching the best
    quote, i.e. what a lone maker quoting the best depths takes on the same seed (a one-agent
    Market stepped alongside)."""
    env = competition_v0.parallel_env(n_agents=8)
    policies = (_as_policies(env, np.geomspace(0.01, 2.0, 4))
                + [ConstantSpreadPolicy.from_env(env, 0.3)] * 4)
    seen = {"fills": 0.0, "shared": 0}

    for seed in range(4):
        lone = Market(env.params, 1, 1)
        lone.reset(seed)

        def check(env, obs, infos, rewards, lone=lone):
            depths = np.array([[infos[a]["bid_depth"], infos[a]["ask_depth"]]
                               for a in env.possible_agents])
            lone.step(depths.min(axis=0).reshape(1, 1, 2))
            for side, key in enumerate(("bid_filled", "ask_filled")):
                filled = [infos[agent][key] for agent in env.possible_agents]
                assert sum(filled) == lone.last_fills[0, 0, side]
                seen["shared"] += sum(f > 0 for f in filled) > 1
            seen["fills"] += lone.last_fills.sum()
            assert lone.mid[0] == infos["maker_0"]["mid"]

        _run_episode(env, policies, seed, check)
    assert seen["fills"] > 100 and seen["shared"] > 0


def test_two_agents_at_identical_depths_split_the_fills_of_one_agent_alone():
    """The same constant quotes (depth 0.645) for one agent and for two, same seeds, 5 episodes:
    per step and side the two agents' fills sum to the lone agent's, the mid paths are the
    same, the fills are split (neither takes them all), and the two PnLs sum to the lone PnL."""
    params = MarketParams(T=0.5)
    one = competition_v0.parallel_env(n_agents=1, params=params)
    two = competition_v0.parallel_env(n_agents=2, params=params)
    policy = ConstantSpreadPolicy.from_env(params, 0.645)
    fills = np.zeros(2)
    for seed in range(5):
        obs1, _ = one.reset(seed=seed)
        obs2, _ = two.reset(seed=seed)
        while one.agents:
            _, _, _, _, infos1 = one.step({"maker_0": policy.act(obs1["maker_0"])})
            _, _, _, _, infos2 = two.step({a: policy.act(obs2[a]) for a in two.agents})
            for key in ("bid_volume", "ask_volume", "bid_fills", "ask_fills"):
                assert infos2["maker_0"][key] + infos2["maker_1"][key] == infos1["maker_0"][key]
            assert infos2["maker_0"]["mid"] == infos1["maker_0"]["mid"]
        fills += [infos2[a]["fills"] for a in two.possible_agents]
        together = infos2["maker_0"]["pnl"] + infos2["maker_1"]["pnl"]
        assert together == pytest.approx(infos1["maker_0"]["pnl"], abs=1e-9)
    assert fills.min() > 0.3 * fills.sum()


def test_the_best_quote_fills_at_the_as_intensity_and_deeper_quotes_never():
    """Constant quotes at depths 0.2, 0.5, 0.8, 10 episodes (4,000 quote-steps per agent): every
    order reaching 0.5 or 0.8 reaches 0.2 first, and quotes are replenished at once, so the
    deeper makers never fill; the best fills Poisson(A e^{-0.2 k} dt) a step (mean within 4
    s.e.). The inside spread reported is 0.4."""
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
    rate_dt = p.A * math.exp(-0.2 * p.k) * p.dt
    assert abs(fills[0] / trials - rate_dt) <= 4 * math.sqrt(rate_dt / trials)
    assert fills[1] == fills[2] == 0


def test_the_env_is_the_one_path_view_of_the_batched_core():
    """Same seed, same quotes: the env's infos equal a Market(params, 1, 3) stepped by hand,
    bit for bit."""
    params = MarketParams(T=0.5, fee=0.005, order_size=2.0, tick_size=0.01)
    env = competition_v0.parallel_env(n_agents=3, params=params)
    policies = _as_policies(env, [0.05, 0.2, 0.8])
    market = Market(params, 1, 3)
    market.reset(12)

    def check(env, obs, infos, rewards):
        depths = np.array([[[infos[a]["bid_depth"], infos[a]["ask_depth"]]
                            for a in env.possible_agents]])
        market.step(depths)
        pnl = market.pnl()
        for i, agent in enumerate(env.possible_agents):
            assert infos[agent]["pnl"] == pnl[0, i]
            assert infos[agent]["inventory"] == market.ledger.inventory[0, i]
            assert infos[agent]["cash"] == market.ledger.cash[0, i]
            assert infos[agent]["fills"] == market.ledger.fills[0, i].sum()

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


# -- one agent: the single-agent Gymnasium env, byte for byte ------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(fill_rule="linear", toxicity=0.3),
    dict(max_inventory=3.0, order_size=2.0, fee=0.01, tick_size=0.05, liquidation_cost=0.2),
])
def test_one_agent_is_the_single_agent_gymnasium_env_byte_for_byte(kwargs):
    """AS gamma = 0.1 (and random actions), 3 seeds, T = 0.5: the same seed and actions give
    the same observations, rewards and infos (ledger, pnl, mid) at every step."""
    params = MarketParams(T=0.5, **kwargs)
    comp = competition_v0.parallel_env(n_agents=1, params=params)
    single = gym.make("asmm_env/AvellanedaStoikov-v0", params=params)
    policy = AvellanedaStoikovPolicy.from_env(params, 0.1)
    keys = set(LEDGER) - {"fills"}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        obs_c, info_c = comp.reset(seed=seed)
        obs_s, info_s = single.reset(seed=seed)
        steps = 0
        while comp.agents:
            assert np.array_equal(obs_c["maker_0"], obs_s)
            assert all(info_c["maker_0"][key] == info_s[key] for key in keys)
            action = policy.act(obs_s) if steps % 3 else rng.uniform(-0.05, 0.2, 2)
            before = info_s["bid_volume"], info_s["ask_volume"]
            obs_c, rewards, terms, _, info_c = comp.step({"maker_0": action})
            obs_s, reward, term, _, info_s = single.step(action)
            assert rewards["maker_0"] == reward and terms["maker_0"] == term
            assert info_c["maker_0"]["bid_filled"] == info_s["bid_volume"] - before[0]
            assert info_c["maker_0"]["ask_filled"] == info_s["ask_volume"] - before[1]
            steps += 1
        assert term and steps == params.n_steps
        assert all(info_c["maker_0"][key] == info_s[key] for key in keys)


def test_one_agent_reports_every_info_key_of_the_single_agent_env_with_the_same_value():
    params = MarketParams(T=0.1)
    comp = competition_v0.parallel_env(n_agents=1, params=params)
    single = gym.make("asmm_env/AvellanedaStoikov-v0", params=params)
    comp.reset(seed=0)
    single.reset(seed=0)
    action = params.action_map.to_action(0.0, 0.0)   # at the mid: fills every step
    for _ in range(params.n_steps):
        _, _, _, _, infos = comp.step({"maker_0": action})
        _, _, _, _, info = single.step(action)
        assert {key: infos["maker_0"][key] for key in info} == info


# -- the tick grid --------------------------------------------------------------------------

def test_tick_size_puts_every_quote_and_fill_of_the_env_on_the_grid():
    """Tick 0.05, three AS agents (continuous depths), 3 episodes: the quotes reported rest on
    the grid around the mid they were posted at, rounded away from it by less than a tick, and
    every agent's cash stays a multiple of the tick (whole orders at grid prices, no fees, no
    initial inventory)."""
    tick = 0.05
    env = competition_v0.parallel_env(n_agents=3, tick_size=tick, T=0.5)
    policies = _as_policies(env, [0.05, 0.2, 0.8])
    reach = env.params.action_map
    traded = 0.0

    def on_grid(x):
        return abs(x / tick - round(x / tick)) <= 1e-6

    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        while env.agents:
            mid = obs["maker_0"][0]
            actions = {a: policies[i].act(obs[a]) for i, a in enumerate(env.possible_agents)}
            obs, _, _, _, infos = env.step(actions)
            for agent, action in actions.items():
                info = infos[agent]
                wanted_bid, wanted_ask = reach.to_depths(action, 1)[0]
                assert on_grid(mid - info["bid_depth"]) and on_grid(mid + info["ask_depth"])
                assert -1e-9 <= info["bid_depth"] - wanted_bid < tick + 1e-9
                assert -1e-9 <= info["ask_depth"] - wanted_ask < tick + 1e-9
                assert on_grid(info["cash"])
                traded += info["bid_filled"] + info["ask_filled"]
    assert traded > 100


def test_on_a_grid_agents_at_one_price_share_it_and_the_totals_are_a_lone_agents():
    """Tick 0.25, two agents at depths 0.21 and 0.24 (mostly one grid price) against one agent
    at 0.21, same seeds, 3 episodes of 100 steps: per step the two agents' fills sum to the
    lone agent's; both fill."""
    params = MarketParams(T=0.5, tick_size=0.25)
    one = competition_v0.parallel_env(n_agents=1, params=params)
    two = competition_v0.parallel_env(n_agents=2, params=params)
    near = params.action_map.to_action(0.21, 0.21)
    far = params.action_map.to_action(0.24, 0.24)
    fills = np.zeros(2)
    for seed in range(3):
        one.reset(seed=seed)
        two.reset(seed=seed)
        while one.agents:
            _, _, _, _, infos1 = one.step({"maker_0": near})
            _, _, _, _, infos2 = two.step({"maker_0": near, "maker_1": far})
            for key in ("bid_fills", "ask_fills"):
                assert infos2["maker_0"][key] + infos2["maker_1"][key] == infos1["maker_0"][key]
        fills += [infos2[a]["fills"] for a in two.possible_agents]
    assert fills.min() > 0


# -- SuperSuit -----------------------------------------------------------------------------

def test_supersuit_vectorises_the_parallel_env():
    supersuit = pytest.importorskip("supersuit")
    env = supersuit.pettingzoo_env_to_vec_env_v1(competition_v0.parallel_env(n_agents=3, **SHORT))
    obs, infos = env.reset(seed=0)
    assert np.asarray(obs).shape == (3, 3)
    obs, rewards, terminations, truncations, infos = env.step(np.zeros((3, 2)))
    assert np.asarray(rewards).shape == (3,)
