"""The regime sweep: the classification on hand-made inputs, the metrics, the model extensions it
relies on (off: byte-identical to the plain model; toxic flow and permanent impact: adverse
selection), and the experiment end to end (outputs written, identical for 1 and 2 workers and
on Dask)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments.regime_sweep as rs
from asmm_env import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from experiments.config import ConfigError, load_config

C = rs.Criteria()          # works: Sharpe >= 2, P(loss) <= 0.05, inventory share <= 0.5
                           # breaks: Sharpe < 0.5 or NaN, P(loss) >= 0.3, CI high < 0, fills < 1


def _metrics(**changes) -> dict[str, float]:
    """A cell that clearly works; ``changes`` move one metric."""
    return {"sharpe": 9.0, "p_loss": 0.0, "pnl_ci_high": 60.0, "fills_mean": 85.0,
            "inventory_risk_share": 0.2, **changes}


# --- classification ----------------------------------------------------------------------

def test_a_profitable_cell_with_small_inventory_risk_works():
    assert rs.classify(_metrics()) == rs.WORKS
    assert rs.failed_criteria(_metrics()) == (rs.WORKS, ())


def test_works_thresholds_are_inclusive():
    at_edges = _metrics(sharpe=C.works_sharpe, p_loss=C.works_loss_probability,
                        inventory_risk_share=C.works_inventory_risk_share,
                        fills_mean=C.min_fills)
    assert rs.classify(at_edges) == rs.WORKS


@pytest.mark.parametrize("change, reason", [
    (dict(sharpe=np.nextafter(C.works_sharpe, 0)), "Sharpe < 2"),
    (dict(p_loss=np.nextafter(C.works_loss_probability, 1)), "P(loss) > 0.05"),
    (dict(inventory_risk_share=np.nextafter(C.works_inventory_risk_share, 1)),
     "inventory share of PnL variance > 0.5"),
    (dict(inventory_risk_share=math.nan), "inventory share of PnL variance > 0.5"),
])
def test_just_missing_one_works_criterion_is_degraded_and_says_which(change, reason):
    assert rs.failed_criteria(_metrics(**change)) == (rs.DEGRADED, (reason,))


@pytest.mark.parametrize("change, reason", [
    (dict(sharpe=math.nan), "Sharpe undefined (no PnL variance)"),
    (dict(sharpe=np.nextafter(C.breaks_sharpe, 0)), "Sharpe < 0.5"),
    (dict(sharpe=-3.0), "Sharpe < 0.5"),
    (dict(p_loss=C.breaks_loss_probability), "P(loss) >= 0.3"),
    (dict(pnl_ci_high=-1e-12), "mean PnL < 0 (95% CI)"),
    (dict(fills_mean=np.nextafter(C.min_fills, 0)), "fills < 1"),
])
def test_each_breaks_criterion_alone_breaks_the_cell(change, reason):
    assert rs.failed_criteria(_metrics(**change)) == (rs.BREAKS, (reason,))


def test_breaks_thresholds_are_exclusive_where_documented():
    # Sharpe exactly 0.5, P(loss) just under 0.3, CI touching 0: degraded, not broken.
    edge = _metrics(sharpe=C.breaks_sharpe,
                    p_loss=np.nextafter(C.breaks_loss_probability, 0), pnl_ci_high=0.0)
    assert rs.classify(edge) == rs.DEGRADED


def test_breaks_wins_over_degraded_and_lists_every_failed_criterion():
    label, why = rs.failed_criteria(_metrics(sharpe=0.1, p_loss=0.4, fills_mean=0.5,
                                             inventory_risk_share=0.9))
    assert label == rs.BREAKS
    assert why == ("Sharpe < 0.5", "P(loss) >= 0.3", "fills < 1")


def test_criteria_thresholds_come_from_the_argument():
    strict = rs.Criteria(works_sharpe=20.0)
    assert rs.classify(_metrics(), strict) == rs.DEGRADED
    assert rs.classify(_metrics()) == rs.WORKS


@pytest.mark.parametrize("field, value", [
    ("breaks_sharpe", 0.0), ("works_sharpe", 0.1), ("breaks_loss_probability", 1.5),
    ("works_loss_probability", 0.3), ("works_inventory_risk_share", 0.0),
    ("min_fills", -1.0),
])
def test_inconsistent_criteria_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        rs.Criteria(**{field: value})


@pytest.mark.parametrize("section, key", [
    ("paths: 0", "paths"), ("toxicities: [0.0, 1.5]", "toxicities"),
    ("impacts: [-0.1, 0.5]", "impacts"), ("impacts: [0.5, 0.2]", "impacts"),
    ("A_multipliers: [1.0, 0.5]", "A_multipliers"), ("sigma_multipliers: []", "sigma_multipliers"),
    ("jump_std: -1.0", "jump_std"), ("works_sharpe: 0.1", "works_sharpe"),
    ("position_limit: 2.5", "position_limit"),
    ("market: nowhere", "market"),
])
def test_bad_settings_raise_a_config_error_naming_the_key(tmp_path, section, key):
    path = tmp_path / "c.yaml"
    path.write_text(f"experiments:\n  regime_sweep:\n    {section}\n")
    with pytest.raises(ConfigError, match=f"experiments.regime_sweep.*{key}"):
        load_config(path).settings("regime_sweep", rs.Settings)


def test_shipped_config_section_is_valid_and_has_at_least_1000_paths_per_cell():
    settings = load_config().settings("regime_sweep", rs.Settings)
    assert settings.paths >= 1000
    assert settings.sigma_multipliers[-1] / settings.sigma_multipliers[0] >= 64
    assert settings.A_multipliers[-1] / settings.A_multipliers[0] >= 256


# --- metrics -------------------------------------------------------------------------------

def _paths(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {name: np.zeros(n) for name in ("terminal_pnl", "terminal_inventory", "fills",
                                           "spread_capture", "inventory_pnl",
                                           "adverse_selection", "max_abs_inventory")}
    return pd.DataFrame({**base, **{k: np.asarray(v, float) for k, v in columns.items()}})


def test_metrics_follow_their_definitions_on_a_hand_made_frame():
    paths = _paths(terminal_pnl=[1.0, -1.0, 3.0, 5.0], fills=[4, 4, 9, 9],
                   terminal_inventory=[1, -1, 0, 0], spread_capture=[2.0, 2.0, 4.0, 4.0],
                   inventory_pnl=[-1.0, -3.0, -1.0, 1.0], adverse_selection=[-1, -1, -1, -1],
                   max_abs_inventory=[2, 3, 1, 2])
    m = rs.cell_metrics(paths)
    assert m["pnl_mean"] == 2.0 and m["p_loss"] == 0.25
    assert m["sharpe"] == pytest.approx(2.0 / np.std([1, -1, 3, 5], ddof=1))
    assert m["fills_mean"] == 6.5 and m["max_abs_q_mean"] == 2.0
    assert m["inventory_ratio"] == pytest.approx(np.std([1, -1, 0, 0], ddof=1) / np.sqrt(6.5))
    assert m["adverse_share"] == pytest.approx(1.0 / 3.0)          # -(-1) / 3
    var_inv, var_spread = np.var([-1, -3, -1, 1], ddof=1), np.var([2, 2, 4, 4], ddof=1)
    assert m["inventory_risk_share"] == pytest.approx(var_inv / (var_inv + var_spread))
    assert m["spread_per_fill"] == pytest.approx(3.0 / 6.5)
    assert m["adverse_per_fill"] == pytest.approx(-1.0 / 6.5)


def test_metrics_of_a_strategy_that_never_trades_are_nan_and_it_breaks():
    m = rs.cell_metrics(_paths(terminal_pnl=np.zeros(10)))   # RuntimeWarnings are errors
    assert math.isnan(m["sharpe"]) and math.isnan(m["adverse_share"])
    assert math.isnan(m["inventory_ratio"]) and math.isnan(m["inventory_risk_share"])
    assert rs.failed_criteria(m)[0] == rs.BREAKS


# --- cells and seeds -----------------------------------------------------------------------

def _seed_for(*keys):
    return hash(keys) % 2**62


def test_cell_seeds_depend_on_the_position_only_and_every_strategy_shares_its_cells_seed():
    settings = rs.Settings()
    cells = rs.build_cells(settings, MarketParams(), _seed_for, 10, with_glft=False)
    again = rs.build_cells(settings, MarketParams(), _seed_for, 10, with_glft=True)
    assert [c.seed for c in cells] == [c.seed for c in again]
    assert len({c.seed for c in cells}) == len(cells)
    grid = [c for c in cells if c.sweep == "grid"]
    assert len(grid) == len(settings.sigma_multipliers) * len(settings.A_multipliers)
    assert all(c.seed == _seed_for(rs.GRID, c.i, c.j) for c in grid)
    assert all(c.strategies[0].name == "AS" for c in cells)


def test_toxicity_widening_is_the_expected_one_step_move_times_toxicity():
    cells = rs.build_cells(rs.Settings(toxicities=(0.0, 0.5)), MarketParams(), _seed_for, 10,
                           with_glft=False)
    tox = [c for c in cells if c.sweep == "toxicity"]
    widening = [s.widen for c in tox for s in c.strategies if "toxicity" in s.name]
    assert widening == [0.0, pytest.approx(0.5 * 2.0 * math.sqrt(2 * 0.005 / math.pi))]


def test_impact_widening_moves_each_depth_by_the_impact():
    cells = rs.build_cells(rs.Settings(impacts=(0.0, 0.7)), MarketParams(), _seed_for, 10,
                           with_glft=False)
    imp = [c for c in cells if c.sweep == "impact"]
    assert [c.params.impact for c in imp] == [0.0, 0.7]
    assert all(c.seed == _seed_for(rs.IMPACT_SWEEP, c.i, 0) for c in imp)
    widening = [s.widen for c in imp for s in c.strategies if "impact" in s.name]
    assert widening == [0.0, 0.7]


def _impact_rows(x, label, pnl, sharpe, adverse_share, fills=10.0, adverse_per_fill=None):
    return pd.DataFrame({
        "sweep": "impact", "strategy": "AS", "x": x, "label": label, "pnl_mean": pnl,
        "sharpe": sharpe, "adverse_share": adverse_share, "fills_mean": fills,
        "adverse_per_fill": (adverse_per_fill if adverse_per_fill is not None
                             else -0.5 * np.asarray(x))})


def test_impact_summary_interpolates_the_crossings_on_a_hand_made_sweep():
    rows = _impact_rows(x=[0.0, 1.0, 2.0, 3.0],
                        label=[rs.WORKS, rs.DEGRADED, rs.BREAKS, rs.BREAKS],
                        pnl=[40.0, 20.0, -20.0, -40.0], sharpe=[8.0, 2.0, -1.0, -2.0],
                        adverse_share=[0.0, 0.5, 1.5, 2.0])
    s = rs.impact_summary(rows, breaks_sharpe=0.5)
    assert s.breaks_from == 2.0
    assert s.adverse_crosses_spread == pytest.approx(1.5)     # 0.5 -> 1.5 between 1 and 2
    assert s.pnl_zero == pytest.approx(1.5)                   # 20 -> -20 between 1 and 2
    assert s.sharpe_breaks == pytest.approx(1.5)              # 2 -> -1 crosses 0.5 at 1.5
    # (40 - pnl) / (fills x I): 2, 3, 2.67 -> median 2.67; adverse per fill / I = 0.5.
    assert s.cost_per_fill == pytest.approx(8 / 3)
    assert s.adverse_per_impact == pytest.approx(0.5)


def test_impact_summary_is_nan_where_the_sweep_does_not_reach_the_boundary():
    rows = _impact_rows(x=[0.0, 1.0], label=[rs.WORKS, rs.WORKS], pnl=[40.0, 30.0],
                        sharpe=[8.0, 6.0], adverse_share=[0.0, 0.4])
    s = rs.impact_summary(rows, breaks_sharpe=0.5)
    assert all(math.isnan(v) for v in (s.breaks_from, s.adverse_crosses_spread, s.pnl_zero,
                                       s.sharpe_breaks))


def test_strategies_at_a_cell_see_the_same_paths_and_the_reference_delta_is_zero():
    params = MarketParams(T=0.1)
    cell = rs.Cell("grid", 0, 0, 1.0, 1.0, params,
                   (rs.Strategy("AS", "as", 0.1), rs.Strategy("same", "as", 0.1),
                    rs.Strategy("limit", "as", 0.1, limit=1.0)), seed=3, n_paths=50,
                   chunk_size=50)
    rows = rs.run_cell(cell)
    assert rows[0]["delta_pnl_mean"] == 0.0 and rows[1]["delta_pnl_mean"] == 0.0
    assert rows[1]["pnl_mean"] == rows[0]["pnl_mean"]
    assert rows[2]["max_abs_q_mean"] <= 1.0 < rows[0]["max_abs_q_mean"]


# --- the model extensions the sweep relies on ----------------------------------------------

def _frame(params: MarketParams, seed: int = 11, n_paths: int = 300) -> pd.DataFrame:
    policy = AvellanedaStoikovPolicy.from_env(params, gamma=0.1)
    return rollout(policy, params, n_paths=n_paths, seed=seed).paths


PLAIN = MarketParams(T=0.25)     # 50 steps of the AS 2008 market


@pytest.mark.parametrize("off", [
    dict(toxicity=0.0),
    dict(impact=0.0),
    dict(jump_intensity=0.0, jump_std=3.0),
    dict(jump_intensity=50.0, jump_std=0.0),
    dict(vol_of_vol=0.0, vol_mean_reversion=123.0),
    dict(toxicity=0.0, jump_intensity=0.0, jump_std=3.0, vol_of_vol=0.0,
         vol_mean_reversion=0.5),
], ids=["toxicity", "impact", "jumps-intensity", "jumps-std", "stochastic-vol", "all"])
def test_extensions_switched_off_reproduce_the_plain_model_byte_for_byte(off):
    plain, other = _frame(PLAIN), _frame(PLAIN.replace(**off))
    assert list(plain.columns) == list(other.columns)
    assert plain.to_numpy().tobytes() == other.to_numpy().tobytes()


@pytest.mark.parametrize("on", [dict(toxicity=0.3), dict(impact=0.2),
                                dict(jump_intensity=20.0, jump_std=0.5),
                                dict(vol_of_vol=1.0)])
def test_extensions_switched_on_change_the_results(on):
    assert not _frame(PLAIN).equals(_frame(PLAIN.replace(**on)))


def _adverse_t_stat(params: MarketParams, n_paths: int = 1000) -> tuple[float, float]:
    """(mean adverse selection per fill, t-statistic of the per-path adverse selection)."""
    paths = _frame(params, seed=21, n_paths=n_paths)
    adverse = paths["adverse_selection"].to_numpy()
    t = adverse.mean() / (adverse.std(ddof=1) / np.sqrt(adverse.size))
    return adverse.sum() / paths["fills"].sum(), t


def test_toxic_flow_makes_adverse_selection_per_fill_significantly_negative():
    # 1,000 paths x 50 steps, about 20 fills a path; t over paths.
    per_fill, t = _adverse_t_stat(PLAIN.replace(toxicity=0.5))
    assert t < -4.0
    # Only the next step's move is informative: per fill about -toxicity E|dS|, never beyond.
    cap = 0.5 * 2.0 * math.sqrt(2 * PLAIN.dt / math.pi)
    assert -1.5 * cap < per_fill < -0.25 * cap


ONE_STEP = PLAIN.replace(adverse_selection_steps=1)    # adverse move over the fill's own step


def test_permanent_impact_makes_adverse_selection_per_fill_about_minus_impact():
    # 1,000 paths x 50 steps, about 20 fills a path; t over paths. Over one step a fill moves
    # the mid by exactly -impact unless an opposite fill in the same step offsets it, so per
    # fill the adverse move is between -impact and -impact x (share of fills not offset).
    impact = 0.5
    paths = _frame(ONE_STEP.replace(impact=impact), seed=21, n_paths=1000)
    adverse, fills = paths["adverse_selection"].to_numpy(), paths["fills"].to_numpy(float)
    t = adverse.mean() / (adverse.std(ddof=1) / np.sqrt(adverse.size))
    assert t < -4.0
    per_fill = adverse.sum() / fills.sum()
    se = np.std(adverse - per_fill * fills, ddof=1) / (np.sqrt(adverse.size) * fills.mean())
    assert -impact - 4 * se < per_fill < -0.5 * impact


def test_impact_is_paid_once_per_round_trip_on_every_path():
    # Same seed with and without impact: AS quotes do not depend on the mid, so the fills are
    # identical, and with a one-step window the impact's share of adverse selection is
    # -impact x sum over steps of (net shares bought)^2, between -impact x fills and 0. The
    # PnL lost is impact x (sum net^2 + q_T^2) / 2: half the adverse move (the maker's own
    # opposite fills move the mid back) plus the terminal inventory's share.
    impact = 0.5
    plain = _frame(ONE_STEP, seed=5, n_paths=300)
    informed = _frame(ONE_STEP.replace(impact=impact), seed=5, n_paths=300)
    assert plain["fills"].equals(informed["fills"])
    q_T = informed["terminal_inventory"].to_numpy()
    from_impact = (informed["adverse_selection"] - plain["adverse_selection"]).to_numpy()
    assert np.all(from_impact <= 1e-9)
    assert np.all(from_impact >= -impact * informed["fills"].to_numpy() - 1e-9)
    lost = (plain["terminal_pnl"] - informed["terminal_pnl"]).to_numpy()
    np.testing.assert_allclose(lost, -from_impact / 2 + impact * q_T**2 / 2, atol=1e-9)


def test_uninformed_flow_has_no_significant_adverse_selection():
    _, t = _adverse_t_stat(PLAIN)
    assert abs(t) < 4.0


# --- the experiment end to end -----------------------------------------------------------

SMALL = """\
markets:
  short: {T: 0.25}
