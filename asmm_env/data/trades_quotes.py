"""A generic trades table and quotes table (CSV or Parquet, or DataFrames): reader, writer, and
the market orders they contain.

Trades: ``timestamp, side, price, size``; ``side`` is the aggressor's, +1 (or "buy", "b") for
a buyer-initiated trade that lifts the ask, -1 (or "sell", "s") for a seller-initiated one.
Quotes: ``timestamp, bid_price, bid_size, ask_price, ask_size`` for the best level and
optionally ``bid_price_2, bid_size_2, ask_price_2, ask_size_2``, ... for deeper levels; an
empty level has a missing (NaN) price and size 0 or missing. Timestamps are numbers (seconds)
or date-times (ISO 8601 strings in a CSV); both tables use the same kind. Other columns are
dropped. Prices in currency units, sizes in shares. Column conventions in memory:
:mod:`asmm_env.data.columns`.

Parquet goes through :func:`pandas.read_parquet`, so it needs pyarrow or fastparquet
(``pip install "asmm_env[parquet]"``).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asmm_env.data._checks import (
    Where,
    check_levels,
    check_non_negative,
    check_not_crossed,
    check_sorted,
    first_true,
    fmt,
    numeric,
    require_columns,
)
from asmm_env.data.columns import (
    MARKET_ORDER_COLUMNS,
    QUOTE_COLUMNS,
    TRADE_COLUMNS,
    quote_level_columns,
)

_BUY = {"buy", "b", "+1", "1"}
_SELL = {"sell", "s", "-1"}
_LEVEL_COLUMN = re.compile(r"(?:bid|ask)_(?:price|size)_(\d+)")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True, eq=False)
class TradesQuotes:
    """A trades table and a quotes table in memory (build it with :func:`read_trades_quotes`
    or :meth:`from_frames`, which validate; the constructor itself does not).

    Attributes
    ----------
    trades : pandas.DataFrame
        ``timestamp`` (as given), ``time`` (float seconds), ``side`` (+1 buyer-initiated,
        -1 seller-initiated), ``price`` (currency units), ``size`` (shares).
    quotes : pandas.DataFrame
        ``timestamp``, ``time``, then ``bid_price, bid_size, ask_price, ask_size`` and the
        same with suffix ``_j`` for levels j = 2 .. ``levels``.
    levels : int
        Quote levels per side.
    time_origin : pandas.Timestamp or None
        For date-time timestamps, the midnight that ``time`` counts seconds from (the date of
        the earliest row of either table); None for numeric timestamps.
    trades_source, quotes_source : str
        Where the tables came from, named in errors.
    """

    trades: pd.DataFrame
    quotes: pd.DataFrame
    levels: int
    time_origin: pd.Timestamp | None = None
    trades_source: str = "trades DataFrame"
    quotes_source: str = "quotes DataFrame"

    @classmethod
    def from_frames(cls, trades: pd.DataFrame, quotes: pd.DataFrame) -> TradesQuotes:
        """Validate a trades and a quotes DataFrame (columns as in the module docstring) and
        return typed copies.

        Raises
        ------
        ValueError
            On malformed input, naming the table, the row and the column: missing columns,
            non-numeric or missing values, unknown sides, unsorted timestamps, negative or
            zero trade sizes, negative quote sizes, crossed quotes (best bid >= best ask),
            levels out of price order.
        """
        return cls._validated(trades, quotes, Where("trades DataFrame"),
                              Where("quotes DataFrame"))

    @classmethod
    def _validated(cls, trades: pd.DataFrame, quotes: pd.DataFrame, wt: Where,
                   wq: Where) -> TradesQuotes:
        for name, frame in (("trades", trades), ("quotes", quotes)):
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(f"{name} must be a pandas DataFrame or a path, got "
                                 f"{type(frame).__name__}")
        require_columns(trades, TRADE_COLUMNS, wt)
        require_columns(quotes, QUOTE_COLUMNS, wq)
        levels = max([1] + [int(m[1]) for c in map(str, quotes.columns)
                            if (m := _LEVEL_COLUMN.fullmatch(c))])
        for j in range(2, levels + 1):
            require_columns(quotes, quote_level_columns(j), wq)
        t_stamp, t_kind = _timestamps(trades["timestamp"], wt)
        q_stamp, q_kind = _timestamps(quotes["timestamp"], wq)
        if len(trades) and len(quotes) and t_kind != q_kind:
            raise wt.error(0, "timestamp", f"trades have {t_kind} timestamps but quotes have "
                                           f"{q_kind} ones; use one kind for both")
        origin = None
        if "datetime" in (t_kind, q_kind):
            firsts = [s.iloc[0] for s in (t_stamp, q_stamp) if len(s)]
            origin = min(firsts).normalize()
        t_time, q_time = _seconds(t_stamp, origin), _seconds(q_stamp, origin)
        check_sorted(t_time, "timestamp", wt)
        check_sorted(q_time, "timestamp", wq)
        side = _sides(trades["side"], wt)
        price = numeric(trades, "price", wt)
        bad = first_true(~(price > 0))
        if bad is not None:
            raise wt.error(bad, "price", f"price must be > 0, got {fmt(price[bad])}")
        size = numeric(trades, "size", wt)
        check_non_negative(size, "size", wt)
        bad = first_true(size == 0)
        if bad is not None:
            raise wt.error(bad, "size", "a trade of size 0")
        trades_out = pd.DataFrame({"timestamp": t_stamp.to_numpy(), "time": t_time,
                                   "side": side, "price": price, "size": size})
        quotes_out = {"timestamp": q_stamp.to_numpy(), "time": q_time}
        sides = {"bid": ([], [], [], []), "ask": ([], [], [], [])}
        for j in range(1, levels + 1):
            bp, bs, ap, az = quote_level_columns(j)
            for side_name, pc, sc in (("bid", bp, bs), ("ask", ap, az)):
                p = numeric(quotes, pc, wq, allow_missing=True)
                s = numeric(quotes, sc, wq, allow_missing=True)
                check_non_negative(s, sc, wq)
                bad = first_true(~np.isnan(p) & np.isnan(s))
                if bad is not None:
                    raise wq.error(bad, sc, "missing value (the level has a price)")
                with np.errstate(invalid="ignore"):
                    bad = first_true(~np.isnan(p) & (p <= 0))
                if bad is not None:
                    raise wq.error(bad, pc, f"price must be > 0, got {fmt(p[bad])}")
                s = np.where(np.isnan(p), np.where(np.isnan(s), 0.0, s), s)
                quotes_out[pc], quotes_out[sc] = p, s
                for bucket, value in zip(sides[side_name], (p, s, pc, sc), strict=True):
                    bucket.append(value)
        for side_name, (prices, sizes, pcs, scs) in sides.items():
            check_levels(np.column_stack(prices), np.column_stack(sizes), side_name, pcs, scs,
                         wq)
        check_not_crossed(quotes_out["bid_price"], quotes_out["ask_price"], "bid_price", wq)
        columns = ["timestamp", "time"] + [c for j in range(1, levels + 1)
                                           for c in quote_level_columns(j)]
        return cls(trades_out, pd.DataFrame({c: quotes_out[c] for c in columns}), levels,
                   time_origin=origin, trades_source=wt.source, quotes_source=wq.source)

    def top_of_book(self) -> pd.DataFrame:
        """The best quotes at every quote row: ``time`` (s), ``best_bid``, ``bid_size``,
        ``best_ask``, ``ask_size``, ``mid = (best_bid + best_ask) / 2``,
        ``spread = best_ask - best_bid`` (NaN while a side is empty)."""
        q = self.quotes
        bid, ask = q["bid_price"].to_numpy(), q["ask_price"].to_numpy()
        return pd.DataFrame({"time": q["time"].to_numpy(), "best_bid": bid,
                             "bid_size": q["bid_size"].to_numpy(), "best_ask": ask,
                             "ask_size": q["ask_size"].to_numpy(), "mid": 0.5 * (bid + ask),
                             "spread": ask - bid})

    @property
    def mid(self) -> pd.Series:
        """Mid at every quote row, currency units."""
        return self.top_of_book()["mid"]

    @property
    def spread(self) -> pd.Series:
        """Quoted spread at every quote row, currency units."""
        return self.top_of_book()["spread"]

    def duration(self) -> float:
        """From the first to the last row of either table, seconds."""
        times = [t for t in (self.trades["time"], self.quotes["time"]) if len(t)]
        if not times:
            return 0.0
        return float(max(t.iloc[-1] for t in times) - min(t.iloc[0] for t in times))

    def market_orders(self) -> pd.DataFrame:
        """The market orders: one per run of consecutive trades with one timestamp and one
        side.

        Returns
        -------
        pandas.DataFrame
            Columns ``time, side, size, n_fills, worst_price, mid_before, reach, censored``
            (see :mod:`asmm_env.data.columns`). ``mid_before`` is the mid of the last quote
            strictly before the order's timestamp (a quote stamped with the trade's own time
            is taken as already reflecting it); ``reach`` is NaN when there is no such quote or
            it is one-sided. Trade prints show every execution, so nothing is censored.
        """
        t = self.trades
        if len(t) == 0:
            frame = pd.DataFrame({c: np.array([], dtype=np.float64)
                                  for c in MARKET_ORDER_COLUMNS})
            return frame.astype({"side": np.int8, "n_fills": np.int64, "censored": bool})
        time, side = t["time"].to_numpy(), t["side"].to_numpy()
        price, size = t["price"].to_numpy(), t["size"].to_numpy()
        new = np.ones(len(t), dtype=bool)
        new[1:] = (time[1:] != time[:-1]) | (side[1:] != side[:-1])
        starts = np.flatnonzero(new)
        order_side = side[starts]
        worst = order_side * np.maximum.reduceat(side * price, starts)
        q_time = self.quotes["time"].to_numpy()
        pos = np.searchsorted(q_time, time[starts], side="left") - 1
        mid = self.mid.to_numpy()
        mid_before = np.where(pos >= 0, mid[np.maximum(pos, 0)] if mid.size else np.nan,
                              np.nan)
        return pd.DataFrame({
            "time": time[starts],
            "side": order_side.astype(np.int8),
            "size": np.add.reduceat(size, starts),
            "n_fills": np.diff(np.append(starts, len(t))).astype(np.int64),
            "worst_price": worst,
            "mid_before": mid_before,
            "reach": order_side * (worst - mid_before),
            "censored": np.zeros(starts.size, dtype=bool),
        })


def read_trades_quotes(trades: str | os.PathLike | pd.DataFrame,
                       quotes: str | os.PathLike | pd.DataFrame) -> TradesQuotes:
    """Read a trades table and a quotes table.

    Parameters
    ----------
    trades : path or pandas.DataFrame
        A ``.csv`` (with a header row), ``.parquet`` / ``.pq`` file, or a DataFrame, with
        columns ``timestamp`` (seconds, or date-times), ``side`` (aggressor: +1/"buy",
        -1/"sell"), ``price`` (currency units, > 0), ``size`` (shares, > 0).
    quotes : path or pandas.DataFrame
        Same kinds, with ``timestamp, bid_price, bid_size, ask_price, ask_size`` and
        optionally deeper levels ``bid_price_2, bid_size_2, ask_price_2, ask_size_2``, ...

    Returns
    -------
    TradesQuotes
        Typed copies with a float ``time`` column in seconds (see :class:`TradesQuotes`).

    Raises
    ------
    ValueError
        Naming the file (or DataFrame), the row (from 0; for a CSV also the line, from 1) and
        the column, on malformed input; see :meth:`TradesQuotes.from_frames`.
    ImportError
        Reading Parquet without pyarrow or fastparquet installed.
    """
    t_frame, t_where = _load(trades, "trades")
    q_frame, q_where = _load(quotes, "quotes")
    return TradesQuotes._validated(t_frame, q_frame, t_where, q_where)


def write_trades_quotes(trades: pd.DataFrame, quotes: pd.DataFrame,
                        trades_path: str | os.PathLike, quotes_path: str | os.PathLike
                        ) -> tuple[Path, Path]:
    """Write a trades and a quotes DataFrame (the reader's columns; validated first) to CSV or
    Parquet, chosen by each path's suffix (``.csv``, ``.parquet``, ``.pq``).

    The ``time`` column is not written (the reader derives it from ``timestamp``); the sides
    are written as +1 / -1. Returns the two paths.
    """
    data = TradesQuotes.from_frames(trades, quotes)
    out = []
    for frame, path, name in ((data.trades, trades_path, "trades_path"),
                              (data.quotes, quotes_path, "quotes_path")):
        path = Path(path)
        kind = _SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"{name} must end in .csv, .parquet or .pq, got {str(path)!r}")
        if not path.parent.is_dir():
            raise ValueError(f"{name}: directory {str(path.parent)!r} does not exist")
        frame = frame.drop(columns="time")
        if kind == "csv":
            frame.to_csv(path, index=False)
        else:
            with _parquet_engine_hint():
                frame.to_parquet(path, index=False)
        out.append(path)
    return out[0], out[1]


# --- helpers ------------------------------------------------------------------------------


def _load(table, name: str) -> tuple[pd.DataFrame, Where]:
    if isinstance(table, pd.DataFrame):
        return table, Where(f"{name} DataFrame")
    if not isinstance(table, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path or a pandas DataFrame, got "
                         f"{type(table).__name__}")
    path = Path(table)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{name} must be a .csv, .parquet or .pq file, got {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if kind == "parquet":
        with _parquet_engine_hint():
            return pd.read_parquet(path), Where(str(path))
    try:
        return pd.read_csv(path), Where(str(path), 2)     # line 1 is the header
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: cannot parse as CSV ({exc})") from None


@contextlib.contextmanager
def _parquet_engine_hint():
    try:
        yield
    except ImportError as exc:
        raise ImportError(f"Parquet needs pyarrow or fastparquet: pip install "
                          f"'asmm_env[parquet]' ({exc})") from exc


def _timestamps(series: pd.Series, where: Where) -> tuple[pd.Series, str]:
    """The timestamps as numbers or as datetime64[ns]: the kind follows the first value."""
    series = series.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        kind = "datetime"
        stamps = series.dt.as_unit("ns")
    elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype):
        kind = "numeric"
        stamps = series
    else:
        values = series.dropna()
        as_number = pd.to_numeric(values.iloc[:1], errors="coerce")
        kind = "numeric" if len(values) == 0 or as_number.notna().all() else "datetime"
        if kind == "numeric":
            stamps = pd.Series(numeric(pd.DataFrame({"timestamp": series}), "timestamp",
                                       where))
        else:
            stamps = pd.to_datetime(series, format="ISO8601", errors="coerce")
            bad = first_true((stamps.isna() & series.notna()).to_numpy())
            if bad is not None:
                raise where.error(bad, "timestamp", f"{series.iloc[bad]!r} is neither a number "
                                                    f"nor an ISO 8601 date-time")
            stamps = stamps.dt.as_unit("ns")
    bad = first_true(stamps.isna().to_numpy())
    if bad is not None:
        raise where.error(bad, "timestamp", "missing value")
    if kind == "numeric":
        numeric(pd.DataFrame({"timestamp": stamps}), "timestamp", where)
    return stamps, kind


def _seconds(stamps: pd.Series, origin: pd.Timestamp | None) -> np.ndarray:
    if origin is None:
        return stamps.to_numpy(dtype=np.float64)
    return ((stamps - origin) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _sides(series: pd.Series, where: Where) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype):
        values = numeric(pd.DataFrame({"side": series.reset_index(drop=True)}), "side", where)
    else:
        text = series.astype("string").str.strip().str.lower().reset_index(drop=True)
        values = np.where(text.isin(_BUY).to_numpy(dtype=bool, na_value=False), 1.0,
                          np.where(text.isin(_SELL).to_numpy(dtype=bool, na_value=False),
                                   -1.0, np.nan))
        bad = first_true(np.isnan(values))
        if bad is not None:
            raise where.error(bad, "side", f"unknown side {series.iloc[bad]!r} (allowed: +1, "
                                           f"-1, 'buy', 'sell', 'b', 's')")
    bad = first_true(~np.isin(values, (-1.0, 1.0)))
    if bad is not None:
        raise where.error(bad, "side", f"unknown side {fmt(values[bad])} (allowed: +1 buyer-"
                                       f"initiated, -1 seller-initiated)")
    return values.astype(np.int8)
