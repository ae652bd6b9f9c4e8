"""Queue position on the limit order book: how an order's place in the FIFO queue sets its
chance of a fill within a horizon (claim 10: "fill probability decays exponentially with
queue position"), and what its fills cost in adverse selection.

Model and design. The queue-reactive book of :mod:`asmm_env.lob.book` with the config's
``book`` overrides, rolled out by :func:`asmm_env.rollout.rollout` with the run's seed. One
independent trial per episode (times in the book's time unit, multiples of ``dt``): no order
for ``warmup``; then a unit bid joins the back of the best bid queue as a one-shot order
(:func:`asmm_env.lob.book.one_shot`, then ``KEEP``: never re-quoted or replaced); it is
observed once, ``W`` after joining, ``W`` uniform on the decision times in ``[0, max_delay]``
(a design draw from its own seed, ``v.seed_for(1)``, which never touches the book's
streams). A *trial* is an order resting at the best bid at the observation, with ``k``
orders ahead (its *position*); it succeeds for the horizon ``H`` if filled within ``H``
after the observation. ``W`` spreads the positions from the back (``W = 0``: the join) to
the front; ``max_delay`` is short because an order near the front is soon filled. Orders
behind the best at the observation get rows of their own; positions with fewer than
``min_trials`` trials are pooled into a last row ``>= k``, left out of the fits.

Statistics. Wilson intervals per position. ``ln p(k) = a - beta k`` (an exponential) and
``ln p(k) = a - b k - c k^2`` are fitted by binomial maximum likelihood over the unpooled
positions, with Fisher intervals widened by ``sqrt(chi2 / dof)`` when the Pearson statistic
shows more scatter than binomial (quasi-likelihood); the Pearson p-value tests the
exponential. An exponential decays at one rate all along the queue, so claim 10's
"exponentially" is tested, at every horizon, by the *decay-rate ratio*: the quadratic fit's
local decay rate ``-d ln p / dk = b + 2 c k`` at the back position of ``decay_positions``
over that at the front one (1 for an exponential; above 1: the decay accelerates along the
queue; delta-method interval).

First passage. Freeze the order at the best with ``n`` orders ahead: those go by market
orders (one each, rate ``mu = market_rate``) and by their own cancellations (rate ``C`` each),
so ``n`` falls at rate ``mu + C n``, and with nothing ahead the next market order fills the
order: ``P(fill within H)`` is the first passage of this pure-death chain. Variants: without
cancellations, the Poisson tail ``P(N >= k + 1)``, ``N ~ Poisson(mu H)``; with the price
moving away, the chain killed at the rate ``nu`` of upward mid moves while the bid rests at
the best, measured in the same episodes. Left out: the market-order boost at small queues,
a price that moves back, and the dependence of ``nu`` on the queues.

Adverse selection. A fill's *cost* is the ledger's adverse-selection measure with the sign
turned: the mid at the fill minus the mid at the end of the ``adverse_horizon / dt``-th step
counted from the fill's step (about ``adverse_horizon`` later), in ticks (positive: the price
fell after we bought). Every fill is half a tick below the mid at the fill, so its PnL over
that horizon is ``1/2 - cost`` ticks. By position: orders ahead and orders behind at the
observation (fills within ``max(horizons)`` of it), orders ahead at the join (fills within
``max_delay + max(horizons)`` of it); normal intervals over independent fills.
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
from asmm_env.rollout import Snapshots, rollout
from asmm_env.validation import check_non_negative, check_positive, check_positive_int
from experiments import style
from experiments._lob import book_params
from experiments.findings import Above, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, mean_ci, proportion_ci

TITLE = "Queue position: fill probability and adverse selection by place in the queue"


@dataclass(frozen=True)
class Settings:
    """``experiments.queue`` in the config (times in the book's time unit, whole multiples of
    ``book.dt``).

    episodes : independent episodes (>= 1), one trial each.
    warmup, max_delay : time before the order joins, and the longest observation delay (>= 0).
    horizons : fill horizons H (distinct, > 0).
    main_horizon : the horizon of the decay-rate finding (one of ``horizons``).
    adverse_horizon : time from a fill to the mid that measures its cost (> 0).
    min_trials : positions with fewer trials (or fills) are pooled into a last row (>= 1).
    decay_positions : ``(front, back)`` positions of the decay-rate ratio, ``0 <= front < back``.
    exponential_tolerance : a ratio within ``1 +/- tolerance`` counts as exponential (> 0).
    robustness_paths : fraction of the episodes of the robustness checks, in (0, 1].
    book : ``BookParams`` overrides (not ``T`` or ``adverse_selection_steps``: set here).
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
        for name in ("exponential_tolerance", "adverse_horizon", "main_horizon"):
            check_positive(name, getattr(self, name))
        for name in ("warmup", "max_delay"):
            check_non_negative(name, getattr(self, name))
        h = self.horizons
        if not isinstance(h, tuple) or not h or len(set(h)) != len(h):
            raise ValueError(f"horizons must be a non-empty list of distinct times, got {h!r}")
        for i, value in enumerate(h):
            check_positive(f"horizons[{i}]", value)
        if self.main_horizon not in h:
            raise ValueError(f"main_horizon must be one of horizons {list(h)}, "
                             f"got {self.main_horizon!r}")
        a = self.decay_positions
        if (not isinstance(a, tuple) or len(a) != 2 or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in a)
                or not 0 <= a[0] < a[1]):
            raise ValueError(f"decay_positions must be two integers 0 <= front < back, got "
                             f"{a!r}")
        if isinstance(self.robustness_paths, bool) or not 0 < self.robustness_paths <= 1:
            raise ValueError(f"robustness_paths must be a fraction in (0, 1], got "
                             f"{self.robustness_paths!r}")
        dt = self.book.get("dt", BookParams.dt) if isinstance(self.book, dict) else 1.0
        for name in ("warmup", "max_delay", "adverse_horizon", "horizons"):
            for value in np.atleast_1d(getattr(self, name)):
                if abs(value / dt - round(value / dt)) > 1e-9 * max(1.0, value / dt):
                    raise ValueError(f"{name} must be whole multiples of book.dt = {dt:g}, "
                                     f"got {value!r}")
        self.params()                     # validates the book overrides

    def params(self) -> BookParams:
        """The book of every episode: warm-up, delay, longest horizon, adverse horizon."""
        dt = self.book.get("dt", BookParams.dt) if isinstance(self.book, dict) else 1.0
        T = self.warmup + self.max_delay + max(self.horizons) + self.adverse_horizon
        return book_params(self.book, fixed=("T", "adverse_selection_steps"), T=T,
                           adverse_selection_steps=max(1, round(self.adverse_horizon / dt)))


