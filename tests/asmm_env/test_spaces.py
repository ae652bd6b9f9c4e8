"""Observation and action spaces and the one action <-> depth conversion."""

import numpy as np
import pytest

from asmm_env import Market, MarketParams
from asmm_env.spaces import (
    ACTION_NAMES,
    OBSERVATION_NAMES,
    action_space,
    observation_space,
    observations,
)


def test_names_follow_the_documented_order():
    assert OBSERVATION_NAMES == ("mid", "inventory", "time_remaining")
    assert ACTION_NAMES == ("bid_depth", "ask_depth")


def test_action_space_is_the_normalised_box():
    space = action_space(MarketParams())
    assert space.shape == (2,) and space.dtype == np.float64
    assert np.array_equal(space.low, [-1, -1]) and np.array_equal(space.high, [1, 1])


def test_observations_stack_mid_inventory_and_time_remaining():
    obs = observations(np.array([100.0, 101.0]), np.array([1.0, -2.0]), 0.25)
    assert obs.dtype == np.float64
    assert np.array_equal(obs, [[100.0, 1.0, 0.25], [101.0, -2.0, 0.25]])


@pytest.mark.parametrize("params", [
    MarketParams(),
    MarketParams(price_dynamics="binomial", q0=3.0),
    MarketParams(price_dynamics="gbm", sigma=0.5, drift=0.2),
    MarketParams(jump_intensity=20.0, jump_std=1.0, vol_of_vol=1.0, drift=-3.0),
    MarketParams(max_inventory=4.0, q0=-4.0),
])
def test_observation_space_has_finite_bounds_and_contains_every_observation(params):
    space = observation_space(params)
    assert space.shape == (3,) and space.dtype == np.float64
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    assert space.low[2] == 0.0 and space.high[2] == params.T
    market = Market(params, 200)
    market.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    while True:
        obs = observations(market.mid, market.ledger.inventory[:, 0], market.time_remaining)
        assert all(space.contains(o) for o in obs)
        if market.done:
            break
        market.step(rng.uniform(-1.0, 2.0, (200, 1, 2)))


def test_observation_space_inventory_bound_is_max_inventory_when_set():
    assert observation_space(MarketParams(max_inventory=4.0)).high[1] == 4.0
    unbounded = observation_space(MarketParams(q0=3.0, T=0.1))          # A T = 14 orders
    assert unbounded.high[1] == pytest.approx(3.0 + 14.0 + 100 * np.sqrt(14.0) + 100.0)
    one_a_step = observation_space(MarketParams(q0=3.0, T=0.1, fill_rule="linear"))
    assert one_a_step.high[1] == 3.0 + 20 * 1.0


def test_gbm_observation_space_keeps_the_mid_positive():
    assert observation_space(MarketParams(price_dynamics="gbm", sigma=0.3)).low[0] == 0.0
