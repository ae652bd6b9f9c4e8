"""Regime sweep: where the Avellaneda–Stoikov strategy works, degrades and breaks, and what the
standard fixes do to the same cells.

What is swept (around the configured market, the AS 2008 setup by default):

* a grid over the volatility sigma and the arrival rate A, both log-spaced multiples of the
  market's values (``sigma_multipliers`` x ``A_multipliers``), wide enough to reach the
  failure regions (high sigma, low A);
* one-dimensional sweeps of the intensity decay k, the risk aversion gamma, the two kinds of
  informed flow (``toxicity``: the flow knows the next step's move; ``impact``: every fill
  moves the mid permanently against the maker by ``impact`` per share) and the jump intensity
  (compound Poisson jumps of std ``jump_std``).

In every cell the AS strategy (risk aversion ``gamma``) and the standard fixes are rolled out
on ``paths`` Monte Carlo paths each (``asmm_env.rollout``):

* **position limits**: the same AS quotes with hard inventory bounds ``|q| <= position_limit``
  enforced by the market (no bid at +Q, no ask at -Q); when ``baselines.GLFTPolicy`` is
  importable, also the GLFT (2013) optimal quotes for that bound;
* **a wider spread**: the AS formula at the higher risk aversion ``wide_gamma`` (wider and
  more skewed quotes) and, in the toxicity sweep, AS with each depth widened by the expected
  adverse move per fill ``toxicity * sigma * sqrt(2 dt / pi)`` (the informed flow knows the
  next step's move; for fills proportional to the rate that is exactly the mean move against
  a fill), and in the impact sweep AS with each depth widened by the impact (Glosten–Milgrom:
  the maker who knows that a fill moves the mid by ``impact`` quotes around the post-trade
  mid, so it still earns the AS half-spread after the move; Glosten & Milgrom 1985, J. Financ.
  Econ. 14(1) 71-100).

Seeds and common random numbers. A cell's seed is ``ctx.seed_for(sweep_id, i, j)``: a function
of the cell's position in its sweep only, never of the worker or of the order in which cells
run, so results are identical for any ``--workers`` and for ``--executor dask``. What is common:
every strategy at a cell uses that same seed, so the strategies see the same mid increments
and the same fill uniforms (exactly, until the inventory bound or the quotes make their fills
differ), and the fixes' effects are *paired* differences on identical paths (the "change in PnL
vs AS" columns, with CIs from the paired differences, much narrower than those of two
independent runs). Cells at different positions use independent seeds, so every cell's CI is
an honest, independent estimate. (With jumps on, numpy's Poisson sampler consumes a number of
uniforms that depends on the intensity, so the streams of different jump intensities diverge;
they are seeded per position all the same.)

Metrics per cell and strategy (per-path quantities from ``rollout``; money in price units x
shares, per session of length T):

* ``pnl_mean`` with its 95% CI, ``pnl_std``, ``sharpe`` = mean / std of the terminal PnL across
  paths (per session, no annualisation) and its standard error ``sqrt((1 + S^2 / 2) / n)``;
* ``inv_std`` (std of the terminal inventory), ``max_abs_q_mean`` (mean over paths of the
  largest |q| reached), ``inventory_ratio`` = ``inv_std / sqrt(fills_mean)`` (1 is a random
  walk of the fills, no inventory control);
* ``fills_mean`` per path;
* ``adverse_share`` = ``-mean(adverse_selection) / mean(spread_capture)``: the fraction of the
  spread earned that the mid move over the ``adverse_selection_steps`` after the fills takes
  back (0 for uninformed flow, in expectation; 1 means adverse selection eats the whole spread),
  with a delta-method standard error;
* ``inventory_risk_share`` = ``var(inventory_pnl) / (var(inventory_pnl) + var(spread_capture))``:
  how much of the PnL's randomness comes from holding inventory rather than from the fills;
* ``p_loss`` = P(terminal PnL < 0) with its Wilson 95% interval.

Classification: :func:`classify` (criteria in :class:`Criteria`, thresholds in the config).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from asmm_env.analytic import average_spread, optimal_spread
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy
from baselines.policy import DepthPolicy
from experiments.stats import Z95, mean_ci, proportion_ci, sharpe

TITLE = "Regime sweep: where Avellaneda–Stoikov works, degrades and breaks"

WORKS, DEGRADED, BREAKS = "works", "degraded", "breaks"
LABELS = (WORKS, DEGRADED, BREAKS)
LABEL_COLORS = {WORKS: "#4daf4a", DEGRADED: "#ffbf00", BREAKS: "#e41a1c"}

# Sweep ids: the first key of every cell seed (never renumber: it would change the results).
GRID, K_SWEEP, GAMMA_SWEEP, TOXICITY_SWEEP, JUMP_SWEEP, IMPACT_SWEEP = 1, 2, 3, 4, 5, 6
SWEEPS_1D = ("k", "gamma", "toxicity", "impact", "jump_intensity")
_SWEEP_IDS = {"grid": GRID, "k": K_SWEEP, "gamma": GAMMA_SWEEP, "toxicity": TOXICITY_SWEEP,
              "jump_intensity": JUMP_SWEEP, "impact": IMPACT_SWEEP}


# --- classification ----------------------------------------------------------------------

@dataclass(frozen=True)
class Criteria:
    """Thresholds of :func:`classify` (Sharpe per session, probabilities in [0, 1]).

    A cell **breaks** when any of these holds:

    * the Sharpe ratio is undefined (no PnL variance: the strategy did not trade) or below
      ``breaks_sharpe`` (0.5: under normality a loss in about 31% of sessions);
    * the probability of a loss is ``>= breaks_loss_probability``;
    * the mean PnL is significantly negative (the upper end of its 95% CI is below 0);
    * fewer than ``min_fills`` fills per path on average (no market is being made).

    Otherwise it **works** when all of these hold:

    * Sharpe ``>= works_sharpe`` (2: under normality a loss in about 2% of sessions);
    * probability of a loss ``<= works_loss_probability`` (measured, so fat tails count);
    * the PnL risk comes from making markets, not from holding inventory:
      ``inventory_risk_share = var(inventory PnL) / (var(inventory PnL) + var(spread
      capture)) <= works_inventory_risk_share``.

    Every other cell is **degraded**.

    Why the inventory share and not ``std(q_T) / sqrt(fills)`` (reported as
    ``inventory_ratio``; a random walk of the fills has ratio 1): at low sigma AS barely
    skews its quotes (the skew is ``q gamma sigma^2 (T - t)``), so its inventory wanders like
    a random walk, yet it carries little risk; the ratio would call such cells degraded
    whatever their PnL distribution.
    """

    works_sharpe: float = 2.0
    works_loss_probability: float = 0.05
    works_inventory_risk_share: float = 0.5
    breaks_sharpe: float = 0.5
    breaks_loss_probability: float = 0.30
    min_fills: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.breaks_sharpe) and self.breaks_sharpe > 0):
            raise ValueError(f"breaks_sharpe must be > 0, got {self.breaks_sharpe!r}")
        if not (math.isfinite(self.works_sharpe) and self.works_sharpe >= self.breaks_sharpe):
            raise ValueError(f"works_sharpe must be >= breaks_sharpe = {self.breaks_sharpe!r}, "
                             f"got {self.works_sharpe!r}")
        if not 0.0 < self.breaks_loss_probability <= 1.0:
            raise ValueError("breaks_loss_probability must be in (0, 1], got "
                             f"{self.breaks_loss_probability!r}")
        if not 0.0 <= self.works_loss_probability < self.breaks_loss_probability:
            raise ValueError("works_loss_probability must be in [0, breaks_loss_probability = "
                             f"{self.breaks_loss_probability!r}), got "
                             f"{self.works_loss_probability!r}")
        if not 0.0 < self.works_inventory_risk_share <= 1.0:
            raise ValueError("works_inventory_risk_share must be in (0, 1], got "
                             f"{self.works_inventory_risk_share!r}")
        if not (math.isfinite(self.min_fills) and self.min_fills >= 0):
            raise ValueError(f"min_fills must be >= 0, got {self.min_fills!r}")

    def describe(self) -> str:
        """The criteria in one sentence, for the report."""
        return (f"**breaks** if the Sharpe ratio (mean / std of the session PnL) is undefined "
                f"or < {self.breaks_sharpe:g}, or P(loss) >= {self.breaks_loss_probability:g}, "
                f"or the mean PnL is significantly negative (95% CI below 0), or there are "
                f"fewer than {self.min_fills:g} fills per path; otherwise **works** if Sharpe "
                f">= {self.works_sharpe:g}, P(loss) <= {self.works_loss_probability:g} and "
                f"inventory PnL makes up at most {self.works_inventory_risk_share:g} of the "
                f"PnL variance (var(inventory PnL) / (var(inventory PnL) + var(spread "
                f"capture)): the risk comes from making markets, not from holding a "
                f"position); every other cell is **degraded**")


def failed_criteria(metrics: Mapping[str, float], criteria: Criteria = Criteria()
                    ) -> tuple[str, tuple[str, ...]]:
    """The label of :func:`classify` and the criteria behind it (empty for ``works``).

    ``metrics`` needs ``sharpe``, ``p_loss``, ``pnl_ci_high``, ``fills_mean`` and
    ``inventory_risk_share`` (NaN allowed: an undefined Sharpe breaks; an undefined inventory
    share does not count as small).
    """
    c = criteria
    s, p_loss = float(metrics["sharpe"]), float(metrics["p_loss"])
    fills, share = float(metrics["fills_mean"]), float(metrics["inventory_risk_share"])
    broken = []
    if not math.isfinite(s):
        broken.append("Sharpe undefined (no PnL variance)")
    elif s < c.breaks_sharpe:
        broken.append(f"Sharpe < {c.breaks_sharpe:g}")
    if p_loss >= c.breaks_loss_probability:
        broken.append(f"P(loss) >= {c.breaks_loss_probability:g}")
    if float(metrics["pnl_ci_high"]) < 0:
        broken.append("mean PnL < 0 (95% CI)")
    if fills < c.min_fills:
        broken.append(f"fills < {c.min_fills:g}")
    if broken:
        return BREAKS, tuple(broken)
    short = []
    if s < c.works_sharpe:
        short.append(f"Sharpe < {c.works_sharpe:g}")
    if p_loss > c.works_loss_probability:
        short.append(f"P(loss) > {c.works_loss_probability:g}")
    if not share <= c.works_inventory_risk_share:      # NaN: not shown to be small
        short.append(f"inventory share of PnL variance > {c.works_inventory_risk_share:g}")
    return (DEGRADED, tuple(short)) if short else (WORKS, ())


def classify(metrics: Mapping[str, float], criteria: Criteria = Criteria()) -> str:
    """``"works"``, ``"degraded"`` or ``"breaks"`` for a cell's metrics (see :class:`Criteria`).

    A pure function of ``metrics["sharpe"]``, ``["p_loss"]``, ``["pnl_ci_high"]``,
    ``["fills_mean"]`` and ``["inventory_risk_share"]``; the thresholds are inclusive as written in
    :class:`Criteria` (Sharpe exactly ``works_sharpe`` works, exactly ``breaks_sharpe`` does
    not break; P(loss) exactly ``works_loss_probability`` works, exactly
    ``breaks_loss_probability`` breaks; an inventory share exactly
    ``works_inventory_risk_share`` works; ``min_fills`` fills exactly do not break).
    """
    return failed_criteria(metrics, criteria)[0]


# --- metrics -----------------------------------------------------------------------------

def cell_metrics(paths: pd.DataFrame) -> dict[str, float]:
    """The sweep's metrics from a rollout's per-path DataFrame (one agent); see the module
    docstring for the definitions. Undefined ratios (zero denominators) are NaN."""
    n = len(paths)
    pnl = paths["terminal_pnl"].to_numpy(float)
    fills = paths["fills"].to_numpy(float)
    spread = paths["spread_capture"].to_numpy(float)
    adverse = paths["adverse_selection"].to_numpy(float)
    inv_pnl = paths["inventory_pnl"].to_numpy(float)
    q_T = paths["terminal_inventory"].to_numpy(float)
    summary = mean_ci(pnl)
    s = sharpe(pnl)
    losses = proportion_ci(int(np.count_nonzero(pnl < 0)), n)
    fills_mean = float(fills.mean())
    inv_std = float(q_T.std(ddof=1)) if n > 1 else math.nan
    spread_mean, adverse_mean = float(spread.mean()), float(adverse.mean())
    if spread_mean > 0 and n > 1:
        share = -adverse_mean / spread_mean
        # Delta method for a ratio of means: var(a + share * b) / (n mean(b)^2).
        share_se = float(np.std(adverse + share * spread, ddof=1) / (np.sqrt(n) * spread_mean))
    else:
        share, share_se = math.nan, math.nan
    var_inv = float(inv_pnl.var(ddof=1)) if n > 1 else math.nan
    var_spread = float(spread.var(ddof=1)) if n > 1 else math.nan
    risk_total = var_inv + var_spread
    return {
        "n_paths": n,
        "pnl_mean": summary["mean"], "pnl_ci_low": summary["ci_low"],
        "pnl_ci_high": summary["ci_high"], "pnl_std": summary["std"],
        "sharpe": s,
        "sharpe_se": math.sqrt((1 + 0.5 * s**2) / n) if math.isfinite(s) else math.nan,
        "p_loss": losses["p"], "p_loss_ci_low": losses["ci_low"],
        "p_loss_ci_high": losses["ci_high"],
        "fills_mean": fills_mean,
        "inv_std": inv_std,
        "inventory_ratio": inv_std / math.sqrt(fills_mean) if fills_mean > 0 else math.nan,
        "max_abs_q_mean": float(paths["max_abs_inventory"].mean()),
        "spread_capture_mean": spread_mean,
        "inventory_pnl_mean": float(inv_pnl.mean()),
        "adverse_selection_mean": adverse_mean,
        "spread_per_fill": spread_mean / fills_mean if fills_mean > 0 else math.nan,
        "adverse_per_fill": adverse_mean / fills_mean if fills_mean > 0 else math.nan,
        "adverse_share": share, "adverse_share_se": share_se,
        "inventory_risk_share": var_inv / risk_total if risk_total > 0 else math.nan,
    }


# --- strategies ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Strategy:
    """One quoting strategy of a cell: ``kind`` "as" (AS closed form, each depth widened by
    ``widen`` price units) or "glft" (``baselines.GLFTPolicy``); ``limit`` the inventory bound
    Q enforced by the market (None: unbounded)."""

    name: str
    kind: str
    gamma: float
    limit: float | None = None
    widen: float = 0.0


class WidenedPolicy(DepthPolicy):
    """Another depth policy's quotes, each moved ``widen`` price units further from the mid."""

    def __init__(self, inner: DepthPolicy, widen: float) -> None:
        self.inner, self.widen, self.depth_bound = inner, float(widen), inner.depth_bound

    def depths(self, observation: np.ndarray):
        bid, ask = self.inner.depths(observation)
        return bid + self.widen, ask + self.widen

    def __repr__(self) -> str:
        return f"WidenedPolicy({self.inner!r}, widen={self.widen:.4g})"


