"""Competition: N Avellaneda–Stoikov market makers with different risk aversions quote on one
market, and market orders go to the best-priced quotes within their reach.

Setup. For each N in ``agent_counts`` (default 1, 2, 3, 5, 10, 20), N agents run the AS (2008)
inventory strategy (:class:`baselines.AvellanedaStoikovPolicy`, with the time term) on the
configured market (the AS 2008 setup by default). Agent ``i`` of N has the risk aversion

    gamma_i = gamma_min * (gamma_max / gamma_min) ** (i / (N - 1)),   i = 0, ..., N - 1

(log-spaced, agent 0 the least risk-averse, agent N - 1 the most), and the lone agent of N = 1
has the geometric midpoint ``sqrt(gamma_min gamma_max)``. The agents do not know they compete:
each quotes the single-agent AS formula for its own inventory. Orders are allocated by
:class:`asmm_env.fills.ReachFills` (market orders at rate A per side with reach ``Exp(k)``,
price then time priority, seeded tie-break), also for N = 1, where it is exact in law.

Two references. (1) Single-agent sanity: the N = 1 agent is also run on the single-agent env
(``IntensityFills``, independent seeds), and the two must agree within sampling error.
(2) Stand-alone profits: every risk aversion of the ladders is run alone (all of them on one
market with independent fills per quote, which is each agent alone in law), so each agent's
competitive PnL can be set against what it would earn without competitors.

Seeds. Paths are simulated in blocks of ``block_paths``; block ``b`` of N agents uses
``ctx.seed_for(1, N, b)`` (single-agent reference: ``ctx.seed_for(2, 1, b)``; stand-alone
runs: ``ctx.seed_for(3, b)``), so results depend only on the root seed, the path count and the
configuration, never on ``--workers``. Different N use independent seeds: differences between
N are between independent samples.

Definitions (money in price units x shares, per session of length T; inventory in shares):

* per-agent PnL: terminal mark-to-market PnL; Sharpe = mean / std across paths;
* fill share: the agent's fills / all agents' fills, pooled over paths (ratio estimator with a
  delta-method CI over paths);
* quoted half-spread: ``(bid_depth + ask_depth) / 2`` averaged over steps and paths (for AS this
  does not depend on the inventory: the skew moves both quotes together);
* inside share: the fraction of (step, side) on which the agent's quote is the best price
  (shared equally among agents at the same best price), averaged over paths;
* inside spread: best ask depth + best bid depth over agents, per step;
* total market-maker profit: the sum of all agents' PnL on a path.

Checks in every block: the per-agent accounting identity (``rollout``'s
``max_identity_residual``) and volume conservation (per step, path and side the shares
filled across agents equal the shares the market orders executed, and never exceed the
orders' volume), through :class:`VolumeCheck` wrapped around the fill model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from asmm_env.analytic.avellaneda_stoikov import optimal_spread
from asmm_env.fills import ReachFills, build_fill_model
from asmm_env.market import Market
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from asmm_env.validation import check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy
from experiments.framework import Context
from experiments.stats import Z95, format_ci, mean_ci, ratio_ci, sharpe, std_ci

TITLE = "Competition: N Avellaneda–Stoikov market makers on one market"

_COMPETITION, _SINGLE, _ALONE = 1, 2, 3   # seed keys: competition, single-agent env, alone


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.competition`` in the config.

    market : name of a market in ``markets``.
    paths : Monte Carlo paths per N (>= 1).
    block_paths : paths per task (>= 1): the unit of parallel work and of memory (every path
        of a block is recorded for the quote diagnostics).
    agent_counts : the numbers of agents N (distinct integers >= 1, must include 1: the
        reference of the profit erosion and of the single-agent sanity check).
    gamma_min, gamma_max : the risk-aversion ladder, 1 / money (0 < gamma_min < gamma_max).
    detail_agents : the N (one of ``agent_counts``) whose fill shares are drawn over time.
    """

    market: str = "as2008"
    paths: int = 4000
    block_paths: int = 1000
    agent_counts: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
    gamma_min: float = 0.01
    gamma_max: float = 0.5
    detail_agents: int = 5

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        check_positive_int("block_paths", self.block_paths)
        counts = self.agent_counts
        if (not isinstance(counts, tuple) or not counts
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                           for n in counts)):
            raise ValueError(f"agent_counts must be a non-empty list of integers >= 1, "
                             f"got {counts!r}")
        if len(set(counts)) != len(counts):
            raise ValueError(f"agent_counts must not repeat a value, got {list(counts)}")
        if 1 not in counts:
            raise ValueError(f"agent_counts must include 1 (the single-agent reference), "
                             f"got {list(counts)}")
        check_positive("gamma_min", self.gamma_min)
        check_positive("gamma_max", self.gamma_max)
        if not self.gamma_min < self.gamma_max:
            raise ValueError(f"gamma_max must be > gamma_min = {self.gamma_min}, "
                             f"got {self.gamma_max!r}")
        if self.detail_agents not in counts:
            raise ValueError(f"detail_agents must be one of agent_counts {list(counts)}, "
                             f"got {self.detail_agents!r}")


def agent_gammas(n_agents: int, gamma_min: float, gamma_max: float) -> np.ndarray:
    """The risk aversions of agents ``0 .. n_agents - 1`` (1 / money), increasing.

    Log-spaced from ``gamma_min`` to ``gamma_max`` inclusive; one agent gets the geometric
    midpoint ``sqrt(gamma_min gamma_max)``.
    """
    check_positive_int("n_agents", n_agents)
    if n_agents == 1:
        return np.array([math.sqrt(gamma_min * gamma_max)])
    i = np.arange(n_agents)
    return gamma_min * (gamma_max / gamma_min) ** (i / (n_agents - 1))


# --- volume conservation -------------------------------------------------------------------
class VolumeCheck:
    """A fill model wrapper that checks, on every step, path and side, that the shares filled
    across agents equal the shares the step's market orders executed and never exceed the
    orders' volume (count x size). It changes nothing: ``fill`` returns the inner result.

    Attributes
    ----------
    max_mismatch : float
        Largest ``|sum over agents of fills - sum of executed order volume|``, shares.
    max_excess : float
        Largest ``sum over agents of fills - orders x market_order_size`` (<= 0 when volume is
        conserved), shares; ``-inf`` before the first step.
    orders, executed : float
        Market orders drawn and shares they executed, summed over steps, paths and sides.
    """

    def __init__(self, inner: ReachFills) -> None:
        self.inner = inner
        self.max_mismatch, self.max_excess = 0.0, -math.inf
        self.orders, self.executed = 0.0, 0.0

    def reset(self, n_paths: int, n_agents: int) -> None:
        self.inner.reset(n_paths, n_agents)

    def fill(self, mid, depths, allowed, dS, dt, rng):
        volume = self.inner.fill(mid, depths, allowed, dS, dt, rng)
        orders = self.inner.last_orders
        n_rows = 2 * depths.shape[0]
        rows = 2 * orders.path + orders.side
        executed = np.bincount(rows, weights=orders.executed, minlength=n_rows)
        offered = np.bincount(rows, minlength=n_rows) * orders.size
        filled = volume.sum(axis=1).reshape(-1)          # (path, side) rows, like ``rows``
        self.max_mismatch = max(self.max_mismatch, float(np.abs(filled - executed).max()))
        self.max_excess = max(self.max_excess, float((filled - offered).max()))
        self.orders += float(rows.size)
        self.executed += float(orders.executed.sum())
        return volume


