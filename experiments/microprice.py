"""Micro-price vs mid on the limit order book: the Avellaneda–Stoikov policy centred on the
mid, the size-weighted mid or Stoikov's (2018) micro-price, compared on adverse selection,
fills and PnL on common random numbers (claim 11: "the micro-price reduces adverse selection
against the mid"; claim 7's second half: "the micro-price helps but does not eliminate it").

Fair prices, with ``I = Qb / (Qb + Qa)`` from the best queues: the mid ``M``; the weighted mid
``M + (I - 1/2) tick``; the micro-price ``M + G*(I) tick``, estimated by Stoikov's method on a
*training set*: books without any agent's order from a seed of their own
(``ctx.seed_for(1)``, an independent sample, so the estimate is not fitted to the paths it is
evaluated on), observed every decision step after ``warmup``. The state is the imbalance
bucket (``imbalance_buckets``, odd, computed in integers so that ``Qb <-> Qa`` maps ``b`` to
``n - 1 - b``; the spread is always one tick); transitions ``(X, X', dM)`` are symmetrised
with their mirror images; ``Q[x, y] = P(dM = 0, X' = y | x)``, ``T[x, y] = P(dM != 0, X' = y |
x)``, ``R[x, j] = P(dM = K_j | x)``; ``g1 = (1 - Q)^-1 R K``, ``B = (1 - Q)^-1 T`` and ``G* =
sum_i B^i g1`` (eq. 3.6, Theorem 3.1). Batch means over ``batches`` groups of training paths
give its standard error. It is estimated once, at the configured ``dt`` and seed: the
robustness checks re-run the comparison with the same function (4x as many decisions at
dt/4, other episodes at other seeds).

Policy. The AS quotes ``r -/+ delta``, ``r = P - q gamma sigma^2 (T - t)``, ``delta = gamma
sigma^2 (T - t) / 2 + ln(1 + gamma / k) / gamma``, around the fair price ``P``, at levels never
better than the AS quote: the bid at the best if ``r - delta >= best bid``, else
``ceil((best bid - (r - delta)) / tick)`` ticks back (at most ``n_levels - 1``); the ask
mirrors it. ``sigma^2`` is the training set's mean squared mid change per time unit; ``k =
ln(lambda_0 / lambda_1) / tick`` from the fill rates of a bid kept at the best and an ask kept
one level behind (the book is symmetric), on the training seed.

Comparison. The three policies run ``paths`` episodes each on the run's seed (the seed
contract): the books start identical and each decision step draws the same exogenous
uniforms, but the agent's orders are part of the queues, so books diverge once quotes differ
and the pairing is partial (per-episode differences are still i.i.d.). In ticks per episode:
the ledger's adverse selection ``sum over fills of side * (mid h steps later - mid at the
fill)``; the *adverse-selection cost per fill* is ``-sum(adverse selection) / sum(fills)``
(ratio estimator; paired differences and ratios by linearising each ratio per episode).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.analytic.avellaneda_stoikov import optimal_depths
from asmm_env.lob import BookParams
from asmm_env.lob.env import observation_names
from asmm_env.rollout import Snapshots, rollout
from asmm_env.validation import check_non_negative, check_positive, check_positive_int
from experiments import style
from experiments._lob import book_params
from experiments.findings import Above, Below, Between, Estimate
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, mean_ci, pnl_summary, ratio_ci

TITLE = "Micro-price vs mid: where the AS policy centres its quotes on the order book"

FAIR_PRICES = ("mid", "weighted_mid", "micro_price")
LABELS = {"mid": "AS on the mid", "weighted_mid": "AS on the weighted mid",
          "micro_price": "AS on the micro-price"}
STYLE_KEYS = {"mid": "as", "weighted_mid": "weighted_mid", "micro_price": "microprice"}


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.microprice`` in the config (times in the book's time unit).

    paths : episodes per policy (>= 1), the same paths for every policy.
    train_paths, train_time : the training set (micro-price and sigma): paths (>= 1) and the
        time recorded per path after the warm-up (a multiple of ``book.dt``, > 0).
    calibration_paths : paths of the fill-rate calibration of ``k`` (>= 1).
    warmup : time dropped at the start of every training path (multiple of ``book.dt``).
    imbalance_buckets : n, odd (>= 3): mirror-symmetric buckets, the balanced book in the
        middle one.
    batches : groups of training paths for the batch-means standard error of ``G*`` (>= 2).
    gamma : AS risk aversion, 1 / money (> 0).
    include_time_term : keep ``gamma sigma^2 (T - t)`` in the AS spread.
    robustness_paths : fraction of ``paths`` the robustness checks run on, in (0, 1].
    book : ``BookParams`` fields overriding the defaults (the episodes' book).
    """

    paths: int = 10_000
    train_paths: int = 2_000
    train_time: float = 60.0
    calibration_paths: int = 2_000
    warmup: float = 20.0
    imbalance_buckets: int = 11
    batches: int = 10
    gamma: float = 2.5
    include_time_term: bool = True
    robustness_paths: float = 0.25
    book: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("paths", "train_paths", "calibration_paths", "imbalance_buckets"):
            check_positive_int(name, getattr(self, name))
        for name in ("train_time", "gamma"):
            check_positive(name, getattr(self, name))
        check_non_negative("warmup", self.warmup)
        if self.imbalance_buckets < 3 or self.imbalance_buckets % 2 == 0:
            raise ValueError(f"imbalance_buckets must be an odd integer >= 3, got "
                             f"{self.imbalance_buckets!r}")
        if isinstance(self.batches, bool) or not isinstance(self.batches, int) \
                or self.batches < 2:
            raise ValueError(f"batches must be an integer >= 2, got {self.batches!r}")
        if not isinstance(self.include_time_term, bool):
            raise ValueError(f"include_time_term must be true or false, "
                             f"got {self.include_time_term!r}")
        if isinstance(self.robustness_paths, bool) or not 0 < self.robustness_paths <= 1:
            raise ValueError(f"robustness_paths must be a fraction in (0, 1], got "
                             f"{self.robustness_paths!r}")
        dt = self.params().dt
        for name in ("train_time", "warmup"):
            steps = getattr(self, name) / dt
            if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
                raise ValueError(f"{name} must be a whole multiple of book.dt = {dt:g}, "
                                 f"got {getattr(self, name)!r}")

    def params(self) -> BookParams:
        """The episodes' book."""
        return book_params(self.book)


