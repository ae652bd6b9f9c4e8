"""Monte Carlo rollout of fixed policies on the batched core, chunked over paths.

``rollout(policy, params, n_paths=..., seed=...)`` steps the market for every path at once
(one vectorised ``policy.act`` call per agent and step, no Python loop per path) and returns
one row per path (and agent) in a pandas DataFrame. Paths are simulated in chunks of
``chunk_size`` so memory stays flat for a million paths; chunk ``i`` draws from the ``i``-th
child of ``SeedSequence(seed)``, so a result depends only on (seed, n_paths, chunk_size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from asmm_env.market import Market
from asmm_env.params import MarketParams
from asmm_env.spaces import action_to_depths, observations

COLUMNS = ("path", "agent", "terminal_pnl", "terminal_inventory", "cash", "bid_fills",
           "ask_fills", "fills", "spread_capture", "inventory_pnl", "adverse_selection",
           "fees", "max_abs_inventory", "max_identity_residual")


@dataclass
class RolloutResult:
    """Per-path results and the recorded trajectories of the first paths.

    ``paths``: DataFrame with columns ``COLUMNS`` (money in price units x shares, inventory in
    shares), one row per (path, agent). ``trajectories``: arrays of the first
    ``record_paths`` paths: ``mid`` (n_steps + 1, K), ``inventory`` and ``pnl``
    (n_steps + 1, K, n_agents), ``bid_depth`` and ``ask_depth`` (n_steps, K, n_agents),
    ``fills`` (n_steps, K, n_agents, 2) = shares (bought, sold); ``time`` (n_steps + 1,).
    ``inside_spread_mean`` (n_steps,): the best bid-ask spread across agents averaged over all
    paths, per step.
    """

    paths: pd.DataFrame
    trajectories: dict[str, np.ndarray] = field(default_factory=dict)
    inside_spread_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))


def rollout(policies: Any, params: MarketParams | None = None, *, n_paths: int, seed: int,
            chunk_size: int = 50_000, record_paths: int = 0,
            progress: Callable[[int], None] | None = None,
            market_factory: Callable[[MarketParams, int, int], Market] | None = None,
            ) -> RolloutResult:
    """Roll fixed policies over ``n_paths`` Monte Carlo paths.

    Parameters
    ----------
    policies : Policy or sequence of Policy
        One policy (one agent) or one per competing agent.
    params : MarketParams
        The market (default: the AS 2008 setup).
    n_paths : int
        Number of paths (>= 1).
    seed : int
        Root seed (>= 0); chunk i uses ``SeedSequence(seed).spawn(n_chunks)[i]``.
    chunk_size : int
        Paths simulated at once (>= 1); bounds memory.
    record_paths : int
        Keep full trajectories of the first this-many paths (taken from the first chunk).
    progress : callable, optional
        Called with the number of paths finished after each chunk (e.g. a tqdm ``update``).
    market_factory : callable, optional
        ``(params, n_paths, n_agents) -> Market``, to roll out on a custom market.
    """
    agents: Sequence[Any] = (list(policies) if isinstance(policies, (list, tuple))
                             else [policies])
    if not agents:
        raise ValueError("policies must name at least one policy, got an empty sequence")
    for i, policy in enumerate(agents):
        if not callable(getattr(policy, "act", None)):
            raise TypeError(f"policies[{i}] must have an act(observation) method, got {policy!r}")
    for name, value in (("n_paths", n_paths), ("chunk_size", chunk_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not isinstance(record_paths, (int, np.integer)) or record_paths < 0:
        raise ValueError(f"record_paths must be an integer >= 0, got {record_paths!r}")
    # SeedSequence(None) would draw fresh OS entropy: an unseeded, unreproducible run.
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    params = params if params is not None else MarketParams()
    factory = market_factory or (lambda p, n, a: Market(p, n, a))

    n_chunks = -(-n_paths // chunk_size)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    # One preallocated column per result, filled chunk by chunk: the only memory that grows
    # with n_paths is the result table itself.
    n_rows = n_paths * len(agents)
    table = {name: np.empty(n_rows, dtype=np.int64 if name in ("path", "agent") else float)
             for name in COLUMNS}
    trajectories: dict[str, np.ndarray] = {}
    spread_sum = np.zeros(params.n_steps)
    for i, chunk_seed in enumerate(seeds):
        size = min(chunk_size, n_paths - i * chunk_size)
        market = factory(params, size, len(agents))
        keep = min(record_paths, size) if i == 0 else 0
        columns, recorded, spread = _run_chunk(market, agents,
                                               np.random.default_rng(chunk_seed), keep)
        rows = slice(i * chunk_size * len(agents), (i * chunk_size + size) * len(agents))
        for name in COLUMNS:
            table[name][rows] = columns[name]
        table["path"][rows] += i * chunk_size
        spread_sum += spread * size
        if keep:
            trajectories = recorded
        if progress is not None:
            progress(size)
    paths = pd.DataFrame(table, copy=False)
    return RolloutResult(paths, trajectories, spread_sum / n_paths)


def _run_chunk(market: Market, agents: Sequence[Any], rng: np.random.Generator, keep: int):
    market.reset(rng)
    n, a, n_steps = market.n_paths, market.n_agents, market.n_steps
    bound = market.params.depth_bound
    depths = np.empty((n, a, 2))
    worst_residual = np.zeros((n, a))
    spread = np.empty(n_steps)
    rec = _Recorder(market, keep) if keep else None
    for step in range(n_steps):
        tau = market.time_remaining
        for j, policy in enumerate(agents):
            obs = observations(market.mid, market.ledger.inventory[:, j], tau)
            depths[:, j, :] = action_to_depths(policy.act(obs), n, bound)
        # The inside spread: best bid depth + best ask depth over agents (allowed quotes only).
        allowed = market.allowed_sides()
        quoted = depths if allowed is None else np.where(allowed, depths, np.inf)
        inside = quoted.min(axis=1).sum(axis=-1)
        finite = np.isfinite(inside)
        spread[step] = inside[finite].mean() if finite.any() else np.nan
        volume = market.step(depths)
        residual = np.abs(market.ledger.decomposition_residual(market.mid))
        np.maximum(worst_residual, residual, out=worst_residual)
        if rec is not None:
            rec.record(step + 1, depths, volume)
    led = market.ledger
    pnl = market.pnl()
    columns = {
        "path": np.repeat(np.arange(n), a),
        "agent": np.tile(np.arange(a), n),
        "terminal_pnl": pnl, "terminal_inventory": led.inventory, "cash": led.cash,
        "bid_fills": led.bid_fills, "ask_fills": led.ask_fills,
        "fills": led.bid_fills + led.ask_fills, "spread_capture": led.spread_capture,
        "inventory_pnl": led.inventory_pnl, "adverse_selection": led.adverse_selection,
        "fees": led.fees, "max_abs_inventory": led.max_abs_inventory,
        "max_identity_residual": worst_residual,
    }
    columns = {key: np.asarray(value).reshape(-1) for key, value in columns.items()}
    return columns, (rec.arrays() if rec is not None else {}), spread


class _Recorder:
    """Full trajectories of the first ``keep`` paths of a chunk."""

    def __init__(self, market: Market, keep: int) -> None:
        self.market, self.keep = market, keep
        n_steps, a = market.n_steps, market.n_agents
        self.mid = np.empty((n_steps + 1, keep))
        self.inventory = np.empty((n_steps + 1, keep, a))
        self.pnl = np.empty((n_steps + 1, keep, a))
        self.bid_depth = np.empty((n_steps, keep, a))
        self.ask_depth = np.empty((n_steps, keep, a))
        self.fills = np.empty((n_steps, keep, a, 2))
        self._snapshot(0)

    def _snapshot(self, i: int) -> None:
        m = self.market
        self.mid[i] = m.mid[: self.keep]
        self.inventory[i] = m.ledger.inventory[: self.keep]
        self.pnl[i] = m.pnl()[: self.keep]

    def record(self, i: int, depths: np.ndarray, volume: np.ndarray) -> None:
        self.bid_depth[i - 1] = depths[: self.keep, :, 0]
        self.ask_depth[i - 1] = depths[: self.keep, :, 1]
        self.fills[i - 1] = volume[: self.keep]
        self._snapshot(i)

    def arrays(self) -> dict[str, np.ndarray]:
        dt, n_steps = self.market.params.dt, self.market.n_steps
        return {"time": np.arange(n_steps + 1) * dt, "mid": self.mid,
                "inventory": self.inventory, "pnl": self.pnl, "bid_depth": self.bid_depth,
                "ask_depth": self.ask_depth, "fills": self.fills}
