"""Regime sweep: where the Avellaneda–Stoikov (AS) strategy works, degrades and breaks, over a
(sigma, A) grid and along one-dimensional sweeps of k, gamma, jumps and permanent impact.

What is simulated. Around the configured market (the AS 2008 setup by default): a grid of the
volatility sigma and the arrival rate A (log-spaced multiples of the market's values, wide
enough to reach fewer than one fill a session and a volatility that swamps the spread), and
1-D sweeps of the intensity decay k, the risk aversion gamma, compound-Poisson jumps of std
``jump_std`` and the permanent impact of informed flow. In every cell two strategies are
rolled out on ``paths`` paths: AS at ``gamma`` (unbounded inventory) and GLFT (2013) at the
same gamma with ``|q| <= position_limit`` enforced by the market. A ``--quick`` run keeps only
the ends of each sweep, the market's own values and the claims' cells
(:meth:`Settings.thinned`).

Seeds. Every cell and strategy runs on the run's seed (the seed contract): cells share common
random numbers (path i's mid increments and order-flow uniforms are the same in every cell,
scaled by its sigma and A), so neighbouring cells differ by their parameters, not by noise.

Informed flow. The toxic-flow failure mode uses the permanent-impact model
(``MarketParams.impact``): after the makers buy, the mid falls by ``impact`` per share, so each
fill costs the same adverse move whatever dt. The one-step ``toxicity`` model is not used: its
informed orders know only the next step's move, so its adverse move per fill is capped at
``toxicity * sigma * sqrt(2 dt / pi)`` and vanishes as dt -> 0; it cannot show a failure.

The regime criterion (:class:`Criteria`, thresholds in the config). From the risk-adjusted
PnL of a cell: Sharpe ratio (mean / std of the session PnL across paths, per episode), P(loss)
and the certainty equivalent CE at one risk aversion ``ce_gamma`` for every strategy. A
strategy

* **breaks** if Sharpe < ``breaks_sharpe`` (or is undefined: no PnL variance), or P(loss) >
  ``breaks_loss_probability``, or CE < ``breaks_ce``;
* **works** if it does not break, Sharpe >= ``works_sharpe`` and P(loss) <=
  ``works_loss_probability``;
* is **degraded** otherwise.

The rule is applied twice: at the pessimistic end of every metric's 95% CI (Sharpe's lower
bound, P(loss)'s upper bound, CE's lower bound) and at the optimistic end. Equal: that label.
Different: the cell is **border** between the two (a threshold lies inside a CI). A CE without
an interval (unreliable: :func:`experiments.stats.certainty_equivalent`) enters at its point
estimate at both ends; it overstates the CE when the tail is under-sampled, so a negative one
still breaks the cell, and ``ce_reliable`` in the tables says where a positive one is not
established. Each end is a monotone function of the metrics, so a strategy at least as good on
every metric (estimates and CI ends) never gets a worse label at either end.

Claim statistics: Sharpe at the high-sigma and low-A cells (claims 5, 6); the inventory share
of the PnL variance ``var(inventory PnL) / (var(inventory PnL) + var(spread capture))`` at the
high-sigma cell (claim 5, "inventory risk dominates"); adverse selection as a share of gross
spread capture ``-sum(adverse selection) / sum(spread capture)`` at ``claim_impact`` (claim 7:
partial failure when the share is material but below 1).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from asmm_env.validation import (
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
)
from baselines import AvellanedaStoikovPolicy, GLFTPolicy
from experiments import style
from experiments.findings import Above, Below, Between, Estimate
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, pnl_summary, ratio_ci

TITLE = "Regime sweep: where Avellaneda–Stoikov works, degrades and breaks"

BREAKS, DEGRADED, WORKS = 0, 1, 2
RANKS = ("breaks", "degraded", "works")
LABELS = {(0, 0): "breaks", (0, 1): "border breaks/degraded", (1, 1): "degraded",
          (0, 2): "border breaks/works", (1, 2): "border degraded/works", (2, 2): "works"}
COLORS = {"breaks": "#CC3311", "border breaks/degraded": "#EE7733", "degraded": "#EECC66",
          "border breaks/works": "#BBBBBB", "border degraded/works": "#99DDFF",
          "works": "#228833"}
SWEEPS = {"k": ("intensity decay k", "1 / price units", "log"),
          "gamma": ("risk aversion gamma", "1 / money", "log"),
          "jump_intensity": ("jump intensity", "jumps / time unit", "linear"),
          "impact": ("permanent impact", "price units / share", "linear")}


# --- the criterion -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Criteria:
    """Thresholds of the regime label (module docstring): Sharpe per episode, probabilities,
    CE in price units."""

    works_sharpe: float = 2.0
    breaks_sharpe: float = 0.5
    works_loss_probability: float = 0.05
    breaks_loss_probability: float = 0.30
    breaks_ce: float = 0.0

    def __post_init__(self) -> None:
        check_positive("breaks_sharpe", self.breaks_sharpe)
        if not self.works_sharpe > self.breaks_sharpe:
            raise ValueError(f"works_sharpe must be > breaks_sharpe = {self.breaks_sharpe!r}, "
                             f"got {self.works_sharpe!r}")
        check_in_range("breaks_loss_probability", self.breaks_loss_probability, 0.0, 1.0)
        check_in_range("works_loss_probability", self.works_loss_probability, 0.0,
                       self.breaks_loss_probability)
        check_non_negative("breaks_ce", self.breaks_ce)

    def rank(self, sharpe: float, p_loss: float, ce: float) -> int:
        """BREAKS, DEGRADED or WORKS for one set of metric values (NaN Sharpe breaks)."""
        if not sharpe >= self.breaks_sharpe or p_loss > self.breaks_loss_probability \
                or ce < self.breaks_ce:
            return BREAKS
        if sharpe >= self.works_sharpe and p_loss <= self.works_loss_probability:
            return WORKS
        return DEGRADED

    def label(self, row) -> str:
        """The label of a row with the :func:`experiments.stats.pnl_summary` columns."""
        ce_low, ce_high = ((row["ce_ci_low"], row["ce_ci_high"]) if row["ce_reliable"]
                           else (row["ce"], row["ce"]))
        low = self.rank(row["sharpe_ci_low"], row["p_loss_ci_high"], ce_low)
        high = self.rank(row["sharpe_ci_high"], row["p_loss_ci_low"], ce_high)
        return LABELS[low, high]

    def table(self, ce_gamma: float) -> pd.DataFrame:
        """The criterion as a legend table (beside the map)."""
        return pd.DataFrame({"label": ["breaks", "works", "degraded", "border ..."], "rule": [
            f"Sharpe < {self.breaks_sharpe:g} (or undefined), or P(loss) > "
            f"{self.breaks_loss_probability:g}, or CE(gamma = {ce_gamma:g}) < "
            f"{self.breaks_ce:g}",
            f"not breaks, Sharpe >= {self.works_sharpe:g} and P(loss) <= "
            f"{self.works_loss_probability:g}",
            "neither", "the label at the pessimistic ends of the 95% CIs differs from the one "
            "at the optimistic ends (both are named); a CE without a CI (unreliable) enters at "
            "its point estimate"]})


def score(label: str) -> tuple[int, int]:
    """The (pessimistic, optimistic) ranks of a label: the monotone order of labels."""
    return next(key for key, name in LABELS.items() if name == label)


# --- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.regime_sweep`` in the config.

    market : the market swept around; paths : Monte Carlo paths per cell and strategy.
    gamma : risk aversion of AS and GLFT (1 / money); position_limit : GLFT's Q, shares.
    sigma_multipliers, A_multipliers, k_multipliers : multiples of the market's values (> 0,
        increasing); gammas : absolute (> 0); jump_intensities (jumps per time unit, with
        jumps of std ``jump_std`` price units) and impacts (price units per share): >= 0.
    ce_gamma : the risk aversion of the CE in the criterion, the same for every strategy.
    works_sharpe ... breaks_ce : the :class:`Criteria`.
    high_sigma, low_A : the grid multipliers where claims 5 and 6 are evaluated (at the
        market's A, resp. sigma); claim_impact : the impact where claim 7 is evaluated.
    dominance_share : inventory share of the PnL variance above which inventory risk
        "dominates"; material_share : adverse-selection share above which it is material.
    robustness_paths : fraction (0, 1] of the paths for the dt/4 and seed checks.
    """

    market: str = "as2008"
    paths: int = 2000
    gamma: float = 0.1
    position_limit: int = 5
    sigma_multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    A_multipliers: tuple[float, ...] = tuple(2.0**e for e in range(-7, 3))
    k_multipliers: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    gammas: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    jump_intensities: tuple[float, ...] = (0.0, 25.0, 50.0, 100.0, 200.0)
    jump_std: float = 1.0
    impacts: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6)
    ce_gamma: float = 0.1
    works_sharpe: float = 2.0
    breaks_sharpe: float = 0.5
    works_loss_probability: float = 0.05
    breaks_loss_probability: float = 0.30
    breaks_ce: float = 0.0
    high_sigma: float = 16.0
    low_A: float = 2.0**-7
    claim_impact: float = 0.4
    dominance_share: float = 0.5
    material_share: float = 0.1
    robustness_paths: float = 1.0

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        check_positive_int("position_limit", self.position_limit)
        for name in ("gamma", "jump_std", "ce_gamma"):
            check_positive(name, getattr(self, name))
        for name in ("sigma_multipliers", "A_multipliers", "k_multipliers", "gammas",
                     "jump_intensities", "impacts"):
            values = getattr(self, name)
            positive = name not in ("jump_intensities", "impacts")
            if not values or not all(math.isfinite(v) and (v > 0 if positive else v >= 0)
                                     for v in values) or list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be a non-empty increasing list of numbers "
                                 f"{'> 0' if positive else '>= 0'}, got {values!r}")
        for name in ("sigma_multipliers", "A_multipliers"):
            if 1.0 not in getattr(self, name):
                raise ValueError(f"{name} must include 1.0 (the market itself), got "
                                 f"{getattr(self, name)!r}")
        for name, grid in (("high_sigma", "sigma_multipliers"), ("low_A", "A_multipliers"),
                           ("claim_impact", "impacts")):
            if getattr(self, name) not in getattr(self, grid):
                raise ValueError(f"{name} must be one of {grid} {getattr(self, grid)}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("dominance_share", "material_share", "robustness_paths"):
            check_in_range(name, getattr(self, name), 1e-12, 1.0)
        self.criteria()

    def criteria(self) -> Criteria:
        return Criteria(**{f.name: getattr(self, f.name) for f in fields(Criteria)})

    def thinned(self) -> Settings:
        """The sweeps cut to their ends, the market's own values and the claims' cells: the
        grid of a ``--quick`` smoke run."""
        def keep(values, *extra):
            return tuple(v for v in values if v in (values[0], values[-1], *extra))

        return replace(self, sigma_multipliers=keep(self.sigma_multipliers, 1.0, self.high_sigma),
                       A_multipliers=keep(self.A_multipliers, 1.0, self.low_A),
                       k_multipliers=keep(self.k_multipliers, 1.0),
                       gammas=keep(self.gammas, self.gamma),
                       jump_intensities=keep(self.jump_intensities),
                       impacts=keep(self.impacts, self.claim_impact))


# --- cells -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One market of a sweep and the strategies rolled out on it (picklable: sent to workers).
    ``x`` is the swept value (grid: the A multiplier), ``y`` the sigma multiplier (grid)."""

    sweep: str
    x: float
    y: float
    params: MarketParams
    gamma: float
    limit: int
    seed: int
    n_paths: int
    ce_gamma: float
    strategies: tuple[str, ...] = ("as", "glft")


def strategy_name(key: str, limit: int) -> str:
    return "AS" if key == "as" else f"GLFT, Q = {limit}"


def run_cell(cell: Cell) -> list[dict]:
    """One row of metrics per strategy, every strategy on the cell's seed."""
    rows = []
    for key in cell.strategies:
        if key == "as":
            params, policy = cell.params, AvellanedaStoikovPolicy.from_env(cell.params,
                                                                           cell.gamma)
        else:
            params = cell.params.replace(max_inventory=float(cell.limit))
            policy = GLFTPolicy.from_env(params, gamma=cell.gamma)
        paths = rollout(policy, params, n_paths=cell.n_paths, seed=cell.seed).paths
        rows.append({"sweep": cell.sweep, "x": cell.x, "y": cell.y, "strategy": key,
                     "name": strategy_name(key, cell.limit), "sigma": params.sigma,
                     "A": params.A, "k": params.k, "gamma": cell.gamma,
                     "jump_intensity": params.jump_intensity, "impact": params.impact,
                     "seed": cell.seed, **cell_metrics(paths, cell.ce_gamma)})
    return rows


def cell_metrics(paths: pd.DataFrame, ce_gamma: float) -> dict:
    """:func:`experiments.stats.pnl_summary` of the terminal PnL, fills, the inventory share of
    the PnL variance and the adverse-selection share of spread capture, each with its CI."""
    spread, inventory = paths["spread_capture"].to_numpy(), paths["inventory_pnl"].to_numpy()
    row = {**pnl_summary(paths["terminal_pnl"].to_numpy(), gamma=ce_gamma),
           "fills": float(paths["fills"].mean()),
           "max_abs_q": float(paths["max_abs_inventory"].mean())}
    for name, value in (("inventory_share", variance_share(inventory, spread)),
                        ("adverse_share", ratio_ci(-paths["adverse_selection"].to_numpy(),
                                                   spread))):
        key = "share" if name == "inventory_share" else "ratio"
        row.update({name: value[key], f"{name}_ci_low": value["ci_low"],
                    f"{name}_ci_high": value["ci_high"]})
    return row


def variance_share(a, b) -> dict[str, float]:
    """``var(a) / (var(a) + var(b))`` with a delta-method 95% CI (influence functions
    ``(a - mean a)^2 - var a``, likewise for b); NaN when both variances are 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(), b.var()
    if va + vb <= 0 or a.size < 2:
        return {"share": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    share = va / (va + vb)
    influence = (vb * ((a - a.mean()) ** 2 - va) - va * ((b - b.mean()) ** 2 - vb)) / (va + vb)**2
    se = float(influence.std(ddof=1) / math.sqrt(a.size))
    return {"share": float(share), "ci_low": share - Z95 * se, "ci_high": share + Z95 * se}


def build_cells(settings: Settings, base: MarketParams, seed: int, n_paths: int) -> list[Cell]:
    """The grid, then the 1-D sweeps; every cell on the run's seed."""
    def cell(sweep, x, params, gamma=settings.gamma, y=math.nan):
        return Cell(sweep, float(x), float(y), params, gamma, settings.position_limit, seed,
                    n_paths, settings.ce_gamma)

    cells = [cell("grid", a, base.replace(sigma=base.sigma * s, A=base.A * a), y=s)
             for s in settings.sigma_multipliers for a in settings.A_multipliers]
    cells += [cell("k", base.k * m, base.replace(k=base.k * m)) for m in settings.k_multipliers]
    cells += [cell("gamma", g, base, gamma=g) for g in settings.gammas]
    cells += [cell("jump_intensity", j, base.replace(jump_intensity=j, jump_std=settings.jump_std))
              for j in settings.jump_intensities]
    cells += [cell("impact", i, base.replace(impact=i)) for i in settings.impacts]
    return cells


# --- run ---------------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    base, criteria = ctx.market(settings.market), settings.criteria()
    settings = settings.thinned() if ctx.quick else settings
    n = ctx.paths(settings.paths)
    cells = build_cells(settings, base, ctx.seed, n)
    results = pd.DataFrame([row for rows in ctx.map(run_cell, cells) for row in rows])
    results["label"] = [criteria.label(row) for row in results.to_dict("records")]
    grid, sweeps = results[results["sweep"] == "grid"], results[results["sweep"] != "grid"]

    # --- findings: the headline cells (AS), checked at dt/4 and two seeds ---
    def headline(sweep: str, x: float, y: float = math.nan) -> tuple[dict, Cell]:
        rows = results[(results["sweep"] == sweep) & (results["strategy"] == "as")
                       & np.isclose(results["x"], x) & (np.isnan(y) | np.isclose(results["y"], y))]
        found = next(c for c in cells if c.sweep == sweep and np.isclose(c.x, x)
                     and (np.isnan(y) or np.isclose(c.y, y)))
        return rows.iloc[0].to_dict(), replace(found, strategies=("as",))

    @functools.cache
    def at(v: Variation, cell: Cell) -> dict:
        return run_cell(replace(cell, params=v.market(cell.params), seed=v.seed,
                                n_paths=v.paths(cell.n_paths)))[0]

    def finding(id, cell_row, column, rule, **kwargs):
        row, cell = cell_row
        ctx.finding(id, rule=rule, base=Estimate.from_row(row, column),
                    estimate=lambda v: Estimate.from_row(at(v, cell), column),
                    robustness_paths=settings.robustness_paths, **kwargs)

    market_cell = headline("grid", 1.0, 1.0)
    high_sigma = headline("grid", 1.0, settings.high_sigma)
    low_A = headline("grid", settings.low_A, 1.0)
    impact = headline("impact", settings.claim_impact)
    finding("as_works_at_the_market", market_cell, "sharpe", Above(settings.works_sharpe),
            statement="At the configured market itself AS works: its Sharpe ratio clears the "
                      "works threshold.", statistic="Sharpe of AS, per episode",
            section="regime_sweep_map")
    finding("high_sigma_breaks", high_sigma, "sharpe", Below(settings.breaks_sharpe), claim=5,
            statement=f"At sigma x {settings.high_sigma:g} (the market's A) AS breaks: its "
                      "Sharpe ratio is below the breaks threshold.",
            statistic="Sharpe of AS, per episode", section="regime_sweep_map")
    finding("high_sigma_inventory_dominates", high_sigma, "inventory_share",
            Above(settings.dominance_share), claim=5,
            statement=f"At sigma x {settings.high_sigma:g} inventory risk dominates the PnL: "
                      "var(inventory PnL) / (var(inventory PnL) + var(spread capture)).",
            statistic="inventory share of PnL variance, AS", section="regime_sweep_map")
    finding("low_a_breaks", low_A, "sharpe", Below(settings.breaks_sharpe), claim=6,
            statement=f"At A x {settings.low_A:g} (the market's sigma) AS makes too few fills "
                      "and breaks: its Sharpe ratio is below the breaks threshold.",
            statistic="Sharpe of AS, per episode", section="regime_sweep_map")
    finding("impact_partial_failure", impact, "adverse_share",
            Between(settings.material_share, 1.0), claim=7,
            statement=f"With permanent impact {settings.claim_impact:g} price units per share, "
                      "adverse selection takes a material share of the gross spread capture, "
                      "but not all of it (a partial failure).",
            statistic="-adverse selection / spread capture, AS", section="regime_sweep_impact")

    # --- tables and figures ---
    heads = {"high_sigma": (1.0, settings.high_sigma), "low_A": (settings.low_A, 1.0)}
    ctx.figure(_map_figure(grid, base, heads), "regime_sweep_map",
               "Regimes over volatility and arrival rate",
               f"Label of each cell and strategy ({n:,} paths, the run's seed in every cell); "
               "numbers: Sharpe per episode; hatched: border; outlined: the cells of claims 5 "
               "and 6. The criterion is in the table below.")
    ctx.table(criteria.table(settings.ce_gamma), "regime_sweep_criteria",
              "The regime criterion (legend of the map)", "Thresholds from the config "
              "(`experiments.regime_sweep`); Sharpe per episode, CE in price units.")
    ctx.table(_columns(grid), "regime_sweep_grid", "The (sigma, A) grid, every strategy",
              "B breaks, D degraded, W works, B/D etc. border, then the Sharpe ratio per "
              "episode. The CSV has every metric with its CI (x = A multiplier, y = sigma "
              "multiplier).", display=_grid_display(grid))
    ctx.figure(_sweeps_figure(sweeps, criteria), "regime_sweep_1d",
               "Sharpe along the k, gamma, jump and impact sweeps",
               "Sharpe per episode with its 95% CI; dotted lines: the works and breaks "
               "thresholds of the criterion.")
    ctx.table(_columns(sweeps), "regime_sweep_sweeps", "The one-dimensional sweeps, every strategy",
              "Label and Sharpe ratio per episode [95% CI]; x = the swept value (k, gamma, "
              "jump intensity or impact). The CSV has every metric with its CI.",
              display=_sweeps_display(sweeps))
    ctx.figure(_impact_figure(sweeps, settings), "regime_sweep_impact",
               "Permanent impact: adverse selection as a share of spread capture",
               "-sum(adverse selection) / sum(spread capture) with its 95% CI; dotted: the "
               "claim-7 band (material, below 1); dashed: the impact where it is evaluated.")


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    first = ["sweep", "x", "y", "name", "label"]
    return frame[first + [c for c in frame.columns if c not in first]]


SHORT = {"breaks": "B", "degraded": "D", "works": "W", "border breaks/degraded": "B/D",
         "border degraded/works": "D/W", "border breaks/works": "B/W"}


def _grid_display(grid: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and sigma, one column per A: the label (B, D, W; border "B/D")
    and the Sharpe ratio."""
    text = grid.assign(cell=[f"{SHORT[lab]} {s:.2g}" for lab, s in
                             zip(grid["label"], grid["sharpe"], strict=True)])
    table = text.pivot(index=["name", "sigma"], columns="A", values="cell")
    table.columns = [f"A {a:.3g}" for a in table.columns]
    return table.reset_index().rename(columns={"name": "strategy"})


def _sweeps_display(sweeps: pd.DataFrame) -> pd.DataFrame:
    """One row per swept value: per strategy the label and the Sharpe ratio [95% CI]."""
    text = sweeps.assign(cell=[f"{lab}: {format_ci(s, lo, hi)}" for lab, s, lo, hi in zip(
        sweeps["label"], sweeps["sharpe"], sweeps["sharpe_ci_low"], sweeps["sharpe_ci_high"],
        strict=True)])
    table = text.pivot(index=["sweep", "x"], columns="name", values="cell")
    return table.loc[list(SWEEPS)].reset_index().rename_axis(columns=None)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, the ends extended by the same ratio."""
    logs = np.log(centres)
    step = np.diff(logs)
    inner = logs[:-1] + step / 2
    return np.exp(np.concatenate([[logs[0] - step[0] / 2], inner, [logs[-1] + step[-1] / 2]]))


def _map_figure(grid: pd.DataFrame, base: MarketParams, heads: dict) -> plt.Figure:
    names = list(dict.fromkeys(grid["name"]))
    sigmas = np.sort(grid["sigma"].unique())
    As = np.sort(grid["A"].unique())
    order = list(LABELS.values())
    fig, axes = plt.subplots(1, len(names), figsize=(6.2 * len(names) + 2.2, 5.2), sharey=True,
                             squeeze=False, constrained_layout=True)
    x_edges, y_edges = _edges(As), _edges(sigmas)
    for ax, name in zip(axes[0], names, strict=True):
        cells = grid[grid["name"] == name].set_index(["sigma", "A"])
        index = np.array([[order.index(cells.loc[(s, a), "label"]) for a in As] for s in sigmas])
        ax.pcolormesh(x_edges, y_edges, index, cmap=ListedColormap(list(COLORS.values())),
                      vmin=-0.5, vmax=len(order) - 0.5)
        for i, s in enumerate(sigmas):
            for j, a in enumerate(As):
                row = cells.loc[(s, a)]
                box = (x_edges[j], y_edges[i]), x_edges[j + 1] - x_edges[j], \
                    y_edges[i + 1] - y_edges[i]
                if row["label"].startswith("border"):
                    ax.add_patch(Rectangle(*box, fill=False, hatch="///", linewidth=0,
                                           edgecolor="0.35"))
                if any(np.isclose(a, base.A * x) and np.isclose(s, base.sigma * y)
                       for x, y in heads.values()):
                    ax.add_patch(Rectangle(*box, fill=False, linewidth=2.0, edgecolor="black"))
                ax.text(math.sqrt(x_edges[j] * x_edges[j + 1]),
                        math.sqrt(y_edges[i] * y_edges[i + 1]), f"{row['sharpe']:.2g}",
                        ha="center", va="center", fontsize=6.5)
        style.set_scale(ax, "x", "log")
        style.set_scale(ax, "y", "log")
        ax.set_title(name, fontsize=10)
        style.label_axes(ax, x=("arrival rate A", "orders / time unit"))
    style.label_axes(axes[0, 0], y=("volatility sigma", "price units / sqrt(time unit)"))
    style.legend_outside(axes[0, -1], handles=[
        Patch(facecolor=COLORS[n], hatch="///" if n.startswith("border") else None,
              edgecolor="0.35", label=n) for n in order], fontsize=8, title="label")
    return fig


def _sweeps_figure(sweeps: pd.DataFrame, criteria: Criteria) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.5), constrained_layout=True)
    for ax, (sweep, (quantity, unit, scale)) in zip(axes.ravel(), SWEEPS.items(), strict=True):
        rows = sweeps[sweeps["sweep"] == sweep]
        for (key, name), sub in rows.groupby(["strategy", "name"], sort=False):
            sub = sub.sort_values("x")
            style.plot_ci(ax, sub["x"], sub["sharpe"], sub["sharpe_ci_low"],
                          sub["sharpe_ci_high"], policy=key, label=name)
        for value, text in ((criteria.works_sharpe, "works"), (criteria.breaks_sharpe, "breaks")):
            ax.axhline(value, color=COLORS[text], linestyle=":", linewidth=1.5,
                       label=f"{text}: Sharpe {'>=' if text == 'works' else '<'} {value:g}")
        style.set_scale(ax, "x", scale)
        style.label_axes(ax, x=(quantity, unit), y=("Sharpe ratio", "per episode"))
    style.legend_outside(axes[0, 1], handles=axes[0, 0].get_legend_handles_labels()[0],
                         fontsize=8)
    return fig


def _impact_figure(sweeps: pd.DataFrame, settings: Settings) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    rows = sweeps[sweeps["sweep"] == "impact"]
    for (key, name), sub in rows.groupby(["strategy", "name"], sort=False):
        sub = sub.sort_values("x")
        style.plot_ci(ax, sub["x"], sub["adverse_share"], sub["adverse_share_ci_low"],
                      sub["adverse_share_ci_high"], policy=key, label=name)
    for value in (settings.material_share, 1.0):
        ax.axhline(value, color="0.3", linestyle=":", linewidth=1.2,
                   label="claim 7 band: material to all" if value == 1.0 else None)
    ax.axvline(settings.claim_impact, color="0.3", linestyle="--", linewidth=1.0,
               label="claim 7 evaluated here")
    style.label_axes(ax, x=SWEEPS["impact"][:2],
                     y=("adverse selection / spread capture", ""))
    style.legend_outside(ax, fontsize=8)
    return fig
