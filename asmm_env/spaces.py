"""The interface between agents and the market: observation and action spaces, the
observation vector, and the action <-> depth conversion. Every face (single env, vector env,
PettingZoo env, Monte Carlo rollout) goes through these functions.

Observation of an agent: ``(mid, inventory, time_remaining)`` in (price units, shares, time
units). Action: ``(bid_depth, ask_depth) / depth_bound`` in [-1, 1] (normalised, as
Gymnasium's checker and Stable-Baselines3 recommend); ``depth_bound`` is
``MarketParams.depth_bound`` in price units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from asmm_env.params import MarketParams

OBSERVATION_NAMES = ("mid", "inventory", "time_remaining")
ACTION_NAMES = ("bid_depth", "ask_depth")


def observation_space(params: MarketParams) -> spaces.Box:
    """Finite bounds (Gymnasium's checker rejects infinite ones): the inventory cannot move
    more than one order per side per step; the mid bound is a band of 100 standard deviations
    of its move over the episode, never reached in practice."""
    q_bound = abs(params.q0) + 2 * params.n_steps * params.order_size
    if params.max_inventory is not None:
        q_bound = min(q_bound, params.max_inventory)
    spread = (params.sigma * np.sqrt(params.T) + abs(params.drift) * params.T
              + params.jump_std * np.sqrt(params.jump_intensity * params.T))
    if params.price_dynamics == "gbm":
        low_mid, high_mid = 0.0, params.s0 * float(np.exp(min(100.0 * spread, 700.0)))
    else:
        low_mid, high_mid = params.s0 - 100.0 * spread, params.s0 + 100.0 * spread
    low = np.array([low_mid, -q_bound, 0.0])
    high = np.array([high_mid, q_bound, params.T])
    return spaces.Box(low=low, high=high, dtype=np.float64)


def action_space(params: MarketParams) -> spaces.Box:
    """``Box(-1, 1, (2,))``: (bid_depth, ask_depth) as fractions of ``params.depth_bound``."""
    return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float64)


def observations(mid: np.ndarray, inventory: np.ndarray, time_remaining: float) -> np.ndarray:
    """Observation vectors (n_paths, 3) from the mid (n_paths,) and one agent's inventory."""
    obs = np.empty((mid.shape[0], 3))
    obs[:, 0] = mid
    obs[:, 1] = inventory
    obs[:, 2] = time_remaining
    return obs


def action_to_depths(action: Any, n_paths: int, depth_bound: float) -> np.ndarray:
    """Depths (n_paths, 2) in price units from an action (2,) or (n_paths, 2) in [-1, 1]:
    ``depth = action * depth_bound``.

    Actions beyond [-1, 1] are clipped (a deeper quote would not fill anyway); NaN, infinite
    and misshapen actions raise ``ValueError`` naming the action.
    """
    action = np.asarray(action, dtype=np.float64)
    expected = (2,) if n_paths == 1 and action.ndim < 2 else (n_paths, 2)
    if action.shape != expected:
        raise ValueError(
            f"action must have shape {expected} = (bid_depth, ask_depth) / depth_bound, "
            f"got shape {action.shape}"
        )
    # The sum is finite when every entry is (one reduction, no temporary); only when it is
    # not (a NaN or inf, or finite entries so huge that they overflow) look entry by entry.
    if not math.isfinite(action.sum()) and not np.isfinite(action).all():
        raise ValueError("action must be finite (no NaN or inf), got "
                         + (repr(action) if action.size <= 8 else "non-finite entries"))
    return (np.maximum(np.minimum(action, 1.0), -1.0) * depth_bound).reshape(n_paths, 2)


def depths_to_action(bid_depth: Any, ask_depth: Any, depth_bound: float) -> np.ndarray:
    """The action (..., 2) in [-1, 1] that quotes ``bid_depth`` and ``ask_depth`` (price units)."""
    bid_depth, ask_depth = np.broadcast_arrays(bid_depth, ask_depth)
    action = np.empty((*bid_depth.shape, 2))
    np.divide(bid_depth, depth_bound, out=action[..., 0])
    np.divide(ask_depth, depth_bound, out=action[..., 1])
    return action
