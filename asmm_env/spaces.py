"""The interface between agents and the market: observation and action spaces, the
observation vector, and the action <-> depth conversion. Every face (single env, vector env,
PettingZoo env, Monte Carlo rollout) goes through these functions.

Observation of an agent: ``(mid, inventory, time_remaining)`` in (price units, shares, time
units); a strategic policy (one with ``observes_rivals = True``) also sees the book's best
rival quotes, ``(..., rival_bid_depth, rival_ask_depth)`` (:func:`rival_observations`).
Action: ``(bid, ask)`` in [-1, 1] (normalised, as Gymnasium's checker and Stable-Baselines3
recommend), mapped affinely onto depths ``[min_depth, max_depth]`` (price units) by the
parameters' :class:`ActionMap` (``MarketParams.action_map``).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from asmm_env.params import MarketParams

OBSERVATION_NAMES = ("mid", "inventory", "time_remaining")
ACTION_NAMES = ("bid_depth", "ask_depth")


def observation_space(params: MarketParams, rivals: bool = False) -> spaces.Box:
    """Finite bounds (Gymnasium's checker rejects infinite ones), never reached in practice:
    the inventory moves by at most the market orders of one side, at most ``A`` per unit time
    (``N ~ Poisson(A T)``: its mean plus 100 standard deviations plus 100), and at most one a
    step with the one-order rules; the mid bound is a band of 100 standard deviations of its
    move over the episode. ``rivals=True``: two more entries, the best rival quotes
    (:func:`rival_observations`), within ``-/+`` :func:`no_rival_depth`."""
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
    if rivals:
        bound = no_rival_depth(params)
        low = np.concatenate([low, [-bound] * 2])
        high = np.concatenate([high, [bound] * 2])
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


# --- the rivals' quotes: the strategic policies' view of the book ------------------------------
RIVAL_OBSERVATION_NAMES = ("rival_bid_depth", "rival_ask_depth")
"""Columns 3 and 4 of an observation extended with the rivals' quotes
(:func:`rival_observations`), price units."""


def best_rival_depths(posted: np.ndarray) -> np.ndarray:
    """Each agent's best rival quote per side: the smallest depth among the *other* agents'
    posted quotes.

    Parameters
    ----------
    posted : ndarray, shape (n_paths, n_agents, 2)
        Depths of the posted quotes (bid, ask), price units; ``inf`` where a quote is not
        posted.

    Returns
    -------
    ndarray, shape (n_paths, n_agents, 2)
        ``inf`` where no rival posts on that side (always, with one agent).
    """
    posted = np.asarray(posted, dtype=np.float64)
    n, a, _ = posted.shape
    if a == 1:
        return np.full(posted.shape, np.inf)
    first = posted.min(axis=1)                                    # (n, 2)
    second = np.partition(posted, 1, axis=1)[:, 1, :]             # (n, 2)
    leader = posted.argmin(axis=1)                                # (n, 2)
    # The leader's best rival is the runner-up (equal to it on a tie); everyone else's is
    # the leader.
    is_leader = np.arange(a)[None, :, None] == leader[:, None, :]
    return np.where(is_leader, second[:, None, :], first[:, None, :])


def no_rival_depth(params: MarketParams) -> float:
    """The depth a side without a rival quote reads as, and the bound of the rival entries of
    the observation, price units: ``max(max_depth, 10 sigma sqrt(T) + 10 / k)``, a quote so
    deep that it essentially never fills (so a policy undercutting it quotes its own depth)."""
    return max(params.depth_bound, 10.0 * params.sigma * np.sqrt(params.T) + 10.0 / params.k)


def rival_observations(obs: np.ndarray, rival_depths: np.ndarray, params: MarketParams
                       ) -> np.ndarray:
    """Observations ``(n, 3)`` extended with one agent's best rival quotes ``(n, 2)`` (from
    :func:`best_rival_depths`): ``(mid, inventory, time_remaining, rival_bid_depth,
    rival_ask_depth)``, shape ``(n, 5)``.

    A side without a rival quote reads :func:`no_rival_depth`, and every rival depth is
    clipped to ``[-no_rival_depth, no_rival_depth]``, so the observation stays inside
    :func:`observation_space` with ``rivals=True``.
    """
    bound = no_rival_depth(params)
    out = np.empty((obs.shape[0], 5))
    out[:, :3] = obs
    out[:, 3:] = np.clip(np.where(np.isfinite(rival_depths), rival_depths, bound), -bound,
                         bound)
    return out
