"""The experiments CLI end to end: quick runs write parseable files and a report linking them;
bad input fails cleanly; failed runs leave the output directory untouched; seeds reproduce."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import experiments.baseline
import experiments.pnl_decomposition
from experiments.__main__ import build_parser, main

EXPECTED = {
    "baseline": {"tables": ["baseline_summary", "baseline_paired"],
                 "figures": ["baseline_pnl_hist", "baseline_inventory_std",
                             "baseline_quote_skew"]},
    "pnl_decomposition": {"tables": ["pnl_decomposition_components",
                                     "pnl_decomposition_identity"],
                          "figures": ["pnl_decomposition_bars", "pnl_decomposition_boxes"]},
    "as2008": {"tables": ["as2008_comparison", "as2008_agreement",
                          "as2008_gamma05_hypotheses"],
               "figures": ["as2008_figure"]},
}

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_run_writes_every_table_and_figure_and_they_parse(quick_results, name, outputs):
    outputs(quick_results, name, EXPECTED[name]["tables"], EXPECTED[name]["figures"], seed=7)


def test_report_links_every_figure_and_table_and_every_link_exists(quick_results):
    report = (quick_results / "REPORT.md").read_text()
    links = set(re.findall(r"\]\(((?:figures|tables)/[^)]+)\)", report))
    on_disk = {p.relative_to(quick_results).as_posix()
               for folder in ("figures", "tables") for p in (quick_results / folder).iterdir()}
    assert on_disk == links
    for name in EXPECTED:                      # sections in report order, each with its title
        module = __import__(f"experiments.{name}", fromlist=["TITLE"])
        assert f"## {module.TITLE}" in report


def test_effective_config_is_written_and_reproduces_the_run(quick_results, tmp_path, cli):
    # The per-experiment config carries the seed: rerunning from it gives identical tables.
    config = quick_results / "config" / "baseline.yaml"
    assert "seed: 7" in config.read_text()
    out = tmp_path / "again"
    assert cli("baseline", "--quick", "--config", str(config), "--out", str(out)) == 0
    for table in EXPECTED["baseline"]["tables"]:
        assert ((out / "tables" / f"{table}.csv").read_bytes()
                == (quick_results / "tables" / f"{table}.csv").read_bytes())


def test_decomposition_identity_residual_is_at_float_rounding(quick_results):
    identity = pd.read_csv(quick_results / "tables" / "pnl_decomposition_identity.csv")
    assert (identity["relative_residual"] < 1e-9).all()
    assert (identity["max_abs_residual"] < 1e-9 * identity["mean_abs_pnl"]).all()


def test_same_seed_reproduces_identical_csvs_and_another_seed_changes_them(tmp_path, cli):
    runs = {}
    for label, seed in (("a", "11"), ("b", "11"), ("c", "12")):
        out = tmp_path / label
        assert cli("baseline", "--paths", "50", "--seed", seed, "--out", str(out)) == 0
        runs[label] = {p.name: p.read_bytes() for p in (out / "tables").glob("*.csv")}
    assert runs["a"] == runs["b"]
    assert runs["a"]["baseline_summary.csv"] != runs["c"]["baseline_summary.csv"]


def test_results_do_not_depend_on_the_worker_count(tmp_path, cli):
    tables = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        # --quick: the cells on the task pool without the (slower) robustness checks.
        assert cli("as2008", "--quick", "--workers", workers, "--out", str(out)) == 0
        tables[workers] = {p.name: p.read_bytes() for p in (out / "tables").glob("*.csv")}
    assert tables["1"] == tables["2"]


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "unknown experiment(s) ['nope']"),
    (["all", "baseline"], "'all' cannot be combined"),
    (["baseline", "--paths", "0"], "--paths: must be an integer >= 1, got '0'"),
    (["baseline", "--paths", "abc"], "--paths: must be an integer >= 1, got 'abc'"),
    (["baseline", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),
    (["baseline", "--quick", "--paths", "5"], "not allowed with argument"),
    (["baseline", "--executor", "spark"], "invalid choice: 'spark'"),
    (["baseline", "--scheduler", "tcp://x:1"], "--scheduler needs --executor dask"),
])
def test_bad_names_and_options_exit_non_zero_with_a_clear_message(args, message, capsys,
                                                                  tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(out), "--no-progress"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_help_lists_the_experiments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in ("baseline", "pnl_decomposition", "as2008"):
        assert name in text
    assert "--paths" in build_parser().format_help()


def test_missing_config_file_is_a_config_error(tmp_path, capsys, cli):
    assert cli("baseline", "--config", str(tmp_path / "absent.yaml"),
               "--out", str(tmp_path / "o")) == 2
    assert "no such file" in capsys.readouterr().err


# --- failed runs leave the output untouched ------------------------------------------------
@pytest.fixture(scope="module")
def previous_results(tmp_path_factory) -> Path:
    """An output directory holding an earlier (quick) baseline run."""
    out = tmp_path_factory.mktemp("previous") / "results"
    assert main(["baseline", "--paths", "30", "--out", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    return out


@pytest.mark.parametrize(("yaml_text", "field"), [
    ("markets:\n  as2008:\n    sigma: -1\n", "markets.as2008.sigma must be > 0, got -1.0"),
    ("experiments:\n  baseline:\n    paths: 0\n",
     "experiments.baseline.paths must be an integer >= 1, got 0"),
    ("experiments:\n  as2008:\n    markets: [as2008, nowhere]\n",
     "experiments.as2008.markets[1]: market 'nowhere' is not defined"),
])
def test_invalid_user_config_fails_before_writing_anything(previous_results, tmp_path, yaml_text,
                                                           field, capsys, cli, snap):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    before = snap(previous_results)
    assert cli("baseline", "as2008", "--config", str(config), "--out",
               str(previous_results)) == 2
    assert field in capsys.readouterr().err
    assert snap(previous_results) == before


def _failing_run(ctx, settings):
    import pandas as pd

    ctx.table(pd.DataFrame({"a": [1.0]}), "baseline_summary", "half-written", "never published")
    raise RuntimeError("simulated failure midway")


def test_experiment_raising_midway_leaves_previous_results_byte_identical(
        previous_results, monkeypatch, capsys, cli, snap):
    before = snap(previous_results)
    monkeypatch.setattr(experiments.baseline, "run", _failing_run)
    assert cli("baseline", "--paths", "30", "--out", str(previous_results)) == 1
    err = capsys.readouterr().err
    assert "simulated failure midway" in err and "baseline: failed" in err
    assert snap(previous_results) == before


def test_failed_run_into_a_new_directory_does_not_create_it(tmp_path, monkeypatch, cli, snap):
    monkeypatch.setattr(experiments.baseline, "run", _failing_run)
    before = snap(tmp_path)
    assert cli("baseline", "--paths", "30", "--out", str(tmp_path / "new" / "results")) == 1
    assert snap(tmp_path) == before


def test_interrupt_midway_leaves_results_untouched_and_exits_130(previous_results, monkeypatch,
                                                                  cli, snap):
    def interrupted(ctx, settings):
        ctx.paragraph("started")
        raise KeyboardInterrupt

    before = snap(previous_results)
    monkeypatch.setattr(experiments.baseline, "run", interrupted)
    assert cli("baseline", "--out", str(previous_results)) == 130
    assert snap(previous_results) == before


def test_failure_in_a_later_experiment_keeps_the_earlier_ones_published(tmp_path, monkeypatch,
                                                                        cli):
    def failing(ctx, settings):
        raise RuntimeError("boom")

    monkeypatch.setattr(experiments.pnl_decomposition, "run", failing)
    out = tmp_path / "results"
    assert cli("baseline", "pnl_decomposition", "--paths", "30", "--out", str(out)) == 1
    assert (out / "tables" / "baseline_summary.csv").is_file()
    assert not (out / "report" / "pnl_decomposition.md").exists()
    assert not any(p.name.startswith("pnl_decomposition") for p in out.rglob("*"))
    assert not any(p.name.startswith(".staging") for p in out.rglob("*"))
    report = (out / "REPORT.md").read_text()
    assert experiments.baseline.TITLE in report
    assert experiments.pnl_decomposition.TITLE not in report


# --- SIGTERM -------------------------------------------------------------------------------
_SLOW_EXPERIMENT = """
import sys, time, types
from dataclasses import dataclass