def glft_available() -> bool:
    """Whether ``baselines.GLFTPolicy`` (the exact bounded-inventory quotes) is importable."""
    try:
        from baselines import GLFTPolicy  # noqa: F401
    except ImportError:
        return False
    return True


def _glft_policy(params: MarketParams, gamma: float):
    from baselines import GLFTPolicy

    return GLFTPolicy.from_env(params, gamma=gamma)     # Q: the market's max_inventory


def make_policy(strategy: Strategy, params: MarketParams):
    """The policy of ``strategy`` for the market ``params`` (with its inventory bound set)."""
    if strategy.kind == "glft":
        return _glft_policy(params, strategy.gamma)
    if strategy.kind != "as":
        raise ValueError(f"strategy kind must be 'as' or 'glft', got {strategy.kind!r}")
    policy = AvellanedaStoikovPolicy.from_env(params, gamma=strategy.gamma)
    return WidenedPolicy(policy, strategy.widen) if strategy.widen else policy


def expected_step_move(params: MarketParams) -> float:
    """``E|dS|`` of one step of the diffusion, price units: ``sigma sqrt(2 dt / pi)`` for
    Gaussian steps, ``sigma sqrt(dt)`` for the binomial walk, ``s0 sigma sqrt(2 dt / pi)`` for
    GBM at the initial price (drift and jumps ignored)."""
    if params.price_dynamics == "binomial":
        return params.sigma * math.sqrt(params.dt)
    scale = params.s0 if params.price_dynamics == "gbm" else 1.0
    return scale * params.sigma * math.sqrt(2.0 * params.dt / math.pi)


