"""Fill models: which resting quotes the step's market orders hit, batched over paths and agents.

Depths are in price units, positive away from the mid (bid = mid - bid_depth, ask = mid +
ask_depth); arrays have shape ``(n_paths, n_agents, 2)`` with the last axis (bid, ask).
A model's ``fill(mid, depths, allowed, dS, dt, rng)`` returns the shares filled, same shape.

Both models have the AS intensity ``lambda(delta) = A exp(-k delta)`` for a lone quote:

- :class:`IntensityFills` fills each quote independently with probability
  ``1 - exp(-lambda dt)`` (``"exponential"``) or ``min(lambda dt, 1)`` (``"linear"``, AS 2008).
- :class:`ReachFills` is the competition model: market orders arrive at rate A per side, each
  with a reach ``delta* ~ Exp(k)``, and fill the best-priced quotes within reach (price, then
  time priority, then a seeded random tie-break). A lone quote at any depth is filled with
  exactly the probability above, so with one agent the two models agree in law.

Informed flow (``toxicity`` in [0, 1]) scales the arrival rate of market sells by
``1 - toxicity * sign(dS)`` and of market buys by ``1 + toxicity * sign(dS)``, where dS is the
coming mid move: the mean rate is unchanged but fills precede adverse moves.

Reference: Avellaneda & Stoikov (2008), Quant. Finance 8(3), section 2.3 (intensity) and
section 4 (simulation).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np

from asmm_env._validation import check_choice, check_in_range, check_positive
from asmm_env.params import MarketParams

_SIDE_SIGN = np.array([-1.0, 1.0])  # informed sells (hit bids) precede down moves, buys up moves
_PRICE_SIGN = np.array([-1.0, 1.0])  # bid = mid - bid_depth, ask = mid + ask_depth
_PRICE_RTOL = 1e-12  # equal prices (time priority) up to rounding, relative to |mid| + |depth|
_MAX_ORDERS_DT = 40.0  # cap on ReachFills' expected orders per step and side (see there)


class FillModel(Protocol):
    def reset(self, n_paths: int, n_agents: int) -> None: ...

    def fill(self, mid: np.ndarray, depths: np.ndarray, allowed: np.ndarray | None,
             dS: np.ndarray, dt: float, rng: np.random.Generator) -> np.ndarray: ...


def _flow_multiplier(dS: np.ndarray, toxicity: float) -> np.ndarray:
    """Arrival-rate multiplier per path and side, shape (n_paths, 2)."""
    return 1.0 + toxicity * np.sign(dS)[:, None] * _SIDE_SIGN


class IntensityFills:
    """Independent fills per quote: the AS (2008) model.

    Parameters
    ----------
    A : float
        Market-order arrival rate per side, orders per unit time.
    k : float
        Intensity decay, 1 / price units.
    probability : {"exponential", "linear"}
        ``1 - exp(-lambda dt)`` or ``min(lambda dt, 1)``.
    toxicity : float
        Informed-flow strength in [0, 1] (see module docstring).
    order_size : float
        Shares filled per fill.
    """

    def __init__(self, A: float, k: float, probability: str = "exponential",
                 toxicity: float = 0.0, order_size: float = 1.0) -> None:
        self.A, self.k, self.probability = A, k, probability
        self.toxicity, self.order_size = toxicity, order_size

    def reset(self, n_paths: int, n_agents: int) -> None:
        self._u = np.empty((n_paths, n_agents, 2))   # draws land in a buffer: cheaper

    def fill(self, mid, depths, allowed, dS, dt, rng):
        u = rng.random(out=self._u)
        log_rate_dt = depths * -self.k + math.log(self.A * dt)
        if self.toxicity:
            with np.errstate(divide="ignore"):
                log_rate_dt = log_rate_dt + np.log(_flow_multiplier(dS, self.toxicity))[:, None, :]
        # lambda dt = e^50 already fills surely (both variants): the cap changes no fill and
        # avoids an overflow warning for quotes deep through the mid (large k * |depth|).
        p = np.exp(np.minimum(log_rate_dt, 50.0))          # lambda dt
        if self.probability == "exponential":
            p = -np.expm1(-p)                               # 1 - exp(-lambda dt)
        # "linear": u < lambda dt is u < min(lambda dt, 1), as u < 1.
        filled = u < p
        if allowed is not None:
            filled = filled & allowed
        return filled * self.order_size


class ReachFills:
    """Competition among quotes: each market order fills the best-priced quotes within its reach.

    Market orders on each side carry a reach ``delta*`` (price units): the deepest quote they
    trade with. Orders reaching depth ``delta`` or beyond arrive at rate ``A exp(-k delta)``,
    so the reach of an order that gets past the mid is ``Exp(k)``. Per step and side that is
    ``Poisson(A dt)`` orders with reach ``Exp(k)`` (``"exponential"``), or at most one order,
    with probability ``min(A dt, 1)`` (``"linear"``, the AS 2008 discretisation). Each order is
    ``market_order_size`` shares and walks the quotes within its reach (depth <= reach) in
    priority order, taking what rests there until it is complete:

    1. price: smaller depth (better price) first;
    2. time: at an equal price, the quote resting longest at that unchanged price first;
    3. a random tie-break drawn from the env's generator.

    A quote is ``order_size`` shares, the orders of a step arrive one after another (in random
    order), and what one order takes is gone for the next. A quote filled in a step (in whole
    or in part) is replenished to ``order_size`` at the next step and so goes to the back of
    its price level. A quote loses its time priority whenever its price changes (the mid moved
    and the agent kept its depth, say) or it is not posted (inventory bound); prices are
    compared to a relative 1e-12, so a quote held at a price through the action normalisation
    keeps its place. Quotes not allowed (``allowed`` False) rest nowhere and fill nothing.

    With one agent and ``market_order_size = order_size``, a quote at any depth ``delta`` is
    filled with the probability of :class:`IntensityFills`: ``1 - exp(-A exp(-k delta) dt)``
    (the orders reaching it are a Poisson stream of that rate), or ``min(A exp(-k delta) dt,
    1)`` in ``"linear"`` mode. Two details make this exact beyond ``0 <= delta``, ``A dt <= 1``:

    - Quotes through the mid (``delta < 0``): orders reaching less far than the mid exist
      too (the same law continued below 0). Those reaching no quote trade nothing, so per
      step only orders reaching ``f = min(0, shallowest posted depth)`` are drawn:
      ``Poisson(A exp(-k f) dt)`` of them with reach ``f + Exp(k)``. The expected count is
      capped at 40 (a quote deeper through the mid fills with probability ``1 - e^-40``,
      which is 1 in float64, as in :class:`IntensityFills`).
    - ``"linear"``: the step's one order has reach ``(ln(A dt) + Exp(1)) / k``, which is
      ``>= delta`` with probability ``min(A exp(-k delta) dt, 1)`` for every delta; orders
      reaching less than ``f`` are dropped. With ``A dt <= 1`` and no quote through the mid
      this is exactly the Bernoulli order above.

    Toxicity scales ``A`` per side and step (see the module docstring).

    Parameters
    ----------
    A : float
        Market-order arrival rate per side, orders per unit time (> 0).
    k : float
        Decay of the reach distribution, 1 / price units (> 0): ``P(delta* > delta) =
        exp(-k delta)``.
    probability : {"exponential", "linear"}
        Poisson order counts per step, or at most one order (see above).
    toxicity : float
        Informed-flow strength in [0, 1] (see module docstring).
    order_size : float
        Shares per quote (> 0).
    market_order_size : float, optional
        Shares per market order (> 0; default ``order_size``). Larger orders walk several
        quotes, so several agents can fill from one order.

    Attributes
    ----------
    age : ndarray of int, (n_paths, n_agents, 2)
        Steps each quote has rested at its unchanged price before this step (0: new).
    last_orders : MarketOrders
        The market orders of the last step and what each executed (a diagnostic).

    References
    ----------
    Avellaneda & Stoikov (2008), Quant. Finance 8(3), section 2.3: the intensity
    ``A exp(-k delta)`` as the arrival of orders large enough to reach depth delta.
    """

    def __init__(self, A: float, k: float, probability: str = "exponential",
                 toxicity: float = 0.0, order_size: float = 1.0,
                 market_order_size: float | None = None) -> None:
        check_positive("A", A)
        check_positive("k", k)
        check_choice("probability", probability, ("exponential", "linear"))
        check_in_range("toxicity", toxicity, 0.0, 1.0)
        check_positive("order_size", order_size)
        if market_order_size is not None:
            check_positive("market_order_size", market_order_size)
        self.A, self.k, self.probability = A, k, probability
        self.toxicity, self.order_size = toxicity, order_size
        self.market_order_size = order_size if market_order_size is None else market_order_size
        self.reset(0, 0)

    @classmethod
    def from_params(cls, params: MarketParams,
                    market_order_size: float | None = None) -> ReachFills:
        """The model for a market's ``A, k, fill_probability, toxicity, order_size``."""
        return cls(params.A, params.k, params.fill_probability, params.toxicity,
                   params.order_size, market_order_size)

    def reset(self, n_paths: int, n_agents: int) -> None:
        self.age = np.zeros((n_paths, n_agents, 2), dtype=np.int64)
        self._rest_price = np.full((n_paths, n_agents, 2), np.nan)
        empty = np.zeros(0)
        self.last_orders = MarketOrders(empty.astype(np.int64), empty.astype(np.int64), empty,
                                        float(self.market_order_size), empty)

    def fill(self, mid, depths, allowed, dS, dt, rng):
        n_paths, n_agents, _ = depths.shape
        if self.age.shape != depths.shape:
            raise ValueError(f"depths must have shape {self.age.shape} (the shape given to "
                             f"reset), got {depths.shape}")
        tol = _PRICE_RTOL * (np.abs(mid)[:, None, None] + np.abs(depths))
        self._update_ages(mid[:, None, None] + depths * _PRICE_SIGN, tol, allowed)

        # Books: one row per (path, side), row = 2 * path + side, agents along the last axis.
        # Every posted quote is order_size shares; an unposted one is beyond any reach.
        book = depths.transpose(0, 2, 1).reshape(2 * n_paths, n_agents)
        if allowed is not None:
            book = np.where(allowed.transpose(0, 2, 1).reshape(book.shape), book, np.inf)

        rows, reach = self._draw_orders(book, dS, dt, rng)
        consumed, executed = self._execute(rows, reach, book)
        self.last_orders = MarketOrders(rows // 2, rows % 2, reach,
                                        float(self.market_order_size), executed)

        volume = np.zeros(book.shape)
        hit = np.flatnonzero(consumed > 0)
        if hit.size:
            row_tol = tol.transpose(0, 2, 1).reshape(book.shape)[hit]
            age = self.age.transpose(0, 2, 1).reshape(book.shape)[hit]
            order = self._priority(book[hit], row_tol, age, rng)
            # Consumed volume is a prefix of the priority order (see _execute).
            ahead = self.order_size * np.arange(n_agents)
            taken = np.clip(consumed[hit, None] - ahead, 0.0, self.order_size)
            filled = np.empty_like(taken)
            np.put_along_axis(filled, order, taken, axis=-1)
            volume[hit] = filled
        volume = np.ascontiguousarray(volume.reshape(n_paths, 2, n_agents).transpose(0, 2, 1))
        # A filled quote is replenished next step: a new order, at the back of its level.
        self._rest_price[volume > 0] = np.nan
        return volume

    def _update_ages(self, price, tol, allowed):
        if allowed is not None:
            price = np.where(allowed, price, np.nan)   # a quote not posted is not resting
        # NaN (new, filled or unposted) never compares equal; the price a quote started
        # resting at is kept, so rounding noise cannot accumulate into a move.
        unchanged = np.abs(price - self._rest_price) <= tol
        self.age = np.where(unchanged, self.age + 1, 0)
        self._rest_price = np.where(unchanged, self._rest_price, price)

    def _draw_orders(self, book, dS, dt, rng):
        """The step's market orders that reach a quote or the mid: their book rows
        (2 * path + side, in arrival order within a row) and reaches (price units)."""
        n_rows = book.shape[0]
        log_rate = np.full(n_rows, math.log(self.A * dt))           # ln(A dt) per row
        if self.toxicity:
            with np.errstate(divide="ignore"):                       # toxicity 1: rate 0
                log_rate += np.log(_flow_multiplier(dS, self.toxicity)).reshape(-1)
        # Orders reaching less than f = min(0, shallowest posted quote) trade nothing: not drawn.
        floor = np.minimum(book.min(axis=-1, initial=np.inf), 0.0)
        if self.probability == "linear":
            reach = (log_rate + rng.standard_exponential(n_rows)) / self.k
            rows = np.flatnonzero(reach >= floor)
            return rows, reach[rows]
        # Expected orders reaching f: A exp(-k f) dt, at most _MAX_ORDERS_DT.
        log_count = np.minimum(log_rate - self.k * floor, math.log(_MAX_ORDERS_DT))
        with np.errstate(invalid="ignore"):      # -inf - -inf on a side without flow
            floor = np.where(np.isfinite(log_rate), (log_rate - log_count) / self.k, 0.0)
        counts = rng.poisson(np.exp(log_count))
        rows = np.repeat(np.arange(n_rows), counts)
        reach = rng.standard_exponential(rows.size)
        reach /= self.k
        reach += floor[rows]
        return rows, reach

    def _execute(self, rows, reach, book):
        """Shares consumed per book row by the orders in arrival order, and per order.

        Quotes within a reach are a prefix of the priority order, and every order takes from
        the front of what is left, so what has been consumed is always a prefix too: a row's
        state is one number, the volume consumed so far. An order then executes ``min(size,
        volume within its reach - volume consumed)`` (0 if negative).
        """
        consumed = np.zeros(book.shape[0])
        executed = np.zeros(rows.size)
        if not rows.size:
            return consumed, executed
        within = self.order_size * np.count_nonzero(book[rows] <= reach[:, None], axis=-1)
        counts = np.bincount(rows, minlength=book.shape[0])
        first = np.cumsum(counts) - counts
        size = float(self.market_order_size)
        for j in range(int(counts.max())):   # the j-th order of every row at once
            row = np.flatnonzero(counts > j)
            idx = first[row] + j
            before = consumed[row]
            after = np.maximum(before, np.minimum(before + size, within[idx]))
            consumed[row] = after
            executed[idx] = after - before
        return consumed, executed

    @staticmethod
    def _priority(book, tol, age, rng):
        """Price-time priority order of each row's quotes (indices, best first)."""
        order = np.argsort(book, axis=-1)
        ranked = np.take_along_axis(book, order, axis=-1)
        with np.errstate(invalid="ignore"):            # inf - inf: unposted quotes
            new_level = ~(np.diff(ranked, axis=-1)
                          <= np.take_along_axis(tol, order, axis=-1)[:, 1:])
        tied = np.flatnonzero((~new_level & np.isfinite(ranked[:, 1:])).any(axis=-1))
        if tied.size:
            # Equal prices: the longest-resting quote first, then a seeded coin.
            level = np.zeros(ranked[tied].shape, dtype=np.int64)
            level[:, 1:] = np.cumsum(new_level[tied], axis=-1)
            level_of_quote = np.empty_like(level)
            np.put_along_axis(level_of_quote, order[tied], level, axis=-1)
            coin = rng.random(level.shape)
            order[tied] = np.lexsort((coin, -age[tied], level_of_quote), axis=-1)
        return order


class MarketOrders(NamedTuple):
    """The market orders of the last step of :class:`ReachFills`, one entry per order, in
    arrival order within each (path, side).

    ``path``, ``side`` (0: a market sell hitting bids, 1: a market buy lifting asks),
    ``reach`` (price units: the deepest quote the order would trade with), ``size`` (shares,
    the same for every order) and ``executed`` (shares the order traded: ``min(size,
    volume still resting within its reach when it arrives)``).
    """

    path: np.ndarray
    side: np.ndarray
    reach: np.ndarray
    size: float
    executed: np.ndarray


def build_fill_model(params: MarketParams, n_agents: int,
                     market_order_size: float | None = None) -> FillModel:
    """:class:`IntensityFills` for one agent, :class:`ReachFills` when agents compete (or
    when ``market_order_size`` is given)."""
    if n_agents == 1 and market_order_size is None:
        return IntensityFills(A=params.A, k=params.k, probability=params.fill_probability,
                              toxicity=params.toxicity, order_size=params.order_size)
    return ReachFills.from_params(params, market_order_size)
