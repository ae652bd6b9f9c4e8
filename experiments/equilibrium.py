"""Equilibrium: strategic market makers on a tick grid. Do spreads compress to the
inventory-risk floor, and do profits vanish?

What it simulates. N identical makers (risk aversion ``gamma``) quote on one market with a
price grid (``tick_size``; quotes rounded away from the mid, time priority within a level)
and the inventory bound ``max_inventory``, allocated by :class:`asmm_env.fills.QueueFills`.
For N in ``agent_counts`` and four kinds of maker:

* ``fixed_as``: the AS (2008) quotes, blind to the rivals (the control of ``competition``,
  here with one gamma);
* ``undercut``: :class:`baselines.UndercutPolicy`, one tick inside the best rival quote while
  the edge exceeds its AS marginal inventory-risk cost, else its AS quote;
* ``competition_aware``: :class:`baselines.CompetitionAwarePolicy`, GLFT against the residual
  intensity (a 1/N share of the flow, and the rivals' quotes);
* ``nash``: the symmetric Nash equilibrium of :func:`baselines.symmetric_nash`: every maker
  quotes the AS depths plus the offset ``theta*`` that is its best reply (by its certainty
  equivalent) when the others quote ``theta*``, on the grid ``offsets``, found by iterated
  best response from the AS quotes (theta = 0) on ``nash_paths`` paths.

The strategic policies see the book's best rival quotes as they stood at the previous step
(:mod:`asmm_env.rollout`): they re-quote once per dt, so an undercutting race moves one tick
per step.

The predicted floor. The marginal maker (no inventory, sharing the inside level with N - 1
rivals) values one more order with the GLFT value function of the intensity ``A / N``; its
inventory-risk costs ``c_b = ln(v_0 / v_1) / k`` and ``c_a`` are what a fill must earn to be
worth its risk. Below ``c_b + c_a`` it loses by trading, so that is the tightest inside
spread competition can push it to (Bertrand: price at the marginal maker's cost), averaged
over the session (:func:`baselines.competition_aware.shared_flow_floor`), plus one tick on
the grid (each quote rounded away from the mid rests half a tick deeper on average). A
thinner share of the flow unwinds inventory more slowly, so the floor *rises* with N. The
AS valuation of the undercutters (inventory held to the horizon) has the higher floor
``gamma sigma^2 T / 2`` (the time average of ``gamma sigma^2 (T - t)``), shown beside it.

The ladder. ``ladder_agents`` undercutters (and, as control, fixed AS makers) with risk
aversions log-spaced from ``gamma_min`` to ``gamma_max``: does the most aggressive (lowest
gamma) earn more, with more variance, at a similar Sharpe ratio?

Method. Every cell runs on the run's seed (common random numbers across N and policies); the
Nash search runs on an independent seed (``ctx.seed_for(NASH_SEED)``): it is a training
sample, and choosing the offset on the evaluation paths would flatter the equilibrium's CE.
Per-agent statistics pool the N agents of a path (symmetric makers) with CIs over paths.
The findings are re-estimated at dt / 4 and at two other seeds on ``robustness_paths`` of the
paths, with the equilibrium offsets found at the configured dt (the equilibrium is not
solved again). Statistics: per-agent Sharpe = mean / std of a maker's terminal PnL per
session; CE at ``gamma``; fill share of the busiest maker on a path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.params import MarketParams
from asmm_env.validation import check_positive, check_positive_int
from baselines import (
    AvellanedaStoikovPolicy,
    CompetitionAwarePolicy,
    NashEquilibrium,
    OffsetPolicy,
    UndercutPolicy,
    symmetric_nash,
)
from baselines.competition_aware import shared_flow_floor
from baselines.nash import BestResponse, best_response
from experiments import style
from experiments._makers import (
    Cell,
    agent_gammas,
    function_of_means,
    pooled_ce,
    pooled_sharpe,
    pooled_std,
    simulate,
    std_of,
    top_fill_share,
    with_ci,
)
from experiments.findings import Above, Below, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import format_ci, mean_ci, ratio_ci, sharpe_ci, std_ci

TITLE = "Equilibrium: strategic makers, the spread floor and profit erosion"

POLICIES = ("fixed_as", "undercut", "competition_aware", "nash")
LADDER_POLICIES = ("fixed_as", "undercut")
NASH_SEED = 14          # key of the Nash search's independent seed


@dataclass(frozen=True)
class Settings:
    """``experiments.equilibrium`` in the config.

    market : a market of ``markets``; ``tick_size`` (price units, > 0) and
        ``max_inventory`` (shares, > 0; the GLFT valuations' bound) are set on it.
    gamma : risk aversion of every maker and of the CE, 1 / money.
    paths : paths per cell (>= 2).
    agent_counts : N (distinct integers >= 1, including 1).
    offsets : the Nash family's grid of offsets, price units (including 0, the AS quotes).
    nash_paths, nash_max_iterations : paths per best-response candidate; best responses.
    map_agents, map_offsets : the N whose best-response map is drawn over these rivals'
        offsets (when that N is run; not in ``--quick``).
    ladder_agents, gamma_min, gamma_max : the heterogeneous ladder (>= 2 agents).
    floor_tolerance : price units; the inside spread "is at the floor" within it.
    zero_profit_share : industry profit "goes to zero" below this share of a lone maker's.
    risk_remains_share : inventory risk "remains" above this share of a lone maker's
        inventory std.
    sharpe_tolerance : the ladder's Sharpe ratios "converge" when the largest is less than
        ``1 + tol`` times the smallest.
    robustness_paths : fraction (0, 1] of the paths for the dt / 4 and seed checks.
    quick_agent_counts, quick_nash_iterations : the N and best responses of a ``--quick``
        smoke run (with the config's ``quick_paths``).
    """

    market: str = "as2008"
    tick_size: float = 0.05
    max_inventory: float = 50.0
    gamma: float = 0.1
    paths: int = 1000
    agent_counts: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
    offsets: tuple[float, ...] = (-0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1,
                                  0.2)
    nash_paths: int = 1000
    nash_max_iterations: int = 12
    map_agents: int = 2
    map_offsets: tuple[float, ...] = (-0.8, -0.6, -0.4, -0.2, 0.0, 0.2)
    ladder_agents: int = 5
    gamma_min: float = 0.01
    gamma_max: float = 0.5
    floor_tolerance: float = 0.1
    zero_profit_share: float = 0.1
    risk_remains_share: float = 0.1
    sharpe_tolerance: float = 0.25
    robustness_paths: float = 0.25
    quick_agent_counts: tuple[int, ...] = (1, 2)
    quick_nash_iterations: int = 1

    def __post_init__(self) -> None:
        for name in ("tick_size", "max_inventory", "gamma", "gamma_min", "floor_tolerance",
                     "zero_profit_share", "risk_remains_share", "sharpe_tolerance"):
            check_positive(name, getattr(self, name))
        for name in ("paths", "nash_paths", "nash_max_iterations", "quick_nash_iterations"):
            check_positive_int(name, getattr(self, name))
        for name in ("agent_counts", "quick_agent_counts"):
            counts = getattr(self, name)
            if (not isinstance(counts, tuple) or len(set(counts)) != len(counts)
                    or 1 not in counts or len(counts) < 2
                    or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                               for n in counts)):
                raise ValueError(f"{name} must be distinct integers >= 1 including 1 and "
                                 f"another N, got {counts!r}")
        if not self.offsets or not any(abs(o) < 1e-12 for o in self.offsets):
            raise ValueError(f"offsets must include 0 (the AS quotes), got {self.offsets!r}")
        if not isinstance(self.ladder_agents, int) or self.ladder_agents < 2:
            raise ValueError(f"ladder_agents must be an integer >= 2, got "
                             f"{self.ladder_agents!r}")
        if not self.gamma_max > self.gamma_min:
            raise ValueError(f"gamma_max must be > gamma_min = {self.gamma_min}, got "
                             f"{self.gamma_max!r}")
        if not 0 < self.robustness_paths <= 1:
            raise ValueError(f"robustness_paths must be in (0, 1], got {self.robustness_paths!r}")

    @property
    def Q(self) -> int:
        return max(1, round(self.max_inventory))


# --- simulation ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def predicted_floor(params: MarketParams, settings: Settings, n_agents: int) -> float:
    """The shared-flow floor on the grid, price units (module docstring)."""
    return shared_flow_floor(gamma=settings.gamma, sigma=params.sigma, A=params.A, k=params.k,
                             T=params.T, dt=params.dt, n_agents=n_agents, Q=settings.Q,
                             order_size=params.order_size) + params.tick_size


class Equilibrium:
    """The cells of one run: every (policy, N) and the ladders, at any variation, simulated
    once and kept; the Nash offsets, solved once at the configured variation."""

    def __init__(self, ctx: Context, settings: Settings) -> None:
        self.settings = settings
        self.params = ctx.market(settings.market).replace(
            tick_size=settings.tick_size, max_inventory=settings.max_inventory)
        self.n_paths = ctx.paths(settings.paths)
        self.nash_paths = ctx.paths(settings.nash_paths)
        self.nash_seed = ctx.seed_for(NASH_SEED)
        self.counts = settings.quick_agent_counts if ctx.quick else settings.agent_counts
        self.nash_iterations = (settings.quick_nash_iterations if ctx.quick
                                else settings.nash_max_iterations)
        self.draw_map = not ctx.quick
        self.nash: dict[int, NashEquilibrium] = {}
        self.br_map: dict[float, BestResponse] = {}
        self._cells: dict[tuple, Cell] = {}

    def solve_nash(self) -> None:
        """Iterated best response for every N, each started from the previous N's offset."""
        s, start = self.settings, 0.0
        for n in sorted(self.counts):
            self.nash[n] = symmetric_nash(self.params, n, s.gamma, s.offsets,
                                          n_paths=self.nash_paths, seed=self.nash_seed,
                                          start=start, max_iterations=self.nash_iterations)
            start = self.nash[n].offset
        n = s.map_agents
        if n in self.nash and self.draw_map:
            self.br_map = dict(self.nash[n].responses)
            for rival in s.map_offsets:
                if not any(abs(rival - r) < 1e-9 for r in self.br_map):
                    self.br_map[rival] = best_response(
                        rival, s.offsets, params=self.params, n_agents=n, gamma=s.gamma,
                        n_paths=self.nash_paths, seed=self.nash_seed)

    def policies(self, kind: str, params: MarketParams, n: int) -> list:
        g = self.settings.gamma
        if kind == "fixed_as":
            return [AvellanedaStoikovPolicy.from_env(params, g)] * n
        if kind == "undercut":
            return [UndercutPolicy.from_env(params, g)] * n
        if kind == "competition_aware":
            return [CompetitionAwarePolicy.from_env(params, g, n, self.settings.Q)] * n
        return [OffsetPolicy.from_env(params, g, self.nash[n].offset)] * n

    def cell(self, v: Variation, kind: str, n: int) -> Cell:
        key = (v, kind, n)
        if key not in self._cells:
            params = v.market(self.params)
            self._cells[key] = simulate(self.policies(kind, params, n), params,
                                        v.paths(self.n_paths), v.seed)
        return self._cells[key]

    def ladder(self, v: Variation, kind: str) -> Cell:
        key = (v, "ladder", kind)
        if key not in self._cells:
            s, params = self.settings, v.market(self.params)
            gammas = agent_gammas(s.ladder_agents, s.gamma_min, s.gamma_max)
            make = AvellanedaStoikovPolicy if kind == "fixed_as" else UndercutPolicy
            self._cells[key] = simulate([make.from_env(params, float(g)) for g in gammas],
                                        params, v.paths(self.n_paths), v.seed)
        return self._cells[key]


# --- tables -------------------------------------------------------------------------------------
def equilibrium_table(eq: Equilibrium, v: Variation) -> pd.DataFrame:
    """One row per (policy, N): inside spread, per-agent and total profit, per-agent Sharpe and
    CE, inventory std, the busiest maker's fill share, with 95% CIs, and the floor."""
    s, rows = eq.settings, []
    for kind in POLICIES:
        for n in sorted(eq.counts):
            c = eq.cell(v, kind, n)
            per_agent = mean_ci(c.total / n)
            ce = pooled_ce(c.pnl, s.gamma)
            rows.append({
                "policy": kind, "n_agents": n, "paths": c.pnl.shape[0],
                **with_ci("inside_spread", mean_ci(c.inside), "mean"),
                **with_ci("profit_per_agent", per_agent, "mean"),
                **with_ci("profit_total", mean_ci(c.total), "mean"),
                **with_ci("sharpe_per_agent", pooled_sharpe(c.pnl), "sharpe"),
                **with_ci("ce_per_agent", ce, "ce"), "ce_reliable": ce["reliable"],
                **with_ci("inventory_std", pooled_std(c.inventory), "std"),
                **with_ci("top_fill_share", top_fill_share(c.fills), "mean"),
                "fills_total": float(c.fills.sum(axis=1).mean()),
                "predicted_floor": predicted_floor(v.market(eq.params), s, n),
                "nash_offset": eq.nash[n].offset if kind == "nash" else np.nan,
                "max_identity_residual": c.max_residual,
            })
    return pd.DataFrame(rows)


def floor_table(eq: Equilibrium) -> pd.DataFrame:
    s, p = eq.settings, eq.params
    rows = []
    for n in sorted(eq.counts):
        nash = eq.nash[n]
        rows.append({"n_agents": n, "predicted_floor": predicted_floor(p, s, n),
                     "predicted_floor_continuous": predicted_floor(p, s, n) - p.tick_size,
                     "as_valuation_floor": s.gamma * p.sigma**2 * p.T / 2 + p.tick_size,
                     "nash_offset": nash.offset, "nash_converged": nash.converged,
                     "nash_best_responses": len(nash.responses)})
    return pd.DataFrame(rows)


def nash_table(eq: Equilibrium) -> pd.DataFrame:
    """Every best-response candidate evaluated (the iterations, and the map of
    ``map_agents``): the data of the best-response figure."""
    rows = []
    for n, nash in sorted(eq.nash.items()):
        responses = eq.br_map if n == eq.settings.map_agents and eq.br_map else nash.responses
        for rival, br in sorted(responses.items()):
            for theta, ce, mean in zip(br.candidates, br.ce, br.mean_pnl, strict=True):
                rows.append({"n_agents": n, "rival_offset": rival, "offset": float(theta),
                             "ce": float(ce), "mean_pnl": float(mean),
                             "best": bool(theta == br.best),
                             "iteration": rival in nash.responses,
                             "fixed_point": bool(rival == nash.offset and nash.converged)})
    return pd.DataFrame(rows)


def ladder_table(eq: Equilibrium, v: Variation) -> pd.DataFrame:
    s, rows = eq.settings, []
    gammas = agent_gammas(s.ladder_agents, s.gamma_min, s.gamma_max)
    for kind in LADDER_POLICIES:
        c = eq.ladder(v, kind)
        for i, g in enumerate(gammas):
            pnl = c.pnl[:, i]
            rows.append({
                "policy": kind, "agent": i, "gamma": float(g),
                **with_ci("mean_pnl", mean_ci(pnl), "mean"),
                **with_ci("std_pnl", std_ci(pnl), "std"),
                **with_ci("sharpe", sharpe_ci(pnl), "sharpe"),
                **with_ci("fill_share", ratio_ci(c.fills[:, i], c.fills.sum(axis=1)), "ratio"),
                "inventory_std": float(c.inventory[:, i].std(ddof=1)),
            })
    return pd.DataFrame(rows)


def _display(t: pd.DataFrame) -> pd.DataFrame:
    def ci(name, digits=2):
        return [format_ci(r[name], r[f"{name}_ci_low"], r[f"{name}_ci_high"], digits)
                for _, r in t.iterrows()]

    return pd.DataFrame({
        "policy": t["policy"], "N": t["n_agents"],
        "inside spread": ci("inside_spread", 3), "floor": t["predicted_floor"].map("{:.3f}".format),
        "profit per agent": ci("profit_per_agent"), "total profit": ci("profit_total"),
        "Sharpe per agent": ci("sharpe_per_agent"), "CE per agent": ci("ce_per_agent"),
        "inventory std": ci("inventory_std"), "busiest maker's fill share": ci("top_fill_share", 3),
    })


def _ladder_display(t: pd.DataFrame) -> pd.DataFrame:
    def ci(name, digits=2):
        return [format_ci(r[name], r[f"{name}_ci_low"], r[f"{name}_ci_high"], digits)
                for _, r in t.iterrows()]

    return pd.DataFrame({"policy": t["policy"], "gamma": t["gamma"].map("{:.3g}".format),
                         "mean PnL": ci("mean_pnl"), "std PnL": ci("std_pnl"),
                         "Sharpe": ci("sharpe"), "fill share": ci("fill_share", 3),
                         "inventory std": t["inventory_std"].map("{:.2f}".format)})


# --- findings' statistics -----------------------------------------------------------------------
def _estimate(stats: dict[str, float], key: str = "value") -> Estimate:
    return Estimate(stats[key], stats["ci_low"], stats["ci_high"])


def nash_change(eq: Equilibrium, v: Variation, what: str) -> Estimate:
    """Nash makers, largest N against N = 1 on the same paths: the inside spread difference
    (``"inside"``), the industry-profit ratio (``"profit"``) or the ratio of the per-agent
    terminal-inventory std (``"inventory"``)."""
    n_max = max(eq.counts)
    big, one = eq.cell(v, "nash", n_max), eq.cell(v, "nash", 1)
    if what == "inside":
        return Estimate.from_stats(mean_ci(big.inside - one.inside), "mean")
    if what == "profit":
        return _estimate(ratio_ci(big.total, one.total), "ratio")
    q_big, q_one = big.inventory, one.inventory
    return _estimate(function_of_means(
        lambda a, b, c, d: std_of(a, b) / std_of(c, d), q_big.mean(axis=1),
        (q_big**2).mean(axis=1), q_one.mean(axis=1), (q_one**2).mean(axis=1)))


def floor_gap(eq: Equilibrium, v: Variation) -> Estimate:
    """Nash inside spread at the largest N minus the predicted floor there."""
    n_max = max(eq.counts)
    gap = mean_ci(eq.cell(v, "nash", n_max).inside)
    floor = predicted_floor(v.market(eq.params), eq.settings, n_max)
    return Estimate(gap["mean"] - floor, gap["ci_low"] - floor, gap["ci_high"] - floor)


def ladder_contrast(eq: Equilibrium, v: Variation, what: str) -> Estimate:
    """Undercutter ladder on the same paths: the most aggressive (lowest gamma) against the
    most risk-averse, mean PnL difference (``"mean"``) and std ratio (``"std"``); and the
    spread of the Sharpe ratios over the whole ladder, largest / smallest (``"sharpe"``)."""
    c = eq.ladder(v, "undercut")
    lo, hi = c.pnl[:, 0], c.pnl[:, -1]
    if what == "mean":
        return Estimate.from_stats(mean_ci(lo - hi), "mean")
    if what == "std":
        return _estimate(function_of_means(lambda a, b, c, d: std_of(a, b) / std_of(c, d),
                                           lo, lo**2, hi, hi**2))

    def spread(*m):
        sharpe = [m[2 * i] / std_of(m[2 * i], m[2 * i + 1]) for i in range(len(m) // 2)]
        return max(sharpe) / min(sharpe)

    columns = [col for i in range(c.n_agents) for col in (c.pnl[:, i], c.pnl[:, i] ** 2)]
    return _estimate(function_of_means(spread, *columns))


# --- the experiment -----------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    eq = Equilibrium(ctx, settings)
    eq.solve_nash()
    v = ctx.variation()
    s, n_max = settings, max(eq.counts)
    checks = {"robustness_paths": s.robustness_paths}

    ctx.finding("spread_compression", claim=8,
                statistic=f"inside spread, Nash N = {n_max} minus N = 1 (paired)",
                statement=(f"In the symmetric Nash equilibrium the inside spread of {n_max} "
                           "makers minus a lone maker's is {value:.3f} [{ci_low:.3f}, "
                           "{ci_high:.3f}]."),
                rule=Below(0.0), unit="price units", section="equilibrium_spread",
                estimate=lambda v: nash_change(eq, v, "inside"), **checks)
    ctx.finding("profit_erosion", claim=8,
                statistic=f"industry profit, Nash N = {n_max} / N = 1",
                statement=(f"{n_max} makers in equilibrium earn together {{value:.2f}} "
                           "[{ci_low:.2f}, {ci_high:.2f}] times what a lone maker earns."),
                rule=Below(1.0), section="equilibrium_profit",
                estimate=lambda v: nash_change(eq, v, "profit"), **checks)
    ctx.finding("spread_at_floor",
                statistic=f"Nash inside spread minus predicted floor, N = {n_max}",
                statement=(f"At N = {n_max} the equilibrium inside spread minus the predicted "
                           "floor (the marginal maker's shared-flow inventory-risk cost) is "
                           "{value:.3f} [{ci_low:.3f}, {ci_high:.3f}]."),
                rule=Near(0.0, s.floor_tolerance), unit="price units",
                section="equilibrium_spread", estimate=lambda v: floor_gap(eq, v), **checks)
    ctx.finding("profit_vanishes", claim=9,
                statistic=f"industry profit, Nash N = {n_max} / N = 1",
                statement=(f"Profits going to zero would leave {n_max} equilibrium makers less "
                           f"than {s.zero_profit_share:g} of a lone maker's profit; they keep "
                           "{value:.2f} [{ci_low:.2f}, {ci_high:.2f}]."),
                rule=Below(s.zero_profit_share), section="equilibrium_profit",
                estimate=lambda v: nash_change(eq, v, "profit"), **checks)
    ctx.finding("inventory_risk_remains", claim=9,
                statistic=f"per-agent terminal inventory std, Nash N = {n_max} / N = 1",
                statement=(f"Each of {n_max} equilibrium makers ends the session with an "
                           "inventory whose std is {value:.2f} [{ci_low:.2f}, {ci_high:.2f}] "
                           "times a lone maker's."),
                rule=Above(s.risk_remains_share), section="equilibrium", **checks,
                estimate=lambda v: nash_change(eq, v, "inventory"))
    low, high = s.gamma_min, s.gamma_max
    ctx.finding("aggressive_earn_more", claim=8,
                statistic=f"mean PnL, undercutter gamma {low:g} minus gamma {high:g} (paired)",
                statement=(f"Among {s.ladder_agents} undercutters the most aggressive (gamma "
                           f"{low:g}) earns {{value:.2f}} [{{ci_low:.2f}}, {{ci_high:.2f}}] more "
                           f"than the most risk-averse (gamma {high:g})."),
                rule=Above(0.0), unit="price units", section="equilibrium_ladder",
                estimate=lambda v: ladder_contrast(eq, v, "mean"), **checks)
    ctx.finding("aggressive_more_variance", claim=8,
                statistic=f"std of PnL, undercutter gamma {low:g} / gamma {high:g}",
                statement=("The most aggressive undercutter's PnL std is {value:.2f} "
                           "[{ci_low:.2f}, {ci_high:.2f}] times the most risk-averse one's."),
                rule=Above(1.0), section="equilibrium_ladder",
                estimate=lambda v: ladder_contrast(eq, v, "std"), **checks)
    tol = s.sharpe_tolerance
    ctx.finding("risk_adjusted_converge", claim=8,
                statistic="Sharpe ratio per session, largest / smallest over the undercutter "
                          "ladder",
                statement=(f"The {s.ladder_agents} undercutters' Sharpe ratios span a factor "
                           "{value:.2f} [{ci_low:.2f}, {ci_high:.2f}] from the lowest to the "
                           f"highest (converged: within a factor {1 + tol:g})."),
                rule=Below(1 + tol), section="equilibrium_ladder",
                estimate=lambda v: ladder_contrast(eq, v, "sharpe"), **checks)

    table = equilibrium_table(eq, v)
    ctx.table(table, "equilibrium", "Inside spread, profit and risk by kind of maker and N",
              "Per-agent statistics pool the N symmetric makers of a path; 95% CIs over "
              "paths (CE: only where reliable). Floor: the predicted floor on the grid.",
              display=_display(table))
    ctx.figure(_spread_figure(table), "equilibrium_spread",
               "Inside spread against N, by kind of maker, beside the predicted floor",
               "95% CIs over paths; the floor is the marginal maker's inventory-risk cost "
               "with a 1/N share of the flow, plus one tick for the grid.")
    ctx.figure(_profit_figure(table), "equilibrium_profit",
               "Industry profit and per-agent certainty equivalent against N",
               "95% CIs over paths.")
    floors = floor_table(eq)
    ctx.table(floors, "equilibrium_floor", "Predicted floor and Nash offsets by N",
              "predicted_floor includes one tick (the grid); as_valuation_floor is the floor "
              "of the undercutters' AS valuation (inventory held to the horizon).")
    ctx.table(nash_table(eq), "equilibrium_nash", "Best responses of the Nash search",
              "Agent 0's CE for each offset tried against rivals at rival_offset (the "
              "search's own sample of paths).")
    ctx.figure(_nash_figure(eq), "equilibrium_best_response",
               "Best-response map and its fixed points",
               "Left: the best response BR(rivals' offset) over the grid for the mapped N "
               "(line), and every best response of the iterations (dots, per N); a fixed "
               "point sits on the diagonal (circled). Right: a deviator's CE against its "
               "offset with the rivals at the equilibrium, relative to the equilibrium's "
               "(the search's own paths).")
    ladder = ladder_table(eq, v)
    ctx.table(ladder, "equilibrium_ladder", "The heterogeneous gamma ladder",
              f"{s.ladder_agents} makers, risk aversions log-spaced from {low:g} to {high:g}; "
              "95% CIs over paths.", display=_ladder_display(ladder))
    ctx.figure(_ladder_figure(ladder), "equilibrium_ladder_figure",
               "Mean PnL and Sharpe ratio against risk aversion on the ladder",
               "95% CIs over paths.")


# --- figures ------------------------------------------------------------------------------------
def _log_n(ax, n) -> None:
    style.set_scale(ax, "x", "log")
    ax.set_xticks(n, [str(k) for k in n])
    ax.minorticks_off()


def _spread_figure(t: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for kind, g in t.groupby("policy", sort=False):
        style.plot_ci(ax, g["n_agents"], g["inside_spread"], g["inside_spread_ci_low"],
                      g["inside_spread_ci_high"], policy=kind, label=kind)
    g = t[t["policy"] == POLICIES[0]]
    ax.plot(g["n_agents"], g["predicted_floor"], color="0.3", linewidth=2.0,
            label="predicted floor")
    _log_n(ax, g["n_agents"].to_numpy())
    ax.set_ylim(bottom=0.0)
    style.label_axes(ax, x=("number of makers N", ""), y=("inside spread", "price units"))
    style.legend_outside(ax)
    fig.tight_layout()
    return fig


def _profit_figure(t: pd.DataFrame):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, g in t.groupby("policy", sort=False):
        style.plot_ci(left, g["n_agents"], g["profit_total"], g["profit_total_ci_low"],
                      g["profit_total_ci_high"], policy=kind, label=kind)
        style.plot_ci(right, g["n_agents"], g["ce_per_agent"], g["ce_per_agent_ci_low"],
                      g["ce_per_agent_ci_high"], policy=kind, label=kind)
    n = t["n_agents"].unique()
    for ax in (left, right):
        _log_n(ax, n)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
    style.label_axes(left, x=("number of makers N", ""), y=("industry profit", "price units"))
    style.label_axes(right, x=("number of makers N", ""),
                     y=("certainty equivalent per agent", "price units"))
    style.legend_outside(right)
    fig.tight_layout()
    return fig


def _n_colours(counts) -> dict[int, tuple]:
    """One colour per N, light to dark (a sequential map: N is ordered)."""
    counts = sorted(counts)
    cmap = plt.get_cmap("viridis")
    return {n: cmap(0.85 * i / max(len(counts) - 1, 1)) for i, n in enumerate(counts)}


def _nash_figure(eq: Equilibrium):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    grid = np.asarray(eq.settings.offsets)
    colours = _n_colours(eq.nash)
    left.plot(grid, grid, color="0.6", linewidth=0.8, label="diagonal")
    if eq.br_map:
        rivals = np.array(sorted(eq.br_map))
        left.plot(rivals, [eq.br_map[r].best for r in rivals], color="0.2", linewidth=1.6,
                  marker="s", label=f"map, N = {eq.settings.map_agents}")
    for n, nash in sorted(eq.nash.items()):
        rivals = np.array(sorted(nash.responses))
        left.plot(rivals, [nash.responses[r].best for r in rivals], linestyle="none",
                  marker="o", color=colours[n], label=f"N = {n}")
        if nash.converged:
            left.plot([nash.offset], [nash.offset], marker="o", markersize=13,
                      markerfacecolor="none", color=colours[n], linestyle="none")
        at = nash.responses.get(nash.offset)
        if at is not None:
            ce_star = at.ce[np.argmin(np.abs(at.candidates - nash.offset))]
            right.plot(at.candidates - nash.offset, at.ce - ce_star, marker="o",
                       color=colours[n], label=f"N = {n}")
    right.axhline(0.0, color="0.6", linewidth=0.8)
    step = float(np.min(np.diff(grid))) if grid.size > 1 else 0.1
    right.set_xticks([-step, 0.0, step], [f"{-step:+.2f}", "0", f"{step:+.2f}"])
    style.label_axes(left, x=("rivals' offset", "price units"),
                     y=("best-response offset", "price units"))
    style.label_axes(right, x=("deviator's offset minus equilibrium", "price units"),
                     y=("deviator's CE minus equilibrium CE", "price units"))
    left.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _ladder_figure(t: pd.DataFrame):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, g in t.groupby("policy", sort=False):
        style.plot_ci(left, g["gamma"], g["mean_pnl"], g["mean_pnl_ci_low"],
                      g["mean_pnl_ci_high"], policy=kind, label=kind)
        style.plot_ci(right, g["gamma"], g["sharpe"], g["sharpe_ci_low"], g["sharpe_ci_high"],
                      policy=kind, label=kind)
    for ax in (left, right):
        style.set_scale(ax, "x", "log")
    style.label_axes(left, x=("risk aversion gamma", "1 / price units"),
                     y=("mean PnL", "price units"))
    style.label_axes(right, x=("risk aversion gamma", "1 / price units"),
                     y=("Sharpe ratio per session", ""))
    style.legend_outside(right)
    fig.tight_layout()
    return fig

