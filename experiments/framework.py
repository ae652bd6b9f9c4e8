"""What every experiment shares: the run context (paths, seeds, output), tables and figures
with their readings, the report section, atomic output, and the task pool.

An experiment is a module ``experiments/<name>.py`` with

* ``TITLE``: a line for the report,
* ``Settings``: a frozen dataclass of its config section (validated; errors name the field),
* ``run(ctx: Context, settings: Settings) -> None``: simulate, then ``ctx.table(...)``,
  ``ctx.figure(...)`` and ``ctx.paragraph(...)`` to write results and their readings.

Each experiment writes into a staging directory; only when ``run`` returns are its files
moved into ``<out>/figures``, ``<out>/tables``, ``<out>/report/<name>.md`` (its report
section) and ``<out>/config/<name>.yaml`` (the effective configuration it ran with, and the
command that reproduces it), files it wrote in an earlier run but not in this one are removed
(``<out>/report/<name>.manifest`` lists them), and ``<out>/REPORT.md`` is rebuilt from every
section present. A failed or interrupted experiment leaves the output directory as it was
(if ``<out>`` did not exist, it still does not); experiments that finished earlier in the same
run stay published. Name figures and tables after the experiment (``baseline_pnl_hist``) so
experiments never overwrite each other's files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asmm_env.params import MarketParams  # noqa: E402
from experiments.config import Config  # noqa: E402

# Report order; a name is runnable once its module exists.
EXPERIMENTS = ("baseline", "pnl_decomposition", "as2008", "glft", "competition",
               "regime_sweep", "queue", "microprice")


def available() -> tuple[str, ...]:
    """Experiments whose module is present, in report order."""
    here = Path(__file__).resolve().parent
    return tuple(name for name in EXPERIMENTS if (here / f"{name}.py").is_file())


def load(name: str):
    if name not in available():
        raise ValueError(f"unknown experiment {name!r}; choose from {list(available())} or 'all'")
    return importlib.import_module(f"experiments.{name}")


@dataclass
class _Item:
    kind: str            # "figure" | "table" | "paragraph"
    name: str
    title: str
    reading: str
    markdown: str = ""


@dataclass
class Context:
    """One experiment's run: sizes, seeds, output and the report it builds.

    ``paths(default)``: the path count (``--quick`` wins, then ``--paths``, then the
    default from the config). ``seed``: the root seed; derive per-cell generators with
    ``rng(*keys)`` (a ``SeedSequence`` keyed by the cell, so results do not depend on
    worker count or order).
    """

    name: str
    config: Config
    staging: Path
    seed: int
    quick: bool = False
    n_paths: int | None = None
    workers: int = 1
    executor: str = "local"
    scheduler: str | None = None
    show_progress: bool = True
    out: Path | None = None     # the final output directory (read others' results)
    items: list[_Item] = field(default_factory=list)

    def paths(self, default: int) -> int:
        if self.quick:
            return min(self.config.quick_paths, default)
        return self.n_paths if self.n_paths is not None else default

    def market(self, name: str) -> MarketParams:
        """The market ``markets.<name>`` of the configuration."""
        return self.config.market(name)

    def seed_for(self, *keys: int) -> int:
        """A 63-bit seed for the cell ``keys`` (ints), derived from the root seed."""
        seq = np.random.SeedSequence([self.seed, *[int(k) for k in keys]])
        return int(seq.generate_state(2, dtype=np.uint32).astype(np.uint64) @
                   np.array([1, 2**31], dtype=np.uint64))

    def rng(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, *map(int, keys)]))

    # --- outputs ---------------------------------------------------------------------
    def table(self, frame: pd.DataFrame, name: str, title: str, reading: str,
              float_format: str = "{:.4g}", display: pd.DataFrame | None = None) -> None:
        """Write ``tables/<name>.csv`` (``frame``, full precision) and ``tables/<name>.md``
        (``display`` if given, e.g. "mean [low, high]" strings, else ``frame``) and add the
        Markdown table to the report."""
        self._claim("table", name)
        folder = self.staging / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / f"{name}.csv", index=False)
        markdown = _markdown(frame if display is None else display, float_format)
        (folder / f"{name}.md").write_text(f"# {title}\n\n{markdown}\n")
        self.items.append(_Item("table", name, title, reading, markdown))

    def figure(self, fig: plt.Figure, name: str, title: str, reading: str) -> None:
        """Write ``figures/<name>.png`` and add it to the report."""
        self._claim("figure", name)
        folder = self.staging / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.items.append(_Item("figure", name, title, reading))

    def _claim(self, kind: str, name: str) -> None:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"{kind} name must be a plain file stem, got {name!r}")
        if any(item.kind == kind and item.name == name for item in self.items):
            raise ValueError(f"{kind} {name!r} was already written by {self.name!r}")

    def paragraph(self, text: str, title: str = "") -> None:
        self.items.append(_Item("paragraph", "", title, text))

    # --- progress and tasks ------------------------------------------------------------
    def progress(self, total: int, desc: str):
        """A progress bar over ``total`` units (tqdm on stderr; silent when disabled)."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"{self.name}: {desc}", unit="path", leave=False,
                    disable=not self.show_progress, dynamic_ncols=True)

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], desc: str = "cells") -> list:
        """``[fn(t) for t in tasks]`` on the configured executor (in order, same results
        whatever the worker count: each task must carry its own seed)."""
        return run_tasks(fn, tasks, workers=self.workers, executor=self.executor,
                         scheduler=self.scheduler, progress=self._task_bar(len(tasks), desc))

    def _task_bar(self, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"{self.name}: {desc}", unit="cell", leave=False,
                    disable=not self.show_progress, dynamic_ncols=True)

    # --- report ------------------------------------------------------------------------
    def section(self, title: str) -> str:
        lines = [f"## {title}", ""]
        for item in self.items:
            if item.kind == "paragraph":
                if item.title:
                    lines += [f"**{item.title}.** {item.reading}", ""]
                else:
                    lines += [item.reading, ""]
            elif item.kind == "figure":
                lines += [f"### {item.title}", "", f"![{item.title}](figures/{item.name}.png)", "",
                          item.reading, ""]
            else:
                lines += [f"### {item.title}", "",
                          f"[CSV](tables/{item.name}.csv) · [Markdown](tables/{item.name}.md)",
                          "", item.markdown, "", item.reading, ""]
        return "\n".join(lines)


