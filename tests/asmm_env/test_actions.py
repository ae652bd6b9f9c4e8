"""ActionMap: the one action <-> depth conversion of every face and baseline."""

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.actions import ActionMap, action_map_of
from asmm_env.lob import BookParams

MAP = ActionMap(-1.0, 3.0)        # centre 1, half width 2


def test_action_minus_one_zero_and_one_are_low_centre_and_high():
    depths = MAP.to_depths(np.array([[-1.0, 0.0], [1.0, 0.5]]), 2)
    assert np.array_equal(depths, [[-1.0, 1.0], [3.0, 2.0]])
    assert (MAP.centre, MAP.half_width) == (1.0, 2.0)


def test_depths_round_trip_through_actions_and_outside_depths_map_beyond_the_box():
    bid, ask = np.array([0.5, -1.0, 3.0, 7.0]), np.array([0.7, 2.0, 0.0, -5.0])
    action = MAP.to_action(bid, ask)
    assert action.shape == (4, 2)
    assert np.abs(action[:3]).max() <= 1.0 and np.abs(action[3]).min() > 1.0
    np.testing.assert_allclose(MAP.to_depths(action[:3], 3),
                               np.stack([bid, ask], axis=-1)[:3], rtol=1e-15)


def test_to_action_broadcasts_a_scalar_side():
    assert np.array_equal(MAP.to_action(np.array([1.0, 3.0]), 2.0), [[0.0, 0.5], [1.0, 0.5]])


def test_actions_beyond_the_box_are_clipped_to_the_depth_range():
    depths = MAP.to_depths(np.array([[3.0, -7.0], [0.5, 1.0]]), 2)
    assert np.array_equal(depths, [[3.0, -1.0], [2.0, 3.0]])
    assert np.array_equal(MAP.clip(np.array([-4.0, 0.0, 9.0])), [-1.0, 0.0, 3.0])


def test_single_path_accepts_a_flat_or_a_batched_action():
    assert MAP.to_depths([0.25, 0.5], 1).shape == (1, 2)
    assert np.array_equal(MAP.to_depths([[0.25, 0.5]], 1), [[1.5, 2.0]])


@pytest.mark.parametrize(("action", "n_paths", "expected"), [
    ([0.1, 0.2, 0.3], 1, r"\(2,\)"), ([[0.1, 0.2]] * 3, 2, r"\(2, 2\)"),
    ([0.1, 0.2], 2, r"\(2, 2\)"), (0.5, 1, r"\(2,\)"), ([[[0.1, 0.2]]], 1, r"\(1, 2\)"),
])
def test_misshapen_action_raises_naming_the_action_and_the_shape_it_needs(action, n_paths,
                                                                         expected):
    with pytest.raises(ValueError, match=r"^action must have shape " + expected):
        MAP.to_depths(action, n_paths)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises_value_error_naming_the_action(bad):
    with pytest.raises(ValueError, match=r"^action must be finite"):
        MAP.to_depths([0.1, bad], 1)
    with pytest.raises(ValueError, match=r"^action must be finite"):
        MAP.to_depths(np.full((100, 2), bad), 100)


@pytest.mark.parametrize(("low", "high", "name"), [(1.0, 1.0, "high"), (2.0, 1.0, "high"),
                                                   (np.nan, 1.0, "low"), (0.0, np.inf, "high")])
def test_bad_ranges_raise_naming_the_bound(low, high, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        ActionMap(low, high)


def test_the_map_comes_from_the_params_and_min_depth_below_max_depth_is_checked():
    params = MarketParams(min_depth=-0.5, max_depth=2.5)
    assert action_map_of(params) == ActionMap(-0.5, 2.5) == params.action_map
    assert action_map_of(MAP) is MAP
    assert BookParams().action_map.high == BookParams().depth_bound
    with pytest.raises(ValueError, match="^min_depth must be < max_depth"):
        MarketParams(min_depth=3.0, max_depth=2.5)
    with pytest.raises(TypeError, match="^action_map must be"):
        action_map_of(1.0)
