"""Fill models: which resting quotes the step's market orders hit, batched over paths and agents.

Depths are in price units, positive away from the mid (bid = mid - bid_depth, ask = mid +
ask_depth); arrays have shape ``(n_paths, n_agents, 2)`` with the last axis (bid, ask).
A model's ``fill(mid, depths, allowed, dS, dt, rng)`` returns the shares filled, same shape.

Both models have the AS intensity ``lambda(delta) = A exp(-k delta)`` for a lone quote:

- :class:`IntensityFills` fills each quote independently with probability
  ``1 - exp(-lambda dt)`` (``"exponential"``) or ``min(lambda dt, 1)`` (``"linear"``, AS 2008).
- :class:`ReachFills` is the competition model: market orders arrive at rate A per side, each
  with a reach ``delta* ~ Exp(k)``, and fill the best-priced quotes within reach (price, then
  time priority, then a seeded random tie-break). A lone quote at depth delta >= 0 is filled
  with exactly the probability above, so with one agent the two models agree in law.

Informed flow (``toxicity`` in [0, 1]) scales the arrival rate of market sells by
``1 - toxicity * sign(dS)`` and of market buys by ``1 + toxicity * sign(dS)``, where dS is the
coming mid move: the mean rate is unchanged but fills precede adverse moves.

Reference: Avellaneda & Stoikov (2008), Quant. Finance 8(3), section 2.3 (intensity) and
section 4 (simulation).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from asmm_env.params import MarketParams

_SIDE_SIGN = np.array([-1.0, 1.0])  # informed sells (hit bids) precede down moves, buys up moves


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
        pass

    def fill(self, mid, depths, allowed, dS, dt, rng):
        # One Exp(1) draw per quote decides both variants: with E ~ Exp(1),
        # P(E < x) = 1 - exp(-x), and P(exp(-E) < x) = min(x, 1).
        e = rng.standard_exponential(depths.shape)
        log_rate_dt = -self.k * depths + math.log(self.A * dt)
        if self.toxicity:
            with np.errstate(divide="ignore"):
                log_rate_dt += np.log(_flow_multiplier(dS, self.toxicity))[:, None, :]
        if self.probability == "exponential":
            filled = e < np.exp(log_rate_dt)
        else:
            filled = e > -log_rate_dt
        if allowed is not None:
            filled &= allowed
        return filled * self.order_size


class ReachFills:
    """Competition among quotes: each market order fills the best-priced quotes within its reach.

    Per step and side, the number of market orders is ``Poisson(A dt)`` (``"exponential"``) or
    ``Bernoulli(min(A dt, 1))`` (``"linear"``); each has a reach ``Exp(k)`` (price units) and a
    size of ``market_order_size`` shares, and walks the quotes within its reach in priority
    order: smaller depth (better price) first, then the quote resting longest at an unchanged
    price (time priority), then a random tie-break drawn from the env's generator. A quote is
    ``order_size`` shares; a quote consumed in a step is re-posted at the next step.

    Parameters are those of :class:`IntensityFills`, plus ``market_order_size`` (shares, > 0;
    default one quote's size).
    """

    def __init__(self, A: float, k: float, probability: str = "exponential",
                 toxicity: float = 0.0, order_size: float = 1.0,
                 market_order_size: float | None = None) -> None:
        self.A, self.k, self.probability = A, k, probability
        self.toxicity, self.order_size = toxicity, order_size
        self.market_order_size = order_size if market_order_size is None else market_order_size
        if not self.market_order_size > 0:
            raise ValueError(f"market_order_size must be > 0, got {market_order_size!r}")
        self.age = np.zeros((0, 0, 2), dtype=np.int64)
        self.last_price = np.zeros((0, 0, 2))

    def reset(self, n_paths: int, n_agents: int) -> None:
        self.age = np.zeros((n_paths, n_agents, 2), dtype=np.int64)
        self.last_price = np.full((n_paths, n_agents, 2), np.nan)

    def _order_counts(self, rate_dt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.probability == "exponential":
            return rng.poisson(rate_dt)
        return (rng.random(rate_dt.shape) < rate_dt).astype(np.int64)

    def fill(self, mid, depths, allowed, dS, dt, rng):
        n_paths, n_agents, _ = depths.shape
        price = mid[:, None, None] + depths * np.array([-1.0, 1.0])
        # Time priority: a quote keeps its age while its price is unchanged; NaN never equals.
        self.age = np.where(price == self.last_price, self.age + 1, 0)
        self.last_price = price

        rate_dt = np.full((n_paths, 2), self.A * dt)
        if self.toxicity:
            rate_dt *= _flow_multiplier(dS, self.toxicity)
        counts = self._order_counts(rate_dt, rng)                     # (n_paths, 2)
        tie_break = rng.random(depths.shape)

        # Books: one row per (path, side), agents along the last axis, in priority order.
        book_depth = np.moveaxis(depths, 2, 1).reshape(2 * n_paths, n_agents)
        capacity = np.full(book_depth.shape, float(self.order_size))
        if allowed is not None:
            capacity *= np.moveaxis(allowed, 2, 1).reshape(book_depth.shape)
        book_depth = np.where(capacity > 0, book_depth, np.inf)
        age = np.moveaxis(self.age, 2, 1).reshape(book_depth.shape)
        tie = np.moveaxis(tie_break, 2, 1).reshape(book_depth.shape)
        order = np.lexsort((tie, -age, book_depth), axis=-1)
        sorted_depth = np.take_along_axis(book_depth, order, axis=-1)
        remaining = np.take_along_axis(capacity, order, axis=-1)
        filled = np.zeros_like(remaining)

        counts = counts.reshape(-1)
        n_orders = int(counts.max(initial=0))
        if n_orders:
            reach = rng.standard_exponential((counts.shape[0], n_orders)) / self.k
            reach[np.arange(n_orders) >= counts[:, None]] = -np.inf
            for j in range(n_orders):   # loop over orders within a step, vectorised over paths
                take = self._walk(sorted_depth, remaining, reach[:, j])
                remaining -= take
                filled += take

        volume = np.empty_like(filled)
        np.put_along_axis(volume, order, filled, axis=-1)
        volume = np.moveaxis(volume.reshape(n_paths, 2, n_agents), 1, 2)
        # A consumed quote is re-posted next step at the back of its price level.
        self.last_price = np.where(volume > 0, np.nan, self.last_price)
        return volume

    def _walk(self, sorted_depth, remaining, reach):
        """Shares each quote gives to one market order walking the book in priority order."""
        eligible = np.where(sorted_depth <= reach[:, None], remaining, 0.0)
        before = np.cumsum(eligible, axis=-1) - eligible
        return np.clip(self.market_order_size - before, 0.0, eligible)


def build_fill_model(params: MarketParams, n_agents: int,
                     market_order_size: float | None = None) -> FillModel:
    """:class:`IntensityFills` for one agent, :class:`ReachFills` when agents compete."""
    kwargs = dict(A=params.A, k=params.k, probability=params.fill_probability,
                  toxicity=params.toxicity, order_size=params.order_size)
    if n_agents == 1 and market_order_size is None:
        return IntensityFills(**kwargs)
    return ReachFills(**kwargs, market_order_size=market_order_size)
