"""Micro-price vs mid on the limit order book: the Avellaneda–Stoikov policy centred on the
mid, on the size-weighted mid, or on Stoikov's (2018) micro-price estimated from simulated
data, compared on adverse selection, spread capture, PnL and Sharpe.

Model. The queue-reactive book of :mod:`asmm_env.lob.book` (one-tick spread, price moves on
depletion), driven through its Gymnasium vector face ``asmm_env/AvellanedaStoikovLOB-v0``
(:class:`asmm_env.lob.env.AvellanedaStoikovLOBVectorEnv`), with the config's ``book``
overrides of :class:`asmm_env.lob.BookParams`.

Fair prices (``tick`` = tick size, ``Qb``, ``Qa`` the best queues, ``I = Qb / (Qb + Qa)``):

* **mid** ``M = (bid + ask) / 2``;
* **weighted mid** ``bid * Qa / (Qb + Qa) + ask * Qb / (Qb + Qa) = M + (I - 1/2) tick``;
* **micro-price** ``M + G*(I) tick`` with Stoikov's adjustment ``G*`` estimated on a
  training set simulated from a different seed, by the paper's method:

  - state ``X = (I, S)``: the imbalance in ``n`` buckets (``imbalance_buckets``, odd) and the
    spread; this book's spread is always one tick, so ``X`` is the imbalance bucket alone.
    Bucket ``b = floor(n Qb / (Qb + Qa))`` when ``Qb <= Qa`` and ``n - 1 - floor(n Qa / (Qb +
    Qa))`` otherwise, computed in integers: exactly mirror-symmetric (``Qb <-> Qa`` maps ``b``
    to ``n - 1 - b``), with the balanced book ``Qb = Qa`` in the middle bucket;
  - observations every decision step ``dt`` after a warm-up (``warmup`` steps), transitions
    ``(X_t, X_t+dt, M_t+dt - M_t)``, symmetrised by adding every transition mirrored
    ``(n - 1 - b, n - 1 - b', -dM)`` (Stoikov section 3);
  - ``Q[x, y] = P(dM = 0, X' = y | x)``, ``T[x, y] = P(dM != 0, X' = y | x)``,
    ``R[x, j] = P(dM = K_j | x)`` over the observed non-zero mid changes ``K`` (ticks);
  - ``g1 = (1 - Q)^-1 R K`` (the expected mid change at the next mid move),
    ``B = (1 - Q)^-1 T`` (the state at the next mid move), and ``G* = sum_i B^i g1``, iterated
    until the term is below ``1e-12`` ticks (Stoikov eq. 3.6 and Theorem 3.1; the series
    converges because symmetrisation makes the stationary mean of ``g1`` zero).

  A bucket never visited in training keeps ``G* = 0`` (the mid). The estimator's standard
  error is from batch means over ``batches`` groups of training paths; on held-out paths (a
  third seed) ``G*`` is set against the mid change ``check_horizon`` steps ahead, whose
  mean given the bucket it should approach (the micro-price is the limit of the expected
  mid).

Policy (how a policy "centres" on a fair price in a one-tick book). The AS (2008) quotes of
:class:`baselines.AvellanedaStoikovPolicy` are computed around the fair price ``P`` instead
of the mid: reservation price ``r = P - q gamma sigma^2 (T - t)``, quotes ``r -/+ delta`` with
``delta`` the AS half-spread ``gamma sigma^2 (T - t) / 2 + (1 / gamma) ln(1 + gamma / k)``.
They are mapped to the tick grid *never better than the AS quote*: the bid rests at the best
if ``r - delta >= best bid`` (it cannot improve a one-tick spread), else at the highest level
whose price is at or below ``r - delta`` (``ceil((best bid - (r - delta)) / tick)`` ticks
back, at most ``n_levels - 1``); the ask mirrors it. So a fair price above the mid pulls the
bid to the best and pushes the ask back, and a side steps back when the fair price says it is
about to be run over. The chosen levels become the env's action through
``asmm_env.lob.env.offsets_to_action`` (no second action conversion).

AS parameters, calibrated to the book (not tuned for PnL): ``sigma^2`` = mean squared mid
change per unit time on the training set; ``k`` = ``ln(lambda_0 / lambda_1) / tick``, where
``lambda_j`` is the fill rate of a unit order kept at level ``j`` (depth ``(j + 1/2)``
ticks) on both sides, measured in a calibration run (so ``A exp(-k delta)`` passes through
both); ``gamma`` from the config.

Comparison. Each policy runs ``paths`` episodes of the book (``T``, ``dt`` of ``book``),
starting from the env's reset. Blocks of ``block_paths`` use the same seed for every policy
(common random numbers): the books start identical and draw from identical streams, but they
diverge once the policies' orders differ (the agent's orders are part of the queues and the
event rates), so the pairing is partial; paired differences still have valid intervals
(paths are i.i.d. within each policy, and the per-path differences are what is averaged).

Definitions (ticks = price units / tick; per episode):

* spread capture: half a tick per share filled (every fill is at the best);
* adverse selection: the ledger's ``sum over fills of side * (mid h steps later - mid at
  fill)`` with ``h = adverse_selection_steps`` of the book (negative: cost); the adverse
  selection cost per fill is ``-sum(adverse selection) / sum(fills)`` over paths (ratio
  estimator, delta-method CI);
* PnL: terminal mark-to-market; Sharpe: mean / std of PnL across episodes, with a
  delta-method CI (:func:`experiments.stats.sharpe_ci`); paired Sharpe differences from a
  paired bootstrap over episodes.

Seeds: training ``ctx.seed_for(1, b)``, held-out ``ctx.seed_for(2, b)``, calibration
``ctx.seed_for(3, level)``, policies ``ctx.seed_for(4, b)`` (the same for every policy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.lob import BookParams, LimitOrderBook
from asmm_env.lob.env import (
    AvellanedaStoikovLOBVectorEnv,
    observation_names,
    offsets_to_action,
)
from asmm_env.validation import check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy
from experiments._lob import book_params
from experiments.framework import Context
from experiments.stats import Z95, format_ci, mean_ci, ratio_ci, sharpe_ci

TITLE = "Micro-price vs mid: where the AS policy centres its quotes on the order book"

FAIR_PRICES = ("mid", "weighted_mid", "micro_price")
LABELS = {"mid": "AS on the mid", "weighted_mid": "AS on the weighted mid",
          "micro_price": "AS on the micro-price"}


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.microprice`` in the config.

    paths : episodes per policy (>= 1).
    block_paths : episodes per task (>= 1; the unit of parallel work and of the common seeds).
    train_paths, train_steps : training set of the micro-price and of sigma: paths, and
        decision steps recorded per path after the warm-up (>= 1 each).
    holdout_paths : held-out paths (third seed) for the check of ``G*`` (>= 1).
    calibration_paths : paths per level of the fill-rate calibration of ``k`` (>= 1).
    warmup : steps dropped at the start of every training / held-out path (>= 0).
    imbalance_buckets : n, odd (>= 3), so that the balanced book has its own bucket and the
        buckets are mirror-symmetric.
    batches : groups of training paths for the batch-means standard error of ``G*`` (>= 2).
    check_horizon : steps ahead of the held-out mid change set against ``G*`` (>= 1).
    gamma : AS risk aversion, 1 / money (> 0).
    include_time_term : keep ``gamma sigma^2 (T - t)`` in the AS spread.
    bootstrap : paired bootstrap resamples for the Sharpe differences (>= 100).
    book : ``BookParams`` fields overriding the defaults (the episodes' book; training and
        calibration use it with their own ``T``).
    """

    paths: int = 20_000
    block_paths: int = 5_000
    train_paths: int = 4_000
    train_steps: int = 600
    holdout_paths: int = 2_000
    calibration_paths: int = 1_000
    warmup: int = 30
    imbalance_buckets: int = 11
    batches: int = 10
    check_horizon: int = 60
    gamma: float = 0.5
    include_time_term: bool = True
    bootstrap: int = 1_000
    book: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("paths", "block_paths", "train_paths", "train_steps", "holdout_paths",
                     "calibration_paths", "check_horizon"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.warmup, int) or isinstance(self.warmup, bool) or self.warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {self.warmup!r}")
        n = self.imbalance_buckets
        if not isinstance(n, int) or isinstance(n, bool) or n < 3 or n % 2 == 0:
            raise ValueError(f"imbalance_buckets must be an odd integer >= 3, got {n!r}")
        if not isinstance(self.batches, int) or isinstance(self.batches, bool) \
                or self.batches < 2:
            raise ValueError(f"batches must be an integer >= 2, got {self.batches!r}")
        if not isinstance(self.bootstrap, int) or isinstance(self.bootstrap, bool) \
                or self.bootstrap < 100:
            raise ValueError(f"bootstrap must be an integer >= 100, got {self.bootstrap!r}")
        check_positive("gamma", self.gamma)
        if not isinstance(self.include_time_term, bool):
            raise ValueError(f"include_time_term must be true or false, "
                             f"got {self.include_time_term!r}")
        self.params()

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


