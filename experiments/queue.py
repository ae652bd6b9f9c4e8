"""Queue position on the limit order book: how the place of a resting order in the FIFO queue
sets its chance of being filled within a horizon (claim 10: "fill probability decays
exponentially with queue position"), and what its fills cost in adverse selection.

Model. The queue-reactive book of :mod:`asmm_env.lob.book` (one-tick spread; limit orders,
cancellations and market orders as Poisson processes; a price move when a best queue
empties) with the config's ``book`` overrides of :class:`asmm_env.lob.BookParams`, rolled
out by :func:`asmm_env.rollout.rollout` with the run's seed (the seed contract: the book's
exogenous events are those of every other experiment on that seed).

Design (one independent trial per episode; times in the book's time unit, whole numbers of
``dt``):

1. warm-up: no order for ``warmup`` (the best queues forget their ``1 + Poisson(refill)``
   start);
2. then a unit bid joins the back of the best bid queue as a one-shot order
   (:func:`asmm_env.lob.book.one_shot`, then ``KEEP``): never re-quoted or replaced, it rests
   where it is while the price moves and leaves only when filled or pushed out of the window;
3. it is observed once, ``W`` after joining, ``W`` uniform on the decision times in
   ``[0, max_delay]`` (a design draw from its own seed, ``v.seed_for(1)``: it never touches
   the book's streams). At the observation it has been filled, or left the window, or rests
   at level ``j`` behind the best with ``k`` orders ahead (its *queue position*);
4. a *trial* is an order resting at the best bid at the observation; it *succeeds for the
   horizon H* if it is filled within ``H`` after the observation. Orders one or more levels
   behind the best at the observation are reported as rows of their own.

Drawing ``W`` spreads the observed positions from the back of the queue (``W = 0``: the join
position) to the front (``max_delay`` is short because an order that reached the front is
filled soon: later observations would rarely find it resting); one trial per episode makes
trials independent, so each position's
fill probability has a Wilson interval. Positions with fewer than ``min_trials`` trials are
pooled into a last row ``>= k``, left out of the fits.

Exponential decay. ``p(k) = p0 exp(-beta k)`` is fitted by binomial maximum likelihood (log
link) over the unpooled positions; ``beta`` (per order ahead) has a Fisher standard error
widened by ``sqrt(chi2 / dof)`` (quasi-likelihood) when the Pearson statistic shows more
scatter than binomial, and the Pearson p-value is reported. An exponential decays at the same
rate everywhere in the queue; the test of claim 10's "exponentially" is the *decay-rate
ratio*: the local decay rate ``-d ln p / dk`` at the back position over that at the front
position of ``decay_positions``, from a binomial fit of ``ln p(k) = a - b k - c k^2`` over
the unpooled positions: 1 for an exponential, above 1 when the decay accelerates along the
queue (as the first passage below does), below 1 when it slows down (delta-method interval,
quasi-likelihood widened like beta's), tested at every horizon.

First passage. Freeze the order at the best with ``n`` orders ahead: orders behind it never
matter; those ahead go by market orders (one each, rate ``mu = market_rate``) and by their own
cancellations (rate ``C = cancel_rate`` each), so ``n`` falls by one at rate ``mu + C n``, and
with nothing ahead the next market order fills the order. The fill time from position ``k``
is a sum of independent exponentials ``E_k + ... + E_0``, ``E_n ~ Exp(mu + C n)``, and
``P(fill within H)`` is the first-passage probability of this pure-death chain (``expm``
of its generator). Two variants: without cancellations it is the Poisson tail
``P(N >= k + 1)``, ``N ~ Poisson(mu H)``; with the price moving away, the chain is killed at
the rate ``nu`` at which the mid moves up while the bid rests at the best, measured in the
same episodes. Left out: the market-order boost at small queues (``market_boost``), the
return of a price that moved away, and the dependence of ``nu`` on the queues.

Adverse selection per fill. The one-shot bid fills at most once; its *adverse-selection cost*
is the ledger's measure with the sign turned so that a cost is positive: the mid at the fill
minus the mid ``adverse_horizon`` later, in ticks (positive: the price fell after we bought).
Every fill is at the best, half a tick below the mid at the fill, so the PnL of a fill over
that horizon is ``1/2 - cost`` ticks. Reported by three definitions of "position": orders
ahead at the observation and orders behind it (fills within ``max(horizons)`` of the
observation), and orders ahead when the order joined (fills within ``max_delay +
max(horizons)`` of joining); normal 95% intervals over independent fills.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.linalg import expm

from asmm_env.lob import BookParams
from asmm_env.lob.book import KEEP, NO_ORDER, one_shot
from asmm_env.rollout import rollout
from asmm_env.validation import check_non_negative, check_positive, check_positive_int
from experiments import style
from experiments._lob import book_params
from experiments.findings import Above, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, mean_ci, proportion_ci

TITLE = "Queue position: fill probability and adverse selection by place in the queue"


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.queue`` in the config (times in the book's time unit, multiples of its
    ``dt``).

    episodes : independent episodes (>= 1), one trial each.
    warmup : time before the order joins (>= 0).
    max_delay : the observation comes ``W`` after joining, ``W`` uniform on the decision
        times in ``[0, max_delay]`` (>= 0).
    horizons : fill horizons H (distinct, > 0).
    main_horizon : the horizon of the finding on the decay rate beta (one of
        ``horizons``); the decay-rate ratio is tested at every horizon.
    adverse_horizon : time from a fill's step to the mid that measures its adverse move (> 0).
    min_trials : positions with fewer trials (or fills) are pooled into a last row (>= 1).
    decay_positions : ``(front, back)`` positions of the decay-rate ratio, ``0 <= front <
        back``.
    exponential_tolerance : the decay-rate ratio within ``1 +/- tolerance`` counts as
        exponential (> 0).
    robustness_paths : fraction of the episodes the robustness checks run on, in (0, 1].
    book : ``BookParams`` fields overriding the defaults (not ``T`` or
        ``adverse_selection_steps``: the experiment sets them).
    """

    episodes: int = 36_000
    warmup: float = 10.0
    max_delay: float = 6.0
    horizons: tuple[float, ...] = (2.0, 5.0, 10.0)
    main_horizon: float = 5.0
    adverse_horizon: float = 10.0
    min_trials: int = 100
    decay_positions: tuple[int, ...] = (0, 6)
    exponential_tolerance: float = 0.25
    robustness_paths: float = 0.4
    book: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("episodes", "min_trials"):
            check_positive_int(name, getattr(self, name))
        for name in ("exponential_tolerance", "adverse_horizon"):
            check_positive(name, getattr(self, name))
        for name in ("warmup", "max_delay"):
            check_non_negative(name, getattr(self, name))
        h = self.horizons
        if not isinstance(h, tuple) or not h:
            raise ValueError(f"horizons must be a non-empty list of times > 0, got {h!r}")
        for i, value in enumerate(h):
            check_positive(f"horizons[{i}]", value)
        if len(set(h)) != len(h):
            raise ValueError(f"horizons must not repeat a value, got {list(h)}")
        if self.main_horizon not in h:
            raise ValueError(f"main_horizon must be one of horizons {list(h)}, "
                             f"got {self.main_horizon!r}")
        a = self.decay_positions
        if (not isinstance(a, tuple) or len(a) != 2 or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in a)
                or not a[0] < a[1]):
            raise ValueError(f"decay_positions must be two integers 0 <= front < back, got "
                             f"{a!r}")
        if (isinstance(self.robustness_paths, bool) or not 0 < self.robustness_paths <= 1):
            raise ValueError(f"robustness_paths must be a fraction in (0, 1], got "
                             f"{self.robustness_paths!r}")
        dt = self.params().dt
        for name in ("warmup", "max_delay", "adverse_horizon", "horizons"):
            for value in np.atleast_1d(getattr(self, name)):
                if abs(value / dt - round(value / dt)) > 1e-9 * max(1.0, value / dt):
                    raise ValueError(f"{name} must be whole multiples of book.dt = {dt:g}, "
                                     f"got {value!r}")

    def params(self) -> BookParams:
        """The book of every episode: long enough for the warm-up, the delay, the longest
        horizon and the adverse horizon after it."""
        dt = self.book.get("dt", BookParams.dt) if isinstance(self.book, dict) else 1.0
        T = self.warmup + self.max_delay + max(self.horizons) + self.adverse_horizon
        return book_params(self.book, fixed=("T", "adverse_selection_steps"), T=T,
                           adverse_selection_steps=max(1, round(self.adverse_horizon / dt)))