class CheckedMarkets:
    """``market_factory`` for :func:`asmm_env.rollout.rollout`: the competition market
    (``ReachFills``, also for one agent) with a :class:`VolumeCheck`; keeps the checks."""

    def __init__(self) -> None:
        self.checks: list[VolumeCheck] = []

    def __call__(self, params: MarketParams, n_paths: int, n_agents: int) -> Market:
        check = VolumeCheck(ReachFills.from_params(params))
        self.checks.append(check)
        return Market(params, n_paths, n_agents, fill_model=check)


# --- one block of paths --------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A task: ``n_paths`` paths of ``n_agents`` AS agents (``competition``: ReachFills;
    otherwise the single-agent env's IntensityFills), paths ``start ..`` of its cell."""

    competition: bool
    n_agents: int
    gammas: tuple[float, ...]
    params: MarketParams
    n_paths: int
    start: int
    seed: int


def simulate_block(block: Block) -> dict:
    """Roll out one block and reduce it to per-(path, agent) rows and per-step sums."""
    params = block.params
    policies = [AvellanedaStoikovPolicy.from_env(params, g) for g in block.gammas]
    factory = CheckedMarkets() if block.competition else None
    n = block.n_paths
    res = rollout(policies, params, n_paths=n, seed=block.seed, chunk_size=n,
                  record_paths=n, market_factory=factory)
    traj = res.trajectories
    bid, ask, fills = traj["bid_depth"], traj["ask_depth"], traj["fills"]  # (steps, n, a[, 2])
    quotes = np.stack([bid, ask], axis=-1)                                  # (steps, n, a, 2)
    best = quotes.min(axis=2, keepdims=True)
    tol = 1e-12 * (np.abs(best) + 1.0)
    at_best = quotes <= best + tol
    inside_share = (at_best / at_best.sum(axis=2, keepdims=True)).mean(axis=(0, 3))   # (n, a)
    q_before = traj["inventory"][:-1]
    unwinding = (fills[..., 0] * (q_before < 0) + fills[..., 1] * (q_before > 0)).sum(axis=0)
    with_position = (fills.sum(axis=-1) * (q_before != 0)).sum(axis=0)

    frame = res.paths.drop(columns=["cash", "adverse_selection", "fees"])
    frame["path"] += block.start
    frame["gamma"] = np.tile(np.asarray(block.gammas), n)
    frame["half_spread"] = (0.5 * (bid + ask)).mean(axis=0).reshape(-1)
    frame["inside_share"] = inside_share.reshape(-1)
    frame["unwinding_fills"] = unwinding.reshape(-1)
    frame["fills_with_position"] = with_position.reshape(-1)
    scale = np.maximum.reduce([np.abs(frame["spread_capture"].to_numpy()),
                               np.abs(frame["inventory_pnl"].to_numpy()),
                               np.ones(len(frame))])
    frame["relative_residual"] = frame["max_identity_residual"] / scale
    out = {
        "paths": frame,
        "inside_path": best[:, :, 0].sum(axis=-1).mean(axis=0),     # (n,) time-mean per path
        "inside_step_sum": res.inside_spread_mean * n,              # (steps,)
        "fills_step": fills.sum(axis=(1, 3)),                       # (steps, a)
        "check": None,
    }
    if factory is not None:
        checks = factory.checks
        out["check"] = {"max_mismatch": max(c.max_mismatch for c in checks),
                        "max_excess": max(c.max_excess for c in checks),
                        "orders": sum(c.orders for c in checks),
                        "executed": sum(c.executed for c in checks)}
    return out


@dataclass(frozen=True)
class Alone:
    """A task: AS agents of risk aversions ``gammas``, each trading alone, ``n_paths`` paths
    (the stand-alone profit each competitor would make without the others).

    All of them step on one market with the single-agent fill model (``IntensityFills``: each
    quote is filled independently, nobody takes anyone's flow), so every agent's statistics
    are those of the single-agent env, which the N = 1 sanity check ties to the competition
    market with one agent. They share the mid paths, so their results are correlated with each
    other (not with the competition cells, which have their own seeds).
    """

    gammas: tuple[float, ...]
    params: MarketParams
    n_paths: int
    seed: int


def simulate_alone(task: Alone) -> dict[str, np.ndarray]:
    """Terminal PnL and fills, (n_paths, len(gammas)), of each agent alone."""
    policies = [AvellanedaStoikovPolicy.from_env(task.params, g) for g in task.gammas]

    def independent(params: MarketParams, n_paths: int, n_agents: int) -> Market:
        return Market(params, n_paths, n_agents, fill_model=build_fill_model(params, 1))

    res = rollout(policies, task.params, n_paths=task.n_paths, seed=task.seed,
                  market_factory=independent)
    shape = (task.n_paths, len(task.gammas))
    return {"pnl": res.paths["terminal_pnl"].to_numpy().reshape(shape),
            "fills": res.paths["fills"].to_numpy().reshape(shape)}


def simulate_task(task: Block | Alone) -> dict:
    """Run a :class:`Block` or an :class:`Alone` task (the one function ``ctx.map`` runs)."""
    return simulate_alone(task) if isinstance(task, Alone) else simulate_block(task)


def gamma_key(gamma: float) -> float:
    """Equal risk aversions from different ladders (up to rounding) share a stand-alone run."""
    return round(float(gamma), 12)


@dataclass
class CellResult:
    """All blocks of one (market, N) cell, concatenated."""

    n_agents: int
    gammas: np.ndarray
    paths: pd.DataFrame          # one row per (path, agent)
    inside_path: np.ndarray      # (n_paths,)
    inside_step: np.ndarray      # (n_steps,) mean over paths
    fills_step: np.ndarray       # (n_steps, n_agents) summed over paths
    check: dict | None


def _merge(n_agents: int, gammas: np.ndarray, outs: list[dict]) -> CellResult:
    n = sum(len(o["inside_path"]) for o in outs)
    checks = [o["check"] for o in outs if o["check"] is not None]
    check = None
    if checks:
        check = {"max_mismatch": max(c["max_mismatch"] for c in checks),
                 "max_excess": max(c["max_excess"] for c in checks),
                 "orders": sum(c["orders"] for c in checks),
                 "executed": sum(c["executed"] for c in checks)}
    return CellResult(n_agents, gammas,
                      pd.concat([o["paths"] for o in outs], ignore_index=True),
                      np.concatenate([o["inside_path"] for o in outs]),
                      sum(o["inside_step_sum"] for o in outs) / n,
                      sum(o["fills_step"] for o in outs), check)


