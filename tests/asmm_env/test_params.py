"""MarketParams: defaults, derived quantities and validation (errors name the field)."""

import dataclasses
import math

import numpy as np
import pytest

from asmm_env.params import MarketParams

NAN, INF = float("nan"), float("inf")


def test_defaults_are_the_as_2008_simulation_setup():
    p = MarketParams()
    assert (p.s0, p.sigma, p.A, p.k, p.T, p.dt, p.q0) == (100.0, 2.0, 140.0, 1.5, 1.0, 0.005, 0.0)
    assert p.price_dynamics == "gaussian" and p.fill_rule == "poisson"
    assert p.tick_size == 0.0 and p.liquidation_cost == 0.0
    assert p.n_steps == 200


def test_action_map_defaults_to_minus_one_over_k_to_three_over_k_and_both_ends_override():
    p = MarketParams(sigma=3.0, T=4.0, k=2.0, dt=0.5)
    assert (p.action_map.low, p.action_map.high) == (-0.5, 1.5)
    assert p.action_map.centre == 0.5 and p.depth_bound == 1.5        # 1 / k at action 0
    assert MarketParams(max_depth=7.5).depth_bound == 7.5
    assert MarketParams(min_depth=-3.0, max_depth=30.0).action_map.low == -3.0


def test_n_steps_survives_float_rounding_of_t_over_dt():
    assert MarketParams(T=1.0, dt=0.1).n_steps == 10
    assert MarketParams(T=0.3, dt=0.1).n_steps == 3    # 0.3 / 0.1 = 2.9999999999999996


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MarketParams().sigma = 1.0


def test_replace_changes_a_field_and_validates_again():
    assert MarketParams().replace(sigma=1.0).sigma == 1.0
    with pytest.raises(ValueError, match="sigma"):
        MarketParams().replace(sigma=-1.0)


def test_numpy_scalars_are_accepted():
    p = MarketParams(sigma=np.float32(2.0), q0=np.int64(2), adverse_selection_steps=np.int64(3),
                     A=np.float64(100.0))
    assert p.adverse_selection_steps == 3 and p.q0 == 2


BAD_VALUES = [
    # (field, value, message fragment after the field name)
    *[(name, value, None) for name in ("s0", "sigma", "A", "k", "T", "dt", "order_size",
                                      "vol_mean_reversion")
      for value in (-1.0, 0.0, NAN, INF, "1", True)],
    *[(name, value, None) for name in ("q0", "drift", "fee") for value in (NAN, INF, -INF, None)],
    *[(name, value, None) for name in ("jump_intensity", "jump_std", "vol_of_vol")
      for value in (-0.1, NAN, INF)],
    ("toxicity", -0.1, r"\[0\.0, 1\.0\]"),
    ("toxicity", 1.5, r"\[0\.0, 1\.0\]"),
    ("toxicity", NAN, None),
    ("price_dynamics", "levy", "gaussian"),
    ("fill_rule", "bernoulli", "poisson"),
    *[(name, value, None) for name in ("tick_size", "liquidation_cost")
      for value in (-0.01, NAN, INF)],
    ("adverse_selection_steps", 0, ">= 1"),
    ("adverse_selection_steps", 2.5, ">= 1"),
    ("adverse_selection_steps", True, ">= 1"),
    ("max_inventory", 0.0, "> 0"),
    ("max_inventory", -3.0, "> 0"),
    ("max_inventory", NAN, None),
    ("max_depth", -1.0, "> min_depth"),
    ("max_depth", INF, None),
    ("min_depth", 5.0, "< max_depth"),
    ("min_depth", NAN, None),
]


@pytest.mark.parametrize(("name", "value", "fragment"), BAD_VALUES)
def test_bad_field_value_raises_value_error_naming_the_field(name, value, fragment):
    with pytest.raises(ValueError, match=rf"^{name} must") as err:
        MarketParams(**{name: value})
    if fragment is not None:
        assert err.match(fragment)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize(("T", "dt"), [(1.0, 0.003), (1.0, 0.3), (1.0, 2.0), (0.5, 0.4)])
def test_horizon_not_a_whole_number_of_steps_is_rejected(T, dt):
    with pytest.raises(ValueError, match=r"T / dt must be a whole number") as err:
        MarketParams(T=T, dt=dt)
    assert f"T={T!r}" in str(err.value) and f"dt={dt!r}" in str(err.value)


@pytest.mark.parametrize("q0", [3.5, -3.5])
def test_initial_inventory_beyond_max_inventory_is_rejected(q0):
    with pytest.raises(ValueError, match=r"^q0 must be in \[-max_inventory, max_inventory\]"):
        MarketParams(q0=q0, max_inventory=3.0)
    assert MarketParams(q0=3.0, max_inventory=3.0).q0 == 3.0


@pytest.mark.parametrize("dynamics", ["binomial", "gbm"])
def test_stochastic_volatility_requires_gaussian_dynamics(dynamics):
    with pytest.raises(ValueError, match="vol_of_vol must be 0 unless price_dynamics"):
        MarketParams(vol_of_vol=0.5, price_dynamics=dynamics)


def test_from_kwargs_names_an_unknown_parameter():
    with pytest.raises(TypeError, match=r"unknown market parameter\(s\) \['gama'\]"):
        MarketParams.from_kwargs(sigma=1.0, gama=0.1)
    assert MarketParams.from_kwargs(sigma=1.0).sigma == 1.0


def test_every_field_is_documented_in_the_class_docstring():
    doc = MarketParams.__doc__
    for field in dataclasses.fields(MarketParams):
        assert f"\n    {field.name} :" in doc, field.name


def test_gbm_sigma_is_relative_and_depth_bound_still_finite():
    p = MarketParams(price_dynamics="gbm", sigma=0.2)
    assert math.isfinite(p.depth_bound) and p.depth_bound > 0


def test_the_old_fill_probability_name_is_refused_with_its_new_name():
    with pytest.raises(TypeError, match="fill_rule"):
        MarketParams.from_kwargs(fill_probability="linear")