# --- cells ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One position of one sweep: its market, its strategies (the first is the reference AS
    strategy the others are compared with), its seed and size. Picklable: shipped to workers."""

    sweep: str
    i: int
    j: int
    value: float          # the swept value (grid: sigma multiplier)
    value2: float         # grid: A multiplier; NaN for the 1-D sweeps
    params: MarketParams
    strategies: tuple[Strategy, ...]
    seed: int
    n_paths: int
    chunk_size: int


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """Roll out every strategy of ``cell`` on the cell's seed; one row of metrics each, with
    the paired PnL difference to the first strategy (same seed: same mid increments and fill
    uniforms)."""
    rows, reference = [], None
    for strategy in cell.strategies:
        params = (cell.params if strategy.limit is None
                  else cell.params.replace(max_inventory=float(strategy.limit)))
        paths = rollout(make_policy(strategy, params), params, n_paths=cell.n_paths,
                        seed=cell.seed, chunk_size=cell.chunk_size).paths
        pnl = paths["terminal_pnl"].to_numpy(float)
        reference = pnl if reference is None else reference
        delta = mean_ci(pnl - reference)
        rows.append({
            "sweep": cell.sweep, "i": cell.i, "j": cell.j, "value": cell.value,
            "value2": cell.value2, "sigma": params.sigma, "A": params.A, "k": params.k,
            "gamma": strategy.gamma, "toxicity": params.toxicity, "impact": params.impact,
            "jump_intensity": params.jump_intensity, "strategy": strategy.name,
            "seed": cell.seed, **cell_metrics(paths),
            "delta_pnl_mean": delta["mean"], "delta_pnl_ci_low": delta["ci_low"],
            "delta_pnl_ci_high": delta["ci_high"],
        })
    return rows


# --- settings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The ``experiments.regime_sweep`` section of the configuration.

    Multipliers scale the market's sigma, A and k; ``gammas`` are absolute risk aversions
    (1 / money); ``toxicities`` in [0, 1]; ``impacts`` the permanent impact per share filled,
    price units (>= 0); ``jump_intensities`` per unit time with jumps of
    std ``jump_std`` price units; ``position_limit`` is Q in shares; ``wide_gamma`` the risk
    aversion of the wider-spread fix. The remaining fields are the :class:`Criteria`.
    """

    market: str = "as2008"
    paths: int = 5000
    chunk_size: int = 50_000
    gamma: float = 0.1
    sigma_multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    A_multipliers: tuple[float, ...] = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0,
                                        2.0, 4.0)
    k_multipliers: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    gammas: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    toxicities: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    impacts: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0, 2.4)
    jump_intensities: tuple[float, ...] = (0.0, 1.0, 4.0, 16.0, 64.0, 256.0)
    jump_std: float = 1.0
    position_limit: float = 5.0
    wide_gamma: float = 1.0
    works_sharpe: float = 2.0
    works_loss_probability: float = 0.05
    works_inventory_risk_share: float = 0.5
    breaks_sharpe: float = 0.5
    breaks_loss_probability: float = 0.30
    min_fills: float = 1.0

    def __post_init__(self) -> None:
        for name in ("paths", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("gamma", "jump_std", "position_limit", "wide_gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if self.position_limit != round(self.position_limit):
            # GLFT's inventory grid is -Q..Q in whole orders.
            raise ValueError(f"position_limit must be a whole number of shares >= 1, got "
                             f"{self.position_limit!r}")
        for name, low, high in (("sigma_multipliers", 0.0, math.inf),
                                ("A_multipliers", 0.0, math.inf),
                                ("k_multipliers", 0.0, math.inf), ("gammas", 0.0, math.inf),
                                ("toxicities", None, 1.0), ("impacts", None, math.inf),
                                ("jump_intensities", None, math.inf)):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} must list at least one value, got {values!r}")
            for v in values:
                ok = math.isfinite(v) and (v > low if low is not None else v >= 0) and v <= high
                if not ok:
                    allowed = (f"> {low:g}" if low is not None else ">= 0") + (
                        f" and <= {high:g}" if math.isfinite(high) else "")
                    raise ValueError(f"{name} values must be {allowed}, got {v!r}")
            if list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be strictly increasing, got {list(values)}")
        self.criteria()          # validates the thresholds, naming the field

    def criteria(self) -> Criteria:
        return Criteria(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Criteria)})


def _strategies(settings: Settings, sweep: str, gamma: float, params: MarketParams,
                with_glft: bool) -> tuple[Strategy, ...]:
    Q = settings.position_limit
    out = [Strategy("AS", "as", gamma), Strategy(f"AS + limit |q| <= {Q:g}", "as", gamma, Q)]
    if sweep != "gamma":
        out.append(Strategy(f"AS wide (gamma {settings.wide_gamma:g})", "as",
                            settings.wide_gamma))
    if sweep == "toxicity":
        out.append(Strategy("AS + toxicity widening", "as", gamma,
                            widen=params.toxicity * expected_step_move(params)))
    if sweep == "impact":
        out.append(Strategy("AS + impact widening", "as", gamma, widen=params.impact))
    if with_glft:
        out.append(Strategy(f"GLFT |q| <= {Q:g}", "glft", gamma, Q))
    return tuple(out)


def build_cells(settings: Settings, base: MarketParams, seed_for, n_paths: int,
                with_glft: bool) -> list[Cell]:
    """Every cell of the grid and the 1-D sweeps, each seeded by its position only."""
    cells = []

    def add(sweep, i, j, value, value2, params, gamma):
        cells.append(Cell(sweep, i, j, float(value), float(value2), params,
                          _strategies(settings, sweep, gamma, params, with_glft),
                          seed_for(_SWEEP_IDS[sweep], i, j), n_paths, settings.chunk_size))

    for i, ms in enumerate(settings.sigma_multipliers):
        for j, ma in enumerate(settings.A_multipliers):
            add("grid", i, j, ms, ma, base.replace(sigma=base.sigma * ms, A=base.A * ma),
                settings.gamma)
    for i, m in enumerate(settings.k_multipliers):
        add("k", i, 0, m, math.nan, base.replace(k=base.k * m), settings.gamma)
    for i, g in enumerate(settings.gammas):
        add("gamma", i, 0, g, math.nan, base, g)
    for i, tox in enumerate(settings.toxicities):
        add("toxicity", i, 0, tox, math.nan, base.replace(toxicity=tox), settings.gamma)
    for i, impact in enumerate(settings.impacts):
        add("impact", i, 0, impact, math.nan, base.replace(impact=impact), settings.gamma)
    for i, lam in enumerate(settings.jump_intensities):
        add("jump_intensity", i, 0, lam, math.nan,
            base.replace(jump_intensity=lam, jump_std=settings.jump_std), settings.gamma)
    return cells


# --- run -----------------------------------------------------------------------------------

def run(ctx, settings: Settings) -> None:
    base = ctx.market(settings.market)
    criteria = settings.criteria()
    with_glft = glft_available()
    n_paths = ctx.paths(settings.paths)
    cells = build_cells(settings, base, ctx.seed_for, n_paths, with_glft)
    rows = [row for cell_rows in ctx.map(run_cell, cells, desc="cells") for row in cell_rows]
    results = pd.DataFrame(rows)
    verdicts = [failed_criteria(row, criteria) for row in results.to_dict("records")]
    results["label"] = [label for label, _ in verdicts]
    results["why"] = ["; ".join(why) for _, why in verdicts]

    grid = results[results["sweep"] == "grid"].reset_index(drop=True)
    sweeps = results[results["sweep"] != "grid"].reset_index(drop=True)
    strategies = list(dict.fromkeys(grid["strategy"]))
    ref_i = _nearest(settings.sigma_multipliers, 1.0)
    ref_j = _nearest(settings.A_multipliers, 1.0)

    ctx.paragraph(
        f"Where does the AS strategy (gamma = {settings.gamma:g}) stop making money on the "
        f"`{settings.market}` market (sigma = {base.sigma:g}, A = {base.A:g}, k = {base.k:g}, "
        f"T = {base.T:g}, dt = {base.dt:g})? Grid of {len(settings.sigma_multipliers)} "
        f"volatilities x {len(settings.A_multipliers)} arrival rates (sigma x "
        f"{_fmt(settings.sigma_multipliers[0])} to x{_fmt(settings.sigma_multipliers[-1])}, "
        f"A x{_fmt(settings.A_multipliers[0])} to x{_fmt(settings.A_multipliers[-1])}) and "
        f"one-dimensional sweeps of k, gamma, toxicity, permanent impact (price units per "
        f"share filled) and jump intensity (jump std {settings.jump_std:g}); {n_paths} paths "
        f"per cell and strategy. Fixes rolled out on the same paths (same seed per cell): "
        f"{', '.join(strategies[1:])}"
        + ("" if with_glft else " (GLFT quotes: `baselines.GLFTPolicy` was not available, so "
           "the bounded-inventory fix is AS + the market's position limit only)")
        + "; in the toxicity and impact sweeps also AS with each depth widened by the expected "
        "adverse move (toxicity widening) or by the impact (impact widening). A cell's seed "
        "depends only on its position in its sweep; every strategy at a cell "
        "uses the same seed, so the fixes' changes in PnL are paired differences on identical "
        "mid increments and fill draws.", title="Setup")
    ctx.paragraph(criteria.describe() + ". The thresholds live in the config "
                  "(`experiments.regime_sweep`). " + _ratio_note(grid, criteria),
                  title="Classification")

    _grid_outputs(ctx, grid, strategies, settings, base)
    _boundary_tables(ctx, grid, strategies, settings, base)
    _sweep_outputs(ctx, sweeps, settings, base)
    _failure_modes(ctx, grid, sweeps, settings, base, ref_i, ref_j, with_glft)