def simulate(ctx: Context, settings: Settings, params: MarketParams, n_paths: int,
             ) -> tuple[dict[int, CellResult], CellResult, dict[float, dict[str, np.ndarray]]]:
    """Every N on the competition market, the single-agent reference (block by block), and
    every risk aversion of the ladders alone (keyed by :func:`gamma_key`)."""
    tasks: list[Block | Alone] = []
    ladder: set[float] = set()
    for n_agents in sorted(settings.agent_counts, reverse=True):   # big cells first
        gammas = tuple(float(g) for g in agent_gammas(n_agents, settings.gamma_min,
                                                      settings.gamma_max))
        ladder.update(gamma_key(g) for g in gammas)
        tasks += _blocks(ctx, True, n_agents, gammas, params, n_paths, settings.block_paths)
    single = tuple(float(g) for g in agent_gammas(1, settings.gamma_min, settings.gamma_max))
    tasks += _blocks(ctx, False, 1, single, params, n_paths, settings.block_paths)
    unique = tuple(sorted(ladder))
    alone = [Alone(unique, params, min(settings.block_paths, n_paths - start),
                   ctx.seed_for(_ALONE, b))
             for b, start in enumerate(range(0, n_paths, settings.block_paths))]
    outs = ctx.map(simulate_task, tasks + alone, desc="tasks")
    grouped: dict[tuple[bool, int], list[dict]] = {}
    for task, out in zip(tasks, outs, strict=False):
        grouped.setdefault((task.competition, task.n_agents), []).append(out)
    alone_outs = outs[len(tasks):]
    alone_results = {g: {key: np.concatenate([o[key][:, j] for o in alone_outs])
                         for key in ("pnl", "fills")} for j, g in enumerate(unique)}
    cells = {n_agents: _merge(n_agents, agent_gammas(n_agents, settings.gamma_min,
                                                     settings.gamma_max),
                              grouped[(True, n_agents)])
             for n_agents in sorted(settings.agent_counts)}
    reference = _merge(1, np.array(single), grouped[(False, 1)])
    return cells, reference, alone_results


def _blocks(ctx, competition, n_agents, gammas, params, n_paths, block_paths) -> list[Block]:
    key = _COMPETITION if competition else _SINGLE
    return [Block(competition, n_agents, gammas, params, min(block_paths, n_paths - start),
                  start, ctx.seed_for(key, n_agents, b))
            for b, start in enumerate(range(0, n_paths, block_paths))]


