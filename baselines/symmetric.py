"""The AS 2008 benchmark: a symmetric spread centred on the mid, ignoring inventory."""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.analytic.avellaneda_stoikov import average_spread
from asmm_env.validation import check_positive
from baselines.policy import DepthPolicy, market_params, model_parameter


class SymmetricPolicy(DepthPolicy):
    """Bid and ask at ``mid -/+ spread / 2`` whatever the inventory.

    Parameters
    ----------
    spread : float
        Total spread, price units (> 0).
    action_map : ActionMap, MarketParams or BookParams
        How the env maps actions onto depths (``env.unwrapped.params.action_map``), to express
        the depths as actions.

    ``SymmetricPolicy.from_env(env, gamma)`` uses the time average of the AS spread, the
    "symmetric strategy" of Avellaneda & Stoikov (2008), section 4.
    """

    def __init__(self, spread: float, *, action_map: Any) -> None:
        check_positive("spread", spread)
        self.spread, self.action_map = spread, action_map_of(action_map)

    @classmethod
    def from_env(cls, env: Any, gamma: float, include_time_term: bool = True, *,
                 sigma: float | None = None, k: float | None = None) -> SymmetricPolicy:
        check_positive("gamma", gamma)
        p = market_params(env)
        spread = average_spread(gamma=gamma, sigma=model_parameter(p, "sigma", sigma),
                                k=model_parameter(p, "k", k), T=p.T,
                                include_time_term=include_time_term)
        return cls(spread, action_map=p.action_map)

    def depths(self, observation: np.ndarray):
        half = np.full(observation.shape[:-1], 0.5 * self.spread)
        return half, half

    def __repr__(self) -> str:
        return f"SymmetricPolicy(spread={self.spread:.4g})"
