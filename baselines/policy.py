"""The one Policy protocol every baseline (and a user's own policy) implements.

``policy.act(observation) -> action``: observation ``(d,)`` or ``(n, d)`` whose first three
entries are (mid, inventory, time_remaining), as every env emits them (d = 3 for the AS envs;
the order-book env appends book features after them); action ``(2,)`` or ``(n, 2)`` in the
envs' units, ``(bid_depth, ask_depth) / depth_bound`` in [-1, 1]. Vectorised: one call
serves one path or a batch of paths. Policies are fixed (no learning) and deterministic
unless documented.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from asmm_env.params import MarketParams
from asmm_env.spaces import depths_to_action


@runtime_checkable
class Policy(Protocol):
    def act(self, observation: np.ndarray) -> np.ndarray: ...


def market_params(env: Any) -> MarketParams:
    """The ``MarketParams`` of a Gymnasium env (wrapped or not), a vector env, a PettingZoo env
    or a ``Market``; or the params themselves."""
    if isinstance(env, MarketParams):
        return env
    for candidate in (env, getattr(env, "unwrapped", None), getattr(env, "aec_env", None)):
        params = getattr(candidate, "params", None)
        if isinstance(params, MarketParams):
            return params
    raise TypeError(f"cannot find MarketParams on {env!r}: pass an asmm_env env or MarketParams")


class DepthPolicy:
    """Base class for policies that compute depths in price units: subclasses implement
    ``depths(observation) -> (bid_depth, ask_depth)``; ``act`` normalises by ``depth_bound``."""

    depth_bound: float

    def depths(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def act(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation, dtype=np.float64)
        if observation.ndim not in (1, 2) or observation.shape[-1] < 3:
            raise ValueError("observation must have shape (d,) or (n, d), d >= 3, starting "
                             f"(mid, inventory, time_remaining), got shape {observation.shape}")
        bid, ask = self.depths(observation)
        return depths_to_action(bid, ask, self.depth_bound)