# --- the micro-price estimator (Stoikov 2018) ----------------------------------------------
def imbalance_bucket(qb: Any, qa: Any, n_buckets: int) -> np.ndarray:
    """Bucket of the imbalance ``I = Qb / (Qb + Qa)`` among ``n_buckets`` (odd), computed in
    integers so that swapping ``Qb`` and ``Qa`` maps bucket ``b`` to ``n - 1 - b`` exactly.

    ``qb``, ``qa``: best queue sizes (whole numbers >= 0, not both 0). Returns int64."""
    qb = np.asarray(qb).astype(np.int64)
    qa = np.asarray(qa).astype(np.int64)
    total = qb + qa
    if (total <= 0).any():
        raise ValueError("qb + qa must be >= 1")
    low = (n_buckets * qb) // total
    high = n_buckets - 1 - (n_buckets * qa) // total
    return np.where(qb <= qa, low, high)


@dataclass
class MicroPriceModel:
    """The estimated micro-price: ``G`` (ticks, per bucket) and the paper's objects."""

    G: np.ndarray            # (n,) adjustment G*, ticks
    g1: np.ndarray           # (n,) expected mid change at the next mid move, ticks
    B: np.ndarray            # (n, n) state at the next mid move
    Q: np.ndarray            # (n, n) P(no mid change, X' = y | x)
    T: np.ndarray            # (n, n) P(mid change, X' = y | x)
    R: np.ndarray            # (n, m) P(dM = K_j | x)
    K: np.ndarray            # (m,) non-zero mid changes, ticks
    counts: np.ndarray       # (n,) observations per state (symmetrised)
    iterations: int          # terms of sum_i B^i g1 summed