# --- the analytic approximations -----------------------------------------------------------
def first_passage_fill_probability(positions: Any, horizon: float, *, mu: float,
                                   cancel_rate: float, kill_rate: float = 0.0) -> np.ndarray:
    """Probability that an order with ``k`` orders ahead at the best is filled within
    ``horizon``, for each ``k`` in ``positions``: the pure-death first passage of the module
    docstring (the count ahead falls at rate ``mu + cancel_rate * n``, the fill comes at rate
    ``mu`` with nothing ahead, the order is lost at rate ``kill_rate`` from every state).

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
        Fill probabilities, the shape of ``positions``: the (filled) entry of
        ``expm(G horizon)`` of the chain's generator ``G``.
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
    filled, lost = top + 1, top + 2              # states 0..top (orders ahead), then these
    G = np.zeros((top + 3, top + 3))
    for state in range(top + 1):
        out = mu + cancel_rate * state
        G[state, state - 1 if state > 0 else filled] += out
        G[state, lost] += kill_rate
        G[state, state] -= out + kill_rate
    return np.clip(expm(G * horizon)[k.astype(int), filled], 0.0, 1.0)


def poisson_fill_probability(positions: Any, horizon: float, *, mu: float) -> np.ndarray:
    """``P(N >= k + 1)``, ``N ~ Poisson(mu * horizon)``: the fill probability within
    ``horizon`` when only market orders (rate ``mu``) remove the ``k`` orders ahead."""
    return stats.poisson.sf(np.asarray(positions, dtype=float), mu * horizon)


def fit_exponential_decay(positions: Any, trials: Any, successes: Any) -> dict[str, float]:
    """Binomial maximum-likelihood fit of ``p(k) = p0 exp(-beta k)``.

    Returns ``p0``, ``beta`` (per order ahead) with its Fisher standard error and 95% interval
    (``beta_ci_*``), the quasi-likelihood interval ``beta_qci_*`` (the standard error times
    ``sqrt(max(1, chi2 / dof))``), the Pearson ``chi2`` on ``dof = positions - 2`` and its
    ``p_value``. NaN everywhere with fewer than 3 positions.
    """
    k, n, y = (np.asarray(a, dtype=float) for a in (positions, trials, successes))
    out = dict.fromkeys(("p0", "beta", "beta_se", "beta_ci_low", "beta_ci_high",
                         "beta_qci_low", "beta_qci_high", "chi2", "dof", "p_value"), math.nan)
    out["positions"] = int(k.size)
    if k.size < 3 or (n <= 0).any():
        return out
    eps = 1e-12

    def nll(theta):
        p = np.clip(np.exp(theta[0] - theta[1] * k), eps, 1 - eps)
        return -float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))

    slope, intercept = np.polyfit(k, np.log(np.clip(y / n, 1e-3, 1 - 1e-3)), 1, w=np.sqrt(n))
    res = optimize.minimize(nll, (min(intercept, -1e-6), -slope), method="L-BFGS-B",
                            bounds=[(-50.0, -1e-9), (-50.0, 50.0)])
    a, b = res.x
    p = np.clip(np.exp(a - b * k), eps, 1 - eps)
    grad = np.stack([np.ones_like(k), -k])                    # d log p / d (a, b)
    cov = np.linalg.inv((grad * (n * p / (1 - p))) @ grad.T)
    chi2 = float(np.sum((y - n * p) ** 2 / (n * p * (1 - p))))
    dof = k.size - 2
    se = math.sqrt(cov[1, 1])
    wide = se * math.sqrt(max(1.0, chi2 / dof))
    out.update(p0=math.exp(a), beta=float(b), beta_se=se, beta_ci_low=b - Z95 * se,
               beta_ci_high=b + Z95 * se, beta_qci_low=b - Z95 * wide,
               beta_qci_high=b + Z95 * wide, chi2=chi2, dof=float(dof),
               p_value=float(stats.chi2.sf(chi2, dof)))
    return out


def decay_rate_ratio(positions: Any, trials: Any, successes: Any, front: int,
                     back: int) -> Estimate:
    """The decay-rate ratio of the module docstring: the local decay rate ``-d ln p / dk`` at
    position ``back`` over that at ``front``, from the binomial maximum-likelihood fit of
    ``ln p(k) = a - b k - c k^2`` (so the ratio is ``(b + 2 c back) / (b + 2 c front)``; 1
    for an exponential, ``c = 0``), with a delta-method 95% interval from the Fisher
    information, widened by ``sqrt(chi2 / dof)`` when the Pearson statistic shows more scatter
    than binomial. NaN with fewer than 4 positions or a local rate at ``front`` that is not
    positive."""
    k, n, y = (np.asarray(x, dtype=float) for x in (positions, trials, successes))
    if k.size < 4 or (n <= 0).any():
        return Estimate(math.nan)
    eps = 1e-12
    X = np.stack([np.ones_like(k), -k, -k * k])             # d ln p / d (a, b, c)

    def nll(theta):
        p = np.clip(np.exp(theta @ X), eps, 1 - eps)
        return -float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))

    start = np.polyfit(k, np.log(np.clip(y / n, 1e-3, 1 - 1e-3)), 2, w=np.sqrt(n))
    res = optimize.minimize(nll, (min(start[2], -1e-6), -start[1], -start[0]),
                            method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    a, b, c = res.x
    p = np.clip(np.exp(res.x @ X), eps, 1 - eps)
    cov = np.linalg.inv((X * (n * p / (1 - p))) @ X.T)
    chi2 = float(np.sum((y - n * p) ** 2 / (n * p * (1 - p))))
    cov *= max(1.0, chi2 / (k.size - 3))
    low_rate, high_rate = b + 2 * c * front, b + 2 * c * back
    if low_rate <= 0:
        return Estimate(math.nan)
    ratio = high_rate / low_rate
    grad = np.array([0.0, 1 / low_rate - ratio / low_rate,
                     2 * back / low_rate - ratio * 2 * front / low_rate])
    se = math.sqrt(float(grad @ cov @ grad))
    return Estimate(ratio, ratio - Z95 * se, ratio + Z95 * se)


# --- simulation ----------------------------------------------------------------------------
class OneShotBid:
    """The design's order, as a rollout policy on the book: no order before ``join_step``,
    a one-shot unit bid at the back of the best bid queue then, kept from there on; never an
    ask. The step is read from the observation's time remaining."""

    def __init__(self, join_step: int, params: BookParams) -> None:
        self.join_step, self.T, self.dt = join_step, params.T, params.dt

    def offsets(self, observation: np.ndarray) -> np.ndarray:
        step = round((self.T - float(observation[0, 2])) / self.dt)
        bid = (NO_ORDER if step < self.join_step else
               int(one_shot(0)) if step == self.join_step else KEEP)
        out = np.full((observation.shape[0], 2), NO_ORDER, dtype=np.int64)
        out[:, 0] = bid
        return out


