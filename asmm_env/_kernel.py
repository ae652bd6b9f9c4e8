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

    def _book(mid, dS, depths, fills, size, fee, impact, recent, ring_slot, cash, inventory,
              spread_capture, fees, count, volume, max_abs, inventory_pnl, adverse,
              any_fill):
        """Ledger.record_fills, the impact and Ledger.record_move for one agent, writing new
        arrays; returns them and the new mid."""
        n = mid.shape[0]
        o_cash = np.empty(n)
        o_inv = np.empty(n)
        o_spread = np.empty(n)
        o_fees = np.empty(n)
        o_count = np.empty((n, 2))
        o_volume = np.empty((n, 2))
        o_max = np.empty(n)
        o_recent = np.empty(n)
        o_inv_pnl = np.empty(n)
        o_adverse = np.empty(n)
        o_mid = np.empty(n)
        for i in _nb.prange(n):
            m = mid[i]
            if not any_fill:
                o_recent[i] = recent[i] - ring_slot[i] if ring_slot[i] != 0.0 else recent[i]
                ring_slot[i] = 0.0
                o_cash[i] = cash[i]
                o_inv[i] = inventory[i]
                o_spread[i] = spread_capture[i]
                o_fees[i] = fees[i]
                o_count[i, 0] = count[i, 0]
                o_count[i, 1] = count[i, 1]
                o_volume[i, 0] = volume[i, 0]
                o_volume[i, 1] = volume[i, 1]
                o_max[i] = max_abs[i]
                net_bought = 0.0
            else:
                fb, fa = fills[i, 0], fills[i, 1]
                if size != 1.0:
                    bought, sold = fb * size, fa * size
                else:
                    bought, sold = fb, fa
                net = bought - sold
                o_recent[i] = recent[i] + net - ring_slot[i]
                ring_slot[i] = net
                edge = bought * depths[i, 0] + sold * depths[i, 1]
                o_spread[i] = spread_capture[i] + edge
                c = cash[i] + (edge - net * m)
                if fee != 0.0:
                    f = fee * (bought + sold)
                    c = c - f
                    o_fees[i] = fees[i] - f
                else:
                    o_fees[i] = fees[i]
                o_cash[i] = c
                q = inventory[i] + net
                o_inv[i] = q
                o_count[i, 0] = count[i, 0] + fb
                o_count[i, 1] = count[i, 1] + fa
                o_volume[i, 0] = volume[i, 0] + bought
                o_volume[i, 1] = volume[i, 1] + sold
                o_max[i] = max(max_abs[i], abs(q))
                net_bought = bought - sold
            ds = dS[i]
            if impact != 0.0:
                ds = ds - impact * net_bought
            new = m + ds
            o_mid[i] = new
            move = new - m
            o_inv_pnl[i] = inventory_pnl[i] + o_inv[i] * move
            o_adverse[i] = adverse[i] + o_recent[i] * move
        return (o_cash, o_inv, o_spread, o_fees, o_count, o_volume, o_max, o_recent,
                o_inv_pnl, o_adverse, o_mid)

    # Each pass in two builds: one thread (small batches, where starting threads costs more
    # than it saves) and all cores over the paths (the results do not depend on the split).
    _PARALLEL_PATHS = 20_000
    _counts_serial = _nb.njit(cache=True, nogil=True)(_counts)
    _counts_parallel = _nb.njit(cache=True, nogil=True, parallel=True)(_counts)
    _book_serial = _nb.njit(cache=True, nogil=True)(_book)
    _book_parallel = _nb.njit(cache=True, nogil=True, parallel=True)(_book)

    def counts(depths, *args):
        """Fills (n, 2) of one agent's quotes (see ``_counts``)."""
        run = _counts_parallel if depths.shape[0] >= _PARALLEL_PATHS else _counts_serial
        return run(depths, *args)

    def book(mid, *args):
        """The ledger's bookings and the move (see ``_book``)."""
        run = _book_parallel if mid.shape[0] >= _PARALLEL_PATHS else _book_serial
        return run(mid, *args)

    RULES = _RULES
