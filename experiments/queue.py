"""Queue position on the limit order book: how the place of a resting order in the FIFO queue
sets its chance of being filled within a horizon, and how adversely selected its fills are.

Model. The queue-reactive book of :mod:`asmm_env.lob.book` (one-tick spread; limit orders,
cancellations and market orders as Poisson processes; a price move when a best queue
empties), with the config's ``book`` overrides of :class:`asmm_env.lob.BookParams`.

Design (one independent trial per episode). Each episode is one path of the batched book:

1. warm-up: ``warmup`` decision steps without any agent order (the book forgets its
   ``1 + Poisson(refill)`` start);
2. at ``t0 = warmup`` steps a unit bid joins the back of the best bid queue (its *join
   position* ``k0`` is the number of orders ahead of it, which is the queue's size) and is
   then left alone: a one-shot order (offset ``KEEP``), never re-quoted or replaced, which
   rests where it is while the price moves and leaves the book only when filled or when the
   price moves ``n_levels`` ticks away from it;
3. the order is observed once, ``W ~ Uniform{0, ..., max_delay}`` steps after it joined (``W``
   from a generator of its own, so the book's random stream does not depend on it): at the
   observation time ``tau`` it has been filled already, or left the window, or it rests at
   level ``j`` behind the best with ``k`` orders ahead (its *queue position*);
4. a *trial* is an order resting at the best bid (``j = 0``) at ``tau``; it *succeeds for the
   horizon H* if the order is filled within ``H`` steps after ``tau`` (during steps ``tau ..
   tau + H - 1``; each step is ``dt`` time units). Orders one or two levels behind the best
   at ``tau`` are reported as their own rows.

Drawing ``W`` spreads the observed positions from the back (``W = 0``: the join position) to
the front; one trial per episode makes the trials independent, so each position's fill
probability has a Wilson interval. The curve is the fill probability given the position,
averaged over the other state variables (the queue behind, the ask side) as this design
draws them.

Exponential decay. ``p(k) = p0 exp(-beta k)`` is fitted to the trials of every position with
enough of them by binomial maximum likelihood (log link); ``beta`` (per order ahead) has a
Fisher-information standard error, widened by ``sqrt(chi2 / dof)`` when the Pearson
statistic shows more scatter than binomial (the quasi-likelihood interval), and the Pearson
goodness-of-fit p-value says whether an exponential describes the curve at all.

Analytic approximation (first passage). Freeze the order at the best with ``n`` orders
ahead of it. Orders behind it never matter; the ``n`` ahead are removed by market orders
(one each, from the front, at rate ``mu = market_rate``) and by their own cancellations
(each of them independently at rate ``C = cancel_rate``), so ``n`` falls by one at rate
``mu + C n``; with nothing ahead the next market order fills the order (rate ``mu``). The fill
time from position ``k`` is the first passage of this pure-death chain, a sum of independent
exponentials (hypoexponential),

    tau_fill = E_k + E_(k-1) + ... + E_1 + E_0,   E_n ~ Exp(mu + C n),

and ``P(fill within H) = P(tau_fill <= H)``, computed exactly as ``expm(G H)`` of the chain's
generator. Two variants bracket it: without cancellations it is the Poisson tail ``P(N >= k
+ 1)``, ``N ~ Poisson(mu H)`` (market orders must eat the whole queue ahead); with the price
moving away the order stops being at the best: the chain is killed at rate ``nu``, the rate
at which the mid moves up while a bid rests at the best, *measured* in the same simulation
(the one input that is not a book parameter). The approximation leaves out the market-order
boost at small queues (``market_boost``), the return of a price that moved away, and the
dependence of ``nu`` on the queues.

PnL per fill and adverse selection. For a fill of the one-shot bid, the *adverse move* is
the mid ``adverse_steps`` decision steps after the start of the fill's step minus the mid at
the fill (the exact event-time mid, before any move the fill itself causes), in ticks: the
ledger's adverse-selection measure for the one fill (so a fill followed by the depletion of
the bid queue scores -1 tick). Every fill is at the best, half a tick below the mid at the
fill, so the *PnL per fill* over that horizon is ``1/2 + adverse move`` ticks. It is reported
by three definitions of "position": (a) orders ahead at the observation (fills within
``max(horizons)`` of ``tau``; the curve's variable), (b) orders *behind* at the observation
(the same fills: what protects a fill from the depletion that follows it), and (c) orders
ahead when the order joined (fills within ``max_delay + max(horizons)`` steps of joining).
Intervals are normal 95% intervals over independent fills (one per episode at most).

Seeds. Episodes run in blocks of ``block_episodes``; block ``b`` uses ``ctx.seed_for(b)``, so
the results depend on the root seed, the episode count and the configuration only (not on
``--workers``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.linalg import expm

from asmm_env.lob import BookParams, LimitOrderBook
from asmm_env.lob.book import KEEP, NO_ORDER
from asmm_env.validation import check_positive_int
from experiments._lob import book_params
from experiments.framework import Context
from experiments.stats import Z95, format_ci, mean_ci, proportion_ci

TITLE = "Queue position: fill probability and adverse selection by place in the queue"

_FIXED = ("T", "adverse_selection_steps")     # set by the experiment, not by ``book``


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.queue`` in the config.

    episodes : independent episodes (>= 1), one trial each.
    block_episodes : episodes per task (>= 1): the unit of parallel work and of memory.
    warmup : decision steps before the order joins (>= 0).
    max_delay : the observation comes ``Uniform{0 .. max_delay}`` steps after joining (>= 0).
    horizons : fill horizons H, decision steps (distinct integers >= 1).
    main_horizon : the horizon of the readings and the headline fit (one of ``horizons``).
    adverse_steps : h, decision steps from the fill's step to the mid that measures the
        adverse move (>= 1; the book's ``adverse_selection_steps``).
    min_trials : positions with fewer trials (or fills) are pooled into a last row ``>= k``
        (>= 1; small runs use at most ``max(3, episodes // 400)``).
    book : ``BookParams`` fields overriding the defaults (not ``T`` or
        ``adverse_selection_steps``: the experiment sets them).
    """

    episodes: int = 500_000
    block_episodes: int = 25_000
    warmup: int = 30
    max_delay: int = 20
    horizons: tuple[int, ...] = (2, 5, 10)
    main_horizon: int = 5
    adverse_steps: int = 10
    min_trials: int = 200
    book: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("episodes", "block_episodes", "adverse_steps", "min_trials"):
            check_positive_int(name, getattr(self, name))
        for name in ("warmup", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        h = self.horizons
        if (not isinstance(h, tuple) or not h
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                           for x in h)):
            raise ValueError(f"horizons must be a non-empty list of integers >= 1, got {h!r}")
        if len(set(h)) != len(h):
            raise ValueError(f"horizons must not repeat a value, got {list(h)}")
        if self.main_horizon not in h:
            raise ValueError(f"main_horizon must be one of horizons {list(h)}, "
                             f"got {self.main_horizon!r}")
        self.params()                     # validates the book overrides

    @property
    def n_steps(self) -> int:
        """Steps per episode: warm-up, delay, the longest horizon, the adverse horizon."""
        return self.warmup + self.max_delay + max(self.horizons) + self.adverse_steps

    def params(self) -> BookParams:
        """The book of every episode (its horizon ``T`` covers :attr:`n_steps`)."""
        dt = self.book.get("dt", BookParams.dt) if isinstance(self.book, dict) else 1.0
        return book_params(self.book, fixed=_FIXED, T=self.n_steps * float(dt),
                           adverse_selection_steps=self.adverse_steps)