def transition_counts(bucket: np.ndarray, next_bucket: np.ndarray, dmid: np.ndarray,
                      n_buckets: int, symmetrize: bool = True,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of the transitions ``(x, y, dM)``: ``(CQ, CT, CR, K)`` with ``CQ[x, y]`` (no
    mid change), ``CT[x, y]`` (a mid change), ``CR[x, j]`` (``dM = K[j]``) over the
    non-zero changes ``K`` (ticks, sorted). ``symmetrize`` adds every transition mirrored."""
    x = np.asarray(bucket, dtype=np.int64).ravel()
    y = np.asarray(next_bucket, dtype=np.int64).ravel()
    d = np.rint(np.asarray(dmid, dtype=float).ravel() * 2) / 2      # half-tick grid
    if symmetrize:
        x, y, d = (np.concatenate([x, n_buckets - 1 - x]),
                   np.concatenate([y, n_buckets - 1 - y]), np.concatenate([d, -d]))
    n = n_buckets
    moved = d != 0
    CQ = np.bincount(x[~moved] * n + y[~moved], minlength=n * n).reshape(n, n).astype(float)
    CT = np.bincount(x[moved] * n + y[moved], minlength=n * n).reshape(n, n).astype(float)
    K = np.unique(d[moved])
    j = np.searchsorted(K, d[moved])
    CR = np.bincount(x[moved] * K.size + j, minlength=n * K.size).reshape(n, K.size)
    return CQ, CT, CR.astype(float), K


def micro_price_from_counts(CQ: np.ndarray, CT: np.ndarray, CR: np.ndarray, K: np.ndarray,
                            tol: float = 1e-12, max_iter: int = 100_000) -> MicroPriceModel:
    """Stoikov's (2018) micro-price adjustment from transition counts (or probabilities):
    ``G* = sum_i B^i g1`` with ``g1 = (1 - Q)^-1 R K`` and ``B = (1 - Q)^-1 T``.

    Rows without observations get ``Q = T = R = 0``, hence ``G* = 0`` there. The sum stops
    when the largest term is below ``tol`` (ticks); ``RuntimeError`` if it does not within
    ``max_iter`` terms (the stationary mean of ``g1`` must be zero: symmetrise the data)."""
    counts = CQ.sum(axis=1) + CT.sum(axis=1)
    scale = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)[:, None]
    Q, T, R = CQ * scale, CT * scale, CR * scale
    inv = np.linalg.inv(np.eye(Q.shape[0]) - Q)
    g1 = inv @ (R @ K)
    B = inv @ T
    G, term, iterations = g1.copy(), g1.copy(), 1
    while np.abs(term).max() > tol:
        if iterations >= max_iter:
            raise RuntimeError(f"sum of B^i g1 did not converge in {max_iter} terms (largest "
                               f"term {np.abs(term).max():.3g}); is the data symmetrised?")
        term = B @ term
        G += term
        iterations += 1
    return MicroPriceModel(G, g1, B, Q, T, R, K, counts, iterations)


def estimate_micro_price(bucket: np.ndarray, mid: np.ndarray, n_buckets: int,
                         batches: int = 1) -> tuple[MicroPriceModel, np.ndarray]:
    """The micro-price from paths of states: ``bucket`` and ``mid`` (ticks) ``(n_paths,
    n_times)`` observed at a fixed interval; transitions between consecutive times.

    Returns the model on all paths and the batch-means standard error of ``G`` (ticks, per
    bucket; NaN with one batch): the standard deviation of ``G`` over ``batches`` groups of
    paths divided by ``sqrt(batches)``."""
    bucket, mid = np.asarray(bucket), np.asarray(mid, dtype=float)

    def fit(rows):
        b, m = bucket[rows], mid[rows]
        return micro_price_from_counts(*transition_counts(b[:, :-1], b[:, 1:],
                                                          np.diff(m, axis=1), n_buckets))

    model = fit(slice(None))
    if batches < 2:
        return model, np.full(n_buckets, np.nan)
    groups = np.array_split(np.arange(bucket.shape[0]), batches)
    Gs = np.array([fit(g).G for g in groups if g.size])
    return model, Gs.std(axis=0, ddof=1) / math.sqrt(len(Gs))


# --- policies and observers ----------------------------------------------------------------
class FairPricePolicy:
    """AS quotes around a fair price, mapped to tick levels never better than the AS quote
    (module docstring): ``offsets(observation)`` gives the levels the runner passes to the
    book. Observations are those of the order-book env (:func:`observation_names`).

    Parameters
    ----------
    fair : {"mid", "weighted_mid", "micro_price"}
        The fair price the quotes are centred on.
    params : BookParams
        The book (tick, levels, horizon).
    gamma, sigma, k : float
        AS risk aversion (1 / money), volatility (price units / sqrt(time)) and intensity
        decay (1 / price units).
    adjustment : array of float, optional
        ``G*`` per imbalance bucket, ticks (required for ``"micro_price"``).
    include_time_term : bool
        Keep ``gamma sigma^2 (T - t)`` in the AS spread.
    """

    def __init__(self, fair: str, params: BookParams, *, gamma: float, sigma: float, k: float,
                 adjustment: Any = None, include_time_term: bool = True) -> None:
        if fair not in FAIR_PRICES:
            raise ValueError(f"fair must be one of {FAIR_PRICES}, got {fair!r}")
        if fair == "micro_price" and adjustment is None:
            raise ValueError("adjustment (G* per bucket) is required for fair='micro_price'")
        for name, value in (("gamma", gamma), ("sigma", sigma), ("k", k)):
            check_positive(name, value)
        self.fair, self.params = fair, params
        self.gamma, self.sigma, self.k = gamma, sigma, k
        self.include_time_term = include_time_term
        self.adjustment = None if adjustment is None else np.asarray(adjustment, dtype=float)
        names = observation_names(params.n_levels)
        self._col = {name: names.index(name) for name in
                     ("mid", "best_bid", "best_ask", "micro_price", "bid_queue_0",
                      "ask_queue_0")}

    def depths(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AS bid and ask depths around the fair price, price units."""
        return optimal_depths(obs[:, 1], self.params.T - obs[:, 2], gamma=self.gamma,
                              sigma=self.sigma, k=self.k, T=self.params.T,
                              include_time_term=self.include_time_term)

    def fair_price(self, obs: np.ndarray) -> np.ndarray:
        """The fair price, price units, ``(n,)``."""
        c = self._col
        if self.fair == "mid":
            return obs[:, c["mid"]]
        if self.fair == "weighted_mid":
            return obs[:, c["micro_price"]]      # the env's size-weighted mid
        bucket = imbalance_bucket(obs[:, c["bid_queue_0"]], obs[:, c["ask_queue_0"]],
                                  self.adjustment.size)
        return obs[:, c["mid"]] + self.params.tick_size * self.adjustment[bucket]

    def offsets(self, obs: np.ndarray) -> np.ndarray:
        """Bid and ask levels (ticks behind the best), ``(n, 2)``."""
        obs = np.atleast_2d(obs)
        tick, top = self.params.tick_size, self.params.n_levels - 1
        bid_depth, ask_depth = self.depths(obs)
        fair = self.fair_price(obs)
        # Never better than the AS quote; 1e-9 ticks absorbs float noise at a grid price.
        bid = np.ceil((obs[:, self._col["best_bid"]] - (fair - bid_depth)) / tick - 1e-9)
        ask = np.ceil((fair + ask_depth - obs[:, self._col["best_ask"]]) / tick - 1e-9)
        return np.clip(np.stack([bid, ask], axis=1), 0, top).astype(np.int64)


class FixedLevels:
    """Quotes ``bid`` and ``ask`` ticks behind the best (-1: no order on that side)."""

    def __init__(self, bid: int, ask: int) -> None:
        self.levels = np.array([bid, ask], dtype=np.int64)

    def offsets(self, obs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.levels, (obs.shape[0], 2))


# --- simulation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """What the training seed gives: sigma (price units / sqrt(time)), k (1 / price units),
    the fill rates at levels 0 and 1 (per order per time unit), the micro-price and its
    batch-means standard error (ticks)."""

    sigma: float
    k: float
    lambdas: tuple[float, float]
    model: MicroPriceModel
    G_se: np.ndarray
    train_paths: int


def calibrate(settings: Settings, params: BookParams, seed: int, scale: float = 1.0
              ) -> Calibration:
    """Training set and fill-rate calibration on ``seed`` (the training seed), on ``scale``
    times the configured paths (at least 20 per batch, and 100)."""
    n_train = max(20 * settings.batches, round(settings.train_paths * scale))
    n_cal = max(100, round(settings.calibration_paths * scale))
    fields = {"bucket": lambda c: imbalance_bucket(*c.best_queues(),
                                                   settings.imbalance_buckets).astype(np.int8),
              "mid": lambda c: c.mid_ticks.astype(np.int32)}
    train = params.replace(T=settings.warmup + settings.train_time)
    states = rollout(FixedLevels(-1, -1), train, n_paths=n_train, seed=seed,
                     observers=[functools.partial(Snapshots, fields, first=round(
                         settings.warmup / params.dt))]).joined(0)
    model, G_se = estimate_micro_price(states["bucket"], states["mid"],
                                       settings.imbalance_buckets, settings.batches)
    dm = np.diff(states["mid"].astype(float), axis=1) * params.tick_size
    sigma = math.sqrt(float(np.mean(dm**2)) / params.dt)
    # The book is symmetric: a bid kept at the best and an ask kept one level behind give
    # the fill rates of both levels in one rollout.
    fills = rollout(FixedLevels(0, 1), params, n_paths=n_cal,
                    seed=seed).paths
    time = n_cal * params.T
    lambdas = (float(fills["bid_fills"].sum()) / time, float(fills["ask_fills"].sum()) / time)
    if lambdas[1] <= 0 or lambdas[0] <= lambdas[1]:
        raise RuntimeError(f"calibration of k needs fills at level 0 more frequent than at "
                           f"level 1 (> 0), got rates {lambdas}; raise calibration_paths")
    k = math.log(lambdas[0] / lambdas[1]) / params.tick_size
    return Calibration(sigma, k, lambdas, model, G_se, n_train)


def simulate_policy(fair: str, settings: Settings, params: BookParams, cal: Calibration,
                    n_paths: int, seed: int) -> pd.DataFrame:
    """Per-episode results of one fair-price policy, money in ticks (``COLUMNS`` of the
    runner, divided by tick x order size) and ``at_best``: the share of decision times with
    an order resting at the best, both sides averaged."""
    policy = FairPricePolicy(fair, params, gamma=settings.gamma, sigma=cal.sigma, k=cal.k,
                             adjustment=cal.model.G,
                             include_time_term=settings.include_time_term)
    at_best = {"at_best": lambda c: (c.order_levels()[:, 0] == 0).mean(axis=1)}
    out = rollout(policy, params, n_paths=n_paths, seed=seed,
                  observers=[functools.partial(Snapshots, at_best)])
    frame = out.paths.copy()
    tick = params.tick_size * params.order_size
    for name in ("terminal_pnl", "spread_capture", "inventory_pnl", "adverse_selection",
                 "max_identity_residual"):
        frame[name] = frame[name] / tick
    frame["at_best"] = out.joined(0)["at_best"].mean(axis=1)
    return frame


# --- statistics ----------------------------------------------------------------------------
def _linearised_cost(frame: pd.DataFrame) -> tuple[float, np.ndarray]:
    """The cost per fill (ticks) and its per-episode linearisation ``(x_i - R y_i) /
    mean(y)`` (x = -adverse selection, y = fills), whose mean's error is the ratio's."""
    x, y = -frame["adverse_selection"].to_numpy(), frame["fills"].to_numpy(dtype=float)
    ratio = float(x.sum() / y.sum())
    return ratio, (x - ratio * y) / y.mean()


def cost_difference(a: pd.DataFrame, b: pd.DataFrame) -> Estimate:
    """Cost per fill of ``a`` minus that of ``b`` (the same episodes), ticks per fill."""
    ra, la = _linearised_cost(a)
    rb, lb = _linearised_cost(b)
    diff, se = ra - rb, float(np.std(la - lb, ddof=1) / math.sqrt(la.size))
    return Estimate(diff, diff - Z95 * se, diff + Z95 * se)


def cost_ratio(a: pd.DataFrame, b: pd.DataFrame) -> Estimate:
    """Cost per fill of ``a`` over that of ``b`` (the same episodes): the share of ``b``'s
    cost that ``a`` keeps (negative when ``a``'s fills are followed by favourable moves on
    average); delta-method interval. NaN unless ``b``'s cost is positive."""
    ra, la = _linearised_cost(a)
    rb, lb = _linearised_cost(b)
    if rb <= 0:
        return Estimate(math.nan)
    ratio = ra / rb
    se = float(np.std(la / rb - ratio * lb / rb, ddof=1) / math.sqrt(la.size))
    return Estimate(ratio, ratio - Z95 * se, ratio + Z95 * se)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, column: str) -> Estimate:
    return Estimate.from_stats(mean_ci(a[column].to_numpy() - b[column].to_numpy()), "mean")


