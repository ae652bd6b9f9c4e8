"""The regime sweep: the criterion (monotone, border cells, the old inversions impossible), the
metrics, the settings, and runs through the CLI (outputs, verdicts both ways, the seed
contract, identical results for 1 and 2 workers and on Dask)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import experiments.regime_sweep as rs
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from experiments.config import ConfigError, load_config
from experiments.findings import read_findings

C = rs.Criteria()      # works: Sharpe >= 2, P(loss) <= 0.05; breaks: Sharpe < 0.5,
                       # P(loss) > 0.3 or CE < 0


def row(sharpe=(9.0, 8.5, 9.5), p_loss=(0.0, 0.0, 0.01), ce=(50.0, 49.0, 51.0),
        reliable=True) -> dict:
    """A summary row: each metric as (estimate, CI low, CI high)."""
    out = {"ce_reliable": reliable}
    for name, (value, low, high) in (("sharpe", sharpe), ("p_loss", p_loss), ("ce", ce)):
        out.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
    if not reliable:
        out["ce_ci_low"] = out["ce_ci_high"] = math.nan
    return out


# --- the criterion ---------------------------------------------------------------------------
def test_a_clear_cell_works_and_each_breaks_criterion_alone_breaks_it():
    assert C.label(row()) == "works"
    assert C.label(row(sharpe=(0.3, 0.2, 0.4))) == "breaks"
    assert C.label(row(p_loss=(0.4, 0.35, 0.45))) == "breaks"
    assert C.label(row(ce=(-2.0, -3.0, -1.0))) == "breaks"
    assert C.label(row(sharpe=(math.nan,) * 3)) == "breaks"       # no PnL variance
    assert C.label(row(sharpe=(1.0, 0.9, 1.1))) == "degraded"
    assert C.label(row(p_loss=(0.1, 0.08, 0.12))) == "degraded"


def test_thresholds_are_as_documented_at_their_edges():
    assert C.rank(2.0, 0.05, 0.0) == rs.WORKS
    assert C.rank(np.nextafter(2.0, 0), 0.05, 0.0) == rs.DEGRADED
    assert C.rank(2.0, np.nextafter(0.05, 1), 0.0) == rs.DEGRADED
    assert C.rank(0.5, 0.3, 0.0) == rs.DEGRADED
    assert C.rank(np.nextafter(0.5, 0), 0.3, 0.0) == rs.BREAKS
    assert C.rank(0.5, np.nextafter(0.3, 1), 0.0) == rs.BREAKS
    assert C.rank(9.0, 0.0, np.nextafter(0.0, -1)) == rs.BREAKS


@pytest.mark.parametrize("changed, label", [
    (dict(sharpe=(2.1, 1.9, 2.3)), "border degraded/works"),
    (dict(sharpe=(0.5, 0.4, 0.6)), "border breaks/degraded"),
    (dict(sharpe=(1.0, 0.4, 2.5)), "border breaks/works"),
    (dict(p_loss=(0.04, 0.02, 0.07)), "border degraded/works"),
    (dict(ce=(0.5, -0.5, 1.5)), "border breaks/works"),
])
def test_a_threshold_inside_a_ci_makes_a_border_cell_naming_both_ends(changed, label):
    assert C.label(row(**changed)) == label


def test_an_unreliable_ce_enters_at_its_point_estimate():
    assert C.label(row(ce=(3.0, math.nan, math.nan), reliable=False)) == "works"
    assert C.label(row(ce=(-3.0, math.nan, math.nan), reliable=False)) == "breaks"


def test_the_old_inversions_are_impossible():
    # GLFT at Sharpe 18.1 with P(loss) 0 was "degraded" (inventory share of variance 0.51).
    assert C.label(row(sharpe=(18.1, 17.4, 18.8), p_loss=(0.0, 0.0, 0.002))) == "works"
    # AS gamma 0.01 (Sharpe 6.7) was "degraded" while gamma 10 (Sharpe 2.05) "worked".
    good = row(sharpe=(6.7, 6.4, 7.0), p_loss=(0.0, 0.0, 0.002), ce=(40.0, 39.0, 41.0))
    worse = row(sharpe=(2.05, 1.95, 2.15), p_loss=(0.0, 0.0, 0.002), ce=(3.0, 2.9, 3.1))
    assert all(b >= a for a, b in zip(rs.score(C.label(worse)), rs.score(C.label(good)),
                                      strict=True))


def _triple(draw, low, high):
    values = sorted(draw(st.lists(st.floats(low, high), min_size=3, max_size=3)))
    return values[1], values[0], values[2]


def _ordered(estimate, low, high):
    return estimate, min(low, estimate), max(high, estimate)


@st.composite
def dominating_pair(draw):
    """Rows A and B with B at least as good on every estimate and CI end (NaN Sharpe: worst;
    an unreliable CE is a point at both ends)."""
    gain = st.floats(0, 5)
    a = {"sharpe": _triple(draw, -3, 25), "p_loss": _triple(draw, 0, 1),
         "ce": _triple(draw, -20, 100)}
    b = {"sharpe": _ordered(*(x + draw(gain) for x in a["sharpe"])),
         "p_loss": _ordered(*(max(0.0, x - draw(gain) / 10) for x in a["p_loss"])),
         "ce": _ordered(*(x + 6 * draw(gain) for x in a["ce"]))}
    reliable_a, reliable_b = draw(st.booleans()), draw(st.booleans())
    if not reliable_a:
        a["ce"] = (a["ce"][0],) * 3
    if not reliable_b:
        b["ce"] = (max(b["ce"][1], a["ce"][2]),) * 3
    if draw(st.booleans()):
        a["sharpe"] = (math.nan,) * 3
    return row(**a, reliable=reliable_a), row(**b, reliable=reliable_b)


@settings(max_examples=200, deadline=None)
@given(dominating_pair(), st.floats(0.1, 3.0), st.floats(0.0, 0.2), st.floats(0.21, 1.0))
def test_a_strategy_at_least_as_good_on_every_metric_never_gets_a_worse_label(
        pair, breaks_sharpe, works_loss, breaks_loss):
    a, b = pair
    criteria = rs.Criteria(works_sharpe=breaks_sharpe * 4, breaks_sharpe=breaks_sharpe,
                           works_loss_probability=works_loss,
                           breaks_loss_probability=breaks_loss)
    low_a, high_a = rs.score(criteria.label(a))
    low_b, high_b = rs.score(criteria.label(b))
    assert low_b >= low_a and high_b >= high_a


@pytest.mark.parametrize("field, value", [
    ("breaks_sharpe", 0.0), ("works_sharpe", 0.5), ("breaks_loss_probability", 1.5),
    ("works_loss_probability", 0.5), ("breaks_ce", -1.0)])
def test_inconsistent_criteria_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must"):
        rs.Criteria(**{field: value})


@pytest.mark.parametrize("field, value", [
    ("paths", 0), ("position_limit", 2.5), ("gamma", 0.0), ("ce_gamma", -1.0),
    ("sigma_multipliers", (1.0, 0.5)), ("A_multipliers", (0.0, 1.0)), ("impacts", (-0.1,)),
    ("sigma_multipliers", (0.5, 16.0)), ("A_multipliers", (2.0**-7, 2.0)),
    ("high_sigma", 3.0), ("low_A", 3.0), ("claim_impact", 0.3), ("material_share", 0.0),
    ("robustness_paths", 1.5), ("works_sharpe", 0.1)])
def test_bad_settings_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must"):
        rs.Settings(**{field: value})


def test_bad_config_is_a_config_error_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("experiments:\n  regime_sweep:\n    low_A: 3.0\n")
    with pytest.raises(ConfigError, match=r"experiments\.regime_sweep\.low_A must be one of"):
        load_config(path).settings("regime_sweep", rs.Settings)


# --- metrics ---------------------------------------------------------------------------------
def test_variance_share_follows_its_definition_and_its_interval_covers():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 3.0, 20_000), rng.normal(0, 1.0, 20_000)
    share = rs.variance_share(a, b)
    assert share["share"] == pytest.approx(a.var() / (a.var() + b.var()))
    assert share["ci_low"] < 0.9 < share["ci_high"]                 # 9 / (9 + 1)
    assert math.isnan(rs.variance_share(np.zeros(5), np.zeros(5))["share"])


def test_a_quick_run_thins_the_sweeps_to_their_ends_the_market_and_the_claims_cells():
    thin = rs.Settings().thinned()
    assert thin.sigma_multipliers == (0.25, 1.0, 16.0)
    assert thin.A_multipliers == (2.0**-7, 1.0, 4.0)
    assert thin.impacts == (0.0, 0.4, 1.6) and thin.gammas == (0.01, 0.1, 10.0)


def test_every_cell_and_strategy_runs_on_the_runs_seed():
    cells = rs.build_cells(rs.Settings(), MarketParams(), seed=11, n_paths=7)
    assert {c.seed for c in cells} == {11} and {c.n_paths for c in cells} == {7}
    cell = cells[0]
    rows = rs.run_cell(cell)
    direct = rollout(AvellanedaStoikovPolicy.from_env(cell.params, 0.1), cell.params,
                     n_paths=7, seed=11).paths["terminal_pnl"]
    assert [r["strategy"] for r in rows] == ["as", "glft"]
    assert rows[0]["mean"] == pytest.approx(direct.mean(), rel=1e-12)


# --- runs through the CLI ------------------------------------------------------------------
SMALL = """\
markets:
  short: {T: 0.25}