# --- the approximations and fits -----------------------------------------------------------
def first_passage_fill_probability(positions: Any, horizon: float, *, mu: float,
                                   cancel_rate: float, kill_rate: float = 0.0) -> np.ndarray:
    """``P(filled within horizon)`` from ``k`` orders ahead at the best, for each ``k`` in
    ``positions`` (integers >= 0): the pure-death first passage of the module docstring, the
    (filled) entry of ``expm(G horizon)``.

    ``horizon`` in time units (>= 0); ``mu`` market orders per time unit (> 0);
    ``cancel_rate`` per order per time unit (>= 0); ``kill_rate`` (>= 0) per time unit, the
    rate at which the order stops being fillable (the price moving away)."""
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
    """``P(N >= k + 1)``, ``N ~ Poisson(mu horizon)``: the fill probability when only market
    orders (rate ``mu``) remove the ``k`` orders ahead."""
    return stats.poisson.sf(np.asarray(positions, dtype=float), mu * horizon)


def fit_log_polynomial(positions: Any, trials: Any, successes: Any, degree: int = 1
                       ) -> dict[str, Any] | None:
    """Binomial maximum-likelihood fit of ``ln p(k) = a - b k`` (degree 1) or ``a - b k - c
    k^2`` (degree 2). Returns ``coef`` (a, b[, c]), ``cov`` (Fisher, times ``max(1, chi2 /
    dof)``: quasi-likelihood), the Pearson ``chi2`` on ``dof = positions - degree - 1`` and
    its ``p_value``; None with fewer than ``degree + 2`` positions."""
    k, n, y = (np.asarray(x, dtype=float) for x in (positions, trials, successes))
    if k.size < degree + 2 or (n <= 0).any():
        return None
    X = np.stack([np.ones_like(k), -k, -k * k][: degree + 1])   # d ln p / d coef
    clip = functools.partial(np.clip, a_min=1e-12, a_max=1 - 1e-12)

    def nll(theta):
        p = clip(np.exp(theta @ X))
        return -float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))

    start = np.polyfit(k, np.log(np.clip(y / n, 1e-3, 1 - 1e-3)), degree, w=np.sqrt(n))
    start = -start[::-1]
    start[0] = min(-start[0], -1e-6)
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    p = clip(np.exp(res.x @ X))
    chi2 = float(np.sum((y - n * p) ** 2 / (n * p * (1 - p))))
    dof = k.size - degree - 1
    cov = np.linalg.inv((X * (n * p / (1 - p))) @ X.T) * max(1.0, chi2 / dof)
    return {"coef": res.x, "cov": cov, "chi2": chi2, "dof": dof,
            "p_value": float(stats.chi2.sf(chi2, dof))}