# --- the analytic approximations -----------------------------------------------------------
def fill_rule_first_passage(positions: Any, horizon: float, *, mu: float,
                                   cancel_rate: float, kill_rate: float = 0.0) -> np.ndarray:
    """Probability that an order with ``k`` orders ahead at the best is filled within
    ``horizon`` (time units), for each ``k`` in ``positions`` (integers >= 0).

    The pure-death first passage of the module docstring: the count ahead falls at rate
    ``mu + cancel_rate * n`` from ``n``, the fill comes at rate ``mu`` with nothing ahead,
    and the order is lost at rate ``kill_rate`` from every state (the price moving away).
    Exact for that chain: the (filled) entry of ``expm(G horizon)``.

    Parameters
    ----------
    positions : array_like of int
        Orders ahead, k >= 0.
    horizon : float
        H, time units (>= 0).
    mu : float
        Market order rate at the best, orders per time unit (> 0).
    cancel_rate : float
        C, cancellations per order per time unit (>= 0).
    kill_rate : float
        nu, rate at which the order stops being fillable, per time unit (>= 0).

    Returns
    -------
    numpy.ndarray
        Fill probabilities, the shape of ``positions``.
    """
    k = np.asarray(positions)
    if k.size == 0:
        return np.zeros(k.shape)
    if (k < 0).any() or (k != np.round(k)).any():
        raise ValueError(f"positions must be integers >= 0, got {positions!r}")
    if horizon < 0 or mu <= 0 or cancel_rate < 0 or kill_rate < 0:
        raise ValueError(f"horizon and kill_rate must be >= 0, mu > 0, cancel_rate >= 0, got "
                         f"horizon={horizon}, mu={mu}, cancel_rate={cancel_rate}, "
                         f"kill_rate={kill_rate}")
    top = int(k.max())
    # States 0 .. top (orders ahead), then "filled" and "lost".
    n = top + 3
    filled, lost = top + 1, top + 2
    G = np.zeros((n, n))
    for state in range(top + 1):
        out = mu + cancel_rate * state
        G[state, state - 1 if state > 0 else filled] += out
        G[state, lost] += kill_rate
        G[state, state] -= out + kill_rate
    P = expm(G * horizon)
    return np.clip(P[k.astype(int), filled], 0.0, 1.0)


def fill_rule_poisson(positions: Any, horizon: float, *, mu: float) -> np.ndarray:
    """``P(N >= k + 1)``, ``N ~ Poisson(mu * horizon)``: the fill probability within
    ``horizon`` when only market orders (rate ``mu``) remove the ``k`` orders ahead."""
    k = np.asarray(positions, dtype=float)
    return stats.poisson.sf(k, mu * horizon)


