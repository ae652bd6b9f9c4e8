"""The competition control: outputs, the tables' columns, the findings and their verdict rules,
the seed contract (same seed, same bytes), and the settings' validation. Runs on a 40-step
market (T = 0.2) to stay within seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import experiments.competition as competition
from experiments._makers import Cell, agent_gammas
from experiments.findings import Above, Below, Verdict

TABLES = ("competition_vs_n_table", "competition_agents")
FIGURES = ("competition_vs_n", "competition_agents_pnl")
CONFIG = """
markets:
  short: {s0: 100.0, sigma: 2.0, A: 140.0, k: 1.5, T: 0.2, dt: 0.005}
experiments:
  competition:
    market: short
    paths: 300
    agent_counts: [1, 2, 3]
    robustness_paths: 0.5
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("competition_config") / "c.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory, config):
    """One full run (robustness checks included) of the short market, seed 11."""
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("competition") / "results"
    assert run_cli("competition", "--seed", "11", "--config", str(config), "--out",
                   str(out)) == 0
    return out


def test_run_writes_every_table_and_figure(results, outputs):
    outputs(results, "competition", TABLES, FIGURES, seed=11)


def test_table_has_one_row_per_n_with_paired_changes_and_dt4_totals(results):
    t = pd.read_csv(results / "tables" / "competition_vs_n_table.csv")
    assert list(t["n_agents"]) == [1, 2, 3] and (t["paths"] == 300).all()
    for name in ("inside_spread", "profit_total", "profit_total_dt4", "fills_total"):
        assert ((t[f"{name}_ci_low"] <= t[name]) & (t[name] <= t[f"{name}_ci_high"])).all()
    assert t.loc[0, "profit_change_vs_1"] == 0.0
    assert np.allclose(t["profit_change_vs_1"], t["profit_total"] - t.loc[0, "profit_total"])
    assert (t["max_identity_residual"] < 1e-9).all()
    agents = pd.read_csv(results / "tables" / "competition_agents.csv")
    assert list(agents.groupby("n_agents").size()) == [1, 2, 3]
    assert np.allclose(agents.groupby("n_agents")["fill_share"].sum(), 1.0)
    summed = agents.groupby("n_agents")["mean_pnl"].sum().to_numpy()
    assert np.allclose(summed, t["profit_total"])
    for n, g in agents.groupby("n_agents"):
        assert np.allclose(g["gamma"], agent_gammas(n, 0.01, 0.5))


def test_findings_are_recorded_with_robustness_checks(results):
    f = pd.read_csv(results / "tables" / "findings_competition.csv")
    assert list(f["id"]) == ["total_profit_vs_n", "inside_spread_vs_n", "fills_vs_n"]
    assert f["claim"].isna().all()                   # the control tests no claim
    decided = f["ci_verdict"] != "inconclusive"
    assert f.loc[decided, "value_dt4"].notna().all()
    assert f.loc[decided, "seeds"].str.split().map(len).eq(3).all()


def _cells(diff: float, noise: float) -> dict[int, Cell]:
    """Two cells on 400 'paths' whose totals, inside spreads and fills differ by ``diff``
    (plus noise of scale ``noise``)."""
    rng = np.random.default_rng(0)
    base = rng.normal(50.0, 5.0, 400)
    one = Cell(base[:, None], np.zeros((400, 1)), np.full((400, 1), 100.0), base.copy(), 0.0)
    shift = diff + noise * rng.standard_normal(400)
    two = Cell(np.column_stack([base + shift, np.zeros(400)]) / 1.0, np.zeros((400, 2)),
               np.column_stack([np.full(400, 100.0) + shift, np.zeros(400)]), base + shift, 0.0)
    return {1: one, 2: two}


@pytest.mark.parametrize("diff, noise, above, below", [
    (1.0, 0.5, Verdict.CONFIRMED, Verdict.REFUTED),
    (-1.0, 0.5, Verdict.REFUTED, Verdict.CONFIRMED),
    (0.0, 5.0, Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE),
])
def test_the_verdict_rules_follow_the_paired_change(diff, noise, above, below):
    cells = _cells(diff, noise)
    for what in ("profit", "fills"):
        assert Above(0.0).decide(competition.paired_change(cells, what)) is above
    assert Below(0.0).decide(competition.paired_change(cells, "inside")) is below


@pytest.mark.slow
def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path, cli, config):
    outs = []
    for i, seed in enumerate(("5", "5", "6")):
        out = tmp_path / f"r{i}"
        assert cli("competition", "--quick", "--seed", seed, "--config", str(config),
                   "--out", str(out)) == 0
        outs.append((out / "tables" / "competition_vs_n_table.csv").read_bytes())
    assert outs[0] == outs[1] != outs[2]


@pytest.mark.parametrize("field, value, message", [
    ("agent_counts", (2, 3), "agent_counts must be distinct integers >= 1 including 1"),
    ("agent_counts", (1, 1), "agent_counts must be distinct"),
    ("gamma_max", 0.001, "gamma_max must be > gamma_min"),
    ("paths", 0, "paths must be an integer >= 1"),
    ("robustness_paths", 0.0, "robustness_paths must be in"),
])
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        competition.Settings(**{field: value})