def decay_rate_ratio(fit: dict[str, Any] | None, front: int, back: int) -> Estimate:
    """``(b + 2 c back) / (b + 2 c front)`` of a degree-2 :func:`fit_log_polynomial` with its
    delta-method interval; NaN without a fit or with a non-positive rate at ``front``."""
    if fit is None:
        return Estimate(math.nan)
    _, b, c = fit["coef"]
    low = b + 2 * c * front
    if low <= 0:
        return Estimate(math.nan)
    ratio = (b + 2 * c * back) / low
    grad = np.array([0.0, (1 - ratio) / low, 2 * (back - ratio * front) / low])
    se = math.sqrt(float(grad @ fit["cov"] @ grad))
    return Estimate(ratio, ratio - Z95 * se, ratio + Z95 * se)


# --- simulation ----------------------------------------------------------------------------
class OneShotBid:
    """The design's order as a rollout policy: no order before ``join_step``, then a one-shot
    bid at the back of the best bid queue, kept; never an ask. The step is read from the
    observation's time remaining."""

    def __init__(self, join_step: int, params: BookParams) -> None:
        self.join_step, self.T, self.dt = join_step, params.T, params.dt

    def offsets(self, observation: np.ndarray) -> np.ndarray:
        step = round((self.T - float(observation[0, 2])) / self.dt)
        out = np.full((observation.shape[0], 2), NO_ORDER, dtype=np.int64)
        out[:, 0] = (NO_ORDER if step < self.join_step else
                     int(one_shot(0)) if step == self.join_step else KEEP)
        return out


#: What the episodes record at every decision time from the join on (one value per path).
FIELDS = {"level": lambda c: c.order_levels()[:, 0, 0].astype(np.int8),
          "ahead": lambda c: np.nan_to_num(c.queue_positions()[:, 0, 0], nan=-1).astype(
              np.int16),
          "queue": lambda c: c.best_queues()[0].astype(np.int16),
          "mid": lambda c: c.mid_ticks.astype(np.int32),
          "filled": lambda c: c.last_volume[:, 0, 0] > 0}


@dataclass(frozen=True)
class Episodes:
    """One row per episode (``delay``, ``join_ahead``, and at the observation ``level``,
    ``ahead``, ``behind``; ``fill_step`` from the join, -1 without a fill; ``cost`` in
    ticks), the book, and ``nu``: upward mid moves per time unit while the bid rests at the
    best."""

    frame: pd.DataFrame
    params: BookParams
    nu: float

    def steps(self, time: float) -> int:
        return round(time / self.params.dt)


def simulate(settings: Settings, v: Variation, n_episodes: int) -> Episodes:
    """The design at the variation ``v`` (its seed, time step and path fraction)."""
    params = v.market(settings.params())
    n = v.paths(n_episodes)
    join = round(settings.warmup / params.dt)
    out = rollout(OneShotBid(join, params), params, n_paths=n, seed=v.seed,
                  observers=[functools.partial(Snapshots, FIELDS, first=join)])
    rec = {key: value.T for key, value in out.joined(0).items()}   # (time from join, path)
    # The design draw: its own seed, so the book's random numbers do not depend on it.
    delay = np.random.default_rng(v.seed_for(1)).integers(
        0, round(settings.max_delay / params.dt) + 1, n)
    cols = np.arange(n)
    filled = rec["filled"][1:]                   # row j: a fill in the j-th step from the join
    join_ahead = rec["queue"][0].astype(float)   # the queue it joins, just before
    level = np.where(delay == 0, 0, rec["level"][delay, cols])
    ahead = np.where(delay == 0, join_ahead, rec["ahead"][delay, cols]).astype(float)
    behind = np.where(delay == 0, 0.0, rec["queue"][delay, cols] - ahead - 1.0)
    # nu: the bid joins the best at the start of its first step.
    at_best = rec["level"][:-1] == 0
    at_best[0] = True
    up = np.maximum(np.diff(rec["mid"], axis=0), 0)
    frame = pd.DataFrame({
        "delay": delay, "join_ahead": join_ahead, "level": level,
        "ahead": np.where(level == 0, ahead, np.nan),
        "behind": np.where(level == 0, behind, np.nan),
        "fill_step": np.where(filled.any(axis=0), filled.argmax(axis=0), -1),
        "fills": out.paths["fills"].to_numpy(),
        "cost": -out.paths["adverse_selection"].to_numpy() / (params.tick_size
                                                              * params.order_size)})
    return Episodes(frame, params, float(up[at_best].sum() / (at_best.sum() * params.dt)))


