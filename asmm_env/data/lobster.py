"""LOBSTER message and orderbook files: reader, writer, and the market orders they contain.

The format (LOBSTER "data structure" page and sample-file readme). A trading day of a ticker is
a pair of headerless CSV files named ``TICKER_YYYY-MM-DD_START_END_message_LEVELS.csv`` and
``..._orderbook_LEVELS.csv`` (START and END: the requested window in milliseconds after
midnight, 34200000 and 57600000 for 09:30-16:00). Message columns: time (seconds after
midnight), event type (1 new limit order, 2 partial cancellation, 3 deletion, 4 execution of
a visible limit order, 5 execution of a hidden limit order, 6 cross trade, 7 trading halt),
order id, size (shares), price (dollars times 10,000), direction (-1 sell limit order, 1 buy
limit order; for an execution, the side of the resting order). Orderbook columns: ask price,
ask size, bid price, bid size for each level; a missing level has the dummy price 9999999999
(ask) or -9999999999 (bid) and size 0. Row i of the orderbook file is the book after message
i. A type-7 message carries a flag in its price column (-1 halt begins, 0 quoting resumes,
1 trading resumes) and the book repeats the previous state.

In memory (:class:`LobsterData`) prices are in currency units and missing levels are NaN; see
:mod:`asmm_env.data.columns` for every column. The writer turns the same frames back into
files, so anything that produces frames in this convention (our order-book simulator, a
conversion from another vendor) can write LOBSTER files.

References
----------
LOBSTER: Limit Order Book System - The Efficient Reconstructor, Humboldt-Universität zu Berlin,
"Output structure" (https://lobsterdata.com/info/DataStructure.php) and the sample files'
readme (version of 1 Sept 2013). Huang & Polak (2011), LOBSTER: Limit order book
reconstruction system, SSRN 1977207.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from asmm_env.data._checks import (
    Where,
    check_in_set,
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
    EVENT_TYPES,
    MARKET_ORDER_COLUMNS,
    MESSAGE_COLUMNS,
    book_columns,
    quote_level_columns,
)

if TYPE_CHECKING:
    from asmm_env.data.trades_quotes import TradesQuotes

PRICE_SCALE = 10_000                 # LOBSTER prices are dollars times 10,000
DUMMY_ASK_PRICE = 9_999_999_999      # price of a missing ask level (size 0)
DUMMY_BID_PRICE = -9_999_999_999     # price of a missing bid level (size 0)
DEFAULT_START = 34_200.0             # 09:30:00, seconds after midnight
DEFAULT_END = 57_600.0               # 16:00:00
HALT_FLAGS = (-1, 0, 1)              # type 7: halt begins, quoting resumes, trading resumes

_FILE_NAME = re.compile(
    r"^(?P<ticker>.+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$"
)


@dataclass(frozen=True, eq=False)
class LobsterData:
    """One LOBSTER message/orderbook pair in memory (build it with :func:`read_lobster` or
    :meth:`from_frames`, which validate; the constructor itself does not).

    Attributes
    ----------
    messages : pandas.DataFrame
        One row per message: ``time`` (s after midnight), ``event_type``, ``order_id``,
        ``size`` (shares), ``price`` (currency units, NaN for type 7), ``direction`` (+1 buy
        limit order, -1 sell), ``halt_flag`` (type 7 only). See :mod:`asmm_env.data.columns`.
    book : pandas.DataFrame
        Row i is the book after message i: ``time`` then ``ask_price_j, ask_size_j,
        bid_price_j, bid_size_j`` for j = 1 .. ``levels`` (prices in currency units, NaN for a
        missing level with size 0).
    levels : int
        Number of book levels per side.
    ticker : str or None
        From the file name, or as given.
    date : datetime.date or None
        Trading day, from the file name or as given.
    tick_size : float or None
        Price grid step, currency units; when given every price was checked to lie on it.
    message_source, book_source : str
        Where the tables came from (file paths, or "... DataFrame"), named in errors.
    """

    messages: pd.DataFrame
    book: pd.DataFrame
    levels: int
    ticker: str | None = None
    date: datetime.date | None = None
    tick_size: float | None = None
    message_source: str = "messages DataFrame"
    book_source: str = "orderbook DataFrame"

    @classmethod
    def from_frames(cls, messages: pd.DataFrame, book: pd.DataFrame, *,
                    levels: int | None = None, ticker: str | None = None,
                    date: datetime.date | str | None = None,
                    tick_size: float | None = None) -> LobsterData:
        """Validate frames in the reader's convention (prices in currency units, NaN for a
        missing level) and return typed copies.

        Parameters
        ----------
        messages : pandas.DataFrame
            Columns ``time, event_type, order_id, size, price, direction`` (and ``halt_flag``
            if there are type-7 rows); other columns are dropped.
        book : pandas.DataFrame
            Columns ``ask_price_j, ask_size_j, bid_price_j, bid_size_j`` for j = 1 ..
            ``levels``; a ``time`` column, if present, must equal the messages' times.
        levels : int, optional
            Levels per side; default: every level the book has.
        ticker, date, tick_size
            As in :func:`read_lobster`.

        Raises
        ------
        ValueError
            On malformed input, naming the frame, the row and the column.
        """
        if not isinstance(messages, pd.DataFrame) or not isinstance(book, pd.DataFrame):
            raise ValueError(f"messages and book must be pandas DataFrames, got "
                             f"{type(messages).__name__} and {type(book).__name__}")
        where_m, where_b = Where("messages DataFrame"), Where("orderbook DataFrame")
        book_levels = _frame_levels(book)
        levels = _check_levels_argument(levels, book_levels, where_b)
        tick_size = _check_tick_size(tick_size)
        _check_row_counts(len(messages), len(book), where_m.source, where_b.source)
        msgs = _normalise_messages(messages, where_m, raw=False, tick_size=tick_size)
        bk = _normalise_book(book, levels, where_b, raw=False, tick_size=tick_size)
        if "time" in book.columns:
            given = numeric(book, "time", where_b)
            bad = first_true(given != msgs["time"].to_numpy())
            if bad is not None:
                raise where_b.error(bad, "time", f"book time {fmt(given[bad])} differs from the "
                                                 f"message time {fmt(msgs['time'].iloc[bad])}")
        bk.insert(0, "time", msgs["time"].to_numpy())
        return cls(msgs, bk, levels, ticker=ticker, date=_check_date(date),
                   tick_size=tick_size)

    # --- derived series ----------------------------------------------------------------

    @property
    def n_messages(self) -> int:
        """Number of messages (= book rows)."""
        return len(self.messages)

    def top_of_book(self) -> pd.DataFrame:
        """The best quotes after every message: ``time`` (s), ``best_bid``, ``bid_size``,
        ``best_ask``, ``ask_size`` (currency units, shares), ``mid = (best_bid + best_ask) / 2``
        and ``spread = best_ask - best_bid`` (NaN while a side is empty)."""
        bid = self.book["bid_price_1"].to_numpy()
        ask = self.book["ask_price_1"].to_numpy()
        return pd.DataFrame({
            "time": self.book["time"].to_numpy(),
            "best_bid": bid,
            "bid_size": self.book["bid_size_1"].to_numpy(),
            "best_ask": ask,
            "ask_size": self.book["ask_size_1"].to_numpy(),
            "mid": 0.5 * (bid + ask),
            "spread": ask - bid,
        })

    @property
    def mid(self) -> pd.Series:
        """Mid after every message, currency units (NaN while a side is empty)."""
        return self.top_of_book()["mid"]

    @property
    def spread(self) -> pd.Series:
        """Quoted spread after every message, currency units."""
        return self.top_of_book()["spread"]

    def halted(self) -> np.ndarray:
        """``(n_messages,)`` bool: the interval after message i lies in a trading halt (from a
        type-7 message with flag -1 to the next with flag 1; quoting may resume inside it)."""
        flag = self.messages["halt_flag"].to_numpy(dtype=np.float64, na_value=np.nan)
        # -1 starts a halt, 1 ends it; 0 (quoting resumes) leaves trading halted.
        state = pd.Series(np.where(np.isnan(flag), np.nan, (flag != 1).astype(np.float64)))
        return state.ffill().fillna(0.0).to_numpy() > 0.5

    def trading_duration(self) -> float:
        """Time from the first to the last message outside trading halts, seconds: the
        exposure time of the rate estimators."""
        time = self.messages["time"].to_numpy()
        return float(np.sum(np.diff(time) * ~self.halted()[:-1])) if len(time) > 1 else 0.0

    def market_orders(self, *, include_hidden: bool = False) -> pd.DataFrame:
        """The market orders, one row per run of executions (type 4, and type 5 if
        ``include_hidden``) that are consecutive messages with one time and one direction.

        Returns
        -------
        pandas.DataFrame
            Columns ``time, side, size, n_fills, worst_price, mid_before, reach, censored``
            (see :mod:`asmm_env.data.columns`); ``side`` is the aggressor's (+1 buy, i.e.
            executions of sell limit orders). ``mid_before`` is the mid of the book before the
            order's first execution; ``reach`` is NaN when that book is one-sided or the order
            is the first message. ``censored`` marks orders that emptied the deepest visible
            level (this file only shows executions within its levels, so the order may have
            reached further: ``reach`` is a lower bound).
        """
        m = self.messages
        idx, starts = execution_runs(m, (4, 5) if include_hidden else (4,))
        if idx.size == 0:
            return _empty_market_orders()
        time = m["time"].to_numpy()[idx]
        direction = m["direction"].to_numpy()[idx]
        price = m["price"].to_numpy()[idx]
        size = m["size"].to_numpy()[idx].astype(np.float64)
        group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, idx.size)))
        side = -direction[starts]                          # an executed bid is a market sell
        worst = side * np.maximum.reduceat(-direction * price, starts)
        pre = idx[starts] - 1
        ok = pre >= 0
        pre_c = np.where(ok, pre, 0)
        top = self.top_of_book()
        mid_before = np.where(ok, top["mid"].to_numpy()[pre_c], np.nan)
        # Censoring: the order emptied the deepest level shown on the side it hit.
        K = self.levels
        deep_ask = self.book[f"ask_price_{K}"].to_numpy()[pre_c]
        deep_bid = self.book[f"bid_price_{K}"].to_numpy()[pre_c]
        deep_price = np.where(side > 0, deep_ask, deep_bid)
        deep_size = np.where(side > 0, self.book[f"ask_size_{K}"].to_numpy()[pre_c],
                             self.book[f"bid_size_{K}"].to_numpy()[pre_c])
        at_deep = np.add.reduceat(np.where(price == deep_price[group], size, 0.0), starts)
        censored = ok & ~np.isnan(deep_price) & (at_deep >= deep_size) & (deep_size > 0)
        return pd.DataFrame({
            "time": time[starts],
            "side": side.astype(np.int8),
            "size": np.add.reduceat(size, starts),
            "n_fills": np.diff(np.append(starts, idx.size)).astype(np.int64),
            "worst_price": worst,
            "mid_before": mid_before,
            "reach": side * (worst - mid_before),
            "censored": censored,
        })

    def to_trades_quotes(self) -> TradesQuotes:
        """The same day as a generic trades and quotes table (:class:`TradesQuotes`): one
        trade per execution message (types 4 and 5; ``side`` the aggressor's), one quote row
        per book row, timestamps in seconds after midnight."""
        from asmm_env.data.trades_quotes import TradesQuotes  # noqa: F811 (a cycle otherwise)

        m = self.messages
        ex = m["event_type"].isin((4, 5)).to_numpy()
        trades = pd.DataFrame({
            "timestamp": m["time"].to_numpy()[ex],
            "side": -m["direction"].to_numpy()[ex],
            "price": m["price"].to_numpy()[ex],
            "size": m["size"].to_numpy()[ex].astype(np.float64),
        })
        quotes = {"timestamp": self.book["time"].to_numpy()}
        for j in range(1, self.levels + 1):
            bp, bs, ap, az = quote_level_columns(j)
            quotes[bp] = self.book[f"bid_price_{j}"].to_numpy()
            quotes[bs] = self.book[f"bid_size_{j}"].to_numpy().astype(np.float64)
            quotes[ap] = self.book[f"ask_price_{j}"].to_numpy()
            quotes[az] = self.book[f"ask_size_{j}"].to_numpy().astype(np.float64)
        return TradesQuotes.from_frames(trades, pd.DataFrame(quotes))


def read_lobster(message_path: str | os.PathLike, orderbook_path: str | os.PathLike, *,
                 levels: int | None = None, date: datetime.date | str | None = None,
                 tick_size: float | None = None) -> LobsterData:
    """Read a LOBSTER message file and its orderbook file.

    Parameters
    ----------
    message_path, orderbook_path : str or path-like
        The two headerless CSV files (LOBSTER names them
        ``TICKER_YYYY-MM-DD_START_END_message_LEVELS.csv`` and ``..._orderbook_LEVELS.csv``).
    levels : int, optional
        Keep the first ``levels`` levels of each side (>= 1, at most what the file has).
        Default: every level in the file. Censoring of market orders (see
        :meth:`LobsterData.market_orders`) refers to the deepest level kept.
    date : datetime.date or str, optional
        Trading day (``YYYY-MM-DD``); default: from the file name if it follows LOBSTER's
        naming, else None.
    tick_size : float, optional
        Price grid step, currency units (> 0, a whole number of LOBSTER price units 1e-4);
        when given, every price must lie on the grid.

    Returns
    -------
    LobsterData
        Messages and book as DataFrames (time in seconds after midnight, prices in currency
        units, sizes in shares; columns in :mod:`asmm_env.data.columns`).

    Raises
    ------
    ValueError
        Naming the file, the row (from 0; and the file line, from 1) and the column, for:
        missing columns, non-numeric or missing values, unsorted times, unknown event types
        or directions, negative sizes, prices off the grid, a missing level followed by a
        present one, levels out of price order, a crossed book (best bid >= best ask), and
        message and orderbook files of different lengths.

    Examples
    --------
    >>> data = read_lobster("AAPL_2012-06-21_34200000_57600000_message_5.csv",
    ...                     "AAPL_2012-06-21_34200000_57600000_orderbook_5.csv")  # doctest: +SKIP
    >>> data.top_of_book()[["time", "mid", "spread"]].head()  # doctest: +SKIP
    """
    message_path, orderbook_path = Path(message_path), Path(orderbook_path)
    where_m, where_b = Where(str(message_path), 1), Where(str(orderbook_path), 1)
    tick_size = _check_tick_size(tick_size)
    name_m, name_b = _parse_name(message_path), _parse_name(orderbook_path)
    if name_m and name_b:
        for key in ("ticker", "date", "levels"):
            if name_m[key] != name_b[key]:
                raise ValueError(f"{message_path} and {orderbook_path} are not a pair: their "
                                 f"file names give {key} {name_m[key]!r} and {name_b[key]!r}")
    raw_m = _read_headerless(message_path, where_m)
    if raw_m.shape[1] < len(MESSAGE_COLUMNS):
        raise ValueError(f"{message_path}: missing column {MESSAGE_COLUMNS[raw_m.shape[1]]!r} "
                         f"(a message file has 6 columns: {', '.join(MESSAGE_COLUMNS)}; found "
                         f"{raw_m.shape[1]})")
    if raw_m.shape[1] > len(MESSAGE_COLUMNS):
        raise ValueError(f"{message_path}: expected 6 columns ({', '.join(MESSAGE_COLUMNS)}), "
                         f"found {raw_m.shape[1]}")
    raw_m.columns = list(MESSAGE_COLUMNS)
    raw_b = _read_headerless(orderbook_path, where_b)
    n_cols = raw_b.shape[1]
    if n_cols % 4:
        missing = book_columns(n_cols // 4 + 1)[n_cols]
        raise ValueError(f"{orderbook_path}: missing column {missing!r} (an orderbook file has "
                         f"4 columns per level: ask price, ask size, bid price, bid size; "
                         f"found {n_cols})")
    file_levels = n_cols // 4
    levels = _check_levels_argument(levels, file_levels, where_b)
    raw_b = raw_b.iloc[:, : 4 * levels]
    raw_b.columns = book_columns(levels)
    _check_row_counts(len(raw_m), len(raw_b), str(message_path), str(orderbook_path))
    msgs = _normalise_messages(raw_m, where_m, raw=True, tick_size=tick_size)
    book = _normalise_book(raw_b, levels, where_b, raw=True, tick_size=tick_size)
    book.insert(0, "time", msgs["time"].to_numpy())
    if date is None and name_m:
        date = name_m["date"]
    return LobsterData(msgs, book, levels, ticker=name_m["ticker"] if name_m else None,
                       date=_check_date(date), tick_size=tick_size,
                       message_source=str(message_path), book_source=str(orderbook_path))


def lobster_file_names(ticker: str, date: datetime.date | str, levels: int, *,
                       start: float = DEFAULT_START, end: float = DEFAULT_END
                       ) -> tuple[str, str]:
    """LOBSTER's names for a day's message and orderbook files, e.g.
    ``("AAPL_2012-06-21_34200000_57600000_message_5.csv", "..._orderbook_5.csv")``.

    ``start`` and ``end`` are the window in seconds after midnight (the names carry
    milliseconds)."""
    if not isinstance(ticker, str) or not ticker or any(c in ticker for c in "/\\"):
        raise ValueError(f"ticker must be a non-empty string without path separators, got "
                         f"{ticker!r}")
    day = _check_date(date)
    if day is None:
        raise ValueError("date must be a datetime.date or a 'YYYY-MM-DD' string, got None")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    for name, value in (("start", start), ("end", end)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be seconds after midnight (>= 0), got {value!r}")
    if end < start:
        raise ValueError(f"end must be >= start, got start={start!r}, end={end!r}")
    stem = f"{ticker}_{day.isoformat()}_{round(start * 1000)}_{round(end * 1000)}"
    return f"{stem}_message_{levels}.csv", f"{stem}_orderbook_{levels}.csv"


def write_lobster(messages: pd.DataFrame, orderbook: pd.DataFrame,
                  directory: str | os.PathLike, ticker: str, date: datetime.date | str,
                  levels: int | None = None, *, start: float = DEFAULT_START,
                  end: float = DEFAULT_END) -> tuple[Path, Path]:
    """Write frames in the reader's convention as a LOBSTER message/orderbook file pair.

    Parameters
    ----------
    messages, orderbook : pandas.DataFrame
        As :meth:`LobsterData.from_frames` takes them (prices in currency units, NaN for a
        missing level); validated the same way before anything is written.
    directory : str or path-like
        Existing directory to write into.
    ticker : str
        Ticker in the file names.
    date : datetime.date or str
        Trading day, ``YYYY-MM-DD``.
    levels : int, optional
        Levels per side to write (>= 1); the book's levels beyond it are dropped, missing ones
        are written as LOBSTER's empty levels. Default: the book's levels.
    start, end : float
        Window in seconds after midnight, for the file names (default 09:30-16:00).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The message and orderbook files, named by :func:`lobster_file_names`.

    Notes
    -----
    Prices are written as ``round(price * 10000)``, so a frame read by :func:`read_lobster`
    is written back byte-for-byte up to the float formatting of times (shortest repr, which
    reads back to the same float).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory must be an existing directory, got {str(directory)!r}")
    if not isinstance(orderbook, pd.DataFrame):
        raise ValueError(f"orderbook must be a pandas DataFrame, got {type(orderbook).__name__}")
    have = _frame_levels(orderbook)
    if levels is not None:
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
            raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
        if levels > have:
            pad = {}
            for j in range(have + 1, levels + 1):
                pad.update({f"ask_price_{j}": np.nan, f"ask_size_{j}": 0,
                            f"bid_price_{j}": np.nan, f"bid_size_{j}": 0})
            orderbook = orderbook.assign(**pad)
    data = LobsterData.from_frames(messages, orderbook, levels=levels or have, ticker=ticker,
                                   date=date)
    msg_name, book_name = lobster_file_names(ticker, date, data.levels, start=start, end=end)
    m = data.messages
    price = np.round(m["price"].to_numpy() * PRICE_SCALE)
    halt = m["event_type"].to_numpy() == 7
    price[halt] = m["halt_flag"].to_numpy(dtype=np.float64, na_value=np.nan)[halt]
    raw_m = pd.DataFrame({
        "time": m["time"].to_numpy(),
        "event_type": m["event_type"].to_numpy(),
        "order_id": m["order_id"].to_numpy(),
        "size": m["size"].to_numpy(),
        "price": price.astype(np.int64),
        "direction": m["direction"].to_numpy(),
    })
    raw_b = {}
    for column in book_columns(data.levels):
        values = data.book[column].to_numpy()
        if "price" in column:
            dummy = DUMMY_ASK_PRICE if column.startswith("ask") else DUMMY_BID_PRICE
            values = np.where(np.isnan(values), dummy, np.round(values * PRICE_SCALE))
            values = values.astype(np.int64)
        raw_b[column] = values
    msg_path, book_path = directory / msg_name, directory / book_name
    raw_m.to_csv(msg_path, header=False, index=False)
    pd.DataFrame(raw_b).to_csv(book_path, header=False, index=False)
    return msg_path, book_path


def execution_runs(messages: pd.DataFrame, kinds: tuple[int, ...] = (4,)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Group executions into market orders: ``idx`` are the positions of the messages of the
    given event types, ``starts`` the positions in ``idx`` where a market order begins. A
    market order is a run of such messages that are consecutive in the file, with one time
    and one direction (a market order walking the book is logged as one execution per
    resting order it meets, all at its arrival time)."""
    idx = np.flatnonzero(messages["event_type"].isin(kinds).to_numpy())
    time = messages["time"].to_numpy()[idx]
    direction = messages["direction"].to_numpy()[idx]
    new = np.ones(idx.size, dtype=bool)
    new[1:] = (np.diff(idx) != 1) | (time[1:] != time[:-1]) | (direction[1:] != direction[:-1])
    return idx, np.flatnonzero(new)


# --- validation and conversion ----------------------------------------------------------


def _read_headerless(path: Path, where: Where) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return pd.read_csv(path, header=None)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where.source}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{where.source}: cannot parse as CSV ({exc})") from None


def _parse_name(path: Path) -> dict | None:
    match = _FILE_NAME.match(path.name)
    if match is None:
        return None
    return {"ticker": match["ticker"], "date": match["date"], "levels": int(match["levels"])}


def _frame_levels(book: pd.DataFrame) -> int:
    found = [int(m[1]) for c in map(str, book.columns) if (m := re.fullmatch(
        r"(?:ask|bid)_(?:price|size)_(\d+)", c))]
    return max(found, default=0)


def _check_levels_argument(levels: int | None, available: int, where: Where) -> int:
    if available < 1:
        raise ValueError(f"{where.source}: missing column 'ask_price_1' (no book levels)")
    if levels is None:
        return available
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    if levels > available:
        raise ValueError(f"levels={levels} but {where.source} has {available} level(s) per side")
    return int(levels)


def _check_tick_size(tick_size: float | None) -> float | None:
    if tick_size is None:
        return None
    if (isinstance(tick_size, bool) or not isinstance(tick_size, (int, float, np.floating))
            or not np.isfinite(tick_size) or tick_size <= 0):
        raise ValueError(f"tick_size must be a finite number > 0 (currency units), got "
                         f"{tick_size!r}")
    units = tick_size * PRICE_SCALE
    if abs(units - round(units)) > 1e-6 or round(units) < 1:
        raise ValueError(f"tick_size must be a whole number of LOBSTER price units (1e-4), got "
                         f"{tick_size!r}")
    return float(tick_size)


def _check_date(date: datetime.date | str | None) -> datetime.date | None:
    if date is None or (isinstance(date, datetime.date)
                        and not isinstance(date, datetime.datetime)):
        return date
    if isinstance(date, str):
        try:
            return datetime.date.fromisoformat(date)
        except ValueError:
            pass
    raise ValueError(f"date must be a datetime.date or a 'YYYY-MM-DD' string, got {date!r}")


def _check_row_counts(n_messages: int, n_book: int, message_source: str,
                      book_source: str) -> None:
    if n_messages != n_book:
        shorter = book_source if n_book < n_messages else message_source
        raise ValueError(
            f"{shorter}: row {min(n_messages, n_book)}: missing; {message_source} has "
            f"{n_messages} rows and {book_source} has {n_book} (row i of the orderbook is the "
            f"book after message i, so the counts must match)")
    if n_messages == 0:
        raise ValueError(f"{message_source}: no messages")


def _on_grid(price: np.ndarray, tick_size: float | None, column: str, where: Where) -> None:
    if tick_size is None:
        return
    ticks = price / tick_size
    with np.errstate(invalid="ignore"):
        off = np.abs(ticks - np.round(ticks)) > 1e-6
    bad = first_true(off & ~np.isnan(price))
    if bad is not None:
        raise where.error(bad, column, f"price {fmt(price[bad])} is not on the tick grid "
                                       f"(tick_size {tick_size!r})")


def _normalise_messages(frame: pd.DataFrame, where: Where, *, raw: bool,
                        tick_size: float | None) -> pd.DataFrame:
    """Check messages and return them typed. ``raw``: prices in LOBSTER units with the halt
    flag in the price column; else prices in currency units and a ``halt_flag`` column."""
    require_columns(frame, MESSAGE_COLUMNS, where)
    time = numeric(frame, "time", where)
    event = numeric(frame, "event_type", where, integer=True)
    order_id = numeric(frame, "order_id", where, integer=True)
    size = numeric(frame, "size", where, integer=True)
    direction = numeric(frame, "direction", where, integer=True)
    price = numeric(frame, "price", where, integer=raw, allow_missing=not raw)
    check_in_set(event, tuple(EVENT_TYPES), "event_type", where, "event type")
    check_in_set(direction, (-1, 1), "direction", where, "direction")
    check_non_negative(size, "size", where)
    bad = first_true(time < 0)
    if bad is not None:
        raise where.error(bad, "time", f"negative time {fmt(time[bad])} (seconds after midnight)")
    check_sorted(time, "time", where)
    halt = event == 7
    if raw:
        flag = np.where(halt, price, np.nan)
        price = np.where(halt, np.nan, price / PRICE_SCALE)
    else:
        if halt.any():
            if "halt_flag" not in frame.columns:
                raise where.error(first_true(halt), "halt_flag",
                                  "missing column 'halt_flag' (needed for event type 7 rows)")
            flag = numeric(frame, "halt_flag", where, allow_missing=True, integer=True)
            bad = first_true(halt & np.isnan(flag))
            if bad is not None:
                raise where.error(bad, "halt_flag", "missing value for an event type 7 row")
            flag = np.where(halt, flag, np.nan)
        else:
            flag = np.full(len(frame), np.nan)
        bad = first_true(~halt & np.isnan(price))
        if bad is not None:
            raise where.error(bad, "price", "missing value")
        price = np.where(halt, np.nan, price)
    bad = first_true(halt & ~np.isin(flag, HALT_FLAGS))
    if bad is not None:
        raise where.error(bad, "halt_flag" if not raw else "price",
                          f"unknown trading-halt flag {fmt(flag[bad])} (allowed: -1, 0, 1)")
    bad = first_true(~halt & ~(price > 0))
    if bad is not None:
        raise where.error(bad, "price", f"price must be > 0, got {fmt(price[bad])}")
    _on_grid(price, tick_size, "price", where)
    return pd.DataFrame({
        "time": time,
        "event_type": event.astype(np.int8),
        "order_id": order_id.astype(np.int64),
        "size": size.astype(np.int64),
        "price": price,
        "direction": direction.astype(np.int8),
        "halt_flag": pd.array(np.where(halt, flag, np.nan), dtype="Int8"),
    })


def _normalise_book(frame: pd.DataFrame, levels: int, where: Where, *, raw: bool,
                    tick_size: float | None) -> pd.DataFrame:
    """Check the book's levels and return them typed (prices in currency units, NaN for a
    missing level). ``raw``: prices in LOBSTER units with the dummy prices."""
    columns = book_columns(levels)
    require_columns(frame, columns, where)
    out = {}
    sides = {"ask": ([], [], [], []), "bid": ([], [], [], [])}
    for j in range(1, levels + 1):
        for side, dummy in (("ask", DUMMY_ASK_PRICE), ("bid", DUMMY_BID_PRICE)):
            pc, sc = f"{side}_price_{j}", f"{side}_size_{j}"
            price = numeric(frame, pc, where, integer=raw, allow_missing=not raw)
            size = numeric(frame, sc, where, integer=True)
            check_non_negative(size, sc, where)
            if raw:
                price = np.where(price == dummy, np.nan, price / PRICE_SCALE)
            with np.errstate(invalid="ignore"):
                bad = first_true(~np.isnan(price) & (price <= 0))
            if bad is not None:
                what = ("neither a positive price nor LOBSTER's dummy price "
                        f"{dummy}") if raw else "not a positive price"
                raise where.error(bad, pc, f"{fmt(price[bad] * (PRICE_SCALE if raw else 1))} is "
                                           f"{what}")
            _on_grid(price, tick_size, pc, where)
            out[pc], out[sc] = price, size.astype(np.int64)
            sides[side][0].append(price)
            sides[side][1].append(size)
            sides[side][2].append(pc)
            sides[side][3].append(sc)
    for side, (prices, sizes, pcs, scs) in sides.items():
        check_levels(np.column_stack(prices), np.column_stack(sizes), side, pcs, scs, where)
    check_not_crossed(out["bid_price_1"], out["ask_price_1"], "bid_price_1", where)
    return pd.DataFrame({c: out[c] for c in columns})


def _empty_market_orders() -> pd.DataFrame:
    frame = pd.DataFrame({c: np.array([], dtype=np.float64) for c in MARKET_ORDER_COLUMNS})
    return frame.astype({"side": np.int8, "n_fills": np.int64, "censored": bool})
