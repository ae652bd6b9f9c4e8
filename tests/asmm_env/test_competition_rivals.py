"""How strategic policies see their rivals' quotes, in both faces: the best rival depths, the
extended observation of the runner and of ``competition_v0.parallel_env(observe_rivals=True)``,
and the two faces agreeing path for path."""

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from asmm_env import Market, MarketParams, competition_v0
from asmm_env.rollout import rollout
from asmm_env.spaces import (
    best_rival_depths,
    no_rival_depth,
    observation_space,
    rival_observations,
)
from baselines import AvellanedaStoikovPolicy, CompetitionAwarePolicy, UndercutPolicy

SHORT = MarketParams(T=0.1, tick_size=0.01, max_inventory=10.0)     # 20 steps


def test_best_rival_depths_is_the_smallest_depth_among_the_other_agents():
    posted = np.array([[[0.5, 0.7], [0.4, np.inf], [0.6, 0.3]],
                       [[0.2, 0.2], [0.2, 0.2], [np.inf, np.inf]]])
    rivals = best_rival_depths(posted)
    expected = np.array([[[0.4, 0.3], [0.5, 0.3], [0.4, 0.7]],
                         [[0.2, 0.2], [0.2, 0.2], [0.2, 0.2]]])     # a tie: each sees the other
    np.testing.assert_array_equal(rivals, expected)
    assert np.isinf(best_rival_depths(posted[:, :1])).all()          # alone: no rival


def test_rival_observations_show_no_rival_at_the_deepest_depth_and_stay_in_the_space():
    obs = np.array([[100.0, 2.0, 0.05], [100.0, -1.0, 0.05]])
    rivals = np.array([[np.inf, 0.3], [-1e9, 1e9]])
    out = rival_observations(obs, rivals, SHORT)
    assert out.shape == (2, 5)
    np.testing.assert_array_equal(out[:, :3], obs)
    none = no_rival_depth(SHORT)
    assert none >= SHORT.depth_bound and none > 10.0             # a quote that never fills
    np.testing.assert_array_equal(out[:, 3:], [[none, 0.3], [-none, none]])
    assert observation_space(SHORT, rivals=True).contains(out[0])


def _episode(env, policies, seed):
    obs, _ = env.reset(seed=seed)
    seen = []
    while env.agents:
        seen.append(np.stack([obs[a] for a in env.possible_agents]))
        obs, _, _, _, infos = env.step({a: policies[i].act(obs[a])
                                        for i, a in enumerate(env.possible_agents)})
    return np.array(seen), infos


def test_pettingzoo_face_shows_the_rivals_quotes_of_the_previous_step():
    env = competition_v0.parallel_env(n_agents=3, params=SHORT, observe_rivals=True)
    assert env.observation_space("maker_0").shape == (5,)
    policies = [AvellanedaStoikovPolicy.from_env(env, g) for g in (0.05, 0.1, 0.5)]
    obs, _ = env.reset(seed=3)
    assert np.all(obs["maker_1"][3:] == no_rival_depth(SHORT))      # an empty book first
    for _ in range(5):
        actions = {a: policies[i].act(obs[a]) for i, a in enumerate(env.possible_agents)}
        obs, _, _, _, infos = env.step(actions)
        posted = np.array([[infos[a]["bid_depth"], infos[a]["ask_depth"]]
                           for a in env.possible_agents])
        for i, agent in enumerate(env.possible_agents):
            others = np.delete(posted, i, axis=0)
            np.testing.assert_allclose(obs[agent][3:], others.min(axis=0), rtol=0, atol=1e-12)
            assert env.observation_space(agent).contains(obs[agent])


def test_pettingzoo_face_with_rivals_passes_the_parallel_api_test():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(competition_v0.parallel_env(n_agents=3, params=SHORT,
                                                      observe_rivals=True), num_cycles=50)


def test_observe_rivals_must_be_a_bool():
    with pytest.raises(ValueError, match="observe_rivals must be True or False"):
        competition_v0.parallel_env(n_agents=2, observe_rivals="yes")


def test_strategic_policies_give_the_same_pnl_in_the_pettingzoo_face_and_the_runner():
    """One path: the env's market and a runner market with the env's stream blocks."""
    env = competition_v0.parallel_env(n_agents=3, params=SHORT, observe_rivals=True)
    policies = [UndercutPolicy.from_env(env, 0.1), AvellanedaStoikovPolicy.from_env(env, 0.1),
                CompetitionAwarePolicy.from_env(env, 0.1, 3)]
    _, infos = _episode(env, policies, seed=11)
    res = rollout(policies, SHORT, n_paths=1, seed=11,
                  market_factory=lambda p, n, a, block_paths=None: Market(p, n, a))
    np.testing.assert_allclose(res.paths["terminal_pnl"],
                               [infos[a]["pnl"] for a in env.possible_agents], atol=1e-9)


def test_the_runner_gives_rival_columns_only_to_policies_that_observe_rivals():
    seen = {}

    class Spy(AvellanedaStoikovPolicy):
        def __init__(self, name, watches, **kw):
            super().__init__(0.1, sigma=2.0, k=1.5, T=SHORT.T, action_map=SHORT.action_map)
            self.name, self.observes_rivals = name, watches

        def depths(self, observation):
            seen.setdefault(self.name, []).append(observation.copy())
            return super().depths(observation)

    rollout([Spy("watcher", True), Spy("blind", False)], SHORT, n_paths=4, seed=1)
    assert seen["watcher"][0].shape == (4, 5) and seen["blind"][0].shape == (4, 3)
    np.testing.assert_array_equal(seen["watcher"][0][:, 3:], no_rival_depth(SHORT))


def test_the_runner_refuses_rival_observing_policies_on_the_order_book():
    from asmm_env.lob import BookParams

    params = BookParams(T=5.0)
    policy = UndercutPolicy(0.1, sigma=1.0, k=1.0, T=params.T, tick=params.tick_size,
                            action_map=params.action_map)
    with pytest.raises(TypeError, match="observes its rivals"):
        rollout([policy, policy], params, n_paths=2, seed=1)


def test_the_pettingzoo_face_puts_every_quote_on_the_tick_grid():
    env = competition_v0.parallel_env(n_agents=3, params=SHORT.replace(tick_size=0.05),
                                      observe_rivals=True)
    policies = [UndercutPolicy.from_env(env, 0.1), AvellanedaStoikovPolicy.from_env(env, 0.1),
                AvellanedaStoikovPolicy.from_env(env, 0.3)]
    obs, _ = env.reset(seed=2)
    for _ in range(10):
        mid = obs["maker_0"][0]
        obs, _, _, _, infos = env.step({a: policies[i].act(obs[a])
                                        for i, a in enumerate(env.possible_agents)})
        for agent in env.possible_agents:
            for price in (mid - infos[agent]["bid_depth"], mid + infos[agent]["ask_depth"]):
                assert abs(price / 0.05 - round(price / 0.05)) < 1e-6