def summary_table(results: dict[str, pd.DataFrame], gamma: float, tick: float
                  ) -> pd.DataFrame:
    """One row per policy: cost per fill, fills, spread capture, adverse selection and the
    standard PnL summary (:func:`experiments.stats.pnl_summary`), in ticks; the CE's risk
    aversion is ``gamma * tick`` per tick (the same preferences as ``gamma`` per money)."""
    rows = []
    for fair, r in results.items():
        cost = ratio_ci(-r["adverse_selection"], r["fills"])
        row = {"fair_price": fair, "policy": LABELS[fair],
               "cost_per_fill": cost["ratio"], "cost_per_fill_ci_low": cost["ci_low"],
               "cost_per_fill_ci_high": cost["ci_high"]}
        for name in ("fills", "spread_capture", "adverse_selection", "inventory_pnl"):
            m = mean_ci(r[name])
            row.update({name: m["mean"], f"{name}_ci_low": m["ci_low"],
                        f"{name}_ci_high": m["ci_high"]})
        row.update({"at_best": float(r["at_best"].mean()),
                    "terminal_inventory_std": float(r["terminal_inventory"].std(ddof=1)),
                    "max_identity_residual": float(r["max_identity_residual"].max())})
        row.update(pnl_summary(r["terminal_pnl"].to_numpy(), gamma=gamma * tick))
        rows.append(row)
    return pd.DataFrame(rows)


