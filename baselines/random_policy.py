"""Depths drawn uniformly at random each step: a no-skill reference and a fuzzer for tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from asmm_env.actions import action_map_of
from asmm_env.validation import check_finite
from baselines.policy import DepthPolicy, market_params


class RandomPolicy(DepthPolicy):
    """Each depth uniform in ``[low, high]`` price units, drawn from its own seeded generator
    (never numpy's global one), so a run is reproducible from ``seed``."""

    def __init__(self, low: float, high: float, *, action_map: Any,
                 seed: int | None = None) -> None:
        check_finite("low", low)
        check_finite("high", high)
        if high < low:
            raise ValueError(f"high must be >= low = {low}, got {high!r}")
        self.low, self.high, self.action_map = low, high, action_map_of(action_map)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_env(cls, env: Any, low: float, high: float, seed: int | None = None):
        return cls(low, high, action_map=market_params(env).action_map, seed=seed)

    def depths(self, observation: np.ndarray):
        draws = self.rng.uniform(self.low, self.high, (2, *observation.shape[:-1]))
        return draws[0], draws[1]

    def __repr__(self) -> str:
        return f"RandomPolicy(low={self.low}, high={self.high})"
