"""Competition, the control: N fixed Avellaneda–Stoikov makers with a ladder of risk aversions
quote on one market, unaware of one another.

What it simulates. For each N in ``agent_counts``, N agents run the AS (2008) inventory
strategy (:class:`baselines.AvellanedaStoikovPolicy`, time term included) for their own
inventory on the configured market; agent i of N has ``gamma_i = gamma_min (gamma_max /
gamma_min)^(i / (N - 1))`` (the lone agent of N = 1: the geometric midpoint). Market orders
are allocated by :class:`asmm_env.fills.QueueFills`: quotes replenished at once, price then
time priority, so N makers at one price take together exactly the flow one maker alone
takes, at every dt (the old allocation, which refilled a quote only at the next step, made
flow out of splitting a level: issue 12).

Method. Every N runs on the run's seed (``rollout(..., seed=v.seed)``): path i has the same
mid path and order flow for every N, so differences between N are paired (common random
numbers). Per-agent statistics have 95% CIs over paths (fill shares: ratio estimator);
total profit is the sum of the N agents' PnL on a path. The findings (total profit and inside
spread at the largest N against N = 1) are re-estimated at dt / 4 and at two other seeds
on ``robustness_paths`` of the paths, every N each time, so the figure shows total profit
against N at dt and dt / 4. The makers do not react to one another: this experiment cannot
test the competition claims (8, 9); ``equilibrium`` does, with strategic makers.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.params import MarketParams
from asmm_env.validation import check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy
from experiments import style
from experiments._makers import Cell, agent_gammas, simulate
from experiments.findings import Above, Below, Estimate
from experiments.framework import Context, Variation
from experiments.stats import format_ci, mean_ci, ratio_ci, sharpe_ci, std_ci

TITLE = "Competition (control): N fixed Avellaneda–Stoikov makers on one market"


@dataclass(frozen=True)
class Settings:
    """``experiments.competition`` in the config.

    market : a market of ``markets``.
    paths : Monte Carlo paths per N (>= 2).
    agent_counts : the numbers of makers N (distinct integers >= 1, including 1).
    gamma_min, gamma_max : the risk-aversion ladder, 1 / money (0 < gamma_min < gamma_max).
    robustness_paths : fraction (0, 1] of the paths for the dt / 4 and seed checks.
    """

    market: str = "as2008"
    paths: int = 1500
    agent_counts: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
    gamma_min: float = 0.01
    gamma_max: float = 0.5
    robustness_paths: float = 0.25

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        counts = self.agent_counts
        if (not isinstance(counts, tuple) or not counts or len(set(counts)) != len(counts)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                           for n in counts) or 1 not in counts):
            raise ValueError(f"agent_counts must be distinct integers >= 1 including 1, got "
                             f"{counts!r}")
        check_positive("gamma_min", self.gamma_min)
        if not self.gamma_max > self.gamma_min:
            raise ValueError(f"gamma_max must be > gamma_min = {self.gamma_min}, got "
                             f"{self.gamma_max!r}")
        if not 0 < self.robustness_paths <= 1:
            raise ValueError(f"robustness_paths must be in (0, 1], got {self.robustness_paths!r}")


# --- simulation ---------------------------------------------------------------------------------
class Cells:
    """Every N at a variation, simulated once and kept (the findings' robustness checks and the
    dt / 4 curve share them)."""

    def __init__(self, settings: Settings, params: MarketParams, n_paths: int) -> None:
        self.settings, self.params, self.n_paths = settings, params, n_paths
        self.done: dict[Variation, dict[int, Cell]] = {}

    def __call__(self, v: Variation) -> dict[int, Cell]:
        if v not in self.done:
            s, params = self.settings, v.market(self.params)
            self.done[v] = {
                n: simulate([AvellanedaStoikovPolicy.from_env(params, float(g))
                             for g in agent_gammas(n, s.gamma_min, s.gamma_max)],
                            params, v.paths(self.n_paths), v.seed)
                for n in sorted(s.agent_counts)}
        return self.done[v]


def paired_change(cells: dict[int, Cell], what: str) -> Estimate:
    """Largest N minus N = 1 on the same paths, with its paired CI: total profit
    (``"profit"``), inside spread (``"inside"``) or fills of all makers (``"fills"``)."""
    big, one = cells[max(cells)], cells[1]
    x = {"profit": lambda c: c.total, "inside": lambda c: c.inside,
         "fills": lambda c: c.fills.sum(axis=1)}[what]
    return Estimate.from_stats(mean_ci(x(big) - x(one)), "mean")


# --- tables -------------------------------------------------------------------------------------
def market_table(cells: dict[int, Cell], dt4: dict[int, Cell] | None, params: MarketParams
                 ) -> pd.DataFrame:
    """One row per N: inside spread, fills, total and per-agent profit, the change against
    N = 1 (paired), and total profit at dt / 4 when it was simulated."""
    rows = []
    for n, cell in cells.items():
        inside, fills, total = mean_ci(cell.inside), mean_ci(cell.fills.sum(axis=1)), \
            mean_ci(cell.total)
        change = mean_ci(cell.total - cells[1].total)
        later = mean_ci(dt4[n].total) if dt4 is not None else None
        rows.append({
            "n_agents": n, "paths": cell.pnl.shape[0],
            "inside_spread": inside["mean"], "inside_spread_ci_low": inside["ci_low"],
            "inside_spread_ci_high": inside["ci_high"],
            "fills_total": fills["mean"], "fills_total_ci_low": fills["ci_low"],
            "fills_total_ci_high": fills["ci_high"],
            "flow_share": fills["mean"] / (2 * params.A * params.T),
            "profit_total": total["mean"], "profit_total_ci_low": total["ci_low"],
            "profit_total_ci_high": total["ci_high"], "profit_total_std": total["std"],
            "profit_per_agent": total["mean"] / n,
            "profit_change_vs_1": change["mean"], "profit_change_ci_low": change["ci_low"],
            "profit_change_ci_high": change["ci_high"],
            "profit_total_dt4": later["mean"] if later else np.nan,
            "profit_total_dt4_ci_low": later["ci_low"] if later else np.nan,
            "profit_total_dt4_ci_high": later["ci_high"] if later else np.nan,
            "max_identity_residual": cell.max_residual,
        })
    return pd.DataFrame(rows)


def agent_table(cells: dict[int, Cell], settings: Settings) -> pd.DataFrame:
    """One row per (N, agent): gamma, mean PnL, std, Sharpe, fill share, inventory std."""
    rows = []
    for n, cell in cells.items():
        gammas = agent_gammas(n, settings.gamma_min, settings.gamma_max)
        total_fills = cell.fills.sum(axis=1)
        for i in range(n):
            pnl = cell.pnl[:, i]
            m, s, sr = mean_ci(pnl), std_ci(pnl), sharpe_ci(pnl)
            share, q = ratio_ci(cell.fills[:, i], total_fills), std_ci(cell.inventory[:, i])
            rows.append({
                "n_agents": n, "agent": i, "gamma": float(gammas[i]),
                "mean_pnl": m["mean"], "mean_pnl_ci_low": m["ci_low"],
                "mean_pnl_ci_high": m["ci_high"], "std_pnl": s["std"],
                "sharpe": sr["sharpe"], "sharpe_ci_low": sr["ci_low"],
                "sharpe_ci_high": sr["ci_high"],
                "fill_share": share["ratio"], "fill_share_ci_low": share["ci_low"],
                "fill_share_ci_high": share["ci_high"],
                "inventory_std": q["std"], "inventory_std_ci_low": q["ci_low"],
                "inventory_std_ci_high": q["ci_high"],
            })
    return pd.DataFrame(rows)


def _market_display(m: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "N": m["n_agents"],
        "inside spread": [format_ci(r.inside_spread, r.inside_spread_ci_low,
                                    r.inside_spread_ci_high, 3) for r in m.itertuples()],
        "fills per path": [format_ci(r.fills_total, r.fills_total_ci_low,
                                     r.fills_total_ci_high, 1) for r in m.itertuples()],
        "total profit": [format_ci(r.profit_total, r.profit_total_ci_low,
                                   r.profit_total_ci_high) for r in m.itertuples()],
        "change vs N = 1 (paired)": [format_ci(r.profit_change_vs_1, r.profit_change_ci_low,
                                               r.profit_change_ci_high) for r in m.itertuples()],
        "total profit at dt/4": [format_ci(r.profit_total_dt4, r.profit_total_dt4_ci_low,
                                           r.profit_total_dt4_ci_high) for r in m.itertuples()],
        "per agent": m["profit_per_agent"].map("{:.2f}".format),
    })


def _agent_display(a: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "N": a["n_agents"], "agent": a["agent"], "gamma": a["gamma"].map("{:.3g}".format),
        "mean PnL": [format_ci(r.mean_pnl, r.mean_pnl_ci_low, r.mean_pnl_ci_high)
                     for r in a.itertuples()],
        "std PnL": a["std_pnl"].map("{:.2f}".format),
        "Sharpe": [format_ci(r.sharpe, r.sharpe_ci_low, r.sharpe_ci_high)
                   for r in a.itertuples()],
        "fill share": [format_ci(r.fill_share, r.fill_share_ci_low, r.fill_share_ci_high, 3)
                       for r in a.itertuples()],
        "inventory std": a["inventory_std"].map("{:.2f}".format),
    })


# --- the experiment -----------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    params = ctx.market(settings.market)
    cells_at = Cells(settings, params, ctx.paths(settings.paths))
    cells = cells_at(ctx.variation())
    n_max = max(settings.agent_counts)

    ctx.finding(
        "total_profit_vs_n", statistic=f"total profit, N = {n_max} minus N = 1 (paired)",
        statement=(f"{n_max} fixed AS makers on one market earn together {{value:.2f}} "
                   "[{ci_low:.2f}, {ci_high:.2f}] more per session than one maker alone "
                   "(the old headline: total profit rises with N)."),
        rule=Above(0.0), unit="price units", robustness_paths=settings.robustness_paths,
        estimate=lambda v: paired_change(cells_at(v), "profit"),
        section="competition_vs_n_table")
    ctx.finding(
        "inside_spread_vs_n", statistic=f"inside spread, N = {n_max} minus N = 1 (paired)",
        statement=(f"With {n_max} fixed makers the inside spread changes by {{value:.3f}} "
                   "[{ci_low:.3f}, {ci_high:.3f}] against one maker: the tightest quote of "
                   "the ladder, not a reaction to rivals."),
        rule=Below(0.0), unit="price units", robustness_paths=settings.robustness_paths,
        estimate=lambda v: paired_change(cells_at(v), "inside"),
        section="competition_vs_n_table")

    ctx.finding(
        "fills_vs_n", statistic=f"fills of all makers per session, N = {n_max} minus N = 1",
        statement=(f"{n_max} fixed makers trade {{value:.1f}} [{{ci_low:.1f}}, {{ci_high:.1f}}] "
                   "more fills per session together than one maker: the flow the tighter "
                   "inside quote reaches (fills never exceed the orders, whoever quotes)."),
        rule=Above(0.0), unit="fills", robustness_paths=settings.robustness_paths,
        estimate=lambda v: paired_change(cells_at(v), "fills"),
        section="competition_vs_n_table")

    dt4 = next((cells_at.done[v] for v in cells_at.done if v.label == "dt/4"), None)
    market = market_table(cells, dt4, params)
    ctx.table(market, "competition_vs_n_table", "Inside spread, fills and total profit by N",
              "Total profit is the sum of the N makers' PnL on a path; the change against "
              "N = 1 is paired (the same paths). The dt/4 column is the robustness run "
              "(fewer paths; empty in --quick).", display=_market_display(market))
    agents = agent_table(cells, settings)
    ctx.table(agents, "competition_agents", "Per-agent PnL, Sharpe, fill share and inventory",
              "Agent i of N has the i-th risk aversion of the ladder (increasing); Sharpe is "
              "mean / std of the terminal PnL per session.", display=_agent_display(agents))
    ctx.figure(_vs_n_figure(market), "competition_vs_n",
               "Total profit and inside spread against the number of fixed makers",
               "95% CIs over paths; dt/4 from the robustness run when it ran.")
    ctx.figure(_agents_figure(agents), "competition_agents_pnl",
               "Per-agent mean PnL against risk aversion, by N",
               "Each line is one N; 95% CIs over paths.")


# --- figures ------------------------------------------------------------------------------------
def _vs_n_figure(m: pd.DataFrame):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    n = m["n_agents"].to_numpy()
    style.plot_ci(left, n, m["profit_total"], m["profit_total_ci_low"],
                  m["profit_total_ci_high"], policy="fixed_as", label="dt")
    if m["profit_total_dt4"].notna().all():
        style.plot_ci(left, n, m["profit_total_dt4"], m["profit_total_dt4_ci_low"],
                      m["profit_total_dt4_ci_high"], style=style.policy_style("dt/4"),
                      label="dt / 4")
    style.plot_ci(right, n, m["inside_spread"], m["inside_spread_ci_low"],
                  m["inside_spread_ci_high"], policy="fixed_as", label="dt")
    for ax in (left, right):
        style.set_scale(ax, "x", "log")
        ax.set_xticks(n, [str(k) for k in n])
        ax.minorticks_off()
    style.label_axes(left, x=("number of makers N", ""), y=("total profit", "price units"))
    style.label_axes(right, x=("number of makers N", ""), y=("inside spread", "price units"))
    left.legend(frameon=False)
    fig.tight_layout()
    return fig


def _agents_figure(a: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7, 4))
    for n, g in a.groupby("n_agents"):
        if n == 1:
            continue
        style.plot_ci(ax, g["gamma"], g["mean_pnl"], g["mean_pnl_ci_low"],
                      g["mean_pnl_ci_high"], style=style.policy_style(f"N = {n}"),
                      label=f"N = {n}")
    style.set_scale(ax, "x", "log")
    style.label_axes(ax, x=("risk aversion gamma", "1 / price units"),
                     y=("mean PnL per agent", "price units"))
    style.legend_outside(ax)
    fig.tight_layout()
    return fig