# --- the exponential fit -------------------------------------------------------------------
def fit_exponential_decay(positions: Any, trials: Any, successes: Any) -> dict[str, float]:
    """Binomial maximum-likelihood fit of ``p(k) = p0 exp(-beta k)``.

    Returns ``p0``, ``beta`` (per order ahead) with Fisher standard errors and 95% intervals
    (``beta_ci_*``), the Pearson ``chi2`` with ``dof = positions - 2`` and its p-value, and
    the quasi-likelihood interval ``beta_qci_*`` (standard error times
    ``sqrt(max(1, chi2 / dof))``). NaN everywhere with fewer than 3 positions.
    """
    k = np.asarray(positions, dtype=float)
    n = np.asarray(trials, dtype=float)
    y = np.asarray(successes, dtype=float)
    keys = ("p0", "p0_ci_low", "p0_ci_high", "beta", "beta_se", "beta_ci_low",
            "beta_ci_high", "beta_qci_low", "beta_qci_high", "chi2", "dof", "p_value")
    out = dict.fromkeys(keys, float("nan"))
    out["positions"] = int(k.size)
    if k.size < 3 or (n <= 0).any():
        return out
    eps = 1e-12

    def nll(theta):
        a, b = theta
        p = np.clip(np.exp(a - b * k), eps, 1 - eps)
        return -float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))

    rate = np.clip(y / n, 1e-3, 1 - 1e-3)
    slope, intercept = np.polyfit(k, np.log(rate), 1, w=np.sqrt(n))
    start = (min(intercept, -1e-6), -slope)
    res = optimize.minimize(nll, start, method="L-BFGS-B",
                            bounds=[(-50.0, -1e-9), (-50.0, 50.0)])
    a, b = res.x
    p = np.clip(np.exp(a - b * k), eps, 1 - eps)
    grad = np.stack([np.ones_like(k), -k])                       # d eta / d (a, b)
    info = (grad * (n * p / (1 - p))) @ grad.T
    cov = np.linalg.inv(info)
    chi2 = float(np.sum((y - n * p) ** 2 / (n * p * (1 - p))))
    dof = k.size - 2
    scale = math.sqrt(max(1.0, chi2 / dof))
    se_a, se_b = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    out.update(p0=math.exp(a), p0_ci_low=math.exp(a - Z95 * se_a),
               p0_ci_high=min(1.0, math.exp(a + Z95 * se_a)), beta=float(b), beta_se=se_b,
               beta_ci_low=b - Z95 * se_b, beta_ci_high=b + Z95 * se_b,
               beta_qci_low=b - Z95 * se_b * scale, beta_qci_high=b + Z95 * se_b * scale,
               chi2=chi2, dof=float(dof), p_value=float(stats.chi2.sf(chi2, dof)))
    return out


# --- simulation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A task: ``n`` episodes of the design in the module docstring, from ``seed``."""

    params: BookParams
    warmup: int
    max_delay: int
    n: int
    seed: int


def simulate_block(block: Block) -> dict[str, Any]:
    """Run ``block.n`` episodes; per episode (arrays ``(n,)``): ``delay`` W, ``join_ahead``
    k0, ``level`` and ``ahead`` at the observation (``level`` -1: not resting; ``ahead`` NaN
    then), ``best_bid_queue`` at the observation (our order included), ``fill_step`` (the
    step, counted from joining, in which the order was filled; -1 if never) and ``adverse``
    (the fill's adverse move, ticks; 0 without a fill); and the totals ``up_ticks`` and
    ``best_time`` (upward mid moves, in ticks, during steps that began with the order at the
    best bid, and the time those steps lasted) for the measured rate ``nu``."""
    p, n = block.params, block.n
    book_seed, design_seed = np.random.SeedSequence(block.seed).spawn(2)
    book = LimitOrderBook(p, n, 1)
    book.reset(np.random.default_rng(book_seed))
    delay = np.random.default_rng(design_seed).integers(0, block.max_delay + 1, n)
    observe = block.warmup + delay
    none = np.full((n, 1, 2), NO_ORDER, dtype=np.int64)
    join = none.copy()
    join[:, 0, 0] = 0
    keep = none.copy()
    keep[:, 0, 0] = KEEP
    out = {"delay": delay, "level": np.full(n, NO_ORDER), "ahead": np.full(n, np.nan),
           "best_bid_queue": np.full(n, np.nan), "fill_step": np.full(n, -1)}
    up_ticks, best_steps = 0.0, 0
    for step in range(p.n_steps):
        if step < block.warmup:
            offsets = none
        else:
            if step == block.warmup:
                book.set_quotes(join)        # join now, so the join position can be read
                out["join_ahead"] = book.queue_positions()[:, 0, 0]
            offsets = keep                   # from now on: never re-quoted, never replaced
        now = observe == step
        if now.any():
            out["level"][now] = book.order_levels()[now, 0, 0]
            out["ahead"][now] = book.queue_positions()[now, 0, 0]
            out["best_bid_queue"][now] = book.best_queues()[0][now]
        at_best = book.order_levels()[:, 0, 0] == 0
        before = book.mid_ticks
        book.step(offsets)
        moved = np.maximum(book.mid_ticks - before, 0.0)
        up_ticks += float(moved[at_best].sum())
        best_steps += int(at_best.sum())
        filled = book.step_fills()[:, 0, 0] > 0
        out["fill_step"][filled] = step - block.warmup
    out["adverse"] = book.ledger.adverse_selection[:, 0] / (p.tick_size * p.order_size)
    out["up_ticks"], out["best_time"] = up_ticks, best_steps * p.dt
    return out


