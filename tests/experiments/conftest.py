"""Shared fixtures of the experiment tests: quick CLI runs and directory snapshots."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from experiments.__main__ import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The experiments these tests exercise end to end (others are tested by their own modules).
QUICK_EXPERIMENTS = ("baseline", "pnl_decomposition", "as2008")


def run_cli(*args: str) -> int:
    """``python -m experiments ARGS`` in-process, without progress bars, one worker."""
    return main([*args, "--no-progress", "--workers", "1"] if "--workers" not in args
                else [*args, "--no-progress"])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and directory (None) under ``root``; {} if it is absent."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def check_outputs(out: Path, name: str, tables: Iterable[str], figures: Iterable[str],
                  seed: int) -> str:
    """Assert that experiment ``name`` wrote every table (CSV that parses, Markdown table) and
    figure (a real PNG image) under ``out``, and a report section naming them and the seed;
    returns the section."""
    tables, figures = list(tables), list(figures)
    for table in tables:
        frame = pd.read_csv(out / "tables" / f"{table}.csv")
        assert len(frame) > 0 and len(frame.columns) > 1
        markdown = (out / "tables" / f"{table}.md").read_text()
        assert markdown.startswith("# ") and "|---" in markdown
    for figure in figures:
        path = out / "figures" / f"{figure}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    section = (out / "report" / f"{name}.md").read_text()
    module = __import__(f"experiments.{name}", fromlist=["TITLE"])
    assert f"## {module.TITLE}" in section and f"Run with seed {seed}" in section
    for item in (*tables, *figures):
        assert item in section
    assert (out / "config" / f"{name}.yaml").is_file()
    return section


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory) -> Path:
    """One ``--quick`` run of the three experiments (seed 7) into a fresh directory."""
    out = tmp_path_factory.mktemp("quick") / "results"
    assert run_cli(*QUICK_EXPERIMENTS, "--quick", "--seed", "7", "--out", str(out)) == 0
    return out


@pytest.fixture
def cli():
    """The in-process CLI runner ``cli(*args) -> exit code``."""
    return run_cli


@pytest.fixture
def snap():
    """``snap(root)``: the snapshot of a directory tree (paths and bytes)."""
    return snapshot


@pytest.fixture
def outputs():
    """``outputs(out, name, tables, figures, seed)``: :func:`check_outputs`."""
    return check_outputs