class QueueRecorder:
    """Rollout observer: at the start of every step from ``first`` on (and at the end), the
    order's level, the orders ahead of it (-1 without an order), the best bid queue (orders,
    ours included), the mid's move (ticks), and whether the order was filled in the step
    just ended; arrays ``(steps recorded, paths)``."""

    def __init__(self, first: int) -> None:
        self.first = first

    def start(self, core: Any) -> None:
        self.rows: dict[str, list[np.ndarray]] = {
            key: [] for key in ("level", "ahead", "queue", "mid", "filled")}
        if self.first == 0:
            self._record(core, np.zeros((core.n_paths, 1, 2)))

    def step(self, core: Any, step: int, quotes: np.ndarray, volume: np.ndarray) -> None:
        if step + 1 >= self.first:
            self._record(core, volume)

    def _record(self, core: Any, volume: np.ndarray) -> None:
        r = self.rows
        r["level"].append(core.order_levels()[:, 0, 0].astype(np.int8))
        r["ahead"].append(np.nan_to_num(core.queue_positions()[:, 0, 0], nan=-1.0
                                        ).astype(np.int16))
        r["queue"].append(core.best_queues()[0].astype(np.int16))
        r["mid"].append(core.mid_ticks.astype(np.int32))
        r["filled"].append(volume[:, 0, 0] > 0)

    def result(self) -> dict[str, np.ndarray]:
        return {key: np.stack(value) for key, value in self.rows.items()}


