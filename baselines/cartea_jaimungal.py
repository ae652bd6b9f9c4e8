"""The Cartea–Jaimungal–Penalva (2015) market maker: risk neutral, with a running quadratic
inventory penalty phi and a terminal one alpha, inventory bounded in [-Q, Q].

It maximises ``E[X_T + q_T S_T - alpha q_T^2 - phi int_0^T q_t^2 dt]`` (terminal inventory
marked at the mid, less the penalties); the optimal quotes are in closed form
(:mod:`asmm_env.analytic.cartea_jaimungal`). ``phi = gamma sigma^2 / 2`` makes the running
penalty the variance penalty that matches CARA risk aversion gamma to first order (Guéant
2017, Model B), so the policy is the "other utility" next to the CARA-optimal GLFT quotes.

Inventory counts orders: q = inventory / order_size, Q = max_inventory / order_size, and the
problem in orders is the problem in shares with ``phi * order_size`` and ``alpha *
order_size`` (the value scales by order_size), as for :class:`baselines.glft.GLFTPolicy`.

Reference: Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, CUP,
section 10.2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.analytic.cartea_jaimungal import CJQuoteTable
from asmm_env.validation import check_non_negative, check_positive
from baselines.glft import _inventory_bound
from baselines.policy import DepthPolicy, market_params, model_parameter


class CarteaJaimungalPolicy(DepthPolicy):
    """The optimal quotes of the running-penalty problem, from a precomputed table.

    ``delta_bid(t, q) = 1/k + (ln omega_q - ln omega_{q+1}) / k``,
    ``delta_ask(t, q) = 1/k + (ln omega_q - ln omega_{q-1}) / k``, ``omega(t) = exp(A_mat (T -
    t)) z`` (see :func:`asmm_env.analytic.cj_depths`), looked up on the env's time grid; no bid
    at q = +Q and no ask at q = -Q (a depth that never fills, as :class:`GLFTPolicy`): run the
    market with ``max_inventory = Q * order_size``.

    Parameters
    ----------
    phi : float
        Running inventory penalty, money / (shares^2 time) (>= 0).
    alpha : float
        Terminal inventory penalty, money / shares^2 (>= 0).
    A, k : float
        Market-order arrival rate per side (orders per unit time) and intensity decay
        (1 / price units) (> 0).
    T, dt : float
        Horizon and time step, time units (``T / dt`` a whole number).
    Q : int
        Inventory bound, orders (>= 1).
    action_map : ActionMap, MarketParams or BookParams
        How the env maps actions onto depths.
    order_size : float
        Shares per order (> 0).

    Attributes
    ----------
    table : CJQuoteTable
        Depths, price units, rows ``t_i``, columns ``q + Q``.

    References
    ----------
    Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, section 10.2.

    Examples
    --------
    >>> from asmm_env import MarketParams
    >>> params = MarketParams(max_inventory=10.0)
    >>> policy = CarteaJaimungalPolicy.from_env(params, phi=0.2)
    >>> bid, ask = policy.depths(np.array([[100.0, 0.0, 1.0]]))
    >>> round(float(bid[0]), 4) == round(float(ask[0]), 4)
    True
    """

    def __init__(self, *, phi: float, alpha: float = 0.0, A: float, k: float, T: float,
                 dt: float, Q: int, action_map: Any, order_size: float = 1.0) -> None:
        check_non_negative("phi", phi)
        check_non_negative("alpha", alpha)
        check_positive("order_size", order_size)
        self.phi, self.alpha, self.order_size = float(phi), float(alpha), float(order_size)
        self.action_map = action_map_of(action_map)
        self.table = CJQuoteTable.build(phi=self.phi * self.order_size,
                                        alpha=self.alpha * self.order_size, A=A, k=k, Q=Q,
                                        T=T, dt=dt)
        self.Q = self.table.Q
        self.no_quote_depth = max(self.action_map.high, 30.0 / k)

    @classmethod
    def from_env(cls, env: Any, phi: float, alpha: float = 0.0, Q: int | None = None, *,
                 A: float | None = None, k: float | None = None) -> CarteaJaimungalPolicy:
        """The policy for an env's (or its params') A, k, T, dt, action map and order size;
        ``Q`` defaults to ``max_inventory / order_size``."""
        p = market_params(env)
        Q = _inventory_bound(Q, p)
        return cls(phi=phi, alpha=alpha, A=model_parameter(p, "A", A),
                   k=model_parameter(p, "k", k), T=p.T, dt=p.dt, Q=Q, action_map=p.action_map,
                   order_size=p.order_size)

    def depths(self, observation: np.ndarray):
        bid, ask = self.table.depths(observation[..., 2], observation[..., 1] / self.order_size)
        far = self.no_quote_depth
        return np.where(np.isfinite(bid), bid, far), np.where(np.isfinite(ask), ask, far)

    def __repr__(self) -> str:
        return f"CarteaJaimungalPolicy(phi={self.phi}, alpha={self.alpha}, Q={self.Q})"


class RunningPenalty:
    """A runner observer (:class:`asmm_env.rollout.Observer`) of the criterion's penalty
    term: ``sum_i q_(i+1)^2 dt`` per path, the (first agent's) inventory held over each
    step squared, shares^2 x time units; ``phi`` times it is the running penalty."""

    def start(self, core) -> None:
        self.total = np.zeros(core.n_paths)

    def step(self, core, step, quotes, volume) -> None:
        self.total += core.ledger.inventory[:, 0] ** 2 * core.params.dt

    def result(self) -> np.ndarray:
        return self.total
