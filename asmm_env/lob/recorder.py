"""Recording the order book's event stream as data: LOBSTER message/orderbook frames (and,
through them, a trades + quotes table), written by the phase-1 writers of
:mod:`asmm_env.data`.

What is recorded. Every exogenous event of the book (:mod:`asmm_env.lob.book`) on the
recorded paths, one LOBSTER message each, in the order the book applies them:

=================  ==========  ============================================================
book event         event_type  price (currency units)
=================  ==========  ============================================================
limit order        1           the level it joined
cancellation       3           the level it left (a unit order: a deletion)
market order       4           the best it hit (the *resting* order's side is ``direction``)
=================  ==========  ============================================================

``size`` is ``BookParams.order_size`` shares; ``order_id`` counts the messages of the path
from 1 (the book keeps other traders' orders as counts, not one by one, so an id names the
message, not the order). ``time`` is ``session_start`` plus the book's clock (time units read as
seconds). The book row of a message is the book after it, other traders' orders only, with
empty tick levels left out as LOBSTER lists occupied levels only (so level ``j`` of the file
is the ``j``-th *occupied* tick level); a price move's refill draws produce no message, they
show in the next row. The agents' own orders are not in the file: it is the market a replay
adds our orders back into (an execution that filled an agent's order appears as a trade at
the best that leaves the other traders' queue unchanged; where an agent's order alone held a
price level, the file's best, and so its mid, is a tick further out). Book prices are
``s0 + tick_size * (k + 1/2)``: choose ``s0`` an odd multiple of ``tick_size / 2`` (e.g.
100.005 with a tick of 0.01) for prices on a whole-tick grid, which
``read_lobster(..., tick_size=...)`` checks.

Recording is opt-in and costs nothing when off: :meth:`BookRecorder.attach` sets the book's
``recorder``; the book calls :meth:`BookRecorder.record` after every event iteration. As a
:func:`asmm_env.rollout.rollout` observer (``observers=[BookRecorder]``) it attaches itself
to each chunk's book and returns that chunk's paths.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asmm_env.data import LobsterData, write_lobster, write_trades_quotes
from asmm_env.data.columns import book_columns

DEFAULT_START = 34_200.0      # 09:30:00 in seconds after midnight, LOBSTER's session start


class BookRecorder:
    """Records the event stream of some paths of a :class:`~asmm_env.lob.LimitOrderBook`.

    Parameters
    ----------
    paths : sequence of int, optional
        Paths of the book to record (default: all). Memory grows with the events recorded
        (about ``8 * (2 n_levels + 5)`` bytes each): record the days you need, not a Monte
        Carlo batch.
    session_start : float
        Time of the book's clock 0 in the files, seconds after midnight (default 09:30).

    Examples
    --------
    >>> import numpy as np
    >>> from asmm_env.lob import BookParams, LimitOrderBook
    >>> book = LimitOrderBook(BookParams(s0=100.005, T=60.0), n_paths=1)
    >>> recorder = BookRecorder().attach(book)
    >>> book.reset(seed=0)
    >>> for _ in range(60):
    ...     _ = book.step(np.full((1, 1, 2), -1))            # no agent order: the market only
    >>> day = recorder.lobster()[0]                          # a LobsterData
    >>> set(day.messages["event_type"]) <= {1, 3, 4}
    True
    """

    def __init__(self, paths: Sequence[int] | None = None, *,
                 session_start: float = DEFAULT_START) -> None:
        if paths is not None:
            paths = np.asarray(paths)
            if paths.ndim != 1 or paths.size == 0 or paths.dtype.kind not in "iu" or \
                    (paths < 0).any() or np.unique(paths).size != paths.size:
                raise ValueError(f"paths must be distinct path indices >= 0, got {paths!r}")
        if isinstance(session_start, bool) or not isinstance(
                session_start, (int, float, np.floating)) or not np.isfinite(session_start) \
                or session_start < 0:
            raise ValueError(f"session_start must be seconds after midnight (>= 0), got "
                             f"{session_start!r}")
        self.paths = paths
        self.session_start = float(session_start)
        self.book = None

    # --- attaching --------------------------------------------------------------------------

    def attach(self, book: Any) -> BookRecorder:
        """Record ``book`` from now on (its ``recorder`` becomes this object); returns self.

        Raises ``ValueError`` when ``order_size`` is not a whole number of shares (LOBSTER
        sizes are integers), a recorded path is not a path of the book, or the book was built
        with ``engine="numba"`` (a recorded book runs its numpy engine)."""
        from asmm_env.lob.book import LimitOrderBook

        if not isinstance(book, LimitOrderBook):
            raise TypeError(f"book must be a LimitOrderBook, got {type(book).__name__}")
        size = book.params.order_size
        if size != round(size):
            raise ValueError(f"order_size must be a whole number of shares to record LOBSTER "
                             f"sizes, got {size!r}")
        if book.engine == "numba":
            raise ValueError("engine must be 'auto' or 'numpy' to record a book, got 'numba': "
                             "the compiled engine does not report events one by one (a "
                             "recorded book runs numpy, with the same bytes)")
        if self.paths is not None and self.paths.max() >= book.n_paths:
            raise ValueError(f"paths must be < n_paths = {book.n_paths}, got "
                             f"{int(self.paths.max())}")
        self.book = book
        book.recorder = self
        self._mask = None
        if self.paths is not None:
            self._mask = np.zeros(book.n_paths, dtype=bool)
            self._mask[self.paths] = True
        self._chunks: list[tuple[np.ndarray, ...]] = []
        return self

    # rollout's Observer protocol
    def start(self, core: Any) -> None:
        self.attach(core)

    def step(self, core: Any, step: int, quotes: np.ndarray, volume: np.ndarray) -> None:
        pass

    def result(self) -> list[LobsterData]:
        return self.lobster()

    # --- the hook ---------------------------------------------------------------------------

    def record(self, book: Any, s: Any, e: np.ndarray, shift_before: np.ndarray) -> None:
        """Called by the book after applying events ``e`` (codes, ``(s.n,)``) to the working
        set ``s``; ``shift_before`` is the mid in ticks before them."""
        real = np.flatnonzero(e != book.no_event)
        if self._mask is not None:
            real = real[self._mask[s.pid[real]]]
        if real.size:
            self._chunks.append((s.pid[real], s.clock[real], e[real].astype(np.int64),
                                 shift_before[real], s.shift[real],
                                 s.Q[:, :, real].transpose(2, 0, 1).copy()))

    # --- output -----------------------------------------------------------------------------

    def lobster(self) -> list[LobsterData]:
        """One validated :class:`~asmm_env.data.LobsterData` per recorded path, in path
        order (``levels = n_levels``; prices in currency units, sizes in shares).

        Raises ``ValueError`` if a path has no event yet."""
        if self.book is None:
            raise RuntimeError("attach() the recorder to a book first")
        p = self.book.params
        K = self.book.n_levels
        paths = np.arange(self.book.n_paths) if self.paths is None else self.paths
        if not self._chunks:
            raise ValueError("no event recorded yet: step the book first")
        pid, clock, code, before, after, queues = (np.concatenate(c) for c in
                                                   zip(*self._chunks, strict=True))
        order = np.argsort(pid, kind="stable")          # chronological within a path
        out = []
        for path in paths:
            rows = order[pid[order] == path]
            if not rows.size:
                raise ValueError(f"path {int(path)} has no recorded event")
            out.append(_frames(p, K, clock[rows] + self.session_start, code[rows], before[rows],
                               after[rows], queues[rows]))
        return out

    def write(self, directory: str | os.PathLike, *, ticker: str = "SIM",
              date: datetime.date | str = "2024-01-02") -> list[dict[str, Path]]:
        """Write every recorded path in both formats through :func:`asmm_env.data.write_lobster`
        and :func:`asmm_env.data.write_trades_quotes`: path ``i`` is the trading day
        ``date + i`` days, a LOBSTER pair (``TICKER_DATE_START_END_message_K.csv``,
        ``..._orderbook_K.csv``) and ``TICKER_DATE_trades.csv``, ``TICKER_DATE_quotes.csv``.

        Returns, per path, ``{"message", "orderbook", "trades", "quotes"}`` file paths."""
        directory = Path(directory)
        if isinstance(date, str):
            try:
                date = datetime.date.fromisoformat(date)
            except ValueError:
                raise ValueError(f"date must be a datetime.date or a 'YYYY-MM-DD' string, got "
                                 f"{date!r}") from None
        written = []
        start = self.session_start
        end = start + self.book.params.T
        for i, day in enumerate(self.lobster()):
            when = date + datetime.timedelta(days=i)
            message, orderbook = write_lobster(day.messages, day.book, directory, ticker, when,
                                               day.levels, start=start,
                                               end=max(end, day.messages["time"].iloc[-1]))
            tq = day.to_trades_quotes()
            stem = directory / f"{ticker}_{when.isoformat()}"
            trades, quotes = write_trades_quotes(tq.trades, tq.quotes, f"{stem}_trades.csv",
                                                 f"{stem}_quotes.csv")
            written.append({"message": message, "orderbook": orderbook, "trades": trades,
                            "quotes": quotes})
        return written


def _frames(p: Any, K: int, time: np.ndarray, code: np.ndarray, before: np.ndarray,
            after: np.ndarray, queues: np.ndarray) -> LobsterData:
    """LOBSTER frames of one path's events (module docstring)."""
    n = time.size
    kind = np.minimum(code // (2 * K), 2)                 # 0 limit, 1 cancel, 2 market
    rest = code - 2 * K * kind
    side = np.where(kind == 2, code - 4 * K, rest // K)   # 0 bid, 1 ask
    level = np.where(kind == 2, 0, rest % K)
    sign = np.where(side == 0, -1.0, 1.0)                 # away from the mid
    price = p.s0 + p.tick_size * (before + sign * (0.5 + level))
    messages = pd.DataFrame({
        "time": time,
        "event_type": np.array([1, 3, 4])[kind],
        "order_id": np.arange(1, n + 1),
        "size": np.full(n, int(round(p.order_size))),
        "price": price,
        "direction": np.where(side == 0, 1, -1),
    })
    book = {}
    j = np.arange(K)
    for s, name, sgn in ((0, "bid", -1.0), (1, "ask", 1.0)):
        q = queues[:, s, :]                                # (n, K) orders per tick level
        occupied = q > 0
        # LOBSTER lists occupied levels only: move them to the front, in tick order.
        rank = np.argsort(~occupied, axis=1, kind="stable")
        ticks = np.take_along_axis(np.broadcast_to(j, q.shape), rank, axis=1)
        shown = np.take_along_axis(occupied, rank, axis=1)
        prices = p.s0 + p.tick_size * (after[:, None] + sgn * (0.5 + ticks))
        sizes = np.take_along_axis(q, rank, axis=1) * p.order_size
        book[name] = (np.where(shown, prices, np.nan), np.where(shown, sizes, 0.0))
    frame = {}
    for column in book_columns(K):
        name, what, level_no = column.split("_")
        prices, sizes = book[name]
        values = prices if what == "price" else sizes
        frame[column] = values[:, int(level_no) - 1]
    return LobsterData.from_frames(messages, pd.DataFrame(frame), levels=K)
