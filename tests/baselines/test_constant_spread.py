"""ConstantSpreadPolicy: fixed depths on each side."""

import numpy as np
import pytest

from asmm_env import MarketParams
from baselines import ConstantSpreadPolicy


def test_quotes_the_given_depths_for_one_observation_and_a_batch():
    params = MarketParams()
    policy = ConstantSpreadPolicy.from_env(params, 0.4, 0.9)
    assert np.allclose(policy.act([100.0, 5.0, 0.3]) * params.depth_bound, [0.4, 0.9])
    batch = policy.act(np.zeros((6, 3)))
    assert batch.shape == (6, 2)
    np.testing.assert_allclose(batch * params.depth_bound, np.tile([0.4, 0.9], (6, 1)))


def test_ask_depth_defaults_to_the_bid_depth_and_negative_depths_are_allowed():
    policy = ConstantSpreadPolicy(-0.2, depth_bound=2.0)
    assert np.array_equal(policy.act(np.zeros(3)), [-0.1, -0.1])


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(bid_depth=float("nan")), "bid_depth"), (dict(ask_depth=float("inf")), "ask_depth"),
    (dict(depth_bound=0.0), "depth_bound"), (dict(depth_bound=-2.0), "depth_bound"),
])
def test_bad_constructor_argument_raises_value_error_naming_it(kwargs, name):
    arguments = dict(bid_depth=0.5, ask_depth=0.5, depth_bound=10.0) | kwargs
    bid = arguments.pop("bid_depth")
    with pytest.raises(ValueError, match=rf"^{name} must"):
        ConstantSpreadPolicy(bid, **arguments)
