"""A batched queue-reactive limit order book with agents' resting orders and their queue
positions: the event-driven market of the microstructure experiments.

The book (per path)
-------------------
Prices live on a tick grid. The spread is always one tick (a large-tick book, as in Cont &
de Larrard 2013): best bid ``b`` and best ask ``b + 1`` in ticks, mid ``b + 1/2``. Each side
shows ``K = n_levels`` levels, the best (level 0) and ``K - 1`` behind it (level ``j`` of the
bid at ``b - j``, of the ask at ``b + 1 + j``). A level holds a FIFO queue of unit orders:
other traders' orders (counted, ``others``) and the agents' orders (tracked one by one, each
with ``ahead``: the number of orders in front of it, other traders' and other agents').

Events (one per path per iteration, Gillespie: exponential clock, event drawn in proportion
to its rate; rates in :class:`asmm_env.lob.params.BookParams`)::

    limit order at (side, level)     others += 1, at the back: nobody's position changes
    cancellation at (side, level)    a uniformly chosen one of the level's ``n`` other
                                     traders' orders leaves; it was ahead of an agent's
                                     order with probability (others ahead) / n, and then
                                     that order moves up by one
    market order at side             takes the order at the front of the best queue: an
                                     agent's order with nothing ahead is filled, otherwise
                                     an other trader's order goes; every agent's order at
                                     that best moves up by one

Price moves. When the best queue of a side is empty after an event (its last order was
taken by a market order, or cancelled by another trader or by an agent re-quoting) the price
moves one tick that way, and the spread stays one tick. Bid emptied (the ask mirrors it)::

    bid levels shift up:   new bid level j = old level j + 1; the far level K-1 is new,
                           1 + Poisson(refill) others
    ask levels shift back: new ask level j = old level j - 1; the new best ask (at the old
                           best bid's price, which was empty) is new, 1 + Poisson(refill);
                           the old far ask level leaves the visible window
    if the new best bid (the old level 1) holds no order at all it is refilled with
    1 + Poisson(refill) others, so a best queue is never empty.

Agents' orders keep their price and their place when the price moves; an order pushed out of
the window (behind level K-1) is cancelled by the book. With ``K = 1`` this is exactly the
reference kernel's model (``shared/bench/reference_lob_kernel.py``): both queues are redrawn.

Agents' orders. Each agent has at most one unit order per side, at a level chosen as an
*offset* in ticks behind the best (0 = join the best queue; -1 = no order). The offset is a
standing instruction: :meth:`LimitOrderBook.set_quotes` keeps an order already resting at
that level (with its place) and otherwise cancels it and joins the back of the chosen
level; an order that is filled or pushed out of the window re-joins at once at the back of
the level at the current offset from the (new) best. The offset ``KEEP`` (-2) leaves the
resting order (if any) where it is, whatever its level, and does not replace it when it is
filled or pushed out. The offset ``one_shot(j)`` (``-3 - j``) quotes at level ``j`` as the
offset ``j`` does, but the order is not replaced once it is filled or pushed out, not even
within the step in which it was placed: a one-shot order, to follow one order's fate (place
it with ``one_shot(j)``, then keep it with ``KEEP``). The orders behind a cancelled agent's
order move up by one. Orders placed at the same moment at the same price queue in a random
agent order (one permutation per call, from the book's generator).

Invariants (tested event by event): the best queues are never empty and the book is never
crossed (agents' bids at or below the best bid, asks at or above the best ask); volume is
conserved (others change by +1 / -1 with the event, plus what price moves draw and drop);
``ahead >= 0`` and it never grows while an order rests; a fill happens only to an order with
nothing ahead of it, by a market order on its side.

Accounting. Fills are at the best, so every fill is at half a tick from the mid at the fill
(depth ``tick_size / 2``). Per decision step the book passes the fills and the
volume-weighted mid at them to :class:`asmm_env.ledger.Ledger` (``record_fills(...,
fill_mid=...)`` then ``record_move``), so the ledger's identities hold for every agent on
every step.

Arrays: the public API uses ``(n_paths, ...)`` shapes; internally every array has the path
axis last (``(2, n_levels, n_paths)`` queues, ``(2, n_agents, n_paths)`` orders) so that a
level or an agent is one contiguous vector. Event loops are over events, never over paths.

Engines: the numpy engine here is the reference. With numba installed (the extra ``fast``)
:meth:`LimitOrderBook.advance_to` and :meth:`LimitOrderBook.simulate_events` run a compiled
loop per path instead (``asmm_env.lob._kernel``), which gives the same bytes for the same
seed; ``engine="numpy"`` keeps the numpy engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.ledger import Ledger
from asmm_env.lob.params import BookParams
from asmm_env.market import EpisodeClock
from asmm_env.streams import RandomStreams, episode_streams, poisson_inverse

BID, ASK = 0, 1
LIMIT, CANCEL, MARKET = "limit", "cancel", "market"
NO_ORDER = -1
KEEP = -2                # offset: keep the resting order, do not replace it
_ONE_SHOT = -3           # offsets <= -3: one_shot(level), a one-shot order at that level
_NO_CODE = -1            # never equal to an event code
_MIN_COMPACT = 256       # below this many paths a working set is not worth compacting
ENGINES = ("auto", "numpy", "numba")


def one_shot(level: Any) -> Any:
    """The offset that places a one-shot order ``level`` ticks behind the best (integers
    ``>= 0``, scalar or array): quoted as the offset ``level``, but never replaced once it is
    filled or pushed out of the window (see :meth:`LimitOrderBook.set_quotes`)."""
    level = np.asarray(level)
    if level.dtype.kind not in "iu" or (level < 0).any():
        raise ValueError(f"level must be an integer >= 0 (or an array of them), got {level!r}")
    return _ONE_SHOT - level


def event_code(kind: str, side: int, level: int, n_levels: int) -> int:
    """The integer code of an event, as :meth:`LimitOrderBook.apply_events` takes it.

    ``kind`` is ``"limit"`` or ``"cancel"`` (at ``level`` in ``[0, n_levels)``) or
    ``"market"`` (``level`` ignored); ``side`` is 0 (bid) or 1 (ask). Codes:
    limit ``side * K + level``, cancel ``2K + side * K + level``, market ``4K + side``;
    ``4K + 2`` is "no event".
    """
    K = n_levels
    if side not in (BID, ASK):
        raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side!r}")
    if kind == MARKET:
        return 4 * K + side
    if not 0 <= level < K:
        raise ValueError(f"level must be in [0, {K - 1}], got {level!r}")
    if kind == LIMIT:
        return side * K + level
    if kind == CANCEL:
        return 2 * K + side * K + level
    raise ValueError(f"kind must be one of ('limit', 'cancel', 'market'), got {kind!r}")


class _State:
    """The book's arrays, path axis last; ``take`` / ``put`` move a subset of paths."""

    FIELDS = ("Q", "shift", "clock", "lvl", "target", "ahead", "ccode", "mcode", "nbest",
              "fills", "fill_shift", "placements", "refilled", "dropped", "pid", "moves")

    def __init__(self, **arrays: np.ndarray) -> None:
        for name in self.FIELDS:
            setattr(self, name, arrays[name])

    @property
    def n(self) -> int:
        return self.shift.shape[0]

    def take(self, idx: np.ndarray) -> _State:
        # np.take keeps C order (``a[..., idx]`` need not): the engine relies on reshape views.
        return _State(**{name: np.take(getattr(self, name), idx, axis=-1)
                         for name in self.FIELDS})

    def put(self, idx: np.ndarray, sub: _State) -> None:
        for name in self.FIELDS:
            getattr(self, name)[..., idx] = getattr(sub, name)


