"""The assumptions experiment: its table, its findings' rules, the paired statistics and the
seed contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from experiments.assumptions import (
    ASSUMPTIONS,
    COLUMNS,
    METRICS,
    Settings,
    comparisons,
    paired,
)
from experiments.config import load_config
from experiments.findings import Above, Below, Estimate, Near, Verdict, read_findings

TABLES = ("assumptions",)
FIGURES = ("assumptions_effects", "assumptions_sweeps")
RULES = {"jumps_tail_risk": Above(0.0), "stochastic_volatility_tail_risk": Above(0.0),
         "utility_cara_shortfall": Below(0.01), "utility_penalty_shortfall": Below(0.01),
         "hawkes_pnl_risk": Above(0.0), "latency_cost": Below(0.0),
         "zero_correlation_control": Near(0.0, 0.01), "hedging_gain": Above(0.0),
         "impact_adverse_selection": Below(0.0)}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run (seed 7): 200 paths per cell."""
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("assumptions") / "results"
    assert run_cli("assumptions", "--quick", "--seed", "7", "--out", str(out)) == 0
    return out


def test_writes_its_table_figures_and_section(quick, outputs):
    outputs(quick, "assumptions", TABLES, FIGURES, seed=7)


def test_every_assumption_has_rows_with_cis_for_every_metric(quick):
    table = pd.read_csv(quick / "tables" / "assumptions.csv")
    assert tuple(table.columns) == COLUMNS
    assert set(table["assumption"]) == set(ASSUMPTIONS)
    for (assumption, variant, policy), rows in table.groupby(
            ["assumption", "variant", "policy"], sort=False):
        expected = {m for m in METRICS if m != "penalised_mean" or assumption == "utility"}
        assert set(rows["metric"]) == expected, (assumption, variant, policy)
        assert np.allclose(rows["diff"], rows["stressed"] - rows["base"], atol=1e-9)
        decided = rows[rows["reliable"]]
        assert decided[["diff_ci_low", "diff_ci_high"]].notna().all().all()
        assert ((decided["diff_ci_low"] <= decided["diff"] + 1e-12)
                & (decided["diff"] <= decided["diff_ci_high"] + 1e-12)).all()
        # Only a CE can lack an interval, and then it says why.
        undecided = rows[~rows["reliable"]]
        assert set(undecided["metric"]) <= {"ce"}
        assert undecided["diff_ci_low"].isna().all() and (undecided["note"].str.len() > 0).all()
    assert (table["paths"] == 200).all()


def test_findings_apply_their_rules(quick):
    found = {f.id: f for f in read_findings(quick / "tables" / "findings_assumptions.csv")}
    assert set(found) == set(RULES)
    for fid, rule in RULES.items():
        f = found[fid]
        assert f.rule == rule.text(), fid
        assert f.ci_verdict == rule.decide(f.estimate), fid
        assert f.holds_at_dt4 is None and f.holds_across_seeds is None      # --quick
        assert f.claim is None and f.section == "assumptions"
    # Effects large enough to be decided on 200 paths (seed 7).
    for fid in ("latency_cost", "impact_adverse_selection", "hawkes_pnl_risk",
                "zero_correlation_control"):
        assert found[fid].verdict is Verdict.CONFIRMED, fid
    table = pd.read_csv(quick / "tables" / "assumptions.csv")
    latency = table[(table["assumption"] == "latency") & (table["policy"] == "AS")
                    & (table["metric"] == "mean_pnl")].iloc[0]
    assert found["latency_cost"].value == latency["diff"]


def test_the_base_cells_are_the_runs_seed_market(quick):
    # The seed contract: the AS policy on the configured market with the run's seed is the
    # rollout every other experiment makes with that seed (200 paths: its first 200).
    config = load_config()
    params = config.market("as2008")
    pnl = rollout(AvellanedaStoikovPolicy.from_env(params, 0.1), params, n_paths=200,
                  seed=7).paths["terminal_pnl"]
    table = pd.read_csv(quick / "tables" / "assumptions.csv")
    row = table[(table["assumption"] == "latency") & (table["policy"] == "AS")
                & (table["metric"] == "mean_pnl")].iloc[0]
    assert row["base"] == float(pnl.mean())


