"""The competition experiment: outputs, the N = 1 sanity check against the single-agent env,
the per-agent accounting identity, volume conservation and worker-count independence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import experiments.competition as competition
from asmm_env.fills import ReachFills
from asmm_env.market import Market
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from experiments.__main__ import main
from experiments.config import ConfigError, load_config

TABLES = ("competition_market", "competition_agents", "competition_leaders",
          "competition_sanity", "competition_checks")
FIGURES = ("competition_inside_spread", "competition_vs_n", "competition_fill_share",
           "competition_fill_share_time")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``--quick`` run (200 paths per N, seed 11)."""
    out = tmp_path_factory.mktemp("competition") / "results"
    assert main(["competition", "--quick", "--seed", "11", "--out", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    return out


# --- the run and its outputs ---------------------------------------------------------------
def test_quick_run_writes_every_table_and_figure_and_they_parse(quick, outputs):
    section = outputs(quick, "competition", TABLES, FIGURES, seed=11)
    assert "**What the data show.**" in section


def test_quick_run_has_one_row_per_n_and_per_agent_with_shares_summing_to_one(quick):
    market = pd.read_csv(quick / "tables" / "competition_market.csv")
    counts = list(competition.Settings().agent_counts)
    assert list(market["n_agents"]) == counts
    assert (market["paths"] == 200).all()
    agents = pd.read_csv(quick / "tables" / "competition_agents.csv")
    assert list(agents.groupby("n_agents").size()) == counts
    assert np.allclose(agents.groupby("n_agents")["fill_share"].sum(), 1.0)
    assert np.allclose(agents.groupby("n_agents")["inside_share"].sum(), 1.0)
    for n, g in agents.groupby("n_agents"):      # the documented ladder, agent by agent
        assert np.allclose(g["gamma"], competition.agent_gammas(n, 0.01, 0.5))
    # Total profit is the sum of the agents' mean PnL; the CI contains the mean.
    summed = agents.groupby("n_agents")["mean_pnl"].sum().to_numpy()
    assert np.allclose(market["total_profit"], summed)
    assert ((market["total_profit_ci_low"] < market["total_profit"])
            & (market["total_profit"] < market["total_profit_ci_high"])).all()
    leaders = pd.read_csv(quick / "tables" / "competition_leaders.csv")
    best = agents.loc[agents.groupby("n_agents")["fill_share"].idxmax(), "agent"]
    assert list(leaders["leader"]) == list(best)


def test_quick_run_checks_identity_and_volume_on_every_cell(quick):
    checks = pd.read_csv(quick / "tables" / "competition_checks.csv")
    assert (checks["max_relative_identity_residual"] < 1e-9).all()
    assert (checks["max_fills_minus_executed"] == 0).all()
    assert (checks["max_fills_minus_order_volume"] <= 0).all()


def test_results_are_identical_for_one_and_two_workers(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  competition:\n    agent_counts: [1, 2, 3]\n"
                      "    block_paths: 20\n    detail_agents: 3\n")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert cli("competition", "--paths", "50", "--seed", "3", "--config", str(config),
                   "--out", str(out), "--workers", workers) == 0
        outs.append(out)
    for name in TABLES:
        assert ((outs[0] / "tables" / f"{name}.csv").read_bytes()
                == (outs[1] / "tables" / f"{name}.csv").read_bytes()), name
    assert ((outs[0] / "report" / "competition.md").read_text()
            == (outs[1] / "report" / "competition.md").read_text())


# --- the N = 1 sanity check -----------------------------------------------------------------
def test_one_agent_on_the_competition_market_matches_the_single_agent_env_within_4_se():
    """2,000 paths each, independent seeds: ReachFills with one agent against IntensityFills."""
    params = MarketParams()
    gammas = tuple(competition.agent_gammas(1, 0.01, 0.5))
    cells = [competition.simulate_block(competition.Block(flag, 1, gammas, params, 2000, 0,
                                                          seed))
             for flag, seed in ((True, 101), (False, 202))]
    assert cells[0]["check"] is not None and cells[1]["check"] is None   # ReachFills vs not
    merged = [competition._merge(1, np.array(gammas), [c]) for c in cells]
    table = competition.sanity_table(*merged)
    assert len(table) == len(competition._SANITY)
    assert (table["z"].abs() < 4).all(), table[["statistic", "z"]]


# --- accounting and conservation ------------------------------------------------------------
def test_per_agent_identity_residual_is_below_1e9_relative_for_twenty_agents():
    params = MarketParams()
    gammas = tuple(competition.agent_gammas(20, 0.01, 0.5))
    out = competition.simulate_block(competition.Block(True, 20, gammas, params, 100, 0, 5))
    paths = out["paths"]
    assert len(paths) == 100 * 20
    assert paths["relative_residual"].max() < 1e-9
    assert out["check"]["max_mismatch"] == 0.0 and out["check"]["max_excess"] <= 0.0


@pytest.mark.parametrize("market_order_size", [1.0, 3.0])
def test_fills_across_agents_never_exceed_the_market_order_volume(market_order_size):
    """Every step of 200 paths x 5 AS agents: the shares filled per (path, side) equal what the
    orders executed and are at most (orders x size); size-3 orders walk several quotes."""
    params = MarketParams()
    checks = []

    def factory(p, n, a):
        check = competition.VolumeCheck(ReachFills.from_params(p, market_order_size))
        checks.append(check)
        return Market(p, n, a, fill_model=check)

    policies = [AvellanedaStoikovPolicy.from_env(params, g)
                for g in competition.agent_gammas(5, 0.01, 0.5)]
    res = rollout(policies, params, n_paths=200, seed=9, market_factory=factory,
                  record_paths=200)
    (check,) = checks
    assert check.max_mismatch == 0.0
    assert check.max_excess <= 0.0
    assert check.executed == pytest.approx(res.paths["fills"].sum())
    if market_order_size > 1:
        # Some single order filled more than one agent on some step.
        per_step = (res.trajectories["fills"] > 0).sum(axis=2)        # agents filled per side
        assert per_step.max() > 1


def test_volume_check_detects_fills_beyond_the_orders():
    class Overfill(ReachFills):
        def fill(self, mid, depths, allowed, dS, dt, rng):
            volume = super().fill(mid, depths, allowed, dS, dt, rng)
            return volume + 1.0            # every quote filled one share more than traded

    params = MarketParams()
    check = competition.VolumeCheck(Overfill.from_params(params))
    market = Market(params, 10, 2, fill_model=check)
    market.reset(np.random.default_rng(0))
    market.step(np.full((10, 2, 2), 0.5))
    assert check.max_mismatch >= 2.0 and check.max_excess > 0.0


# --- helpers and settings -------------------------------------------------------------------
def test_gamma_ladder_is_log_spaced_with_the_geometric_midpoint_for_one_agent():
    assert competition.agent_gammas(1, 0.01, 0.5) == pytest.approx([math.sqrt(0.005)])
    g = competition.agent_gammas(5, 0.01, 0.5)
    assert g[0] == pytest.approx(0.01) and g[-1] == pytest.approx(0.5)
    assert np.allclose(g[1:] / g[:-1], (0.5 / 0.01) ** 0.25)
    # The N = 3 ladder's middle agent is the N = 1 agent: one stand-alone run serves both.
    assert competition.gamma_key(competition.agent_gammas(3, 0.01, 0.5)[1]) == \
        competition.gamma_key(competition.agent_gammas(1, 0.01, 0.5)[0])


def test_shipped_config_has_the_competition_section_with_at_least_1000_paths():
    settings = load_config().settings("competition", competition.Settings)
    assert settings.paths >= 1000
    assert settings.agent_counts == (1, 2, 3, 5, 10, 20)


@pytest.mark.parametrize(("fields", "message"), [
    ({"agent_counts": [2, 5]}, "agent_counts must include 1"),
    ({"agent_counts": [1, 2, 2]}, "agent_counts must not repeat"),
    ({"agent_counts": [1, 0]}, "agent_counts must be a non-empty list of integers >= 1"),
    ({"gamma_min": 0.5, "gamma_max": 0.1}, "gamma_max must be > gamma_min"),
    ({"gamma_min": -1.0}, "gamma_min must be > 0"),
    ({"detail_agents": 7}, "detail_agents must be one of agent_counts"),
    ({"block_paths": 0}, "block_paths must be an integer >= 1"),
])
def test_bad_settings_are_rejected_with_the_field_named(tmp_path, fields, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"experiments": {"competition": fields}}))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(config).settings("competition", competition.Settings)
    assert "experiments.competition" in str(err.value)