def _ratio_note(grid: pd.DataFrame, criteria: Criteria) -> str:
    """Why the inventory criterion is the variance share, with the grid's own example."""
    a = grid[(grid["strategy"] == "AS") & (grid["label"] == WORKS)]
    text = ("The inventory ratio std(q_T) / sqrt(fills per path) (1 for a random walk of the "
            "fills) is reported in the tables but not used")
    if len(a) and a["inventory_ratio"].notna().any():
        row = a.loc[a["inventory_ratio"].idxmax()]
        return (text + f": among the cells where AS works it reaches "
                f"{row['inventory_ratio']:.2f} (sigma = {row['sigma']:.3g}, A = "
                f"{row['A']:.3g}; the skew q gamma sigma^2 (T - t) is small there) while "
                f"inventory makes up {row['inventory_risk_share']:.2f} of the PnL variance and "
                f"Sharpe is {row['sharpe']:.3g}.")
    return text + "."


def _nearest(values: Sequence[float], target: float) -> int:
    return int(np.argmin([abs(math.log(v / target)) if v > 0 else math.inf for v in values]))


def _fmt(x: float) -> str:
    if x > 0 and x < 1 and abs(1 / x - round(1 / x)) < 1e-9:
        return f"1/{round(1 / x)}"
    return f"{x:g}"


def _ci(mean: float, low: float, high: float) -> str:
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


# --- grid: heatmaps and tables -------------------------------------------------------------

def _pivot(grid: pd.DataFrame, strategy: str, column: str) -> np.ndarray:
    sub = grid[grid["strategy"] == strategy]
    return sub.pivot(index="i", columns="j", values=column).sort_index().to_numpy()


def _draw_region_borders(ax, labels: np.ndarray) -> None:
    """Black lines on the cell edges between different labels (imshow cell coordinates)."""
    n_i, n_j = labels.shape
    for i in range(n_i):
        for j in range(n_j):
            if j + 1 < n_j and labels[i, j] != labels[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], color="black", lw=2)
            if i + 1 < n_i and labels[i, j] != labels[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], color="black", lw=2)


def _grid_axes(ax, settings: Settings, base: MarketParams) -> None:
    ax.set_xticks(range(len(settings.A_multipliers)))
    ax.set_xticklabels([f"{base.A * m:.3g}" for m in settings.A_multipliers], rotation=45)
    ax.set_yticks(range(len(settings.sigma_multipliers)))
    ax.set_yticklabels([f"{base.sigma * m:.3g}" for m in settings.sigma_multipliers])
    ax.set_xlabel("arrival rate A (orders / time)")
    ax.set_ylabel("volatility sigma (price / sqrt(time))")


def _grid_outputs(ctx, grid, strategies, settings, base) -> None:
    code = {WORKS: 0, DEGRADED: 1, BREAKS: 2}
    cmap = plt.matplotlib.colors.ListedColormap([LABEL_COLORS[x] for x in LABELS])
    n = len(strategies)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2), squeeze=False, sharey=True)
    for ax, strategy in zip(axes[0], strategies, strict=True):
        labels = _pivot(grid, strategy, "label")
        values = np.vectorize(code.get)(labels)
        ax.imshow(values, cmap=cmap, vmin=-0.5, vmax=2.5, origin="lower", aspect="auto")
        sharpes = _pivot(grid, strategy, "sharpe")
        for (i, j), s in np.ndenumerate(sharpes):
            ax.text(j, i, "-" if not np.isfinite(s) else f"{s:.2g}", ha="center",
                    va="center", fontsize=6)
        _draw_region_borders(ax, labels)
        _grid_axes(ax, settings, base)
        ax.set_title(strategy, fontsize=9)
    fig.legend(handles=[Patch(color=LABEL_COLORS[x], label=x) for x in LABELS],
               loc="upper center", ncol=3, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Regions over (sigma, A); numbers: Sharpe (mean / std of session PnL)")
    counts = {s: grid[grid["strategy"] == s]["label"].value_counts() for s in strategies}
    only_inventory = {s: int(((grid["strategy"] == s) & (grid["label"] == DEGRADED)
                              & grid["why"].str.startswith("inventory share")
                              & ~grid["why"].str.contains(";")).sum()) for s in strategies}
    ctx.figure(fig, "regime_sweep_regions", "Works / degraded / breaks over volatility and "
               "arrival rate, per strategy",
               "Each cell is classified by the criteria above from its own Monte Carlo; black "
               "lines separate regions. Counts over the grid: " + "; ".join(
                   f"{s}: " + ", ".join(f"{int(counts[s].get(x, 0))} {x}" for x in LABELS)
                   + f" ({only_inventory[s]} of the degraded only because inventory dominates "
                   f"the PnL variance)" for s in strategies) + ".")

    panels = [("sharpe", "Sharpe", "viridis"), ("p_loss", "P(loss)", "magma_r"),
              ("fills_mean", "fills per path (log10)", "cividis"),
              ("inventory_risk_share", "inventory share of PnL variance", "coolwarm")]
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.5))
    labels = _pivot(grid, "AS", "label")
    for ax, (column, title, cm) in zip(axes.ravel(), panels, strict=True):
        values = _pivot(grid, "AS", column).astype(float)
        shown = np.log10(np.maximum(values, 1e-2)) if column == "fills_mean" else values
        image = ax.imshow(shown, cmap=cm, origin="lower", aspect="auto")
        fig.colorbar(image, ax=ax, shrink=0.8)
        _draw_region_borders(ax, labels)
        _grid_axes(ax, settings, base)
        ax.set_title(f"AS: {title}", fontsize=10)
    fig.tight_layout()
    as_grid = grid[grid["strategy"] == "AS"]
    worst = as_grid.loc[as_grid["inventory_risk_share"].idxmax()]
    ctx.figure(fig, "regime_sweep_metrics", "AS metrics over the grid, region borders drawn",
               f"Sharpe across the grid ranges from {as_grid['sharpe'].min():.3g} to "
               f"{as_grid['sharpe'].max():.3g}, fills per path from "
               f"{as_grid['fills_mean'].min():.3g} to {as_grid['fills_mean'].max():.3g}; the "
               f"inventory share of the PnL variance is largest "
               f"({worst['inventory_risk_share']:.2f}) at sigma = {worst['sigma']:.3g}, "
               f"A = {worst['A']:.3g}.")

    table = grid[["sigma", "A", "strategy", "label", "why", "sharpe", "sharpe_se", "pnl_mean",
                  "pnl_ci_low", "pnl_ci_high", "pnl_std", "p_loss", "p_loss_ci_low",
                  "p_loss_ci_high", "fills_mean", "inv_std", "inventory_ratio",
                  "max_abs_q_mean", "adverse_share", "adverse_share_se",
                  "inventory_risk_share", "delta_pnl_mean", "delta_pnl_ci_low",
                  "delta_pnl_ci_high", "seed", "n_paths"]]
    display = as_grid.pivot(index="sigma", columns="A", values="label").copy()
    sharpes = as_grid.pivot(index="sigma", columns="A", values="sharpe")
    display = display.apply(lambda col: [f"{lab[0].upper()} {s:.2g}" for lab, s in
                                         zip(col, sharpes[col.name], strict=True)])
    display.columns = [f"A={a:.3g}" for a in display.columns]
    display.insert(0, "sigma", [f"{s:.3g}" for s in display.index])
    ctx.table(table, "regime_sweep_grid", "The (sigma, A) grid: every cell and strategy",
              "Markdown: the AS strategy, W/D/B = works / degraded / breaks and the cell's "
              "Sharpe. The CSV has every strategy with all metrics, the criteria that decided "
              "the label (`why`), the paired PnL change against AS with its 95% CI, and the "
              "cell seed.", display=display.reset_index(drop=True))


def _works_from(labels: Sequence[str], good: set[str]) -> int | None:
    """Smallest index from which every label (to the end) is in ``good``; None if the last
    one is not."""
    first = None
    for idx in range(len(labels) - 1, -1, -1):
        if labels[idx] in good:
            first = idx
        else:
            break
    return first


def _works_up_to(labels: Sequence[str], good: set[str]) -> int | None:
    """Largest index up to which every label (from the start) is in ``good``; None if the
    first one is not."""
    last = None
    for idx, label in enumerate(labels):
        if label not in good:
            break
        last = idx
    return last


