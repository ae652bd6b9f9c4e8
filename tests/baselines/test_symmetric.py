"""SymmetricPolicy: the AS (2008) benchmark quoting the AS average spread around the mid."""

import math

import numpy as np
import pytest

from asmm_env import MarketParams
from baselines import SymmetricPolicy

PARAMS = MarketParams()


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
def test_from_env_uses_the_time_average_of_the_as_spread(gamma):
    expected = 2.0 / gamma * math.log(1.0 + gamma / 1.5) + 0.5 * gamma * 2.0**2 * 1.0
    assert SymmetricPolicy.from_env(PARAMS, gamma).spread == pytest.approx(expected, rel=1e-12)
    constant = 2.0 / gamma * math.log(1.0 + gamma / 1.5)
    no_time = SymmetricPolicy.from_env(PARAMS, gamma, include_time_term=False)
    assert no_time.spread == pytest.approx(constant, rel=1e-12)


def test_quotes_half_the_spread_on_each_side_whatever_the_inventory_and_time():
    policy = SymmetricPolicy(1.3, action_map=PARAMS)
    obs = np.array([[100.0, 0.0, 1.0], [90.0, 8.0, 0.5], [110.0, -8.0, 0.0]])
    depths = PARAMS.action_map.to_depths(policy.act(obs), 3)
    np.testing.assert_allclose(depths, np.full((3, 2), 0.65), rtol=1e-14)
    single = policy.act(obs[1])
    assert single.shape == (2,) and np.array_equal(single, policy.act(obs)[1])


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(spread=0.0), "spread"), (dict(spread=-1.0), "spread"),
    (dict(spread=float("nan")), "spread"), (dict(action_map=1.0), "action_map"),
])
def test_bad_constructor_argument_raises_naming_it(kwargs, name):
    arguments = dict(spread=1.0, action_map=PARAMS) | kwargs
    spread = arguments.pop("spread")
    with pytest.raises((ValueError, TypeError), match=rf"^{name} must"):
        SymmetricPolicy(spread, **arguments)


@pytest.mark.parametrize("gamma", [0.0, -0.1, float("nan")])
def test_from_env_with_a_bad_gamma_raises_value_error_naming_gamma(gamma):
    # -0.1 would otherwise give a positive "spread" (1.18) and pass silently
    with pytest.raises(ValueError, match=r"^gamma must"):
        SymmetricPolicy.from_env(PARAMS, gamma)