# --- the policy ----------------------------------------------------------------------------
class FairPricePolicy:
    """AS quotes around a fair price, mapped to tick levels never better than the AS quote
    (module docstring). Observations are those of ``asmm_env/AvellanedaStoikovLOB-v0``.

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
        self.fair, self.params = fair, params
        self.adjustment = None if adjustment is None else np.asarray(adjustment, dtype=float)
        self.as_policy = AvellanedaStoikovPolicy(
            gamma, sigma=sigma, k=k, T=params.T, depth_bound=params.depth_bound,
            include_time_term=include_time_term)
        names = observation_names(params.n_levels)
        self._col = {name: names.index(name) for name in
                     ("mid", "best_bid", "best_ask", "micro_price", "bid_queue_0",
                      "ask_queue_0")}

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

    def levels(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bid and ask levels (ticks behind the best), ``(n,)`` each."""
        obs = np.atleast_2d(obs)
        tick, top = self.params.tick_size, self.params.n_levels - 1
        bid_depth, ask_depth = self.as_policy.depths(obs)   # around the mid: s -/+ depth
        fair = self.fair_price(obs)
        bid_quote, ask_quote = fair - bid_depth, fair + ask_depth
        # Never better than the AS quote; 1e-9 ticks absorbs float noise at a grid price.
        bid = np.ceil((obs[:, self._col["best_bid"]] - bid_quote) / tick - 1e-9)
        ask = np.ceil((ask_quote - obs[:, self._col["best_ask"]]) / tick - 1e-9)
        return (np.clip(bid, 0, top).astype(np.int64), np.clip(ask, 0, top).astype(np.int64))

    def act(self, obs: np.ndarray) -> np.ndarray:
        bid, ask = self.levels(obs)
        action = offsets_to_action(bid, ask, self.params)
        return action[0] if np.ndim(obs) == 1 else action


