"""The interface between agents and the market: observation and action spaces, the
observation vector, and the action <-> depth conversion. Every face (single env, vector env,
PettingZoo env, Monte Carlo rollout) goes through these functions.

Observation of an agent: ``(mid, inventory, time_remaining)`` in (price units, shares, time
units). Action: ``(bid, ask)`` in [-1, 1] (normalised, as Gymnasium's checker and
Stable-Baselines3 recommend), mapped affinely onto depths ``[min_depth, max_depth]`` (price
units) by the parameters' :class:`ActionMap` (``MarketParams.action_map``).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from asmm_env.params import MarketParams

OBSERVATION_NAMES = ("mid", "inventory", "time_remaining")
ACTION_NAMES = ("bid_depth", "ask_depth")


def observation_space(params: MarketParams) -> spaces.Box:
    """Finite bounds (Gymnasium's checker rejects infinite ones), never reached in practice:
    the inventory moves by at most the market orders of one side, at most ``A`` per unit time
    (``N ~ Poisson(A T)``: its mean plus 100 standard deviations plus 100), and at most one a
    step with the one-order rules; the mid bound is a band of 100 standard deviations of its
    move over the episode."""
    orders = params.A * params.T
    orders = orders + 100.0 * np.sqrt(orders) + 100.0
    if params.fill_rule != "poisson":
        orders = min(orders, params.n_steps)
    q_bound = abs(params.q0) + orders * params.order_size
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
    """``Box(-1, 1, (2,))``: (bid, ask), mapped onto depths by ``params.action_map``."""
    return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float64)


def observations(mid: np.ndarray, inventory: np.ndarray, time_remaining: float) -> np.ndarray:
    """Observation vectors (n_paths, 3) from the mid (n_paths,) and one agent's inventory."""
    obs = np.empty((mid.shape[0], 3))
    obs[:, 0] = mid
    obs[:, 1] = inventory
    obs[:, 2] = time_remaining
    return obs
