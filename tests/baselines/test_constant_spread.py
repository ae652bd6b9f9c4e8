"""ConstantSpreadPolicy: fixed depths on each side."""

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.actions import ActionMap
from baselines import ConstantSpreadPolicy


def test_quotes_the_given_depths_for_one_observation_and_a_batch():
    params = MarketParams()
    policy = ConstantSpreadPolicy.from_env(params, 0.4, 0.9)
    reach = params.action_map
    assert np.allclose(reach.to_depths(policy.act([100.0, 5.0, 0.3]), 1), [[0.4, 0.9]])
    batch = policy.act(np.zeros((6, 3)))
    assert batch.shape == (6, 2)
    np.testing.assert_allclose(reach.to_depths(batch, 6), np.tile([0.4, 0.9], (6, 1)))


def test_ask_depth_defaults_to_the_bid_depth_and_negative_depths_are_allowed():
    policy = ConstantSpreadPolicy(-0.2, action_map=ActionMap(-2.0, 2.0))
    assert np.array_equal(policy.act(np.zeros(3)), [-0.1, -0.1])


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(bid_depth=float("nan")), "bid_depth"), (dict(ask_depth=float("inf")), "ask_depth"),
    (dict(action_map=object()), "action_map"),
])
def test_bad_constructor_argument_raises_naming_it(kwargs, name):
    arguments = dict(bid_depth=0.5, ask_depth=0.5, action_map=MarketParams()) | kwargs
    bid = arguments.pop("bid_depth")
    with pytest.raises((ValueError, TypeError), match=rf"^{name} must"):
        ConstantSpreadPolicy(bid, **arguments)