# --- tables --------------------------------------------------------------------------------
def _pool(values: np.ndarray, min_count: int) -> tuple[np.ndarray, int]:
    """Integer groups counted up from the smallest value; from the first with fewer than
    ``min_count`` members on, values are set to that one (the cutoff, returned)."""
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
    """Per horizon and position at the best (the last row pooled) and per level behind it:
    trials, fills, the fill probability with its Wilson interval; on unpooled positions the
    exponential fit and the approximations."""
    p, fr = ep.params, ep.frame
    at_best = (fr["level"] == 0).to_numpy()
    groups, cutoff = _pool(fr["ahead"].to_numpy()[at_best], settings.min_trials)
    rows = []
    for H in settings.horizons:
        success = _successes(ep, H)
        for k in np.unique(groups):
            rows.append((H, 0, int(k), k == cutoff, int((groups == k).sum()),
                         int(success[at_best][groups == k].sum())))
        for level in range(1, p.n_levels):
            members = (fr["level"] == level).to_numpy()
            rows.append((H, level, -1, False, int(members.sum()),
                         int(success[members].sum())))
    t = pd.DataFrame(rows, columns=["horizon", "level", "position", "pooled", "trials",
                                    "fills"])
    t = t[t["trials"] > 0].reset_index(drop=True)
    ci = pd.DataFrame([proportion_ci(f, n) for f, n in zip(t["fills"], t["trials"],
                                                           strict=True)],
                      columns=["p", "ci_low", "ci_high"])
    t[["p", "ci_low", "ci_high"]] = ci[["p", "ci_low", "ci_high"]].to_numpy()
    t["label"] = np.where(t["level"] > 0, "level " + t["level"].astype(str),
                          np.where(t["pooled"], ">= ", "") + t["position"].astype(str))
    for H in settings.horizons:
        exact = (t["horizon"] == H) & (t["level"] == 0) & ~t["pooled"]
        k = t.loc[exact, "position"].to_numpy()
        fit = fit_log_polynomial(k, t.loc[exact, "trials"], t.loc[exact, "fills"])
        if fit is not None:
            t.loc[exact, "exp_fit"] = np.exp(fit["coef"][0] - fit["coef"][1] * k)
        if k.size and p.market_rate > 0:
            rates = {"mu": p.market_rate, "cancel_rate": p.cancel_rate}
            t.loc[exact, "first_passage"] = first_passage_fill_probability(k, H, **rates)
            t.loc[exact, "first_passage_moves"] = first_passage_fill_probability(
                k, H, **rates, kill_rate=ep.nu)
            t.loc[exact, "poisson"] = poisson_fill_probability(k, H, mu=p.market_rate)
    return t.reindex(columns=[*t.columns, *(c for c in _CURVE_COLUMNS if c not in t)])


_CURVE_COLUMNS = ("exp_fit", "first_passage", "first_passage_moves", "poisson")


def _exact(table: pd.DataFrame, H: float) -> pd.DataFrame:
    return table[(table["horizon"] == H) & (table["level"] == 0) & ~table["pooled"]
                 ].sort_values("position")