@dataclass(frozen=True)
class Episodes:
    """One row per episode (``frame``: ``delay``, ``join_ahead``, ``level``, ``ahead``,
    ``behind`` at the observation, ``fill_step`` from joining (-1: none), ``cost`` in ticks),
    the book, and the measured rate ``nu`` (per time unit) of up moves while the bid rests at
    the best."""

    frame: pd.DataFrame
    params: BookParams
    nu: float

    def steps(self, time: float) -> int:
        return round(time / self.params.dt)


def simulate(settings: Settings, v: Variation, n_episodes: int) -> Episodes:
    """The design of the module docstring at the variation ``v`` (its seed, time step and
    path fraction), on ``v.paths(n_episodes)`` episodes."""
    params = v.market(settings.params())
    n = v.paths(n_episodes)
    join = round(settings.warmup / params.dt)
    out = rollout(OneShotBid(join, params), params, n_paths=n, seed=v.seed,
                  observers=[functools.partial(QueueRecorder, join)])
    rec = {key: np.concatenate([chunk[key] for chunk in out.observed[0]], axis=1)
           for key in out.observed[0][0]}
    # The design draw: its own seed, so the book's random numbers do not depend on it.
    delay = np.random.default_rng(v.seed_for(1)).integers(
        0, round(settings.max_delay / params.dt) + 1, n)
    cols = np.arange(n)
    filled = rec["filled"][1:]                   # row j: a fill in the j-th step from joining
    fill_step = np.where(filled.any(axis=0), filled.argmax(axis=0), -1)
    join_ahead = rec["queue"][0].astype(float)   # before the join: the queue it joins
    level = np.where(delay == 0, 0, rec["level"][delay, cols])
    ahead = np.where(delay == 0, join_ahead, rec["ahead"][delay, cols]).astype(float)
    behind = np.where(delay == 0, 0.0, rec["queue"][delay, cols] - ahead - 1.0)
    ahead[level != 0] = np.nan
    behind[level != 0] = np.nan
    # nu: upward mid moves (ticks) in the steps that began with the bid at the best (it joins
    # the best at the start of its first step), per unit of that time.
    at_best = rec["level"][:-1] == 0
    at_best[0] = True
    up = np.maximum(np.diff(rec["mid"], axis=0), 0)
    nu = float(up[at_best].sum() / (at_best.sum() * params.dt)) if at_best.any() else 0.0
    tick = params.tick_size * params.order_size
    frame = pd.DataFrame({
        "delay": delay, "join_ahead": join_ahead, "level": level, "ahead": ahead,
        "behind": behind, "fill_step": fill_step,
        "fills": out.paths["fills"].to_numpy(),
        "cost": -out.paths["adverse_selection"].to_numpy() / tick})
    return Episodes(frame, params, nu)


