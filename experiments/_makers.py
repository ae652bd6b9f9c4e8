"""What the two competition experiments (``competition``, ``equilibrium``) share: one cell of
N makers rolled out on the batched core, the risk-aversion ladder, and per-agent statistics
pooled over agents with intervals that respect the paths (the agents of one path are not
independent: they trade against the same order flow).

Units: money in price units x shares, inventory in shares, spreads in price units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from asmm_env.validation import check_positive, check_positive_int
from experiments.stats import Z95, certainty_equivalent, mean_ci

nan = math.nan


def agent_gammas(n_agents: int, gamma_min: float, gamma_max: float) -> np.ndarray:
    """Risk aversions of agents ``0 .. n_agents - 1`` (1 / money), increasing: log-spaced
    from ``gamma_min`` to ``gamma_max``; one agent gets the geometric midpoint."""
    check_positive_int("n_agents", n_agents)
    check_positive("gamma_min", gamma_min)
    check_positive("gamma_max", gamma_max)
    if n_agents == 1:
        return np.array([math.sqrt(gamma_min * gamma_max)])
    return gamma_min * (gamma_max / gamma_min) ** (np.arange(n_agents) / (n_agents - 1))


@dataclass(frozen=True)
class Cell:
    """N makers over P paths: arrays ``(P, N)`` per agent, ``(P,)`` per path.

    ``pnl`` terminal PnL, ``inventory`` terminal inventory, ``fills`` fills counted;
    ``inside`` the time-averaged inside spread (best ask depth + best bid depth over posted
    quotes) of each path; ``max_residual`` the largest accounting-identity residual."""

    pnl: np.ndarray
    inventory: np.ndarray
    fills: np.ndarray
    inside: np.ndarray
    max_residual: float

    @property
    def n_agents(self) -> int:
        return self.pnl.shape[1]

    @property
    def total(self) -> np.ndarray:
        """All makers' PnL on each path, (P,)."""
        return self.pnl.sum(axis=1)


def simulate(policies: Sequence[Any], params: MarketParams, n_paths: int, seed: int) -> Cell:
    """Roll ``policies`` (one per agent) over ``n_paths`` paths of ``seed``: the batched core,
    no per-path loop; the market of path i depends only on (seed, i)."""
    res = rollout(list(policies), params, n_paths=n_paths, seed=seed)
    n = len(policies)
    paths = res.paths

    def column(name: str) -> np.ndarray:
        return paths[name].to_numpy().reshape(n_paths, n)

    return Cell(column("terminal_pnl"), column("terminal_inventory"), column("fills"),
                res.inside_spread_path, float(paths["max_identity_residual"].max()))


def _delta_ci(value: float, grad: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """95% CI of a smooth function of column means of ``rows`` (P, m), by the delta method
    with gradient ``grad`` (m,): rows are independent paths."""
    if rows.shape[0] < 2:
        return nan, nan
    se = math.sqrt(max(float(grad @ np.cov(rows, rowvar=False) @ grad), 0.0) / rows.shape[0])
    return value - Z95 * se, value + Z95 * se


def pooled_std(x: np.ndarray) -> dict[str, float]:
    """Standard deviation of the per-agent values ``x`` (P, N) pooled over agents, with a CI
    from the per-path means of ``x`` and ``x^2`` (delta method)."""
    a, b = x.mean(axis=1), (x**2).mean(axis=1)
    m, m2 = float(a.mean()), float(b.mean())
    var = max(m2 - m * m, 0.0)
    std = math.sqrt(var)
    if std == 0:
        return {"std": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    low, high = _delta_ci(std, np.array([-m / std, 0.5 / std]), np.column_stack([a, b]))
    return {"std": std, "ci_low": max(low, 0.0), "ci_high": high}


def pooled_sharpe(x: np.ndarray) -> dict[str, float]:
    """Sharpe ratio (mean / std, per episode) of the per-agent PnL ``x`` (P, N) pooled over
    agents, with a delta-method CI from the per-path means of ``x`` and ``x^2``."""
    a, b = x.mean(axis=1), (x**2).mean(axis=1)
    m, m2 = float(a.mean()), float(b.mean())
    var = m2 - m * m
    if var <= 0:
        return {"sharpe": nan, "ci_low": nan, "ci_high": nan}
    s = math.sqrt(var)
    sr = m / s
    grad = np.array([1.0 / s + m * m / s**3, -0.5 * m / s**3])
    low, high = _delta_ci(sr, grad, np.column_stack([a, b]))
    return {"sharpe": sr, "ci_low": low, "ci_high": high}


def pooled_ce(x: np.ndarray, gamma: float) -> dict[str, Any]:
    """CARA certainty equivalent of the per-agent PnL ``x`` (P, N) pooled over agents: the
    point, reliability and reason of :func:`experiments.stats.certainty_equivalent` on the
    pooled sample, and, when reliable, a CI from the per-path means of the CARA weights."""
    ce = certainty_equivalent(x.reshape(-1), gamma)
    out = {"ce": ce["ce"], "ci_low": nan, "ci_high": nan, "reliable": bool(ce["reliable"]),
           "reason": ce["reason"]}
    if ce["reliable"] and x.shape[0] > 1:
        w = np.exp(-gamma * (x - x.min())).mean(axis=1)
        se = float(w.std(ddof=1) / (math.sqrt(w.size) * w.mean() * gamma))
        out["ci_low"], out["ci_high"] = ce["ce"] - Z95 * se, ce["ce"] + Z95 * se
    return out


def top_fill_share(fills: np.ndarray) -> dict[str, float]:
    """Share of a path's fills taken by its busiest maker, averaged over the paths with a
    fill, with its CI (1 / N when the flow is split evenly, 1 when one maker takes it all)."""
    total = fills.sum(axis=1)
    some = total > 0
    if not some.any():
        return {"mean": nan, "ci_low": nan, "ci_high": nan}
    return mean_ci(fills[some].max(axis=1) / total[some])


def with_ci(prefix: str, stats: dict[str, float], key: str) -> dict[str, float]:
    """``{prefix: stats[key], prefix_ci_low: ..., prefix_ci_high: ...}``."""
    return {prefix: stats[key], f"{prefix}_ci_low": stats["ci_low"],
            f"{prefix}_ci_high": stats["ci_high"]}


def function_of_means(f, *columns: np.ndarray) -> dict[str, float]:
    """A smooth function ``f(m_1, ..., m_k)`` of the means of per-path columns (each (P,),
    the same paths: paired), with a delta-method 95% CI (numerical gradient). E.g. a ratio of
    mean PnLs, of standard deviations (means of x and x^2) or of Sharpe ratios."""
    rows = np.column_stack(columns)
    means = rows.mean(axis=0)
    value = float(f(*means))
    if not np.isfinite(value):
        return {"value": nan, "ci_low": nan, "ci_high": nan}
    grad = np.empty(means.size)
    for j in range(means.size):
        h = 1e-6 * max(abs(means[j]), 1e-3)
        up, down = means.copy(), means.copy()
        up[j] += h
        down[j] -= h
        grad[j] = (f(*up) - f(*down)) / (2 * h)
    low, high = _delta_ci(value, grad, rows)
    return {"value": value, "ci_low": low, "ci_high": high}


def std_of(m: float, m2: float) -> float:
    """Standard deviation from the means of x and x^2."""
    return math.sqrt(max(m2 - m * m, 0.0))