# --- statistics ----------------------------------------------------------------------------
def agent_table(cells: dict[int, CellResult],
                alone: dict[float, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per (N, agent): quotes, fills, PnL and inventory statistics, and the agent's
    mean PnL and fills alone on the market (``alone``: from :func:`simulate`)."""
    rows = []
    for n_agents, cell in cells.items():
        df = cell.paths
        total_fills = df.groupby("path")["fills"].sum().to_numpy()
        for agent in range(n_agents):
            a = df[df["agent"] == agent].sort_values("path")
            pnl = a["terminal_pnl"].to_numpy()
            m, s = mean_ci(pnl), std_ci(pnl)
            share = ratio_ci(a["fills"].to_numpy(), total_fills)
            q = std_ci(a["terminal_inventory"].to_numpy())
            with_position = a["fills_with_position"].sum()
            solo = alone[gamma_key(cell.gammas[agent])]
            solo_pnl = mean_ci(solo["pnl"])
            rows.append({
                "n_agents": n_agents, "agent": agent, "gamma": float(cell.gammas[agent]),
                "paths": m["n"], "half_spread": float(a["half_spread"].mean()),
                "inside_share": float(a["inside_share"].mean()),
                "fill_share": share["ratio"], "fill_share_se": share["se"],
                "fill_share_ci_low": share["ci_low"], "fill_share_ci_high": share["ci_high"],
                "mean_fills": float(a["fills"].mean()),
                "unwinding_share": (float(a["unwinding_fills"].sum() / with_position)
                                    if with_position else np.nan),
                "mean_pnl": m["mean"], "se_pnl": m["se"],
                "pnl_ci_low": m["ci_low"], "pnl_ci_high": m["ci_high"],
                "std_pnl": s["std"], "sharpe": sharpe(pnl),
                "sharpe_se": math.sqrt((1 + sharpe(pnl) ** 2 / 2) / m["n"]),
                "mean_spread_capture": float(a["spread_capture"].mean()),
                "mean_inventory_pnl": float(a["inventory_pnl"].mean()),
                "std_terminal_q": q["std"], "std_terminal_q_se": q["se"],
                "mean_max_abs_q": float(a["max_abs_inventory"].mean()),
                "alone_mean_pnl": solo_pnl["mean"], "alone_se_pnl": solo_pnl["se"],
                "alone_mean_fills": float(np.mean(solo["fills"])),
                "pnl_share_of_alone": m["mean"] / solo_pnl["mean"],
            })
    return pd.DataFrame(rows)


def market_table(cells: dict[int, CellResult], agents: pd.DataFrame,
                 params: MarketParams) -> pd.DataFrame:
    """One row per N: the inside spread, the flow the agents trade and their total profit,
    against N = 1 and against the same agents' stand-alone profits (from ``agents``, the
    :func:`agent_table`)."""
    rows = []
    base = None
    for n_agents, cell in cells.items():
        solo = agents[agents["n_agents"] == n_agents]
        best = solo.loc[solo["alone_mean_pnl"].idxmax()]
        per_path = cell.paths.groupby("path")[["terminal_pnl", "fills", "spread_capture",
                                               "inventory_pnl"]].sum()
        profit, fills = mean_ci(per_path["terminal_pnl"]), mean_ci(per_path["fills"])
        inside = mean_ci(cell.inside_path)
        capture = mean_ci(per_path["spread_capture"])
        if base is None:
            base = profit
        diff = profit["mean"] - base["mean"]
        diff_se = math.hypot(profit["se"], base["se"]) if n_agents != 1 else 0.0
        flow = 2 * params.A * params.T                # market orders per session, both sides
        best_diff = profit["mean"] - best["alone_mean_pnl"]
        best_se = math.hypot(profit["se"], best["alone_se_pnl"])
        rows.append({
            "n_agents": n_agents, "gamma_min": float(cell.gammas.min()),
            "gamma_max": float(cell.gammas.max()), "paths": profit["n"],
            "inside_spread": inside["mean"], "inside_spread_ci_low": inside["ci_low"],
            "inside_spread_ci_high": inside["ci_high"],
            "total_fills": fills["mean"], "total_fills_ci_low": fills["ci_low"],
            "total_fills_ci_high": fills["ci_high"], "flow_share": fills["mean"] / flow,
            "total_profit": profit["mean"], "total_profit_se": profit["se"],
            "total_profit_ci_low": profit["ci_low"], "total_profit_ci_high": profit["ci_high"],
            "std_total_profit": profit["std"],
            "profit_change_vs_1": diff, "profit_change_ci_low": diff - Z95 * diff_se,
            "profit_change_ci_high": diff + Z95 * diff_se,
            "total_spread_capture": capture["mean"],
            "total_inventory_pnl": float(per_path["inventory_pnl"].mean()),
            "capture_per_fill": capture["mean"] / fills["mean"] if fills["mean"] else np.nan,
            "profit_per_agent": profit["mean"] / n_agents,
            "best_alone_gamma": float(best["gamma"]),
            "best_alone_profit": float(best["alone_mean_pnl"]),
            "best_alone_fills": float(best["alone_mean_fills"]),
            "total_minus_best_alone": best_diff,
            "total_minus_best_alone_ci_low": best_diff - Z95 * best_se,
            "total_minus_best_alone_ci_high": best_diff + Z95 * best_se,
            "sum_alone_profit": float(solo["alone_mean_pnl"].sum()),
            "retained_share": profit["mean"] / float(solo["alone_mean_pnl"].sum()),
        })
    return pd.DataFrame(rows)


def leader_table(agents: pd.DataFrame) -> pd.DataFrame:
    """Per N: the agent with the most fills, how its quotes rank, and rank correlations of the
    fill share with the quoted half-spread and with the inside share (Spearman)."""
    rows = []
    for n_agents, g in agents.groupby("n_agents"):
        g = g.reset_index(drop=True)
        lead = g.loc[g["fill_share"].idxmax()]
        tight_rank = g["half_spread"].rank(method="min").astype(int)
        inside_rank = g["inside_share"].rank(ascending=False, method="min").astype(int)
        second = g.drop(index=int(lead.name))
        row = {
            "n_agents": n_agents, "leader": int(lead["agent"]), "leader_gamma": lead["gamma"],
            "leader_fill_share": lead["fill_share"],
            "leader_fill_share_ci_low": lead["fill_share_ci_low"],
            "leader_fill_share_ci_high": lead["fill_share_ci_high"],
            "leader_half_spread": lead["half_spread"],
            "leader_rank_half_spread": int(tight_rank[lead.name]),
            "leader_inside_share": lead["inside_share"],
            "leader_rank_inside_share": int(inside_rank[lead.name]),
            "tightest_agent": int(g.loc[g["half_spread"].idxmin(), "agent"]),
            "runner_up": int(second.loc[second["fill_share"].idxmax(), "agent"])
            if len(second) else -1,
            "spearman_fill_share_vs_half_spread": np.nan,
            "spearman_fill_share_vs_inside_share": np.nan,
        }
        if n_agents >= 3:
            row["spearman_fill_share_vs_half_spread"] = float(
                spearmanr(g["fill_share"], g["half_spread"]).statistic)
            row["spearman_fill_share_vs_inside_share"] = float(
                spearmanr(g["fill_share"], g["inside_share"]).statistic)
        rows.append(row)
    return pd.DataFrame(rows)


# Per-path statistics compared between the competition market (N = 1) and the single-agent env.
_SANITY = (("terminal PnL", "terminal_pnl", "mean"), ("terminal PnL", "terminal_pnl", "std"),
           ("bid fills", "bid_fills", "mean"), ("ask fills", "ask_fills", "mean"),
           ("fills", "fills", "mean"), ("spread capture", "spread_capture", "mean"),
           ("inventory PnL", "inventory_pnl", "mean"),
           ("terminal inventory", "terminal_inventory", "mean"),
           ("terminal inventory", "terminal_inventory", "std"),
           ("max abs inventory", "max_abs_inventory", "mean"))


def sanity_table(competition: CellResult, single: CellResult) -> pd.DataFrame:
    """N = 1 on the competition market (ReachFills) against the single-agent env
    (IntensityFills), independent seeds: z = difference / sqrt(se_1^2 + se_2^2)."""
    rows = []
    for label, column, stat in _SANITY:
        values = []
        for cell in (competition, single):
            x = cell.paths[column].to_numpy()
            r = mean_ci(x) if stat == "mean" else std_ci(x)
            values.append((r[stat], r["se"]))
        (a, se_a), (b, se_b) = values
        se = math.hypot(se_a, se_b)
        rows.append({"statistic": f"{stat} {label}", "competition": a, "competition_se": se_a,
                     "single_agent": b, "single_agent_se": se_b, "difference": a - b,
                     "z": (a - b) / se if se > 0 else 0.0})
    return pd.DataFrame(rows)


def check_table(cells: dict[int, CellResult]) -> pd.DataFrame:
    rows = []
    for n_agents, cell in cells.items():
        c = cell.check
        rows.append({"n_agents": n_agents,
                     "max_relative_identity_residual": float(
                         cell.paths["relative_residual"].max()),
                     "max_abs_identity_residual": float(cell.paths["max_identity_residual"].max()),
                     "max_fills_minus_executed": c["max_mismatch"],
                     "max_fills_minus_order_volume": c["max_excess"],
                     "orders_per_path": c["orders"] / len(cell.inside_path),
                     "executed_per_path": c["executed"] / len(cell.inside_path),
                     "fills_per_path": float(cell.paths["fills"].sum() / len(cell.inside_path))})
    return pd.DataFrame(rows)


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    params = ctx.market(settings.market)
    n = ctx.paths(settings.paths)
    cells, reference, alone = simulate(ctx, settings, params, n)

    ctx.paragraph(_setup_text(settings, params, n), title="Setup")

    agents = agent_table(cells, alone)
    market = market_table(cells, agents, params)
    ctx.table(market, "competition_market", "Inside spread, traded flow and total market-maker "
              "profit vs the number of agents N", _market_reading(market),
              display=_market_display(market))
    ctx.figure(_spread_figure(cells, params), "competition_inside_spread",
               "Inside (best) spread over the session, one line per N",
               _spread_reading(cells, market))
    ctx.figure(_vs_n_figure(market), "competition_vs_n",
               "Inside spread, fills and total profit vs N (95% CIs)", _vs_n_reading(market))

    ctx.table(agents, "competition_agents", "Per-agent quotes, fill share, PnL and inventory, "
              "for every N", _agents_reading(agents), display=_agents_display(agents))
    leaders = leader_table(agents)
    ctx.table(leaders, "competition_leaders", "Who gets the most fills, and why",
              _leaders_reading(leaders, agents), display=_leaders_display(leaders))
    ctx.figure(_share_figure(agents), "competition_fill_share",
               "Fill share vs quoted half-spread and vs time at the inside",
               _share_reading(leaders))
    detail = cells[settings.detail_agents]
    ctx.figure(_time_figure(detail, params), "competition_fill_share_time",
               f"N = {settings.detail_agents}: quoted spreads and fill shares over the session",
               _time_reading(detail, params))

    sanity = sanity_table(cells[1], reference)
    ctx.table(sanity, "competition_sanity", "Single-agent sanity: N = 1 on the competition "
              "market vs the single-agent env", _sanity_reading(sanity, n),
              display=_sanity_display(sanity))
    checks = check_table(cells)
    ctx.table(checks, "competition_checks", "Accounting identity and volume conservation",
              _checks_reading(checks), float_format="{:.3g}")

    ctx.paragraph(report_text(market, agents, leaders, sanity, cells, params),
                  title="What the data show")


# --- text ----------------------------------------------------------------------------------
def _fmt_gammas(gammas: np.ndarray) -> str:
    return "[" + ", ".join(f"{g:.4g}" for g in gammas) + "]"


def _lone_half_spread(params: MarketParams, gamma: float) -> float:
    """Time average over [0, T] of a lone AS agent's half-spread at q = 0, price units."""
    return 0.25 * gamma * params.sigma**2 * params.T + math.log1p(gamma / params.k) / gamma


def _setup_text(settings: Settings, params: MarketParams, n: int) -> str:
    ladders = "; ".join(
        f"N = {k}: {_fmt_gammas(agent_gammas(k, settings.gamma_min, settings.gamma_max))}"
        for k in sorted(settings.agent_counts))
    return (
        f"Market `{settings.market}`: S0 = {params.s0:g}, sigma = {params.sigma:g}, A = "
        f"{params.A:g} orders per unit time per side, k = {params.k:g}, T = {params.T:g}, dt = "
        f"{params.dt:g} ({params.n_steps} steps), q0 = {params.q0:g}, {params.fill_rule} "
        f"order counts, {n:,} paths per N. Every agent runs the AS (2008) inventory strategy "
        "(spread gamma sigma^2 (T - t) + (2/gamma) ln(1 + gamma/k) around the reservation "
        "price s - q gamma sigma^2 (T - t)) for its own inventory, unaware of the others. "
        f"Agent i of N has gamma_i = {settings.gamma_min:g} * ({settings.gamma_max:g} / "
        f"{settings.gamma_min:g})^(i / (N - 1)) (log-spaced, agent 0 the least risk-averse); "
        "the lone agent of N = 1 has the geometric midpoint. The exact lists (1 / money): "
        f"{ladders}. Market orders arrive at rate A per side with reach Exp(k) and trade with "
        "the best-priced quotes within reach (price, then time priority, then a seeded coin; "
        "`asmm_env.fills.ReachFills`, also for N = 1). A lone agent's time-averaged "
        f"half-spread at q = 0 is {_lone_half_spread(params, settings.gamma_min):.3f} at gamma "
        f"= {settings.gamma_min:g} and {_lone_half_spread(params, settings.gamma_max):.3f} at "
        f"gamma = {settings.gamma_max:g}: higher risk aversion quotes wider early in the "
        "session (the time term gamma sigma^2 (T - t)) but tighter near T (ln(1 + gamma/k) / "
        "gamma falls with gamma). Different N use independent seeds. Stand-alone profits: "
        "every gamma of the ladders run alone, each quote filled independently (the "
        "single-agent env), on the same path count.")


def _ci(mean, low, high, digits=2) -> str:
    return format_ci(mean, low, high, digits)


def _market_display(m: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "N": m["n_agents"],
        "gammas": [f"{a:.3g}" if a == b else f"{a:.3g} .. {b:.3g}"
                   for a, b in zip(m["gamma_min"], m["gamma_max"], strict=True)],
        "inside spread [95% CI]": [_ci(r.inside_spread, r.inside_spread_ci_low,
                                       r.inside_spread_ci_high, 3) for r in m.itertuples()],
        "fills per path [95% CI]": [_ci(r.total_fills, r.total_fills_ci_low,
                                        r.total_fills_ci_high, 1) for r in m.itertuples()],
        "share of order flow": m["flow_share"].map("{:.3f}".format),
        "total profit [95% CI]": [_ci(r.total_profit, r.total_profit_ci_low,
                                      r.total_profit_ci_high) for r in m.itertuples()],
        "std total profit": m["std_total_profit"].map("{:.2f}".format),
        "change vs N = 1 [95% CI]": [
            "0 (reference)" if r.n_agents == 1 else
            _ci(r.profit_change_vs_1, r.profit_change_ci_low, r.profit_change_ci_high)
            for r in m.itertuples()],
        "spread capture per fill": m["capture_per_fill"].map("{:.3f}".format),
        "best agent alone: gamma, profit": [f"{r.best_alone_gamma:.3g}, {r.best_alone_profit:.2f}"
                                           for r in m.itertuples()],
        "total - best alone [95% CI]": [
            _ci(r.total_minus_best_alone, r.total_minus_best_alone_ci_low,
                r.total_minus_best_alone_ci_high) for r in m.itertuples()],
        "total / sum of stand-alone profits": m["retained_share"].map("{:.3f}".format),
    })


