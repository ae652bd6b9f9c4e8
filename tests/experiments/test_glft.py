"""The GLFT experiment: settings, market checks, the exact discrete-time CE and a quick run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asmm_env.analytic import glft_certainty_equivalent
from asmm_env.params import MarketParams
from baselines import AvellanedaStoikovPolicy, GLFTPolicy
from experiments.config import ConfigError, load_config, parse_config
from experiments.glft import (
    Settings,
    analytic_certainty_equivalent,
    discrete_certainty_equivalent,
    glft_market,
    paired_ce_difference,
)
from experiments.stats import certainty_equivalent
from tests.baselines.test_glft_end_to_end import chain_certainty_equivalent


def test_shipped_config_section_is_valid_and_documents_Q_per_market():
    settings = load_config().settings("glft", Settings)
    assert settings.markets == ("as2008", "liquid")
    assert settings.inventory_bounds == (25, 50)


@pytest.mark.parametrize("field, value, match", [
    ("inventory_bounds", (25,), r"^inventory_bounds must give one Q per market"),
    ("inventory_bounds", (25, 0), r"^inventory_bounds must be integers >= 1"),
    ("inventory_bounds", (25, 2.5), r"^inventory_bounds must be integers >= 1"),
    ("markets", (), r"^markets must be a non-empty list"),
    ("markets", ("as2008", "as2008"), r"^markets must not repeat"),
    ("gamma", 0.0, r"^gamma must be > 0"),
    ("paths", 0, r"^paths must be an integer >= 1"),
    ("line_times", (0.5, 1.0), r"^line_times must be"),
    ("dt_halvings", 0, r"^dt_halvings must be an integer >= 1"),
])
def test_bad_setting_raises_value_error_naming_the_field(field, value, match):
    kwargs = {"markets": ("as2008", "liquid"), "inventory_bounds": (25, 50), field: value}
    with pytest.raises(ValueError, match=match):
        Settings(**kwargs)


def test_unknown_market_is_a_config_error_naming_the_key():
    raw = load_config().raw
    raw = {**raw, "experiments": {"glft": {"markets": ["nowhere"], "inventory_bounds": [5]}}}
    with pytest.raises(ConfigError, match=r"experiments\.glft\.markets\[0\]: market 'nowhere'"):
        parse_config(raw).settings("glft", Settings)


@pytest.mark.parametrize("change", [{"price_dynamics": "binomial"}, {"toxicity": 0.2},
                                    {"impact": 0.01},
                                    {"fill_rule": "linear"}, {"order_size": 2.0}])
def test_market_outside_the_glft_model_raises_value_error_naming_the_field(change):
    field = next(iter(change))
    with pytest.raises(ValueError, match=rf"market 'm' must be GLFT's model, {field} ="):
        glft_market("m", MarketParams(**change), 10)


def test_glft_market_sets_max_inventory_to_Q_and_checks_q0():
    assert glft_market("m", MarketParams(), 7).max_inventory == 7.0
    with pytest.raises(ValueError, match=r"q0 must be an integer in \[-Q, Q\]"):
        glft_market("m", MarketParams(q0=8.0), 7)


@pytest.mark.parametrize("build", [
    lambda p: GLFTPolicy.from_env(p, gamma=0.3),
    lambda p: AvellanedaStoikovPolicy.from_env(p, 0.3),
], ids=["glft", "as"])
def test_discrete_ce_agrees_with_the_independent_chain_of_the_end_to_end_test(build):
    params = glft_market("m", MarketParams(T=0.3, dt=0.002, q0=2.0), 6)
    policy = build(params)
    assert discrete_certainty_equivalent(policy, params, 0.3) == pytest.approx(
        chain_certainty_equivalent(policy, params, 0.3, q0=2), rel=1e-12)


def test_discrete_ce_of_glft_tends_to_the_analytic_value_linearly_in_dt():
    params = glft_market("m", MarketParams(T=0.2, dt=0.001), 8)
    analytic = analytic_certainty_equivalent(params, 0.2)
    assert analytic == glft_certainty_equivalent(0, gamma=0.2, sigma=2.0, A=140.0, k=1.5, Q=8,
                                                 T=0.2)
    gaps = []
    for dt in (0.001, 0.0005):
        p = params.replace(dt=dt)
        gaps.append(discrete_certainty_equivalent(GLFTPolicy.from_env(p, gamma=0.2), p, 0.2)
                    - analytic)
    assert gaps[0] < gaps[1] < 0
    assert 1.9 < gaps[0] / gaps[1] < 2.1


def test_paired_ce_difference_is_the_difference_of_the_two_ces():
    rng = np.random.default_rng(5)
    a = rng.normal(10.0, 3.0, 20_000)
    b = a + rng.normal(-0.2, 0.5, a.size)
    d = paired_ce_difference(a, b, 0.1)
    expected = certainty_equivalent(a, 0.1)["ce"] - certainty_equivalent(b, 0.1)["ce"]
    assert d["diff"] == pytest.approx(expected, rel=1e-10)
    # Pairing: far smaller than the s.e. of two independent CEs.
    independent = math.hypot(certainty_equivalent(a, 0.1)["se"], certainty_equivalent(b, 0.1)["se"])
    assert 0 < d["se"] < independent / 3
    assert paired_ce_difference(a, a, 0.1)["diff"] == 0.0


@pytest.fixture(scope="module")
def quick_glft(tmp_path_factory):
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("glft") / "results"
    assert run_cli("glft", "--quick", "--seed", "3", "--out", str(out)) == 0
    return out


def test_quick_run_writes_every_table_and_figure(quick_glft):
    for name in ("glft_quotes", "glft_summary", "glft_paired", "glft_dt_convergence"):
        assert (quick_glft / "tables" / f"{name}.csv").is_file()
    for name in ("glft_quote_surface_as2008", "glft_quote_surface_liquid",
                 "glft_quote_profiles", "glft_certainty_equivalents"):
        assert (quick_glft / "figures" / f"{name}.png").is_file()
    section = (quick_glft / "report" / "glft.md").read_text()
    assert "CE of GLFT exact minus AS closed form" in section


def test_summary_has_the_analytic_ce_for_glft_only_and_mc_near_the_exact_ce(quick_glft):
    s = pd.read_csv(quick_glft / "tables" / "glft_summary.csv")
    assert len(s) == 2 * 3
    glft = s[s["key"] == "glft"].set_index("market")
    assert glft.loc["as2008", "ce_analytic_continuous"] == pytest.approx(
        glft_certainty_equivalent(0, gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=25, T=1.0))
    assert s.loc[s["key"] != "glft", "ce_analytic_continuous"].isna().all()
    # 200 paths: the Monte Carlo CE within 4 s.e. of the exact discrete-time one.
    assert (s["z_mc_vs_exact"].abs() < 4).all()


def test_dt_table_halves_the_gap(quick_glft):
    c = pd.read_csv(quick_glft / "tables" / "glft_dt_convergence.csv")
    ratios = c["gap_ratio_to_previous"].dropna()
    assert len(ratios) == 2 * 3 and ((ratios > 1.8) & (ratios < 2.2)).all()
