"""The GLFT experiment: settings, the model check, the exact discrete chain against Monte Carlo
for every fill rule, the paired CE difference, and runs through the CLI (outputs, verdicts
both ways, the seed contract)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy, GLFTPolicy
from experiments.config import ConfigError, load_config, parse_config
from experiments.findings import read_findings
from experiments.glft import (
    Settings,
    chain_certainty_equivalent,
    check_chain_market,
    glft_market,
    paired_ce_difference,
)
from experiments.stats import certainty_equivalent

TABLES = ("glft_summary", "glft_dt_convergence")
FIGURES = ("glft_quotes", "glft_ce")
FINDINGS = ("glft_vs_as", "glft_vs_glft_asymptotic", "mc_vs_chain", "mc_vs_value_function",
            "poisson_gap_ratio")


def test_shipped_config_section_is_valid():
    settings = load_config().settings("glft", Settings)
    assert (settings.gamma, settings.Q, settings.T, settings.dt) == (0.5, 10, 0.2, 0.002)


@pytest.mark.parametrize("field, value, match", [
    ("T", 0.0, r"^T must be > 0"), ("dt", -1.0, r"^dt must be > 0"),
    ("Q", 0, r"^Q must be an integer >= 1"), ("Q", 2.5, r"^Q must be an integer >= 1"),
    ("gamma", 0.0, r"^gamma must be > 0"), ("paths", 0, r"^paths must be an integer >= 1"),
    ("ce_tolerance", 0.0, r"^ce_tolerance must be > 0"),
    ("max_gap_ratio", 1.0, r"^max_gap_ratio must be in"),
    ("robustness_paths", 0.0, r"^robustness_paths must be in"),
    ("profile_times", (0.5, 1.0), r"^profile_times must be"),
])
def test_bad_setting_raises_value_error_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        Settings(**{field: value})


def test_unknown_market_is_a_config_error_naming_the_key():
    raw = {**load_config().raw, "experiments": {"glft": {"market": "nowhere"}}}
    with pytest.raises(ConfigError, match=r"experiments\.glft\.market: market 'nowhere'"):
        parse_config(raw).settings("glft", Settings)


@pytest.mark.parametrize("change", [{"price_dynamics": "binomial"}, {"impact": 0.01},
                                    {"toxicity": 0.2}, {"tick_size": 0.01}, {"fee": 0.1},
                                    {"order_size": 2.0}, {"max_inventory": None},
                                    {"max_inventory": 2.5}, {"q0": 0.5}])
def test_market_outside_glfts_model_raises_value_error_naming_the_field(change):
    field = "max_inventory" if "max_inventory" in change else next(iter(change))
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        check_chain_market(MarketParams(max_inventory=5.0).replace(**change))


def test_glft_market_replaces_horizon_step_and_bound():
    market = glft_market(MarketParams(), Settings(T=0.5, dt=0.01, Q=4))
    assert (market.T, market.dt, market.max_inventory, market.n_steps) == (0.5, 0.01, 4.0, 50)


@pytest.mark.parametrize("rule", ["poisson", "exponential", "linear"])
def test_monte_carlo_ce_matches_the_exact_chain_for_every_fill_rule(rule):
    # 20,000 paths of 25 steps, q0 = 2 near a bound of 4: the capacities bind; 4 s.e.
    params = MarketParams(T=0.05, dt=0.002, q0=2.0, max_inventory=4.0, fill_rule=rule)
    policy = AvellanedaStoikovPolicy.from_env(params, 0.5)
    pnl = rollout(policy, params, n_paths=20_000, seed=4).paths["terminal_pnl"].to_numpy()
    ce = certainty_equivalent(pnl, 0.5)
    assert ce["reliable"]
    assert abs(ce["ce"] - chain_certainty_equivalent(policy, params, 0.5)) < 4 * ce["se"]


def test_chain_of_a_policy_that_never_fills_is_the_inventory_risk_alone():
    # Quotes at the deepest depth (30 here) never fill (rate ~ 1e-18); q0 = 3 held for T:
    # PnL = 3 (S_T - S_0) ~ N(0, 9 sigma^2 T), CE = -gamma 9 sigma^2 T / 2.
    params = MarketParams(T=0.1, dt=0.01, q0=3.0, max_inventory=5.0, max_depth=30.0)

    class Deep:
        def act(self, observation):
            return np.ones((observation.shape[0], 2))

    assert chain_certainty_equivalent(Deep(), params, 0.2) == pytest.approx(
        -0.2 * 9 * 4.0 * 0.1 / 2, rel=1e-5)


def test_chain_rejects_a_market_outside_glfts_model():
    params = MarketParams(max_inventory=5.0, impact=0.1)
    with pytest.raises(ValueError, match=r"^impact must be 0.0"):
        chain_certainty_equivalent(GLFTPolicy.from_env(params, gamma=0.1), params, 0.1)


def test_paired_ce_difference_is_the_difference_of_the_two_ces_with_a_paired_interval():
    rng = np.random.default_rng(5)
    a = rng.normal(10.0, 3.0, 20_000)
    b = a + rng.normal(-0.2, 0.5, a.size)
    d = paired_ce_difference(a, b, 0.1)
    ce_a, ce_b = certainty_equivalent(a, 0.1), certainty_equivalent(b, 0.1)
    assert d.value == pytest.approx(ce_a["ce"] - ce_b["ce"], rel=1e-10)
    half = (d.ci_high - d.ci_low) / 2
    assert 0 < half < 1.96 * math.hypot(ce_a["se"], ce_b["se"]) / 3    # pairing pays
    assert paired_ce_difference(a, a, 0.1).value == 0.0


def test_paired_ce_difference_has_no_interval_when_a_ce_is_unreliable():
    rng = np.random.default_rng(6)
    heavy = rng.standard_t(1.5, 2_000) * 5.0           # heavy left tail: no honest CE interval
    d = paired_ce_difference(heavy, rng.normal(0.0, 1.0, heavy.size), 1.0)
    assert not certainty_equivalent(heavy, 1.0)["reliable"]
    assert math.isfinite(d.value) and not d.has_ci


# --- runs through the CLI -------------------------------------------------------------------
SMALL = """\
experiments:
  glft:
    paths: 3000
    ce_tolerance: 0.5
    max_gap_ratio: 0.01
