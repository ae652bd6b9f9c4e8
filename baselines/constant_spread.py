"""Fixed depths on each side: the simplest quoting rule, and a building block for tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.validation import check_finite
from baselines.policy import DepthPolicy, market_params


class ConstantSpreadPolicy(DepthPolicy):
    """Bid at ``mid - bid_depth`` and ask at ``mid + ask_depth`` always (price units)."""

    def __init__(self, bid_depth: float, ask_depth: float | None = None, *,
                 action_map: Any) -> None:
        ask_depth = bid_depth if ask_depth is None else ask_depth
        check_finite("bid_depth", bid_depth)
        check_finite("ask_depth", ask_depth)
        self.bid_depth, self.ask_depth = bid_depth, ask_depth
        self.action_map = action_map_of(action_map)

    @classmethod
    def from_env(cls, env: Any, bid_depth: float, ask_depth: float | None = None):
        return cls(bid_depth, ask_depth, action_map=market_params(env).action_map)

    def depths(self, observation: np.ndarray):
        shape = observation.shape[:-1]
        return np.full(shape, self.bid_depth), np.full(shape, self.ask_depth)

    def __repr__(self) -> str:
        return f"ConstantSpreadPolicy(bid_depth={self.bid_depth}, ask_depth={self.ask_depth})"