# --- simulation tasks ----------------------------------------------------------------------
@dataclass(frozen=True)
class BookTask:
    """Paths of the book without agents' orders: imbalance buckets and mids every step."""

    params: BookParams
    n: int
    seed: int
    warmup: int
    n_buckets: int


def simulate_book(task: BookTask) -> dict[str, np.ndarray]:
    """``bucket`` (int8), ``mid`` (ticks, int32) and ``imbalance`` (float32), ``(n, steps +
    1)`` from the end of the warm-up."""
    p, n = task.params, task.n
    book = LimitOrderBook(p, n, 1)
    book.reset(np.random.default_rng(task.seed))
    none = np.full((n, 1, 2), -1, dtype=np.int64)
    keep = p.n_steps - task.warmup + 1
    out = {"bucket": np.empty((n, keep), dtype=np.int8),
           "mid": np.empty((n, keep), dtype=np.int32),
           "imbalance": np.empty((n, keep), dtype=np.float32)}
    for step in range(p.n_steps + 1):
        if step >= task.warmup:
            qb, qa = book.best_queues()
            i = step - task.warmup
            out["bucket"][:, i] = imbalance_bucket(qb, qa, task.n_buckets)
            out["mid"][:, i] = book.mid_ticks
            out["imbalance"][:, i] = qb / (qb + qa)
        if step < p.n_steps:
            book.step(none)
    return out


@dataclass(frozen=True)
class CalibrationTask:
    """One agent keeping a unit order at ``level`` on both sides: its fill rate."""

    params: BookParams
    n: int
    seed: int
    level: int


def simulate_calibration(task: CalibrationTask) -> dict[str, float]:
    """Fills and order-time (both sides, time units) of an order kept at ``task.level``."""
    p, n = task.params, task.n
    book = LimitOrderBook(p, n, 1)
    book.reset(np.random.default_rng(task.seed))
    offsets = np.full((n, 1, 2), task.level, dtype=np.int64)
    fills = 0.0
    while not book.done:
        fills += float(book.step(offsets).sum() / p.order_size)
    return {"fills": fills, "time": 2.0 * n * p.T}


@dataclass(frozen=True)
class PolicyTask:
    """``n`` episodes of one fair-price policy, from ``seed`` (shared by the policies)."""

    fair: str
    params: BookParams
    gamma: float
    sigma: float
    k: float
    adjustment: tuple[float, ...]
    include_time_term: bool
    n: int
    seed: int


def simulate_policy(task: PolicyTask) -> dict[str, np.ndarray]:
    """Per-episode ledger totals and quoting statistics of one policy block."""
    p = task.params
    policy = FairPricePolicy(task.fair, p, gamma=task.gamma, sigma=task.sigma, k=task.k,
                             adjustment=np.array(task.adjustment),
                             include_time_term=task.include_time_term)
    env = AvellanedaStoikovLOBVectorEnv(num_envs=task.n, params=p)
    obs, _ = env.reset(seed=task.seed)
    at_best = np.zeros(task.n)
    back_bid = np.zeros(task.n)
    back_ask = np.zeros(task.n)
    done = False
    while not done:
        bid, ask = policy.levels(obs)
        at_best += (bid == 0).astype(float) + (ask == 0)
        back_bid += bid > 0
        back_ask += ask > 0
        obs, _, terminated, _, _ = env.step(offsets_to_action(bid, ask, p))
        done = bool(terminated.all())
    led, book = env.book.ledger, env.book
    tick = p.tick_size * p.order_size
    return {
        "pnl": book.pnl()[:, 0] / tick,
        "spread_capture": led.spread_capture[:, 0] / tick,
        "adverse_selection": led.adverse_selection[:, 0] / tick,
        "inventory_pnl": led.inventory_pnl[:, 0] / tick,
        "fills": led.spread_capture[:, 0] / (0.5 * tick),
        "terminal_inventory": led.inventory[:, 0] / p.order_size,
        "max_abs_inventory": led.max_abs_inventory[:, 0] / p.order_size,
        "at_best": at_best / (2 * p.n_steps),
        "bid_back": back_bid / p.n_steps, "ask_back": back_ask / p.n_steps,
        "mid_move": book.mid_ticks,
        "residual": np.abs(led.decomposition_residual(book.mid)[:, 0]) / tick,
    }