experiments:
  regime_sweep:
    market: short
    paths: 400
    sigma_multipliers: [1.0, 16.0]
    A_multipliers: [0.0078125, 1.0]
    k_multipliers: [1.0, 8.0]
    gammas: [0.1, 3.0]
    jump_intensities: [0.0, 100.0]
    impacts: [0.0, 0.4, 1.6]
"""
TABLES = ("regime_sweep_criteria", "regime_sweep_grid", "regime_sweep_sweeps")
FIGURES = ("regime_sweep_map", "regime_sweep_1d", "regime_sweep_impact")


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "small.yaml"
    path.write_text(SMALL + extra)
    return path


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*regime_sweep*"))}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from tests.experiments.conftest import run_cli

    folder = tmp_path_factory.mktemp("regime")
    out = folder / "results"
    assert run_cli("regime_sweep", "--quick", "--seed", "5", "--config", str(_config(folder)),
                   "--workers", "1", "--out", str(out)) == 0
    return out


def test_run_writes_its_tables_figures_and_labels_from_the_criterion(quick_run, outputs):
    outputs(quick_run, "regime_sweep", TABLES, FIGURES, seed=5)
    grid = pd.read_csv(quick_run / "tables" / "regime_sweep_grid.csv")
    assert len(grid) == 2 * 2 * 2 and set(grid["seed"]) == {5}
    for column in ("label", "sharpe", "sharpe_ci_low", "p_loss_ci_high", "ce", "ce_reliable",
                   "inventory_share", "inventory_share_ci_low", "adverse_share", "fills"):
        assert column in grid.columns
    assert list(grid["label"]) == [C.label(r) for r in grid.to_dict("records")]
    sweeps = pd.read_csv(quick_run / "tables" / "regime_sweep_sweeps.csv")
    assert set(sweeps["sweep"]) == {"k", "gamma", "jump_intensity", "impact"}
    assert "toxicity" not in set(sweeps["sweep"])


def test_labels_over_the_grid_are_monotone_in_the_metrics(quick_run):
    frames = [pd.read_csv(quick_run / "tables" / f"regime_sweep_{name}.csv")
              for name in ("grid", "sweeps")]
    rows = pd.concat(frames).to_dict("records")

    def ends(r):
        ce = (r["ce_ci_low"], r["ce_ci_high"]) if r["ce_reliable"] else (r["ce"], r["ce"])
        return (r["sharpe_ci_low"], r["sharpe_ci_high"], -r["p_loss_ci_high"],
                -r["p_loss_ci_low"], *ce)

    checked = 0
    for a, b in itertools.permutations(rows, 2):
        if all(y >= x for x, y in zip(ends(a), ends(b), strict=True)):
            checked += 1
            assert all(y >= x for x, y in zip(rs.score(a["label"]), rs.score(b["label"]),
                                              strict=True)), (a, b)
    assert checked > 10


@pytest.mark.slow
def test_verdicts_follow_their_rules_both_ways(tmp_path, cli):
    # Confirmed at the shipped headline cells; refuted where the claims' cells are swapped
    # for ones where AS works (sigma x 1) or impact eats the whole spread (1.6).
    out = tmp_path / "results"
    swapped = "    high_sigma: 1.0\n    claim_impact: 1.6\n"
    assert cli("regime_sweep", "--seed", "5", "--config", str(_config(tmp_path, swapped)),
               "--out", str(out)) == 0
    found = {f.id: f for f in read_findings(out / "tables" / "findings_regime_sweep.csv")}
    assert found["as_works_at_the_market"].verdict.value == "confirmed"
    assert found["low_a_breaks"].verdict.value in ("confirmed", "qualified")
    assert found["low_a_breaks"].claim == 6
    for name in ("high_sigma_breaks", "high_sigma_inventory_dominates",
                 "impact_partial_failure"):
        assert found[name].verdict.value == "refuted", found[name]
        assert found[name].holds_at_dt4 is not None and found[name].seeds.split() == \
            ["5", "6", "7"]


@pytest.mark.slow
def test_results_are_identical_for_one_and_two_workers(tmp_path, cli, quick_run):
    out = tmp_path / "two"
    assert cli("regime_sweep", "--quick", "--seed", "5", "--config", str(_config(tmp_path)),
               "--workers", "2", "--out", str(out)) == 0
    assert _tables(out) == _tables(quick_run) and len(_tables(out)) == 2 * len(TABLES) + 1


@pytest.mark.slow
def test_results_are_identical_on_a_dask_cluster(tmp_path, cli, quick_run):
    distributed = pytest.importorskip("dask.distributed")
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert cli("regime_sweep", "--quick", "--seed", "5", "--config",
                   str(_config(tmp_path)), "--executor", "dask", "--scheduler",
                   cluster.scheduler_address, "--out", str(out)) == 0
    assert _tables(out) == _tables(quick_run)