def simulate(ctx: Context, settings: Settings, n_episodes: int) -> dict[str, Any]:
    """Every block (on ``ctx.map``), concatenated."""
    params = settings.params()
    size = settings.block_episodes
    blocks = [Block(params, settings.warmup, settings.max_delay, min(size, n_episodes - start),
                    ctx.seed_for(b))
              for b, start in enumerate(range(0, n_episodes, size))]
    outs = ctx.map(simulate_block, blocks, desc="episode blocks")
    data = {key: np.concatenate([o[key] for o in outs])
            for key in ("delay", "join_ahead", "level", "ahead", "best_bid_queue", "fill_step",
                        "adverse")}
    data["up_ticks"] = sum(o["up_ticks"] for o in outs)
    data["best_time"] = sum(o["best_time"] for o in outs)
    return data


# --- tables --------------------------------------------------------------------------------
def _pool(values: np.ndarray, min_count: int) -> tuple[np.ndarray, int, int]:
    """Integer groups with a pooled tail: from the smallest value up, values from the first
    one with fewer than ``min_count`` members on are set to that value. Returns (groups,
    smallest value, cutoff)."""
    values = values.astype(int)
    if not values.size:
        return values, 0, 0
    low = int(values.min())
    counts = np.bincount(values - low)
    small = np.flatnonzero(counts < min_count)
    cutoff = low + (int(small[0]) if small.size else int(counts.size))
    return np.minimum(values, cutoff), low, cutoff


