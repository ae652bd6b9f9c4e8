"""What every experiment shares: the run context (paths, seeds, output), tables and figures
with their readings, findings (records with verdict rules), the report section, atomic output,
and the task pool.

An experiment is a module ``experiments/<name>.py`` with

* ``TITLE``: a line for the report,
* ``Settings``: a frozen dataclass of its config section (validated; errors name the field),
* ``run(ctx: Context, settings: Settings) -> None``: simulate, then ``ctx.table(...)``,
  ``ctx.finding(...)`` and ``ctx.figure(...)`` to write results, findings and figures.

Findings (:meth:`Context.finding`, :mod:`experiments.findings`) are records: the claim tested,
the statistic and its CI, the verdict rule and verdict, and whether the verdict holds at dt / 4
and at two other seeds. They are written to ``tables/findings_<name>.csv``; the report section
opens with them, and every run rebuilds ``<out>/tables/findings.csv`` (all experiments present)
and the executive summary at the top of ``<out>/REPORT.md`` (one row per claim,
:mod:`experiments.claims`).

Each experiment writes into a staging directory ``.staging-<name>-<pid>-<random>`` next to the
results; only when ``run`` returns are its files moved into ``<out>/figures``,
``<out>/tables``, ``<out>/report/<name>.md`` (its report section) and
``<out>/config/<name>.yaml`` (the effective configuration it ran with, and the command that
reproduces it), files it wrote in an earlier run but not in this one are removed
(``<out>/report/<name>.manifest`` lists them), and ``<out>/REPORT.md`` is rebuilt from every
section present. A failed or interrupted experiment leaves the output directory as it was
(if ``<out>`` did not exist, it still does not); experiments that finished earlier in the same
run stay published. A run first removes staging directories left by runs that died without
cleaning up (their pid is no longer alive on this machine); a live run's are never touched.
Name figures and tables after the experiment (``baseline_pnl_hist``) so experiments never
overwrite each other's files; ``findings`` and ``findings_*`` are reserved table names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import math
import os
import re
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
from experiments import findings as _findings  # noqa: E402
from experiments.claims import CLAIMS  # noqa: E402
from experiments.config import Config  # noqa: E402
from experiments.findings import Estimate, Finding, Rule  # noqa: E402
from experiments.style import figure_problems  # noqa: E402

logger = logging.getLogger(__name__)

# Report order; a name is runnable once its module exists.
EXPERIMENTS = ("baseline", "pnl_decomposition", "as2008", "glft", "competition",
               "equilibrium", "regime_sweep", "assumptions", "queue", "microprice",
               "calibration")


def available() -> tuple[str, ...]:
    """Experiments whose module is present, in report order."""
    here = Path(__file__).resolve().parent
    return tuple(name for name in EXPERIMENTS if (here / f"{name}.py").is_file())


def load(name: str):
    if name not in available():
        raise ValueError(f"unknown experiment {name!r}; choose from {list(available())} or 'all'")
    return importlib.import_module(f"experiments.{name}")


def derive_seed(root: int, *keys: int) -> int:
    """A 63-bit seed for the cell ``keys`` (ints) of the root seed ``root``: the one seed
    derivation of every experiment (:meth:`Context.seed_for`, :meth:`Variation.seed_for`)."""
    seq = np.random.SeedSequence([int(root), *[int(k) for k in keys]])
    return int(seq.generate_state(2, dtype=np.uint32).astype(np.uint64) @
               np.array([1, 2**31], dtype=np.uint64))


ROBUSTNESS_DT_FACTOR = 0.25
"""Robustness check of the time step: every finding is estimated again at dt / 4."""
ROBUSTNESS_SEED_OFFSETS = (1, 2)
"""Robustness check of the sample: root seeds ``seed + 1`` and ``seed + 2``. A seed means the
same random numbers wherever it appears, so ``--seed 2009`` reproduces the second seed's run."""