def _markdown(frame: pd.DataFrame, float_format: str) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append(float_format.format(value) if np.isfinite(value) else str(value))
            else:
                cells.append(str(value))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], *, workers: int = 1,
              executor: str = "local", scheduler: str | None = None, progress=None) -> list:
    """Run ``fn`` over ``tasks`` in order: in-process (workers = 1), on a local process pool,
    or on a Dask cluster (``executor="dask"``; ``scheduler`` an address, or None for a
    local cluster). ``fn`` and the tasks must be picklable for the pools."""
    tasks = list(tasks)
    results: list[Any] = [None] * len(tasks)
    if executor == "dask":
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
        client = Client(scheduler if scheduler is not None else cluster)
        try:
            futures = {client.submit(fn, task, pure=False): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif executor == "local" and workers > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress.update(1)
    elif executor == "local":
        for i, task in enumerate(tasks):
            results[i] = fn(task)
            if progress is not None:
                progress.update(1)
    else:
        raise ValueError(f"executor must be 'local' or 'dask', got {executor!r}")
    if progress is not None:
        progress.close()
    return results


def run_experiments(names: Iterable[str], config: Config, out: Path, *, seed: int | None = None,
                    quick: bool = False, n_paths: int | None = None, workers: int = 1,
                    executor: str = "local", scheduler: str | None = None,
                    show_progress: bool = True, echo: Callable[[str], None] = lambda s: None,
                    ) -> None:
    """Run experiments one after another, each staged and moved into ``out`` on success.

    Everything is validated (names, every experiment's settings and markets) before the first
    experiment starts, so a bad configuration writes nothing. ``seed`` overrides the
    config's root seed (and is recorded in the effective configuration).
    """
    modules = [(name, load(name)) for name in names]          # unknown names fail first
    settings = {name: config.settings(name, module.Settings) for name, module in modules}
    if seed is not None:
        config = dataclasses.replace(config, seed=seed, raw={**config.raw, "seed": seed})
    out = Path(out)
    for name, module in modules:
        # Stage next to the results (same file system: os.replace is atomic); if ``out``
        # does not exist yet, stage in its nearest existing ancestor and create ``out`` only
        # on success.
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=_existing_ancestor(out)))
        started = time.perf_counter()
        try:
            ctx = Context(name, config, staging, config.seed, quick=quick, n_paths=n_paths,
                          workers=workers, executor=executor, scheduler=scheduler,
                          show_progress=show_progress, out=out)
            module.run(ctx, settings[name])
            command = _command(name, quick, n_paths)
            (staging / "report").mkdir(exist_ok=True)
            (staging / "report" / f"{name}.md").write_text(
                ctx.section(module.TITLE) + _provenance(name, ctx, command))
            (staging / "config").mkdir(exist_ok=True)
            (staging / "config" / f"{name}.yaml").write_text(
                f"# Effective configuration of the experiment {name!r}.\n"
                f"# Reproduce (from the output directory): {command}\n" + config.dump())
            with _deferred_interrupts():
                _publish(staging, out, name)
                _write_report(out, config)
            echo(f"{name}: done in {time.perf_counter() - started:.1f} s -> {out}")
        except BaseException:
            echo(f"{name}: failed; none of its results were written to {out}")
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.is_dir():
        if path.exists():
            raise NotADirectoryError(f"--out must be a directory, got the file {str(path)!r}")
        path = path.parent
    return path


