"""The batched market core: one simulation for every face (single env, vector env, PettingZoo,
Monte Carlo runner). State arrays have a leading path axis and an agent axis.

One step ``t -> t + dt``: (1) the agents' quotes (depths) rest around the mid ``S_t``;
(2) the mid increment over the step is drawn; (3) market orders fill quotes (the fill model
may condition on the coming move: informed flow); fills are booked at ``S_t -/+ depth``;
(4) the mid moves to ``S_{t+dt}`` (plus the permanent impact of the fills, if any) and
inventories are marked to it.
"""

from __future__ import annotations

import numpy as np

from asmm_env._allocator import retain_freed_memory
from asmm_env.fills import FillModel, build_fill_model
from asmm_env.ledger import Ledger
from asmm_env.params import MarketParams
from asmm_env.price import PriceModel, build_price_model


class EpisodeClock:
    """The decision clock every core shares: ``step_index`` steps of ``params.dt`` out of
    ``n_steps``."""

    step_index: int
    n_steps: int

    @property
    def time(self) -> float:
        """Current time t, time units."""
        return self.step_index * self.params.dt

    @property
    def time_remaining(self) -> float:
        """``T - t``, time units."""
        return (self.n_steps - self.step_index) * self.params.dt

    @property
    def done(self) -> bool:
        return self.step_index >= self.n_steps


class Market(EpisodeClock):
    """Batched Avellaneda–Stoikov market.

    Parameters
    ----------
    params : MarketParams
        Model parameters (units in its docstring).
    n_paths : int
        Monte Carlo paths simulated at once.
    n_agents : int
        Market makers quoting on each path.
    price_model, fill_model : optional
        Components replacing the ones ``params`` describes (see ``asmm_env.price``,
        ``asmm_env.fills``).
    """

    def __init__(self, params: MarketParams, n_paths: int = 1, n_agents: int = 1, *,
                 price_model: PriceModel | None = None, fill_model: FillModel | None = None):
        if not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
            raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
        if not isinstance(n_agents, (int, np.integer)) or n_agents < 1:
            raise ValueError(f"n_agents must be an integer >= 1, got {n_agents!r}")
        self.params = params
        self.n_paths, self.n_agents = int(n_paths), int(n_agents)
        if self.n_paths * self.n_agents >= 10_000:
            retain_freed_memory()   # large batches: see asmm_env._allocator
        self.price_model = price_model if price_model is not None else build_price_model(params)
        self.fill_model = (fill_model if fill_model is not None
                           else build_fill_model(params, self.n_agents))
        self.ledger = Ledger(self.n_paths, self.n_agents, params.adverse_selection_steps,
                             params.fee)
        self.n_steps = params.n_steps
        self.mid = np.full(self.n_paths, float(params.s0))
        self.step_index = 0
        self.last_volume = np.zeros((self.n_paths, self.n_agents, 2))
        self.rng = np.random.default_rng()
        self._bounded = params.max_inventory is not None

    def reset(self, rng: np.random.Generator) -> None:
        """Start a new episode on every path, drawing from ``rng`` from now on."""
        self.rng = rng
        self.step_index = 0
        self.mid = np.full(self.n_paths, float(self.params.s0))
        self.last_volume = np.zeros((self.n_paths, self.n_agents, 2))
        self.price_model.reset(self.n_paths, rng)
        self.fill_model.reset(self.n_paths, self.n_agents)
        self.ledger.reset(self.params.q0, self.mid)

    def allowed_sides(self) -> np.ndarray | None:
        """Which quotes the inventory bounds allow, (n_paths, n_agents, 2), or None if unbounded."""
        if not self._bounded:
            return None
        q, size, Q = self.ledger.inventory, self.params.order_size, self.params.max_inventory
        return np.stack([q + size <= Q + 1e-12, q - size >= -Q - 1e-12], axis=-1)

    def step(self, depths: np.ndarray) -> np.ndarray:
        """Advance one step with quotes at ``depths`` (n_paths, n_agents, 2) = (bid, ask) in
        price units; returns the shares filled, same shape. Depths must be finite."""
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        old_mid = self.mid
        dS = self.price_model.increment(old_mid, self.params.dt, self.rng)
        volume = self.fill_model.fill(old_mid, depths, self.allowed_sides(), dS,
                                      self.params.dt, self.rng)
        self.ledger.record_fills(old_mid, depths, volume)
        if self.params.impact:
            # Informed flow: the shares the makers bought were sold by someone who knew
            # better, and the mid keeps the move (permanent impact).
            net_bought = volume[..., 0].sum(axis=1) - volume[..., 1].sum(axis=1)
            dS = dS - self.params.impact * net_bought
        self.mid = old_mid + dS
        self.step_index += 1
        self.ledger.record_move(old_mid, self.mid)
        self.last_volume = volume
        return volume

    def pnl(self) -> np.ndarray:
        """Mark-to-market PnL since the start, (n_paths, n_agents)."""
        return self.ledger.pnl(self.mid)