@dataclass(frozen=True)
class Variation:
    """Where a finding's statistic is evaluated: the configured run or a robustness check.

    An experiment's ``estimate`` function receives one and must take its seeds, time step
    and path counts from it, so that the configured variation reproduces the tables' numbers.

    Attributes
    ----------
    label : str
        ``"configured"``, ``"dt/4"`` or ``"seed <n>"``.
    seed : int
        Root seed; derive cell seeds with :meth:`seed_for` (as ``ctx.seed_for``).
    dt_factor : float
        Multiplies the market's time step (1 or :data:`ROBUSTNESS_DT_FACTOR`).
    paths_factor : float
        Multiplies path counts (1 for the configured run; ``Context.robustness_paths`` for
        the checks), applied by :meth:`paths`.
    """

    label: str
    seed: int
    dt_factor: float = 1.0
    paths_factor: float = 1.0

    def market(self, params: MarketParams) -> MarketParams:
        """``params`` at this variation's time step. The adverse-selection horizon, counted
        in steps, is scaled too, so that it covers the same time."""
        if self.dt_factor == 1.0:
            return params
        steps = max(1, round(params.adverse_selection_steps / self.dt_factor))
        return params.replace(dt=params.dt * self.dt_factor, adverse_selection_steps=steps)

    def paths(self, n: int) -> int:
        """A path count ``n`` of the configured run scaled by ``paths_factor`` (at least 2,
        or ``n`` if smaller)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        return max(min(int(n), 2), round(int(n) * self.paths_factor))

    def seed_for(self, *keys: int) -> int:
        """A seed for the cell ``keys``, derived from this variation's root seed."""
        return derive_seed(self.seed, *keys)

    def rng(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, *map(int, keys)]))


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
    worker count or order). ``robustness_paths``: the fraction of the paths the robustness
    checks of findings run on (:meth:`finding`; 1 = as many as the configured run).
    ``data``: the user's data (``--data PATH``: a file or directory) for the experiments that
    read data; None runs them on their synthetic default.
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
    robustness_paths: float = 1.0
    data: Path | None = None
    items: list[_Item] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_fraction("robustness_paths", self.robustness_paths)

    def paths(self, default: int) -> int:
        if self.quick:
            return min(self.config.quick_paths, default)
        return self.n_paths if self.n_paths is not None else default

    def market(self, name: str) -> MarketParams:
        """The market ``markets.<name>`` of the configuration."""
        return self.config.market(name)

    def seed_for(self, *keys: int) -> int:
        """A 63-bit seed for the cell ``keys`` (ints), derived from the root seed."""
        return derive_seed(self.seed, *keys)

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
        for problem in figure_problems(fig):
            logger.warning("figure %s of %s: %s", name, self.name, problem)
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
        if kind == "table" and (name == "findings" or name.startswith("findings_")):
            raise ValueError(f"table name {name!r} is reserved for the findings tables")

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

    # --- findings ----------------------------------------------------------------------
    def variation(self) -> Variation:
        """The configured run: this context's seed, time step and path counts."""
        return Variation("configured", self.seed)

    def robustness_variations(self, robustness_paths: float | None = None
                              ) -> tuple[Variation, ...]:
        """The robustness checks of a finding: dt / 4 at the configured seed, then the
        configured dt at seeds ``seed + 1`` and ``seed + 2``, each on ``robustness_paths``
        (default: the context's) of the paths."""
        f = self.robustness_paths if robustness_paths is None else robustness_paths
        _check_fraction("robustness_paths", f)
        return (Variation("dt/4", self.seed, ROBUSTNESS_DT_FACTOR, f),
                *(Variation(f"seed {self.seed + k}", self.seed + k, 1.0, f)
                  for k in ROBUSTNESS_SEED_OFFSETS))

    def finding(self, id: str, *, statement: str, statistic: str, rule: Rule, unit: str = "",
                claim: int | None = None,
                estimate: Callable[[Variation], Estimate] | None = None,
                base: Estimate | None = None, section: str | None = None,
                robustness_paths: float | None = None) -> Finding:
        """Record a finding: estimate a statistic, check it at dt / 4 and two other seeds,
        and apply its verdict rule (:mod:`experiments.findings`).

        Parameters
        ----------
        id : str
            Short identifier, unique in this experiment (lowercase letters, digits, ``_``).
        statement : str
            A fixed sentence: what the finding says (format fields ``{value}``,
            ``{ci_low}``, ``{ci_high}``, ``{unit}`` allowed; no wording chosen by the numbers).
        statistic : str
            What the number is (``"Sharpe of terminal PnL, per episode"``).
        rule : Rule
            ``Above``, ``Below``, ``Between`` or ``Near`` from :mod:`experiments.findings`.
        unit : str
            Unit of the statistic (``""`` when dimensionless).
        claim : int or None
            The claim (1..11, :mod:`experiments.claims`) the finding tests.
        estimate : callable, optional
            ``estimate(variation) -> Estimate``: the statistic at a :class:`Variation`
            (seeds from ``variation.seed_for``, market from ``variation.market``, paths from
            ``variation.paths``). Called at the configured variation (unless ``base`` is
            given) and, unless ``--quick`` or the CI verdict is inconclusive, at the three
            :meth:`robustness_variations`. Cache shared simulations yourself (a
            ``Variation`` is hashable), e.g. with ``functools.cache``.
        base : Estimate, optional
            The estimate at the configured variation, if already computed (the tables'
            number); without ``estimate`` no robustness check runs (recorded as None).
        section : str, optional
            The anchor in REPORT.md the finding links to: this experiment (default) or the
            name of one of its tables or figures.
        robustness_paths : float, optional
            Fraction in (0, 1] of the paths for the robustness checks of this finding
            (default: ``ctx.robustness_paths``).

        Returns
        -------
        Finding
            The record (also kept in ``ctx.findings``).
        """
        if any(f.id == id for f in self.findings):
            raise ValueError(f"id: finding {id!r} was already recorded by {self.name!r}")
        if estimate is None and base is None:
            raise ValueError("estimate: give estimate (a function of a Variation) or base "
                             "(an Estimate), or both")
        if estimate is not None and not callable(estimate):
            raise ValueError(f"estimate must be callable, got {type(estimate).__name__}")
        variations = self.robustness_variations(robustness_paths)   # validates the fraction
        main = base if base is not None else _estimate(estimate, self.variation())
        if not isinstance(main, Estimate):
            raise ValueError(f"base must be an Estimate, got {type(main).__name__}")
        dt4, seeds, labels = None, [], [self.seed]
        if (estimate is not None and not self.quick and isinstance(rule, Rule)
                and rule.decide(main) is not _findings.Verdict.INCONCLUSIVE):
            dt4_variation, *seed_variations = variations
            dt4 = _estimate(estimate, dt4_variation)
            seeds = [_estimate(estimate, v) for v in seed_variations]
            labels += [v.seed for v in seed_variations]
        record = _findings.make_finding(
            self.name, id, statement=statement, statistic=statistic, rule=rule,
            estimate=main, unit=unit, claim=claim, dt4=dt4, seeds=seeds, seed_labels=labels,
            section=section if section is not None else self.name)
        self.findings.append(record)
        return record

    # --- report ------------------------------------------------------------------------
    def anchors(self) -> set[str]:
        """Anchors this experiment's report section defines: its name, its tables and
        figures."""
        return {self.name} | {item.name for item in self.items if item.kind != "paragraph"}

    def section(self, title: str) -> str:
        """The report section: an anchor, the title, the findings, then the items in order."""
        anchors = self.anchors()
        for f in self.findings:
            if f.section not in anchors:
                raise ValueError(f"section: finding {f.id!r} links to {f.section!r}, which is "
                                 f"not this experiment or one of its tables or figures "
                                 f"{sorted(anchors)}")
        lines = [f'<a id="{self.name}"></a>', "", f"## {title}", "",
                 f"**Findings** ([CSV](tables/findings_{self.name}.csv)).", ""]
        lines += ([_findings.findings_table(self.findings), ""] if self.findings else
                  ["*No findings recorded by this experiment yet.*", ""])
        for item in self.items:
            if item.kind == "paragraph":
                if item.title:
                    lines += [f"**{item.title}.** {item.reading}", ""]
                else:
                    lines += [item.reading, ""]
            elif item.kind == "figure":
                lines += [f'<a id="{item.name}"></a>', "", f"### {item.title}", "",
                          f"![{item.title}](figures/{item.name}.png)", "", item.reading, ""]
            else:
                lines += [f'<a id="{item.name}"></a>', "", f"### {item.title}", "",
                          f"[CSV](tables/{item.name}.csv) · [Markdown](tables/{item.name}.md)",
                          "", item.markdown, "", item.reading, ""]
        return "\n".join(lines)