def _profit_trend(m: pd.DataFrame) -> str:
    first, last = m.iloc[0], m.iloc[-1]
    diff_low, diff_high = last["profit_change_ci_low"], last["profit_change_ci_high"]
    if diff_high < 0:
        verdict = "falls"
    elif diff_low > 0:
        verdict = "rises"
    else:
        verdict = "does not change significantly"
    peak = m.loc[m["total_profit"].idxmax()]
    return (f"Total market-maker profit {verdict} from N = {int(first.n_agents)} "
            f"({first.total_profit:.2f} [{first.total_profit_ci_low:.2f}, "
            f"{first.total_profit_ci_high:.2f}]) to N = {int(last.n_agents)} "
            f"({last.total_profit:.2f} [{last.total_profit_ci_low:.2f}, "
            f"{last.total_profit_ci_high:.2f}]; change {last.profit_change_vs_1:+.2f} "
            f"[{diff_low:+.2f}, {diff_high:+.2f}]); the highest point estimate is at N = "
            f"{int(peak.n_agents)} ({peak.total_profit:.2f})")


def _alone_trend(m: pd.DataFrame) -> str:
    """Total profit against the most profitable of the same agents trading alone."""
    parts = []
    for r in m.itertuples():
        if r.n_agents == 1:
            continue
        verdict = ("below" if r.total_minus_best_alone_ci_high < 0 else "above"
                   if r.total_minus_best_alone_ci_low > 0 else "not distinguishable from")
        parts.append(f"N = {r.n_agents}: {verdict} ({r.total_minus_best_alone:+.2f} "
                     f"[{r.total_minus_best_alone_ci_low:+.2f}, "
                     f"{r.total_minus_best_alone_ci_high:+.2f}])")
    if not parts:
        return "Only N = 1 was run"
    last = m.iloc[-1]
    return ("All agents together against the most profitable of them trading alone: "
            + "; ".join(parts) + f". At N = {int(last.n_agents)} they keep "
            f"{last.retained_share:.1%} of the sum of their stand-alone profits")


def _market_reading(m: pd.DataFrame) -> str:
    first, last = m.iloc[0], m.iloc[-1]
    return (f"Inside spread: time mean of best ask depth + best bid depth over agents, per path, "
            f"then mean over paths ({first.inside_spread:.3f} at N = {int(first.n_agents)}, "
            f"{last.inside_spread:.3f} at N = {int(last.n_agents)}). Fills per path: all agents "
            f"together, out of 2 A T = {first.total_fills / first.flow_share:.0f} market orders "
            f"per session ({first.flow_share:.1%} traded at N = {int(first.n_agents)}, "
            f"{last.flow_share:.1%} at N = {int(last.n_agents)}). {_profit_trend(m)}. "
            f"{_alone_trend(m)}. Changes vs N = 1 and vs the best agent alone compare "
            "independent samples (different seeds), so their CIs combine both standard errors. "
            "Spread capture per fill is the mean distance of the fills from the mid: what "
            "competition does to the price of liquidity. Stand-alone profits: each agent's "
            "mean PnL alone on the market (every gamma in one batch with independent fills per "
            "quote, i.e. the single-agent env; seeds independent of the competition cells).")


def _agents_display(a: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "N": a["n_agents"], "agent": a["agent"], "gamma": a["gamma"].map("{:.4g}".format),
        "half-spread": a["half_spread"].map("{:.3f}".format),
        "inside share": a["inside_share"].map("{:.3f}".format),
        "fill share [95% CI]": [_ci(r.fill_share, r.fill_share_ci_low, r.fill_share_ci_high, 3)
                                for r in a.itertuples()],
        "fills per path": a["mean_fills"].map("{:.1f}".format),
        "unwinding fills": a["unwinding_share"].map("{:.2f}".format),
        "mean PnL [95% CI]": [_ci(r.mean_pnl, r.pnl_ci_low, r.pnl_ci_high)
                              for r in a.itertuples()],
        "std PnL": a["std_pnl"].map("{:.2f}".format),
        "Sharpe": a["sharpe"].map("{:.2f}".format),
        "std q_T": a["std_terminal_q"].map("{:.2f}".format),
        "mean PnL alone": a["alone_mean_pnl"].map("{:.2f}".format),
        "PnL / alone": a["pnl_share_of_alone"].map("{:.3f}".format),
    })


