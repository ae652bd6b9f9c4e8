"""Recorded data as the arrays a replay steps through: book snapshots ("rows") and trades,
merged into one time-ordered event sequence per dataset (day), and cut into episode slices.

From a :class:`~asmm_env.data.LobsterData`: every message gives a row (the book after it);
a visible execution (event type 4) also gives a trade just before its row (aggressor side
``-direction``, its price and size). Hidden executions (type 5) and cross trades (type 6) are
not trades against the visible queue: only their rows count. From a
:class:`~asmm_env.data.TradesQuotes`: every quote row is a row, every print a trade; at one
timestamp trades come first (a quote stamped with a trade's time already reflects it, the
convention of :meth:`~asmm_env.data.TradesQuotes.market_orders`).

Prices are stored in ticks from an origin on the grid (exact comparisons), or as they are for
continuous prices (``tick_size`` 0), and *signed* per side (bids as they are, asks negated),
so that on either side a larger signed price is a more aggressive one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from asmm_env.data import LobsterData, TradesQuotes
from asmm_env.validation import check_non_negative

ROW, TRADE = 0, 1
_GRID_TOL = 1e-6      # prices within this many ticks of the grid are on it


@dataclass(frozen=True, eq=False)
class ReplayTape:
    """The data of a replay (module docstring). Arrays over all datasets, concatenated.

    Attributes
    ----------
    tick : float
        Grid step, currency units (0: continuous prices).
    origin : float
        A price on the grid: price = ``origin + units * tick`` (0 when continuous).
    levels : int
        Book levels per side.
    row_time : (R,) float
    row_px : (R, 2, L) float
        Signed prices of the levels (bid units, minus ask units); NaN where a level is empty.
    row_sz : (R, 2, L) float
        Shares at the levels (0 where empty).
    row_full : (R, 2) bool
        Whether a side shows all ``L`` levels (prices beyond its deepest are then unknown).
    row_mid : (R,) float
        Mid, currency units, carried over one-sided rows (and back to the first rows).
    row_best : (R, 2) float
        Best bid and ask, currency units, carried likewise.
    ev_time, ev_kind, ev_ref : (E,)
        Events in order: time, ``ROW`` or ``TRADE``, and the index of the row or trade.
    ev_before : (E,) int
        The row in effect just before each event (a dataset's first row before its first).
    tr_side, tr_px, tr_size : (M,)
        Trades: aggressor (+1 buy: hits asks), signed price on the side hit, shares.
    day_rows, day_events : (D + 1,) int
        Where each dataset's rows and events start (and the end).
    """

    tick: float
    origin: float
    levels: int
    row_time: np.ndarray
    row_px: np.ndarray
    row_sz: np.ndarray
    row_full: np.ndarray
    row_mid: np.ndarray
    row_best: np.ndarray
    ev_time: np.ndarray
    ev_kind: np.ndarray
    ev_ref: np.ndarray
    ev_before: np.ndarray
    tr_side: np.ndarray
    tr_px: np.ndarray
    tr_size: np.ndarray
    day_rows: np.ndarray
    day_events: np.ndarray

    @property
    def n_days(self) -> int:
        return len(self.day_rows) - 1

    @classmethod
    def from_data(cls, data: Any, tick_size: float | None = None) -> ReplayTape:
        """The tape of ``data``: a :class:`~asmm_env.data.LobsterData` or
        :class:`~asmm_env.data.TradesQuotes`, or a non-empty sequence of them (days; one
        kind of book depth is not required). ``tick_size``: the grid (currency units, >= 0;
        0 continuous); ``None``: the data's ``tick_size`` (LOBSTER read with one), else 0.

        Raises ``ValueError`` naming ``data`` (and its position in a sequence) for a wrong
        type, a dataset without a two-sided quote, or a price off the tick grid."""
        days = _as_days(data)
        if tick_size is None:
            ticks = {d.tick_size for d in days if isinstance(d, LobsterData)}
            ticks.discard(None)
            if len(ticks) > 1:
                raise ValueError(f"data: the datasets have different tick sizes {sorted(ticks)}; "
                                 f"pass tick_size")
            tick_size = ticks.pop() if ticks else 0.0
        check_non_negative("tick_size", tick_size)
        parts = [_day_arrays(d, i if len(days) > 1 else None) for i, d in enumerate(days)]
        levels = max(p["px"].shape[2] for p in parts)
        origin = 0.0
        if tick_size:
            first = parts[0]["px"]
            origin = float(first[np.isfinite(first)][0])
        rows, events = [0], [0]
        for p in parts:
            rows.append(rows[-1] + len(p["time"]))
            events.append(events[-1] + len(p["ev_time"]))
        px = np.full((rows[-1], 2, levels), np.nan)
        sz = np.zeros((rows[-1], 2, levels))
        for p, r0 in zip(parts, rows, strict=False):
            width = p["px"].shape[2]
            px[r0: r0 + len(p["time"]), :, :width] = p["px"]
            sz[r0: r0 + len(p["time"]), :, :width] = p["sz"]
        full = np.isfinite(px[:, :, levels - 1])
        trade_px = np.concatenate([p["tr_px"] for p in parts])
        if tick_size:
            px = _to_units(px, origin, tick_size, "data: a quote price")
            trade_px = _to_units(trade_px, origin, tick_size, "data: a trade price")
        sign = np.array([1.0, -1.0])
        trade_side = np.concatenate([p["tr_side"] for p in parts])
        n_trades = np.cumsum([0] + [len(p["tr_px"]) for p in parts])
        ev_ref = np.concatenate([np.where(p["ev_kind"] == ROW, p["ev_ref"] + r0,
                                          p["ev_ref"] + m0)
                                 for p, r0, m0 in zip(parts, rows, n_trades, strict=False)])
        before = []
        for p, r0 in zip(parts, rows, strict=False):
            seen = np.where(p["ev_kind"] == ROW, p["ev_ref"] + r0, r0)
            seen = np.maximum.accumulate(seen)
            before.append(np.concatenate([[r0], seen[:-1]]))
        return cls(
            tick=float(tick_size), origin=origin, levels=levels,
            row_time=np.concatenate([p["time"] for p in parts]),
            row_px=px * sign[None, :, None], row_sz=sz, row_full=full,
            row_mid=np.concatenate([p["mid"] for p in parts]),
            row_best=np.concatenate([p["best"] for p in parts]),
            ev_time=np.concatenate([p["ev_time"] for p in parts]),
            ev_kind=np.concatenate([p["ev_kind"] for p in parts]).astype(np.int8),
            ev_ref=ev_ref.astype(np.int64),
            ev_before=np.concatenate(before).astype(np.int64),
            tr_side=trade_side, tr_px=trade_px * np.where(trade_side > 0, -1.0, 1.0),
            tr_size=np.concatenate([p["tr_size"] for p in parts]),
            day_rows=np.array(rows), day_events=np.array(events))

    def to_price(self, units: np.ndarray) -> np.ndarray:
        """Unsigned units to currency units."""
        return self.origin + units * self.tick if self.tick else units

    def to_units(self, price: np.ndarray, side: int) -> np.ndarray:
        """Currency prices to units on the grid, rounded away from the mid: down for a bid
        (``side`` 0), up for an ask (1)."""
        if not self.tick:
            return price
        x = (price - self.origin) / self.tick
        return np.floor(x + 1e-9) if side == 0 else np.ceil(x - 1e-9)

    def day_span(self, day: int, start: float | None = None) -> tuple[float, float]:
        """Start (``start``, or the first row's time) and last event time of dataset
        ``day``."""
        t0 = self.row_time[self.day_rows[day]] if start is None else start
        e1 = self.day_events[day + 1] - 1
        return float(t0), float(max(self.ev_time[e1], t0))

    def slices(self, T: float, dt: float = 0.0,
               start: float | None = None) -> list[tuple[int, float]]:
        """Consecutive windows ``(day, start time)`` of length ``T`` from ``start`` (default:
        each dataset's first row); the last window of a day is kept if the data end less
        than ``dt`` before it does (a book standing still after its last event)."""
        out = []
        for day in range(self.n_days):
            t0, t1 = self.day_span(day, start)
            n = int(np.floor((t1 - t0 + dt * (1 - 1e-9)) / T + 1e-9))
            out += [(day, t0 + i * T) for i in range(n)]
        return out

    def max_depth(self) -> float:
        """The largest distance from the mid to the deepest level shown, currency units."""
        deepest = np.where(np.isfinite(self.row_px), self.row_px, np.inf).min(axis=2)
        found = np.isfinite(deepest)
        bid = self.row_mid - self.to_price(np.where(found[:, 0], deepest[:, 0], 0.0))
        ask = self.to_price(np.where(found[:, 1], -deepest[:, 1], 0.0)) - self.row_mid
        depths = np.concatenate([bid[found[:, 0]], ask[found[:, 1]]])
        return float(depths.max()) if depths.size else 1.0


def _as_days(data: Any) -> list:
    kinds = (LobsterData, TradesQuotes)
    if isinstance(data, kinds):
        return [data]
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence) or not data:
        raise ValueError(f"data must be a LobsterData, a TradesQuotes or a non-empty sequence "
                         f"of them (read files with asmm_env.data.read_lobster / "
                         f"read_trades_quotes), got {type(data).__name__}")
    for i, d in enumerate(data):
        if not isinstance(d, kinds):
            raise ValueError(f"data[{i}] must be a LobsterData or a TradesQuotes, got "
                             f"{type(d).__name__}")
    return list(data)


def _day_arrays(data: Any, position: int | None) -> dict[str, np.ndarray]:
    """Rows, trades and the merged event order of one dataset (prices in currency units)."""
    name = "data" if position is None else f"data[{position}]"
    if isinstance(data, LobsterData):
        book, levels = data.book, data.levels
        time = data.messages["time"].to_numpy(np.float64)
        cols = [(f"bid_price_{j}", f"bid_size_{j}", f"ask_price_{j}", f"ask_size_{j}")
                for j in range(1, levels + 1)]
        m = data.messages
        ex = (m["event_type"] == 4).to_numpy()
        tr_time = time[ex]
        tr_side = -m["direction"].to_numpy()[ex].astype(np.float64)
        tr_px = m["price"].to_numpy(np.float64)[ex]
        tr_size = m["size"].to_numpy(np.float64)[ex]
        # Message i: its trade (if an execution), then its row.
        n_trades_upto = np.cumsum(ex)
        row_pos = np.arange(len(m)) + n_trades_upto
        n_ev = len(m) + int(ex.sum())
        kind = np.full(n_ev, ROW)
        ref = np.empty(n_ev, dtype=np.int64)
        ref[row_pos] = np.arange(len(m))
        kind[row_pos[ex] - 1] = TRADE
        ref[row_pos[ex] - 1] = np.arange(int(ex.sum()))
        ev_time = np.empty(n_ev)
        ev_time[row_pos] = time
        ev_time[row_pos[ex] - 1] = tr_time
    else:
        book, levels = data.quotes, data.levels
        time = book["time"].to_numpy(np.float64)
        cols = [("bid_price" + s, "bid_size" + s, "ask_price" + s, "ask_size" + s)
                for s in [""] + [f"_{j}" for j in range(2, levels + 1)]]
        t = data.trades
        tr_time = t["time"].to_numpy(np.float64)
        tr_side = t["side"].to_numpy().astype(np.float64)
        tr_px = t["price"].to_numpy(np.float64)
        tr_size = t["size"].to_numpy(np.float64)
        all_time = np.concatenate([tr_time, time])
        kind_all = np.concatenate([np.full(tr_time.size, TRADE), np.full(time.size, ROW)])
        ref_all = np.concatenate([np.arange(tr_time.size), np.arange(time.size)])
        order = np.lexsort((ref_all, kind_all == ROW, all_time))
        ev_time, kind, ref = all_time[order], kind_all[order], ref_all[order]
    px = np.full((len(book), 2, levels), np.nan)
    sz = np.zeros((len(book), 2, levels))
    for j, (bp, bs, ap, az) in enumerate(cols):
        px[:, 0, j] = book[bp].to_numpy(np.float64)
        px[:, 1, j] = book[ap].to_numpy(np.float64)
        sz[:, 0, j] = book[bs].to_numpy(np.float64)
        sz[:, 1, j] = book[az].to_numpy(np.float64)
    best = pd.DataFrame(px[:, :, 0]).ffill().bfill().to_numpy()
    if len(book) == 0 or not np.isfinite(best).all():
        raise ValueError(f"{name}: no row with both a bid and an ask: nothing to replay")
    mid_raw = 0.5 * (px[:, 0, 0] + px[:, 1, 0])
    mid = pd.Series(mid_raw).ffill().bfill().to_numpy()
    return {"time": time, "px": px, "sz": sz, "mid": mid, "best": best, "tr_side": tr_side,
            "tr_px": tr_px, "tr_size": tr_size, "ev_time": ev_time, "ev_kind": kind,
            "ev_ref": ref}


def _to_units(price: np.ndarray, origin: float, tick: float, what: str) -> np.ndarray:
    x = (price - origin) / tick
    units = np.round(x)
    with np.errstate(invalid="ignore"):
        off = np.abs(x - units) > _GRID_TOL
    if off.any():
        bad = price[off].reshape(-1)[0]
        raise ValueError(f"{what} {bad!r} is not on the tick grid (tick_size {tick!r} from "
                         f"{origin!r}): pass the data's tick_size")
    return units
