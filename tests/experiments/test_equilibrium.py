"""The equilibrium experiment: the tick grid's continuous limit, the predicted floor, outputs
and required columns, every finding's statistic and verdict rule, the seed contract and the
settings' validation. Runs on a 40-step market (T = 0.2) to stay within seconds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import experiments.equilibrium as equilibrium
from asmm_env import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from baselines.competition_aware import shared_flow_floor
from experiments._makers import Cell
from experiments.findings import Above, Below, Near, Verdict
from experiments.framework import Variation

TABLES = ("equilibrium", "equilibrium_floor", "equilibrium_nash", "equilibrium_ladder")
FIGURES = ("equilibrium_spread", "equilibrium_profit", "equilibrium_best_response",
           "equilibrium_ladder_figure")
REQUIRED = ("policy", "n_agents", "inside_spread", "inside_spread_ci_low",
            "inside_spread_ci_high", "profit_per_agent", "profit_per_agent_ci_low",
            "profit_per_agent_ci_high", "profit_total", "sharpe_per_agent", "inventory_std")
CONFIG = """
markets:
  short: {s0: 100.0, sigma: 2.0, A: 140.0, k: 1.5, T: 0.2, dt: 0.005}
experiments:
  equilibrium:
    market: short
    paths: 300
    agent_counts: [1, 2, 4]
    offsets: [-0.6, -0.4, -0.2, 0.0, 0.2]
    nash_paths: 200
    map_agents: 2
    map_offsets: [-0.6, 0.0]
    ladder_agents: 3
    robustness_paths: 0.5
    quick_agent_counts: [1, 2]
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("equilibrium_config") / "c.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory, config):
    """One --quick run of the short market (N = 1, 2), seed 3."""
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("equilibrium") / "results"
    assert run_cli("equilibrium", "--quick", "--seed", "3", "--config", str(config), "--out",
                   str(out)) == 0
    return out


# --- the tick grid and the floor ------------------------------------------------------------
def test_a_vanishing_tick_recovers_the_continuous_market():
    """1,000 paths, 3 AS makers: at tick 1e-6 the mean PnL is within 4 s.e. of the continuous
    market's, and within 1e-3 of it on 99% of the (path, maker) pairs (the grid only moves
    quotes by less than a tick, away from the mid)."""
    params = MarketParams(T=0.2)
    policies = [AvellanedaStoikovPolicy.from_env(params, g) for g in (0.05, 0.1, 0.5)]
    pnl = [rollout(policies, params.replace(tick_size=tick), n_paths=1000, seed=9)
           .paths["terminal_pnl"].to_numpy() for tick in (0.0, 1e-6)]
    se = math.hypot(*(x.std(ddof=1) / math.sqrt(x.size) for x in pnl))
    assert abs(pnl[1].mean() - pnl[0].mean()) < 4 * se
    assert np.mean(np.abs(pnl[1] - pnl[0]) < 1e-3) > 0.99


def test_the_predicted_floor_is_the_shared_flow_floor_plus_a_tick_and_rises_with_n():
    settings = equilibrium.Settings()
    params = MarketParams(tick_size=0.05, max_inventory=50.0)
    floors = [equilibrium.predicted_floor(params, settings, n) for n in (1, 2, 5, 20)]
    assert np.all(np.diff(floors) > 0)
    assert floors[2] == pytest.approx(shared_flow_floor(
        gamma=0.1, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005, n_agents=5, Q=50) + 0.05)


# --- outputs --------------------------------------------------------------------------------
def test_run_writes_every_table_and_figure(results, outputs):
    outputs(results, "equilibrium", TABLES, FIGURES, seed=3)