def _agents_reading(a: pd.DataFrame) -> str:
    top = a.loc[a["sharpe"].idxmax()]
    return ("One row per agent and N. Half-spread: (bid depth + ask depth) / 2, averaged over "
            "steps and paths (price units). Inside share: fraction of (step, side) on which the "
            "agent quotes the best price. Fill share: the agent's fills / all fills with a "
            "delta-method 95% CI over paths. Unwinding fills: of its fills taken with a nonzero "
            "inventory, the fraction that brought the inventory towards 0 (a buy while short, a "
            "sell while long; 0.5 if fills ignored the position). Sharpe: "
            "mean / std of terminal PnL across paths (per session). std q_T: std of the terminal "
            "inventory. Mean PnL alone: the same agent alone on the market (independent run); "
            f"PnL / alone: what it keeps in competition. The highest Sharpe overall: N = "
            f"{int(top.n_agents)}, agent {int(top.agent)} (gamma {top.gamma:.3g}), "
            f"{top.sharpe:.2f}.")


def _leaders_display(t: pd.DataFrame) -> pd.DataFrame:
    def rho(x):
        return "n/a" if not np.isfinite(x) else f"{x:+.2f}"
    return pd.DataFrame({
        "N": t["n_agents"],
        "most fills: agent (gamma)": [f"{int(r.leader)} ({r.leader_gamma:.3g})"
                                      for r in t.itertuples()],
        "its fill share [95% CI]": [_ci(r.leader_fill_share, r.leader_fill_share_ci_low,
                                        r.leader_fill_share_ci_high, 3) for r in t.itertuples()],
        "its half-spread (rank, 1 = tightest)": [
            f"{r.leader_half_spread:.3f} ({r.leader_rank_half_spread})" for r in t.itertuples()],
        "its inside share (rank)": [f"{r.leader_inside_share:.3f} ({r.leader_rank_inside_share})"
                                    for r in t.itertuples()],
        "tightest agent": t["tightest_agent"], "runner-up": t["runner_up"],
        "Spearman(fill share, half-spread)": t["spearman_fill_share_vs_half_spread"].map(rho),
        "Spearman(fill share, inside share)": t["spearman_fill_share_vs_inside_share"].map(rho),
    })


def _leaders_reading(t: pd.DataFrame, a: pd.DataFrame) -> str:
    tight = (t["leader"] == t["tightest_agent"]).sum()
    inside_first = (t["leader_rank_inside_share"] == 1).sum()
    many = t[t["n_agents"] >= 3]
    text = (f"In {tight} of {len(t)} values of N the agent with the most fills is the one with "
            f"the tightest average quotes (smallest half-spread), and in {inside_first} of "
            f"{len(t)} it is the one most often at the best price.")
    if len(many):
        text += (f" Across N >= 3 the rank correlation of fill share with the half-spread "
                 f"ranges over [{many['spearman_fill_share_vs_half_spread'].min():+.2f}, "
                 f"{many['spearman_fill_share_vs_half_spread'].max():+.2f}] and with the inside "
                 f"share over [{many['spearman_fill_share_vs_inside_share'].min():+.2f}, "
                 f"{many['spearman_fill_share_vs_inside_share'].max():+.2f}]"
                 + (": the time at the best price ranks the agents' fills better than the "
                    "average quote (the inventory skew and the time term move an agent's "
                    "quotes to the inside on one side, or at one time, only)."
                    if many["spearman_fill_share_vs_inside_share"].abs().mean()
                    > many["spearman_fill_share_vs_half_spread"].abs().mean() else "."))
    return text


def _share_reading(t: pd.DataFrame) -> str:
    many = t[t["n_agents"] >= 3]
    if not len(many):
        return "Each point is one agent of one N."
    return ("Each point is one agent of one N (colour). Left: fill share against the agent's "
            "mean quoted half-spread; right: against its inside share, with the diagonal "
            "(fill share = inside share). Mean Spearman correlation over N >= 3: "
            f"{many['spearman_fill_share_vs_half_spread'].mean():+.2f} with the half-spread, "
            f"{many['spearman_fill_share_vs_inside_share'].mean():+.2f} with the inside share.")


def _quarter_shares(cell: CellResult) -> np.ndarray:
    """(agents,) share of each agent's fills that happen in the last quarter of the session."""
    steps = cell.fills_step.shape[0]
    late = cell.fills_step[steps - steps // 4:].sum(axis=0)
    total = cell.fills_step.sum(axis=0)
    return np.divide(late, total, out=np.full(total.shape, np.nan), where=total > 0)


def _crossing_time(params: MarketParams, g_low: float, g_high: float) -> float:
    """Time after which the q = 0 AS spread of ``g_high`` is below that of ``g_low``."""
    c_low = 2 * math.log1p(g_low / params.k) / g_low
    c_high = 2 * math.log1p(g_high / params.k) / g_high
    tau = (c_low - c_high) / ((g_high - g_low) * params.sigma**2)   # T - t at equal spreads
    return float(np.clip(params.T - tau, 0.0, params.T))


def _time_reading(cell: CellResult, params: MarketParams) -> str:
    late = _quarter_shares(cell)
    g = cell.gammas
    cross = _crossing_time(params, g[0], g[-1])
    return (f"Top: each agent's quoted spread at q = 0 (the AS formula; the inventory skew "
            f"shifts both quotes, not their distance). The spreads of gamma = {g[-1]:.3g} and "
            f"gamma = {g[0]:.3g} cross at t = {cross:.2f}. Bottom: each agent's share of the "
            f"fills per time bin, all paths. Share of each agent's fills in the last quarter of "
            f"the session (uniform would be 0.25): "
            + ", ".join(f"agent {i} (gamma {g[i]:.3g}) {late[i]:.2f}" for i in range(len(g)))
            + ".")


def _spread_reading(cells: dict[int, CellResult], m: pd.DataFrame) -> str:
    parts = []
    for n_agents, cell in cells.items():
        s = cell.inside_step
        parts.append(f"N = {n_agents}: {s[0]:.3f} at t = 0, {s[-1]:.3f} at the last step")
    return ("Mean over paths of the inside spread (best ask depth + best bid depth over agents) "
            "at each step. " + "; ".join(parts) + ". The lone AS spread shrinks linearly in "
            "time (the time term gamma sigma^2 (T - t)); with several agents the inside at each "
            "moment belongs to whoever is tightest then, and an inventory skew can move one "
            "agent's bid and another's ask to the inside.")


def _vs_n_reading(m: pd.DataFrame) -> str:
    return ("Left: time-mean inside spread; middle: all agents' fills per path; right: total "
            "profit of all agents per path, and (grey) the stand-alone profit of the most "
            "profitable of the same agents (bars: 95% CIs over paths; N on a log axis). "
            + _profit_trend(m) + ".")


def _sanity_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "statistic": s["statistic"],
        "competition market, N = 1 (ReachFills)": [
            _ci(r.competition, r.competition - Z95 * r.competition_se,
                r.competition + Z95 * r.competition_se, 3) for r in s.itertuples()],
        "single-agent env (IntensityFills)": [
            _ci(r.single_agent, r.single_agent - Z95 * r.single_agent_se,
                r.single_agent + Z95 * r.single_agent_se, 3) for r in s.itertuples()],
        "difference": s["difference"].map("{:+.3f}".format),
        "z": s["z"].map("{:+.2f}".format),
    })


