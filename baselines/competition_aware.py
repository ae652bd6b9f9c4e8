"""The competition-aware GLFT maker: the GLFT control problem against the residual intensity
it faces among ``n_agents`` makers, and the best reply to the rivals' standing quotes.

Derivation
----------
A lone maker (Guéant, Lehalle & Fernandez-Tapia 2013) faces orders reaching depth ``delta``
at rate ``Lambda(delta) = A exp(-k delta)``. Its certainty equivalent with inventory q
(orders) is ``theta_q(t) = ln v_q(t) / k``, and the HJB equation reads

    d theta_q / dt = (1/2) gamma sigma^2 q^2 - H(theta_q - theta_{q+1}) - H(theta_q - theta_{q-1}),
    H(c) = sup_delta Lambda(delta) (1 - exp(-gamma (delta - c))) / gamma,

where ``c_b = theta_q - theta_{q+1} = ln(v_q / v_{q+1}) / k`` is the marginal inventory-risk
cost of buying one more order (``c_a`` mirrored): the edge ``delta - c`` is what a fill is
worth. With N makers the intensity a quote faces is the *residual* one: with price priority
and quotes replenished at once (:class:`asmm_env.fills.QueueFills`), orders reaching the best
price all go there, so given the best rival depth ``d_r``

    Lambda_res(delta) = Lambda(delta)           for delta < d_r     (alone at the best price),
                      = Lambda(delta) / n        at  delta = d_r     (sharing the level),
                      = 0                        for delta > d_r     (behind).

Two approximations make this solvable. (1) *Valuation*: the maker expects, over the rest of
the session, an equal share of the flow with the rivals (the symmetric outcome, where makers
share the inside level), i.e. ``Lambda / n`` at every depth; the HJB is then GLFT's with
``A -> A / n``, solved exactly (:class:`~asmm_env.analytic.glft.GLFTQuoteTable`), and gives
the costs ``c_b, c_a`` and the unconstrained optimum ``delta* = c + ln(1 + gamma / k) / gamma``.
A thinner share of the flow unwinds inventory more slowly, so the costs rise with n. (2)
*Reply*: at each step the supremum in H is taken against the residual intensity of the
rivals' standing quotes (the step function above), which has at most three candidates:

* ``delta*`` if it is at least one tick inside ``d_r`` (the unconstrained optimum is
  available);
* ``d_r - tick``, alone at the best price: ``H = Lambda(d_r - tick) (1 - exp(-gamma (d_r -
  tick - c))) / gamma``;
* ``d_r``, joining the rivals' level with the share ``1 / n`` its valuation assumes:
  ``H = Lambda(d_r) (1 - exp(-gamma (d_r - c))) / (n gamma)``;

and standing back (``H = 0``) when both are negative. A quote behind the rivals earns
nothing whatever its depth; standing back, the maker posts its *reservation quote*, the
marginal cost ``c`` itself (the tightest quote it would still trade at, zero edge), rather
than ``delta*``: as in Bertrand competition, the makers that cannot win price at cost, so
the winner can only undercut the runner-up's cost, never widen back to its own optimum. It
undercuts while the edge is more than about ``tick / (1 - 1/n)``, then joins the level; the
inside settles at once (not one tick per step) where the runner-up's edge is nil: about
``c_b + c_a`` of the marginal maker, the shared-flow floor. With ``n_agents = 1`` (or no
rival quote) it is :class:`baselines.GLFTPolicy`.

Observation: ``(mid, inventory, time_remaining, rival_bid_depth, rival_ask_depth)`` (the
book's best rival quotes; see :mod:`asmm_env.rollout`); with the first three entries only, it
quotes ``delta*``.

References: Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507,
Theorem 1 and eq. (3.6) (the Hamiltonian); Cartea, Jaimungal & Penalva (2015), section 10.2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.analytic.glft import GLFTQuoteTable
from asmm_env.validation import check_positive, check_positive_int
from baselines.glft import _inventory_bound
from baselines.policy import DepthPolicy, market_params, model_parameter
from baselines.undercut import undercut_tick


class CompetitionAwarePolicy(DepthPolicy):
    """GLFT against the residual intensity among ``n_agents`` makers (module docstring).

    Parameters
    ----------
    gamma : float
        CARA risk aversion, 1 / money (> 0).
    sigma, A, k : float
        The market's volatility (price units / sqrt(time)), order rate per side (orders per
        unit time) and intensity decay (1 / price units).
    T, dt : float
        Horizon and time step, time units (``T / dt`` a whole number).
    Q : int
        Inventory bound of the valuation, orders (>= 1).
    n_agents : int
        Makers on the market, itself included (>= 1): its share of the flow is ``1 / n``.
    tick : float
        Tick size, price units (> 0): the undercutting increment.
    action_map : ActionMap, MarketParams or BookParams
        The env's action map.
    order_size : float
        Shares per order (> 0); the valuation is in orders with ``gamma * order_size``.

    Attributes
    ----------
    table : GLFTQuoteTable
        The shared-flow valuation's optimal depths (``A / n_agents``).
    observes_rivals : bool
        True (see :mod:`asmm_env.rollout`).

    Examples
    --------
    >>> from asmm_env import MarketParams
    >>> params = MarketParams(tick_size=0.01, max_inventory=25.0)
    >>> policy = CompetitionAwarePolicy.from_env(params, gamma=0.1, n_agents=5)
    >>> bid, ask = policy.depths(np.array([[100.0, 0.0, 0.5, 0.40, 0.06]]))
    >>> round(float(bid[0]), 2), round(float(ask[0]), 2)   # undercut the bid, join the ask
    (0.39, 0.06)
    """

    observes_rivals = True

    def __init__(self, gamma: float, *, sigma: float, A: float, k: float, T: float,
                 dt: float, Q: int, n_agents: int, tick: float, action_map: Any,
                 order_size: float = 1.0) -> None:
        check_positive("gamma", gamma)
        check_positive("A", A)
        check_positive_int("n_agents", n_agents)
        check_positive("tick", tick)
        check_positive("order_size", order_size)
        self.gamma, self.n_agents, self.tick = float(gamma), int(n_agents), float(tick)
        self.order_size, self.k = float(order_size), float(k)
        self.action_map = action_map_of(action_map)
        self._gamma_order = self.gamma * self.order_size
        self.table = GLFTQuoteTable.build(gamma=self._gamma_order, sigma=sigma,
                                          A=A / self.n_agents, k=k, Q=Q, T=T, dt=dt)
        self.Q = self.table.Q
        self.markup = math.log1p(self._gamma_order / k) / self._gamma_order
        # No quote at the inventory bound: a depth that never fills, as GLFTPolicy.
        self.no_quote_depth = max(self.action_map.high, 30.0 / k)

    @classmethod
    def from_env(cls, env: Any, gamma: float, n_agents: int, Q: int | None = None, *,
                 tick: float | None = None, sigma: float | None = None,
                 A: float | None = None, k: float | None = None) -> CompetitionAwarePolicy:
        """The policy for an env's (or its params') sigma, A, k, T, dt, tick size, order size
        and action map; ``Q`` defaults to ``max_inventory / order_size``, ``tick`` to the tick
        size (and must be given when it is 0)."""
        p = market_params(env)
        check_positive("gamma", gamma)
        return cls(gamma, sigma=model_parameter(p, "sigma", sigma),
                   A=model_parameter(p, "A", A), k=model_parameter(p, "k", k), T=p.T,
                   dt=p.dt, Q=_inventory_bound(Q, p), n_agents=n_agents,
                   tick=undercut_tick(p, tick), action_map=p.action_map,
                   order_size=p.order_size)

    def _hamiltonian(self, delta, cost, share):
        """``Lambda(delta) share (1 - exp(-gamma (delta - cost)))`` up to the factor
        ``A / gamma``."""
        return share * np.exp(-self.k * delta) * -np.expm1(-self._gamma_order * (delta - cost))

    def _reply(self, own: np.ndarray, rival: np.ndarray) -> np.ndarray:
        cost = own - self.markup
        under, join = rival - self.tick, rival
        h_under = self._hamiltonian(under, cost, 1.0)
        h_join = self._hamiltonian(join, cost, 1.0 / self.n_agents)
        contest = np.where(h_under >= h_join, under, join)
        contest = np.where(np.maximum(h_under, h_join) > 0.0, contest, cost)
        return np.where(own <= under, own, contest)

    def depths(self, observation: np.ndarray):
        q = observation[..., 1] / self.order_size
        bid, ask = self.table.depths(observation[..., 2], q)
        if observation.shape[-1] >= 5:
            with np.errstate(invalid="ignore", over="ignore"):
                bid = np.where(np.isfinite(bid), self._reply(bid, observation[..., 3]), bid)
                ask = np.where(np.isfinite(ask), self._reply(ask, observation[..., 4]), ask)
        far = self.no_quote_depth
        return np.where(np.isfinite(bid), bid, far), np.where(np.isfinite(ask), ask, far)

    def __repr__(self) -> str:
        return f"CompetitionAwarePolicy(gamma={self.gamma}, n_agents={self.n_agents})"


def shared_flow_floor(*, gamma: float, sigma: float, A: float, k: float, T: float, dt: float,
                      n_agents: int, Q: int, order_size: float = 1.0) -> float:
    """The inside spread at which the marginal maker's edge equals its inventory-risk cost,
    averaged over the session's decision times (price units, continuous prices).

    The marginal maker holds no inventory and shares the flow with ``n_agents - 1`` rivals at
    the inside level, so it values one more order with the GLFT value function of the
    intensity ``A / n_agents`` (module docstring): its costs are ``c_b = ln(v_0 / v_1) / k``
    and ``c_a = ln(v_0 / v_{-1}) / k``. Quoting tighter than ``c_b`` on the bid (``c_a`` on
    the ask) loses more in inventory risk than the edge earns, so ``c_b + c_a`` is the
    tightest inside spread it sustains; averaged over ``t_i = i dt``, i < T / dt. On a tick
    grid the quotes, rounded away from the mid, rest on average half a tick deeper each.
    """
    table = GLFTQuoteTable.build(gamma=gamma * order_size, sigma=sigma, A=A / n_agents, k=k,
                                 Q=Q, T=T, dt=dt)
    markup = math.log1p(gamma * order_size / k) / (gamma * order_size)
    cost = table.bid_depth[:-1, Q] + table.ask_depth[:-1, Q] - 2.0 * markup
    return float(cost.mean())
