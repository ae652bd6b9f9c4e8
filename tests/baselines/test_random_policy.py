"""RandomPolicy: uniform depths from its own seeded generator."""

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.actions import ActionMap
from baselines import RandomPolicy


def test_depths_are_uniform_in_low_high_for_one_observation_and_a_batch():
    params = MarketParams()
    policy = RandomPolicy.from_env(params, low=-0.5, high=1.5, seed=0)
    depths = params.action_map.to_depths(policy.act(np.zeros((10_000, 3))), 10_000)
    assert depths.shape == (10_000, 2)
    assert depths.min() >= -0.5 and depths.max() <= 1.5
    # uniform: mean 0.5, s.e. (2 / sqrt(12)) / sqrt(20,000)
    assert abs(depths.mean() - 0.5) < 4 * (2 / np.sqrt(12)) / np.sqrt(depths.size)
    assert policy.act(np.zeros(3)).shape == (2,)


def test_same_seed_reproduces_the_draws_whatever_numpys_global_generator_does(
        reseed_global_numpy):
    reseed_global_numpy(0)
    first = RandomPolicy(0.0, 1.0, action_map=ActionMap(-2.0, 2.0), seed=7).act(np.zeros((50, 3)))
    reseed_global_numpy(1)
    second = RandomPolicy(0.0, 1.0, action_map=ActionMap(-2.0, 2.0), seed=7).act(np.zeros((50, 3)))
    assert np.array_equal(first, second)
    other = RandomPolicy(0.0, 1.0, action_map=ActionMap(-2.0, 2.0), seed=8).act(np.zeros((50, 3)))
    assert not np.array_equal(first, other)


def test_equal_bounds_give_a_constant_depth():
    assert np.array_equal(RandomPolicy(0.5, 0.5, action_map=ActionMap(-1.0, 1.0),
                                       seed=0).act(np.zeros(3)), [0.5, 0.5])


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(low=float("nan")), "low"), (dict(high=float("inf")), "high"),
    (dict(low=2.0, high=1.0), "high"),
])
def test_bad_constructor_argument_raises_value_error_naming_it(kwargs, name):
    arguments = dict(low=0.0, high=1.0, action_map=MarketParams(), seed=0) | kwargs
    low, high = arguments.pop("low"), arguments.pop("high")
    with pytest.raises(ValueError, match=rf"^{name} must"):
        RandomPolicy(low, high, **arguments)