def test_equilibrium_table_has_the_required_columns_for_every_policy_and_n(results):
    t = pd.read_csv(results / "tables" / "equilibrium.csv")
    assert set(REQUIRED) <= set(t.columns)
    assert list(t["policy"].unique()) == ["fixed_as", "undercut", "competition_aware", "nash"]
    assert all(list(g["n_agents"]) == [1, 2] for _, g in t.groupby("policy"))
    for name in ("inside_spread", "profit_per_agent", "profit_total", "sharpe_per_agent",
                 "inventory_std", "top_fill_share"):
        assert ((t[f"{name}_ci_low"] <= t[name]) & (t[name] <= t[f"{name}_ci_high"])).all()
    assert np.allclose(t["profit_per_agent"] * t["n_agents"], t["profit_total"])
    assert (t["max_identity_residual"] < 1e-9).all()
    one = t[t["n_agents"] == 1].set_index("policy")
    # Alone, the undercutter and the Nash maker (offset 0 is the lone maker's best) quote AS.
    assert one.loc["undercut", "profit_total"] == one.loc["fixed_as", "profit_total"]
    floor = pd.read_csv(results / "tables" / "equilibrium_floor.csv")
    assert {"n_agents", "predicted_floor"} <= set(floor.columns)
    assert list(floor["n_agents"]) == [1, 2] and floor["predicted_floor"].is_monotonic_increasing


def _check_fixed_points(nash: pd.DataFrame, floor: pd.DataFrame) -> None:
    for row in floor.itertuples():
        if row.nash_converged:
            at = nash[(nash["n_agents"] == row.n_agents) & np.isclose(nash["rival_offset"],
                                                                         row.nash_offset)]
            assert at.loc[at["best"], "offset"].item() == pytest.approx(row.nash_offset)


def test_the_nash_table_holds_the_fixed_points(results):
    _check_fixed_points(pd.read_csv(results / "tables" / "equilibrium_nash.csv"),
                        pd.read_csv(results / "tables" / "equilibrium_floor.csv"))


@pytest.mark.slow
def test_findings_test_claims_8_and_9_with_robustness_checks(tmp_path, cli, config):
    """A full run (N = 1, 2, 4; the checks at dt / 4 and two seeds) of the short market."""
    assert cli("equilibrium", "--seed", "3", "--config", str(config), "--out",
               str(tmp_path)) == 0
    f = pd.read_csv(tmp_path / "tables" / "findings_equilibrium.csv")
    assert list(f["id"]) == ["spread_compression", "profit_erosion", "spread_at_floor",
                             "profit_vanishes", "inventory_risk_remains",
                             "aggressive_earn_more", "aggressive_more_variance",
                             "risk_adjusted_converge"]
    assert set(f["claim"].dropna().astype(int)) == {8, 9}
    decided = f["ci_verdict"] != "inconclusive"
    assert f.loc[decided, "value_dt4"].notna().all()
    assert f.loc[decided, "seeds"].str.split().map(len).eq(3).all()
    table = pd.read_csv(tmp_path / "tables" / "equilibrium.csv")
    assert sorted(table["n_agents"].unique()) == [1, 2, 4]
    nash = pd.read_csv(tmp_path / "tables" / "equilibrium_nash.csv")
    mapped = nash[nash["n_agents"] == 2]["rival_offset"].unique()
    assert {-0.6, 0.0} <= set(np.round(mapped, 10))            # the best-response map
    _check_fixed_points(nash, pd.read_csv(tmp_path / "tables" / "equilibrium_floor.csv"))


def test_quick_findings_have_no_robustness_checks(results):
    f = pd.read_csv(results / "tables" / "findings_equilibrium.csv")
    assert len(f) == 8 and f["value_dt4"].isna().all()


# --- the findings' statistics and rules, on synthetic cells --------------------------------
def _cell(pnl, inventory=None, inside=None):
    pnl = np.asarray(pnl, float)
    n = pnl.shape[0]
    inventory = np.zeros_like(pnl) if inventory is None else np.asarray(inventory, float)
    inside = np.full(n, 1.0) if inside is None else np.asarray(inside, float)
    return Cell(pnl, inventory, np.ones_like(pnl), inside, 0.0)


def _fake(cells, ladder=None, n_max=4):
    settings = equilibrium.Settings(tick_size=0.05)
    params = MarketParams(tick_size=0.05, max_inventory=50.0)
    return SimpleNamespace(settings=settings, counts=(1, n_max), params=params,
                           cell=lambda v, kind, n: cells[n],
                           ladder=lambda v, kind: ladder)


V = Variation("configured", 0)
RNG = np.random.default_rng(1)
Z = RNG.standard_normal((500, 4))