def fit_table(table: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per horizon: the exponential fit (beta with its quasi-likelihood interval, p0, the
    Pearson test), the decay-rate ratio and each curve's largest gap to the data."""
    rows = []
    for H in settings.horizons:
        g = _exact(table, H)
        row = {"horizon": H, "positions": len(g)}
        fit = fit_log_polynomial(g["position"], g["trials"], g["fills"])
        if fit is not None:
            (a, beta), se = fit["coef"], math.sqrt(fit["cov"][1, 1])
            row.update(p0=math.exp(a), beta=beta, beta_ci_low=beta - Z95 * se,
                       beta_ci_high=beta + Z95 * se, chi2=fit["chi2"], dof=fit["dof"],
                       p_value=fit["p_value"])
        ratio = decay_rate_ratio(fit_log_polynomial(g["position"], g["trials"], g["fills"], 2),
                                 *settings.decay_positions)
        row.update(decay_ratio=ratio.value, decay_ratio_ci_low=ratio.ci_low,
                   decay_ratio_ci_high=ratio.ci_high)
        for name in _CURVE_COLUMNS:
            row[f"max_gap_{name}"] = float((g[name] - g["p"]).abs().max()) if len(g) \
                else math.nan
        rows.append(row)
    columns = ["horizon", "positions", "p0", "beta", "beta_ci_low", "beta_ci_high", "chi2",
               "dof", "p_value", "decay_ratio", "decay_ratio_ci_low", "decay_ratio_ci_high",
               *(f"max_gap_{name}" for name in _CURVE_COLUMNS)]
    return pd.DataFrame(rows).reindex(columns=columns)


GROUPINGS = {"ahead_at_observation": "orders ahead at the observation",
             "behind_at_observation": "orders behind at the observation",
             "ahead_at_join": "orders ahead when it joined"}


def _observed_fills(ep: Episodes, settings: Settings) -> np.ndarray:
    return (ep.frame["level"] == 0).to_numpy() & _successes(ep, max(settings.horizons))


def pnl_table(ep: Episodes, settings: Settings) -> pd.DataFrame:
    """Cost and PnL per fill (ticks) by the three position definitions."""
    fr = ep.frame
    joined = ((fr["fill_step"] >= 0) & (fr["fill_step"] < ep.steps(
        settings.max_delay + max(settings.horizons)))).to_numpy()
    observed = _observed_fills(ep, settings)
    values = {"ahead_at_observation": (observed, fr["ahead"]),
              "behind_at_observation": (observed, fr["behind"]),
              "ahead_at_join": (joined, fr["join_ahead"])}
    rows = []
    for key, (mask, value) in values.items():
        groups, cutoff = _pool(value.to_numpy()[mask], settings.min_trials)
        cost = fr["cost"].to_numpy()[mask]
        for g in np.unique(groups):
            c = cost[groups == g]
            if c.size < 2:
                continue
            m, fell = mean_ci(c), proportion_ci(int((c > 0).sum()), c.size)
            rows.append({"grouping": key, "value": int(g),
                         "label": f">= {g}" if g == cutoff else str(g), "fills": c.size,
                         "cost": m["mean"], "cost_ci_low": m["ci_low"],
                         "cost_ci_high": m["ci_high"], "pnl": 0.5 - m["mean"],
                         "pnl_ci_low": 0.5 - m["ci_high"], "pnl_ci_high": 0.5 - m["ci_low"],
                         "fell": fell["p"], "fell_ci_low": fell["ci_low"],
                         "fell_ci_high": fell["ci_high"]})
    return pd.DataFrame(rows)


def behind_contrast(ep: Episodes, settings: Settings) -> Estimate:
    """Cost per fill (ticks) of fills with no order behind them at the observation minus that
    of fills with at least one behind (independent fills, normal interval)."""
    mask = _observed_fills(ep, settings)
    behind, cost = ep.frame["behind"].to_numpy()[mask], ep.frame["cost"].to_numpy()[mask]
    a, b = cost[behind == 0], cost[behind > 0]
    if a.size < 2 or b.size < 2:
        return Estimate(math.nan)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return Estimate(diff, diff - Z95 * se, diff + Z95 * se)


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    n = ctx.paths(settings.episodes)
    H, (front, back) = settings.main_horizon, settings.decay_positions

    @functools.cache
    def episodes(v: Variation) -> Episodes:
        return simulate(settings, v, n)

    @functools.cache
    def tables(v: Variation) -> tuple[pd.DataFrame, pd.DataFrame]:
        table = fill_table(episodes(v), settings)
        return table, fit_table(table, settings)

    def beta(v: Variation) -> Estimate:
        row = tables(v)[1].set_index("horizon").loc[H]
        return Estimate(row["beta"], row["beta_ci_low"], row["beta_ci_high"]) \
            if np.isfinite(row["beta"]) else Estimate(math.nan)

    def ratio(v: Variation, horizon: float) -> Estimate:
        row = tables(v)[1].set_index("horizon").loc[horizon]
        return Estimate(row["decay_ratio"], row["decay_ratio_ci_low"],
                        row["decay_ratio_ci_high"])

    common = {"robustness_paths": settings.robustness_paths}
    ctx.finding(
        "fill_probability_decays", claim=10, unit="per order ahead",
        statement=f"The probability of a fill within {H:g} time units falls with the orders "
                  "ahead at the best: the exponential fitted to it decays at {value:.3f} per "
                  "order ahead.",
        statistic=f"decay rate beta of p0 exp(-beta k), H = {H:g} (quasi-likelihood CI)",
        rule=Above(0.0), section="queue_fill_probability_curve", estimate=beta, **common)
    for horizon in settings.horizons:
        ctx.finding(
            f"decay_rate_constant_h{horizon:g}".replace(".", "_"), claim=10,
            statement=f"An exponential decays at one rate all along the queue; within "
                      f"{horizon:g} time units the fill probability's decay rate at position "
                      f"{back} is {{value:.2f}} times its rate at position {front}.",
            statistic=f"decay-rate ratio, local rate at {back} over at {front}, H = "
                      f"{horizon:g} (log-quadratic fit)",
            rule=Near(1.0, settings.exponential_tolerance), section="queue_decay_fit",
            estimate=functools.partial(ratio, horizon=horizon), **common)
    ctx.finding(
        "no_order_behind_costs_more", unit="ticks per fill",
        statement="Fills of orders with no order behind them at the observation cost "
                  "{value:.3f} ticks more in adverse selection than fills with a queue "
                  "behind them.",
        statistic="adverse-selection cost per fill, nothing behind minus something behind",
        rule=Above(0.0), section="queue_pnl_per_fill",
        estimate=lambda v: behind_contrast(episodes(v), settings), **common)

    ep = episodes(ctx.variation())
    table, fits = tables(ctx.variation())
    pnl = pnl_table(ep, settings)
    p, fr = ep.params, ep.frame
    before = (fr["fill_step"] >= 0) & (fr["fill_step"] < fr["delay"])
    ctx.table(pd.DataFrame([{
        "episodes": len(fr), "dt": p.dt, "steps": p.n_steps, "tick": p.tick_size,
        "n_levels": p.n_levels, "L": p.limit_rate, "C": p.cancel_rate, "M": p.market_rate,
        "market_boost": p.market_boost, "small_queue": p.small_queue, "refill": p.refill,
        "nu_measured": ep.nu, "filled_before_observation": int(before.sum()),
        "out_of_window_before": int(((fr["level"] < 0) & ~before).sum()),
        **{f"at_level_{j}": int((fr["level"] == j).sum()) for j in range(p.n_levels)}}]),
        "queue_setup", "Book, design and the orders' status at the observation",
        "Rates per time unit: limit orders L per level, cancellations C per resting order, "
        "market orders M per side (times 1 + market_boost on a best queue of at most "
        "small_queue orders), new queues of 1 + Poisson(refill) orders; nu is the measured "
        "rate of upward mid moves (ticks per time unit) while the bid rests at the best.",
        float_format="{:.6g}")
    ctx.table(table, "queue_fill_probability", "Fill probability within H by queue position",
              "Trials: orders resting at the best at the observation (one per episode), by "
              "orders ahead; 'level j': orders j ticks behind the best; '>= k' pools the "
              "positions with too few trials. Wilson 95% intervals; fits and approximations "
              "on unpooled positions.", display=_fill_display(table))
    ctx.table(fits, "queue_decay_fit", "Exponential decay p0 exp(-beta k) fitted per horizon",
              "Binomial maximum likelihood over the unpooled positions: beta with its "
              "quasi-likelihood 95% interval, the Pearson test of the exponential (a small "
              "p-value rejects it), the decay-rate ratio (1 for an exponential) and each "
              "curve's largest gap to the data.", display=_fit_display(fits))
    ctx.table(pnl, "queue_pnl_per_fill",
              "Adverse-selection cost and PnL per fill by queue position",
              "Cost: mid at the fill minus the mid adverse_horizon later, ticks (positive: the "
              "price fell after our bid was filled); PnL per fill = 1/2 - cost; normal 95% "
              "intervals over independent fills; 'fell': the share of fills followed by a "
              "fall (Wilson interval).", display=_pnl_display(pnl))
    ctx.figure(_fill_figure(table, settings), "queue_fill_probability_curve",
               "Fill probability vs queue position, with the fits",
               "Points: simulated fill probability within H of the observation, with Wilson "
               "95% intervals (unpooled positions); lines: the exponential fit, the first "
               "passage, the first passage with the price moving away at the measured rate, "
               "the Poisson tail without cancellations. Bottom: the same on a log scale, where "
               "an exponential is a straight line.")
    ctx.figure(_pnl_figure(pnl, settings), "queue_pnl_per_fill_curve",
               "Adverse-selection cost per fill by the three position definitions",
               "Mean cost with 95% intervals, ticks; positive: the mid fell after our bid was "
               "filled. Above the dotted line at half a tick (the spread a fill earns) a fill "
               "loses money over the horizon; each panel's last point pools the positions "
               "with too few fills.")


# --- display -------------------------------------------------------------------------------
def _num(x: float, digits: int = 3) -> str:
    return "" if not np.isfinite(x) else f"{x:.{digits}f}"


def _ci(frame: pd.DataFrame, name: str, digits: int = 3) -> list[str]:
    return [format_ci(v, lo, hi, digits) for v, lo, hi in zip(
        frame[name], frame[f"{name}_ci_low"], frame[f"{name}_ci_high"], strict=True)]


def _fill_display(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "H": t["horizon"].map("{:g}".format), "position": t["label"], "trials": t["trials"],
        "fill probability [95% CI]": [format_ci(r.p, r.ci_low, r.ci_high, 3)
                                      for r in t.itertuples()],
        **{label: t[c].map(_num) for c, label in zip(_CURVE_COLUMNS, (
            "exp fit", "first passage", "with moves", "Poisson"), strict=True)}})