def _boundary_tables(ctx, grid, strategies, settings, base) -> None:
    rows, display = [], []
    for i, ms in enumerate(settings.sigma_multipliers):
        row = {"sigma": base.sigma * ms}
        shown = {"sigma": f"{base.sigma * ms:.3g}"}
        for strategy in strategies:
            sub = grid[(grid["strategy"] == strategy) & (grid["i"] == i)].sort_values("j")
            labels = list(sub["label"])
            for key, good in (("works", {WORKS}), ("not broken", {WORKS, DEGRADED})):
                idx = _works_from(labels, good)
                value = base.A * settings.A_multipliers[idx] if idx is not None else math.nan
                row[f"{strategy}: {key} from A"] = value
                shown[f"{strategy}: {key} from A"] = "never" if idx is None else f"{value:.3g}"
        rows.append(row)
        display.append(shown)
    as_works = [r["AS: works from A"] for r in rows]
    ctx.table(pd.DataFrame(rows), "regime_sweep_boundary",
              "Boundary over A: for each sigma, the smallest arrival rate from which the "
              "strategy works (and is not broken) at that and every larger A of the grid",
              "For AS, the smallest working A by sigma: " + ", ".join(
                  f"sigma {r['sigma']:.3g}: " + ("never" if math.isnan(a) else f"A >= {a:.3g}")
                  for r, a in zip(rows, as_works, strict=True)) + ". 'never': the strategy does "
              "not work even at the largest A of the grid.", display=pd.DataFrame(display))

    rows, display = [], []
    for j, ma in enumerate(settings.A_multipliers):
        row = {"A": base.A * ma}
        shown = {"A": f"{base.A * ma:.3g}"}
        for strategy in strategies:
            sub = grid[(grid["strategy"] == strategy) & (grid["j"] == j)].sort_values("i")
            labels = list(sub["label"])
            for key, good in (("works", {WORKS}), ("not broken", {WORKS, DEGRADED})):
                idx = _works_up_to(labels, good)
                value = base.sigma * settings.sigma_multipliers[idx] if idx is not None \
                    else math.nan
                row[f"{strategy}: {key} up to sigma"] = value
                shown[f"{strategy}: {key} up to sigma"] = ("never" if idx is None
                                                           else f"{value:.3g}")
        rows.append(row)
        display.append(shown)
    ctx.table(pd.DataFrame(rows), "regime_sweep_boundary_sigma",
              "Boundary over sigma: for each A, the largest volatility up to which the strategy "
              "works (and is not broken) at that and every smaller sigma of the grid",
              "'never': the strategy does not work even at the smallest sigma of the grid.",
              display=pd.DataFrame(display))


# --- one-dimensional sweeps -----------------------------------------------------------------

_SWEEP_AXES = {"k": "intensity decay k (1 / price)", "gamma": "risk aversion gamma (1 / money)",
               "toxicity": "toxicity (informed-flow strength)",
               "impact": "permanent impact (price units / share filled)",
               "jump_intensity": "jump intensity (jumps / time)"}


def _sweep_x(sweeps: pd.DataFrame) -> np.ndarray:
    """The swept parameter's own value per row (k absolute, the others as configured)."""
    return np.where(sweeps["sweep"] == "k", sweeps["k"], sweeps["value"])


