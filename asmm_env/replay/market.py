"""The replay core: one policy's quotes added to recorded books, batched over episode slices
(days, or windows of days), with queue positions, latency, fees and the package's ledger.

Rules (each path replays one slice of the data; our orders never change the data: the
replay assumes our orders had no impact on the others' flow)
--------------------------------------------------------------------------------------------
Decisions. Every ``dt`` the policy gives two depths; the quotes are the mid minus/plus them,
rounded away from the mid onto the tick grid. A side whose price changes sends a cancel of
its resting order (effective ``cancel_latency`` later: the old order can still be filled
until then) and a new order (resting from ``entry_latency`` later: a stale quote meanwhile).
A side the inventory bound forbids gets no new order.

Joining. A new order joins the back of its price level: the orders ahead of it are the shares
the data show at that price at that moment, less the shares traded there since the snapshot
(0 inside the spread or between shown levels). Beyond a side's deepest shown level (when the
data show all their levels) the queue is unknown: the order takes its place behind every
share shown there once the level comes into view (the worst case).

Advancing. A trade at our price consumes the queue ahead of us first. A net decrease D of the
shares shown at our price between two snapshots, beyond the trades there, is cancellations of
unknown position: ``queue="pro_rata"`` moves us up by ``D * ahead / V`` (V the shares there
before), ``"worst"`` leaves us in place; in both, never more ahead than the level holds.

Fills come from trades only (and from the other side crossing us, below): a trade on our side
at a price worse than ours fills our whole remaining order (the market order would have met
ours first); a trade at our price fills what it has left after the queue ahead, so fills can
be partial. When the opposite best moves onto or through our price (a bid's price becomes
``>=`` the best ask), our order is filled whole: the incoming opposite orders would have
traded with it. Fills are at our price; the mid at a fill is the mid just before the trade
(or the crossing). A wholly filled order is replaced at once (after ``entry_latency``) at the
back of the same price, until the next decision; a partly filled one keeps its place.

Accounting: the step's fills go to :class:`asmm_env.ledger.Ledger` with the share-weighted mid
and depth at the fills, so ``pnl = spread_capture + inventory_pnl + fees + liquidation`` on
every path and step as on every other face.

Performance: events are applied one per path per iteration, vectorised over the paths that
have one (no Python loop over paths); the cost follows the largest number of events in a
step over the paths replayed together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.ledger import Ledger
from asmm_env.market import EpisodeClock
from asmm_env.replay.params import ReplayParams
from asmm_env.replay.tape import ROW, TRADE, ReplayTape
from asmm_env.streams import RandomStreams, episode_streams

_SIGN = np.array([1.0, -1.0])        # signed prices: bids as they are, asks negated


class ReplayMarket(EpisodeClock):
    """Batched replay of recorded data (rules in the module docstring). Market-like:
    ``reset(seed)``, ``step(depths)``, ``ledger``, ``mid``, ``pnl()``, ``done``, so the
    rewards, the Gymnasium faces and :func:`asmm_env.rollout.rollout` (with
    ``market_factory``) drive it as they drive the model.

    Parameters
    ----------
    params : ReplayParams
        The replay's rules; fields left None are set from the data (``self.params`` is the
        resolved copy).
    n_paths : int
        Slices replayed at once (>= 1). Path ``i`` replays slice ``(first + i) % n_slices``
        where ``first`` moves on by ``n_paths`` at every reset not given a seed (see
        :meth:`reset`).
    n_agents : int
        Must be 1: the replay has one market maker.
    data : LobsterData, TradesQuotes, a sequence of them, or a ReplayTape
        The recorded days (:class:`~asmm_env.replay.tape.ReplayTape` accepts the same).
    block_paths : int, optional
        Paths per block of the random streams (latency draws).
    """

    def __init__(self, params: ReplayParams, n_paths: int = 1, n_agents: int = 1, *,
                 data: Any, block_paths: int | None = None) -> None:
        if not isinstance(params, ReplayParams):
            raise TypeError(f"params must be a ReplayParams, got {type(params).__name__}")
        for name, value in (("n_paths", n_paths), ("n_agents", n_agents)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if n_agents != 1:
            raise ValueError(f"n_agents must be 1 (a replay has one market maker), got "
                             f"{n_agents!r}")
        if isinstance(data, ReplayTape):
            tape = data
            if params.tick_size is not None and params.tick_size != tape.tick:
                raise ValueError(f"tick_size must be the tape's ({tape.tick!r}) or None, got "
                                 f"{params.tick_size!r}")
        else:
            tape = ReplayTape.from_data(data, params.tick_size)
        spans = [tape.day_span(d, params.start) for d in range(tape.n_days)]
        shortest = min(t1 - t0 for t0, t1 in spans)
        T = params.T if params.T is not None else np.floor(
            (shortest + params.dt * (1 - 1e-9)) / params.dt + 1e-9) * params.dt
        if T <= 0:
            raise ValueError(f"dt={params.dt!r} is longer than the shortest dataset "
                             f"({shortest!r} time units): nothing to replay")
        self.params = params = params.resolve(T=float(T), tick_size=tape.tick,
                                              max_depth=tape.max_depth())
        self.tape = tape
        self.slices = tape.slices(params.T, params.dt, params.start)
        if not self.slices:
            raise ValueError(f"T={params.T!r} is longer than every dataset (the longest spans "
                             f"{max(t1 - t0 for t0, t1 in spans)!r} time units)")
        self.n_slices = len(self.slices)
        self.n_paths, self.n_agents = int(n_paths), 1
        self.n_steps = params.n_steps
        self.block_paths = block_paths
        self._bounds, self._start_row = self._slice_index()
        self._entry, self._cancel = params.latency("entry"), params.latency("cancel")
        self._random_latency = not all(hasattr(m, "seconds") for m in (self._entry,
                                                                       self._cancel))
        self.ledger = Ledger(n_paths, 1, params.adverse_selection_steps, params.fee,
                             params.order_size)
        self.streams: RandomStreams | None = None
        self.step_index = 0
        self._first: int | None = None
        self.last_volume = np.zeros((n_paths, 1, 2))
        self._alloc()

    # --- set-up ---------------------------------------------------------------------------

    def _slice_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Event bounds of every slice's steps ``(n_slices, n_steps + 1)`` (step ``k`` takes
        the events with ``t_k < time <= t_{k+1}``) and the row in effect at each start."""
        tape, dt, K = self.tape, self.params.dt, self.n_steps
        bounds = np.empty((self.n_slices, K + 1), dtype=np.int64)
        start_row = np.empty(self.n_slices, dtype=np.int64)
        row_seen = np.where(tape.ev_kind == ROW, tape.ev_ref, -1)
        for i, (day, t0) in enumerate(self.slices):
            e0, e1 = tape.day_events[day], tape.day_events[day + 1]
            grid = t0 + dt * np.arange(K + 1)
            bounds[i] = e0 + np.searchsorted(tape.ev_time[e0:e1], grid, side="right")
            seen = row_seen[e0: bounds[i, 0]]
            seen = seen[seen >= 0]
            start_row[i] = seen[-1] if seen.size else tape.day_rows[day]
        return bounds, start_row

    def _alloc(self) -> None:
        n, L = self.n_paths, self.tape.levels
        self._px = np.full((n, 2, 2), np.nan)       # (path, side, slot) signed units
        self._rem = np.zeros((n, 2, 2))
        self._ahead = np.full((n, 2, 2), np.nan)
        self._ton = np.full((n, 2, 2), np.inf)
        self._toff = np.full((n, 2, 2), np.inf)
        self._placed = np.zeros((n, 2, 2), dtype=bool)
        self._next = np.full(n, np.inf)             # the earliest pending timer per path
        self._consumed = np.zeros((n, 2, L))        # traded at each level since the row
        self._row = np.zeros(n, dtype=np.int64)
        self._slice = np.zeros(n, dtype=np.int64)

    # --- episode (market-like API) -------------------------------------------------------

    def reset(self, seed: Any = None, *, first_block: int = 0) -> None:
        """Start episodes on every path. A ``seed`` (an int, a sequence of ints, a
        ``SeedSequence`` or ``RandomStreams``) seeds the latency draws and starts from the
        first slices: path ``i`` replays slice ``(first_block * block_paths + i) %
        n_slices``; ``None`` or a ``Generator`` (an env's unseeded reset or autoreset) draws
        the latency seed from it and moves on to the next ``n_paths`` slices."""
        if seed is None or isinstance(seed, np.random.Generator):
            self._first = 0 if self._first is None else self._first + self.n_paths
        else:
            self._first = 0
        streams = episode_streams(seed, self.n_paths, block_paths=self.block_paths,
                                  first_block=first_block)
        self.streams = streams
        self._latency = (streams.source("latency", "uniform", (2, 2))
                         if self._random_latency else None)
        first = streams.first_block * streams.block_paths + (self._first or 0)
        self._slice = (first + np.arange(self.n_paths)) % self.n_slices
        self._alloc_state()
        self.step_index = 0
        self.last_volume = np.zeros((self.n_paths, 1, 2))
        self.ledger.reset(self.params.q0, self.mid)

    def _alloc_state(self) -> None:
        keep = self._slice
        self._alloc()
        self._slice = keep
        self._row = self._start_row[keep].copy()
        self._t0 = np.array([self.slices[i][1] for i in keep])
        self._steps = self._bounds[keep]

    @property
    def mid(self) -> np.ndarray:
        """Mid of the data at the current time, ``(n_paths,)``, currency units."""
        return self.tape.row_mid[self._row]

    @property
    def best_bid(self) -> np.ndarray:
        """Best bid of the data, ``(n_paths,)`` (carried over a one-sided book)."""
        return self.tape.row_best[self._row, 0]

    @property
    def best_ask(self) -> np.ndarray:
        """Best ask of the data, ``(n_paths,)`` (carried over a one-sided book)."""
        return self.tape.row_best[self._row, 1]

    def best_sizes(self) -> np.ndarray:
        """Shares at the best bid and ask the data show, ``(n_paths, 2)``, net of the trades
        since the snapshot."""
        return np.maximum(self.tape.row_sz[self._row, :, 0] - self._consumed[:, :, 0], 0.0)

    def queue_positions(self) -> np.ndarray:
        """Shares ahead of our resting order on each side, ``(n_paths, 2)`` (bid, ask); NaN
        without a resting order or where the queue is unknown."""
        live = self._placed & (self._toff == np.inf) & (self._rem > 0)
        ahead = np.take_along_axis(self._ahead, live.argmax(axis=2)[..., None], axis=2)[..., 0]
        return np.where(live.any(axis=2), ahead, np.nan)

    def pnl(self) -> np.ndarray:
        """PnL since the start, ``(n_paths, 1)``: marked to the mid, less the liquidation cost
        once charged."""
        return self.ledger.pnl(self.mid)

    def capacity(self) -> np.ndarray | None:
        """Shares each side may still buy / sell before the inventory bound, ``(n_paths, 1,
        2)``, or None when unbounded."""
        Q = self.params.max_inventory
        if Q is None:
            return None
        q = self.ledger.inventory
        return np.stack([Q - q, Q + q], axis=-1)

    def allowed_sides(self) -> np.ndarray | None:
        """Which quotes the inventory bound allows, ``(n_paths, 1, 2)``, or None."""
        cap = self.capacity()
        return None if cap is None else cap >= self.params.order_size - 1e-9

    def on_grid(self, depths: np.ndarray) -> np.ndarray:
        """Depths of the quotes once their prices are rounded onto the tick grid, away from
        the mid."""
        if not self.tape.tick:
            return depths
        mid = self.mid[:, None]
        bid = self.tape.to_price(self.tape.to_units(mid - depths[..., 0], 0))
        ask = self.tape.to_price(self.tape.to_units(mid + depths[..., 1], 1))
        return np.stack([mid - bid, ask - mid], axis=-1)

    def step(self, depths: np.ndarray) -> np.ndarray:
        """One decision step: quote at ``depths`` ``(n_paths, 1, 2)`` (bid, ask; currency
        units from the mid), replay the data's events to ``t + dt``, book the fills. Returns
        the shares filled, ``(n_paths, 1, 2)``."""
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        depths = np.asarray(depths, dtype=np.float64)
        n = self.n_paths
        if depths.shape != (n, 1, 2):
            raise ValueError(f"depths must have shape (n_paths, 1, 2) = ({n}, 1, 2), got "
                             f"{depths.shape}")
        p, tape, k = self.params, self.tape, self.step_index
        t = self._t0 + k * p.dt
        old_mid = self.mid
        if self._latency is not None:
            u = self._latency.next()
            self._lat_entry = np.minimum(self._entry.quantile(u[:, :, 0]), p.dt * (1 - 1e-9))
            self._lat_cancel = np.minimum(self._cancel.quantile(u[:, :, 1]), p.dt * (1 - 1e-9))
        else:
            self._lat_entry = np.full((n, 2), float(self._entry.seconds))
            self._lat_cancel = np.full((n, 2), float(self._cancel.seconds))
        self._acc = np.zeros((4, n, 2))      # fills, shares, shares x mid, shares x price
        self._join_now = []
        self._q = self.ledger.inventory[:, 0].copy()
        self._decide(depths[:, 0, :], old_mid, t)
        lo, hi = self._steps[:, k], self._steps[:, k + 1]
        if p.queue == "random":
            self._u_queue = self._queue_uniforms(k, int((hi - lo).max()) if n else 0)
        path, e = self._relevant_events(lo, hi)
        count = np.bincount(path, minlength=n)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        order = np.argsort(-count, kind="stable")
        ranked = count[order]
        for j in range(int(ranked[0]) if n else 0):
            active = order[: np.searchsorted(-ranked, -j, side="left")]
            ev = e[first[active] + j]
            # Rows skipped since the last event applied: bring the book up to date.
            before = tape.ev_before[ev]
            stale = self._row[active] != before
            if stale.any():
                self._row[active[stale]] = before[stale]
                self._consumed[active[stale]] = 0.0
            te = tape.ev_time[ev]
            due = self._next[active] <= te
            if due.any():
                self._timers(active[due], te[due])
            is_trade = tape.ev_kind[ev] == TRADE
            if is_trade.any():
                self._trade(active[is_trade], tape.ev_ref[ev[is_trade]], te[is_trade])
            if not is_trade.all():
                rows = ~is_trade
                self._new_row(active[rows], tape.ev_ref[ev[rows]],
                              ev[rows] - lo[active[rows]])
        last = hi > lo
        if last.any():
            end_row = np.where(tape.ev_kind[hi - 1] == ROW, tape.ev_ref[hi - 1],
                               tape.ev_before[hi - 1])
            stale = last & (self._row != end_row)
            self._row[stale] = end_row[stale]
            self._consumed[stale] = 0.0
        t_end = t + p.dt
        due = np.flatnonzero(self._next <= t_end)
        if due.size:
            self._timers(due, t_end[due])
        fills, shares, mid_shares, px_shares = self._acc
        if shares.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                fill_mid = np.where(shares > 0, mid_shares / shares, old_mid[:, None])
                edge = np.where(shares > 0, (mid_shares - px_shares) / shares, 0.0)
            depth = edge * np.array([1.0, -1.0])        # an ask's edge is price - mid
            self.ledger.record_fills(old_mid, depth[:, None, :], fills[:, None, :],
                                     fill_mid=fill_mid[:, None, :],
                                     volume=shares[:, None, :])
        else:
            self.ledger.record_fills(old_mid, np.zeros((n, 1, 2)), fills[:, None, :])
        self.step_index += 1
        self.ledger.record_move(old_mid, self.mid)
        if p.liquidation_cost and self.done:
            self.ledger.liquidate(p.liquidation_cost)
        self.last_volume = shares[:, None, :].copy()
        return self.last_volume

    # --- our orders ------------------------------------------------------------------------

    def _decide(self, depths: np.ndarray, mid: np.ndarray, t: np.ndarray) -> None:
        """New target prices: cancel the resting order of a side whose price changes and
        send a new one (module docstring)."""
        tape, p = self.tape, self.params
        target = np.stack([tape.to_units(mid - depths[:, 0], 0),
                           -tape.to_units(mid + depths[:, 1], 1)], axis=1)   # signed
        cap = self.capacity()
        if cap is not None:
            target = np.where(cap[:, 0] >= p.order_size - 1e-9, target, np.nan)
        target = np.where(np.isfinite(depths), target, np.nan)
        live = (self._toff == np.inf) & (np.isfinite(self._px))
        has = live.any(axis=2)
        slot = live.argmax(axis=2)
        path, side = np.indices(has.shape)
        current = np.where(has, self._px[path, side, slot], np.nan)
        same = (current == target) | (np.isnan(current) & np.isnan(target))
        cancel = has & ~same
        if cancel.any():
            pp, ss = np.nonzero(cancel)
            kk = slot[pp, ss]
            off = t[pp] + self._lat_cancel[pp, ss]
            now = self._lat_cancel[pp, ss] == 0          # no latency: gone at once
            self._clear(pp[now], ss[now], kk[now])
            self._toff[pp[~now], ss[~now], kk[~now]] = off[~now]
        new = ~same & np.isfinite(target)
        if new.any():
            pp, ss = np.nonzero(new)
            free = np.where(has[pp, ss], 1 - slot[pp, ss], 0)
            self._px[pp, ss, free] = target[pp, ss]
            self._rem[pp, ss, free] = p.order_size
            self._ahead[pp, ss, free] = np.nan
            self._placed[pp, ss, free] = False
            self._ton[pp, ss, free] = t[pp] + self._lat_entry[pp, ss]
            self._toff[pp, ss, free] = np.inf
            now = self._lat_entry[pp, ss] == 0
            self._place(pp[now], ss[now], free[now])
        self._refresh_next(np.flatnonzero((cancel | new).any(axis=1)))

    def _refresh_next(self, paths: np.ndarray) -> None:
        if not paths.size:
            return
        px = self._px[paths]
        waiting = np.isfinite(px) & ~self._placed[paths]
        on = np.where(waiting, self._ton[paths], np.inf).min(axis=(1, 2))
        off = np.where(np.isfinite(px), self._toff[paths], np.inf).min(axis=(1, 2))
        self._next[paths] = np.minimum(on, off)

    def _timers(self, paths: np.ndarray, now: np.ndarray) -> None:
        """Cancels and entries due by ``now`` on ``paths``: expire, then place."""
        now3 = now[:, None, None]
        px = self._px[paths]
        off = np.isfinite(px) & (self._toff[paths] <= now3)
        if off.any():
            pp, ss, kk = np.nonzero(off)
            self._clear(paths[pp], ss, kk)
        on = np.isfinite(self._px[paths]) & ~self._placed[paths] & (self._ton[paths] <= now3)
        if on.any():
            pp, ss, kk = np.nonzero(on)
            self._place(paths[pp], ss, kk)
        self._refresh_next(paths)

    def _place(self, g: np.ndarray, ss: np.ndarray, kk: np.ndarray) -> None:
        """Orders ``(g, ss, kk)`` arrive: they join the back of their level."""
        if g.size:
            self._ahead[g, ss, kk] = self._visible(g, ss, self._px[g, ss, kk])
            self._placed[g, ss, kk] = True
            self._ton[g, ss, kk] = np.inf

    def _clear(self, g: np.ndarray, ss: np.ndarray, kk: np.ndarray) -> None:
        self._px[g, ss, kk] = np.nan
        self._rem[g, ss, kk] = 0.0
        self._ahead[g, ss, kk] = np.nan
        self._placed[g, ss, kk] = False
        self._ton[g, ss, kk] = np.inf
        self._toff[g, ss, kk] = np.inf

    def _visible(self, g: np.ndarray, ss: np.ndarray, sp: np.ndarray,
                 row: np.ndarray | None = None) -> np.ndarray:
        """Shares the data show at signed price ``sp`` on side ``ss`` of paths ``g`` (net of
        trades since the snapshot, unless ``row`` is given: a new snapshot); NaN beyond the
        deepest shown level of a side that shows all its levels."""
        tape = self.tape
        r = self._row[g] if row is None else row
        px = tape.row_px[r, ss]                                   # (k, L)
        sz = tape.row_sz[r, ss]
        if row is None:
            sz = np.maximum(sz - self._consumed[g, ss], 0.0)
        size = np.sum(np.where(px == sp[:, None], sz, 0.0), axis=1)
        deepest = np.where(np.isfinite(px), px, np.inf).min(axis=1)
        unknown = tape.row_full[r, ss] & (sp < deepest)
        return np.where(unknown, np.nan, size)

    def _fill(self, g: np.ndarray, ss: np.ndarray, kk: np.ndarray, amount: np.ndarray,
              mid: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Fill ``amount`` shares of the orders ``(g, ss, kk)`` (one per path and side);
        returns the shares filled (fewer at the inventory bound)."""
        p = self.params
        Q = p.max_inventory
        sign = 1.0 - 2.0 * ss                                     # +1 buy (bid), -1 sell
        if Q is not None:
            amount = np.minimum(amount, np.maximum(Q - sign * self._q[g], 0.0))
        filled = amount
        capped = amount < self._rem[g, ss, kk] - 1e-9
        keep = amount > 0
        g, ss, kk, amount, mid, now, sign = (a[keep] for a in (g, ss, kk, amount, mid, now,
                                                                 sign))
        price = self.tape.to_price(_SIGN[ss] * self._px[g, ss, kk])
        acc = self._acc
        np.add.at(acc[0], (g, ss), 1.0)
        np.add.at(acc[1], (g, ss), amount)
        np.add.at(acc[2], (g, ss), amount * mid)
        np.add.at(acc[3], (g, ss), amount * price)
        np.add.at(self._q, g, sign * amount)
        rem = self._rem[g, ss, kk] - amount
        self._rem[g, ss, kk] = np.where(rem > 1e-9, rem, 0.0)
        # A wholly filled order is replaced (the standing instruction), unless it was being
        # cancelled or the inventory bound stops it; one cut at the bound is withdrawn.
        done = rem <= 1e-9
        if Q is not None:
            done |= capped[keep] & (sign * self._q[g] + 1e-9 >= Q)
        if not done.any():
            return filled
        g, ss, kk, now, sign = g[done], ss[done], kk[done], now[done], sign[done]
        again = self._toff[g, ss, kk] == np.inf
        if Q is not None:
            again &= sign * self._q[g] + p.order_size <= Q + 1e-9
        self._clear(g[~again], ss[~again], kk[~again])
        g, ss, kk, now = g[again], ss[again], kk[again], now[again]
        if g.size:
            self._rem[g, ss, kk] = p.order_size
            self._placed[g, ss, kk] = False
            self._ahead[g, ss, kk] = np.nan
            lat = self._lat_entry[g, ss]
            self._ton[g, ss, kk] = now + lat
            # Without latency the replacement is placed by the caller once the event is
            # applied (it joins behind what the event left); else at its time.
            at_once = lat == 0
            self._join_now.append((g[at_once], ss[at_once], kk[at_once]))
            later = ~at_once
            if later.any():
                self._next[g[later]] = np.minimum(self._next[g[later]],
                                                  self._ton[g[later], ss[later], kk[later]])
        return filled

    def _join_waiting(self) -> None:
        """Place the replacements without latency queued by :meth:`_fill`."""
        for g, ss, kk in self._join_now:
            self._place(g, ss, kk)
        self._join_now = []

    # --- the data's events ----------------------------------------------------------------

    def _trade(self, paths: np.ndarray, m: np.ndarray, now: np.ndarray) -> None:
        """A trade on each of ``paths``: fills of our orders on the side it hits, then the
        shares it took from the shown queue."""
        tape = self.tape
        side = (tape.tr_side[m] > 0).astype(np.int64)            # 1: buyer hits the asks
        x, z = tape.tr_px[m], tape.tr_size[m]
        sp = self._px[paths, side]                               # (k, 2 slots)
        rem = self._rem[paths, side]
        live = self._placed[paths, side] & (rem > 0)
        through = live & (sp > x[:, None])
        ours = np.zeros(paths.size)              # shares of the trade that filled us there
        if through.any() or (live & (sp == x[:, None])).any():
            ahead = self._ahead[paths, side]
            at = live & (sp == x[:, None]) & np.isfinite(ahead)
            mid = tape.row_mid[self._row[paths]]
            if at.any():
                i, k = np.nonzero(at)
                self._ahead[paths[i], side[i], k] = np.maximum(ahead[i, k] - z[i], 0.0)
                level = z[i] > ahead[i, k]
                i, k = i[level], k[level]
                if i.size:
                    got = self._fill(paths[i], side[i], k,
                                     np.minimum(z[i] - ahead[i, k], rem[i, k]), mid[i], now[i])
                    np.add.at(ours, i, got)
            if through.any():
                i, k = np.nonzero(through)
                self._fill(paths[i], side[i], k, rem[i, k], mid[i], now[i])
        # The shown queue lost what the trade did not take from us: all of it in data
        # recorded without us; none of our fill in data that hold our own trades (the
        # recorder's, with an agent quoting), where the book shows only the others' orders.
        level = tape.row_px[self._row[paths], side] == x[:, None]    # (k, L)
        pp, ll = np.nonzero(level)
        if pp.size:
            self._consumed[paths[pp], side[pp], ll] += np.maximum(z - ours, 0.0)[pp]
        # An order replaced at once after its fill joins behind what the trade left.
        self._join_waiting()

    def _queue_uniforms(self, step: int, most: int) -> np.ndarray:
        """Uniforms ``(most, n_paths)`` for the ``"random"`` queue rule: one per event of a
        path in the step, by its place in the step (the same for every policy)."""
        u = np.empty((most, self.n_paths))
        B = self.streams.block_paths
        for b, paths, width in self.streams.block_slices():
            u[:, paths] = self.streams.step_generator("queue", b, step).random(
                (most, B))[:, :width]
        return u

    def _relevant_events(self, lo: np.ndarray, hi: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """The step's events that can touch our orders, as ``(path, event)`` sorted by path
        and time: trades at or through a price of ours on its side, and rows that change
        the shares shown at a price of ours, whether it is known, or whether the other side
        crosses it. Our prices only change at decisions (fills re-join at the same price),
        so the others change nothing for us and are skipped (the book is brought up to date
        before each event applied and at the end of the step)."""
        tape = self.tape
        count = hi - lo
        path = np.repeat(np.arange(self.n_paths), count)
        if not path.size:
            return path, path
        e = np.arange(path.size) - np.repeat(np.cumsum(count) - count, count) + lo[path]
        sp = self._px[path]                                       # (N, 2, 2)
        has = np.isfinite(sp)
        keep = np.zeros(path.size, dtype=bool)
        trade = tape.ev_kind[e] == TRADE
        if trade.any():
            m = tape.ev_ref[e[trade]]
            side = (tape.tr_side[m] > 0).astype(np.int64)
            hit = sp[trade, side]
            keep[trade] = (np.isfinite(hit) & (hit >= tape.tr_px[m][:, None])).any(axis=1)
        rows = ~trade
        if rows.any():
            s_r, h_r = sp[rows], has[rows]
            new, old = tape.ev_ref[e[rows]], tape.ev_before[e[rows]]
            a, b = self._shown(old, s_r, None), self._shown(new, s_r, None)
            changed = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            with np.errstate(invalid="ignore"):
                cross = (s_r >= -tape.row_px[new, ::-1, 0][:, :, None]) != \
                    (s_r >= -tape.row_px[old, ::-1, 0][:, :, None])
            keep[rows] = (h_r & (changed | cross)).any(axis=(1, 2))
        return path[keep], e[keep]

    def _new_row(self, paths: np.ndarray, rows: np.ndarray, j: np.ndarray) -> None:
        """A new snapshot on each of ``paths`` (their ``j``-th event of the step): queue
        positions (cancellations), crossings, then the current row."""
        placed = self._placed[paths] & (self._rem[paths] > 0)
        busy = placed.any(axis=(1, 2))
        if busy.any():
            self._reposition(paths[busy], rows[busy], placed[busy], j[busy])
        self._row[paths] = rows
        self._consumed[paths] = 0.0
        self._join_waiting()

    def _shown(self, rows: np.ndarray, sp: np.ndarray,
               consumed: np.ndarray | None) -> np.ndarray:
        """Shares shown at the signed prices ``sp`` ``(k, 2, 2)`` in ``rows`` (less
        ``consumed``), NaN beyond the deepest level of a side that shows all its levels."""
        tape = self.tape
        px = tape.row_px[rows]                                    # (k, 2, L)
        sz = tape.row_sz[rows]
        if consumed is not None:
            sz = np.maximum(sz - consumed, 0.0)
        size = np.sum(np.where(sp[..., None] == px[:, :, None, :], sz[:, :, None, :], 0.0),
                      axis=3)
        deepest = np.where(np.isfinite(px), px, np.inf).min(axis=2)
        unknown = tape.row_full[rows][:, :, None] & (sp < deepest[:, :, None])
        return np.where(unknown, np.nan, size)

    def _reposition(self, paths: np.ndarray, rows: np.ndarray, placed: np.ndarray,
                    j: np.ndarray) -> None:
        tape, p = self.tape, self.params
        old = self._row[paths]
        sp = self._px[paths]                                      # (k, 2, 2)
        v_old = self._shown(old, sp, self._consumed[paths])
        v_new = self._shown(rows, sp, None)
        ahead = self._ahead[paths]
        known_new = np.isfinite(v_new)
        with np.errstate(invalid="ignore", divide="ignore"):
            shrink = np.isfinite(ahead) & np.isfinite(v_old) & known_new & (v_new < v_old)
            if p.queue == "pro_rata":
                ahead = np.where(shrink, ahead * v_new / v_old, ahead)
            elif p.queue == "random":
                first = self._u_queue[j, paths][:, None, None] * v_old < ahead
                ahead = np.where(shrink & first, np.maximum(ahead - (v_old - v_new), 0.0),
                                 ahead)
            ahead = np.where(np.isnan(ahead) & known_new, v_new, ahead)
            ahead = np.where(known_new, np.minimum(ahead, v_new), ahead)
        self._ahead[paths] = np.where(placed, ahead, self._ahead[paths])
        # The other side's best moving onto our price: filled (the crossing orders trade).
        opp_old = -tape.row_px[old, ::-1, 0][:, :, None]
        opp_new = -tape.row_px[rows, ::-1, 0][:, :, None]
        with np.errstate(invalid="ignore"):
            cross = placed & (sp >= opp_new) & ~(sp >= opp_old)
        if cross.any():
            pp, ss, kk = np.nonzero(cross)
            g = paths[pp]
            self._fill(g, ss, kk, self._rem[g, ss, kk], tape.row_mid[old[pp]],
                       tape.row_time[rows[pp]])