PAIRS = (("micro_price", "mid"), ("weighted_mid", "mid"), ("micro_price", "weighted_mid"))


def paired_table(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Policy minus reference for the :data:`PAIRS`, episode by episode (same seeds)."""
    rows = []
    for fair, base in PAIRS:
        a, b = results[fair], results[base]
        row = {"policy": LABELS[fair], "reference": LABELS[base]}
        for name, est in (("cost_per_fill", cost_difference(a, b)),
                          ("cost_share", cost_ratio(a, b)),
                          *((name, paired_difference(a, b, name)) for name in
                            ("terminal_pnl", "fills", "adverse_selection"))):
            row.update({f"d_{name}": est.value, f"d_{name}_ci_low": est.ci_low,
                        f"d_{name}_ci_high": est.ci_high})
        row["pnl_correlation"] = float(np.corrcoef(a["terminal_pnl"], b["terminal_pnl"])[0, 1])
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.rename(columns={"d_cost_share": "cost_share",
                                 "d_cost_share_ci_low": "cost_share_ci_low",
                                 "d_cost_share_ci_high": "cost_share_ci_high"})


def adjustment_table(cal: Calibration, n_buckets: int) -> pd.DataFrame:
    """Per bucket: the training share, ``G*`` with its batch-means interval, ``g1`` and the
    weighted mid's adjustment at the bucket's centre (ticks)."""
    b = np.arange(n_buckets)
    centre = (b + 0.5) / n_buckets
    G, se = cal.model.G, cal.G_se
    return pd.DataFrame({
        "bucket": b, "imbalance_low": b / n_buckets, "imbalance_high": (b + 1) / n_buckets,
        "train_share": cal.model.counts / cal.model.counts.sum(), "G": G, "G_se": se,
        "G_ci_low": G - Z95 * se, "G_ci_high": G + Z95 * se, "g1": cal.model.g1,
        "weighted_mid": centre - 0.5})


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    n = ctx.paths(settings.paths)

    # The training set is an independent sample: a seed of its own, not the run's. It is
    # estimated once, at the configured dt and seed: the robustness checks re-run the
    # comparison (4x as many decisions at dt/4, other episodes at other seeds) with the same
    # estimated fair price; its own sampling error is G*'s batch-means interval.
    cal = calibrate(settings, settings.params(), ctx.seed_for(1), n / settings.paths)

    @functools.cache
    def result(v: Variation, fair: str) -> pd.DataFrame:
        return simulate_policy(fair, settings, v.market(settings.params()), cal, v.paths(n),
                               v.seed)

    base = ctx.variation()
    res = {fair: result(base, fair) for fair in FAIR_PRICES}
    params = settings.params()
    tick = params.tick_size * params.order_size
    common = {"robustness_paths": settings.robustness_paths, "section": "microprice_paired"}
    ctx.finding(
        "micro_price_reduces_adverse_cost", claim=11, unit="ticks per fill",
        statement="Quoting around the micro-price instead of the mid changes the "
                  "adverse-selection cost per fill by {value:.3f} ticks (negative: less "
                  "adverse selection).",
        statistic="adverse-selection cost per fill, AS on the micro-price minus AS on the mid "
                  "(paired)", rule=Below(0.0), **common,
        estimate=lambda v: cost_difference(result(v, "micro_price"), result(v, "mid")))
    ctx.finding(
        "micro_price_does_not_eliminate", claim=7,
        statement="Around the micro-price the AS policy keeps {value:.2f} of the "
                  "adverse-selection cost per fill it pays around the mid (0: eliminated, "
                  "1: no help).",
        statistic="adverse-selection cost per fill, micro-price over mid (paired)",
        rule=Between(0.0, 1.0), **common,
        estimate=lambda v: cost_ratio(result(v, "micro_price"), result(v, "mid")))
    ctx.finding(
        "micro_price_beats_weighted_mid", unit="ticks per fill",
        statement="Stoikov's micro-price changes the adverse-selection cost per fill by "
                  "{value:.3f} ticks against the size-weighted mid (negative: less adverse "
                  "selection).",
        statistic="adverse-selection cost per fill, micro-price minus weighted mid (paired; "
                  "robustness not run, to keep the budget)",
        rule=Below(0.0), **common,
        base=cost_difference(res["micro_price"], res["weighted_mid"]))
    ctx.finding(
        "micro_price_pnl_gain", unit="ticks per episode",
        statement="Quoting around the micro-price instead of the mid changes the PnL per "
                  "episode by {value:.2f} ticks.",
        statistic="terminal PnL, AS on the micro-price minus AS on the mid (paired)",
        rule=Above(0.0), **common,
        estimate=lambda v: paired_difference(result(v, "micro_price"), result(v, "mid"),
                                             "terminal_pnl"))

    ctx.paragraph(
        "The micro-price is estimated on a training set of books without agents simulated "
        "from a seed of its own (an independent sample, not the episodes it is evaluated on); "
        "the three policies then run on the same episodes (the run's seed). Why the effect "
        "is likely larger here than in real markets: in this book the price moves only when "
        "a best queue empties, so the queue imbalance is by construction the main predictor "
        "of the next move, and the micro-price, estimated from the same mechanism, captures "
        "it. In markets where prices also move on information not visible in the queues the "
        "reduction would be smaller. The training books carry no agent's order, while in the "
        "episodes the imbalance counts the agent's own orders (as the observation does).",
        title="Method and caveat")
    ctx.table(pd.DataFrame([{
        "episodes_per_policy": n, "T": params.T, "dt": params.dt, "steps": params.n_steps,
        "tick": params.tick_size, "adverse_selection_steps": params.adverse_selection_steps,
        "gamma": settings.gamma, "sigma": cal.sigma, "lambda_0": cal.lambdas[0],
        "lambda_1": cal.lambdas[1], "k": cal.k, "train_paths": cal.train_paths,
        "train_time": settings.train_time, "transitions": int(cal.model.counts.sum()),
        "series_terms": cal.model.iterations}]), "microprice_setup",
        "Book, calibration and training set",
        "sigma in price units per sqrt(time unit) and the fill rates lambda_j (per order per "
        "time unit) at levels 0 and 1 come from the training seed; k = ln(lambda_0 / "
        "lambda_1) / tick, per price unit; transitions are symmetrised.",
        float_format="{:.6g}")
    adjustment = adjustment_table(cal, settings.imbalance_buckets)
    ctx.table(adjustment, "microprice_adjustment",
              "Micro-price adjustment G*(I) by imbalance bucket (training set)",
              "G* and g1 in ticks from the mid, with batch-means 95% intervals; the weighted "
              "mid's adjustment I - 1/2 at the bucket's centre for comparison.",
              display=_adjustment_display(adjustment))
    summary = summary_table(res, settings.gamma, tick)
    ctx.table(summary, "microprice_summary",
              "Adverse selection, fills and PnL by fair price (ticks)",
              "Means per episode with 95% intervals, money in ticks; the cost per fill is a "
              "ratio estimator with a delta-method interval. Every fill earns half a tick, so "
              "spread capture is half the fill count. The CSV has the standard PnL summary "
              "columns (CE at gamma x tick per tick).", display=_summary_display(summary))
    paired = paired_table(res)
    ctx.table(paired, "microprice_paired",
              "Paired differences between the policies (same episodes)",
              "Policy minus reference per episode, ticks, with 95% intervals; the cost share "
              "is the policy's cost per fill over the reference's. The PnL correlation of "
              "paired episodes shows how much the common random numbers pair them.",
              display=_paired_display(paired))
    ctx.figure(_adjustment_figure(adjustment), "microprice_adjustment_curve",
               "Micro-price adjustment vs imbalance",
               "G*(I) in ticks with batch-means 95% intervals (training set) and the weighted "
               "mid's adjustment I - 1/2.")
    ctx.figure(_summary_figure(summary), "microprice_comparison",
               "Adverse-selection cost per fill, fills and PnL by fair price",
               "Means with 95% intervals over episodes (cost per fill: ratio estimator, "
               "delta-method interval).")


# --- display -------------------------------------------------------------------------------
def _ci(frame: pd.DataFrame, name: str, digits: int = 3) -> list[str]:
    return [format_ci(v, lo, hi, digits) for v, lo, hi in zip(
        frame[name], frame[f"{name}_ci_low"], frame[f"{name}_ci_high"], strict=True)]


def _adjustment_display(h: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "bucket": h["bucket"],
        "I range": [f"[{r.imbalance_low:.2f}, {r.imbalance_high:.2f})" for r in h.itertuples()],
        "train share": h["train_share"].map("{:.3f}".format), "G* ticks [95% CI]": _ci(h, "G"),
        "g1": h["g1"].map("{:+.3f}".format),
        "weighted mid I - 1/2": h["weighted_mid"].map("{:+.3f}".format)})


def _summary_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy": s["policy"], "cost / fill [95% CI]": _ci(s, "cost_per_fill"),
        "fills": _ci(s, "fills", 1),
        "adverse selection / episode (< 0: cost)": _ci(s, "adverse_selection", 2),
        "PnL [95% CI]": _ci(s, "mean", 2), "Sharpe [95% CI]": _ci(s, "sharpe"),
        "at best": s["at_best"].map("{:.0%}".format),
        "std q_T": s["terminal_inventory_std"].map("{:.2f}".format)})


def _paired_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy - reference": p["policy"] + " - " + p["reference"],
        "d cost / fill": _ci(p, "d_cost_per_fill"), "cost share": _ci(p, "cost_share", 2),
        "d adverse selection (> 0: less cost)": _ci(p, "d_adverse_selection", 2),
        "d fills": _ci(p, "d_fills", 1),
        "d PnL": _ci(p, "d_terminal_pnl", 2),
        "PnL corr.": p["pnl_correlation"].map("{:.2f}".format)})


# --- figures -------------------------------------------------------------------------------
def _adjustment_figure(h: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    centre = (h["imbalance_low"] + h["imbalance_high"]) / 2
    style.plot_ci(ax, centre, h["G"], h["G_ci_low"], h["G_ci_high"],
                  policy="microprice", label="micro-price G*(I) (training set)")
    ax.plot(centre, h["weighted_mid"], **style.policy_style("weighted_mid").kwargs(),
            label="weighted mid I - 1/2")
    ax.axhline(0, color="grey", lw=0.8)
    style.label_axes(ax, x=("imbalance I = Qb / (Qb + Qa), bucket centre", ""),
                     y=("fair price - mid", "ticks"))
    style.legend_outside(ax, fontsize=8)
    fig.tight_layout()
    return fig


def _summary_figure(s: pd.DataFrame):
    panels = (("cost_per_fill", ("adverse-selection cost per fill", "ticks")),
              ("fills", ("fills per episode", "fills")),
              ("mean", ("PnL per episode", "ticks")))
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.8))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, r in enumerate(s.itertuples()):
            style.plot_ci(ax, [i], [getattr(r, key)], [getattr(r, f"{key}_ci_low")],
                          [getattr(r, f"{key}_ci_high")],
                          policy=STYLE_KEYS[r.fair_price], label=r.policy)
        style.category_ticks(ax, ["mid", "weighted\nmid", "micro-\nprice"])
        style.label_axes(ax, x=("fair price", ""), y=label)
    style.legend_outside(axes[-1], fontsize=8)
    fig.tight_layout()
    return fig