def _check_fraction(name: str, value: float) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            or not math.isfinite(value) or not 0 < value <= 1):
        raise ValueError(f"{name} must be a fraction in (0, 1], got {value!r}")


def _estimate(fn: Callable[[Variation], Estimate], variation: Variation) -> Estimate:
    result = fn(variation)
    if not isinstance(result, Estimate):
        raise ValueError(f"estimate must return an Estimate, got {type(result).__name__} at "
                         f"the variation {variation.label!r}")
    return result


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

        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress.update(1)
        except BaseException:
            # Interrupted or failed: drop the queued tasks instead of running them all first.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
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
                    robustness_paths: float = 1.0, data: Path | None = None) -> None:
    """Run experiments one after another, each staged and moved into ``out`` on success.

    Everything is validated (names, every experiment's settings and markets) before the first
    experiment starts, so a bad configuration writes nothing. ``seed`` overrides the
    config's root seed (and is recorded in the effective configuration).
    ``robustness_paths`` is the fraction (0, 1] of the paths the robustness checks of
    findings run on (``Context.robustness_paths``). ``data`` is the user's data
    (``Context.data``); it must exist.
    """
    modules = [(name, load(name)) for name in names]          # unknown names fail first
    settings = {name: config.settings(name, module.Settings) for name, module in modules}
    _check_fraction("robustness_paths", robustness_paths)
    if data is not None and not Path(data).exists():
        raise ValueError(f"--data: no such file or directory {str(data)!r}")
    if seed is not None:
        config = dataclasses.replace(config, seed=seed, raw={**config.raw, "seed": seed})
    out = Path(out)
    # Stage next to the results (same file system: os.replace is atomic); if ``out`` does
    # not exist yet, stage in its nearest existing ancestor and create ``out`` only on success.
    where = _existing_ancestor(out)
    remove_stale_staging(where)
    for name, module in modules:
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-{os.getpid()}-", dir=where))
        started = time.perf_counter()
        published = False
        try:
            ctx = Context(name, config, staging, config.seed, quick=quick, n_paths=n_paths,
                          workers=workers, executor=executor, scheduler=scheduler,
                          show_progress=show_progress, out=out,
                          robustness_paths=robustness_paths,
                          data=None if data is None else Path(data).resolve())
            module.run(ctx, settings[name])
            command = _command(name, quick, n_paths, ctx.data)
            (staging / "report").mkdir(exist_ok=True)
            (staging / "report" / f"{name}.md").write_text(
                ctx.section(module.TITLE) + _provenance(name, ctx, command))
            (staging / "tables").mkdir(exist_ok=True)
            _findings.write_findings(ctx.findings, staging / "tables" / f"findings_{name}.csv")
            (staging / "config").mkdir(exist_ok=True)
            (staging / "config" / f"{name}.yaml").write_text(
                f"# Effective configuration of the experiment {name!r}.\n"
                f"# Reproduce (from the output directory): {command}\n" + config.dump())
            with _deferred_interrupts():
                _publish(staging, out, name)
                published = True
                _write_report(out, config)
            echo(f"{name}: done in {time.perf_counter() - started:.1f} s -> {out}")
        except BaseException:
            # An interrupt held during the publish lands just after it: say what happened.
            echo(f"{name}: stopped after its results were published to {out}" if published
                 else f"{name}: failed; none of its results were written to {out}")
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