# --- tables --------------------------------------------------------------------------------
def _pool(values: np.ndarray, min_count: int) -> tuple[np.ndarray, int]:
    """Integer groups with a pooled tail: counting up from the smallest value, from the first
    value with fewer than ``min_count`` members on, values are set to that value (the cutoff,
    returned)."""
    values = values.astype(int)
    if not values.size:
        return values, 0
    low = int(values.min())
    small = np.flatnonzero(np.bincount(values - low) < min_count)
    cutoff = low + (int(small[0]) if small.size else int(values.max() - low + 1))
    return np.minimum(values, cutoff), cutoff


def _successes(ep: Episodes, horizon: float) -> np.ndarray:
    f, w = ep.frame["fill_step"].to_numpy(), ep.frame["delay"].to_numpy()
    return (f >= w) & (f < w + ep.steps(horizon))


def fill_table(ep: Episodes, settings: Settings) -> pd.DataFrame:
    """Per horizon and position at the best (orders ahead at the observation; the last row
    pooled), and per level behind the best: trials, fills, the fill probability with its
    Wilson interval, and on unpooled positions the exponential fit and the approximations."""
    p, fr = ep.params, ep.frame
    at_best = (fr["level"] == 0).to_numpy()
    groups, cutoff = _pool(fr["ahead"].to_numpy()[at_best], settings.min_trials)
    rows = []
    for H in settings.horizons:
        success = _successes(ep, H)
        ok = success[at_best]
        for k in np.unique(groups):
            members = groups == k
            rows.append({"horizon": H, "level": 0, "position": int(k), "pooled": k == cutoff,
                         "trials": int(members.sum()), "fills": int(ok[members].sum())})
        for level in range(1, p.n_levels):
            members = (fr["level"] == level).to_numpy()
            if members.any():
                rows.append({"horizon": H, "level": level, "position": -1, "pooled": False,
                             "trials": int(members.sum()),
                             "fills": int(success[members].sum())})
    table = pd.DataFrame(rows, columns=["horizon", "level", "position", "pooled", "trials",
                                        "fills"])
    ci = [proportion_ci(f, n) for f, n in zip(table["fills"], table["trials"], strict=True)]
    table["p"] = [c["p"] for c in ci]
    table["ci_low"] = [c["ci_low"] for c in ci]
    table["ci_high"] = [c["ci_high"] for c in ci]
    table["label"] = np.where(table["level"] > 0, "level " + table["level"].astype(str),
                              np.where(table["pooled"], ">= " + table["position"].astype(str),
                                       table["position"].astype(str)))
    for name in ("exp_fit", "first_passage", "first_passage_moves", "poisson"):
        table[name] = np.nan
    for H in settings.horizons:
        exact = (table["horizon"] == H) & (table["level"] == 0) & ~table["pooled"]
        k = table.loc[exact, "position"].to_numpy()
        if not k.size:
            continue
        fit = fit_exponential_decay(k, table.loc[exact, "trials"], table.loc[exact, "fills"])
        table.loc[exact, "exp_fit"] = fit["p0"] * np.exp(-fit["beta"] * k)
        if p.market_rate > 0:
            rates = {"mu": p.market_rate, "cancel_rate": p.cancel_rate}
            table.loc[exact, "first_passage"] = first_passage_fill_probability(k, H, **rates)
            table.loc[exact, "first_passage_moves"] = first_passage_fill_probability(
                k, H, **rates, kill_rate=ep.nu)
            table.loc[exact, "poisson"] = poisson_fill_probability(k, H, mu=p.market_rate)
    return table


