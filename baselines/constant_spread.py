"""Fixed depths on each side: the simplest quoting rule, and a building block for tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.validation import check_finite, check_positive
from baselines.policy import DepthPolicy, market_params


class ConstantSpreadPolicy(DepthPolicy):
    """Bid at ``mid - bid_depth`` and ask at ``mid + ask_depth`` always (price units)."""

    def __init__(self, bid_depth: float, ask_depth: float | None = None, *,
                 depth_bound: float) -> None:
        ask_depth = bid_depth if ask_depth is None else ask_depth
        check_finite("bid_depth", bid_depth)
        check_finite("ask_depth", ask_depth)
        check_positive("depth_bound", depth_bound)
        self.bid_depth, self.ask_depth, self.depth_bound = bid_depth, ask_depth, depth_bound

    @classmethod
    def from_env(cls, env: Any, bid_depth: float, ask_depth: float | None = None):
        return cls(bid_depth, ask_depth, depth_bound=market_params(env).depth_bound)

    def depths(self, observation: np.ndarray):
        shape = observation.shape[:-1]
        return np.full(shape, self.bid_depth), np.full(shape, self.ask_depth)

    def __repr__(self) -> str:
        return f"ConstantSpreadPolicy(bid_depth={self.bid_depth}, ask_depth={self.ask_depth})"