def _run_task(task):
    if isinstance(task, BookTask):
        return simulate_book(task)
    if isinstance(task, CalibrationTask):
        return simulate_calibration(task)
    return simulate_policy(task)


# --- run -----------------------------------------------------------------------------------
@dataclass
class Calibration:
    sigma: float             # price units / sqrt(time)
    k: float                 # 1 / price units
    lambdas: tuple[float, float]
    model: MicroPriceModel
    G_se: np.ndarray
    holdout: pd.DataFrame


def calibrate(ctx: Context, settings: Settings, params: BookParams) -> Calibration:
    """Training set, held-out set and fill-rate calibration (one ``ctx.map``)."""
    scale = ctx.paths(settings.paths) / settings.paths     # --quick shrinks everything
    n_train = max(settings.batches * 20, round(settings.train_paths * scale))
    n_hold = max(50, round(settings.holdout_paths * scale))
    n_cal = max(50, round(settings.calibration_paths * scale))
    steps = settings.warmup + settings.train_steps
    train_params = params.replace(T=steps * params.dt)
    hold_steps = settings.warmup + max(settings.train_steps, 2 * settings.check_horizon)
    hold_params = params.replace(T=hold_steps * params.dt)
    size = settings.block_paths
    tasks: list[Any] = [
        BookTask(train_params, min(size, n_train - s), ctx.seed_for(1, b), settings.warmup,
                 settings.imbalance_buckets)
        for b, s in enumerate(range(0, n_train, size))]
    n_train_tasks = len(tasks)
    tasks += [BookTask(hold_params, min(size, n_hold - s), ctx.seed_for(2, b),
                       settings.warmup, settings.imbalance_buckets)
              for b, s in enumerate(range(0, n_hold, size))]
    n_book_tasks = len(tasks)
    tasks += [CalibrationTask(params, n_cal, ctx.seed_for(3, level), level)
              for level in (0, 1)]
    outs = ctx.map(_run_task, tasks, desc="training and calibration")
    train = {key: np.concatenate([o[key] for o in outs[:n_train_tasks]])
             for key in ("bucket", "mid")}
    hold = {key: np.concatenate([o[key] for o in outs[n_train_tasks:n_book_tasks]])
            for key in ("bucket", "mid", "imbalance")}
    cal = outs[n_book_tasks:]
    model, G_se = estimate_micro_price(train["bucket"], train["mid"],
                                       settings.imbalance_buckets, settings.batches)
    dm = np.diff(train["mid"].astype(float), axis=1) * params.tick_size
    sigma = math.sqrt(float(np.mean(dm**2)) / params.dt)
    lambdas = tuple(c["fills"] / c["time"] for c in cal)
    if lambdas[1] <= 0 or lambdas[0] <= lambdas[1]:
        raise RuntimeError(f"calibration of k needs fills at level 0 more frequent than at "
                           f"level 1 (> 0), got rates {lambdas}; raise calibration_paths")
    k = math.log(lambdas[0] / lambdas[1]) / params.tick_size
    holdout = holdout_table(hold, model, G_se, settings)
    return Calibration(sigma, k, lambdas, model, G_se, holdout)


def holdout_table(hold: dict[str, np.ndarray], model: MicroPriceModel, G_se: np.ndarray,
                  settings: Settings) -> pd.DataFrame:
    """Per bucket: ``G*`` with its batch-means CI, the weighted mid's adjustment (mean of
    ``I - 1/2`` in the bucket) and the held-out mean mid change ``check_horizon`` steps ahead
    (ratio estimator over paths, so the overlapping windows of a path are one cluster)."""
    H = settings.check_horizon
    b = hold["bucket"][:, :-H].astype(np.int64)
    ahead = (hold["mid"][:, H:] - hold["mid"][:, :-H]).astype(float)
    imb = hold["imbalance"][:, :-H].astype(float)
    train_share = model.counts / model.counts.sum()
    rows = []
    for x in range(settings.imbalance_buckets):
        at = b == x
        n_per_path = at.sum(axis=1)
        r = ratio_ci((ahead * at).sum(axis=1), n_per_path)
        w = ratio_ci(((imb - 0.5) * at).sum(axis=1), n_per_path)
        lo, hi = x / settings.imbalance_buckets, (x + 1) / settings.imbalance_buckets
        rows.append({"bucket": x, "imbalance_low": lo, "imbalance_high": hi,
                     "train_share": float(train_share[x]),
                     "G": float(model.G[x]), "G_se": float(G_se[x]),
                     "G_ci_low": float(model.G[x] - Z95 * G_se[x]),
                     "G_ci_high": float(model.G[x] + Z95 * G_se[x]),
                     "g1": float(model.g1[x]), "weighted_mid": w["ratio"],
                     "holdout_n": int(n_per_path.sum()), "holdout_move": r["ratio"],
                     "holdout_ci_low": r["ci_low"], "holdout_ci_high": r["ci_high"]})
    return pd.DataFrame(rows)