def fit_table(table: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per horizon: the exponential fit, the decay-rate ratio and the largest gap of each
    approximation to the data (unpooled positions)."""
    rows = []
    for H in settings.horizons:
        g = _exact(table, H)
        row = {"horizon": H, **fit_exponential_decay(g["position"], g["trials"], g["fills"])}
        ratio = _ratio(g, settings.decay_positions)
        row.update(decay_ratio=ratio.value, decay_ratio_ci_low=ratio.ci_low,
                   decay_ratio_ci_high=ratio.ci_high)
        for name in ("exp_fit", "first_passage", "first_passage_moves", "poisson"):
            gap = (g[name] - g["p"]).abs()
            row[f"max_gap_{name}"] = float(gap.max()) if len(gap) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _exact(table: pd.DataFrame, H: float) -> pd.DataFrame:
    return table[(table["horizon"] == H) & (table["level"] == 0) & ~table["pooled"]
                 ].sort_values("position")


def _ratio(g: pd.DataFrame, positions: tuple[int, ...]) -> Estimate:
    return decay_rate_ratio(g["position"], g["trials"], g["fills"], *positions)


GROUPINGS = {"ahead_at_observation": "orders ahead at the observation",
             "behind_at_observation": "orders behind at the observation",
             "ahead_at_join": "orders ahead when it joined"}


def pnl_table(ep: Episodes, settings: Settings) -> pd.DataFrame:
    """Adverse-selection cost and PnL per fill (ticks) by the three position definitions."""
    fr, top = ep.frame, max(settings.horizons)
    observed = (fr["level"] == 0).to_numpy() & _successes(ep, top)
    joined = ((fr["fill_step"] >= 0)
              & (fr["fill_step"] < ep.steps(settings.max_delay + top))).to_numpy()
    values = {"ahead_at_observation": (observed, fr["ahead"]),
              "behind_at_observation": (observed, fr["behind"]),
              "ahead_at_join": (joined, fr["join_ahead"])}
    rows = []
    for key, (mask, value) in values.items():
        if not mask.any():
            continue
        groups, cutoff = _pool(value.to_numpy()[mask], settings.min_trials)
        cost = fr["cost"].to_numpy()[mask]
        for g in np.unique(groups):
            c = cost[groups == g]
            if c.size < 2:
                continue
            m = mean_ci(c)
            against = proportion_ci(int((c > 0).sum()), c.size)
            rows.append({"grouping": key, "value": int(g),
                         "label": f">= {g}" if g == cutoff else str(g), "fills": c.size,
                         "cost": m["mean"], "cost_se": m["se"], "cost_ci_low": m["ci_low"],
                         "cost_ci_high": m["ci_high"], "pnl_per_fill": 0.5 - m["mean"],
                         "pnl_ci_low": 0.5 - m["ci_high"], "pnl_ci_high": 0.5 - m["ci_low"],
                         "moved_against": against["p"],
                         "moved_against_ci_low": against["ci_low"],
                         "moved_against_ci_high": against["ci_high"]})
    return pd.DataFrame(rows)


def behind_contrast(ep: Episodes, settings: Settings) -> Estimate:
    """Adverse-selection cost per fill (ticks) of fills with no order behind them at the
    observation minus that of fills with at least one behind (independent fills)."""
    fr = ep.frame
    mask = (fr["level"] == 0).to_numpy() & _successes(ep, max(settings.horizons))
    behind, cost = fr["behind"].to_numpy()[mask], fr["cost"].to_numpy()[mask]
    a, b = cost[behind == 0], cost[behind > 0]
    if a.size < 2 or b.size < 2:
        return Estimate(math.nan)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return Estimate(diff, diff - Z95 * se, diff + Z95 * se)


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    n = ctx.paths(settings.episodes)
    H = settings.main_horizon

    @functools.cache
    def episodes(v: Variation) -> Episodes:
        return simulate(settings, v, n)

    @functools.cache
    def tables(v: Variation) -> tuple[pd.DataFrame, pd.DataFrame]:
        table = fill_table(episodes(v), settings)
        return table, fit_table(table, settings)

    ep = episodes(ctx.variation())
    table, fits = tables(ctx.variation())
    pnl = pnl_table(ep, settings)
    p, fr = ep.params, ep.frame
    front, back = settings.decay_positions
    common = {"robustness_paths": settings.robustness_paths}

    ctx.finding(
        "fill_probability_decays", claim=10, unit="per order ahead",
        statement=f"The probability of a fill within {H:g} time units falls with the orders "
                  f"ahead at the best: the exponential fitted to it decays at "
                  "{value:.3f} per order ahead.",
        statistic=f"decay rate beta of p0 exp(-beta k), H = {H:g} (quasi-likelihood CI)",
        rule=Above(0.0), section="queue_fill_probability_curve", **common,
        estimate=lambda v: _fit_estimate(tables(v)[1], H))
    for horizon in settings.horizons:
        ctx.finding(
            f"decay_rate_constant_h{horizon:g}".replace(".", "_"), claim=10,
            statement=f"An exponential decays at one rate all along the queue; within "
                      f"{horizon:g} time units the fill probability's decay rate at position "
                      f"{back} is {{value:.2f}} times its rate at position {front}.",
            statistic=f"decay-rate ratio, local rate at {back} over at {front}, H = "
                      f"{horizon:g} (log-quadratic fit)",
            rule=Near(1.0, settings.exponential_tolerance), section="queue_decay_fit",
            **common, estimate=lambda v, horizon=horizon: _ratio(
                _exact(tables(v)[0], horizon), settings.decay_positions))
    ctx.finding(
        "no_order_behind_costs_more", unit="ticks per fill",
        statement="Fills of orders with no order behind them at the observation cost "
                  "{value:.3f} ticks more in adverse selection than fills with a queue "
                  "behind them.",
        statistic="adverse-selection cost per fill, nothing behind minus something behind",
        rule=Above(0.0), section="queue_pnl_per_fill", **common,
        estimate=lambda v: behind_contrast(episodes(v), settings))

    before = (fr["fill_step"] >= 0) & (fr["fill_step"] < fr["delay"])
    status = {"filled before it": int(before.sum()),
              "out of the window before it": int(((fr["level"] < 0) & ~before).sum()),
              **{f"at level {j}": int((fr["level"] == j).sum()) for j in range(p.n_levels)}}
    ctx.paragraph(
        "The book (asmm_env.lob): limit orders at rate L per level, cancellations at rate C "
        "per resting order, market orders at rate M per side (boosted on a nearly empty best "
        "queue), new queues of 1 + Poisson(refill) orders after a price move; every episode "
        "has its own warm-up, then the one-shot bid of the module's design. Episodes are "
        "rolled out by the common runner with the run's seed; the observation delay is a "
        "design draw from a seed of its own.", title="Method")
    ctx.table(pd.DataFrame([{
        "episodes": len(fr), "dt": p.dt, "steps": p.n_steps, "tick": p.tick_size,
        "n_levels": p.n_levels, "L": p.limit_rate, "C": p.cancel_rate, "M": p.market_rate,
        "market_boost": p.market_boost, "small_queue": p.small_queue, "refill": p.refill,
        "nu_measured": ep.nu, **status}]), "queue_setup",
        "Book, design and the orders' status at the observation",
        "Rates per time unit; nu is the measured rate of upward mid moves (ticks per time "
        "unit) while the bid rests at the best, the input of the first passage with price "
        "moves.", float_format="{:.4g}")
    ctx.table(table, "queue_fill_probability", "Fill probability within H by queue position",
              "Trials are orders resting at the best at the observation (one per episode), by "
              "orders ahead; rows 'level j' are orders j ticks behind the best; '>= k' pools "
              "the positions with too few trials. Wilson 95% intervals; the fits and the "
              "approximations on unpooled positions.", display=_fill_display(table))
    ctx.table(fits, "queue_decay_fit", "Exponential decay p0 exp(-beta k) fitted per horizon",
              "Binomial maximum likelihood over the unpooled positions: beta with its Fisher "
              "and quasi-likelihood 95% intervals, Pearson chi2 and its p-value (a small "
              "p-value rejects the exponential shape), the decay-rate ratio (1 for an "
              "exponential) and the largest gap of each curve to the data.",
              display=_fit_display(fits))
    ctx.table(pnl, "queue_pnl_per_fill",
              "Adverse-selection cost and PnL per fill by queue position",
              f"Cost: mid at the fill minus the mid {settings.adverse_horizon:g} time units "
              "later, ticks (positive: the price fell after our bid was filled); PnL per "
              "fill over that horizon = 1/2 - cost; normal 95% intervals over independent "
              "fills. The share of fills followed by a fall has a Wilson interval.",
              display=_pnl_display(pnl))
    ctx.figure(_fill_figure(table, settings), "queue_fill_probability_curve",
               "Fill probability vs queue position, with the fits",
               "Points: simulated fill probability within H of the observation, with Wilson "
               "95% intervals (unpooled positions); lines: the exponential fit, the first "
               "passage, the first passage with the price moving away at the measured rate, "
               "and the Poisson tail without cancellations.")
    ctx.figure(_pnl_figure(pnl, settings), "queue_pnl_per_fill_curve",
               "Adverse-selection cost per fill by the three position definitions",
               "Mean cost with 95% intervals, ticks; positive: the mid fell after our bid "
               "was filled. Above the dotted line at half a tick (the spread a fill earns) a "
               "fill loses money over the horizon; the last point of each panel pools the "
               "positions with too few fills.")


def _fit_estimate(fits: pd.DataFrame, H: float) -> Estimate:
    row = fits[fits["horizon"] == H].iloc[0]
    if not np.isfinite(row["beta"]):
        return Estimate(math.nan)
    return Estimate(row["beta"], row["beta_qci_low"], row["beta_qci_high"])


# --- display -------------------------------------------------------------------------------
def _num(x: float, digits: int = 3) -> str:
    return "" if not np.isfinite(x) else f"{x:.{digits}f}"


def _fill_display(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "H": t["horizon"].map("{:g}".format), "position": t["label"], "trials": t["trials"],
        "fill probability [95% CI]": [format_ci(r.p, r.ci_low, r.ci_high, 3)
                                      for r in t.itertuples()],
        "exp fit": t["exp_fit"].map(_num), "first passage": t["first_passage"].map(_num),
        "with moves": t["first_passage_moves"].map(_num), "Poisson": t["poisson"].map(_num)})


def _fit_display(f: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "H": f["horizon"].map("{:g}".format), "positions": f["positions"],
        "beta [95% CI]": [format_ci(r.beta, r.beta_ci_low, r.beta_ci_high, 3)
                          for r in f.itertuples()],
        "beta quasi-lik. CI": [f"[{_num(r.beta_qci_low)}, {_num(r.beta_qci_high)}]"
                               for r in f.itertuples()],
        "p0": f["p0"].map(_num),
        "chi2 / dof": [f"{r.chi2:.1f} / {r.dof:.0f}" for r in f.itertuples()],
        "GOF p": f["p_value"].map("{:.2g}".format),
        "decay-rate ratio [95% CI]": [format_ci(r.decay_ratio, r.decay_ratio_ci_low,
                                                r.decay_ratio_ci_high) for r in f.itertuples()],
        "max gap exp / FP / FP+moves / Poisson": [
            " / ".join(_num(getattr(r, f"max_gap_{name}")) for name in
                       ("exp_fit", "first_passage", "first_passage_moves", "poisson"))
            for r in f.itertuples()]})


def _pnl_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "position": [GROUPINGS[g] for g in p["grouping"]], "value": p["label"],
        "fills": p["fills"],
        "cost per fill, ticks [95% CI]": [format_ci(r.cost, r.cost_ci_low, r.cost_ci_high, 3)
                                          for r in p.itertuples()],
        "PnL per fill, ticks [95% CI]": [format_ci(r.pnl_per_fill, r.pnl_ci_low,
                                                   r.pnl_ci_high, 3) for r in p.itertuples()],
        "followed by a fall [95% CI]": [format_ci(r.moved_against, r.moved_against_ci_low,
                                                  r.moved_against_ci_high)
                                        for r in p.itertuples()]})


# --- figures -------------------------------------------------------------------------------
_DATA = style.Style("#000000", "none", "o")
_CURVES = (("exp_fit", "exponential fit", "#0072B2", "--"),
           ("first_passage", "first passage", "#D55E00", ":"),
           ("first_passage_moves", "first passage, price moves away", "#009E73", "-."),
           ("poisson", "Poisson tail, no cancellations", "#CC79A7", (0, (5, 2, 1, 2))))


def _fill_figure(table: pd.DataFrame, settings: Settings):
    """Top row linear, bottom row log (an exponential is a straight line there; positions
    with no fill have no log point)."""
    horizons = settings.horizons
    fig, axes = plt.subplots(2, len(horizons), figsize=(3.8 * len(horizons) + 2.5, 7.0),
                             sharex=True, sharey="row", squeeze=False)
    for col, H in enumerate(horizons):
        g = _exact(table, H)
        for row, ax in enumerate(axes[:, col]):
            shown = g[g["p"] > 0] if row else g
            style.plot_ci(ax, shown["position"], shown["p"], shown["ci_low"],
                          shown["ci_high"], style=_DATA, label="simulated (Wilson 95% CI)")
            for column, label, color, dashes in _CURVES:
                curve = g[g[column] > 0] if row else g
                ax.plot(curve["position"], curve[column], color=color, linestyle=dashes,
                        label=label)
            if row:
                style.set_scale(ax, "y", "log")
            else:
                ax.set_ylim(0, 1.02)
                ax.set_title(f"H = {H:g} time units", fontsize=10)
        style.label_axes(axes[1, col], x=("orders ahead at the observation", "orders"))
    style.label_axes(axes[0, 0], y=("P(filled within H)", ""))
    style.label_axes(axes[1, 0], y=("P(filled within H), log scale", ""))
    style.legend_outside(axes[0, -1], fontsize=8)
    fig.tight_layout()
    return fig


def _pnl_figure(pnl: pd.DataFrame, settings: Settings):
    fig, axes = plt.subplots(1, len(GROUPINGS), figsize=(13, 3.8), sharey=True)
    for ax, (key, label) in zip(axes, GROUPINGS.items(), strict=True):
        g = pnl[pnl["grouping"] == key].sort_values("value") if len(pnl) else pnl
        if len(g):
            style.plot_ci(ax, g["value"], g["cost"], g["cost_ci_low"], g["cost_ci_high"],
                          style=style.Style("#0072B2", "-", "o"), label="mean (95% CI)")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="half a tick: a fill's spread")
        style.label_axes(ax, x=(label, "orders"))
    style.label_axes(axes[0], y=(f"cost per fill over "
                                 f"{settings.adverse_horizon:g} time units", "ticks"))
    style.legend_outside(axes[-1], fontsize=8)
    fig.tight_layout()
    return fig