def _fit_display(f: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "H": f["horizon"].map("{:g}".format), "positions": f["positions"],
        "beta [95% CI]": _ci(f, "beta"), "p0": f["p0"].map(_num),
        "chi2 / dof": [f"{r.chi2:.1f} / {r.dof:.0f}" for r in f.itertuples()],
        "GOF p": f["p_value"].map("{:.2g}".format),
        "decay-rate ratio [95% CI]": _ci(f, "decay_ratio", 2),
        "max gap exp / FP / FP+moves / Poisson": [
            " / ".join(_num(getattr(r, f"max_gap_{c}")) for c in _CURVE_COLUMNS)
            for r in f.itertuples()]})


def _pnl_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "position": [GROUPINGS[g] for g in p["grouping"]], "value": p["label"],
        "fills": p["fills"], "cost per fill, ticks [95% CI]": _ci(p, "cost"),
        "PnL per fill, ticks [95% CI]": _ci(p, "pnl"),
        "fell [95% CI]": _ci(p, "fell", 2)})


# --- figures -------------------------------------------------------------------------------
_DATA = style.Style("#000000", "none", "o")
_CURVES = (("exp_fit", "exponential fit", "#0072B2", "--"),
           ("first_passage", "first passage", "#D55E00", ":"),
           ("first_passage_moves", "first passage, price moves away", "#009E73", "-."),
           ("poisson", "Poisson tail, no cancellations", "#CC79A7", (0, (5, 2, 1, 2))))


