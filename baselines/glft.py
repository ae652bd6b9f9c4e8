"""The Guéant–Lehalle–Fernandez-Tapia (2013) strategies: exact quotes with inventory bound Q, and
their closed-form asymptotic approximation.

Inventory in the GLFT model counts orders: the GLFT q is the env's inventory (shares) divided
by ``order_size``, and the bound Q is ``max_inventory / order_size``. A fill moves q by one and
earns ``order_size`` times the depth, so the model in orders is the model in shares with the
risk aversion ``gamma * order_size`` (1 / money per order); with ``order_size = 1`` (every
shipped market) the two coincide.

Reference: Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507,
Theorem 1 (exact quotes) and Section 4 (asymptotic quotes).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.analytic.glft import GLFTQuoteTable, glft_asymptotic_depths
from asmm_env.lob.params import BookParams
from asmm_env.params import MarketParams
from asmm_env.validation import check_positive
from baselines.policy import DepthPolicy, market_params, model_parameter

logger = logging.getLogger(__name__)

# Expected fills per session of a quote held at the deepest depth above which an unbounded
# env's leak through the policy's own bound is worth a warning (default: ~1e-15).
_LEAK_TOLERANCE = 1e-6


def _check_order_size(order_size: float) -> float:
    check_positive("order_size", order_size)
    return float(order_size)


def _inventory_bound(Q: Any, p: MarketParams | BookParams, env: Any = None) -> int:
    """Q in orders: the given one, or the env's ``max_inventory / order_size``. Where the
    policy is built for an env (``env`` not the params themselves) and the market has no
    bound, say whether the env's deepest depth, its "no quote", fills."""
    max_inventory, order_size = getattr(p, "max_inventory", None), p.order_size
    if Q is None:
        if max_inventory is None:
            raise ValueError("Q must be given (an integer >= 1, the inventory bound in orders) "
                             "when the env has no max_inventory, got Q=None and "
                             "max_inventory=None")
        orders = max_inventory / order_size
        if abs(orders - round(orders)) > 1e-9 * max(1.0, orders) or round(orders) < 1:
            raise ValueError(
                f"Q defaults to max_inventory / order_size, which must be a whole number >= 1 "
                f"of orders, got max_inventory={max_inventory!r}, order_size={order_size!r}; "
                f"pass Q explicitly")
        return round(orders)
    if not isinstance(Q, (int, np.integer)) or isinstance(Q, bool) or Q < 1:
        raise ValueError(f"Q must be an integer >= 1 (inventory bound in orders), got {Q!r}")
    if max_inventory is None and not isinstance(p, MarketParams):
        logger.warning("GLFT policy with Q=%d on an order book, which has no inventory bound: "
                       "at q = +Q (-Q) the policy quotes the deepest level", Q)
    elif max_inventory is None and env is not None and not isinstance(env, MarketParams):
        # Without the market's bound, "no quote" through an env is a quote at its deepest
        # depth: expected fills there over a whole session, A exp(-k depth) T. (The runner
        # takes the policy's no_quote_depth, which never fills: nothing to say for params.)
        leak = p.A * math.exp(-p.k * p.action_map.high) * p.T
        logger.log(logging.WARNING if leak > _LEAK_TOLERANCE else logging.DEBUG,
                   "GLFT policy with Q=%d on a market without max_inventory: through an env, "
                   "at q = +Q (-Q) the policy bids (asks) at the env's deepest depth, where a "
                   "quote held all session fills %.2g times on average; max_inventory = "
                   "Q * order_size makes the market enforce the bound", Q, leak)
    elif max_inventory is not None and not math.isclose(max_inventory, Q * order_size,
                                                          rel_tol=1e-9):
        logger.warning("GLFT policy with Q=%d orders on an env with max_inventory=%g shares "
                       "(order_size %g): the quotes are optimal only for max_inventory = "
                       "Q * order_size", Q, max_inventory, order_size)
    return int(Q)