def run(ctx: Context, settings: Settings) -> None:
    params = settings.params()
    n = ctx.paths(settings.paths)
    cal = calibrate(ctx, settings, params)
    G = tuple(float(g) for g in cal.model.G)
    size = settings.block_paths
    tasks = [PolicyTask(fair, params, settings.gamma, cal.sigma, cal.k, G,
                        settings.include_time_term, min(size, n - s), ctx.seed_for(4, b))
             for fair in FAIR_PRICES for b, s in enumerate(range(0, n, size))]
    outs = ctx.map(_run_task, tasks, desc="policy blocks")
    per = len(tasks) // len(FAIR_PRICES)
    results = {fair: {key: np.concatenate([o[key] for o in outs[i * per:(i + 1) * per]])
                      for key in outs[0]}
               for i, fair in enumerate(FAIR_PRICES)}

    as_policy = AvellanedaStoikovPolicy(settings.gamma, sigma=cal.sigma, k=cal.k, T=params.T,
                                        depth_bound=params.depth_bound,
                                        include_time_term=settings.include_time_term)
    half = [float(as_policy.depths(np.array([[params.s0, 0.0, tau]]))[0][0]) / params.tick_size
            for tau in (params.T, params.dt)]
    skew = settings.gamma * cal.sigma**2 * params.T / params.tick_size
    ctx.paragraph(
        f"Book (asmm_env.lob): tick {params.tick_size:g}, {params.n_levels} levels, L = "
        f"{params.limit_rate:g}, C = {params.cancel_rate:g}, M = {params.market_rate:g} "
        f"(x{1 + params.market_boost:g} at a best queue <= {params.small_queue}), new queues "
        f"1 + Poisson({params.refill:g}); episodes of T = {params.T:g} with dt = "
        f"{params.dt:g} ({params.n_steps} decisions), adverse-selection horizon h = "
        f"{params.adverse_selection_steps} steps. Calibration: sigma = {cal.sigma:.3g} price "
        f"units per sqrt(time) ({(cal.sigma / params.tick_size) ** 2:.3f} ticks^2 per time "
        f"unit) from the training set; fill rates lambda_0 = {cal.lambdas[0]:.4f} and lambda_1 = "
        f"{cal.lambdas[1]:.5f} per order per time unit at levels 0 and 1, so k = "
        f"{cal.k:.4g} per price unit ({cal.k * params.tick_size:.2f} per tick). With gamma = "
        f"{settings.gamma:g} the AS half-spread is {half[0]:.3f} ticks at t = 0 and "
        f"{half[1]:.3f} at the last step (a quote at the best sits 0.5 tick from the mid), "
        f"and the reservation price moves {skew:.3f} ticks per share held at t = 0. "
        f"{n:,} episodes per policy; every policy uses the same seeds (partial common random "
        f"numbers, see below).", title="Setup")

    ctx.table(cal.holdout, "microprice_adjustment",
              "Micro-price adjustment G*(I) estimated by Stoikov's method, with held-out check",
              _adjustment_reading(cal, settings), display=_adjustment_display(cal.holdout))
    ctx.figure(_adjustment_figure(cal.holdout, settings), "microprice_adjustment_curve",
               "Micro-price adjustment vs imbalance",
               "G*(I) in ticks with batch-means 95% intervals (training set), the weighted "
               "mid's adjustment I - 1/2, and the held-out mean mid change "
               f"{settings.check_horizon} steps ahead with its 95% interval.")

    summary = summary_table(results, params)
    ctx.table(summary, "microprice_summary",
              "Adverse selection, spread capture, PnL and Sharpe by fair price (ticks)",
              _summary_reading(summary, results), display=_summary_display(summary))
    paired = paired_table(results, settings.bootstrap, ctx.rng(5))
    ctx.table(paired, "microprice_paired",
              "Paired differences between the policies (ticks per episode)",
              _paired_reading(paired, summary), display=_paired_display(paired))
    ctx.figure(_summary_figure(summary), "microprice_comparison",
               "Adverse selection cost per fill, fills and PnL by fair price",
               "Means with 95% intervals over episodes (adverse selection cost per fill: ratio "
               "estimator, delta-method interval).")