def _fill_figure(table: pd.DataFrame, settings: Settings):
    horizons = settings.horizons
    fig, axes = plt.subplots(2, len(horizons), figsize=(3.8 * len(horizons) + 2.5, 7.0),
                             sharex=True, sharey="row", squeeze=False)
    for col, H in enumerate(horizons):
        g = _exact(table, H)
        for row, ax in enumerate(axes[:, col]):
            shown = g[g["p"] > 0] if row else g       # no log point without a fill
            style.plot_ci(ax, shown["position"], shown["p"], shown["ci_low"],
                          shown["ci_high"], style=_DATA, label="simulated (Wilson 95% CI)")
            for column, label, color, dashes in _CURVES:
                curve = g[g[column] > 0] if row else g
                ax.plot(curve["position"], curve[column], color=color, linestyle=dashes,
                        label=label)
        if len(g):
            style.set_scale(axes[1, col], "y", "log")
        axes[0, col].set_ylim(0, 1.02)
        axes[0, col].set_title(f"H = {H:g} time units", fontsize=10)
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
    style.label_axes(axes[0], y=(f"cost per fill over {settings.adverse_horizon:g} time "
                                 "units", "ticks"))
    style.legend_outside(axes[-1], fontsize=8)
    fig.tight_layout()
    return fig