def _sanity_reading(s: pd.DataFrame, n: int) -> str:
    worst = s.loc[s["z"].abs().idxmax()]
    return (f"The same AS agent (the N = 1 gamma) on the competition market and on the "
            f"single-agent env ({n:,} paths each, independent seeds). z = difference / "
            "sqrt(se_1^2 + se_2^2) (for a std, the delta-method s.e. of the sample std). "
            f"Largest |z|: {abs(worst.z):.2f} ({worst.statistic}); "
            f"{(s['z'].abs() < 1.96).sum()} of {len(s)} statistics within |z| < 1.96 "
            f"(about 95% expected if the two agree in law; the statistics are correlated).")


def _checks_reading(c: pd.DataFrame) -> str:
    return ("Per N, over every path, agent and step: the largest residual of the identity PnL = "
            "spread capture + inventory PnL + fees (absolute, and relative to max(|spread "
            "capture|, |inventory PnL|, 1)); the largest difference between the shares filled "
            "across agents and the shares the market orders executed (per step, path and side); "
            "and the largest excess of fills over the orders' volume (<= 0: volume is "
            f"conserved). Largest relative residual: "
            f"{c['max_relative_identity_residual'].max():.2g}; largest fills - executed: "
            f"{c['max_fills_minus_executed'].max():.2g}; largest fills - order volume: "
            f"{c['max_fills_minus_order_volume'].max():.2g} shares. Orders per path counts the "
            "orders reaching the mid or the shallowest quote (the ones drawn).")


def report_text(market: pd.DataFrame, agents: pd.DataFrame, leaders: pd.DataFrame,
                sanity: pd.DataFrame, cells: dict[int, CellResult],
                params: MarketParams) -> str:
    """The section's summary paragraph; every statement (and every "but") is computed from
    the tables, none is assumed."""
    m = market.set_index("n_agents")
    ns = list(m.index)
    first, last = ns[0], ns[-1]
    parts = [_spread_summary(m, agents)]

    # Profit: against N = 1, against the agents alone, and per agent.
    r = m.loc[last]
    rises = r["profit_change_ci_low"] > 0
    falls = r["profit_change_ci_high"] < 0
    parts.append(_profit_trend(market) + ".")
    if last != first:
        vs_best = ("less than" if r["total_minus_best_alone_ci_high"] < 0 else "more than"
                   if r["total_minus_best_alone_ci_low"] > 0 else "about as much as")
        parts.append(
            f"The N = 1 agent is the midpoint gamma, not one of the others; the cleaner "
            f"reference is the same agents alone. At N = {last} all agents together earn "
            f"{vs_best} the most profitable of them "
            f"alone (gamma {r['best_alone_gamma']:.3g}: {r['best_alone_profit']:.2f}; "
            f"difference {r['total_minus_best_alone']:+.2f} "
            f"[{r['total_minus_best_alone_ci_low']:+.2f}, "
            f"{r['total_minus_best_alone_ci_high']:+.2f}]) and keep "
            f"{r['retained_share']:.1%} of the sum of their stand-alone profits "
            f"({r['sum_alone_profit']:.1f}); profit per agent goes from "
            f"{m['profit_per_agent'][first]:.2f} to {m['profit_per_agent'][last]:.2f}.")
        rest = m["total_profit"].loc[ns[1]:]
        if rises or not falls:
            parts.append(
                "This contradicts the intuition that competition erodes the makers' total "
                "profit: the total does not fall with N ("
                + ("it rises" if rises else "no significant change")
                + f"), because the flow traded grows ({m['total_fills'][first]:.1f} -> "
                f"{m['total_fills'][last]:.1f} fills per path, {m['flow_share'][first]:.1%} -> "
                f"{m['flow_share'][last]:.1%} of the orders; the most profitable agent alone "
                f"trades {r['best_alone_fills']:.1f}) while the spread captured per "
                f"fill moves from {m['capture_per_fill'][first]:.3f} to "
                f"{m['capture_per_fill'][last]:.3f}. AS agents do not undercut each other (each "
                "quotes its own formula), so there is no price war; the erosion is per agent: "
                f"over N = {ns[1]}..{last} the total stays within {rest.min():.2f}.."
                f"{rest.max():.2f} and is split among more agents.")
        else:
            parts.append(
                f"Competition erodes the total, as intuition says: fills per path go from "
                f"{m['total_fills'][first]:.1f} to {m['total_fills'][last]:.1f} and the spread "
                f"captured per fill from {m['capture_per_fill'][first]:.3f} to "
                f"{m['capture_per_fill'][last]:.3f}.")

    # Who gets the fills.
    lead = leaders.set_index("n_agents")
    multi = lead[lead.index > 1]
    if len(multi):
        same = int((multi["leader"] == multi["tightest_agent"]).sum())
        parts.append(
            "Most fills: " + "; ".join(
                f"N = {n}: agent {int(x.leader)} (gamma {x.leader_gamma:.3g}, share "
                f"{x.leader_fill_share:.3f})" for n, x in multi.iterrows())
            + f". In {same} of {len(multi)} cases that is the agent with the tightest average "
            "quotes (rank 1 by half-spread).")
    many = leaders[leaders["n_agents"] >= 3]
    if len(many):
        rho_inside = many["spearman_fill_share_vs_inside_share"].mean()
        rho_half = many["spearman_fill_share_vs_half_spread"].mean()
        parts.append(
            f"Across agents the fill share has a mean Spearman correlation of {rho_inside:+.2f} "
            f"with the time spent at the best price and {rho_half:+.2f} with the average "
            "half-spread (over N >= 3): "
            + ("price priority allocates the flow to whoever is at the inside, which the "
               "average quote predicts less well." if abs(rho_inside) > abs(rho_half) else
               "the average quote predicts the fill share as well as the time at the inside."))

    # The most risk-averse agent.
    if last >= 3:
        a = agents[agents["n_agents"] == last].reset_index(drop=True)
        parts.append(_risk_averse_summary(a, cells[last], params))

    worst = sanity.loc[sanity["z"].abs().idxmax()]
    parts.append(
        f"Sanity: with N = 1 the competition market and the single-agent env agree within 4 "
        f"standard errors on all {len(sanity)} statistics compared (largest |z| "
        f"{abs(worst.z):.2f}, {worst.statistic})."
        if abs(worst.z) < 4 else
        f"Sanity FAILED: with N = 1 the competition market and the single-agent env differ "
        f"(|z| = {abs(worst.z):.2f} for {worst.statistic}).")
    return " ".join(parts)


def _spread_summary(m: pd.DataFrame, agents: pd.DataFrame) -> str:
    ns = list(m.index)
    first, last = ns[0], ns[-1]
    s = m["inside_spread"]
    text = (f"The inside spread goes from {s[first]:.3f} (N = {first}) to {s[last]:.3f} "
            f"(N = {last})")
    if len(ns) >= 3:
        later = s.loc[ns[1]:]
        trend = "non-increasing" if (later.diff().dropna() <= 0).all() else "not monotone"
        text += (f"; from N = {first} to N = {ns[1]} it changes by {s[ns[1]] - s[first]:+.3f}, "
                 f"and over N = {ns[1]}..{last} it stays within {later.min():.3f}.."
                 f"{later.max():.3f} ({trend})")
    own = 2 * agents[agents["n_agents"] == last]["half_spread"].min()
    text += (f". At N = {last} it is {s[last] / own:.3f} times the mean spread of its tightest "
             f"agent ({own:.3f}): "
             + ("adding agents that quote wider hardly narrows the inside; it is set by the "
                "least risk-averse agent, improved only when another agent's inventory skew or "
                "time term puts one of its quotes in front."
                if s[last] > 0.9 * own else
                "competition narrows the inside well below what any agent quotes on average."))
    return text


