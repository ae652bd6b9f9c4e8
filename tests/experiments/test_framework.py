"""The experiment framework: path counts, seeds, output naming, publishing and report assembly."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pandas as pd
import pytest

from experiments import framework
from experiments.config import load_config, parse_config
from experiments.framework import Context, run_experiments, run_tasks


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
