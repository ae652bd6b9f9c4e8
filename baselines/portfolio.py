"""Portfolio market makers for several correlated assets (:mod:`asmm_env.multi_asset`): the
Guéant (2017) multi-asset quotes, and single-asset makers run independently on each asset.

A portfolio policy has ``depths(observation) -> (bid_depth, ask_depth)``: ``observation`` of
shape (n, d, 3), each asset's ``(mid, inventory, time_remaining)``; depths (n, d), price units,
positive away from the mid. :func:`asmm_env.multi_asset.rollout_portfolio` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from asmm_env.analytic.multi_asset import covariance_matrix, gueant_depths
from asmm_env.multi_asset import correlation_matrix
from asmm_env.params import MarketParams
from asmm_env.rollout import policy_depths
from asmm_env.validation import check_positive

__all__ = ["GueantPolicy", "IndependentMakers"]


class GueantPolicy:
    """The multi-asset quotes of Guéant (2017) in the quadratic approximation of Bergault,
    Evangelista, Guéant & Vieira (2021), ergodic (long-horizon) form:

    ``delta_i^b = delta_static_i + sqrt(gamma) ((Gamma q)_i + z_i Gamma_ii / 2)``,
    ``delta_i^a = delta_static_i - sqrt(gamma) ((Gamma q)_i - z_i Gamma_ii / 2)``,

    with Gamma the solution of ``Gamma D Gamma = Sigma``, ``D = diag(2 z_i k_i A_i c_i)``
    (:func:`asmm_env.analytic.multi_asset.gueant_depths`). A long position in one asset lowers
    the quotes of the assets correlated with it (it hedges); with a diagonal Sigma the quotes
    of each asset are the GLFT closed-form asymptotic quotes of that asset alone
    (:class:`baselines.glft.GLFTAsymptoticPolicy`).

    Parameters
    ----------
    gamma : float
        Risk aversion, 1 / money (> 0).
    sigma : array_like (d,)
        Volatilities, price units / sqrt(time) (> 0).
    correlation : float or array_like (d, d)
        Correlation of the mid increments.
    A, k, order_size : float or array_like (d,)
        Per asset: arrival rate of fills at depth 0 (orders per unit time), intensity decay
        (1 / price units), shares per fill.
    xi : float or None
        ``None``: Model A (CARA utility, ``xi = gamma``); 0: Model B (risk neutral with a
        running variance penalty ``(gamma / 2) q' Sigma q``).

    References
    ----------
    Guéant (2017), Appl. Math. Finance 24(2) 112-154; Bergault, Evangelista, Guéant & Vieira
    (2021), Appl. Math. Finance 28(2) 101-142, section 3.
    """

    def __init__(self, gamma: float, *, sigma: Any, correlation: Any, A: Any, k: Any,
                 order_size: Any = 1.0, xi: float | None = None) -> None:
        check_positive("gamma", gamma)
        sigma = np.atleast_1d(np.asarray(sigma, dtype=float))
        self.gamma, self.xi = float(gamma), xi
        self.Sigma = covariance_matrix(sigma, correlation_matrix(correlation, sigma.size))
        self.A, self.k, self.order_size = A, k, order_size
        # Validate once (and fail here, naming the parameter, rather than at the first step).
        gueant_depths(np.zeros(sigma.size), self.Sigma, gamma=self.gamma, A=A, k=k,
                      order_size=order_size, xi=xi)

    @classmethod
    def from_markets(cls, params: Sequence[MarketParams], correlation: Any, gamma: float,
                     xi: float | None = None) -> GueantPolicy:
        """The policy for the assets ``params`` (sigma, A, k, order_size each)."""
        return cls(gamma, sigma=[p.sigma for p in params], correlation=correlation,
                   A=[p.A for p in params], k=[p.k for p in params],
                   order_size=[p.order_size for p in params], xi=xi)

    def depths(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return gueant_depths(observation[..., 1], self.Sigma, gamma=self.gamma, A=self.A,
                             k=self.k, order_size=self.order_size, xi=self.xi)

    def __repr__(self) -> str:
        return f"GueantPolicy(gamma={self.gamma}, d={self.Sigma.shape[0]})"


class IndependentMakers:
    """Single-asset policies run independently, policy i on asset i seeing only asset i's
    ``(mid, inventory, time_remaining)``: the control of a portfolio maker (no hedging across
    assets).

    Parameters
    ----------
    policies : sequence
        One single-asset policy per asset (``depths(observation)`` in price units, or
        ``act(observation)`` mapped by ``params[i].action_map``).
    params : sequence of MarketParams, optional
        The assets' markets, needed only for policies without ``depths``.
    """

    def __init__(self, policies: Sequence[Any], params: Sequence[MarketParams] | None = None
                 ) -> None:
        self.policies = list(policies)
        if not self.policies:
            raise ValueError("policies must hold one policy per asset, got none")
        self.params = None if params is None else list(params)
        if self.params is None and not all(callable(getattr(p, "depths", None))
                                           for p in self.policies):
            raise ValueError("params must be given (one MarketParams per asset, for its "
                             "action_map) when a policy has no depths() method")

    def depths(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, d = observation.shape[:2]
        if d != len(self.policies):
            raise ValueError(f"observation must have d = {len(self.policies)} assets (one per "
                             f"policy), got shape {observation.shape}")
        bid, ask = np.empty((n, d)), np.empty((n, d))
        for i, policy in enumerate(self.policies):
            action_map = None if self.params is None else self.params[i].action_map
            quotes = policy_depths(policy, observation[:, i], n, action_map)
            bid[:, i], ask[:, i] = quotes[:, 0], quotes[:, 1]
        return bid, ask

    def __repr__(self) -> str:
        return f"IndependentMakers({self.policies!r})"
