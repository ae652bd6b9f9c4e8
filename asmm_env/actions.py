"""The map between a policy's actions in [-1, 1] and the depths of its quotes.

Gymnasium's checker and Stable-Baselines3 want a normalised ``Box(-1, 1)``; what matters is
which depths the box spans and which depth its centre is. :class:`ActionMap` is that choice,
made once per market (``MarketParams.action_map``, ``BookParams.action_map``) and used by
every face and every baseline's ``act``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from asmm_env.validation import check_finite


@dataclass(frozen=True)
class ActionMap:
    """The affine map between actions in [-1, 1] and depths in price units, the same on both
    sides: ``depth = low + (action + 1) / 2 * (high - low)``, so action -1 quotes at depth
    ``low``, 0 at the middle of the range and +1 at ``high``.

    Parameters
    ----------
    low, high : float
        Depths (price units) at actions -1 and +1 (finite, ``low < high``). A depth below 0
        quotes through the mid.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        check_finite("low", self.low)
        check_finite("high", self.high)
        if not self.low < self.high:
            raise ValueError(f"high must be > low = {self.low!r}, got {self.high!r}")
        object.__setattr__(self, "_affine", (0.5 * (self.high - self.low),
                                             0.5 * (self.low + self.high)))

    @property
    def centre(self) -> float:
        """Depth at action 0, price units."""
        return self._affine[1]

    @property
    def half_width(self) -> float:
        """Depth per unit of action, price units."""
        return self._affine[0]

    def clip(self, depths: np.ndarray) -> np.ndarray:
        """Depths clipped to ``[low, high]`` (what an action can reach)."""
        return np.maximum(np.minimum(depths, self.high), self.low)

    def to_depths(self, action: Any, n_paths: int) -> np.ndarray:
        """Depths (n_paths, 2) in price units from an action (2,) or (n_paths, 2).

        Actions beyond [-1, 1] are clipped; NaN, infinite and misshapen actions raise
        ``ValueError`` naming the action.
        """
        if n_paths == 1 and type(action) is np.ndarray and action.shape == (2,):
            # One path (a single env): the same arithmetic on two Python floats, without
            # the numpy calls' overhead (IEEE results are the same either way).
            bid, ask = action.tolist()
            if math.isfinite(bid) and math.isfinite(ask):
                half_width, centre = self._affine
                return np.array([[max(min(bid, 1.0), -1.0) * half_width + centre,
                                  max(min(ask, 1.0), -1.0) * half_width + centre]])
        action = np.asarray(action, dtype=np.float64)
        expected = (2,) if n_paths == 1 and action.ndim < 2 else (n_paths, 2)
        if action.shape != expected:
            raise ValueError(f"action must have shape {expected} = (bid, ask) in [-1, 1], "
                             f"got shape {action.shape}")
        # The sum is finite when every entry is (one reduction, no temporary); only when it
        # is not (a NaN or inf, or finite entries so huge that they overflow) look closer.
        if not math.isfinite(action.sum()) and not np.isfinite(action).all():
            raise ValueError("action must be finite (no NaN or inf), got "
                             + (repr(action) if action.size <= 8 else "non-finite entries"))
        clipped = np.maximum(np.minimum(action, 1.0), -1.0)
        return (clipped * self.half_width + self.centre).reshape(n_paths, 2)

    def to_action(self, bid_depth: Any, ask_depth: Any) -> np.ndarray:
        """The action (..., 2) that quotes ``bid_depth`` and ``ask_depth`` (price units);
        beyond [-1, 1] where a depth is outside ``[low, high]`` (the env clips it)."""
        bid_depth, ask_depth = np.broadcast_arrays(bid_depth, ask_depth)
        action = np.empty((*bid_depth.shape, 2))
        scale = 1.0 / self.half_width
        np.multiply(np.subtract(bid_depth, self.centre), scale, out=action[..., 0])
        np.multiply(np.subtract(ask_depth, self.centre), scale, out=action[..., 1])
        return action


def action_map_of(source: Any) -> ActionMap:
    """An ``ActionMap``: the one given, or the ``action_map`` of parameters (``MarketParams``,
    ``BookParams``) or of an env (see :func:`baselines.policy.market_params`)."""
    if isinstance(source, ActionMap):
        return source
    found = getattr(source, "action_map", None)
    if isinstance(found, ActionMap):
        return found
    raise TypeError(f"action_map must be an ActionMap or parameters with one, got {source!r}")