def _risk_averse_summary(a: pd.DataFrame, cell: CellResult, params: MarketParams) -> str:
    n = len(a)
    top, low = a.iloc[-1], a.iloc[0]
    fill_rank = int(a["fill_share"].rank(ascending=False, method="min").iloc[-1])
    spread_rank = int(a["half_spread"].rank(method="min").iloc[-1])
    expectation = ("more" if fill_rank < spread_rank else
                   "fewer" if fill_rank > spread_rank else "as many")
    late = _quarter_shares(cell)
    cross = _crossing_time(params, low.gamma, top.gamma)
    text = (f"The most risk-averse agent (gamma {top.gamma:.3g}, N = {n}) has the "
            f"{_ordinal(spread_rank)}-tightest average quotes of {n} but the "
            f"{_ordinal(fill_rank)}-largest fill share ({top.fill_share:.3f}; median agent "
            f"{a['fill_share'].median():.3f}): {expectation} fills than its average quotes "
            f"suggest. {late[-1]:.1%} of its fills come in the last quarter of the session "
            f"(agent 0: {late[0]:.1%}; 25% if fills were uniform in time)")
    if late[-1] > 0.5:
        text += (f": its q = 0 spread falls below agent 0's at t = {cross:.2f}, because the "
                 "time-independent part (2/gamma) ln(1 + gamma/k) of the AS spread shrinks as "
                 "gamma grows, while the time term gamma sigma^2 (T - t) that widens it early "
                 "vanishes at T")
    text += (f". Of its fills taken with a position, {top.unwinding_share:.0%} unwind it (agent "
             f"0: {low.unwinding_share:.0%}): ")
    if top.unwinding_share - low.unwinding_share > 0.05:
        text += "its hard inventory skew does win it fills on the unwinding side."
    else:
        text += ("its inventory skew (the strongest per share held) does not make its fills "
                 "more position-reducing than agent 0's")
        if late[-1] > 0.5:
            text += (", because the skew q gamma sigma^2 (T - t) is small near T, when most of "
                     "its fills happen")
        if late[-1] > 0.95:
            text += ", and before that even its skewed quote stays behind the others'"
        text += "."
    sharpe_rank = int(a["sharpe"].rank(ascending=False, method="min").iloc[-1])
    best = a.loc[a["sharpe"].idxmax()]
    text += (f" Its Sharpe ranks {_ordinal(sharpe_rank)} of {n} ({top.sharpe:.2f}"
             + ("" if sharpe_rank == 1 else
                f"; best: agent {int(best.agent)}, gamma {best.gamma:.3g}, {best.sharpe:.2f}")
             + f"; agent 0: {low.sharpe:.2f}); it keeps {top.pnl_share_of_alone:.1%} of its "
             f"stand-alone PnL, agent 0 keeps {low.pnl_share_of_alone:.1%}.")
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --- figures -------------------------------------------------------------------------------
def _spread_figure(cells: dict[int, CellResult], params: MarketParams):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    t = np.arange(params.n_steps) * params.dt
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(cells)))
    for color, (n_agents, cell) in zip(colors, cells.items(), strict=True):
        ax.plot(t, cell.inside_step, color=color, lw=1.4, label=f"N = {n_agents}")
    ax.set_xlabel("time t")
    ax.set_ylabel("inside spread (price units)")
    ax.set_title("mean inside spread over paths")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _vs_n_figure(m: pd.DataFrame):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    x = m["n_agents"].to_numpy()
    for ax, (col, label) in zip(axes, (("inside_spread", "time-mean inside spread"),
                                       ("total_fills", "fills per path, all agents"),
                                       ("total_profit", "total profit per path")), strict=True):
        y = m[col].to_numpy()
        err = np.vstack([y - m[f"{col}_ci_low"], m[f"{col}_ci_high"] - y])
        ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, label="all agents together")
        if col == "total_profit":
            ax.plot(x, m["best_alone_profit"], "x--", color="grey",
                    label="most profitable of them, alone")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("N agents")
        ax.set_title(label, fontsize=10)
    fig.tight_layout()
    return fig


def _share_figure(a: pd.DataFrame):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    counts = sorted(a["n_agents"].unique())
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(counts)))
    for color, n_agents in zip(colors, counts, strict=True):
        g = a[a["n_agents"] == n_agents]
        err = np.vstack([g["fill_share"] - g["fill_share_ci_low"],
                         g["fill_share_ci_high"] - g["fill_share"]])
        left.errorbar(g["half_spread"], g["fill_share"], yerr=err, fmt="o", ms=4, color=color,
                      capsize=2, label=f"N = {n_agents}")
        right.plot(g["inside_share"], g["fill_share"], "o", ms=4, color=color)
        top = g.iloc[-1]                          # the most risk-averse agent
        left.annotate(f"{top.gamma:.2g}", (top.half_spread, top.fill_share), fontsize=7,
                      xytext=(3, 3), textcoords="offset points")
    lim = max(a["inside_share"].max(), a["fill_share"].max()) * 1.05
    right.plot([0, lim], [0, lim], "k--", lw=0.8)
    left.set_xlabel("mean quoted half-spread (price units)")
    left.set_ylabel("fill share")
    left.set_title("fill share vs half-spread (labels: gamma of the most risk-averse)",
                   fontsize=9)
    left.legend(fontsize=7)
    right.set_xlabel("inside share (fraction of step-sides at the best price)")
    right.set_ylabel("fill share")
    right.set_title("fill share vs inside share", fontsize=9)
    fig.tight_layout()
    return fig


def _time_figure(cell: CellResult, params: MarketParams):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    t = np.arange(params.n_steps) * params.dt
    colors = plt.cm.plasma(np.linspace(0, 0.85, cell.n_agents))
    for color, (i, g) in zip(colors, enumerate(cell.gammas), strict=True):
        spread = optimal_spread(t, gamma=g, sigma=params.sigma, k=params.k, T=params.T)
        top.plot(t, spread, color=color, lw=1.2, label=f"agent {i}, gamma {g:.3g}")
    top.plot(t, cell.inside_step, color="k", lw=1.4, ls="--", label="mean inside spread")
    top.set_ylabel("spread (price units)")
    top.legend(fontsize=7)
    bins = max(1, params.n_steps // 20)
    n_bins = params.n_steps // bins
    fills = cell.fills_step[: n_bins * bins].reshape(n_bins, bins, -1).sum(axis=1)
    totals = fills.sum(axis=1, keepdims=True)
    shares = np.divide(fills, totals, out=np.zeros_like(fills), where=totals > 0)
    centres = (np.arange(n_bins) + 0.5) * bins * params.dt
    bottom.stackplot(centres, shares.T, colors=colors, alpha=0.85)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("share of fills")
    bottom.set_xlabel("time t")
    fig.tight_layout()
    return fig
