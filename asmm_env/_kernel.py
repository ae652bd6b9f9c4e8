"""The compiled step of the reduced-form market (optional: ``pip install asmm_env[fast]``).

One fused pass over the paths does what :meth:`asmm_env.market.Market.step` does with numpy
for one agent: the orders reaching each quote (:class:`asmm_env.fills.OrderFlow`), the
capacities, the ledger's bookings (:meth:`asmm_env.ledger.Ledger.record_fills`), the
permanent impact and the mark to the new mid (:meth:`~asmm_env.ledger.Ledger.record_move`).
It reads the same uniforms and performs the same floating-point operations in the same order,
so it gives the same bytes as the numpy path; numpy and the compiled code compute ``exp`` with
different libraries, so :func:`available` first checks on a fixed sample that they agree to
the bit on this machine and otherwise leaves the numpy path in charge. The library never needs
this module: without numba every result is the same, only slower.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

try:       # pragma: no cover - exercised where numba is installed
    import numba as _nb
except ImportError:          # the optional extra is not installed
    _nb = None

_RULES = {"poisson": 0, "exponential": 1, "linear": 2}
#: Rows of the ledger array the compiled bookings return (fills and volume: bid, ask).
FIELDS = ("cash", "inventory", "spread_capture", "fees", "max_abs_inventory", "recent",
          "inventory_pnl", "adverse_selection", "bid_fills", "ask_fills", "bid_volume",
          "ask_volume", "pnl")
_state: dict[str, bool] = {}


def available() -> bool:
    """Whether the compiled step is installed and agrees with numpy to the bit here."""
    if "ok" not in _state:
        _state["ok"] = _nb is not None and _self_check()
    return _state["ok"]


def _self_check() -> bool:
    x = np.random.default_rng(12345).uniform(-60.0, 5.0, 100_000)
    same = np.array_equal(np.exp(x).view(np.int64), _exp(x).view(np.int64))
    if not same:
        log.warning("compiled exp differs from numpy's on this machine: the market keeps its "
                    "numpy step (same results, slower)")
    return same


if _nb is not None:   # pragma: no cover - compiled code is tested against the numpy path
    _jit = _nb.njit(cache=True, nogil=True, fastmath=False)

    @_jit
    def _exp(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = math.exp(x[i])
        return out

    @_jit
    def _orders(u, lam, rule):
        """Orders reaching a quote with expected count ``lam`` (fills.OrderFlow.orders)."""
        if rule == 2:
            return 1.0 if u >= 1.0 - lam else 0.0
        p = math.exp(-lam)
        if u < p:
            return 0.0
        if rule == 1:
            return 1.0
        pp = p
        cdf = p
        n = 0.0
        while True:
            n += 1.0
            pp = pp * lam / n
            cdf = cdf + pp
            if not (u >= cdf and pp > 0.0):
                return n

    def _counts(depths, u, dS, capacity, bounded, log_rate, k, toxicity, rule):
        """Fills (n, 2) of one agent's quotes: its orders, capped by its capacity."""
        n = depths.shape[0]
        out = np.empty((n, 2))
        for i in _nb.prange(n):
            s = 0.0
            if toxicity != 0.0:
                s = 1.0 if dS[i] > 0.0 else (-1.0 if dS[i] < 0.0 else 0.0)
            for side in range(2):
                d = depths[i, side]
                if bounded and not capacity[i, side] > 0.0:
                    d = np.inf
                rate = math.exp(max(d, 0.0) * -k + log_rate)
                if toxicity != 0.0:
                    sign = -1.0 if side == 0 else 1.0
                    rate = rate * (1.0 + toxicity * s * sign)
                c = _orders(u[i, side], rate, rule)
                if bounded:
                    c = min(c, capacity[i, side])
                out[i, side] = c
        return out

    def _book(mid, dS, depths, fills, size, fee, impact, net_bought, recent, ring_slot,
              cash, inventory, spread_capture, fees, count, volume, max_abs, inventory_pnl,
              adverse, initial_value, liquidation):
        """Ledger.record_fills, the impact and Ledger.record_move for (n, a) accounts,
        writing new arrays: returns ``(out, mid)``, ``out`` the ledger's new fields stacked
        (:data:`FIELDS`, ``(12, n, a)``) and the new mid. ``net_bought`` (n,): the shares all
        agents bought minus sold (numpy's sum, for the impact)."""
        n, a = cash.shape
        out = np.empty((13, n, a))       # one array: one boxing on return (see FIELDS)
        o_cash, o_inv, o_spread, o_fees, o_max, o_recent = out[0], out[1], out[2], out[3], \
            out[4], out[5]
        o_inv_pnl, o_adverse = out[6], out[7]
        o_count = out[8:10].transpose(1, 2, 0)
        o_volume = out[10:12].transpose(1, 2, 0)
        o_mid = np.empty(n)
        # Ledger.record_fills takes a shortcut when no quote filled anywhere: so must we.
        any_fill = False
        for i in range(n):
            for j in range(a):
                if fills[i, j, 0] != 0.0 or fills[i, j, 1] != 0.0:
                    any_fill = True
        for i in _nb.prange(n):
            m = mid[i]
            ds = dS[i]
            if impact != 0.0:
                ds = ds - impact * net_bought[i]
            new = m + ds
            o_mid[i] = new
            move = new - m
            for j in range(a):
                if not any_fill:
                    o_recent[i, j] = recent[i, j] - ring_slot[i, j] \
                        if ring_slot[i, j] != 0.0 else recent[i, j]
                    ring_slot[i, j] = 0.0
                    o_cash[i, j] = cash[i, j]
                    o_inv[i, j] = inventory[i, j]
                    o_spread[i, j] = spread_capture[i, j]
                    o_fees[i, j] = fees[i, j]
                    o_count[i, j, 0] = count[i, j, 0]
                    o_count[i, j, 1] = count[i, j, 1]
                    o_volume[i, j, 0] = volume[i, j, 0]
                    o_volume[i, j, 1] = volume[i, j, 1]
                    o_max[i, j] = max_abs[i, j]
                else:
                    fb, fa = fills[i, j, 0], fills[i, j, 1]
                    if size != 1.0:
                        bought, sold = fb * size, fa * size
                    else:
                        bought, sold = fb, fa
                    net = bought - sold
                    o_recent[i, j] = recent[i, j] + net - ring_slot[i, j]
                    ring_slot[i, j] = net
                    edge = bought * depths[i, j, 0] + sold * depths[i, j, 1]
                    o_spread[i, j] = spread_capture[i, j] + edge
                    c = cash[i, j] + (edge - net * m)
                    if fee != 0.0:
                        f = fee * (bought + sold)
                        c = c - f
                        o_fees[i, j] = fees[i, j] - f
                    else:
                        o_fees[i, j] = fees[i, j]
                    o_cash[i, j] = c
                    q = inventory[i, j] + net
                    o_inv[i, j] = q
                    o_count[i, j, 0] = count[i, j, 0] + fb
                    o_count[i, j, 1] = count[i, j, 1] + fa
                    o_volume[i, j, 0] = volume[i, j, 0] + bought
                    o_volume[i, j, 1] = volume[i, j, 1] + sold
                    o_max[i, j] = max(max_abs[i, j], abs(q))
                o_inv_pnl[i, j] = inventory_pnl[i, j] + o_inv[i, j] * move
                o_adverse[i, j] = adverse[i, j] + o_recent[i, j] * move
                # Ledger.pnl at the new mid (before any liquidation charge).
                out[12, i, j] = (o_cash[i, j] + o_inv[i, j] * new - initial_value[i, j]
                                 + liquidation[i, j])
        return out, o_mid

    def _allocate(mid, depths, capacity, bounded, u, tie, dS, log_rate, k, toxicity, rule,
                  t, rest_price, priority, rtol):
        """QueueFills._allocate and _queue for (n, a) makers: fills (n, a, 2); updates
        ``rest_price`` and ``priority`` in place (the same operations, in the same order)."""
        n, a, _ = depths.shape
        counts = np.zeros((n, a, 2))
        for i in _nb.prange(n):
            m = mid[i]
            s = 0.0
            if toxicity != 0.0:
                s = 1.0 if dS[i] > 0.0 else (-1.0 if dS[i] < 0.0 else 0.0)
            for side in range(2):
                sign = -1.0 if side == 0 else 1.0
                mult = 1.0 + toxicity * s * sign
                best = np.inf
                for j in range(a):
                    dep = depths[i, j, side]
                    posted = (not bounded) or capacity[i, j, side] > 0.0
                    price = m + dep * sign
                    tol = rtol * (abs(m) + abs(dep))
                    if posted and abs(price - rest_price[i, j, side]) <= tol:
                        pass
                    else:
                        priority[i, j, side] = t + 0.5 * tie[i, j, side]
                    rest_price[i, j, side] = price if posted else np.nan
                    if posted and dep < best:
                        best = dep
                rate = math.exp(max(best, 0.0) * -k + log_rate)
                if toxicity != 0.0:
                    rate = rate * mult
                total = _orders(u[i, side], rate, rule)
                level_tol = rtol * (abs(m) + abs(best))
                members = 0
                shared = False
                for j in range(a):
                    posted = (not bounded) or capacity[i, j, side] > 0.0
                    if posted and depths[i, j, side] <= best + level_tol:
                        members += 1
                        counts[i, j, side] = total
                        if bounded and total > capacity[i, j, side]:
                            shared = True
                if members > 1:
                    shared = True
                if not shared:
                    for j in range(a):
                        c = counts[i, j, side]
                        if c > 0.0:
                            priority[i, j, side] = t + 0.5 + 0.5 * c / (c + 1.0)
                    continue
                if not total > 0.0:
                    continue
                # Orders one at a time: price, time priority, capacity (_queue).
                reach = np.empty(a)
                got = np.zeros(a)
                for j in range(a):
                    posted = (not bounded) or capacity[i, j, side] > 0.0
                    dd = depths[i, j, side] if posted else np.inf
                    r = math.exp(max(dd, 0.0) * -k + log_rate)
                    if toxicity != 0.0:
                        r = r * mult
                    reach[j] = _orders(u[i, side], r, rule)
                step = 0.5 / (total + 1.0)
                for jj in range(int(total)):
                    dmin = np.inf
                    for j in range(a):
                        posted = (not bounded) or capacity[i, j, side] > 0.0
                        cap = capacity[i, j, side] if bounded else np.inf
                        if reach[j] > jj and got[j] < cap:
                            dd = depths[i, j, side] if posted else np.inf
                            if dd < dmin:
                                dmin = dd
                    who = -1
                    key = np.inf
                    for j in range(a):
                        posted = (not bounded) or capacity[i, j, side] > 0.0
                        cap = capacity[i, j, side] if bounded else np.inf
                        dd = depths[i, j, side] if posted else np.inf
                        tol = rtol * (abs(m) + abs(dd))
                        if reach[j] > jj and got[j] < cap and dd <= dmin + tol:
                            if priority[i, j, side] < key:
                                key = priority[i, j, side]
                                who = j
                    if who >= 0 and key < np.inf:
                        got[who] += 1.0
                        priority[i, who, side] = t + 0.5 + (jj + 1) * step
                for j in range(a):
                    counts[i, j, side] = got[j]
        return counts

    # Each pass in two builds: one thread (small batches, where starting threads costs more
    # than it saves) and all cores over the paths (the results do not depend on the split).
    _PARALLEL_PATHS = 20_000
    _counts_serial = _nb.njit(cache=True, nogil=True)(_counts)
    _counts_parallel = _nb.njit(cache=True, nogil=True, parallel=True)(_counts)
    _book_serial = _nb.njit(cache=True, nogil=True)(_book)
    _book_parallel = _nb.njit(cache=True, nogil=True, parallel=True)(_book)
    _allocate_serial = _nb.njit(cache=True, nogil=True)(_allocate)
    _allocate_parallel = _nb.njit(cache=True, nogil=True, parallel=True)(_allocate)

    def counts(depths, *args):
        """Fills (n, 2) of one agent's quotes (see ``_counts``)."""
        run = _counts_parallel if depths.shape[0] >= _PARALLEL_PATHS else _counts_serial
        return run(depths, *args)

    def book(mid, *args):
        """The ledger's bookings and the move (see ``_book``)."""
        run = _book_parallel if mid.shape[0] >= _PARALLEL_PATHS else _book_serial
        return run(mid, *args)

    def allocate(mid, *args):
        """Competing makers' fills (see ``_allocate``)."""
        run = _allocate_parallel if mid.shape[0] >= _PARALLEL_PATHS else _allocate_serial
        return run(mid, *args)

    RULES = _RULES
