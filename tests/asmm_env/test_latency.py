"""Quote latency (asmm_env/latency.py) hooked into Market.step."""

from __future__ import annotations

import numpy as np
import pytest

from asmm_env import Market, MarketParams
from asmm_env.competition_v0 import parallel_env
from asmm_env.envs.avellaneda_stoikov import AvellanedaStoikovEnv
from asmm_env.latency import QuoteLatency
from asmm_env.rollout import market_with, rollout
from baselines import AvellanedaStoikovPolicy, SymmetricPolicy

PARAMS = MarketParams()          # the AS 2008 market, dt = 0.005
SIDE = np.array([1.0, -1.0])


def with_latency(latency):
    return market_with(latency=latency)


@pytest.mark.parametrize("params", [PARAMS, PARAMS.replace(tick_size=0.01, max_inventory=5.0,
                                                           impact=0.1)])
def test_latency_zero_reproduces_the_base_model_byte_for_byte(params):
    for policy in (AvellanedaStoikovPolicy.from_env(params, 0.1),
                   SymmetricPolicy.from_env(params, 0.1)):
        base = rollout(policy, params, n_paths=1500, seed=9, record_paths=3)
        zero = rollout(policy, params, n_paths=1500, seed=9, record_paths=3,
                       market_factory=with_latency(QuoteLatency(0.0)))
        assert base.paths.equals(zero.paths)
        for key, value in base.trajectories.items():
            assert np.array_equal(value, zero.trajectories[key]), key
    # Two agents, the numpy path on both sides.
    depths = np.random.default_rng(0).uniform(0.2, 1.0, (40, 50, 2, 2))
    results = []
    for latency in (None, QuoteLatency(0.0)):
        market = Market(params, 50, 2, latency=latency)
        market.reset(seed=3)
        for d in depths:
            market.step(d)
        results.append((market.mid, market.pnl(), market.ledger.fills))
    for a, b in zip(*results, strict=True):
        assert np.array_equal(a, b)


def test_a_quote_rests_latency_steps_later_at_the_price_fixed_when_decided():
    lag = 3
    market = Market(PARAMS, 20, 2, latency=QuoteLatency(lag * PARAMS.dt))
    market.reset(seed=5)
    rng = np.random.default_rng(1)
    decided, mids = [], []
    for step in range(25):
        depths = rng.uniform(0.1, 1.2, (20, 2, 2))
        decided.append(depths)
        mids.append(market.mid.copy())
        market.step(depths)
        source = max(step - lag, 0)                  # the opening quotes rest until then
        expected = decided[source] + (mids[step] - mids[source])[:, None, None] * SIDE
        np.testing.assert_allclose(market.last_resting, expected, rtol=0, atol=1e-12)


def test_a_latency_below_one_step_rests_from_the_next_step():
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    one_step = rollout(policy, PARAMS, n_paths=1000, seed=2,
                       market_factory=with_latency(QuoteLatency(PARAMS.dt))).paths
    jittered = rollout(policy, PARAMS, n_paths=1000, seed=2,
                       market_factory=with_latency(QuoteLatency(0.3 * PARAMS.dt,
                                                                jitter=0.6 * PARAMS.dt))).paths
    assert one_step.equals(jittered)


def test_random_latencies_rest_the_latest_decision_that_has_arrived():
    market = Market(PARAMS, 200, 1, latency=QuoteLatency(PARAMS.dt, jitter=6 * PARAMS.dt))
    market.reset(seed=7)
    lat = market.latency
    previous = np.full((200, 1), -1.0)
    for step in range(60):
        market.step(np.full((200, 1, 2), 0.5))
        resting = lat._rest_step
        assert np.all(resting >= previous)                       # never an older quote
        assert np.all(resting <= max(step - 1, 0))               # at least one step late
        assert np.all(resting >= step - 7)                       # at most latency + jitter
        previous = resting.copy()
    assert len(np.unique(previous)) > 1                          # the delays differ by path


def test_stale_quotes_cost_money_and_the_accounting_identity_holds():
    # 2,000 paths, AS (gamma 0.1), latency 4 steps: observed mean PnL 63.4 -> 45.1 (seed 5).
    policy = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1)
    base = rollout(policy, PARAMS, n_paths=2000, seed=5).paths
    late = rollout(policy, PARAMS, n_paths=2000, seed=5,
                   market_factory=with_latency(QuoteLatency(4 * PARAMS.dt))).paths
    diff = late["terminal_pnl"] - base["terminal_pnl"]
    assert diff.mean() + 4 * diff.std() / np.sqrt(len(diff)) < 0
    assert late["max_identity_residual"].max() < 1e-9


def test_the_compiled_step_is_bypassed_with_latency_and_cannot_be_forced():
    assert not Market(PARAMS, 10, latency=QuoteLatency(0.0))._compiled
    with pytest.raises(ValueError, match="engine"):
        Market(PARAMS, 10, latency=QuoteLatency(0.01), engine="numba")


def test_the_envs_take_a_latency():
    env = AvellanedaStoikovEnv(latency=QuoteLatency(2 * PARAMS.dt))
    env.reset(seed=0)
    env.step(np.zeros(2))
    assert env.unwrapped.market.latency is not None
    comp = parallel_env(n_agents=2, latency=QuoteLatency(PARAMS.dt, jitter=PARAMS.dt))
    comp.reset(seed=0)
    for _ in range(3):
        comp.step({agent: np.zeros(2) for agent in comp.agents})
    assert comp.unwrapped.market.last_resting.shape == (1, 2, 2)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="latency"):
        QuoteLatency(-0.1)
    with pytest.raises(ValueError, match="jitter"):
        QuoteLatency(0.1, jitter=float("nan"))
    with pytest.raises(TypeError, match="latency"):
        Market(PARAMS, 1, latency=0.01)