@pytest.mark.parametrize("ratio, erosion, vanish", [
    (0.05, Verdict.CONFIRMED, Verdict.CONFIRMED),
    (0.5, Verdict.CONFIRMED, Verdict.REFUTED),
    (1.5, Verdict.REFUTED, Verdict.REFUTED),
])
def test_profit_rules_follow_the_industry_profit_ratio(ratio, erosion, vanish):
    one = _cell(60.0 + Z[:, :1])
    big = _cell((60.0 * ratio + Z) / 4)
    est = equilibrium.nash_change(_fake({1: one, 4: big}), V, "profit")
    assert est.value == pytest.approx(ratio, rel=0.05)
    assert Below(1.0).decide(est) is erosion and Below(0.1).decide(est) is vanish


def test_spread_and_inventory_rules_follow_the_nash_cells():
    one = _cell(60.0 + Z[:, :1], inventory=3.0 * Z[:, :1], inside=np.full(500, 1.5))
    big = _cell(Z, inventory=0.3 * Z, inside=0.2 + 0.01 * Z[:, 0])
    eq = _fake({1: one, 4: big})
    assert Below(0.0).decide(equilibrium.nash_change(eq, V, "inside")) is Verdict.CONFIRMED
    inv = equilibrium.nash_change(eq, V, "inventory")
    assert inv.value == pytest.approx(0.1, rel=0.15)
    assert Above(0.5).decide(inv) is Verdict.REFUTED
    gap = equilibrium.floor_gap(eq, V)
    floor = equilibrium.predicted_floor(eq.params, eq.settings, 4)
    assert gap.value == pytest.approx(big.inside.mean() - floor)
    assert Near(0.0, 0.1).decide(gap) is (Verdict.CONFIRMED if abs(gap.ci_low) < 0.1 and
                                          abs(gap.ci_high) < 0.1 else Verdict.REFUTED)
    wide = _fake({1: one, 4: _cell(Z, inside=np.full(500, 1.0) + 0.01 * Z[:, 0])})
    assert Near(0.0, 0.1).decide(equilibrium.floor_gap(wide, V)) is Verdict.REFUTED


@pytest.mark.parametrize("scale_low, mean_low, earn, variance, converge", [
    (4.0, 8.0, Verdict.CONFIRMED, Verdict.CONFIRMED, Verdict.CONFIRMED),   # same Sharpe 2
    (0.5, 0.5, Verdict.REFUTED, Verdict.REFUTED, Verdict.REFUTED),         # Sharpe 1 vs 2
])
def test_ladder_rules_follow_the_aggressive_and_the_risk_averse(scale_low, mean_low, earn,
                                                                variance, converge):
    pnl = np.column_stack([mean_low + scale_low * Z[:, 0], 3.0 + 1.5 * Z[:, 1],
                           2.0 + Z[:, 2]])
    eq = _fake({}, ladder=_cell(pnl))
    assert Above(0.0).decide(equilibrium.ladder_contrast(eq, V, "mean")) is earn
    assert Above(1.0).decide(equilibrium.ladder_contrast(eq, V, "std")) is variance
    assert Below(1.25).decide(equilibrium.ladder_contrast(eq, V, "sharpe")) is converge


# --- seeds and settings ---------------------------------------------------------------------
@pytest.mark.slow
def test_the_same_seed_gives_the_same_bytes(tmp_path, cli, config):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        assert cli("equilibrium", "--quick", "--seed", "4", "--config", str(config),
                   "--out", str(out)) == 0
        outs.append([(out / "tables" / f"{t}.csv").read_bytes() for t in TABLES])
    assert outs[0] == outs[1]


@pytest.mark.parametrize("field, value, message", [
    ("offsets", (-0.2, 0.2), "offsets must include 0"),
    ("agent_counts", (2, 3), "agent_counts must be distinct integers >= 1 including 1"),
    ("ladder_agents", 1, "ladder_agents must be an integer >= 2"),
    ("tick_size", 0.0, "tick_size must be > 0"),
    ("robustness_paths", 1.5, "robustness_paths must be in"),
    ("quick_agent_counts", (1,), "quick_agent_counts must be distinct"),
])
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        equilibrium.Settings(**{field: value})