# --- tables --------------------------------------------------------------------------------
def summary_table(results: dict[str, dict[str, np.ndarray]], params: BookParams
                  ) -> pd.DataFrame:
    rows = []
    for fair in FAIR_PRICES:
        r = results[fair]
        cost = ratio_ci(-r["adverse_selection"], r["fills"])
        pnl, sc, adv = mean_ci(r["pnl"]), mean_ci(r["spread_capture"]), \
            mean_ci(r["adverse_selection"])
        fills, sh = mean_ci(r["fills"]), sharpe_ci(r["pnl"])
        rows.append({
            "fair_price": fair, "policy": LABELS[fair], "episodes": pnl["n"],
            "adverse_cost_per_fill": cost["ratio"], "adverse_cost_ci_low": cost["ci_low"],
            "adverse_cost_ci_high": cost["ci_high"],
            "adverse_selection": adv["mean"], "adverse_ci_low": adv["ci_low"],
            "adverse_ci_high": adv["ci_high"],
            "spread_capture": sc["mean"], "spread_capture_ci_low": sc["ci_low"],
            "spread_capture_ci_high": sc["ci_high"],
            "fills": fills["mean"], "fills_ci_low": fills["ci_low"],
            "fills_ci_high": fills["ci_high"],
            "pnl": pnl["mean"], "pnl_std": pnl["std"], "pnl_ci_low": pnl["ci_low"],
            "pnl_ci_high": pnl["ci_high"],
            "sharpe": sh["sharpe"], "sharpe_ci_low": sh["ci_low"],
            "sharpe_ci_high": sh["ci_high"],
            "inventory_pnl": float(r["inventory_pnl"].mean()),
            "at_best": float(r["at_best"].mean()),
            "bid_back": float(r["bid_back"].mean()), "ask_back": float(r["ask_back"].mean()),
            "std_terminal_inventory": float(r["terminal_inventory"].std(ddof=1)),
            "mean_max_abs_inventory": float(r["max_abs_inventory"].mean()),
            "max_identity_residual": float(r["residual"].max()),
        })
    return pd.DataFrame(rows)


PAIRS = (("weighted_mid", "mid"), ("micro_price", "mid"), ("micro_price", "weighted_mid"))


