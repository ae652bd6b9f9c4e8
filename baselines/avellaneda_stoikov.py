"""The Avellaneda–Stoikov (2008) inventory strategy: quotes around the reservation price."""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.analytic.avellaneda_stoikov import optimal_depths
from asmm_env.validation import check_positive
from baselines.policy import DepthPolicy, market_params, model_parameter


class AvellanedaStoikovPolicy(DepthPolicy):
    """Bid/ask at ``r -/+ spread / 2`` with ``r = s - q gamma sigma^2 (T - t)`` and
    ``spread = gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)``.

    Parameters
    ----------
    gamma : float
        Risk aversion, 1 / money (> 0).
    sigma, k, T : float
        The model's volatility (price units / sqrt(time)), intensity decay (1 / price units)
        and horizon (time units) the policy believes in.
    action_map : ActionMap, MarketParams or BookParams
        How the env maps actions onto depths (``env.unwrapped.params.action_map``), to express
        the depths as actions.
    include_time_term : bool
        Keep ``gamma sigma^2 (T - t)`` in the spread (the formula); ``False`` reproduces the
        spread reported in the AS 2008 tables.

    Reference: Avellaneda & Stoikov (2008), eqs. (29)-(30).
    """

    def __init__(self, gamma: float, *, sigma: float, k: float, T: float, action_map: Any,
                 include_time_term: bool = True) -> None:
        for name, value in (("gamma", gamma), ("sigma", sigma), ("k", k), ("T", T)):
            check_positive(name, value)
        self.gamma, self.sigma, self.k, self.T = gamma, sigma, k, T
        self.action_map, self.include_time_term = action_map_of(action_map), include_time_term

    @classmethod
    def from_env(cls, env: Any, gamma: float, *, sigma: float | None = None,
                 k: float | None = None, **kwargs: Any) -> AvellanedaStoikovPolicy:
        """The policy for an env's (wrapped, vectorised or PettingZoo; or its params') sigma,
        k, T and depth bound; ``sigma`` and ``k`` override them (and must be given for the
        order-book envs, which have neither)."""
        p = market_params(env)
        return cls(gamma, sigma=model_parameter(p, "sigma", sigma),
                   k=model_parameter(p, "k", k), T=p.T, action_map=p.action_map, **kwargs)

    def depths(self, observation: np.ndarray):
        q, tau = observation[..., 1], observation[..., 2]
        return optimal_depths(q, self.T - tau, gamma=self.gamma, sigma=self.sigma, k=self.k,
                              T=self.T, include_time_term=self.include_time_term)

    def __repr__(self) -> str:
        return f"AvellanedaStoikovPolicy(gamma={self.gamma})"
