"""The undercutter: one tick inside the best rival quote while that still pays for the risk.

Economics
---------
Market orders go to the best price (:mod:`asmm_env.fills`), so a maker one tick inside every
rival takes all the orders that reach its quote, and a maker behind them takes none. Whether
winning an order is worth it depends on the inventory it brings: buying one more share at
``s - delta`` earns the edge ``delta`` against the mid but adds inventory risk, which the
maker prices with its own Avellaneda–Stoikov valuation (inventory held to the horizon,
:func:`asmm_env.analytic.avellaneda_stoikov.indifference_depths`):

    bid cost  c_b = (2 q + m) gamma sigma^2 (T - t) / 2,
    ask cost  c_a = (m - 2 q) gamma sigma^2 (T - t) / 2      (m = order_size shares),

the distance from the mid of its indifference bid and ask prices. Its AS optimal quote is that
cost plus the monopoly markup ``ln(1 + gamma / k) / gamma``. On each side, given the best
rival depth ``d_r`` (the book's, :mod:`asmm_env.rollout` and
``competition_v0.parallel_env(observe_rivals=True)``):

* if ``d_r - tick > c`` (the edge of the undercutting quote exceeds the marginal
  inventory-risk cost): quote ``min(delta_AS, d_r - tick)``, one tick inside the rival, or its
  own optimal quote when that is already inside;
* otherwise: its own optimal quote ``delta_AS`` (behind the rival: it stops competing on that
  side until the rival's quote is worth beating again).

A long maker (q > 0) has a high bid cost and a low, possibly negative, ask cost: it keeps
undercutting on the ask, where a fill relieves its inventory, and gives up the bid first.
Several undercutters re-quoting against each other's standing quotes race down one tick per
step until the second most eager gives up, then the winner widens again (an Edgeworth cycle).

Observation: ``(mid, inventory, time_remaining, rival_bid_depth, rival_ask_depth)``; with
only the first three entries (no rivals seen) the policy quotes the AS depths.

Reference: Avellaneda & Stoikov (2008), section 2.2 (reservation bid and ask prices) and
eqs. (29)-(30) (the optimal quotes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asmm_env.analytic.avellaneda_stoikov import indifference_depths, optimal_depths
from asmm_env.validation import check_positive
from baselines.avellaneda_stoikov import AvellanedaStoikovPolicy
from baselines.policy import market_params, model_parameter


def undercut_tick(p: Any, tick: float | None) -> float:
    """The undercutting increment: ``tick`` if given, else the market's ``tick_size``; it must
    be > 0 (on a continuous market, tick_size 0, give it)."""
    value = getattr(p, "tick_size", 0.0) if tick is None else tick
    if not value or value <= 0 or not math.isfinite(value):
        raise ValueError(f"tick must be > 0 (the undercutting increment, price units; the "
                         f"market's tick_size is {getattr(p, 'tick_size', None)!r}: give tick= "
                         f"on a continuous market), got {value!r}")
    return float(value)


class UndercutPolicy(AvellanedaStoikovPolicy):
    """One tick inside the best rival quote while its edge exceeds the AS marginal
    inventory-risk cost, else the AS quote (module docstring).

    Parameters
    ----------
    gamma : float
        Risk aversion, 1 / money (> 0).
    sigma, k, T : float
        Volatility (price units / sqrt(time)), intensity decay (1 / price units) and horizon
        (time units) of its AS valuation.
    tick : float
        Undercutting increment, price units (> 0): the market's tick size.
    action_map : ActionMap, MarketParams or BookParams
        The env's action map.
    order_size : float
        Shares per fill (> 0), the size of the marginal order it prices.

    Attributes
    ----------
    observes_rivals : bool
        True: the runner and the PettingZoo face (``observe_rivals=True``) append the best
        rival quotes to its observation.

    Examples
    --------
    >>> from asmm_env import MarketParams
    >>> params = MarketParams(tick_size=0.01)
    >>> policy = UndercutPolicy.from_env(params, gamma=0.1)
    >>> bid, ask = policy.depths(np.array([[100.0, 0.0, 1.0, 0.7, 0.1]]))
    >>> round(float(bid[0]), 2), round(float(ask[0]), 4)     # undercut the bid; ask: AS
    (0.69, 0.8454)
    """

    observes_rivals = True

    def __init__(self, gamma: float, *, sigma: float, k: float, T: float, tick: float,
                 action_map: Any, order_size: float = 1.0) -> None:
        super().__init__(gamma, sigma=sigma, k=k, T=T, action_map=action_map)
        check_positive("tick", tick)
        check_positive("order_size", order_size)
        self.tick, self.order_size = float(tick), float(order_size)

    @classmethod
    def from_env(cls, env: Any, gamma: float, *, tick: float | None = None,
                 sigma: float | None = None, k: float | None = None) -> UndercutPolicy:
        """The policy for an env's (or its params') sigma, k, T, tick size, order size and
        action map; ``tick`` overrides the tick size (and must be given when it is 0)."""
        p = market_params(env)
        return cls(gamma, sigma=model_parameter(p, "sigma", sigma),
                   k=model_parameter(p, "k", k), T=p.T, tick=undercut_tick(p, tick),
                   action_map=p.action_map, order_size=p.order_size)

    def costs(self, observation: np.ndarray):
        """Marginal inventory-risk cost of one more order, (bid, ask), price units."""
        q, tau = observation[..., 1], observation[..., 2]
        return indifference_depths(q, self.T - tau, gamma=self.gamma, sigma=self.sigma,
                                   T=self.T, order_size=self.order_size)

    def depths(self, observation: np.ndarray):
        q, tau = observation[..., 1], observation[..., 2]
        bid, ask = optimal_depths(q, self.T - tau, gamma=self.gamma, sigma=self.sigma,
                                  k=self.k, T=self.T)
        if observation.shape[-1] < 5:
            return bid, ask
        cost_bid, cost_ask = self.costs(observation)
        under_bid = observation[..., 3] - self.tick
        under_ask = observation[..., 4] - self.tick
        bid = np.where(under_bid > cost_bid, np.minimum(bid, under_bid), bid)
        ask = np.where(under_ask > cost_ask, np.minimum(ask, under_ask), ask)
        return bid, ask

    def __repr__(self) -> str:
        return f"UndercutPolicy(gamma={self.gamma}, tick={self.tick})"