def _sweep_outputs(ctx, sweeps, settings, base) -> None:
    sweeps = sweeps.assign(x=_sweep_x(sweeps))
    fig, axes = plt.subplots(2, 3, figsize=(16, 8))
    styles = ["-", "--", ":", "-.", (0, (5, 1))]
    for ax in axes.ravel()[len(SWEEPS_1D):]:
        ax.set_axis_off()
    for ax, sweep in zip(axes.ravel(), SWEEPS_1D, strict=False):
        sub = sweeps[sweeps["sweep"] == sweep]
        for n, strategy in enumerate(dict.fromkeys(sub["strategy"])):
            rows = sub[sub["strategy"] == strategy].sort_values("x")
            ax.errorbar(rows["x"], rows["sharpe"], yerr=Z95 * rows["sharpe_se"],
                        linestyle=styles[n % len(styles)], color="0.35", lw=1, capsize=2,
                        label=strategy, zorder=1)
            ax.scatter(rows["x"], rows["sharpe"], c=[LABEL_COLORS[x] for x in rows["label"]],
                       edgecolors="black", s=30, zorder=2)
        if sweep in ("k", "gamma"):
            ax.set_xscale("log")
        elif sweep == "jump_intensity":
            ax.set_xscale("symlog", linthresh=max(min(v for v in settings.jump_intensities
                                                      if v > 0) if any(
                settings.jump_intensities) else 1.0, 1e-3))
        ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(settings.works_sharpe, color=LABEL_COLORS[WORKS], lw=0.8)
        ax.axhline(settings.breaks_sharpe, color=LABEL_COLORS[BREAKS], lw=0.8)
        ax.set_xlabel(_SWEEP_AXES[sweep])
        ax.set_ylabel("Sharpe (95% CI)")
        ax.legend(fontsize=7)
    fig.suptitle("One-dimensional sweeps: Sharpe per strategy; marker colour = region")
    fig.tight_layout()
    as_rows = sweeps[sweeps["strategy"] == "AS"]
    ctx.figure(fig, "regime_sweep_1d", "Sharpe along the k, gamma, toxicity, impact and jump "
               "sweeps",
               "Marker colours: green works, amber degraded, red breaks; horizontal lines: the "
               "Sharpe thresholds of the criteria. AS labels: " + "; ".join(
                   f"{sweep}: " + _describe_labels(
                       as_rows[as_rows["sweep"] == sweep].sort_values("x"), "x")
                   for sweep in SWEEPS_1D) + ".")

    tox = sweeps[sweeps["sweep"] == "toxicity"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for strategy in dict.fromkeys(tox["strategy"]):
        rows = tox[tox["strategy"] == strategy].sort_values("x")
        left.errorbar(rows["x"], rows["adverse_share"], yerr=Z95 * rows["adverse_share_se"],
                      marker="o", capsize=2, label=strategy)
    left.axhline(0.0, color="black", lw=0.6)
    left.set_xlabel("toxicity")
    left.set_ylabel("adverse-selection share of the spread")
    left.legend(fontsize=7)
    rows = tox[tox["strategy"] == "AS"].sort_values("x")
    cap = rows["x"] * expected_step_move(base)
    right.plot(rows["x"], rows["spread_per_fill"], "o-", label="spread earned per fill (AS)")
    right.plot(rows["x"], -rows["adverse_per_fill"], "s-", label="adverse move per fill (AS)")
    right.plot(rows["x"], cap, "k--", label="cap: toxicity x E|dS| of one step")
    right.set_xlabel("toxicity")
    right.set_ylabel("price units per fill")
    right.legend(fontsize=7)
    fig.tight_layout()
    last = rows.iloc[-1]
    ctx.figure(fig, "regime_sweep_toxicity", "Toxic flow: how much of the spread adverse "
               "selection takes back",
               f"At toxicity {last['x']:g} AS earns {last['spread_per_fill']:.3g} per fill and "
               f"the mid moves {-last['adverse_per_fill']:.3g} against it in the "
               f"{base.adverse_selection_steps} steps after the fill (adverse share "
               f"{last['adverse_share']:.3g} +/- {Z95 * last['adverse_share_se']:.2g}); the "
               f"informed flow of this model knows only the next step's move, so the adverse "
               f"move per fill cannot exceed toxicity x E|dS| = "
               f"{last['x'] * expected_step_move(base):.3g} (dashed).")

    _impact_figure(ctx, sweeps, settings, base)

    columns = ["sweep", "x", "strategy", "label", "why", "sigma", "A", "k", "gamma",
               "toxicity", "impact", "jump_intensity", "sharpe", "sharpe_se", "pnl_mean",
               "pnl_ci_low", "pnl_ci_high", "pnl_std", "p_loss", "p_loss_ci_low", "p_loss_ci_high",
               "fills_mean", "inv_std", "inventory_ratio", "max_abs_q_mean",
               "spread_per_fill", "adverse_per_fill", "adverse_share", "adverse_share_se",
               "inventory_risk_share", "delta_pnl_mean", "delta_pnl_ci_low",
               "delta_pnl_ci_high", "seed", "n_paths"]
    ctx.table(sweeps[columns], "regime_sweep_1d", "One-dimensional sweeps: every cell and "
              "strategy", "x is the swept value (k, gamma, toxicity, impact or jump intensity); "
              "the CSV has every metric, the criteria behind the label and the cell seed.",
              display=_display(sweeps, "x"))
    _boundary_1d(ctx, sweeps)


def _boundary_1d(ctx, sweeps: pd.DataFrame) -> None:
    """Per 1-D sweep and strategy: where the labels change along the swept value."""
    rows, display = [], []
    for sweep in SWEEPS_1D:
        sub = sweeps[sweeps["sweep"] == sweep]
        for strategy in dict.fromkeys(sub["strategy"]):
            a = sub[sub["strategy"] == strategy].sort_values("x")
            xs, labels = list(a["x"]), list(a["label"])
            up_to = _works_up_to(labels, {WORKS})
            broken_from = _works_from(labels, {BREAKS})
            row = {"sweep": sweep, "strategy": strategy,
                   "works_up_to": xs[up_to] if up_to is not None else math.nan,
                   "breaks_from": xs[broken_from] if broken_from is not None else math.nan,
                   **{f"{label}_at": " ".join(f"{x:.3g}" for x, lab in zip(xs, labels,
                                                                           strict=True)
                                              if lab == label) for label in LABELS}}
            rows.append(row)
            display.append({
                "sweep": sweep, "strategy": strategy,
                **{f"{label} at": row[f"{label}_at"] or "-" for label in LABELS},
                "works up to": "-" if up_to is None else f"{xs[up_to]:.3g}",
                "breaks from": "-" if broken_from is None else f"{xs[broken_from]:.3g}"})
    ctx.table(pd.DataFrame(rows), "regime_sweep_boundary_1d",
              "Boundary along the one-dimensional sweeps, per strategy",
              "'works up to': the largest swept value up to which the strategy works at that "
              "and every smaller value of the sweep; 'breaks from': the smallest value from "
              "which it breaks at that and every larger value ('-': nowhere).",
              display=pd.DataFrame(display))


def _crossing(x: Sequence[float], y: Sequence[float], level: float) -> float:
    """The first ``x`` at which ``y`` (linearly interpolated between the points) reaches
    ``level`` from below; ``x[0]`` if it starts there, NaN if it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(y) and y[0] >= level:
        return float(x[0])
    for n in range(1, len(y)):
        if y[n - 1] < level <= y[n]:
            return float(x[n - 1] + (level - y[n - 1]) * (x[n] - x[n - 1]) / (y[n] - y[n - 1]))
    return math.nan


def as_half_spread(params: MarketParams, gamma: float) -> tuple[float, float]:
    """The AS half-spread at q = 0, price units: ``(1/gamma) ln(1 + gamma/k) + gamma sigma^2
    (T - t) / 2`` at t = 0 and its time average over the session (``asmm_env.analytic``)."""
    kw = dict(gamma=gamma, sigma=params.sigma, k=params.k, T=params.T)
    return float(optimal_spread(0.0, **kw)) / 2, average_spread(**kw) / 2


@dataclass(frozen=True)
class ImpactSummary:
    """What the impact sweep shows for AS (NaN where the sweep does not reach it)."""

    adverse_crosses_spread: float   # impact at which the measured adverse share reaches 1
    pnl_zero: float                 # impact at which the mean PnL reaches 0
    sharpe_breaks: float            # impact at which Sharpe falls to breaks_sharpe
    breaks_from: float              # smallest impact from which every AS cell breaks
    cost_per_fill: float            # (PnL at impact 0 - PnL at I) / (fills x I), median over I
    adverse_per_impact: float       # -adverse per fill / I, median over I > 0


def impact_summary(sweeps: pd.DataFrame, breaks_sharpe: float) -> ImpactSummary:
    """:class:`ImpactSummary` from the impact sweep's rows (``x`` = impact)."""
    a = sweeps[(sweeps["sweep"] == "impact") & (sweeps["strategy"] == "AS")].sort_values("x")
    x = a["x"].to_numpy(float)
    broken_from = _works_from(list(a["label"]), {BREAKS})
    zero = a[a["x"] == 0.0]
    pos = a[a["x"] > 0]
    cost = (((float(zero["pnl_mean"].iloc[0]) - pos["pnl_mean"]) / (pos["fills_mean"] * pos["x"]))
            .median() if len(zero) and len(pos) else math.nan)
    return ImpactSummary(
        adverse_crosses_spread=_crossing(x, a["adverse_share"], 1.0),
        pnl_zero=_crossing(x, -a["pnl_mean"], 0.0),
        sharpe_breaks=_crossing(x, -a["sharpe"], -breaks_sharpe),
        breaks_from=x[broken_from] if broken_from is not None else math.nan,
        cost_per_fill=float(cost),
        adverse_per_impact=float((-pos["adverse_per_fill"] / pos["x"]).median())
        if len(pos) else math.nan)


def _impact_figure(ctx, sweeps, settings, base) -> None:
    imp = sweeps[sweeps["sweep"] == "impact"]
    summary = impact_summary(sweeps, settings.breaks_sharpe)
    a = imp[imp["strategy"] == "AS"].sort_values("x")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    left.plot(a["x"], a["spread_per_fill"], "o-", label="spread earned per fill (AS)")
    left.plot(a["x"], -a["adverse_per_fill"], "s-",
              label=f"adverse move per fill, {base.adverse_selection_steps} steps (AS)")
    zero = a[a["x"] == 0.0]
    if len(zero):
        lost = (float(zero["pnl_mean"].iloc[0]) - a["pnl_mean"]) / a["fills_mean"]
        left.plot(a["x"], lost, "^-", label="PnL lost per fill vs impact 0 (AS)")
    left.plot(a["x"], a["x"], color="0.6", ls="--", lw=0.8, label="impact")
    left.plot(a["x"], a["x"] / 2, color="0.6", ls=":", lw=0.8, label="impact / 2")
    for value, colour, name in ((summary.adverse_crosses_spread, "black", "adverse = spread"),
                                (summary.breaks_from, LABEL_COLORS[BREAKS], "AS breaks from")):
        if math.isfinite(value):
            left.axvline(value, color=colour, lw=1, ls="-.", label=f"{name}: {value:.3g}")
    left.set_xlabel(_SWEEP_AXES["impact"])
    left.set_ylabel("price units per fill")
    left.legend(fontsize=7)
    for strategy in dict.fromkeys(imp["strategy"]):
        rows = imp[imp["strategy"] == strategy].sort_values("x")
        right.errorbar(rows["x"], rows["pnl_mean"],
                       yerr=[rows["pnl_mean"] - rows["pnl_ci_low"],
                             rows["pnl_ci_high"] - rows["pnl_mean"]],
                       lw=1, capsize=2, label=strategy, zorder=1)
        right.scatter(rows["x"], rows["pnl_mean"], c=[LABEL_COLORS[x] for x in rows["label"]],
                      edgecolors="black", s=25, zorder=2)
    right.axhline(0.0, color="black", lw=0.6)
    right.set_xlabel(_SWEEP_AXES["impact"])
    right.set_ylabel("mean session PnL (95% CI); marker colour = region")
    right.legend(fontsize=7)
    fig.tight_layout()
    half0, half_avg = as_half_spread(base, settings.gamma)
    spread = float(a["spread_per_fill"].mean())
    ctx.figure(fig, "regime_sweep_impact", "Permanent impact: adverse selection per fill "
               "against the spread earned per fill",
               f"AS earns {spread:.3g} per fill at every impact (its quotes ignore the impact; "
               f"its AS half-spread at q = 0 is {half0:.3g} at t = 0, {half_avg:.3g} on average "
               f"over the session). The adverse move measured over "
               f"{base.adverse_selection_steps} steps is about {summary.adverse_per_impact:.2f} "
               f"x impact and reaches the spread per fill at impact "
               f"{summary.adverse_crosses_spread:.3g}; the PnL lost to impact is about "
               f"{summary.cost_per_fill:.2f} x impact per fill (a round trip pays the impact "
               f"once: the maker's own opposite fill moves the mid back), so the mean PnL "
               f"reaches 0 at impact {summary.pnl_zero:.3g}. Right: mean PnL per strategy, "
               f"markers coloured by the cell's label.")


def _display(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return pd.DataFrame({
        "sweep": frame["sweep"], key: [f"{v:.3g}" for v in frame[key]],
        "strategy": frame["strategy"], "label": frame["label"],
        "Sharpe": [f"{v:.3g}" for v in frame["sharpe"]],
        "mean PnL [95% CI]": [_ci(m, lo, hi) for m, lo, hi in
                              zip(frame["pnl_mean"], frame["pnl_ci_low"],
                                  frame["pnl_ci_high"], strict=True)],
        "P(loss)": [f"{v:.3f}" for v in frame["p_loss"]],
        "fills": [f"{v:.3g}" for v in frame["fills_mean"]],
        "max abs q": [f"{v:.3g}" for v in frame["max_abs_q_mean"]],
        "adverse share": [f"{v:.3g}" for v in frame["adverse_share"]],
    })


def _describe_labels(rows: pd.DataFrame, key: str) -> str:
    """'works at 0.5, 1; breaks at 8, 16' for rows sorted by ``key``."""
    groups: dict[str, list[str]] = {}
    for value, label in zip(rows[key], rows["label"], strict=True):
        groups.setdefault(label, []).append(f"{value:.3g}")
    return ", ".join(f"{label} at {' / '.join(values)}" for label, values in groups.items())


# --- failure modes and fixes ----------------------------------------------------------------

def _fix_effects(rows: pd.DataFrame, key: str) -> list[str]:
    """One sentence per fix: what it does to the cells of ``rows`` where AS does not work."""
    as_rows = rows[rows["strategy"] == "AS"].set_index(key)
    failing = as_rows.index[as_rows["label"] != WORKS]
    rank = {WORKS: 0, DEGRADED: 1, BREAKS: 2}
    out = []
    for strategy in dict.fromkeys(rows["strategy"]):
        if strategy == "AS":
            continue
        fix = rows[rows["strategy"] == strategy].set_index(key)
        better = sum(rank[fix.at[v, "label"]] < rank[as_rows.at[v, "label"]] for v in fix.index)
        worse = sum(rank[fix.at[v, "label"]] > rank[as_rows.at[v, "label"]] for v in fix.index)
        up = int((fix["delta_pnl_ci_low"] > 0).sum())
        down = int((fix["delta_pnl_ci_high"] < 0).sum())
        if len(failing):
            counts = fix.loc[failing, "label"].value_counts()
            where = (f"on the {len(failing)} cells where AS does not work its labels are "
                     + ", ".join(f"{int(counts.get(x, 0))} {x}" for x in LABELS))
        else:
            where = "AS works in every cell here"
        out.append(
            f"*{strategy}*: {where}; over the {len(fix)} cells it improves the label in {better} "
            f"and worsens it in {worse}, Sharpe {_range(fix['sharpe'])} (AS "
            f"{_range(as_rows['sharpe'])}); the paired PnL change vs AS is significantly "
            f"positive in {up} cells and significantly negative in {down} "
            f"(range {fix['delta_pnl_mean'].min():.3g} to {fix['delta_pnl_mean'].max():.3g})")
    return out


def _range(values: pd.Series) -> str:
    return f"{values.min():.3g} to {values.max():.3g}"


def _first(rows: pd.DataFrame, key: str, mask: pd.Series) -> str:
    hit = rows[mask]
    return f"{hit[key].iloc[0]:.3g}" if len(hit) else "nowhere in the slice"


def _failure_modes(ctx, grid, sweeps, settings, base, ref_i, ref_j, with_glft) -> None:
    sweeps = sweeps.assign(x=_sweep_x(sweeps))
    A_ref, sigma_ref = base.A * settings.A_multipliers[ref_j], \
        base.sigma * settings.sigma_multipliers[ref_i]
    hv = grid[(grid["j"] == ref_j) & (grid["i"] >= ref_i)].sort_values(["i", "strategy"])
    la = grid[(grid["i"] == ref_i) & (grid["j"] <= ref_j)].sort_values(["j", "strategy"],
                                                                       ascending=[False, True])
    tox = sweeps[sweeps["sweep"] == "toxicity"].sort_values(["x", "strategy"])
    imp = sweeps[sweeps["sweep"] == "impact"].sort_values(["x", "strategy"])
    jumps = sweeps[sweeps["sweep"] == "jump_intensity"].sort_values(["x", "strategy"])
    fixes = "Fixes on the same cells (same paths): "

    # High volatility: inventory variance.
    a = hv[hv["strategy"] == "AS"].sort_values("sigma")
    first, last = a.iloc[0], a.iloc[-1]
    dominated = a["inventory_risk_share"] > 0.5
    ctx.paragraph(
        f"Along A = {A_ref:.3g}, as sigma rises from {first['sigma']:.3g} to "
        f"{last['sigma']:.3g}, the inventory share of the PnL variance goes from "
        f"{first['inventory_risk_share']:.2f} to {last['inventory_risk_share']:.2f}"
        + (f" and exceeds one half (inventory variance dominates) from sigma = "
           f"{_first(a, 'sigma', dominated)} on" if dominated.any() else
           " and never exceeds one half (spread-capture variance dominates throughout)")
        + f"; the AS quotes widen with gamma sigma^2 (T - t), and fills per path go "
        f"from {first['fills_mean']:.3g} to {last['fills_mean']:.3g}, Sharpe from "
        f"{first['sharpe']:.3g} to {last['sharpe']:.3g} (P(loss) {first['p_loss']:.3f} to "
        f"{last['p_loss']:.3f}, mean max |q| {first['max_abs_q_mean']:.3g} to "
        f"{last['max_abs_q_mean']:.3g}). AS labels: {_describe_labels(a, 'sigma')}. "
        + fixes + "; ".join(_fix_effects(hv, "sigma")) + ".",
        title="Failure mode: high volatility")

    # Low arrival rate: too few fills.
    a = la[la["strategy"] == "AS"].sort_values("A", ascending=False)
    first, last = a.iloc[0], a.iloc[-1]
    cv = a["pnl_std"] / a["pnl_mean"].abs()
    ctx.paragraph(
        f"Along sigma = {sigma_ref:.3g}, as A falls from {first['A']:.3g} to {last['A']:.3g}, "
        f"fills per path go from {first['fills_mean']:.3g} to {last['fills_mean']:.3g}, the "
        f"PnL's coefficient of variation (std / |mean|) from {cv.iloc[0]:.3g} to "
        f"{cv.iloc[-1]:.3g}, Sharpe from {first['sharpe']:.3g} to {last['sharpe']:.3g} "
        f"and P(loss) from {first['p_loss']:.3f} to {last['p_loss']:.3f} "
        f"[{last['p_loss_ci_low']:.3f}, {last['p_loss_ci_high']:.3f}]; the inventory share of "
        f"the PnL variance goes from {first['inventory_risk_share']:.2f} to "
        f"{last['inventory_risk_share']:.2f}. AS labels: {_describe_labels(a, 'A')}. "
        + fixes + "; ".join(_fix_effects(la, "A")) + ".",
        title="Failure mode: low arrival rate")

    # Toxic flow: adverse selection eats the spread.
    a = tox[tox["strategy"] == "AS"].sort_values("x")
    first, last = a.iloc[0], a.iloc[-1]
    cap = last["x"] * expected_step_move(base)
    ratio = cap / last["spread_per_fill"] if last["spread_per_fill"] > 0 else math.nan
    ctx.paragraph(
        f"Without informed flow the adverse-selection share is "
        f"{first['adverse_share']:.3g} +/- {Z95 * first['adverse_share_se']:.2g} (zero in "
        f"expectation); at toxicity {last['x']:g} it is {last['adverse_share']:.3g} +/- "
        f"{Z95 * last['adverse_share_se']:.2g}: the mid moves {-last['adverse_per_fill']:.3g} "
        f"against each fill, of {last['spread_per_fill']:.3g} earned. Sharpe goes from "
        f"{first['sharpe']:.3g} to {last['sharpe']:.3g}, mean PnL from "
        f"{_ci(first['pnl_mean'], first['pnl_ci_low'], first['pnl_ci_high'])} to "
        f"{_ci(last['pnl_mean'], last['pnl_ci_low'], last['pnl_ci_high'])}. AS labels: "
        f"{_describe_labels(a, 'x')}. "
        + ("Adverse selection eats the whole spread here. " if last["adverse_share"] >= 1 else
           f"This informed flow cannot eat the whole spread at these parameters: it knows only "
           f"the next step's move, so it takes at most toxicity x E|dS| = {cap:.3g} per fill, "
           f"{ratio:.2f} of the spread earned per fill (and the cap shrinks like sqrt(dt)); it "
           f"would take all of it only where toxicity x sigma sqrt(2 dt / pi) reaches the "
           f"spread earned per fill. The permanent-impact flow below has no such cap. "
           if ratio < 1 else
           f"The one-step cap toxicity x E|dS| = {cap:.3g} per fill is {ratio:.2f} times the "
           f"spread earned per fill, but the measured share stays below 1. ")
        + fixes + "; ".join(_fix_effects(tox, "x")) + ".",
        title="Failure mode: toxic flow")
    if len(imp):
        _impact_paragraph(ctx, imp, settings, base)

    # Jumps.
    a = jumps[jumps["strategy"] == "AS"].sort_values("x")
    first, last = a.iloc[0], a.iloc[-1]
    ctx.paragraph(
        f"With jumps of std {settings.jump_std:g} at intensity {first['x']:g} to "
        f"{last['x']:g} per unit time (AS still quotes with the diffusive sigma = "
        f"{base.sigma:g}), the PnL std goes from {first['pnl_std']:.3g} to "
        f"{last['pnl_std']:.3g}, the inventory share of its variance from "
        f"{first['inventory_risk_share']:.2f} to {last['inventory_risk_share']:.2f}, Sharpe from "
        f"{first['sharpe']:.3g} to {last['sharpe']:.3g} and P(loss) from "
        f"{first['p_loss']:.3f} to {last['p_loss']:.3f}. AS labels: "
        f"{_describe_labels(a, 'x')}. " + fixes + "; ".join(_fix_effects(jumps, "x")) + ".",
        title="Failure mode: jumps")

    for sweep, what in (("k", "k"), ("gamma", "gamma")):
        a = sweeps[(sweeps["sweep"] == sweep) & (sweeps["strategy"] == "AS")].sort_values("x")
        ctx.paragraph(
            f"AS over {what} = {a['x'].iloc[0]:.3g} to {a['x'].iloc[-1]:.3g}: Sharpe "
            f"{' / '.join(f'{s:.3g}' for s in a['sharpe'])}, fills per path "
            f"{' / '.join(f'{f:.3g}' for f in a['fills_mean'])}; labels: "
            f"{_describe_labels(a, 'x')}.", title=f"Sweep of {what}")

    _competition_paragraph(ctx)

    if not with_glft:
        ctx.paragraph("`baselines.GLFTPolicy` was not importable when this ran, so the "
                      "bounded-inventory fix shown is the AS quotes with the market's hard "
                      "position limit; rerun once GLFT is available to add the GLFT column.",
                      title="GLFT")

    frames = []
    for mode, rows, key, name in (("high volatility", hv, "sigma", "sigma"),
                                  ("low arrival rate", la, "A", "A"),
                                  ("toxic flow", tox, "x", "toxicity"),
                                  ("toxic flow (impact)", imp, "x", "impact"),
                                  ("jumps", jumps, "x", "jump intensity")):
        frames.append(rows.assign(failure_mode=mode,
                                  cell=[f"{name}={v:.3g}" for v in rows[key]]))
    table = pd.concat(frames, ignore_index=True)
    columns = ["failure_mode", "cell", "strategy", "label", "sharpe", "pnl_mean", "pnl_ci_low",
               "pnl_ci_high", "delta_pnl_mean", "delta_pnl_ci_low", "delta_pnl_ci_high",
               "p_loss", "fills_mean", "max_abs_q_mean", "adverse_share",
               "inventory_risk_share", "sigma", "A", "toxicity", "impact", "jump_intensity",
               "seed"]
    display = pd.DataFrame({
        "failure mode": table["failure_mode"], "cell": table["cell"],
        "strategy": table["strategy"], "label": table["label"],
        "Sharpe": [f"{v:.3g}" for v in table["sharpe"]],
        "mean PnL [95% CI]": [_ci(m, lo, hi) for m, lo, hi in zip(
            table["pnl_mean"], table["pnl_ci_low"], table["pnl_ci_high"], strict=True)],
        "PnL change vs AS [95% CI, paired]": [
            "-" if s == "AS" else _ci(m, lo, hi) for s, m, lo, hi in zip(
                table["strategy"], table["delta_pnl_mean"], table["delta_pnl_ci_low"],
                table["delta_pnl_ci_high"], strict=True)],
        "P(loss)": [f"{v:.3f}" for v in table["p_loss"]],
        "fills": [f"{v:.3g}" for v in table["fills_mean"]],
        "max abs q": [f"{v:.3g}" for v in table["max_abs_q_mean"]],
    })
    ctx.table(table[columns], "regime_sweep_fixes", "Failure modes and what the fixes do to "
              "the same cells", f"High volatility: the grid column A = {A_ref:.3g}, sigma from "
              f"{sigma_ref:.3g} up; low arrival rate: the grid row sigma = {sigma_ref:.3g}, A "
              f"from {A_ref:.3g} down; toxic flow (toxicity and permanent impact) and jumps: "
              f"their 1-D sweeps. PnL changes are "
              "paired differences on the same paths (same seed per cell).", display=display)


def _impact_paragraph(ctx, imp: pd.DataFrame, settings: Settings, base: MarketParams) -> None:
    """The permanent-impact failure mode: where AS breaks and what the widening does there."""
    summary = impact_summary(imp, settings.breaks_sharpe)
    a = imp[imp["strategy"] == "AS"].sort_values("x").set_index("x", drop=False)
    first, last = a.iloc[0], a.iloc[-1]
    half0, half_avg = as_half_spread(base, settings.gamma)
    spread = float(a["spread_per_fill"].mean())
    h = base.adverse_selection_steps
    text = (
        f"With permanent impact I per share filled (the informed flow's information stays in "
        f"the mid: after the makers buy, the mid falls by I per share), AS ignores I, so its "
        f"quotes and, on the same paths, its fills do not change: it earns {spread:.3g} per "
        f"fill ({a['fills_mean'].mean():.3g} fills per path; the AS half-spread at q = 0 is "
        f"{half0:.3g} at t = 0 and {half_avg:.3g} on average). Over I = {first['x']:g} to "
        f"{last['x']:g} ({last['x'] / spread:.2g} times the spread per fill) the mid moves "
        f"about {summary.adverse_per_impact:.2f} x I against each fill in the {h} steps after "
        f"it, and the adverse-selection share of the spread reaches 1 at I = "
        f"{summary.adverse_crosses_spread:.3g} (interpolated). The PnL lost to impact is about "
        f"{summary.cost_per_fill:.2f} x I per fill, not I: a round trip (a buy, then a sell) "
        f"pays the impact once, because the maker's own opposite fill moves the mid back (less "
        f"than I/2 for fills offset by an opposite fill in the same step, more for the "
        f"inventory still held at T). So the spread is eaten when about I/2, not I, reaches "
        f"the spread per fill: the mean PnL reaches 0 at I = {summary.pnl_zero:.3g} and the "
        f"Sharpe ratio falls to {settings.breaks_sharpe:g} at I = {summary.sharpe_breaks:.3g} "
        f"(both interpolated). AS labels: {_describe_labels(a, 'x')}. ")
    if math.isfinite(summary.breaks_from):
        b = a.loc[summary.breaks_from]
        before = a[a["x"] < summary.breaks_from]
        text += (f"**AS breaks from I = {b['x']:g} on** ({b['why']}): Sharpe {b['sharpe']:.3g} "
                 f"+/- {Z95 * b['sharpe_se']:.2g}, mean PnL "
                 f"{_ci(b['pnl_mean'], b['pnl_ci_low'], b['pnl_ci_high'])} (at I = 0: "
                 f"{_ci(first['pnl_mean'], first['pnl_ci_low'], first['pnl_ci_high'])}), P(loss) "
                 f"{b['p_loss']:.3f} [{b['p_loss_ci_low']:.3f}, {b['p_loss_ci_high']:.3f}], "
                 f"adverse move {-b['adverse_per_fill']:.3g} per fill against "
                 f"{b['spread_per_fill']:.3g} earned (adverse share {b['adverse_share']:.3g} "
                 f"+/- {Z95 * b['adverse_share_se']:.2g}), inventory share of the PnL variance "
                 f"{b['inventory_risk_share']:.2f}")
        if len(before):
            p = before.iloc[-1]
            text += (f"; at I = {p['x']:g} it is {p['label']} (Sharpe {p['sharpe']:.3g}, "
                     f"P(loss) {p['p_loss']:.3f}, adverse share {p['adverse_share']:.3g})")
        text += ". "
        fix = imp[(imp["strategy"] == "AS + impact widening")].set_index("x", drop=False)
        if summary.breaks_from in fix.index:
            f = fix.loc[summary.breaks_from]
            text += (f"The impact widening (each AS depth + I: the Glosten–Milgrom maker quotes "
                     f"its half-spread around the post-trade mid) at I = {f['x']:g}: "
                     f"{f['label']}, Sharpe {f['sharpe']:.3g} +/- {Z95 * f['sharpe_se']:.2g}, "
                     f"mean PnL {_ci(f['pnl_mean'], f['pnl_ci_low'], f['pnl_ci_high'])}, a "
                     f"paired change vs AS of "
                     f"{_ci(f['delta_pnl_mean'], f['delta_pnl_ci_low'], f['delta_pnl_ci_high'])} "
                     f"on the same paths; it trades {f['fills_mean']:.3g} times per path instead "
                     f"of {b['fills_mean']:.3g}, earning {f['spread_per_fill']:.3g} per fill of "
                     f"which adverse selection takes {f['adverse_share']:.2f}. ")
            g = fix.iloc[-1]
            if g["x"] != f["x"]:
                delta = _ci(g["delta_pnl_mean"], g["delta_pnl_ci_low"], g["delta_pnl_ci_high"])
                text += (f"At I = {g['x']:g} it is {g['label']} (Sharpe {g['sharpe']:.3g}, mean "
                         f"PnL {_ci(g['pnl_mean'], g['pnl_ci_low'], g['pnl_ci_high'])}, "
                         f"{g['fills_mean']:.3g} fills per path, paired change vs AS {delta})")
                if g["fills_mean"] < f["fills_mean"] and g["pnl_ci_low"] > 0:
                    text += (": the widening keeps the mean PnL positive by trading less and "
                             "less, so under strong impact it stops making a market rather than "
                             "losing. ")
                else:
                    text += ". "
    else:
        text += (f"AS does not break anywhere in this sweep (up to I = {last['x']:g}); extend "
                 f"`impacts` to find the boundary. ")
    ctx.paragraph(text + "Fixes on the same cells (same paths): "
                  + "; ".join(_fix_effects(imp, "x")) + ".",
                  title="Failure mode: toxic flow (permanent impact)")


def _competition_paragraph(ctx) -> None:
    out = getattr(ctx, "out", None)
    found = sorted(Path(out).glob("tables/competition*.csv")) if out is not None else []
    if found:
        links = ", ".join(f"[{p.name}](tables/{p.name})" for p in found)
        text = (f"Many competitors are not simulated here: the competition experiment's "
                f"results in this output directory cover them ({links}; see its section of "
                f"this report for the inside spread and the profit per agent as the number of "
                f"market makers grows).")
    else:
        text = ("Many competitors are not simulated here: the competition experiment "
                "(`python -m experiments competition`) covers them; its tables were not found "
                "in this output directory when this section was written.")
    ctx.paragraph(text, title="Failure mode: many competitors")