def _command(name: str, quick: bool, n_paths: int | None) -> str:
    parts = ["python", "-m", "experiments", name, "--config", f"config/{name}.yaml"]
    if quick:
        parts.append("--quick")
    elif n_paths is not None:
        parts += ["--paths", str(n_paths)]
    return shlex.join(parts)


def _provenance(name: str, ctx: Context, command: str) -> str:
    sizes = ("--quick (at most quick_paths = "
             f"{ctx.config.quick_paths} paths per run)" if ctx.quick else
             f"--paths {ctx.n_paths}" if ctx.n_paths is not None else
             "the configured path counts")
    return (f"\n*Run with seed {ctx.seed} and {sizes}; configuration "
            f"[config/{name}.yaml](config/{name}.yaml); reproduce with `{command}`.*\n")


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while results are moved into place, so an interrupt lands before
    or after the publish, never in the middle of it (main thread, POSIX only)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _publish(staging: Path, out: Path, name: str) -> None:
    """Move every staged file into place (``os.replace``: each file appears whole), then remove
    the files this experiment published before but did not write this time."""
    files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
    manifest = out / "report" / f"{name}.manifest"
    previous = set(manifest.read_text().split("\n")) if manifest.is_file() else set()
    current = {p.as_posix() for p in files}
    for relative in files:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / relative, target)
    manifest.write_text("\n".join(sorted(current)) + "\n")
    for stale in sorted(previous - current - {""}):
        target = out / stale
        if target.is_file() and out.resolve() in target.resolve().parents:
            target.unlink()


def _write_report(out: Path, config: Config) -> None:
    sections = [out / "report" / f"{name}.md" for name in EXPERIMENTS]
    body = "\n\n".join(p.read_text() for p in sections if p.is_file())
    text = (
        "# asmm_env results\n\n"
        "Monte Carlo results of the Avellaneda–Stoikov market-making experiments. Every number "
        "comes from the simulations in this directory; confidence intervals are 95% normal "
        "intervals (mean +/- 1.96 s.e.) over independent paths unless a table says otherwise. "
        "Each section ends with the seed and path counts it ran with and the configuration "
        "file (under [config/](config/)) and command that reproduce it; "
        "[config.yaml](config.yaml) is the configuration of the latest run.\n\n"
        + body + "\n"
    )
    tmp = out / ".REPORT.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "REPORT.md")
    tmp = out / ".config.yaml.tmp"
    tmp.write_text(config.dump())
    os.replace(tmp, out / "config.yaml")