"""


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from tests.experiments.conftest import run_cli

    folder = tmp_path_factory.mktemp("glft")
    (folder / "small.yaml").write_text(SMALL)
    out = folder / "results"
    assert run_cli("glft", "--seed", "3", "--config", str(folder / "small.yaml"),
                   "--out", str(out)) == 0
    return out


def test_run_writes_its_tables_figures_and_findings(small_run, outputs):
    outputs(small_run, "glft", TABLES, FIGURES, seed=3)
    summary = pd.read_csv(small_run / "tables" / "glft_summary.csv")
    for column in ("policy", "mean", "sharpe_ci_low", "ce", "ce_ci_low", "ce_reliable",
                   "ce_ess", "ce_exact_chain", "ce_continuous"):
        assert column in summary.columns
    assert list(summary["policy"]) == ["GLFT exact", "GLFT asymptotic", "AS closed form"]
    convergence = pd.read_csv(small_run / "tables" / "glft_dt_convergence.csv")
    assert ((convergence["ratio_to_previous"].dropna() - 2).abs() < 0.1).all()
    found = {f.id: f for f in read_findings(small_run / "tables" / "findings_glft.csv")}
    assert tuple(found) == FINDINGS


def test_verdicts_follow_their_rules_both_ways(small_run):
    found = {f.id: f for f in read_findings(small_run / "tables" / "findings_glft.csv")}
    # Above(0): GLFT's paired CE advantage over AS is many s.e. at 3,000 paths.
    assert found["glft_vs_as"].verdict.value == "confirmed"
    assert found["glft_vs_as"].holds_at_dt4 and found["glft_vs_as"].holds_across_seeds
    # Near(0, 0.5): the Monte Carlo CE agrees with the exact chain and the value function.
    for name in ("mc_vs_chain", "mc_vs_value_function"):
        assert found[name].verdict.value == "confirmed", found[name]
    # Below(0.01): the exact gap ratio is about 0.05, so this rule refutes it, at dt/4 too.
    ratio = found["poisson_gap_ratio"]
    assert ratio.verdict.value == "refuted" and 0.03 < ratio.value < 0.07
    assert ratio.value == ratio.ci_low == ratio.ci_high and ratio.holds_at_dt4


def test_seed_contract_the_seed_is_the_runners_own(small_run):
    # Seed 3 means rollout(..., seed=3) on the experiment's market (no derived seed), so the
    # same seed gives the same paths wherever it appears.
    settings = load_config().settings("glft", Settings)
    market = glft_market(load_config().market(settings.market), settings)
    pnl = rollout(GLFTPolicy.from_env(market, gamma=settings.gamma), market, n_paths=3000,
                  seed=3).paths["terminal_pnl"]
    summary = pd.read_csv(small_run / "tables" / "glft_summary.csv")
    assert summary.loc[0, "mean"] == pytest.approx(pnl.mean(), rel=1e-12)