def fill_table(data: dict[str, Any], settings: Settings, params: BookParams,
               min_count: int, kill_rate: float) -> pd.DataFrame:
    """Fill probability by position (and for orders behind the best) for every horizon, with
    Wilson intervals, the exponential fit of that horizon and the three approximations."""
    obs = data["delay"]                          # the observation, in steps from joining
    fill = data["fill_step"]
    resting = (data["level"] >= 0) & ~((fill >= 0) & (fill < obs))
    at_best = resting & (data["level"] == 0)
    groups, low, cutoff = _pool(data["ahead"][at_best], min_count)
    rows = []
    for H in settings.horizons:
        success = (fill >= obs) & (fill < obs + H)
        ok = success[at_best]
        for k in range(low, cutoff + 1):
            members = groups == k
            n = int(members.sum())
            if n == 0:
                continue
            ci = proportion_ci(int(ok[members].sum()), n)
            rows.append({"horizon": H, "level": 0, "position": k,
                         "position_label": f">= {k}" if k == cutoff else str(k),
                         "trials": n, "fills": int(ok[members].sum()), "p": ci["p"],
                         "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
        for level in range(1, params.n_levels):
            members = resting & (data["level"] == level)
            n = int(members.sum())
            if n:
                ci = proportion_ci(int(success[members].sum()), n)
                rows.append({"horizon": H, "level": level, "position": -1,
                             "position_label": f"level {level}", "trials": n,
                             "fills": int(success[members].sum()), "p": ci["p"],
                             "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    table = pd.DataFrame(rows)
    table["exp_fit"] = np.nan
    for name in ("first_passage", "first_passage_moves", "poisson"):
        table[name] = np.nan
    mu, C = params.market_rate, params.cancel_rate
    for H in settings.horizons:
        exact = (table["horizon"] == H) & (table["level"] == 0) & (
            table["position_label"] != f">= {cutoff}")
        k = table.loc[exact, "position"].to_numpy()
        if not k.size:
            continue
        fit = fit_exponential_decay(k, table.loc[exact, "trials"], table.loc[exact, "fills"])
        table.loc[exact, "exp_fit"] = fit["p0"] * np.exp(-fit["beta"] * k)
        if mu > 0:
            t = H * params.dt
            table.loc[exact, "first_passage"] = fill_rule_first_passage(
                k, t, mu=mu, cancel_rate=C)
            table.loc[exact, "first_passage_moves"] = fill_rule_first_passage(
                k, t, mu=mu, cancel_rate=C, kill_rate=kill_rate)
            table.loc[exact, "poisson"] = fill_rule_poisson(k, t, mu=mu)
    return table


def fit_table(table: pd.DataFrame, horizons: tuple[int, ...]) -> pd.DataFrame:
    """The exponential fit per horizon, and how far each approximation is from the data."""
    rows = []
    for H in horizons:
        g = table[(table["horizon"] == H) & table["exp_fit"].notna()]
        fit = fit_exponential_decay(g["position"], g["trials"], g["fills"])
        se = (g["ci_high"] - g["ci_low"]) / (2 * Z95)      # Wilson: never zero
        row = {"horizon": H, **fit}
        for name in ("exp_fit", "first_passage", "first_passage_moves", "poisson"):
            diff = (g[name] - g["p"]).to_numpy()
            row[f"max_abs_{name}"] = float(np.abs(diff).max()) if diff.size else float("nan")
            row[f"rms_z_{name}"] = (float(np.sqrt(np.mean((diff / se) ** 2))) if diff.size
                                    else float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def monotone_violations(table: pd.DataFrame, z: float = Z95) -> list[tuple[int, int, int]]:
    """``(horizon, k, k + 1)`` wherever the fill probability at the best rises from position
    ``k`` to ``k + 1`` by more than ``z`` combined standard errors (the curve is
    non-increasing within its intervals when this is empty)."""
    out = []
    for H, g in table[table["level"] == 0].groupby("horizon"):
        g = g.sort_values("position")
        p, n, k = g["p"].to_numpy(), g["trials"].to_numpy(), g["position"].to_numpy()
        var = np.maximum(p * (1 - p), 0.25 / n) / n    # never zero: a floor for p in {0, 1}
        for i in range(len(g) - 1):
            if p[i + 1] - p[i] > z * math.sqrt(var[i] + var[i + 1]):
                out.append((int(H), int(k[i]), int(k[i + 1])))
    return out


_GROUPINGS = (
    ("ahead_at_observation", "orders ahead at the observation"),
    ("behind_at_observation", "orders behind at the observation"),
    ("ahead_at_join", "orders ahead when it joined"),
)


def pnl_table(data: dict[str, Any], settings: Settings, min_count: int) -> pd.DataFrame:
    """Adverse move and PnL per fill (ticks) by the three position definitions."""
    obs, fill = data["delay"], data["fill_step"]
    H = max(settings.horizons)
    observed = ((data["level"] == 0) & ~((fill >= 0) & (fill < obs))
                & (fill >= obs) & (fill < obs + H))
    joined = (fill >= 0) & (fill < settings.max_delay + H)
    values = {
        "ahead_at_observation": (observed, data["ahead"]),
        "behind_at_observation": (observed, data["best_bid_queue"] - data["ahead"] - 1),
        "ahead_at_join": (joined, data["join_ahead"]),
    }
    rows = []
    for key, label in _GROUPINGS:
        mask, value = values[key]
        if not mask.any():
            continue
        groups, low, cutoff = _pool(value[mask], min_count)
        adverse = data["adverse"][mask]
        for g in range(low, cutoff + 1):
            members = groups == g
            if members.sum() < 2:
                continue
            a = mean_ci(adverse[members])
            against = proportion_ci(int((adverse[members] < 0).sum()), int(members.sum()))
            rows.append({"grouping": key, "grouping_label": label, "value": g,
                         "value_label": f">= {g}" if g == cutoff else str(g),
                         "fills": a["n"], "adverse_mean": a["mean"], "adverse_se": a["se"],
                         "adverse_ci_low": a["ci_low"], "adverse_ci_high": a["ci_high"],
                         "pnl_per_fill": 0.5 + a["mean"], "pnl_ci_low": 0.5 + a["ci_low"],
                         "pnl_ci_high": 0.5 + a["ci_high"], "moved_against": against["p"],
                         "moved_against_ci_low": against["ci_low"],
                         "moved_against_ci_high": against["ci_high"]})
    return pd.DataFrame(rows)


def front_vs_rest(data: dict[str, Any], settings: Settings) -> dict[str, float]:
    """Adverse move (ticks) of fills from the front (nothing ahead at the observation) minus
    that of fills from further back, with a normal 95% interval (independent fills); and the
    same for orders that joined behind at most 2 orders vs behind more."""
    obs, fill = data["delay"], data["fill_step"]
    H = max(settings.horizons)
    observed = (data["level"] == 0) & (fill >= obs) & (fill < obs + H)
    joined = (fill >= 0) & (fill < settings.max_delay + H)
    out = {}
    for name, mask, split in (("front", observed, data["ahead"] == 0),
                              ("short_queue_join", joined, data["join_ahead"] <= 2)):
        a, b = data["adverse"][mask & split], data["adverse"][mask & ~split]
        if a.size < 2 or b.size < 2:
            out.update({f"{name}_{key}": float("nan") for key in
                        ("a", "b", "diff", "ci_low", "ci_high", "z", "n_a", "n_b")})
            continue
        diff = a.mean() - b.mean()
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        out.update({f"{name}_a": float(a.mean()), f"{name}_b": float(b.mean()),
                    f"{name}_diff": float(diff), f"{name}_ci_low": diff - Z95 * se,
                    f"{name}_ci_high": diff + Z95 * se, f"{name}_z": diff / se,
                    f"{name}_n_a": a.size, f"{name}_n_b": b.size})
    return out


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    params = settings.params()
    n = ctx.paths(settings.episodes)
    min_count = min(settings.min_trials, max(3, n // 400))
    data = simulate(ctx, settings, n)
    nu = data["up_ticks"] / data["best_time"] if data["best_time"] > 0 else 0.0
    table = fill_table(data, settings, params, min_count, nu)
    fits = fit_table(table, settings.horizons)
    pnl = pnl_table(data, settings, min_count)
    contrast = front_vs_rest(data, settings)
    violations = monotone_violations(table)

    obs, fill = data["delay"], data["fill_step"]
    before = (fill >= 0) & (fill < obs)
    status = {"filled before the observation": int(before.sum()),
              "out of the window before it": int(((data["level"] < 0) & ~before).sum())}
    for level in range(params.n_levels):
        status[f"resting at level {level}"] = int((data["level"] == level).sum())
    ctx.paragraph(
        f"Book (asmm_env.lob, BookParams): tick {params.tick_size:g}, {params.n_levels} "
        f"levels, limit orders L = {params.limit_rate:g} per level, cancellations C = "
        f"{params.cancel_rate:g} per order, market orders M = {params.market_rate:g} per side "
        f"(x{1 + params.market_boost:g} at a best queue of at most {params.small_queue}), "
        f"new queues 1 + Poisson({params.refill:g}), dt = {params.dt:g} time unit per step. "
        f"{n:,} episodes of {params.n_steps} steps: {settings.warmup} steps of warm-up, then "
        f"a one-shot unit bid joins the back of the best bid queue and is left alone; it is "
        f"observed once, Uniform{{0..{settings.max_delay}}} steps later. At the observation: "
        + ", ".join(f"{v:,} {k}" for k, v in status.items())
        + f". Trials (one per episode) are the orders resting at the best at the "
        f"observation; positions with fewer than {min_count} trials are pooled into the last "
        f"row. Fill within H steps after the observation; Wilson 95% intervals.",
        title="Setup")

    ctx.table(table, "queue_fill_rule",
              "Fill probability within H steps by queue position",
              _fill_reading(table, fits, settings, params, nu, violations),
              display=_fill_display(table))
    ctx.table(fits, "queue_decay_fit",
              "Exponential decay p0 exp(-beta k) fitted per horizon, and the approximations",
              _fit_reading(fits, settings), display=_fit_display(fits))
    ctx.figure(_fill_figure(table, settings), "queue_fill_rule_curve",
               "Fill probability vs queue position, with the fits",
               _figure_reading(table, settings))
    ctx.table(pnl, "queue_pnl_per_fill", "Adverse move and PnL per fill by queue position",
              _pnl_reading(pnl, contrast, settings), display=_pnl_display(pnl))
    ctx.figure(_pnl_figure(pnl), "queue_pnl_per_fill_curve",
               "Adverse move after a fill by the three position definitions",
               "Mean adverse move of a fill (mid h steps after the fill's step minus the mid "
               f"at the fill, h = {settings.adverse_steps}, ticks; negative: the price fell "
               "after we bought) with 95% intervals. PnL per fill over that horizon is half "
               "a tick above these points (the dotted line marks -1/2: below it a fill "
               "loses money).")


# --- readings ------------------------------------------------------------------------------
def _rows(table: pd.DataFrame, H: int) -> pd.DataFrame:
    return table[(table["horizon"] == H) & (table["level"] == 0)].sort_values("position")


def _fill_reading(table, fits, settings, params, nu, violations) -> str:
    H = settings.main_horizon
    g = _rows(table, H)
    if g.empty:
        return "No order rested at the best at its observation: no trials."
    front, back = g.iloc[0], g.iloc[-1]
    text = (f"At H = {H} steps an order at the front of the queue (position "
            f"{front.position_label}) is filled with probability {front.p:.3f} "
            f"[{front.ci_low:.3f}, {front.ci_high:.3f}] ({front.trials:,} trials); at position "
            f"{back.position_label} with {back.p:.3f} [{back.ci_low:.3f}, {back.ci_high:.3f}] "
            f"({back.trials:,} trials). ")
    text += ("Over every horizon the curve never rises from one position to the next by more "
             "than 1.96 combined standard errors (non-increasing within its intervals). "
             if not violations else
             f"The curve rises significantly at {violations} (horizon, k, k + 1). ")
    behind = table[(table["horizon"] == H) & (table["level"] > 0)]
    for r in behind.itertuples():
        text += (f"An order {r.level} level(s) behind the best (the price moved away from it) "
                 f"is filled within H with probability {r.p:.3f} [{r.ci_low:.3f}, "
                 f"{r.ci_high:.3f}] ({r.trials:,} trials). ")
    exact = g[g["first_passage"].notna()]
    if not exact.empty:
        worst = (exact["first_passage"] - exact["p"]).abs().idxmax()
        w = exact.loc[worst]
        text += (f"First-passage approximation (mu = M = {params.market_rate:g}, C = "
                 f"{params.cancel_rate:g}): {exact['first_passage'].iloc[0]:.3f} at the front, "
                 f"largest gap {w.first_passage - w.p:+.3f} at position {w.position_label}; with "
                 f"the price moving away at the measured nu = {nu:.4f} ticks per time unit it "
                 f"gives {exact['first_passage_moves'].iloc[0]:.3f} at the front, largest gap "
                 f"{(exact['first_passage_moves'] - exact['p']).abs().max():.3f}; the Poisson "
                 f"tail without cancellations gives "
                 f"{exact['poisson'].iloc[0]:.3f} at the front and "
                 f"{exact['poisson'].iloc[-1]:.3f} at position {exact['position'].iloc[-1]} "
                 f"(data {exact['p'].iloc[-1]:.3f}).")
    return text


def _fit_reading(fits: pd.DataFrame, settings: Settings) -> str:
    parts = []
    for r in fits.itertuples():
        if not np.isfinite(r.beta):
            parts.append(f"H = {r.horizon}: too few positions to fit")
            continue
        verdict = ("not rejected at the 1% level" if r.p_value > 0.01 else
                   "rejected at the 1% level: an exponential does not describe the curve")
        parts.append(
            f"H = {r.horizon}: beta = {r.beta:.3f} per order ahead (Fisher 95% CI "
            f"[{r.beta_ci_low:.3f}, {r.beta_ci_high:.3f}], quasi-likelihood "
            f"[{r.beta_qci_low:.3f}, {r.beta_qci_high:.3f}]), p0 = {r.p0:.3f}; Pearson chi2 = "
            f"{r.chi2:.1f} on {int(r.dof)} dof, p = {r.p_value:.2g} ({verdict}); RMS residual "
            f"in standard errors: exponential {r.rms_z_exp_fit:.1f}, first passage "
            f"{r.rms_z_first_passage:.1f}, first passage with moves "
            f"{r.rms_z_first_passage_moves:.1f}, Poisson {r.rms_z_poisson:.1f}")
    text = ("The seed system reports an exponential decay of the fill probability in the queue "
            "position; fitted here by binomial maximum likelihood per horizon. "
            + "; ".join(parts) + ".")
    ok = fits[np.isfinite(fits["beta"])]
    if len(ok) > 1:
        short, long = ok.loc[ok["horizon"].idxmin()], ok.loc[ok["horizon"].idxmax()]
        text += (f" The decay rate is not a property of the queue alone: it "
                 f"{'falls' if short.beta > long.beta else 'does not fall'} from "
                 f"{short.beta:.3f} at H = {int(short.horizon)} to {long.beta:.3f} at H = "
                 f"{int(long.horizon)}" + (" (a longer horizon lets more of the queue ahead go)."
                                           if short.beta > long.beta else "."))
        best = {name: ok[f"rms_z_{name}"].mean() for name in
                ("first_passage", "first_passage_moves", "poisson")}
        winner = min(best, key=best.get)
        label = {"first_passage": "the first passage", "poisson": "the Poisson tail",
                 "first_passage_moves": "the first passage with the price moving away"}
        text += (f" Of the approximations with no fitted parameter, {label[winner]} is "
                 f"closest on average over the horizons (mean RMS residual {best[winner]:.1f} "
                 f"standard errors).")
    return text


def _figure_reading(table: pd.DataFrame, settings: Settings) -> str:
    H = settings.main_horizon
    g = _rows(table, H)
    g = g[g["exp_fit"].notna()]
    if g.empty:
        return "Too few trials per position to draw the fits."
    over = g[g["p"] > g["exp_fit"]]
    return (f"Points: empirical fill probability with Wilson 95% intervals; dashed: the "
            f"exponential fit; dotted: the first-passage approximation; dash-dot: with the "
            f"price moving away. At H = {H} the data lie above the exponential at positions "
            f"{', '.join(map(str, over['position'].tolist())) or 'none'} and below it "
            f"elsewhere.")


def _significance(diff: float, low: float, high: float) -> str:
    return "significant" if low > 0 or high < 0 else "not significant"


def _pnl_reading(pnl: pd.DataFrame, c: dict[str, float], settings: Settings) -> str:
    if pnl.empty:
        return "No fills to measure."
    text = (f"Adverse move at h = {settings.adverse_steps} steps after the fill, ticks (PnL per "
            f"fill = 1/2 + adverse move). ")
    if np.isfinite(c.get("front_diff", float("nan"))):
        text += (f"Fills of orders at the front at the observation move {c['front_a']:+.3f} "
                 f"ticks on average ({int(c['front_n_a']):,} fills), those from further back "
                 f"{c['front_b']:+.3f} ({int(c['front_n_b']):,}): the front is "
                 f"{'less' if c['front_diff'] > 0 else 'more'} adversely selected by "
                 f"{abs(c['front_diff']):.3f} ticks [{c['front_ci_low']:+.3f}, "
                 f"{c['front_ci_high']:+.3f}] (z = {c['front_z']:.1f}, "
                 f"{_significance(c['front_diff'], c['front_ci_low'], c['front_ci_high'])}). ")
    ahead = pnl[pnl["grouping"] == "ahead_at_observation"].sort_values("value")
    if len(ahead) > 2:
        worst = ahead.loc[ahead["adverse_mean"].idxmin()]
        last = ahead.iloc[-1]
        text += (f"The dependence on the place ahead is not monotone: the most adversely "
                 f"selected position is {worst.value_label} ({worst.adverse_mean:+.3f} "
                 f"[{worst.adverse_ci_low:+.3f}, {worst.adverse_ci_high:+.3f}]), the last row "
                 f"({last.value_label}) moves {last.adverse_mean:+.3f} "
                 f"[{last.adverse_ci_low:+.3f}, {last.adverse_ci_high:+.3f}]. "
                 if worst.value != ahead["value"].iloc[0] and worst.value != last.value else
                 "")
    behind = pnl[pnl["grouping"] == "behind_at_observation"].sort_values("value")
    if len(behind) > 1:
        first, last = behind.iloc[0], behind.iloc[-1]
        gap = last.adverse_mean - first.adverse_mean
        se = math.hypot(first.adverse_se, last.adverse_se)
        text += (f"By the orders behind at the observation, the same fills move "
                 f"{first.adverse_mean:+.3f} [{first.adverse_ci_low:+.3f}, "
                 f"{first.adverse_ci_high:+.3f}] with {first.value_label} behind "
                 f"({first.fills:,} fills; {first.moved_against:.0%} followed by a fall) and "
                 f"{last.adverse_mean:+.3f} [{last.adverse_ci_low:+.3f}, "
                 f"{last.adverse_ci_high:+.3f}] with {last.value_label} behind "
                 f"({last.moved_against:.0%}), a difference of {gap:+.3f} ticks "
                 f"(z = {gap / se:.1f})")
        text += (": the queue behind a fill is what protects it, since a fill that leaves the "
                 "best queue empty is followed by the price move the depletion causes. "
                 if gap / se > 2 else ". ")
    if np.isfinite(c.get("short_queue_join_diff", float("nan"))):
        d = c["short_queue_join_diff"]
        text += (f"By the join position: orders that joined behind at most 2 orders move "
                 f"{c['short_queue_join_a']:+.3f} after their fill, those that joined a longer "
                 f"queue {c['short_queue_join_b']:+.3f} (difference {d:+.3f} "
                 f"[{c['short_queue_join_ci_low']:+.3f}, {c['short_queue_join_ci_high']:+.3f}], "
                 f"{_significance(d, c['short_queue_join_ci_low'], c['short_queue_join_ci_high'])}"
                 ")" + ("; joining a short queue gets filled sooner, but more often just before "
                        "the queue runs out. " if c["short_queue_join_ci_high"] < 0 else ". "))
    worst = pnl.loc[pnl["pnl_per_fill"].idxmin()]
    text += (f"The lowest PnL per fill is {worst.pnl_per_fill:+.3f} ticks "
             f"[{worst.pnl_ci_low:+.3f}, {worst.pnl_ci_high:+.3f}] ({worst.grouping_label} "
             f"{worst.value_label}); "
             + ("every group keeps a PnL per fill significantly above zero at this horizon."
                if (pnl["pnl_ci_low"] > 0).all() else
                f"{int((pnl['pnl_ci_low'] <= 0).sum())} of {len(pnl)} groups do not keep a PnL "
                "per fill significantly above zero at this horizon."))
    return text


# --- display -------------------------------------------------------------------------------
def _fill_display(t: pd.DataFrame) -> pd.DataFrame:
    def num(x, d=3):
        return "" if not np.isfinite(x) else f"{x:.{d}f}"

    return pd.DataFrame({
        "H": t["horizon"], "position": t["position_label"], "trials": t["trials"],
        "fill probability [95% CI]": [format_ci(r.p, r.ci_low, r.ci_high, 3)
                                      for r in t.itertuples()],
        "exp fit": t["exp_fit"].map(num), "first passage": t["first_passage"].map(num),
        "with moves": t["first_passage_moves"].map(num), "Poisson": t["poisson"].map(num),
    })


def _fit_display(f: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "H": f["horizon"], "positions": f["positions"],
        "beta [95% CI]": [format_ci(r.beta, r.beta_ci_low, r.beta_ci_high, 3)
                          for r in f.itertuples()],
        "beta quasi-lik. CI": [f"[{r.beta_qci_low:.3f}, {r.beta_qci_high:.3f}]"
                               for r in f.itertuples()],
        "p0 [95% CI]": [format_ci(r.p0, r.p0_ci_low, r.p0_ci_high, 3) for r in f.itertuples()],
        "chi2 / dof": [f"{r.chi2:.1f} / {r.dof:.0f}" for r in f.itertuples()],
        "GOF p": f["p_value"].map("{:.2g}".format),
        "max abs gap exp / FP / FP+moves / Poisson": [
            f"{r.max_abs_exp_fit:.3f} / {r.max_abs_first_passage:.3f} / "
            f"{r.max_abs_first_passage_moves:.3f} / {r.max_abs_poisson:.3f}"
            for r in f.itertuples()],
    })


def _pnl_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "position definition": p["grouping_label"], "value": p["value_label"],
        "fills": p["fills"],
        "adverse move, ticks [95% CI]": [format_ci(r.adverse_mean, r.adverse_ci_low,
                                                   r.adverse_ci_high, 3)
                                         for r in p.itertuples()],
        "PnL per fill, ticks [95% CI]": [format_ci(r.pnl_per_fill, r.pnl_ci_low,
                                                   r.pnl_ci_high, 3) for r in p.itertuples()],
        "followed by a fall": [format_ci(r.moved_against, r.moved_against_ci_low,
                                         r.moved_against_ci_high, 2) for r in p.itertuples()],
    })


# --- figures -------------------------------------------------------------------------------
def _fill_figure(table: pd.DataFrame, settings: Settings):
    horizons = settings.horizons
    fig, axes = plt.subplots(1, len(horizons), figsize=(4.2 * len(horizons), 3.8),
                             sharey=True, squeeze=False)
    for ax, H in zip(axes[0], horizons, strict=True):
        g = _rows(table, H)
        exact = g[g["exp_fit"].notna()]
        err = np.clip(np.vstack([g["p"] - g["ci_low"], g["ci_high"] - g["p"]]), 0, None)
        ax.errorbar(g["position"], g["p"], yerr=err, fmt="o", ms=4, capsize=2, color="k",
                    label="simulated (Wilson 95%)")
        if not exact.empty:
            k = exact["position"]
            ax.plot(k, exact["exp_fit"], "--", color="C0", label="exponential fit")
            ax.plot(k, exact["first_passage"], ":", color="C1", lw=2, label="first passage")
            ax.plot(k, exact["first_passage_moves"], "-.", color="C2",
                    label="first passage, price moves away")
        ax.set_title(f"H = {H} steps", fontsize=10)
        ax.set_xlabel("orders ahead at the best (last point pooled)")
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("P(filled within H)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _pnl_figure(pnl: pd.DataFrame):
    fig, axes = plt.subplots(1, len(_GROUPINGS), figsize=(13, 3.8), sharey=True)
    for ax, (key, label) in zip(axes, _GROUPINGS, strict=True):
        g = pnl[pnl["grouping"] == key].sort_values("value")
        if not g.empty:
            err = np.vstack([g["adverse_mean"] - g["adverse_ci_low"],
                             g["adverse_ci_high"] - g["adverse_mean"]])
            ax.errorbar(g["value"], g["adverse_mean"], yerr=err, fmt="o-", ms=4, capsize=2)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.axhline(-0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(label + " (last point pooled)", fontsize=9)
    axes[0].set_ylabel("adverse move after the fill (ticks)")
    fig.tight_layout()
    return fig
