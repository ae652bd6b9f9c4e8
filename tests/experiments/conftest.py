"""Shared fixtures of the experiment tests: quick CLI runs and directory snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.__main__ import main

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