class GLFTPolicy(DepthPolicy):
    """The exact GLFT (2013) quotes for inventory bounded in [-Q, Q], from a precomputed table.

    ``delta_bid(t, q) = ln(v_q / v_{q+1}) / k + ln(1 + gamma / k) / gamma`` and
    ``delta_ask(t, q) = ln(v_q / v_{q-1}) / k + ln(1 + gamma / k) / gamma`` with
    ``v(t) = exp(-M (T - t)) 1`` (see :mod:`asmm_env.analytic.glft`). The quotes are computed
    once, on the env's time grid ``t_i = i dt`` for every q in [-Q, Q]
    (:class:`~asmm_env.analytic.glft.GLFTQuoteTable`); :meth:`depths` is then a vectorised
    table lookup (no Python loop over paths).

    At q = +Q there is no bid and at q = -Q no ask: the policy returns ``no_quote_depth``
    there, ``max(action_map.high, 30 / k)``: a depth that never fills (rate ``A e^-30``) for
    the Monte Carlo runner, which takes a depth policy's depths as they are, and action +1
    (the deepest depth an env's actions reach) through an env. Run the market with
    ``max_inventory = Q * order_size`` so that the market itself forbids those fills: an
    env's deepest depth may still fill. Inventories beyond [-Q, Q] are looked up at the
    nearest bound.

    Parameters
    ----------
    gamma : float
        CARA risk aversion, 1 / money (> 0).
    sigma : float
        Midprice volatility, price units / sqrt(time) (> 0).
    A : float
        Market-order arrival rate on each side, orders per unit time (> 0).
    k : float
        Decay of the fill intensity ``A exp(-k delta)``, 1 / price units (> 0).
    T, dt : float
        Horizon and time step of the env, time units (> 0; ``T / dt`` a whole number).
    Q : int
        Inventory bound, orders (integer >= 1).
    action_map : ActionMap, MarketParams or BookParams
        How the env maps actions onto depths (``env.unwrapped.params.action_map``), to express
        the depths as actions.
    order_size : float
        Shares per order (> 0); the table is built for the risk aversion per order
        ``gamma * order_size`` (see the module docstring).

    Attributes
    ----------
    table : GLFTQuoteTable
        The precomputed depths, price units, rows ``t_i``, columns ``q + Q``.

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Theorem 1.

    Examples
    --------
    >>> from asmm_env import MarketParams
    >>> params = MarketParams(max_inventory=25.0)            # AS 2008 market, |q| <= 25
    >>> policy = GLFTPolicy.from_env(params, gamma=0.1)      # Q = 25
    >>> action = policy.act(np.array([[100.0, 0.0, 1.0], [100.0, 25.0, 1.0]]))
    >>> float(action[1, 0])                                  # no bid at q = +Q
    1.0
    """

    def __init__(self, gamma: float, *, sigma: float, A: float, k: float, T: float, dt: float,
                 Q: int, action_map: Any, order_size: float = 1.0) -> None:
        check_positive("gamma", gamma)
        self.order_size = _check_order_size(order_size)
        self.gamma, self.action_map = float(gamma), action_map_of(action_map)
        self.table = GLFTQuoteTable.build(gamma=self.gamma * self.order_size, sigma=sigma, A=A,
                                          k=k, Q=Q, T=T, dt=dt)
        self.no_quote_depth = max(self.action_map.high, 30.0 / k)
        self.Q = self.table.Q

    @classmethod
    def from_env(cls, env: Any, gamma: float, Q: int | None = None, *,
                 sigma: float | None = None, A: float | None = None,
                 k: float | None = None) -> GLFTPolicy:
        """The policy for an env's (wrapped, vectorised or PettingZoo; or its params') sigma,
        A, k, T, dt, depth bound and order size; ``Q`` defaults to ``max_inventory /
        order_size``; ``sigma``, ``A``, ``k`` override the env's (and must be given for the
        order-book envs).

        Raises
        ------
        ValueError
            Naming Q if it is not given and the env has no ``max_inventory``, or if it is not
            an integer >= 1; naming the model parameter that is out of range otherwise.
        """
        p = market_params(env)
        check_positive("gamma", gamma)
        Q = _inventory_bound(Q, p, env)
        policy = cls(gamma, sigma=model_parameter(p, "sigma", sigma),
                     A=model_parameter(p, "A", A), k=model_parameter(p, "k", k), T=p.T,
                     dt=p.dt, Q=Q, action_map=p.action_map, order_size=p.order_size)
        low, high = policy.depth_range
        reach = policy.action_map
        if not isinstance(env, (MarketParams, BookParams)) and (low < reach.low
                                                                or high > reach.high):
            # Through an env the actions reach [min_depth, max_depth] only (the runner
            # takes the policy's depths as they are: nothing to say for params).
            logger.warning("GLFT depths span [%.4g, %.4g] beyond the env's action depths "
                           "[%.4g, %.4g]: the env clips those quotes", low, high, reach.low,
                           reach.high)
        return policy

    @property
    def depth_range(self) -> tuple[float, float]:
        """Smallest and largest quoted depth in the table (where a quote exists), price units."""
        finite = np.concatenate([d[np.isfinite(d)] for d in
                                 (self.table.bid_depth, self.table.ask_depth)])
        return float(finite.min()), float(finite.max())

    def depths(self, observation: np.ndarray):
        q = observation[..., 1] / self.order_size
        bid, ask = self.table.depths(observation[..., 2], q)
        # No quote (inf in the table): a depth that never fills (action +1 in an env).
        far = self.no_quote_depth
        return np.where(np.isfinite(bid), bid, far), np.where(np.isfinite(ask), ask, far)

    def __repr__(self) -> str:
        return f"GLFTPolicy(gamma={self.gamma}, Q={self.Q})"


