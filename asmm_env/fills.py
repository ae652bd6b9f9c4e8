"""Order flow and fills: how many market orders arrive on each side in a step, how far they
reach, and which resting quotes they fill. Batched over paths and agents.

Depths are in price units, positive away from the mid (bid = mid - bid_depth, ask = mid +
ask_depth); arrays have shape ``(n_paths, n_agents, 2)`` with the last axis (bid, ask). A
fill model's ``fill(mid, depths, capacity, dS, dt)`` returns the number of fills of each
quote in the step (each of ``order_size`` shares), same shape.

The flow (:class:`OrderFlow`)
-----------------------------
Market orders arrive on each side at rate ``A`` (orders per unit time); each reaches a depth
``delta* ~ Exp(k)`` beyond the mid, so the orders reaching depth ``delta`` (or better) form
a Poisson stream of rate ``Lambda(delta) = A min(1, exp(-k delta))``: the AS intensity, and
at or through the mid all ``A`` orders (a quote there cannot be hit more often than orders
arrive). Per step and side, the number of orders reaching ``delta`` is, by ``rule``:

* ``"poisson"`` (default): ``N(delta) ~ Poisson(Lambda(delta) dt)``: exact for quotes held
  over the step, consistent as dt -> 0;
* ``"exponential"``: ``min(N(delta), 1)``, at most one order a step, so a lone quote fills
  with probability ``1 - exp(-Lambda dt)``;
* ``"linear"``: at most one order a step, with probability ``min(Lambda dt, 1)``: the
  discretisation of Avellaneda & Stoikov (2008), section 4, kept to reproduce its tables.

Each count is the inverse CDF of one uniform per path, side and step (the ``"flow"`` stream,
:mod:`asmm_env.streams`): the draws do not depend on the quotes, and on every path a tighter
quote is reached by at least as many orders as a deeper one (common random numbers in the
strongest sense). Informed flow (``toxicity`` in [0, 1]) scales the rate of market sells by
``1 - toxicity * sign(dS)`` and of market buys by ``1 + toxicity * sign(dS)``, where dS is the
coming mid move: the mean rate is unchanged but fills precede adverse moves.

The allocation (:class:`QueueFills`)
------------------------------------
Quotes are replenished at once after each fill: a maker keeps ``order_size`` shares posted
at its price for the whole step (as the continuous-time model assumes), and a filled quote
rejoins the back of its price level. Each market order of the step fills one quote,
``order_size`` shares, at the best price within its reach:

1. price: the smallest depth (best price) first, so the orders reaching the best price all
   go there: ``N(best depth)`` fills in total on that side;
2. time: among quotes at one price, the one resting longest first; a filled quote goes to
   the back, so a level's quotes are filled round robin in time priority;
3. quotes that joined a level at the same moment queue in a random order (the
   ``"tiebreak"`` stream).

So the total a side fills in a step is ``N(best depth)``, whoever and however many quote
there: N makers at one price take together exactly what one maker alone takes, at every dt.
Inventory bounds give each quote a capacity (fills left before the bound); a quote at
capacity is withdrawn for the rest of the step and later orders go to the next quote in
priority that they reach. Which of the step's orders reach a deeper level is then decided
as if the deeper-reaching orders came first (order ``j`` reaches depth ``delta`` iff
``j < N(delta)``): exact when no bound binds, conservative for deeper quotes when one does.

A quote loses its time priority when its price changes (the mid moved and the agent kept its
depth, say) or it is not posted. Prices are compared to a relative 1e-12, so a quote held at
one price keeps its place; on a tick grid (``MarketParams.tick_size``) prices are on the
grid and compare exactly.

:class:`IndependentFills` gives each agent its own flow (no competition): for one agent it
is :class:`QueueFills`, byte for byte.

Clustered flow (:class:`HawkesOrderFlow`)
-----------------------------------------
:class:`HawkesOrderFlow` replaces the Poisson arrivals by a two-sided Hawkes process
(:mod:`asmm_env.hawkes`: self- and cross-exciting market sells and buys, simulated exactly),
each order still reaching a depth ``Exp(k)`` beyond the mid. Per step and side the ``N`` orders
of the step come from the ``"hawkes"`` stream and the orders reaching depth delta are
``Binomial(N, min(1, exp(-k delta)))``, by inversion of one uniform per path and side (the
``"reach"`` stream), so neither draw depends on the quotes and a tighter quote is reached by
at least as many orders as a deeper one. It plugs into :class:`QueueFills` (price-time
priority, any number of agents; :func:`hawkes_fill_model`) or :class:`IndependentFills` like
:class:`OrderFlow`, and so into every face (``Market(..., fill_model=...)``, the envs'
``fill_model=`` option, ``rollout(..., market_factory=...)``). With the stationary intensity
``m`` per side, a quote held at depth delta fills ``m min(1, exp(-k delta))`` times per unit
time on average: the AS intensity with ``A = m``, but in bursts.

References: Avellaneda & Stoikov (2008), Quant. Finance 8(3), section 2.3 (the intensity as
the arrival of orders reaching depth delta) and section 4 (the simulation).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from asmm_env.hawkes import HawkesFlow, HawkesParams
from asmm_env.params import MarketParams
from asmm_env.streams import RandomStreams, Source, binomial_inverse, poisson_inverse
from asmm_env.validation import check_choice, check_in_range, check_non_negative, check_positive

RULES = ("poisson", "exponential", "linear")
_SIDE_SIGN = np.array([-1.0, 1.0])  # informed sells (hit bids) precede down moves, buys up moves
_PRICE_SIGN = np.array([-1.0, 1.0])  # bid = mid - bid_depth, ask = mid + ask_depth
_PRICE_RTOL = 1e-12  # equal prices (time priority) up to rounding, relative to |mid| + |depth|


class FillModel(Protocol):
    """What the market needs of a fill model."""

    def reset(self, n_paths: int, n_agents: int, streams: RandomStreams) -> None: ...

    def fill(self, mid: np.ndarray, depths: np.ndarray, capacity: np.ndarray | None,
             dS: np.ndarray, dt: float) -> np.ndarray: ...


class OrderFlow:
    """Market orders on each side and how deep they reach (module docstring).

    Parameters
    ----------
    A : float
        Market-order arrival rate per side, orders per unit time (> 0).
    k : float
        Decay of the reach distribution, 1 / price units (> 0): ``P(reach > delta) =
        exp(-k delta)``.
    rule : {"poisson", "exponential", "linear"}
        Orders per step reaching a depth (module docstring).
    toxicity : float
        Informed-flow strength in [0, 1].
    """

    def __init__(self, A: float, k: float, rule: str = "poisson",
                 toxicity: float = 0.0) -> None:
        check_positive("A", A)
        check_positive("k", k)
        check_choice("rule", rule, RULES)
        check_in_range("toxicity", toxicity, 0.0, 1.0)
        self.A, self.k, self.rule, self.toxicity = float(A), float(k), rule, float(toxicity)
        self._u: Source | None = None

    @classmethod
    def from_params(cls, params: MarketParams) -> OrderFlow:
        return cls(params.A, params.k, params.fill_rule, params.toxicity)

    def copy(self) -> OrderFlow:
        """A flow with the same parameters and no draws (another agent's own flow)."""
        return OrderFlow(self.A, self.k, self.rule, self.toxicity)

    def reset(self, streams: RandomStreams, index: int = 0) -> None:
        """Draw from ``streams`` (the flow of agent ``index`` when each has its own)."""
        self._u = streams.source("flow", "uniform", (2,), index=index)

    def draw(self, dt: float | None = None) -> np.ndarray:
        """The step's uniforms, ``(n_paths, 2)`` (bid side, ask side); ``dt`` is not needed
        (the counts are found from the uniforms in :meth:`orders`)."""
        if self._u is None:
            raise RuntimeError("reset(streams) the flow before drawing from it")
        return self._u.next()

    def rate_dt(self, depth: np.ndarray, dS: np.ndarray, dt: float,
                side: np.ndarray | None = None) -> np.ndarray:
        """``Lambda(depth) dt``, expected orders reaching ``depth`` (price units; ``inf``: no
        quote, 0) in a step. ``depth`` is ``(n, ..., 2)`` with the side last, or ``(n, ...)``
        with ``side`` (n,) naming each row's side (0 bid, 1 ask); ``dS`` (n,) the coming mid
        moves (informed flow)."""
        # min(1, exp(-k delta)) = exp(-k max(delta, 0)): a quote through the mid gets all A.
        rate = np.exp(np.maximum(depth, 0.0) * -self.k + math.log(self.A * dt))
        if self.toxicity:
            m = 1.0 + self.toxicity * np.sign(dS)[:, None] * _SIDE_SIGN       # (n, 2)
            if side is None:
                m = m.reshape(m.shape[0], *(1,) * (depth.ndim - 2), 2)
            else:
                m = m[np.arange(m.shape[0]), side].reshape(m.shape[0], *(1,) * (depth.ndim - 1))
            rate = rate * m
        return rate

    def orders(self, u: np.ndarray, rate_dt: np.ndarray) -> np.ndarray:
        """Orders reaching a depth of expected count ``rate_dt`` with the step's uniforms
        ``u`` (broadcast against it), float64 counts."""
        if self.rule == "poisson":
            return poisson_inverse(u, rate_dt)
        if self.rule == "exponential":
            return (u >= np.exp(-rate_dt)).astype(np.float64)     # min(Poisson, 1)
        return (u >= 1.0 - rate_dt).astype(np.float64)           # Bernoulli(min(rate, 1))


class QueueFills:
    """Price-time priority among quotes replenished at once (module docstring).

    Parameters
    ----------
    flow : OrderFlow
        The market orders.

    Attributes
    ----------
    priority : ndarray (n_paths, n_agents, 2)
        Each quote's place in its level: the time (in steps) it joined the back of the
        level; smaller is served first.
    """

    def __init__(self, flow: OrderFlow) -> None:
        self.flow = flow
        self._t = 0

    @classmethod
    def from_params(cls, params: MarketParams) -> QueueFills:
        return cls(OrderFlow.from_params(params))

    def reset(self, n_paths: int, n_agents: int, streams: RandomStreams) -> None:
        self.flow.reset(streams)
        self.n_agents = n_agents
        self._tie = streams.source("tiebreak", "uniform", (n_agents, 2)) if n_agents > 1 \
            else None
        self._rest_price = np.full((n_paths, n_agents, 2), np.nan)
        self.priority = np.zeros((n_paths, n_agents, 2))
        self._t = 0

    def fill(self, mid, depths, capacity, dS, dt):
        u = self.flow.draw(dt)
        if self.n_agents == 1:
            self._t += 1
            d = depths[:, 0, :]
            if capacity is not None:
                d = np.where(capacity[:, 0, :] > 0, d, np.inf)
            count = self.flow.orders(u, self.flow.rate_dt(d, dS, dt))
            if capacity is not None:
                count = np.minimum(count, capacity[:, 0, :])
            return count[:, None, :]
        counts = self._allocate(mid, depths, capacity, u, dS, dt)
        self._t += 1
        return counts

    def _allocate(self, mid, depths, capacity, u, dS, dt):
        t = float(self._t)
        posted = np.ones(depths.shape, bool) if capacity is None else capacity > 0
        d = np.where(posted, depths, np.inf)
        # Time priority: a quote at a new price (or newly posted) joins the back of its level
        # at the step's start, in random order among those joining together.
        price = mid[:, None, None] + depths * _PRICE_SIGN
        tol = _PRICE_RTOL * (np.abs(mid)[:, None, None] + np.abs(depths))
        unchanged = posted & (np.abs(price - self._rest_price) <= tol)
        self.priority = np.where(unchanged, self.priority, t + 0.5 * self._tie.next())
        self._rest_price = np.where(posted, price, np.nan)

        best = d.min(axis=1)                                         # (n, 2)
        total = self.flow.orders(u, self.flow.rate_dt(best, dS, dt))
        level_tol = _PRICE_RTOL * (np.abs(mid)[:, None] + np.abs(best))
        member = posted & (d <= (best + level_tol)[:, None, :])
        counts = member * total[:, None, :]                          # a lone best quote: all
        shared = member.sum(axis=1) > 1
        if capacity is not None:
            shared |= (counts > capacity).any(axis=1)
        # A filled quote rejoins the back of its level (its last fill, late in the step).
        refilled = (counts > 0) & ~shared[:, None, :]
        self.priority = np.where(refilled, t + 0.5 + 0.5 * counts / (counts + 1.0),
                                 self.priority)
        rows = np.flatnonzero((shared & (total > 0)).reshape(-1))
        if rows.size:
            self._queue(rows, counts, d, mid, capacity, u, dS, dt, total, t)
        return counts

    def _queue(self, rows, counts, d, mid, capacity, u, dS, dt, total, t):
        """Serve the orders of the (path, side) ``rows`` (flat ``2 * path + side``) one at a
        time, by price, time priority and capacity, writing their fills into ``counts`` and
        the place of each filled quote (its last fill) into ``priority``."""
        path, side = rows // 2, rows % 2
        dd = d[path, :, side]                                        # (r, a)
        pri = self.priority[path, :, side]
        cap = (np.full(dd.shape, np.inf) if capacity is None
               else capacity[path, :, side].astype(np.float64))
        tol = _PRICE_RTOL * (np.abs(mid[path])[:, None] + np.abs(dd))
        # Order j of the step reaches a quote iff j < N(its depth) (module docstring).
        reach = self.flow.orders(u[path, side][:, None],
                                 self.flow.rate_dt(dd, dS[path], dt, side=side))
        got = np.zeros(dd.shape)
        m = total.reshape(-1)[rows]
        step = 0.5 / (m + 1.0)
        for j in range(int(m.max())):
            live = np.flatnonzero(j < m)
            ok = (reach[live] > j) & (got[live] < cap[live])
            dl = np.where(ok, dd[live], np.inf)
            dmin = dl.min(axis=1, keepdims=True)
            key = np.where(ok & (dl <= dmin + tol[live]), pri[live], np.inf)
            who = key.argmin(axis=1)
            served = np.isfinite(key[np.arange(live.size), who])
            live, who = live[served], who[served]
            got[live, who] += 1.0
            pri[live, who] = t + 0.5 + (j + 1) * step[live]
        counts[path, :, side] = got
        self.priority[path, :, side] = pri


class IndependentFills:
    """Each agent has its own market-order flow (no competition): agent ``j`` draws from
    flow stream ``j``, so agent 0 sees the flow of :class:`QueueFills`, and with one agent
    the two models are the same byte for byte.

    Parameters
    ----------
    flow : OrderFlow
        The flow of every agent (its parameters; each agent gets its own draws).
    """

    def __init__(self, flow: OrderFlow) -> None:
        self.flow = flow

    @classmethod
    def from_params(cls, params: MarketParams) -> IndependentFills:
        return cls(OrderFlow.from_params(params))

    def reset(self, n_paths: int, n_agents: int, streams: RandomStreams) -> None:
        self._flows = [self.flow.copy() for _ in range(n_agents)]
        for j, flow in enumerate(self._flows):
            flow.reset(streams, index=j)

    def fill(self, mid, depths, capacity, dS, dt):
        d = depths if capacity is None else np.where(capacity > 0, depths, np.inf)
        u = np.stack([flow.draw(dt) for flow in self._flows], axis=1)    # (n, a, 2[, 2])
        counts = self.flow.orders(u, self.flow.rate_dt(d, dS, dt))
        return counts if capacity is None else np.minimum(counts, capacity)


class HawkesOrderFlow:
    """Market orders from a two-sided Hawkes process, each reaching a depth ``Exp(k)`` beyond
    the mid (module docstring): the :class:`OrderFlow` interface for :class:`QueueFills` and
    :class:`IndependentFills`.

    Parameters
    ----------
    hawkes : HawkesParams
        The arrivals: side 0 market sells (they hit the bids), side 1 market buys (the asks).
    k : float
        Decay of the reach distribution, 1 / price units (> 0): ``P(reach > delta) =
        exp(-k delta)``.
    burn_in : float or None
        Time simulated and discarded at each reset, time units (>= 0), so that the episode
        starts from (close to) the stationary law of the intensities, not only from their
        stationary mean; ``None``: 15 relaxation times (:attr:`HawkesParams.relaxation_time`).

    Notes
    -----
    Randomness. Each block of paths (:mod:`asmm_env.streams`) has its own :class:`HawkesFlow`
    simulated for the whole block (a partial block simulates its full width and keeps its
    first paths) from the block's ``"hawkes"`` generator, so the orders of path i depend only on
    the seed and i (and dt, which splits the same continuous-time law differently). The reach
    uniforms come from the ``"reach"`` stream, one per path, side and step.

    Interface. :meth:`draw` (``dt`` given) advances the process by one step and returns the
    step's draws, ``(n_paths, 2, 2)``: ``[..., 0]`` the reach uniform, ``[..., 1]`` the orders
    of each side; :meth:`rate_dt` gives the probability ``min(1, exp(-k delta))`` that an order
    reaches depth delta (what :meth:`orders` takes), and :meth:`orders` the orders reaching it,
    ``Binomial(N, p)`` by inversion. Informed flow (``toxicity``) is not modelled on top of
    Hawkes arrivals; the permanent impact (``MarketParams.impact``) works with any fill model.

    Examples
    --------
    >>> from asmm_env import Market, MarketParams
    >>> params = MarketParams()
    >>> fills = hawkes_fill_model(params, branching_ratio=0.5, decay=50.0)
    >>> market = Market(params, n_paths=4, fill_model=fills)
    >>> market.reset(seed=1)
    >>> market.step(np.full((4, 1, 2), 0.7)).shape
    (4, 1, 2)
    """

    rule = "poisson"     # every order of the step counts (quotes replenished at once)
    toxicity = 0.0

    def __init__(self, hawkes: HawkesParams, k: float, *, burn_in: float | None = None) -> None:
        if not isinstance(hawkes, HawkesParams):
            raise TypeError(f"hawkes must be a HawkesParams, got {type(hawkes).__name__}")
        check_positive("k", k)
        if burn_in is not None:
            check_non_negative("burn_in", burn_in)
        self.hawkes, self.k = hawkes, float(k)
        self.burn_in = 15.0 * hawkes.relaxation_time if burn_in is None else float(burn_in)
        self._blocks: list = []
        self._draws: np.ndarray | None = None

    @classmethod
    def matching(cls, A: float, k: float, *, branching_ratio: float, decay: float,
                 cross_share: float = 0.0, burn_in: float | None = None) -> HawkesOrderFlow:
        """Symmetric Hawkes flow with the stationary intensity ``A`` per side (the AS rate).

        Parameters
        ----------
        A : float
            Stationary intensity of each side, orders per unit time (> 0).
        k : float
            Reach decay, 1 / price units (> 0).
        branching_ratio : float
            Mean number of orders one order triggers directly, in [0, 1).
        decay : float
            Decay rate beta of the excitation, 1 / time (> 0).
        cross_share : float
            Share in [0, 1] of the triggered orders that are on the other side (0: a sell
            triggers sells only, one-sided bursts).
        burn_in : float or None
            As in the class.

        ``mu = A (1 - n)``, ``alpha_self = (1 - cross_share) n beta``, ``alpha_cross =
        cross_share n beta``.
        """
        check_positive("A", A)
        check_in_range("branching_ratio", branching_ratio, 0.0, 1.0)
        if branching_ratio >= 1.0:
            raise ValueError(f"branching_ratio must be < 1 for a stationary flow, got "
                             f"{branching_ratio!r}")
        check_positive("decay", decay)
        check_in_range("cross_share", cross_share, 0.0, 1.0)
        n = float(branching_ratio)
        hawkes = HawkesParams.symmetric(mu=A * (1.0 - n), alpha_self=(1.0 - cross_share) * n
                                        * decay, alpha_cross=cross_share * n * decay,
                                        beta=decay)
        return cls(hawkes, k, burn_in=burn_in)

    def copy(self) -> HawkesOrderFlow:
        """A flow with the same parameters and no draws (another agent's own flow)."""
        return HawkesOrderFlow(self.hawkes, self.k, burn_in=self.burn_in)

    @property
    def stationary_intensity(self) -> np.ndarray:
        """Long-run orders per unit time of each side, (sells, buys)."""
        return self.hawkes.stationary_intensity

    def reset(self, streams: RandomStreams, index: int = 0) -> None:
        """Start every block's process (with the burn-in) from ``streams``."""
        self._blocks = []
        for b, paths, width in streams.block_slices():
            rng = streams.block_generator("hawkes", b, index)
            process = HawkesFlow(self.hawkes)
            process.reset(streams.block_paths, rng, burn_in=self.burn_in)
            self._blocks.append((process, rng, paths, width))
        self._u = streams.source("reach", "uniform", (2,), index=index)
        self._draws = np.empty((streams.n_paths, 2, 2))

    def draw(self, dt: float | None = None) -> np.ndarray:
        """Advance the process by ``dt`` and return the step's draws, ``(n_paths, 2, 2)``
        (class Notes)."""
        if self._draws is None:
            raise RuntimeError("reset(streams) the flow before drawing from it")
        if dt is None:
            raise ValueError("dt must be given: the Hawkes flow advances by one step per draw")
        draws = self._draws
        draws[..., 0] = self._u.next()
        for process, rng, paths, width in self._blocks:
            draws[paths, :, 1] = process.advance(dt, rng)[:width]
        return draws

    def rate_dt(self, depth: np.ndarray, dS: np.ndarray, dt: float,
                side: np.ndarray | None = None) -> np.ndarray:
        """The probability ``min(1, exp(-k depth))`` that an order reaches ``depth`` (price
        units; ``inf``: no quote, 0), which :meth:`orders` takes; the arguments are
        :meth:`OrderFlow.rate_dt`'s."""
        return np.exp(np.maximum(depth, 0.0) * -self.k)

    def orders(self, draws: np.ndarray, reach: np.ndarray) -> np.ndarray:
        """Orders reaching a depth of reach probability ``reach`` with the step's ``draws``
        (:meth:`draw`, broadcast against ``reach`` over the leading axes): Binomial(orders,
        reach) by inversion of the reach uniform, float64 counts."""
        return binomial_inverse(draws[..., 0], draws[..., 1], reach)


def hawkes_fill_model(params: MarketParams, *, branching_ratio: float, decay: float,
                      cross_share: float = 0.0, burn_in: float | None = None) -> QueueFills:
    """:class:`QueueFills` on Hawkes flow with the market's A (stationary orders per unit time
    and side) and k (:meth:`HawkesOrderFlow.matching`): the AS flow's mean, in bursts.
    ``params.fill_rule`` and ``params.toxicity`` do not apply (every order of a step counts)."""
    return QueueFills(HawkesOrderFlow.matching(params.A, params.k,
                                               branching_ratio=branching_ratio, decay=decay,
                                               cross_share=cross_share, burn_in=burn_in))


def build_fill_model(params: MarketParams, n_agents: int = 1) -> FillModel:
    """The market's fill model: :class:`QueueFills` on the flow the parameters describe
    (one agent or competing agents alike)."""
    return QueueFills.from_params(params)