def paired_table(results: dict[str, dict[str, np.ndarray]], n_boot: int,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Policy minus reference for the :data:`PAIRS`, episode by episode (same seeds)."""
    n = results["mid"]["pnl"].size
    idx = rng.integers(0, n, (n_boot, n))
    rows = []
    for fair, base in PAIRS:
        r, ref = results[fair], results[base]
        row = {"fair_price": fair, "reference_fair_price": base, "policy": LABELS[fair],
               "reference": LABELS[base]}
        for key in ("pnl", "spread_capture", "adverse_selection", "fills"):
            d = mean_ci(r[key] - ref[key])
            row.update({f"d_{key}": d["mean"], f"d_{key}_ci_low": d["ci_low"],
                        f"d_{key}_ci_high": d["ci_high"],
                        f"d_{key}_z": d["mean"] / d["se"] if d["se"] > 0 else float("nan")})
        # Difference of the two per-fill costs: linearise each ratio, difference per episode.
        cost_a = ratio_ci(-r["adverse_selection"], r["fills"])["ratio"]
        cost_b = ratio_ci(-ref["adverse_selection"], ref["fills"])["ratio"]
        lin = ((-r["adverse_selection"] - cost_a * r["fills"]) / r["fills"].mean()
               - (-ref["adverse_selection"] - cost_b * ref["fills"]) / ref["fills"].mean())
        se = float(lin.std(ddof=1) / math.sqrt(n))
        diff = cost_a - cost_b
        row.update({"d_cost_per_fill": diff, "d_cost_per_fill_ci_low": diff - Z95 * se,
                    "d_cost_per_fill_ci_high": diff + Z95 * se,
                    "d_cost_per_fill_z": diff / se if se > 0 else float("nan"),
                    "relative_cost_change": diff / cost_b if cost_b else float("nan")})

        def sharpe_of(x):
            return x.mean(axis=-1) / x.std(axis=-1, ddof=1)

        boot = sharpe_of(r["pnl"][idx]) - sharpe_of(ref["pnl"][idx])
        row.update({"d_sharpe": float(sharpe_of(r["pnl"]) - sharpe_of(ref["pnl"])),
                    "d_sharpe_ci_low": float(np.quantile(boot, 0.025)),
                    "d_sharpe_ci_high": float(np.quantile(boot, 0.975)),
                    "mid_move_correlation": float(np.corrcoef(r["mid_move"],
                                                              ref["mid_move"])[0, 1])})
        rows.append(row)
    return pd.DataFrame(rows)


# --- readings ------------------------------------------------------------------------------
def _adjustment_reading(cal: Calibration, settings: Settings) -> str:
    h = cal.holdout
    top = h.iloc[-1]
    centre = h.iloc[len(h) // 2]
    z = (h["holdout_move"] - h["G"]) / np.hypot(
        (h["holdout_ci_high"] - h["holdout_ci_low"]) / (2 * Z95), h["G_se"])
    zw = (h["holdout_move"] - h["weighted_mid"]) / (
        (h["holdout_ci_high"] - h["holdout_ci_low"]) / (2 * Z95))
    ok = np.isfinite(z)
    steeper = float(np.polyfit(h["weighted_mid"], h["G"], 1)[0])
    return (
        f"{len(h)} imbalance buckets, {int(cal.model.counts.sum()):,} symmetrised "
        f"transitions; the series sum_i B^i g1 converged in {cal.model.iterations} terms; "
        f"non-zero mid changes seen per step: {', '.join(f'{k:+g}' for k in cal.model.K)} "
        f"ticks. In the most bid-heavy bucket (I in [{top.imbalance_low:.2f}, 1]) the "
        f"micro-price sits {top.G:+.3f} ticks [{top.G_ci_low:+.3f}, {top.G_ci_high:+.3f}] from "
        f"the mid, the weighted mid {top.weighted_mid:+.3f}; the balanced bucket has G* = "
        f"{centre.G:+.3f}. Regressed on the weighted mid's adjustment, G* has slope "
        f"{steeper:.2f}: the micro-price moves {'less' if steeper < 1 else 'more'} than the "
        f"weighted mid with the imbalance. Held out ({settings.check_horizon} steps ahead, a "
        f"third seed): the mean mid change is within 1.96 standard errors of G* in "
        f"{int((np.abs(z[ok]) <= Z95).sum())} of {int(ok.sum())} buckets (largest |z| "
        f"{np.abs(z[ok]).max():.1f}) and of the weighted mid's adjustment in "
        f"{int((np.abs(zw[ok]) <= Z95).sum())} (largest |z| {np.abs(zw[ok]).max():.1f}).")


def _summary_reading(s: pd.DataFrame, results) -> str:
    ref = s.iloc[0]
    parts = []
    for r in s.itertuples():
        parts.append(f"{r.policy}: adverse selection cost {r.adverse_cost_per_fill:.3f} ticks "
                     f"per fill [{r.adverse_cost_ci_low:.3f}, {r.adverse_cost_ci_high:.3f}], "
                     f"{r.fills:.1f} fills, PnL {r.pnl:.2f} [{r.pnl_ci_low:.2f}, "
                     f"{r.pnl_ci_high:.2f}] ticks, Sharpe {r.sharpe:.3f} "
                     f"[{r.sharpe_ci_low:.3f}, {r.sharpe_ci_high:.3f}], at the best "
                     f"{r.at_best:.0%} of the time")
    residual = float(s["max_identity_residual"].max())
    return ("; ".join(parts) + f". Spread capture is half a tick per fill, so it follows the "
            f"fill count ({ref.spread_capture:.2f} ticks per episode for {ref.policy}). Every "
            f"episode's ledger identity pnl = spread capture + inventory PnL holds to "
            f"{residual:.1e} ticks.")


def _paired_reading(p: pd.DataFrame, s: pd.DataFrame) -> str:
    if p.empty:
        return ""
    texts = []
    for r in p.itertuples():
        reduction = -r.relative_cost_change
        if r.d_cost_per_fill_ci_high < 0:
            verdict = (f"reduces the adverse selection cost per fill of {r.reference} by "
                       f"{-r.d_cost_per_fill:.3f} ticks [{-r.d_cost_per_fill_ci_high:.3f}, "
                       f"{-r.d_cost_per_fill_ci_low:.3f}] ({reduction:.0%} of it)")
        elif r.d_cost_per_fill_ci_low > 0:
            verdict = (f"raises the adverse selection cost per fill of {r.reference} by "
                       f"{r.d_cost_per_fill:.3f} ticks [{r.d_cost_per_fill_ci_low:.3f}, "
                       f"{r.d_cost_per_fill_ci_high:.3f}]")
        else:
            verdict = (f"does not change the adverse selection cost per fill of "
                       f"{r.reference} measurably "
                       f"({r.d_cost_per_fill:+.3f} ticks [{r.d_cost_per_fill_ci_low:+.3f}, "
                       f"{r.d_cost_per_fill_ci_high:+.3f}])")
        sign = "more" if r.d_pnl > 0 else "less"
        pnl_sig = r.d_pnl_ci_low > 0 or r.d_pnl_ci_high < 0
        texts.append(
            f"{r.policy} {verdict}; it trades {r.d_fills:+.1f} fills per episode "
            f"[{r.d_fills_ci_low:+.1f}, {r.d_fills_ci_high:+.1f}] (spread capture "
            f"{r.d_spread_capture:+.2f} ticks), its total adverse selection changes by "
            f"{r.d_adverse_selection:+.2f} [{r.d_adverse_selection_ci_low:+.2f}, "
            f"{r.d_adverse_selection_ci_high:+.2f}] ticks per episode (positive: a smaller "
            f"loss to adverse moves), and it earns "
            f"{abs(r.d_pnl):.2f} ticks {sign} per episode [{r.d_pnl_ci_low:+.2f}, "
            f"{r.d_pnl_ci_high:+.2f}] ({'significant' if pnl_sig else 'not significant'}); "
            f"Sharpe difference {r.d_sharpe:+.3f} [{r.d_sharpe_ci_low:+.3f}, "
            f"{r.d_sharpe_ci_high:+.3f}] (paired bootstrap)")
    corr = p["mid_move_correlation"].abs().max()
    crn = (f"The common seeds barely pair the episodes: the terminal mid moves of paired "
           f"episodes correlate at most at |r| = {corr:.2f}, because the agent's own orders are "
           f"part of the queues, so the books' events differ from the first different quote "
           f"on; the paired intervals are then as wide as those of independent samples."
           if corr < 0.3 else
           f"The common seeds pair the episodes partly: the terminal mid moves of paired "
           f"episodes correlate at |r| <= {corr:.2f}.")
    return ("; ".join(texts) + ". " + crn + " Caveat on the size of the effect: in this book "
            "the price moves only when a best queue empties, so the queue imbalance is by "
            "construction the main predictor of the next move and the micro-price learns it "
            "almost exactly (held-out check above); in markets where prices also move on "
            "information not visible in the queues, the reduction would be smaller. The "
            "training books carry no agent's order, while in the episodes the imbalance "
            "counts the agent's own orders (as the observation does).")


# --- display -------------------------------------------------------------------------------
def _adjustment_display(h: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "bucket": h["bucket"],
        "I range": [f"[{r.imbalance_low:.2f}, {r.imbalance_high:.2f})" for r in h.itertuples()],
        "train share": h["train_share"].map("{:.3f}".format),
        "G* ticks [95% CI]": [format_ci(r.G, r.G_ci_low, r.G_ci_high, 3)
                              for r in h.itertuples()],
        "g1": h["g1"].map("{:+.3f}".format),
        "weighted mid I - 1/2": h["weighted_mid"].map("{:+.3f}".format),
        "held-out mid change [95% CI]": [
            format_ci(r.holdout_move, r.holdout_ci_low, r.holdout_ci_high, 3)
            for r in h.itertuples()],
    })


def _summary_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy": s["policy"],
        "adverse sel. cost / fill [95% CI]": [
            format_ci(r.adverse_cost_per_fill, r.adverse_cost_ci_low, r.adverse_cost_ci_high, 3)
            for r in s.itertuples()],
        "adverse sel. / episode": [format_ci(r.adverse_selection, r.adverse_ci_low,
                                             r.adverse_ci_high) for r in s.itertuples()],
        "spread capture [95% CI]": [format_ci(r.spread_capture, r.spread_capture_ci_low,
                                              r.spread_capture_ci_high)
                                    for r in s.itertuples()],
        "fills": [format_ci(r.fills, r.fills_ci_low, r.fills_ci_high, 1)
                  for r in s.itertuples()],
        "PnL [95% CI]": [format_ci(r.pnl, r.pnl_ci_low, r.pnl_ci_high) for r in s.itertuples()],
        "Sharpe [95% CI]": [format_ci(r.sharpe, r.sharpe_ci_low, r.sharpe_ci_high, 3)
                            for r in s.itertuples()],
        "at best": s["at_best"].map("{:.0%}".format),
        "std q_T": s["std_terminal_inventory"].map("{:.2f}".format),
    })


def _paired_display(p: pd.DataFrame) -> pd.DataFrame:
    def ci(r, key, digits=2):
        return format_ci(getattr(r, key), getattr(r, f"{key}_ci_low"),
                         getattr(r, f"{key}_ci_high"), digits)

    return pd.DataFrame({
        "policy - reference": [f"{r.policy} - {r.reference}" for r in p.itertuples()],
        "d cost / fill": [ci(r, "d_cost_per_fill", 3) for r in p.itertuples()],
        "relative": p["relative_cost_change"].map("{:+.0%}".format),
        "d adverse sel. (+: smaller loss)": [ci(r, "d_adverse_selection")
                                             for r in p.itertuples()],
        "d spread capture": [ci(r, "d_spread_capture") for r in p.itertuples()],
        "d fills": [ci(r, "d_fills", 1) for r in p.itertuples()],
        "d PnL": [ci(r, "d_pnl") for r in p.itertuples()],
        "d Sharpe (bootstrap)": [ci(r, "d_sharpe", 3) for r in p.itertuples()],
        "mid-move corr.": p["mid_move_correlation"].map("{:.2f}".format),
    })


# --- figures -------------------------------------------------------------------------------
def _adjustment_figure(h: pd.DataFrame, settings: Settings):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    centre = (h["imbalance_low"] + h["imbalance_high"]) / 2
    ax.errorbar(centre, h["G"], yerr=Z95 * h["G_se"], fmt="o-", capsize=3,
                label="micro-price G*(I) (training)")
    ax.plot(centre, h["weighted_mid"], "s--", label="weighted mid I - 1/2")
    err = np.vstack([h["holdout_move"] - h["holdout_ci_low"],
                     h["holdout_ci_high"] - h["holdout_move"]])
    ax.errorbar(centre + 0.01, h["holdout_move"], yerr=err, fmt="x", capsize=2, color="k",
                label=f"held-out mid change {settings.check_horizon} steps ahead")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("imbalance I = Qb / (Qb + Qa) (bucket centre)")
    ax.set_ylabel("fair price - mid (ticks)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _summary_figure(s: pd.DataFrame):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    x = np.arange(len(s))
    for ax, (key, low, high, label) in zip(axes, (
            ("adverse_cost_per_fill", "adverse_cost_ci_low", "adverse_cost_ci_high",
             "adverse selection cost per fill (ticks)"),
            ("fills", "fills_ci_low", "fills_ci_high", "fills per episode"),
            ("pnl", "pnl_ci_low", "pnl_ci_high", "PnL per episode (ticks)")), strict=True):
        err = np.vstack([s[key] - s[low], s[high] - s[key]])
        ax.errorbar(x, s[key], yerr=err, fmt="o", capsize=4)
        ax.set_xticks(x, ["mid", "weighted\nmid", "micro-\nprice"])
        ax.set_title(label, fontsize=10)
    fig.tight_layout()
    return fig