class LimitOrderBook(EpisodeClock):
    """Batched queue-reactive book with ``n_agents`` market makers' orders (see the module
    docstring for the model). Market-like: ``reset(seed)``, ``step(offsets)``, ``ledger``,
    ``mid``, ``pnl()``, ``done``, so the reward functions and faces of the reduced-form
    :class:`asmm_env.market.Market` apply.

    Parameters
    ----------
    params : BookParams
        Order flow, tick grid, horizon (units in its docstring).
    n_paths : int
        Independent books simulated at once (>= 1).
    n_agents : int
        Market makers sharing each book, with the same priority rules (>= 1).
    block_paths : int, optional
        Paths per block of the random streams (default ``min(n_paths, BLOCK_PATHS)``).
    engine : {"auto", "numpy", "numba"}
        What runs the events: ``"auto"`` (default) the compiled kernel when numba imports
        (``pip install "asmm_env[fast]"``) and passes its check against numpy on this
        machine, else numpy; ``"numpy"`` always numpy; ``"numba"`` the kernel or an error.
        Both give the same bytes (:attr:`compiled` tells which one runs).

    Randomness. The book draws from the episode's named streams (:mod:`asmm_env.streams`),
    a generator per block of paths and decision step: the ``j``-th event of a path within a
    step uses the ``j``-th pair of uniforms of its block's ``"book"`` stream for that step
    (its waiting time and which event), the queues drawn at its ``r``-th price move of the
    step come from the ``r``-th row of the ``"refill"`` stream, and agents placing orders at
    one moment queue in the order of per-path keys from the ``"tiebreak"`` stream. So the
    exogenous randomness of a path is the same whatever the agents do; their orders change
    the state against which those uniforms select events.

    Examples
    --------
    >>> import numpy as np
    >>> from asmm_env.lob import BookParams, LimitOrderBook
    >>> book = LimitOrderBook(BookParams(T=10.0), n_paths=4)
    >>> book.reset(seed=0)
    >>> volume = book.step(np.zeros((4, 1, 2), dtype=int))   # join both best queues
    >>> volume.shape, book.imbalance().shape
    ((4, 1, 2), (4,))
    """

    def __init__(self, params: BookParams, n_paths: int = 1, n_agents: int = 1, *,
                 block_paths: int | None = None, engine: str = "auto") -> None:
        if not isinstance(params, BookParams):
            raise TypeError(f"params must be a BookParams, got {type(params).__name__}")
        for name, value in (("n_paths", n_paths), ("n_agents", n_agents)):
            if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                    or value < 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "numba":
            from asmm_env.lob import _kernel

            _kernel.check(params)
        self.engine = engine
        self._engine_used: str | None = None      # resolved on first use
        self._kernel_cache: dict[str, int] = {}
        self._kernel_refill: list = []          # refill rows the kernel drew, not yet cached
        self.params = params
        self.n_paths, self.n_agents = int(n_paths), int(n_agents)
        K, A, n = params.n_levels, self.n_agents, self.n_paths
        self.n_levels = K
        self.n_event_codes = 4 * K + 2          # codes 0 .. 4K+1; 4K+2 is "no event"
        self.no_event = 4 * K + 2
        self.n_steps = params.n_steps
        self.ledger = Ledger(n, A, params.adverse_selection_steps, params.fee,
                             params.order_size)
        self.block_paths = block_paths
        # Opt-in event recording (asmm_env.lob.recorder.BookRecorder): None costs one
        # attribute test per event iteration.
        self.recorder = None
        self.streams: RandomStreams | None = None
        self._stream_step: int | None = None
        self.step_index = 0
        self.last_volume = np.zeros((n, A, 2))
        self._depths = np.full((n, A, 2), params.tick_size / 2)
        # Event codes per row of the cumulative-rate table, as int8 columns for broadcasting.
        self._lim_codes = np.arange(2 * K, dtype=np.int8)[:, None]
        self._can_codes = np.arange(2 * K, 4 * K, dtype=np.int8)[:, None]
        self._mk_codes = np.array([4 * K, 4 * K + 1], dtype=np.int8)[:, None]
        self._side_k = np.array([0, K])[:, None, None]
        self._side_m = np.array([4 * K, 4 * K + 1])[:, None, None]
        # Level change of each side's orders when the bid (row 0) or ask (row 1) empties.
        self._level_step = np.array([[-1, 1], [1, -1]])[:, :, None, None]
        # Cumulative rates, one row per event code; limit rows are constant (L per level).
        self._cum = np.empty((self.n_event_codes, n))
        self._cum[: 2 * K] = params.limit_rate * np.arange(1, 2 * K + 1)[:, None]
        self._less = np.empty((self.n_event_codes, n), dtype=bool)
        self._s = _State(
            Q=np.zeros((2, K, n)), shift=np.zeros(n), clock=np.zeros(n),
            lvl=np.full((2, A, n), NO_ORDER, dtype=np.int64),
            target=np.full((2, A, n), NO_ORDER, dtype=np.int64),
            ahead=np.zeros((2, A, n)),
            ccode=np.full((2, A, n), _NO_CODE, dtype=np.int8),
            mcode=np.full((2, A, n), _NO_CODE, dtype=np.int8),
            nbest=np.zeros((2, n)), fills=np.zeros((2, A, n)), fill_shift=np.zeros((2, A, n)),
            placements=np.zeros((2, A, n), dtype=np.int64),
            refilled=np.zeros(n), dropped=np.zeros(n), pid=np.arange(n),
            moves=np.zeros(n, dtype=np.int64),
        )

    # --- episode (market-like API) ------------------------------------------------------

    def reset(self, seed: Any = None, *, first_block: int = 0) -> None:
        """New books on every path (every queue ``1 + Poisson(refill)`` others, mid ``s0``,
        no agents' orders).

        ``seed``: an int, a ``SeedSequence``, a ``Generator`` (one draw from it seeds the
        episode) or a :class:`~asmm_env.streams.RandomStreams`; ``None`` draws fresh OS
        entropy. ``first_block``: this batch's first block in a larger run."""
        streams = episode_streams(seed, self.n_paths, block_paths=self.block_paths,
                                  first_block=first_block)
        self.streams = streams
        self._stream_step = None
        s, p = self._s, self.params
        for b, paths, width in streams.block_slices():
            gen = streams.step_generator("book", b, -1)
            draws = gen.poisson(p.refill, (2, self.n_levels, streams.block_paths))
            s.Q[..., paths] = 1.0 + draws[..., :width]
        for name in ("shift", "clock", "ahead", "nbest", "fills", "fill_shift", "refilled",
                     "dropped"):
            getattr(s, name).fill(0.0)
        s.moves.fill(0)
        for name in ("lvl", "target", "ccode", "mcode"):
            getattr(s, name).fill(NO_ORDER)
        s.placements.fill(0)
        self.step_index = 0
        self.last_volume = np.zeros(self.last_volume.shape)
        self.ledger.reset(p.q0, self.mid)

    def step(self, offsets: Any) -> np.ndarray:
        """One decision step ``t -> t + dt``: the agents quote at ``offsets`` (see
        :meth:`set_quotes`), the book runs event by event to ``t + dt``, the fills are booked.

        Returns the shares filled during the step, ``(n_paths, n_agents, 2)`` = (bought on
        the bid, sold on the ask)."""
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        s, p = self._s, self.params
        old_mid = self.mid      # before the quotes: an agent's cancel can move the price
        self.set_quotes(offsets)
        s.fills.fill(0.0)
        s.fill_shift.fill(0.0)
        self.advance_to((self.step_index + 1) * p.dt)
        counts = s.fills.transpose(2, 1, 0)
        volume = counts * p.order_size
        mean_shift = np.divide(s.fill_shift.transpose(2, 1, 0), counts,
                               out=np.zeros(counts.shape), where=counts > 0)
        fill_mid = p.s0 + p.tick_size * mean_shift
        self.ledger.record_fills(old_mid, self._depths, counts, fill_mid=fill_mid)
        self.step_index += 1
        self.ledger.record_move(old_mid, self.mid)
        self.last_volume = volume
        return volume

    @property
    def compiled(self) -> bool:
        """Whether the compiled kernel runs the events (decided on first use; see ``engine``).
        A book with a :class:`~asmm_env.lob.recorder.BookRecorder` attached runs numpy (the
        kernel does not report events one by one); the bytes are the same."""
        if self.recorder is not None:
            return False
        if self._engine_used is None:
            used = "numpy"
            if self.engine != "numpy":
                from asmm_env.lob import _kernel

                if _kernel.resolve(self.engine, self.params):
                    used = "numba"
            self._engine_used = used
        return self._engine_used == "numba"

    def pnl(self) -> np.ndarray:
        """Mark-to-market PnL since the start, ``(n_paths, n_agents)``, price units x shares."""
        return self.ledger.pnl(self.mid)

    # --- observables ----------------------------------------------------------------------

    @property
    def mid(self) -> np.ndarray:
        """Mid price, ``(n_paths,)``, price units (a fresh array)."""
        return self.params.s0 + self.params.tick_size * self._s.shift

    @property
    def best_bid(self) -> np.ndarray:
        """Best bid price, ``(n_paths,)``, price units."""
        return self.params.s0 + self.params.tick_size * (self._s.shift - 0.5)

    @property
    def best_ask(self) -> np.ndarray:
        """Best ask price, ``(n_paths,)``, price units."""
        return self.params.s0 + self.params.tick_size * (self._s.shift + 0.5)

    @property
    def mid_ticks(self) -> np.ndarray:
        """The mid's move since the start, in ticks, ``(n_paths,)`` (a copy)."""
        return self._s.shift.copy()

    @property
    def clock(self) -> np.ndarray:
        """Each path's event clock, time units, ``(n_paths,)`` (a copy)."""
        return self._s.clock.copy()

    def others(self) -> np.ndarray:
        """Other traders' orders per level, ``(n_paths, 2, n_levels)`` (bid, ask), orders."""
        return self._s.Q.transpose(2, 0, 1).copy()

    def _agent_counts(self) -> np.ndarray:
        s, K = self._s, self.n_levels
        counts = np.zeros_like(s.Q)
        for j in range(K):
            counts[:, j] = (s.lvl == j).sum(axis=1)
        return counts

    def queue_sizes(self) -> np.ndarray:
        """Orders resting at each level, the agents' included, ``(n_paths, 2, n_levels)``."""
        return (self._s.Q + self._agent_counts()).transpose(2, 0, 1).copy()

    def best_queues(self) -> tuple[np.ndarray, np.ndarray]:
        """``(Qb, Qa)``: orders at the best bid and ask, agents' included, ``(n_paths,)``."""
        s = self._s
        best = s.Q[:, 0] + s.nbest
        return best[0].copy(), best[1].copy()

    def imbalance(self) -> np.ndarray:
        """Order-book imbalance ``(Qb - Qa) / (Qb + Qa)`` at the best, in [-1, 1],
        ``(n_paths,)``; positive when the bid queue is the longer (an up move is likelier)."""
        qb, qa = self.best_queues()
        return (qb - qa) / (qb + qa)

    def micro_price(self) -> np.ndarray:
        """Size-weighted mid ``bid * Qa / (Qb + Qa) + ask * Qb / (Qb + Qa)``, price units,
        ``(n_paths,)``: a micro-price proxy (Stoikov 2018 calls it the weighted mid)."""
        qb, qa = self.best_queues()
        return (self.best_bid * qa + self.best_ask * qb) / (qb + qa)

    def queue_positions(self) -> np.ndarray:
        """Orders ahead of each agent's order, ``(n_paths, n_agents, 2)`` (bid, ask); NaN
        where the agent has no order on that side."""
        s = self._s
        return np.where(s.lvl >= 0, s.ahead, np.nan).transpose(2, 1, 0).copy()

    def order_levels(self) -> np.ndarray:
        """Level of each agent's order, ticks behind the best on its side (0 = at the best),
        ``(n_paths, n_agents, 2)``; -1 where there is no order."""
        return self._s.lvl.transpose(2, 1, 0).copy()

    def order_counts(self) -> np.ndarray:
        """Orders each agent has placed on each side since reset (fills and window exits
        re-place), ``(n_paths, n_agents, 2)``: an order's identity for tracking its place."""
        return self._s.placements.transpose(2, 1, 0).copy()

    def step_fills(self) -> np.ndarray:
        """Fills (in orders) since the current step began, ``(n_paths, n_agents, 2)``."""
        return self._s.fills.transpose(2, 1, 0).copy()

    def moved_volume(self) -> tuple[np.ndarray, np.ndarray]:
        """``(refilled, dropped)``: other traders' orders drawn into and pushed out of the
        window by price moves since reset, ``(n_paths,)`` each (for conservation checks)."""
        return self._s.refilled.copy(), self._s.dropped.copy()

    def event_rates(self) -> np.ndarray:
        """Rate of every event code in the current state, ``(n_paths, 4 * n_levels + 2)``,
        events per unit time (codes: :func:`event_code`)."""
        cum = self._cumulative_rates(self._s).T
        return np.diff(cum, axis=1, prepend=0.0)

    # --- random streams of a step ---------------------------------------------------------

    def _step_streams(self) -> None:
        """Open the generators of the current decision step (once per step)."""
        if self.streams is None:
            raise RuntimeError("reset() the book before stepping it")
        if self._stream_step == self.step_index:
            return
        st, t = self.streams, self.step_index
        self._stream_step = t
        self._blocks = st.block_slices()
        self._event_gens = [st.step_generator("book", b, t) for b, _, _ in self._blocks]
        self._refill_gens = [st.step_generator("refill", b, t) for b, _, _ in self._blocks]
        self._refill_rows = np.empty((0, 4, self.n_paths))
        self._refill_made = np.zeros(len(self._blocks), dtype=np.int64)
        self._kernel_refill = []
        self._keys = None
        if self.n_agents > 1:
            keys = np.empty((self.n_agents, self.n_paths))
            for (b, paths, width) in self._blocks:
                gen = st.step_generator("tiebreak", b, t)
                keys[:, paths] = gen.random((self.n_agents, st.block_paths))[:, :width]
            self._rank = np.argsort(np.argsort(keys, axis=0), axis=0)   # agent's place, per path
        self._s.moves.fill(0)

    def _event_uniforms(self, s: _State, blocks: np.ndarray) -> np.ndarray:
        """The next row of the ``"book"`` stream of every block in ``blocks`` (those with a
        path in the working set ``s``): ``(2, s.n)`` uniforms, one pair per path."""
        B = self.streams.block_paths
        if len(self._blocks) == 1 and self._blocks[0][2] == B and s.n == self.n_paths:
            return self._event_gens[0].random((2, B))
        rows = np.empty((2, self.n_paths))
        for b in blocks:
            _, paths, width = self._blocks[b]
            rows[:, paths] = self._event_gens[b].random((2, B))[:, :width]
        return rows if s.n == self.n_paths and blocks.size == len(self._blocks) else \
            rows[:, s.pid]

    def _refill_uniforms(self, pid: np.ndarray, move: np.ndarray) -> np.ndarray:
        """Uniforms ``(4, len(pid))`` of the ``move``-th price move of the step on paths
        ``pid`` (global): two new queues, a refill of an empty best, a coin."""
        if self._kernel_refill:
            from asmm_env.lob import _kernel

            _kernel.merge_refill_rows(self)
        B = self.streams.block_paths
        need = int(move.max()) + 1
        if need > self._refill_rows.shape[0]:
            grown = np.empty((need, 4, self.n_paths))
            grown[: self._refill_rows.shape[0]] = self._refill_rows
            self._refill_rows = grown
        for b in np.unique(pid // B):
            have = self._refill_made[b]
            last = int(move[pid // B == b].max()) + 1
            if last > have:
                _, paths, width = self._blocks[b]
                draws = self._refill_gens[b].random((last - have, 4, B))
                self._refill_rows[have:last, :, paths] = draws[..., :width]
                self._refill_made[b] = last
        return self._refill_rows[move, :, pid].T

    # --- agents' orders ------------------------------------------------------------------

    def set_quotes(self, offsets: Any) -> None:
        """Quote at ``offsets`` ticks behind the best: integers ``(n_paths, n_agents, 2)``
        (bid, ask) in ``[0, n_levels - 1]``, or -1 for no order on that side, or ``KEEP``
        (-2): leave the resting order where it is and do not replace it once it is filled
        or pushed out of the window, or :func:`one_shot` ``(j)`` (``-3 - j``): quote at
        level ``j`` as the offset ``j`` does, then do not replace the order once it is
        filled or pushed out (during this step too).

        An order already resting at the chosen level keeps its place; any other is cancelled
        (the orders behind it move up) and a new one joins the back of the chosen level.
        Cancelling the last order of a best queue moves the price as any other depletion
        does, before the new orders are placed."""
        s, A = self._s, self.n_agents
        target = self._validated_offsets(offsets)
        self._step_streams()
        once = target <= _ONE_SHOT
        if once.any():
            target = np.where(once, _ONE_SHOT - target, target)
        keep = target == KEEP
        if keep.any():
            target = np.where(keep, NO_ORDER, target)
            s.target[...] = target
            change = (s.lvl != target) & ~keep
        else:
            s.target[...] = target
            change = s.lvl != target
        for side in (BID, ASK):
            for a in range(A):
                p = np.flatnonzero(change[side, a] & (s.lvl[side, a] >= 0))
                if p.size:
                    self._cancel(s, side, a, p)
        entries = np.flatnonzero(change & (target >= 0))
        emptied = np.flatnonzero((s.Q[:, 0] == 0) & (s.nbest == 0))
        if emptied.size:
            entries = np.concatenate((entries, self._move(s, emptied)))
        if entries.size:
            self._place(s, entries)
        if once.any():
            s.target[once] = NO_ORDER      # placed once: a fill or an exit is not replaced

    def _validated_offsets(self, offsets: Any) -> np.ndarray:
        K, A, n = self.n_levels, self.n_agents, self.n_paths
        arr = np.asarray(offsets)
        if arr.shape != (n, A, 2):
            raise ValueError(f"offsets must have shape (n_paths, n_agents, 2) = {(n, A, 2)}, "
                             f"got shape {arr.shape}")
        if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and (
                not np.isfinite(arr).all() or (arr != np.round(arr)).any())):
            raise ValueError("offsets must be whole numbers of ticks, got "
                             + (repr(arr) if arr.size <= 8 else f"dtype {arr.dtype}"))
        arr = arr.astype(np.int64)
        if arr.min() < _ONE_SHOT - (K - 1) or arr.max() > K - 1:
            raise ValueError(f"offsets must be in [0, {K - 1}] ticks behind the best, or -1 "
                             f"for no order, or -2 (KEEP) to keep the resting order, or "
                             f"one_shot(j) = -3 - j in [{_ONE_SHOT - (K - 1)}, {_ONE_SHOT}] "
                             f"for a one-shot order, got values in [{arr.min()}, {arr.max()}]")
        return arr.transpose(2, 1, 0)

    def _cancel(self, s: _State, side: int, a: int, p: np.ndarray) -> None:
        """Agent ``a`` cancels its order on ``side`` on paths ``p``; those behind move up."""
        lvl, ahead = s.lvl[side, a, p], s.ahead[side, a, p]
        for b in range(self.n_agents):
            if b != a:
                behind = (s.lvl[side, b, p] == lvl) & (s.ahead[side, b, p] > ahead)
                s.ahead[side, b, p] -= behind
        s.nbest[side, p] -= lvl == 0
        s.lvl[side, a, p] = NO_ORDER
        s.ahead[side, a, p] = 0.0
        s.ccode[side, a, p] = _NO_CODE
        s.mcode[side, a, p] = _NO_CODE

    def _place(self, s: _State, entries: np.ndarray) -> None:
        """Orders at ``entries`` (flat indices into ``(2, n_agents, n)``, none resting) join
        the back of the level at their offset (none if it is -1). Orders of several agents
        placed at once queue in a random agent order."""
        A, n = self.n_agents, s.n
        target = s.target.reshape(-1)[entries]
        if (target < 0).any():
            entries, target = entries[target >= 0], target[target >= 0]
        if A == 1:
            self._place_group(s, entries, target)
            return
        # Agents placing at one moment queue in the order of their keys on that path.
        rank = self._rank[entries // n % A, s.pid[entries % n]]
        for r in range(A):
            mine = rank == r
            if mine.any():
                self._place_group(s, entries[mine], target[mine])

    def _place_group(self, s: _State, entries: np.ndarray, target: np.ndarray) -> None:
        """``_place`` for entries with at most one per (side, path)."""
        A, K, n = self.n_agents, self.n_levels, s.n
        side, p = entries // (A * n), entries % n
        ahead = s.Q.reshape(-1)[(side * K + target) * n + p]
        if A > 1:      # other agents' orders already at that level are ahead too
            lvl = s.lvl.reshape(-1)
            for b in range(A):
                ahead += lvl[(side * A + b) * n + p] == target
        at_best = target == 0
        s.lvl.reshape(-1)[entries] = target
        s.ahead.reshape(-1)[entries] = ahead
        s.ccode.reshape(-1)[entries] = 2 * K + side * K + target
        s.mcode.reshape(-1)[entries] = np.where(at_best, 4 * K + side, _NO_CODE)
        s.nbest.reshape(-1)[side * n + p] += at_best
        s.placements.reshape(-1)[entries] += 1

    # --- the event engine ----------------------------------------------------------------

    def _cumulative_rates(self, s: _State) -> np.ndarray:
        """Cumulative event rates for state ``s``, ``(n_event_codes, n)`` (a view of a
        scratch buffer: valid until the next call)."""
        p, K, n = self.params, self.n_levels, s.n
        cum = self._cum[:, :n]
        Qf = s.Q.reshape(2 * K, n)
        cc = cum[2 * K: 4 * K]
        np.copyto(cc[0], Qf[0])
        for i in range(1, 2 * K):
            np.add(cc[i - 1], Qf[i], out=cc[i])
        cc *= p.cancel_rate
        cc += 2 * K * p.limit_rate
        if p.market_boost and p.market_rate:
            small = s.Q[:, 0] + s.nbest <= p.small_queue
            for side in (BID, ASK):
                row = cum[4 * K + side]
                np.multiply(small[side], p.market_rate * p.market_boost, out=row)
                row += p.market_rate
                row += cum[4 * K + side - 1]
        else:
            np.add(cum[4 * K - 1], p.market_rate, out=cum[4 * K])
            np.add(cum[4 * K], p.market_rate, out=cum[4 * K + 1])
        return cum

    def _select(self, cum: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Event codes (int8): how many cumulative rates lie below ``x`` (Gillespie)."""
        less = np.less(cum, x, out=self._less[:, : x.shape[0]])
        return np.add.reduce(less.view(np.int8), axis=0, dtype=np.int8)

    def simulate_events(self, n_events: int) -> None:
        """Run exactly ``n_events`` events on every path, ignoring the decision-step grid
        (each path's clock advances by its own exponential waits): for benchmarks and
        statistics of the book itself. Fills accumulate in :meth:`step_fills`."""
        if self.compiled:
            from asmm_env.lob import _kernel

            return _kernel.simulate_events(self, n_events)
        s = self._s
        self._step_streams()
        blocks = np.arange(len(self._blocks))
        for _ in range(int(n_events)):
            u = self._event_uniforms(s, blocks)
            cum = self._cumulative_rates(s)
            total = cum[-1]
            wait = np.log1p(-u[0], out=u[0])        # minus an Exp(1) wait
            wait /= total
            s.clock -= wait
            x = np.multiply(u[1], total, out=u[1])
            self._apply(s, self._select(cum, x), x, cum)

    def advance_to(self, t_end: float) -> None:
        """Run events on every path until its clock would pass ``t_end`` (time units).

        A path whose next event falls after ``t_end`` stops there with its clock set to
        ``t_end`` (exact: the rates are constant between events and the wait is
        memoryless). Paths still running are gathered into a smaller working set whenever
        fewer than half of the current one run, so the cost follows the events simulated."""
        if self.compiled:
            from asmm_env.lob import _kernel

            return _kernel.advance_to(self, t_end)
        self._step_streams()
        full = self._s
        s, idx = full, None
        blocks = np.arange(len(self._blocks))
        while True:
            n = s.n
            u = self._event_uniforms(s, blocks)
            cum = self._cumulative_rates(s)
            total = cum[-1]
            clock = np.log1p(-u[0], out=u[0])
            clock /= total
            np.subtract(s.clock, clock, out=clock)
            active = clock < t_end
            np.copyto(s.clock, np.where(active, clock, t_end))
            x = np.multiply(u[1], total, out=u[1])
            x[~active] = np.inf                     # inf selects "no event"
            self._apply(s, self._select(cum, x), x, cum)
            n_active = np.count_nonzero(active)
            if n_active == 0:
                break
            if 2 * n_active < n and n >= _MIN_COMPACT:
                keep = np.flatnonzero(active)
                if idx is None:
                    idx = keep
                else:
                    full.put(idx, s)
                    idx = idx[keep]
                s = full.take(idx)
                blocks = np.unique(s.pid // self.streams.block_paths)
        if idx is not None:
            full.put(idx, s)

    def apply_events(self, events: Any, u: Any) -> tuple[np.ndarray, np.ndarray]:
        """Apply one given event per path (codes from :func:`event_code`; ``4K + 2`` for
        none); ``u`` in [0, 1) places a cancellation among the level's other traders' orders
        (the ``floor(u * others)``-th from the front goes). The clock does not move. For
        tests and what-if studies: an event with zero rate raises ``ValueError``.

        Returns ``(filled, move)``: which agents' orders were filled ``(n_paths, n_agents,
        2)`` and the mid's move in ticks ``(n_paths,)``."""
        s = self._s
        events = np.asarray(events)
        u = np.asarray(u, dtype=np.float64)
        if events.shape != (s.n,) or u.shape != (s.n,):
            raise ValueError(f"events and u must have shape (n_paths,) = ({s.n},), got "
                             f"{events.shape} and {u.shape}")
        if (events.dtype.kind not in "iu" or events.min() < 0
                or events.max() > self.no_event):
            raise ValueError(f"events must be integer codes in [0, {self.no_event}], got "
                             f"dtype {events.dtype} with values in "
                             f"[{events.min()}, {events.max()}]")
        if not ((u >= 0) & (u < 1)).all():
            raise ValueError("u must be in [0, 1)")
        self._step_streams()
        real = np.flatnonzero(events < self.no_event)
        cum = self._cumulative_rates(s)
        code = events[real].astype(np.intp)
        high = cum[code, real]
        low = np.where(code > 0, cum[np.maximum(code - 1, 0), real], 0.0)
        if (high <= low).any():
            raise ValueError("events must have a positive rate in the current state "
                             "(e.g. no cancellation at a level without other traders' orders)")
        x = np.full(s.n, np.inf)
        x[real] = low + u[real] * (high - low)     # where Gillespie's draw for this event falls
        fills0, shift0 = s.fills.copy(), s.shift.copy()
        self._apply(s, events.astype(np.int8), x, cum)
        return (s.fills != fills0).transpose(2, 1, 0), s.shift - shift0

    def _apply(self, s: _State, e: np.ndarray, x: np.ndarray, cum: np.ndarray) -> None:
        """Apply events ``e`` (int8 codes, ``(n,)``) drawn as ``x`` against the cumulative
        rates ``cum`` on every path of ``s``."""
        K, n = self.n_levels, s.n
        recorder = self.recorder
        if recorder is not None:
            shift_before = s.shift.copy()
        Qf = s.Q.reshape(2 * K, n)
        # Cancellations: agents' orders at that level move up if the order was ahead.
        hit = np.flatnonzero(np.equal(e, s.ccode))
        if hit.size:
            self._cancel_ahead(s, hit, e, x, cum)
        Qf += np.equal(e, self._lim_codes)
        Qf -= np.equal(e, self._can_codes)
        # Market orders take the front of the best queue: an agent's order or another's.
        best = s.Q[:, 0]
        best -= np.equal(e, self._mk_codes)
        at_best = np.equal(e, s.mcode)
        front = np.logical_and(at_best, s.ahead == 0)
        s.ahead -= at_best
        filled = np.flatnonzero(front)
        if filled.size:
            self._fill(s, filled)
        emptied = np.flatnonzero((best == 0) & (s.nbest == 0))
        if emptied.size:
            dropped = self._move(s, emptied)
            filled = np.concatenate((filled, dropped)) if filled.size else dropped
        if filled.size:
            self._place(s, filled)     # filled and dropped orders re-join at their offsets
        if recorder is not None:
            recorder.record(self, s, e, shift_before)

    def _cancel_ahead(self, s: _State, hit: np.ndarray, e: np.ndarray, x: np.ndarray,
                      cum: np.ndarray) -> None:
        """Orders at ``hit`` (flat indices into ``(2, A, n)``) sit at the level of a
        cancellation. The cancelled order is uniform among the level's ``others``; given the
        event, Gillespie's draw is uniform on its interval, so ``(x - cum[e - 1]) / C`` is
        uniform on [0, others): the order was ahead (and ours moves up) iff that place is
        below the others ahead of ours."""
        A, K, n = self.n_agents, self.n_levels, s.n
        side, p = hit // (A * n), hit % n
        lvl = s.lvl.reshape(-1)
        level = lvl[hit]
        ahead = s.ahead.reshape(-1)[hit]
        others_ahead = ahead
        if A > 1:           # other agents' orders ahead of ours are not others' orders
            others_ahead = ahead.copy()
            for b in range(A):
                j = (side * A + b) * n + p
                others_ahead -= (lvl[j] == level) & (s.ahead.reshape(-1)[j] < ahead)
        place = x[p] - cum[e[p].astype(np.intp) - 1, p]
        moved = place < self.params.cancel_rate * others_ahead
        # When every other order is ahead of ours, rounding in ``place`` must not matter.
        moved |= others_ahead >= s.Q.reshape(-1)[(side * K + level) * n + p]
        ahead -= moved
        s.ahead.reshape(-1)[hit] = ahead

    def _fill(self, s: _State, filled: np.ndarray) -> None:
        """Book fills of the orders at ``filled`` (flat indices into ``(2, A, n)``)."""
        A, K, n = self.n_agents, self.n_levels, s.n
        side, p = filled // (A * n), filled % n
        s.fills.reshape(-1)[filled] += 1.0
        s.fill_shift.reshape(-1)[filled] += s.shift[p]
        s.lvl.reshape(-1)[filled] = NO_ORDER
        s.ccode.reshape(-1)[filled] = _NO_CODE
        s.mcode.reshape(-1)[filled] = _NO_CODE
        s.ahead.reshape(-1)[filled] = 0.0
        s.nbest.reshape(-1)[side * n + p] -= 1.0
        s.Q.reshape(-1)[side * K * n + p] += 1.0   # the market order took ours, not another's

    def _move(self, s: _State, emptied: np.ndarray) -> np.ndarray:
        """Move the price one tick on the paths whose best queue emptied (flat indices
        ``side * n + path``); returns the agents' orders pushed out of the window (flat
        indices into ``(2, A, n)``)."""
        n = s.n
        split = np.searchsorted(emptied, n)
        down, up = emptied[:split], emptied[split:] - n
        both = np.intersect1d(down, up, assume_unique=True)
        if both.size:
            # Both bests emptied at once (agents cancelling their last orders on both sides):
            # the price moves one way, by a coin; that move draws a new best on the other
            # side, so there is no second move.
            coin = self._refill_uniforms(s.pid[both], s.moves[both])[3] < 0.5
            down = np.setdiff1d(down, both[~coin], assume_unique=True)
            up = np.setdiff1d(up, both[coin], assume_unique=True)
        if not up.size:
            return self._move_side(s, BID, down)
        if not down.size:
            return self._move_side(s, ASK, up)
        return np.concatenate((self._move_side(s, BID, down), self._move_side(s, ASK, up)))

    def _move_side(self, s: _State, side: int, p: np.ndarray) -> np.ndarray:
        """The best ``side`` queue emptied on paths ``p``: shift the levels and draw new
        queues (module docstring); BID moves the price down one tick, ASK up."""
        K, A, n, prm = self.n_levels, self.n_agents, s.n, self.params
        other = 1 - side
        u = self._refill_uniforms(s.pid[p], s.moves[p])
        s.moves[p] += 1
        new = poisson_inverse(u[:2], prm.refill) + 1.0
        q = s.Q[:, :, p]                                   # (2, K, k)
        s.dropped[p] += q[other, K - 1]
        shifted = np.empty_like(q)
        shifted[side, : K - 1] = q[side, 1:]
        shifted[side, K - 1] = new[0]
        shifted[other, 1:] = q[other, : K - 1]
        shifted[other, 0] = new[1]
        # Agents' orders keep their price: one level closer on the emptied side, one level
        # further on the other; behind the window they are cancelled (and re-placed).
        lvl = s.lvl[:, :, p]                               # (2, A, k)
        lvl += self._level_step[side] * (lvl >= 0)
        out = lvl >= K
        lvl[out] = NO_ORDER
        s.lvl[:, :, p] = lvl
        at_best = lvl == 0
        nbest = at_best.sum(axis=1)
        s.nbest[:, p] = nbest
        s.ccode[:, :, p] = np.where(lvl >= 0, 2 * K + self._side_k + lvl, _NO_CODE)
        s.mcode[:, :, p] = np.where(at_best, self._side_m, _NO_CODE)
        # A best queue is never empty: an empty level that becomes the best is refilled.
        empty = np.flatnonzero((shifted[side, 0] == 0) & (nbest[side] == 0))
        if empty.size:
            fresh = poisson_inverse(u[2, empty], prm.refill) + 1.0
            shifted[side, 0, empty] = fresh
            s.refilled[p[empty]] += fresh
        s.Q[:, :, p] = shifted
        s.refilled[p] += new[0] + new[1]
        s.shift[p] += 1.0 if side == ASK else -1.0
        out_side, out_agent, out_path = np.nonzero(out)
        dropped = (out_side * A + out_agent) * n + p[out_path]
        s.ahead.reshape(-1)[dropped] = 0.0
        return dropped
