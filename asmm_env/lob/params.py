"""Parameters of the queue-reactive limit order book, one frozen dataclass.

Units: prices in price units (e.g. dollars) on a grid of ``tick_size``; queue sizes in
orders, each order ``order_size`` shares; time in the model's time unit (the unit of every
rate; read it as seconds); inventory in shares. Every field is validated on construction and
an error names the field, the value and its allowed range.

The order flow is a small parametric family of the queue-reactive model of Huang, Lehalle &
Rosenbaum (2015): at every visible level ``j`` of each side, with ``q`` the orders resting
there (other traders' and the agents'), ``n`` the other traders' orders among them,

    limit orders join the back           L                                    (limit_rate)
    other traders cancel                 C * n                      (cancel_rate, per order)
    market orders hit the best (j = 0)   M(q) = M * (1 + market_boost * 1{q <= small_queue})

and when a best queue is depleted the price moves one tick and a new queue of
``1 + Poisson(refill)`` orders is drawn where the book has none (see ``asmm_env.lob.book``).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from asmm_env.actions import ActionMap
from asmm_env.validation import (
    check_finite,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_whole_steps,
)

MAX_LEVELS = 30   # event codes are int8: 4 * n_levels + 3 of them must stay below 128


@dataclass(frozen=True)
class BookParams:
    """Parameters of the batched queue-reactive book (defaults: a quiet large-tick stock).

    Parameters
    ----------
    s0 : float
        Initial mid, price units (> 0). The best bid and ask start at ``s0 -/+ tick_size / 2``;
        prices live on the grid ``s0 + tick_size * (k + 1/2)``.
    tick_size : float
        Price grid step, price units (> 0). The spread is always one tick (see the book).
    n_levels : int
        Visible levels per side, the best and ``n_levels - 1`` behind it (1 to 30). Agents
        quote at one of these levels.
    limit_rate : float
        L: arrival rate of other traders' limit orders at each visible level of each side,
        orders per unit time (> 0; it keeps the total event rate positive).
    cancel_rate : float
        C: cancellation rate of each resting order of other traders, per order per unit
        time (>= 0). Agents' orders are cancelled only by the agents.
    market_rate : float
        M: arrival rate of market orders (of one order each) on each side, orders per unit
        time (>= 0), when the best queue holds more than ``small_queue`` orders.
    market_boost : float
        Relative increase of the market order rate at a small best queue (>= 0): the rate
        is ``M * (1 + market_boost)`` while the best queue holds at most ``small_queue``
        orders (HLR 2015 measure market order intensities that fall with the queue size).
    small_queue : int
        Queue size, in orders, at or below which ``market_boost`` applies (>= 0).
    refill : float
        Mean of the Poisson part of a new queue: a queue drawn after a price move holds
        ``1 + Poisson(refill)`` orders of other traders (>= 0).
    order_size : float
        Shares per order (> 0), for the book's and the agents' orders alike.
    T : float
        Episode horizon, time units (> 0).
    dt : float
        Decision step, time units (> 0); ``T / dt`` must be a whole number of steps. Agents
        re-quote every ``dt``; the book runs event by event in between.
    q0 : float
        Initial inventory of every agent, shares.
    fee : float
        Fee per share filled, price units; negative is a maker rebate.
    adverse_selection_steps : int
        Horizon h, in decision steps, of the adverse-selection measure (see the ledger).

    Notes
    -----
    Defaults and why: ``limit_rate = 1``, ``cancel_rate = 0.2``, ``market_rate = 0.6`` and
    ``refill = 5`` are the reference kernel's setting (``shared/bench``); with them a queue
    behind the best, fed at rate L and cancelled at rate C per order, settles around
    Poisson(L / C) = Poisson(5), which is why a new queue is 1 + Poisson(5): newly exposed
    queues look like the queues behind the best. ``market_boost = 1`` with
    ``small_queue = 2`` doubles the market order rate on a nearly empty best queue, the
    qualitative shape of HLR (2015) Fig. 4, and strengthens the imbalance signal. Three
    visible levels give an agent room to quote one or two ticks behind the best. The time
    unit reads as seconds: about 13 events per second per book and a price move every
    15 to 20 seconds, so ``T = 300`` (five minutes) with ``dt = 1`` gives 300 decisions and
    some 4,000 events per episode.

    References
    ----------
    Huang, Lehalle & Rosenbaum (2015), Simulating and analyzing order book data: the
    queue-reactive model, JASA 110(509). Cont & de Larrard (2013), Price dynamics in a
    Markovian limit order market, SIAM J. Financial Math. 4(1) (one-tick spread, queues
    redrawn after a price move).
    """

    s0: float = 100.0
    tick_size: float = 0.01
    n_levels: int = 3
    limit_rate: float = 1.0
    cancel_rate: float = 0.2
    market_rate: float = 0.6
    market_boost: float = 1.0
    small_queue: int = 2
    refill: float = 5.0
    order_size: float = 1.0
    T: float = 300.0
    dt: float = 1.0
    q0: float = 0.0
    fee: float = 0.0
    adverse_selection_steps: int = 10

    def __post_init__(self) -> None:
        for name in ("s0", "tick_size", "limit_rate", "order_size", "T", "dt"):
            check_positive(name, getattr(self, name))
        for name in ("cancel_rate", "market_rate", "market_boost", "refill"):
            check_non_negative(name, getattr(self, name))
        for name in ("q0", "fee"):
            check_finite(name, getattr(self, name))
        check_positive_int("n_levels", self.n_levels)
        if self.n_levels > MAX_LEVELS:
            raise ValueError(f"n_levels must be in [1, {MAX_LEVELS}], got {self.n_levels!r}")
        if (not isinstance(self.small_queue, numbers.Integral)
                or isinstance(self.small_queue, bool) or self.small_queue < 0):
            raise ValueError(f"small_queue must be an integer >= 0, got {self.small_queue!r}")
        check_positive_int("adverse_selection_steps", self.adverse_selection_steps)
        check_whole_steps(self.T, self.dt)

    @property
    def n_steps(self) -> int:
        """Number of decision steps in an episode, ``T / dt``."""
        return check_whole_steps(self.T, self.dt)

    @property
    def depth_bound(self) -> float:
        """``n_levels * tick_size``, price units: the depth that a normalised action of 1
        stands for (the deepest level's depth bin ends there; see ``asmm_env.lob.env``)."""
        return self.n_levels * self.tick_size

    @property
    def action_map(self) -> ActionMap:
        """Actions in [-1, 1] to depths in ``[0, depth_bound]`` (price units): the box covers
        the visible levels evenly (a depth maps to a level, ``asmm_env.lob.env``)."""
        return ActionMap(0.0, self.depth_bound)

    def replace(self, **changes) -> BookParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kwargs) -> BookParams:
        """Build from keyword arguments, naming any unknown one in the error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise TypeError(f"unknown book parameter(s) {unknown}; known: {sorted(fields)}")
        return cls(**kwargs)
