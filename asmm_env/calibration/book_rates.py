"""Event rates of the queue-reactive book (:class:`asmm_env.lob.params.BookParams`) from
LOBSTER-style messages and book states.

Model (HLR 2015's queue-reactive family as ``BookParams`` parametrises it). Levels are ticks
behind the best: level ``j`` of the bid is the price ``best_bid - j tick``, of the ask
``best_ask + j tick``, ``j = 0 .. n_levels - 1``; queue sizes are in orders of
``order_size`` shares. At every level of each side:

    limit orders join          at rate L                                 (limit_rate)
    each resting order leaves  at rate C                                 (cancel_rate)
    market orders hit the best at rate M (1 + market_boost 1{q <= small_queue})  (q: best queue)

and a queue newly exposed by a price move holds ``1 + Poisson(refill)`` orders.

Estimators (Poisson maximum likelihood; every rate is a count over an exposure). With the
book after message i in force until message i + 1, and trading halts left out:

    L = (limit orders at fitted levels) / (time each level was visible, summed)
    C = (cancellations at fitted levels) / (integral of their queue sizes over time)
    M = (market orders at a best queue > small_queue) / (time the best queue was that large)
    1 + market_boost = [same at q <= small_queue] / M
    refill = mean(newly exposed far-level queue) - 1

with standard errors ``sqrt(count) / exposure`` (the inverse Fisher information of a Poisson
process with intensity ``rate x exposure``), ``1 + boost`` from the two independent counts by
the delta method on the log scale, and refill's from the sample variance. A limit order or a
cancellation is placed at the level of the book just before it; one message is one event
(a partial cancellation removes one order of the model). Limit orders inside the spread and
events beyond the fitted levels are counted in ``n_unplaced`` and left out.

References
----------
Huang, Lehalle & Rosenbaum (2015), Simulating and analyzing order book data: the
queue-reactive model, JASA 110(509) 107-122 (intensities as functions of the queue size,
estimated as event counts over the time spent in each state). Cont, Stoikov & Talreja (2010),
A stochastic model for order book dynamics, Operations Research 58(3) 549-563 (arrival rates
per level, and the cancellation rate per order as a count over the queue's time integral).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from asmm_env.calibration._results import Estimate, check_confidence, check_positive
from asmm_env.data.lobster import LobsterData, execution_runs

logger = logging.getLogger(__name__)
_SIDES = ("bid", "ask")


@dataclass(frozen=True, eq=False)
class BookRatesFit:
    """Event rates of the queue-reactive book, pooled over sides and levels as
    :class:`asmm_env.lob.params.BookParams` has them, plus per-level and per-queue tables.

    Attributes
    ----------
    limit_rate : Estimate
        L, limit orders per unit time at each level of each side.
    cancel_rate : Estimate
        C, cancellations per resting order per unit time.
    market_rate : Estimate
        M, market orders per unit time on each side while the best queue holds more than
        ``small_queue`` orders.
    market_boost : Estimate
        Relative increase of the market order rate at a best queue of at most
        ``small_queue`` orders (NaN if the data never show both states with orders).
    refill : Estimate
        Mean size, in orders, of a queue newly exposed at the far level ``n_levels - 1`` by a
        price move away from the spread, minus 1 (NaN with fewer than 2 such moves).
    small_queue : int
    tick_size : float
        Price units.
    n_levels : int
    order_size : float
        Shares per order.
    duration : float
        Exposure time (trading halts removed), time units.
    levels : pandas.DataFrame
        Per side and level: ``side, level, limit_count, time_visible, limit_rate, limit_se,
        cancel_count, queue_exposure`` (orders x time), ``cancel_rate, cancel_se,
        mean_queue`` (orders).
    market_by_queue : pandas.DataFrame
        Market order rate by best-queue size (HLR 2015's intensity curve): ``side,
        queue_size`` (orders, rounded up), ``time, count, rate, rate_se``.
    n_market_orders : int
        Market orders counted.
    n_unplaced : int
        Limit orders and cancellations outside the fitted levels, left out.
    """

    limit_rate: Estimate
    cancel_rate: Estimate
    market_rate: Estimate
    market_boost: Estimate
    refill: Estimate
    small_queue: int
    tick_size: float
    n_levels: int
    order_size: float
    duration: float
    levels: pd.DataFrame
    market_by_queue: pd.DataFrame
    n_market_orders: int
    n_unplaced: int

    def book_params_kwargs(self) -> dict:
        """The estimates as keyword arguments of :class:`asmm_env.lob.params.BookParams`
        (``tick_size, n_levels, order_size, limit_rate, cancel_rate, market_rate,
        market_boost, small_queue`` and ``refill`` when estimated). A negative
        ``market_boost`` or ``refill`` estimate is clipped to 0 (BookParams cannot represent
        it) and logged."""
        out = {"tick_size": self.tick_size, "n_levels": self.n_levels,
               "order_size": self.order_size, "limit_rate": self.limit_rate.value,
               "cancel_rate": self.cancel_rate.value, "market_rate": self.market_rate.value,
               "small_queue": self.small_queue}
        for name in ("market_boost", "refill"):
            value = getattr(self, name).value
            if math.isnan(value):
                continue
            if value < 0:
                logger.warning("%s estimate %.4g is negative; clipped to 0 for BookParams",
                               name, value)
                value = 0.0
            out[name] = value
        return out


def fit_book_rates(data: LobsterData, *, tick_size: float | None = None,
                   n_levels: int | None = None, order_size: float = 1.0,
                   small_queue: int = 2, confidence: float = 0.95) -> BookRatesFit:
    """Estimate the queue-reactive book's event rates (model and formulas: module docstring).

    Parameters
    ----------
    data : LobsterData
        Messages and book states (:func:`asmm_env.data.read_lobster`).
    tick_size : float, optional
        Tick, price units (> 0); default ``data.tick_size`` (one of them is needed: levels
        are ticks behind the best).
    n_levels : int, optional
        Levels fitted per side (>= 1); default ``data.levels``. A tick level counts as
        visible while the file shows it (within its deepest level, or the side has fewer
        levels than the file's).
    order_size : float
        Shares per order of the model (> 0): queue sizes are ``shares / order_size``.
    small_queue : int
        Best-queue size, in orders, at or below which the market order rate is boosted
        (>= 0).
    confidence : float
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    BookRatesFit

    Raises
    ------
    ValueError
        On bad arguments (named), no tick size, fewer than two messages or no time outside
        halts, or a limit order or cancellation price off the tick grid (naming the row).
    """
    if not isinstance(data, LobsterData):
        raise ValueError(f"data must be a LobsterData, got {type(data).__name__}")
    confidence = check_confidence(confidence)
    tick = tick_size if tick_size is not None else data.tick_size
    if tick is None:
        raise ValueError("tick_size is needed (levels are ticks behind the best): pass it, or "
                         "read the data with read_lobster(..., tick_size=...)")
    tick = check_positive("tick_size", tick, "price units")
    K = data.levels if n_levels is None else n_levels
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
        raise ValueError(f"n_levels must be an integer >= 1, got {n_levels!r}")
    order_size = check_positive("order_size", order_size, "shares")
    if (isinstance(small_queue, bool) or not isinstance(small_queue, numbers.Integral)
            or small_queue < 0):
        raise ValueError(f"small_queue must be an integer >= 0, got {small_queue!r}")
    m, book = data.messages, data.book
    n = len(m)
    if n < 2:
        raise ValueError(f"need at least 2 messages, got {n}")
    active = ~data.halted()[:-1]                 # interval after row i, i = 0 .. n-2
    dt = np.diff(m["time"].to_numpy()) * active
    duration = float(dt.sum())
    if duration <= 0:
        raise ValueError("the messages span no time outside trading halts")
    best = {s: book[f"{s}_price_1"].to_numpy() for s in _SIDES}
    queues, visible = {}, {}
    for s in _SIDES:
        queues[s], visible[s] = _tick_levels(book, s, best[s], data.levels, K, tick,
                                             order_size)

    # Limit orders and cancellations, placed on the book just before them.
    event = m["event_type"].to_numpy()[1:]
    price = m["price"].to_numpy()[1:]
    side_of = np.where(m["direction"].to_numpy()[1:] == 1, 0, 1)      # 0 bid, 1 ask
    pre = np.arange(n - 1)
    counts = {kind: {s: np.zeros(K, dtype=np.int64) for s in _SIDES}
              for kind in ("limit", "cancel")}
    n_unplaced = 0
    for kind, types in (("limit", (1,)), ("cancel", (2, 3))):
        for i, s in enumerate(_SIDES):
            mask = np.isin(event, types) & active & (side_of == i)
            rows = pre[mask]
            depth = (best[s][rows] - price[mask]) if s == "bid" else (price[mask]
                                                                      - best[s][rows])
            with np.errstate(invalid="ignore"):
                j_float = depth / tick
                off = np.abs(j_float - np.round(j_float)) > 1e-6
            if off.any():
                bad = int(rows[np.flatnonzero(off)[0]] + 1)
                raise ValueError(f"{data.message_source}: row {bad}, column 'price': "
                                 f"{float(m['price'].iloc[bad])!r} is not on the tick grid "
                                 f"(tick_size {tick!r})")
            j = np.where(np.isnan(j_float), -1, np.round(j_float)).astype(np.int64)
            placed = (j >= 0) & (j < K)
            placed[placed] = visible[s][rows[placed], j[placed]]
            counts[kind][s] = np.bincount(j[placed], minlength=K)
            n_unplaced += int(np.sum(~placed))

    level_rows = []
    for s in _SIDES:
        t_vis = dt @ visible[s][:-1]
        exposure = dt @ (queues[s][:-1] * visible[s][:-1])
        for j in range(K):
            lc, cc = counts["limit"][s][j], counts["cancel"][s][j]
            level_rows.append({
                "side": s, "level": j, "limit_count": int(lc), "time_visible": t_vis[j],
                "limit_rate": _ratio(lc, t_vis[j]), "limit_se": _ratio(math.sqrt(lc), t_vis[j]),
                "cancel_count": int(cc), "queue_exposure": exposure[j],
                "cancel_rate": _ratio(cc, exposure[j]),
                "cancel_se": _ratio(math.sqrt(cc), exposure[j]),
                "mean_queue": _ratio(exposure[j], t_vis[j]),
            })
    levels = pd.DataFrame(level_rows)
    limit_rate = _poisson(levels["limit_count"].sum(), levels["time_visible"].sum(),
                          confidence)
    cancel_rate = _poisson(levels["cancel_count"].sum(), levels["queue_exposure"].sum(),
                           confidence)

    # Market orders against the best queue they met.
    idx, starts = execution_runs(m, (4,))
    first = idx[starts]
    first = first[first >= 1]
    keep = active[first - 1]
    first = first[keep]
    hit = np.where(m["direction"].to_numpy()[first] == 1, 0, 1)        # side of the book hit
    n_small = n_large = 0
    t_small = t_large = 0.0
    by_queue = []
    for i, s in enumerate(_SIDES):
        q_rows = queues[s][:-1, 0]
        present = ~np.isnan(best[s][:-1])
        q_at = queues[s][first[hit == i] - 1, 0]
        small_rows = present & (q_rows <= small_queue)
        t_small += float(dt @ small_rows)
        t_large += float(dt @ (present & ~small_rows))
        n_small += int(np.sum(q_at <= small_queue))
        n_large += int(np.sum(q_at > small_queue))
        bucket = np.ceil(q_rows - 1e-9).astype(np.int64)
        time_by = np.bincount(bucket[present], weights=dt[present])
        count_by = np.bincount(np.ceil(q_at - 1e-9).astype(np.int64),
                               minlength=time_by.size)[: time_by.size]
        for q in np.flatnonzero(time_by > 0):
            by_queue.append({"side": s, "queue_size": int(q), "time": time_by[q],
                             "count": int(count_by[q]), "rate": count_by[q] / time_by[q],
                             "rate_se": math.sqrt(count_by[q]) / time_by[q]})
    market_rate = _poisson(n_large, t_large, confidence)
    market_boost = _boost(n_small, t_small, n_large, t_large, confidence)
    refill = _refill(queues, visible, best, event, active, K, tick, confidence)
    return BookRatesFit(limit_rate=limit_rate, cancel_rate=cancel_rate,
                        market_rate=market_rate, market_boost=market_boost, refill=refill,
                        small_queue=int(small_queue), tick_size=tick, n_levels=int(K),
                        order_size=order_size, duration=duration, levels=levels,
                        market_by_queue=pd.DataFrame(by_queue, columns=[
                            "side", "queue_size", "time", "count", "rate", "rate_se"]),
                        n_market_orders=int(first.size), n_unplaced=n_unplaced)


def _tick_levels(book: pd.DataFrame, side: str, best: np.ndarray, file_levels: int, K: int,
                 tick: float, order_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Queues in orders at tick levels 0 .. K-1 behind the best, ``(n_rows, K)``, and whether
    each tick level is visible in the file at that row."""
    n = len(book)
    queues = np.zeros((n, K))
    rows = np.arange(n)
    deepest = np.full(n, np.nan)
    for level in range(1, file_levels + 1):
        p = book[f"{side}_price_{level}"].to_numpy()
        size = book[f"{side}_size_{level}"].to_numpy() / order_size
        depth = (best - p) if side == "bid" else (p - best)
        with np.errstate(invalid="ignore"):
            j = np.round(depth / tick)
        ok = ~np.isnan(j) & (j >= 0) & (j < K)
        queues[rows[ok], j[ok].astype(np.int64)] += size[ok]
        if level == file_levels:
            deepest = j
    whole_side = np.isnan(book[f"{side}_price_{file_levels}"].to_numpy())
    with np.errstate(invalid="ignore"):
        within = np.arange(K)[None, :] <= deepest[:, None]
    visible = (whole_side[:, None] | within) & ~np.isnan(best)[:, None]
    return queues, visible


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else math.nan


def _poisson(count: int, exposure: float, confidence: float) -> Estimate:
    if exposure <= 0 or count == 0:
        value = 0.0 if exposure > 0 else math.nan
        return Estimate(value, math.nan, math.nan, math.nan, confidence)
    return Estimate.log_wald(count / exposure, math.sqrt(count) / exposure, confidence)


def _boost(n_small: int, t_small: float, n_large: int, t_large: float,
           confidence: float) -> Estimate:
    if min(n_small, n_large) == 0 or min(t_small, t_large) <= 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, confidence)
    ratio = (n_small / t_small) / (n_large / t_large)
    se_log = math.sqrt(1.0 / n_small + 1.0 / n_large)
    ci = Estimate.log_wald(ratio, ratio * se_log, confidence)
    return Estimate(ratio - 1.0, ratio * se_log, ci.ci_low - 1.0, ci.ci_high - 1.0, confidence)


def _refill(queues: dict, visible: dict, best: dict, event: np.ndarray, active: np.ndarray,
            K: int, tick: float, confidence: float) -> Estimate:
    """Queues brought into the K-tick window at its far end by a move of the best away from
    the spread after a cancellation or an execution."""
    samples = []
    depleting = np.isin(event, (2, 3, 4)) & active
    for s in _SIDES:
        b = best[s]
        with np.errstate(invalid="ignore"):
            move = (b[:-1] - b[1:]) if s == "bid" else (b[1:] - b[:-1])
            ticks = np.round(move / tick)
        moved = depleting & (ticks >= 1)
        rows = np.flatnonzero(moved) + 1
        for j in range(K):
            new = (j >= K - ticks[rows - 1]) & visible[s][rows, j]
            samples.append(queues[s][rows[new], j])
    x = np.concatenate(samples) if samples else np.array([])
    if x.size < 2:
        return Estimate(math.nan, math.nan, math.nan, math.nan, confidence)
    return Estimate.wald(float(x.mean()) - 1.0, float(x.std(ddof=1)) / math.sqrt(x.size),
                         confidence)