class GLFTAsymptoticPolicy(DepthPolicy):
    """The GLFT closed-form asymptotic quotes (T - t -> infinity), linear in the inventory.

    ``delta_bid(q) = ln(1 + gamma/k) / gamma + (2 q + 1) / 2 * s``,
    ``delta_ask(q) = ln(1 + gamma/k) / gamma - (2 q - 1) / 2 * s``, with
    ``s = sqrt(sigma^2 gamma / (2 k A) * (1 + gamma/k)^(1 + k/gamma))`` (price units per
    order); independent of time and of any inventory bound (run it on a bounded market to
    compare with :class:`GLFTPolicy` at the same Q).

    Parameters
    ----------
    gamma : float
        CARA risk aversion, 1 / money (> 0).
    sigma, A, k : float
        As in :class:`GLFTPolicy`.
    action_map : ActionMap, MarketParams or BookParams
        How the env maps actions onto depths (``env.unwrapped.params.action_map``), to express
        the depths as actions.
    order_size : float
        Shares per order (> 0); the formula uses q in orders and ``gamma * order_size``.

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Section 4.
    """

    def __init__(self, gamma: float, *, sigma: float, A: float, k: float, action_map: Any,
                 order_size: float = 1.0) -> None:
        for name, value in (("gamma", gamma), ("sigma", sigma), ("A", A), ("k", k)):
            check_positive(name, value)
        self.order_size = _check_order_size(order_size)
        self.gamma, self.sigma, self.A, self.k = float(gamma), float(sigma), float(A), float(k)
        self.action_map = action_map_of(action_map)

    @classmethod
    def from_env(cls, env: Any, gamma: float, *, sigma: float | None = None,
                 A: float | None = None, k: float | None = None) -> GLFTAsymptoticPolicy:
        """The policy for an env's (or its params') sigma, A, k, depth bound and order size;
        ``sigma``, ``A``, ``k`` override them (and must be given for the order-book envs)."""
        p = market_params(env)
        return cls(gamma, sigma=model_parameter(p, "sigma", sigma),
                   A=model_parameter(p, "A", A), k=model_parameter(p, "k", k),
                   action_map=p.action_map, order_size=p.order_size)

    def depths(self, observation: np.ndarray):
        return glft_asymptotic_depths(observation[..., 1] / self.order_size,
                                      gamma=self.gamma * self.order_size, sigma=self.sigma,
                                      A=self.A, k=self.k)

    def __repr__(self) -> str:
        return f"GLFTAsymptoticPolicy(gamma={self.gamma})"