import pandas as pd

import experiments.__main__ as cli
import experiments.framework as framework
from experiments.config import parse_config


@dataclass(frozen=True)
class Settings:
    pass


def run(ctx, settings):
    ctx.table(pd.DataFrame({"x": [1.0]}), "baseline_half", "half-written", "never published")
    with open(sys.argv[2], "w") as ready:
        ready.write(str(ctx.staging))
    time.sleep(120)


module = types.ModuleType("experiments.baseline")
module.TITLE, module.Settings, module.run = "Slow", Settings, run
framework.load = lambda name: module
cli.load_config = lambda path: parse_config({"seed": 1})
sys.exit(cli.main(["baseline", "--out", sys.argv[1], "--no-progress", "--workers", "1"]))
"""


def test_sigterm_midway_removes_the_staging_folder_and_exits_143(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    script, ready, out = tmp_path / "slow.py", tmp_path / "ready", tmp_path / "work" / "results"
    script.write_text(_SLOW_EXPERIMENT)
    (tmp_path / "work").mkdir()
    child = subprocess.Popen([sys.executable, str(script), str(out), str(ready)],
                             env={**os.environ, "PYTHONPATH": str(root)},
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (ready.is_file() and ready.read_text()) and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read()
            time.sleep(0.05)
        staging = Path(ready.read_text())
        assert staging.is_dir() and staging.name.startswith(f".staging-baseline-{child.pid}-")
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert code == 128 + signal.SIGTERM
    assert "terminated" in child.stderr.read()
    assert not staging.exists()
    assert not list((tmp_path / "work").glob(".staging-*"))
    assert not out.exists()                                   # nothing was published