experiments:
  regime_sweep:
    market: short
    sigma_multipliers: [0.5, 16.0]
    A_multipliers: [0.03125, 1.0]
    k_multipliers: [1.0, 8.0]
    gammas: [0.1, 3.0]
    toxicities: [0.0, 1.0]
    impacts: [0.0, 2.0]
    jump_intensities: [0.0, 64.0]
"""

OUTPUTS = ("figures/regime_sweep_regions.png", "figures/regime_sweep_metrics.png",
           "figures/regime_sweep_1d.png", "figures/regime_sweep_toxicity.png",
           "figures/regime_sweep_impact.png",
           *(f"tables/regime_sweep_{name}.{ext}" for name in
             ("grid", "boundary", "boundary_sigma", "boundary_1d", "1d", "fixes")
             for ext in ("csv", "md")))


def _small_config(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").glob("regime_sweep_*"))}


@pytest.mark.slow
def test_quick_run_of_the_shipped_config_writes_heatmaps_tables_and_report(tmp_path, cli):
    out = tmp_path / "results"
    assert cli("regime_sweep", "--quick", "--out", str(out)) == 0
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    settings = load_config().settings("regime_sweep", rs.Settings)
    grid = pd.read_csv(out / "tables" / "regime_sweep_grid.csv")
    n_cells = len(settings.sigma_multipliers) * len(settings.A_multipliers)
    assert len(grid[grid["strategy"] == "AS"]) == n_cells
    assert set(grid["label"]) <= set(rs.LABELS)
    assert (grid["n_paths"] == load_config().quick_paths).all()
    # The stored labels are the classification of the stored metrics.
    assert list(grid["label"]) == [rs.classify(row) for row in grid.to_dict("records")]
    boundary = pd.read_csv(out / "tables" / "regime_sweep_boundary.csv")
    assert len(boundary) == len(settings.sigma_multipliers)
    report = (out / "REPORT.md").read_text()
    for heading in ("Failure mode: high volatility", "Failure mode: low arrival rate",
                    "Failure mode: toxic flow", "Failure mode: toxic flow (permanent impact)",
                    "Failure mode: many competitors"):
        assert heading in report
    # The impact sweep: every impact and strategy, with the impact widening on the same seed.
    sweeps = pd.read_csv(out / "tables" / "regime_sweep_1d.csv")
    imp = sweeps[sweeps["sweep"] == "impact"]
    assert sorted(imp.loc[imp["strategy"] == "AS", "impact"]) == list(settings.impacts)
    assert (imp["n_paths"] == load_config().quick_paths).all()
    widened = imp[imp["strategy"] == "AS + impact widening"]
    assert len(widened) == len(settings.impacts)
    assert list(widened["seed"]) == list(imp.loc[imp["strategy"] == "AS", "seed"])
    # At the largest impact adverse selection takes a significant share of the spread.
    top = imp[(imp["strategy"] == "AS") & (imp["impact"] == settings.impacts[-1])].iloc[0]
    assert top["adverse_per_fill"] < 0 and top["adverse_share"] > 4 * top["adverse_share_se"]
    fixes = pd.read_csv(out / "tables" / "regime_sweep_fixes.csv")
    assert "toxic flow (impact)" in set(fixes["failure_mode"])


def test_competition_tables_in_the_same_out_are_cited(tmp_path, cli):
    out = tmp_path / "results"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "competition_summary.csv").write_text("n_agents\n1\n")
    assert cli("regime_sweep", "--paths", "20", "--config", str(_small_config(tmp_path)),
               "--out", str(out)) == 0
    assert "(tables/competition_summary.csv)" in (out / "REPORT.md").read_text()


def test_results_are_identical_for_one_and_two_workers(tmp_path, cli):
    config = _small_config(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("regime_sweep", "--quick", "--config", str(config), "--workers", "1",
               "--out", str(one)) == 0
    assert cli("regime_sweep", "--quick", "--config", str(config), "--workers", "2",
               "--out", str(two)) == 0
    first = _tables(one)
    assert len(first) == 12 and first == _tables(two)
    assert (one / "report" / "regime_sweep.md").read_bytes() == \
        (two / "report" / "regime_sweep.md").read_bytes()


@pytest.mark.slow
def test_results_are_identical_on_a_dask_cluster(tmp_path, cli):
    distributed = pytest.importorskip("dask.distributed")
    config = _small_config(tmp_path)
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert cli("regime_sweep", "--quick", "--config", str(config), "--workers", "1",
               "--out", str(local)) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert cli("regime_sweep", "--quick", "--config", str(config), "--executor", "dask",
                   "--scheduler", cluster.scheduler_address, "--out", str(remote)) == 0
    assert _tables(local) == _tables(remote)
