"""Trades and quotes of the reduced-form AS market with known parameters: the data of the
A/k round trip (calibration must recover sigma, A and k) and of a replay that should behave
as the model.

The market of :class:`asmm_env.market.Market` (``MarketParams``): the mid follows the price
model on the grid ``t_i = i dt``; on each side market orders arrive as a Poisson process of
rate ``A`` (informed flow, ``toxicity``, scales it as in :mod:`asmm_env.fills`), each reaching
``R ~ Exp(k)`` beyond the mid it finds. Written as data:

* quotes: one row per grid time, ``bid = mid - h``, ``ask = mid + h`` (``h`` =
  ``quote_half_spread``, a notional quote: the reduced-form market has no book), sizes
  ``order_size``;
* trades: one print per market order, at a uniform time inside its step, price
  ``mid(t_i) + side * R`` (buys above the mid, sells below), size ``order_size``; ``side`` is
  the aggressor's (+1 buy, which fills ask quotes).

So ``TradesQuotes.market_orders()`` gives every order's reach from the mid of the quote
before it, exactly ``R``, and :func:`asmm_env.calibration.fit_intensity_per_side` with
``delta_min = 0`` and :func:`asmm_env.calibration.fit_sigma` see the model's law.

Randomness (:mod:`asmm_env.streams`): with ``block_paths = BLOCK_PATHS`` (the default) day
``i`` has the mid path of ``rollout(..., seed=seed)``'s path ``i`` on the same
``MarketParams``, and its number of orders per step and side is the number of orders that
reach depth 0 there (the ``"flow"`` stream's uniform); reaches and times come from the
``"reach"`` stream (a generator per block and step,
:meth:`~asmm_env.streams.RandomStreams.step_generator`). The reaches are independent marks,
so the data are the market's flow in law (pathwise only the counts at depth 0 coincide: the
market couples depths through one uniform per step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asmm_env.data.trades_quotes import TradesQuotes
from asmm_env.fills import OrderFlow
from asmm_env.params import MarketParams
from asmm_env.price import build_price_model
from asmm_env.streams import BLOCK_PATHS, RandomStreams
from asmm_env.validation import check_non_negative, check_positive, check_positive_int

_EDGE = 1e-9     # trade times stay this fraction of a step away from the quote rows


def simulated_trades_quotes(params: MarketParams, *, n_days: int, seed: int,
                            quote_half_spread: float | None = None, start: float = 0.0,
                            block_paths: int | None = None) -> list[TradesQuotes]:
    """Trades and quotes of ``n_days`` independent sessions of the reduced-form market.

    Parameters
    ----------
    params : MarketParams
        The market: ``s0``, price model, ``A``, ``k``, ``T``, ``dt`` (the quotes' grid: make
        it finer than a replay's decision step for intra-step mid moves), ``toxicity``,
        ``order_size``. ``tick_size`` must be 0 (continuous prices).
    n_days : int
        Sessions of length ``T`` (>= 1); day ``i`` is path ``i`` of the streams.
    seed : int
        Root seed of the named streams (>= 0).
    quote_half_spread : float, optional
        ``h`` of the notional quotes, price units (> 0); default one basis point of ``s0``.
    start : float
        Time of the first quote, time units (>= 0); times are numeric.
    block_paths : int, optional
        Paths per block of the streams (default ``BLOCK_PATHS``, as ``rollout``: see the
        module docstring).

    Returns
    -------
    list of TradesQuotes
        One per day (validated), times in the model's units.

    Examples
    --------
    >>> from asmm_env.calibration import fit_intensity_per_side
    >>> day = simulated_trades_quotes(MarketParams(T=50.0, dt=0.01), n_days=1, seed=1)[0]
    >>> fits = fit_intensity_per_side(day.market_orders(), duration=day.duration(),
    ...                               delta_min=0.0)
    >>> fits["ask"].k.covers(1.5) and fits["bid"].A.covers(140.0)
    True
    """
    if not isinstance(params, MarketParams):
        raise TypeError(f"params must be a MarketParams, got {type(params).__name__}")
    if params.tick_size:
        raise ValueError(f"tick_size must be 0 (continuous prices) for simulated trades, got "
                         f"{params.tick_size!r}")
    check_positive_int("n_days", n_days)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    h = 1e-4 * params.s0 if quote_half_spread is None else quote_half_spread
    check_positive("quote_half_spread", h)
    check_non_negative("start", start)
    n, dt, n_steps = int(n_days), params.dt, params.n_steps
    streams = RandomStreams(int(seed), n, block_paths=block_paths or BLOCK_PATHS)
    price = build_price_model(params)
    price.reset(n, streams)
    flow = OrderFlow.from_params(params)
    flow.reset(streams)
    B = streams.block_paths
    mids = np.empty((n_steps + 1, n))
    mids[0] = params.s0
    counts = np.empty((n_steps, 2, n), dtype=np.int64)
    zero = np.zeros((n, 2))
    for step in range(n_steps):
        dS = price.increment(mids[step], dt)
        counts[step] = flow.orders(flow.draw(), flow.rate_dt(zero, dS, dt)).T
        mids[step + 1] = mids[step] + dS
    # Reaches and times, a generator per block and step, in chunks of steps. Layout
    # (order, kind, side, path): a path's j-th order does not depend on how many orders
    # other paths have.
    most = int(counts.max()) if counts.size else 0
    chunk = max(1, (1 << 22) // max(1, most * 4 * n))
    parts = []
    for first in range(0, n_steps if most else 0, chunk):
        last = min(first + chunk, n_steps)
        c = counts[first:last]
        m = int(c.max())
        if not m:
            continue
        u = np.empty((last - first, m, 2, 2, n))
        for t in np.flatnonzero(c.reshape(last - first, -1).max(axis=1)):
            for b, paths, width in streams.block_slices():
                gen = streams.step_generator("reach", b, first + t)
                u[t, ..., paths] = gen.random((m, 2, 2, B))[..., :width]
        st, j, sd, pa = np.nonzero(np.arange(m)[None, :, None, None] < c[:, None, :, :])
        parts.append((st + first, pa, sd, -np.log1p(-u[st, j, 0, sd, pa]) / params.k,
                      _EDGE + (1.0 - 2 * _EDGE) * u[st, j, 1, sd, pa]))
    if parts:
        step, path, side, reach, when = (np.concatenate(c) for c in zip(*parts, strict=True))
    else:
        step = path = side = np.array([], dtype=np.int64)
        reach = when = np.array([])
    aggressor = np.where(side == 1, 1, -1)        # side 1: ask quotes, filled by buys
    t_trade = start + (step + when) * dt
    p_trade = mids[step, path] + aggressor * reach
    times = start + np.arange(n_steps + 1) * dt
    out = []
    order = np.lexsort((t_trade, path))
    for day in range(n):
        rows = order[path[order] == day]
        trades = pd.DataFrame({"timestamp": t_trade[rows], "side": aggressor[rows],
                               "price": p_trade[rows],
                               "size": np.full(rows.size, params.order_size)})
        quotes = pd.DataFrame({"timestamp": times, "bid_price": mids[:, day] - h,
                               "bid_size": params.order_size, "ask_price": mids[:, day] + h,
                               "ask_size": params.order_size})
        out.append(TradesQuotes.from_frames(trades, quotes))
    return out