_STAGING = re.compile(r"\.staging-[A-Za-z0-9_]+-(?P<pid>[0-9]+)-[A-Za-z0-9_]+")


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove the staging directories in ``folder`` left by runs that died without cleaning
    up (``.staging-<name>-<pid>-<random>`` whose pid is not a live process on this machine);
    a live run's staging directory, and anything not named like one, is left alone.

    Returns the directories removed. POSIX only (elsewhere nothing is removed).
    """
    removed = []
    if os.name != "posix" or not Path(folder).is_dir():
        return removed
    for entry in sorted(Path(folder).iterdir()):
        match = _STAGING.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() \
                and not _pid_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (unknown counts as alive: never remove a live run's
    files)."""
    if pid <= 0:                    # os.kill(0, ...) would address our own process group
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                 # e.g. PermissionError: alive, another user's
        return True
    return True


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.is_dir():
        if path.exists():
            raise NotADirectoryError(f"--out must be a directory, got the file {str(path)!r}")
        path = path.parent
    return path


def _command(name: str, quick: bool, n_paths: int | None, data: Path | None = None) -> str:
    parts = ["python", "-m", "experiments", name, "--config", f"config/{name}.yaml"]
    if data is not None:
        parts += ["--data", str(data)]
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
    """Rebuild ``tables/findings.csv`` and ``REPORT.md`` from every experiment present."""
    present = [name for name in EXPERIMENTS if (out / "report" / f"{name}.md").is_file()]
    sections = {name: (out / "report" / f"{name}.md").read_text() for name in present}
    titles = {name: _section_title(text, name) for name, text in sections.items()}
    records: list[Finding] = []
    counts = {}
    for name in present:
        path = out / "tables" / f"findings_{name}.csv"
        found = _findings.read_findings(path) if path.is_file() else []
        counts[name] = len(found)
        records += found
    (out / "tables").mkdir(parents=True, exist_ok=True)
    _replace(out / "tables" / "findings.csv",
             _findings.findings_frame(records).to_csv(index=False))
    contents = "\n".join(f"- [{titles[name]}](#{name}) ({counts[name]} finding"
                         f"{'' if counts[name] == 1 else 's'})" for name in present)
    claims = "\n".join(f'- <a id="claim-{c.number}"></a>**{c.number}. {c.title}.** {c.text}'
                       for c in CLAIMS)
    text = (
        "# asmm_env results\n\n"
        "Monte Carlo results of the Avellaneda–Stoikov market-making experiments. Every number "
        "comes from the simulations in this directory; intervals are 95% confidence intervals "
        "over independent paths. Each section ends with the seed and path counts it ran with "
        "and the configuration file (under [config/](config/)) and command that reproduce it; "
        "[config.yaml](config.yaml) is the configuration of the latest run.\n\n"
        "## Executive summary\n\n"
        "One row per claim this package is built to test ([full texts](#claims)). A claim "
        "tested by several findings shows the finding that decides its verdict (the worst "
        "one); every finding is in [tables/findings.csv](tables/findings.csv).\n\n"
        + _findings.summary_table(records, titles) + "\n\n"
        + _findings.verdict_legend() + "\n\n"
        "## Contents\n\n" + (contents or "*No experiment has been run yet.*") + "\n"
        "- [Claims](#claims)\n\n"
        + "\n\n".join(sections[name] for name in present) + "\n\n"
        '<a id="claims"></a>\n\n## Claims\n\n' + claims + "\n"
    )
    _replace(out / "REPORT.md", text)
    _replace(out / "config.yaml", config.dump())


def _section_title(text: str, default: str) -> str:
    for line in text.splitlines():
        if line.startswith("## "):
            return line[3:].strip()
    return default


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
