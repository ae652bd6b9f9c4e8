"""Quote latency: a quote decided at time t rests in the market from t + latency, at the price
fixed when it was decided, while the mid moves in between (stale-quote risk).

The model, per agent and path: at decision step s (time ``t_s = s dt``) the agent sends bid
and ask prices ``S_s -/+ delta`` (on the tick grid, if any: the market rounds them first). The
message arrives after ``L_s = latency + jitter U_s`` time units (``U_s ~ Uniform[0, 1)`` from the
``"latency"`` stream, one per path, agent and step; none drawn when ``jitter`` is 0). The quote
resting during step ``[t_s, t_s + dt]`` is the most recently *decided* one that has arrived
by ``t_s`` (an older message arriving late is discarded: the venue keeps the sequence); its
depth relative to the current mid is

    bid: delta_bid + (S_s - S_decided),      ask: delta_ask - (S_s - S_decided),

so a quote left behind by an up-move is a cheap ask (or a bid through the mid): taken more
often, and at a worse price for the maker. Fills, their prices and the ledger then proceed as
without latency, with these depths.

Discretisation: the market's clock is its decision clock, so a quote arriving inside a step
rests from the next step's start; a latency is thereby rounded up to whole steps (choose
``latency`` a multiple of dt; ``jitter`` spreads arrivals over ``ceil`` of the steps it spans).
The opening quotes (decided at t = 0) rest from the open: the maker is in the market from the
first step. With ``latency = jitter = 0`` every quote rests at the step it was decided with
its own depth, byte for byte (``delta + 0.0``), so the base model is reproduced exactly.
The depths a runner records (``rollout``'s trajectories and inside spread) are the decisions;
``Market.last_resting`` holds the depths of the quotes that rested in the last step.

References: Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, CUP,
section 10.5 on latency and stale quotes (the mechanism; no formula of theirs is used here).
"""

from __future__ import annotations

import math

import numpy as np

from asmm_env.streams import RandomStreams
from asmm_env.validation import check_non_negative

__all__ = ["QuoteLatency"]

_ARRIVAL_TOL = 1e-9   # steps: a latency of exactly m dt arrives at step s + m


class QuoteLatency:
    """Quote latency for :class:`asmm_env.market.Market` (module docstring).

    Parameters
    ----------
    latency : float
        Fixed delay from decision to resting, time units (>= 0).
    jitter : float
        Width of a uniform random extra delay, time units (>= 0): each quote's latency is
        ``latency + jitter U``, ``U ~ Uniform[0, 1)`` from the ``"latency"`` stream (agent j
        draws from its index j, so its delays depend only on the seed, the path and j).

    Examples
    --------
    >>> from asmm_env import Market, MarketParams
    >>> market = Market(MarketParams(), n_paths=2, latency=QuoteLatency(0.01))
    >>> market.reset(seed=3)
    >>> market.step(np.full((2, 1, 2), 0.7)).shape
    (2, 1, 2)
    """

    def __init__(self, latency: float, jitter: float = 0.0) -> None:
        check_non_negative("latency", latency)
        check_non_negative("jitter", jitter)
        self.latency, self.jitter = float(latency), float(jitter)

    def __repr__(self) -> str:
        return f"QuoteLatency(latency={self.latency!r}, jitter={self.jitter!r})"

    def reset(self, n_paths: int, n_agents: int, streams: RandomStreams, dt: float) -> None:
        """Start an episode of ``n_paths`` paths and ``n_agents`` agents at step size ``dt``."""
        self.dt = float(dt)
        self._lag, self._spread = self.latency / self.dt, self.jitter / self.dt     # steps
        # Slots of pending decisions: one decided at step s has arrived by step s + slots - 1.
        self._slots = max(math.ceil(self._lag + self._spread - _ARRIVAL_TOL), 0) + 1
        shape = (n_paths, n_agents)
        self._mid = np.zeros((self._slots, *shape))
        self._depths = np.zeros((self._slots, *shape, 2))
        self._arrival = np.full((self._slots, *shape), np.inf)
        self._decided = np.full((self._slots, *shape), -1.0)
        self._rest_mid = np.zeros(shape)
        self._rest_depths = np.zeros((*shape, 2))
        self._rest_step = np.full(shape, -1.0)
        self._u = ([streams.source("latency", "uniform", index=j) for j in range(n_agents)]
                   if self.jitter else [])

    def resting(self, mid: np.ndarray, depths: np.ndarray, step: int) -> np.ndarray:
        """Record the decisions ``depths`` (n_paths, n_agents, 2) taken at ``step`` around
        ``mid`` (n_paths,) and return the depths of the quotes resting during this step,
        relative to ``mid``, same shape."""
        slot = step % self._slots
        self._mid[slot] = mid[:, None]
        self._depths[slot] = depths
        self._decided[slot] = step
        delay = self._lag
        if self._u:
            delay = delay + self._spread * np.stack([u.next() for u in self._u], axis=1)
        self._arrival[slot] = 0.0 if step == 0 else step + delay     # the opening quotes
        # The latest decision that has arrived replaces the resting quote if it is newer; an
        # arrived decision is consumed either way (older ones are discarded).
        arrived = self._arrival <= step + _ARRIVAL_TOL
        newest = np.where(arrived, self._decided, -1.0)
        best = newest.argmax(axis=0)[None]
        best_step = np.take_along_axis(newest, best, axis=0)[0]
        newer = best_step > self._rest_step
        self._rest_step = np.where(newer, best_step, self._rest_step)
        self._rest_mid = np.where(newer, np.take_along_axis(self._mid, best, axis=0)[0],
                                  self._rest_mid)
        self._rest_depths = np.where(
            newer[..., None], np.take_along_axis(self._depths, best[..., None], axis=0)[0],
            self._rest_depths)
        self._arrival = np.where(arrived, np.inf, self._arrival)
        # delta + (S_now - S_decided) on the bid, delta - (...) on the ask: exactly delta when
        # the quote was decided now (+ 0.0).
        return self._rest_depths + (mid[:, None] - self._rest_mid)[..., None] * _SIDE


_SIDE = np.array([1.0, -1.0])   # a rise of the mid deepens the bid, brings the ask closer
