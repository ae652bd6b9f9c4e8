"""The calibration experiment: a quick run writes its tables, figures and findings; the same
seed gives the same bytes; ``--data`` runs it on a user's files; settings errors name the
field."""

from __future__ import annotations

import pandas as pd
import pytest

from asmm_env import MarketParams
from asmm_env.data import simulated_trades_quotes, write_trades_quotes
from experiments.calibration import Settings
from experiments.config import ConfigError, load_config

TABLES = ("calibration_estimates", "calibration_goodness_of_fit", "calibration_model_vs_replay",
          "calibration_latency", "calibration_book_fidelity")
FIGURES = ("calibration_intensity_fit", "calibration_interarrival_qq",
           "calibration_latency_cost")
FINDINGS = {"k_recovered": "CI within 0.1 of 0", "pnl_gap_as": "CI within 0.05 of 0",
            "capture_gap_as": "CI below 0", "latency_cost": "CI below 0",
            "book_replay_fills": "CI within 0.05 of 1"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("calibration") / "results"
    assert run_cli("calibration", "--quick", "--seed", "7", "--out", str(out)) == 0
    return out


def test_quick_run_writes_tables_figures_and_its_findings(quick, outputs):
    outputs(quick, "calibration", TABLES, FIGURES, seed=7)
    found = pd.read_csv(quick / "tables" / "findings_calibration.csv")
    assert dict(zip(found["id"], found["rule"], strict=True)) == FINDINGS
    assert set(found["verdict"]) <= {"confirmed", "qualified", "inconclusive", "refuted"}
    assert found["holds_at_dt4"].isna().all()                 # --quick: no robustness


def test_estimates_hold_the_truth_and_the_replay_keeps_the_identity(quick):
    est = pd.read_csv(quick / "tables" / "calibration_estimates.csv")
    assert set(est["parameter"]) >= {"sigma", "A", "k", "limit_rate", "cancel_rate",
                                     "market_rate"}
    sigma = est[est["parameter"] == "sigma"].iloc[0]
    assert sigma["true"] == 2.0 and sigma["ci_low"] < sigma["estimate"] < sigma["ci_high"]
    side = pd.read_csv(quick / "tables" / "calibration_model_vs_replay.csv")
    cells = set(zip(side["policy"], side["venue"], strict=True))
    assert cells == {("AS", "model"), ("AS", "replay"), ("GLFT", "model"), ("GLFT", "replay")}
    assert (side["max_identity_residual"] < 1e-9).all()
    assert {"mean", "sharpe", "p_loss", "ce", "var95"} <= set(side.columns)
    lat = pd.read_csv(quick / "tables" / "calibration_latency.csv")
    assert lat["cost"].iloc[0] == 0.0 and lat["latency_fraction"].iloc[-1] == 0.9


@pytest.mark.slow
def test_same_seed_same_bytes(quick, tmp_path, cli):
    out = tmp_path / "again"
    assert cli("calibration", "--quick", "--seed", "7", "--out", str(out)) == 0
    for name in (*TABLES, "findings_calibration"):
        assert (out / "tables" / f"{name}.csv").read_bytes() == \
            (quick / "tables" / f"{name}.csv").read_bytes()


def test_user_data_runs_without_the_truth_findings(tmp_path, cli):
    # Three days of the reduced-form market written as CSV tables: a user's own files.
    data = tmp_path / "data"
    data.mkdir()
    days = simulated_trades_quotes(MarketParams(T=2.0, dt=0.0025), n_days=3, seed=5)
    for i, day in enumerate(days):
        write_trades_quotes(day.trades, day.quotes, data / f"X_{i}_trades.csv",
                            data / f"X_{i}_quotes.csv")
    config = tmp_path / "user.yaml"
    config.write_text("experiments:\n  calibration:\n    replay_T: 1.0\n"
                      "    replay_dt: 0.005\n    tick_size: 0.0\n")
    out = tmp_path / "results"
    assert cli("calibration", "--quick", "--data", str(data), "--config", str(config),
               "--out", str(out)) == 0
    found = pd.read_csv(out / "tables" / "findings_calibration.csv")
    assert set(found["id"]) == {"pnl_gap_as", "capture_gap_as", "latency_cost"}
    est = pd.read_csv(out / "tables" / "calibration_estimates.csv")
    assert est["true"].isna().all() and "market_rate" not in set(est["parameter"])
    assert "--data" in (out / "config" / "calibration.yaml").read_text()


def test_missing_data_path_is_a_usage_error(tmp_path, cli, capsys):
    with pytest.raises(SystemExit) as err:
        cli("calibration", "--quick", "--data", str(tmp_path / "nothing"))
    assert err.value.code == 2 and "--data: no such file" in capsys.readouterr().err


@pytest.mark.parametrize("field, value, match", [
    ("sessions", 1, "sessions must be an integer >= 2"),
    ("latencies", [0.5, 0.9], "latencies must be increasing fractions"),
    ("latencies", [0.0, 1.0], "latencies must be increasing fractions"),
    ("gamma", -1.0, "gamma must be > 0"),
    ("tick_size", -0.01, "tick_size must be a number >= 0"),
    ("robustness_paths", 0.0, "robustness_paths must be in"),
    ("book", {"T": 5.0}, "book.T is set by the experiment"),
])
def test_settings_errors_name_the_field(field, value, match):
    config = load_config()
    config.experiments["calibration"] = {field: value}
    with pytest.raises(ConfigError, match=match):
        config.settings("calibration", Settings)