@pytest.mark.slow
def test_same_seed_same_bytes(quick, tmp_path, cli):
    out = tmp_path / "again"
    assert cli("assumptions", "--quick", "--seed", "7", "--out", str(out)) == 0
    for name in ("assumptions.csv", "findings_assumptions.csv"):
        assert (out / "tables" / name).read_bytes() == (quick / "tables" / name).read_bytes()


def test_paired_statistics_on_constructed_samples():
    rng = np.random.default_rng(0)
    n = 5000
    base = pd.DataFrame({"pnl": rng.normal(10.0, 2.0, n), "inventory": rng.normal(0, 3, n),
                         "fills": np.full(n, 10.0), "adverse_selection": np.zeros(n),
                         "penalty": np.ones(n)})
    shifted = base.assign(pnl=base["pnl"] + 1.0, fills=base["fills"] * 2,
                          adverse_selection=-np.ones(n))
    stats = paired(base, shifted, gamma=0.1, phi=0.5, bootstrap=100,
                   rng=np.random.default_rng(1))
    assert set(stats) == set(METRICS)
    exact = {"mean_pnl": 1.0, "ce": 1.0, "var99": -1.0, "cvar99": -1.0, "std_pnl": 0.0,
             "inventory_std": 0.0, "mean_fills": 10.0, "adverse_selection_per_fill": -0.05,
             "penalised_mean": 1.0}
    for metric, value in exact.items():
        row = stats[metric]
        assert row["diff"] == pytest.approx(value, abs=1e-9), metric
        assert row["diff_ci_high"] - row["diff_ci_low"] < 1e-6, metric     # paired: no noise
    assert stats["ce"]["reliable"]
    doubled = paired(base, base.assign(pnl=2 * base["pnl"]), gamma=0.1, phi=0.5,
                     bootstrap=200, rng=np.random.default_rng(2))["std_pnl"]
    std = base["pnl"].std(ddof=1)
    assert doubled["diff"] == pytest.approx(std)
    assert doubled["diff_ci_low"] < std < doubled["diff_ci_high"]
    with pytest.raises(ValueError, match="stressed"):
        paired(base, base.iloc[:10], gamma=0.1, phi=0.5, bootstrap=100,
               rng=np.random.default_rng(0))


def test_utility_and_single_asset_blocks_compare_what_they_say():
    blocks = {(c.assumption, c.variant, c.policy): c for c in comparisons(Settings())}
    utility = blocks["utility", "running quadratic penalty", "GLFT -> CJ"]
    assert utility.base == ("bounded", "glft") and utility.stressed == ("bounded", "cj")
    hedging = blocks["single_asset", "hedging at correlation 0.8", "independent -> portfolio"]
    assert hedging.base == ("rho", "independent") and hedging.stressed == ("rho", "portfolio")
    assert {c.assumption for c in blocks.values()} == set(ASSUMPTIONS)


@pytest.mark.parametrize(("changes", "message"), [
    ({"paths": 0}, "paths must be"),
    ({"branching_ratio": 1.0}, "branching_ratio must be in (0, 1)"),
    ({"jump_variance_share": 0.0}, "jump_variance_share must be in (0, 1)"),
    ({"correlation": 1.5}, "correlation must be"),
    ({"latency_sweep": ()}, "latency_sweep must be"),
    ({"bootstrap": 10}, "bootstrap must be an integer >= 50"),
    ({"robustness_paths": 0.0}, "robustness_paths must be"),
])
def test_bad_settings_name_the_field(changes, message):
    with pytest.raises(ValueError) as exc:
        Settings(**changes)
    assert message in str(exc.value)


@pytest.mark.slow
def test_findings_get_their_dt4_and_seed_checks_when_not_quick(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  assumptions:\n    paths: 100\n    portfolio_paths: 100\n"
                      "    latency_sweep: [0.02]\n    correlation_sweep: [0.8]\n"
                      "    robustness_paths: 0.5\n    bootstrap: 50\n")
    out = tmp_path / "out"
    assert cli("assumptions", "--config", str(config), "--out", str(out)) == 0
    found = {f.id: f for f in read_findings(out / "tables" / "findings_assumptions.csv")}
    control = found.pop("zero_correlation_control")
    assert control.holds_at_dt4 is None          # an exact control: no robustness run
    for f in found.values():
        decided = f.ci_verdict is not Verdict.INCONCLUSIVE
        assert (f.holds_at_dt4 is not None) == decided, f.id
        assert (f.holds_across_seeds is not None) == decided, f.id
    assert isinstance(found["latency_cost"].estimate, Estimate)
