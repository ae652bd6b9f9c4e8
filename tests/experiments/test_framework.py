"""The experiment framework: path counts, seeds, output naming, findings and their robustness
checks, publishing, report assembly and staging hygiene."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from dataclasses import dataclass

import pandas as pd
import pytest

from experiments import framework
from experiments.config import load_config, parse_config
from experiments.findings import FINDING_COLUMNS, Above, Below, Estimate, Verdict
from experiments.framework import Context, Variation, run_experiments, run_tasks


def _ctx(tmp_path, **kwargs) -> Context:
    return Context("demo", load_config(), tmp_path, seed=3, **kwargs)


def test_path_count_prefers_quick_then_paths_then_the_default(tmp_path):
    assert _ctx(tmp_path).paths(10_000) == 10_000
    assert _ctx(tmp_path, n_paths=500).paths(10_000) == 500
    assert _ctx(tmp_path, quick=True).paths(10_000) == load_config().quick_paths
    assert _ctx(tmp_path, quick=True).paths(50) == 50


def test_cell_seeds_depend_on_root_seed_and_keys_only(tmp_path):
    a, b = _ctx(tmp_path), _ctx(tmp_path, workers=2)
    assert a.seed_for(1, 2) == b.seed_for(1, 2)
    assert a.seed_for(1, 2) != a.seed_for(2, 1)
    assert a.rng(5).random() == b.rng(5).random()
    assert Context("demo", load_config(), tmp_path, seed=4).seed_for(1, 2) != a.seed_for(1, 2)


def test_writing_the_same_table_twice_is_an_error(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.table(pd.DataFrame({"x": [1.0]}), "demo_t", "T", "r")
    with pytest.raises(ValueError, match="table 'demo_t' was already written"):
        ctx.table(pd.DataFrame({"x": [2.0]}), "demo_t", "T", "r")
    with pytest.raises(ValueError, match="plain file stem"):
        ctx.table(pd.DataFrame({"x": [2.0]}), "../escape", "T", "r")


def test_markdown_display_frame_differs_from_the_csv(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.table(pd.DataFrame({"mean": [1.23456]}), "demo_t", "T", "r",
              display=pd.DataFrame({"mean [CI]": ["1.23 [1.00, 1.50]"]}))
    assert pd.read_csv(tmp_path / "tables" / "demo_t.csv")["mean"][0] == 1.23456
    assert "1.23 [1.00, 1.50]" in (tmp_path / "tables" / "demo_t.md").read_text()


def test_run_tasks_keeps_task_order_on_a_process_pool():
    assert run_tasks(abs, [-3, 1, -2, 5], workers=2) == [3, 1, 2, 5]
    with pytest.raises(ValueError, match="executor must be 'local' or 'dask'"):
        run_tasks(abs, [1], executor="spark")


@pytest.fixture
def demo_module(monkeypatch):
    """A throwaway experiment 'baseline' whose output files depend on a flag in its settings."""

    @dataclass(frozen=True)
    class Settings:
        extra: bool = True

    def run(ctx, settings):
        ctx.table(pd.DataFrame({"x": [1.0]}), "baseline_kept", "kept", "always written")
        if settings.extra:
            ctx.table(pd.DataFrame({"x": [2.0]}), "baseline_extra", "extra", "sometimes")

    module = types.ModuleType("experiments.baseline")
    module.TITLE, module.Settings, module.run = "Demo", Settings, run
    monkeypatch.setitem(sys.modules, "experiments.baseline", module)
    monkeypatch.setattr(framework, "load", lambda name: module)
    return module


def _demo_config(extra: bool = True):
    return parse_config({"seed": 1, "experiments": {"baseline": {"extra": extra}}})


def test_files_an_experiment_no_longer_writes_are_removed_on_publish(tmp_path, demo_module):
    out = tmp_path / "results"
    run_experiments(["baseline"], _demo_config(True), out, show_progress=False)
    assert (out / "tables" / "baseline_extra.csv").is_file()
    run_experiments(["baseline"], _demo_config(False), out, show_progress=False)
    assert (out / "tables" / "baseline_kept.csv").is_file()
    assert not (out / "tables" / "baseline_extra.csv").exists()
    assert not (out / "tables" / "baseline_extra.md").exists()
    assert "baseline_extra" not in (out / "REPORT.md").read_text()


def test_unrelated_files_in_the_output_directory_are_left_alone(tmp_path, demo_module):
    out = tmp_path / "results"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "mine.csv").write_text("keep me\n")
    run_experiments(["baseline"], _demo_config(), out, show_progress=False)
    run_experiments(["baseline"], _demo_config(), out, show_progress=False)
    assert (out / "tables" / "mine.csv").read_text() == "keep me\n"


def test_seed_override_is_recorded_in_the_effective_config(tmp_path, demo_module):
    out = tmp_path / "results"
    run_experiments(["baseline"], _demo_config(), out, seed=99, show_progress=False)
    assert "seed: 99" in (out / "config" / "baseline.yaml").read_text()
    assert "seed: 99" in (out / "config.yaml").read_text()
    assert "Run with seed 99" in (out / "REPORT.md").read_text()


def test_output_path_that_is_a_file_is_rejected_before_running(tmp_path, demo_module):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="--out must be a directory"):
        run_experiments(["baseline"], _demo_config(), target, show_progress=False)


# --- findings ------------------------------------------------------------------------------
def _recording_estimate(calls: list, value_at=lambda v: 1.0):
    """An estimate function that records the variations it is called at."""

    def estimate(v: Variation) -> Estimate:
        calls.append(v)
        value = value_at(v)
        return Estimate(value, value - 0.5, value + 0.5)

    return estimate


def test_a_finding_is_checked_at_dt4_and_two_more_seeds_on_the_robustness_paths(tmp_path):
    ctx = _ctx(tmp_path, robustness_paths=0.25)
    calls = []
    f = ctx.finding("positive", statement="The statistic is positive.", statistic="x",
                    rule=Above(0.0), claim=4, estimate=_recording_estimate(calls))
    assert [(v.label, v.seed, v.dt_factor, v.paths_factor) for v in calls] == [
        ("configured", 3, 1.0, 1.0), ("dt/4", 3, 0.25, 0.25), ("seed 4", 4, 1.0, 0.25),
        ("seed 5", 5, 1.0, 0.25)]
    assert (f.verdict, f.holds_at_dt4, f.holds_across_seeds) == (Verdict.CONFIRMED, True, True)
    assert f.seeds == "3 4 5" and f.claim == 4 and ctx.findings == [f]


def test_a_statistic_that_changes_sign_at_dt4_gives_a_qualified_finding(tmp_path):
    # A discretisation artifact: positive at the configured dt, negative at dt / 4.
    ctx = _ctx(tmp_path)
    f = ctx.finding("artifact", statement="S.", statistic="x", rule=Above(0.0),
                    estimate=_recording_estimate([], lambda v: 1.0 if v.dt_factor == 1 else -1.0))
    assert (f.verdict, f.ci_verdict, f.holds_at_dt4, f.holds_across_seeds) == (
        Verdict.QUALIFIED, Verdict.CONFIRMED, False, True)
    assert f.value_dt4 == -1.0


def test_quick_runs_and_inconclusive_findings_skip_the_robustness_runs(tmp_path):
    calls = []
    f = _ctx(tmp_path, quick=True).finding("q", statement="S.", statistic="x", rule=Above(0.0),
                                           estimate=_recording_estimate(calls))
    assert len(calls) == 1 and f.holds_at_dt4 is None and f.holds_across_seeds is None
    assert f.verdict is Verdict.CONFIRMED and f.seeds == "3"
    calls.clear()
    f = _ctx(tmp_path).finding("i", statement="S.", statistic="x", rule=Above(0.8),
                               estimate=_recording_estimate(calls))
    assert len(calls) == 1 and f.verdict is Verdict.INCONCLUSIVE


def test_a_precomputed_base_estimate_is_used_and_only_the_checks_call_the_function(tmp_path):
    calls = []
    f = _ctx(tmp_path).finding("b", statement="S.", statistic="x", rule=Below(5.0),
                               base=Estimate(2.0, 1.0, 3.0),
                               estimate=_recording_estimate(calls))
    assert [v.label for v in calls] == ["dt/4", "seed 4", "seed 5"] and f.value == 2.0
    g = _ctx(tmp_path).finding("c", statement="S.", statistic="x", rule=Below(5.0),
                               base=Estimate(2.0, 1.0, 3.0))
    assert g.verdict is Verdict.CONFIRMED and g.holds_at_dt4 is None


def test_variations_derive_seeds_like_the_context_and_scale_dt_paths_and_horizon(tmp_path):
    ctx = _ctx(tmp_path)
    configured, dt4, seed4, _ = (ctx.variation(), *ctx.robustness_variations(0.5))
    assert configured.seed_for(1, 2) == ctx.seed_for(1, 2)
    assert configured.rng(7).random() == ctx.rng(7).random()
    assert seed4.seed_for(1, 2) == Context("demo", load_config(), tmp_path, seed=4).seed_for(1, 2)
    params = ctx.market("as2008")
    assert configured.market(params) is params
    fine = dt4.market(params)
    assert fine.dt == params.dt / 4 and fine.n_steps == 4 * params.n_steps
    assert fine.adverse_selection_steps * fine.dt == pytest.approx(
        params.adverse_selection_steps * params.dt)
    assert dt4.paths(1_000) == 500 and dt4.paths(1) == 1 and configured.paths(1_000) == 1_000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "estimate: give estimate"),
    ({"estimate": 3.0}, "estimate must be callable"),
    ({"estimate": lambda v: 1.0}, "estimate must return an Estimate, got float"),
    ({"base": (1.0, 0.0, 2.0)}, "base must be an Estimate"),
    ({"base": Estimate(1.0), "robustness_paths": 0.0}, "robustness_paths must be a fraction"),
    ({"base": Estimate(1.0), "claim": 0}, "claim must be an integer in 1..11"),
])
def test_bad_finding_arguments_raise_value_errors_naming_the_parameter(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as err:
        _ctx(tmp_path).finding("f", statement="S.", statistic="x", rule=Above(0.0), **kwargs)
    assert message in str(err.value)


def test_finding_ids_are_unique_and_findings_tables_are_reserved(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.finding("f", statement="S.", statistic="x", rule=Above(0.0), base=Estimate(1.0))
    with pytest.raises(ValueError, match="id: finding 'f' was already recorded"):
        ctx.finding("f", statement="S.", statistic="x", rule=Above(0.0), base=Estimate(1.0))
    with pytest.raises(ValueError, match="reserved for the findings tables"):
        ctx.table(pd.DataFrame({"x": [1.0]}), "findings_demo", "T", "r")
    with pytest.raises(ValueError, match="robustness_paths must be a fraction in"):
        _ctx(tmp_path, robustness_paths=1.5)


def test_a_section_opens_with_its_findings_and_anchors_its_tables(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.table(pd.DataFrame({"x": [1.0]}), "demo_t", "A table", "r")
    ctx.finding("f", statement="The first finding.", statistic="x", rule=Above(0.0),
                base=Estimate(1.0, 0.5, 1.5), section="demo_t")
    text = ctx.section("Demo")
    assert text.startswith('<a id="demo"></a>\n\n## Demo\n')
    assert text.index("The first finding.") < text.index("### A table")
    assert '<a id="demo_t"></a>' in text and "(tables/findings_demo.csv)" in text
    ctx.finding("g", statement="S.", statistic="x", rule=Above(0.0), base=Estimate(1.0),
                section="nowhere")
    with pytest.raises(ValueError, match="section: finding 'g' links to 'nowhere'"):
        ctx.section("Demo")


@pytest.fixture
def finding_module(monkeypatch):
    """A throwaway experiment 'baseline' that records a finding on claim 1 (or none)."""

    @dataclass(frozen=True)
    class Settings:
        with_finding: bool = True

    def run(ctx, settings):
        ctx.table(pd.DataFrame({"x": [1.0]}), "baseline_kept", "kept", "always written")
        if settings.with_finding:
            ctx.finding("as_less_risky", claim=1, statement="AS is less risky.",
                        statistic="std difference", unit="price units", rule=Below(0.0),
                        estimate=lambda v: Estimate(-6.5, -7.0, -6.0))

    module = types.ModuleType("experiments.baseline")
    module.TITLE, module.Settings, module.run = "Demo baseline", Settings, run
    monkeypatch.setitem(sys.modules, "experiments.baseline", module)
    monkeypatch.setattr(framework, "load", lambda name: module)
    return module


def test_the_report_opens_with_one_row_per_claim_then_contents_then_sections(tmp_path,
                                                                          finding_module):
    out = tmp_path / "results"
    config = parse_config({"seed": 1, "experiments": {"baseline": {"with_finding": True}}})
    run_experiments(["baseline"], config, out, show_progress=False)
    own = pd.read_csv(out / "tables" / "findings_baseline.csv")
    every = pd.read_csv(out / "tables" / "findings.csv")
    assert list(every.columns) == list(FINDING_COLUMNS)
    assert own["verdict"].tolist() == every["verdict"].tolist() == ["confirmed"]
    assert own["seeds"].tolist() == ["1 2 3"] and own["holds_across_seeds"].tolist() == [True]
    report = (out / "REPORT.md").read_text()
    lines = report.splitlines()
    summary, contents = lines.index("## Executive summary"), lines.index("## Contents")
    section = lines.index("## Demo baseline")
    assert summary < contents < section and contents < 45          # within two screens
    rows = [line for line in lines[summary:contents] if line.startswith("| [")]
    assert len(rows) == 11
    assert "**confirmed**" in rows[0] and "-6.5 [-7, -6] price units" in rows[0]
    assert "[Demo baseline](#baseline)" in rows[0]
    assert all("not tested yet" in row for row in rows[1:])
    assert "[Demo baseline](#baseline) (1 finding)" in report
    assert lines[section + 2].startswith("**Findings**")


def test_findings_csv_is_rebuilt_when_an_experiment_drops_its_findings(tmp_path, finding_module):
    out = tmp_path / "results"
    for flag in (True, False):
        config = parse_config({"seed": 1, "experiments": {"baseline": {"with_finding": flag}}})
        run_experiments(["baseline"], config, out, show_progress=False)
    assert len(pd.read_csv(out / "tables" / "findings.csv")) == 0
    assert "*No findings recorded by this experiment yet.*" in (out / "REPORT.md").read_text()


# --- staging hygiene -------------------------------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_removes_staging_folders_of_dead_runs_only(tmp_path, demo_module):
    out = tmp_path / "results"
    out.mkdir()
    dead = out / f".staging-baseline-{_dead_pid()}-abc123"
    live = out / f".staging-baseline-{os.getpid()}-xyz789"
    unknown = out / ".staging-baseline-oldformat"       # no pid: cannot tell, left alone
    for folder in (dead, live, unknown):
        (folder / "tables").mkdir(parents=True)
    run_experiments(["baseline"], _demo_config(), out, show_progress=False)
    assert not dead.exists()
    assert live.is_dir() and unknown.is_dir()


def test_staging_folders_carry_the_pid_of_their_run(tmp_path, monkeypatch):
    seen = []

    @dataclass(frozen=True)
    class Settings:
        pass

    module = types.ModuleType("experiments.baseline")
    module.TITLE, module.Settings = "Demo", Settings
    module.run = lambda ctx, settings: seen.append(ctx.staging.name)
    monkeypatch.setattr(framework, "load", lambda name: module)
    run_experiments(["baseline"], parse_config({"seed": 1}), tmp_path / "r", show_progress=False)
    assert re.fullmatch(rf"\.staging-baseline-{os.getpid()}-\w+", seen[0])
    assert not list(tmp_path.glob(".staging-*"))


def test_a_failure_after_the_publish_says_the_results_were_published(tmp_path, demo_module,
                                                                     monkeypatch):
    def broken(out, config):
        raise RuntimeError("report failed")

    monkeypatch.setattr(framework, "_write_report", broken)
    said = []
    with pytest.raises(RuntimeError, match="report failed"):
        run_experiments(["baseline"], _demo_config(), tmp_path / "r", show_progress=False,
                        echo=said.append)
    assert said == [f"baseline: stopped after its results were published to {tmp_path / 'r'}"]
    assert (tmp_path / "r" / "tables" / "baseline_kept.csv").is_file()
