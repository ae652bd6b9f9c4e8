"""The batched market core: one simulation for every face (single env, vector env, PettingZoo,
Monte Carlo runner). State arrays have a leading path axis and an agent axis.

One step ``t -> t + dt``: (1) the agents' quotes (depths) rest around the mid ``S_t``
(on the tick grid, if any); (2) the mid increment over the step is drawn; (3) market orders
fill quotes (the fill model may condition on the coming move: informed flow); fills are
booked at ``S_t -/+ depth``; (4) the mid moves to ``S_{t+dt}`` (plus the permanent impact of
the fills, if any) and inventories are marked to it. Every draw comes from the episode's
named streams (:mod:`asmm_env.streams`): the mid path and the order flow of a path depend
only on the seed and the path's index. With quote latency (:mod:`asmm_env.latency`) the
quotes resting in (1) are those decided earlier that have arrived, at the prices fixed then.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asmm_env import _kernel
from asmm_env.fills import (
    _PRICE_RTOL,
    FillModel,
    IndependentFills,
    OrderFlow,
    QueueFills,
    build_fill_model,
)
from asmm_env.latency import QuoteLatency
from asmm_env.ledger import Ledger
from asmm_env.params import MarketParams
from asmm_env.price import PriceModel, build_price_model
from asmm_env.streams import _LOOP_MAX_RATE, RandomStreams, episode_streams
from asmm_env.validation import check_choice

ENGINES = ("auto", "numpy", "numba")


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
        Components replacing the ones ``params`` describe (see ``asmm_env.price``,
        ``asmm_env.fills``).
    latency : QuoteLatency, optional
        Quote latency (:mod:`asmm_env.latency`); None: quotes rest at once.
    block_paths : int, optional
        Paths per block of the random streams (default ``min(n_paths, BLOCK_PATHS)``; see
        :mod:`asmm_env.streams`, which defines what a seed fixes).
    engine : {"auto", "numpy", "numba"}
        ``"numba"`` runs the fills and the ledger of a step in compiled passes
        (:mod:`asmm_env._kernel`, the optional extra ``fast``) with the same bytes as numpy;
        ``"auto"`` uses them when numba is installed and they apply (the built-in fill
        models, no latency), else numpy.
    """

    def __init__(self, params: MarketParams, n_paths: int = 1, n_agents: int = 1, *,
                 price_model: PriceModel | None = None, fill_model: FillModel | None = None,
                 block_paths: int | None = None, engine: str = "auto",
                 latency: QuoteLatency | None = None):
        if not isinstance(params, MarketParams):
            raise TypeError(f"params must be a MarketParams, got {type(params).__name__}")
        for name, value in (("n_paths", n_paths), ("n_agents", n_agents)):
            if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                    or value < 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name, value, method in (("price_model", price_model, "increment"),
                                    ("fill_model", fill_model, "fill")):
            if value is not None and not (callable(getattr(value, "reset", None))
                                          and callable(getattr(value, method, None))):
                raise TypeError(f"{name} must be a model object with reset() and {method}() "
                                f"(see asmm_env.{name.split('_')[0]}), got {value!r}")
        if latency is not None and not isinstance(latency, QuoteLatency):
            raise TypeError(f"latency must be a QuoteLatency or None, got {latency!r}")
        self.params = params
        self.latency = latency
        self.n_paths, self.n_agents = int(n_paths), int(n_agents)
        self.block_paths = block_paths
        self.price_model = price_model if price_model is not None else build_price_model(params)
        self.fill_model = (fill_model if fill_model is not None
                           else build_fill_model(params, self.n_agents))
        self.ledger = Ledger(self.n_paths, self.n_agents, params.adverse_selection_steps,
                             params.fee, params.order_size)
        self.n_steps = params.n_steps
        self.mid = np.full(self.n_paths, float(params.s0))
        self.step_index = 0
        self.last_volume = np.zeros((self.n_paths, self.n_agents, 2))
        self.last_fills = self.last_volume
        self.streams: RandomStreams | None = None
        self._pnl: np.ndarray | None = None
        self.last_resting: np.ndarray | None = None     # resting depths, with latency
        self._bounded = params.max_inventory is not None
        check_choice("engine", engine, ENGINES)
        self.engine = engine
        self._compiled = self._use_compiled(engine)

    def _use_compiled(self, engine: str) -> bool:
        if engine == "numpy":
            return False
        model = self.fill_model
        # Exactly the built-in classes: a subclass (of the model or of its flow) may change
        # what the compiled passes hard-code.
        applies = (self.latency is None
                   and (type(model) is QueueFills
                        or (type(model) is IndependentFills and self.n_agents == 1))
                   and type(model.flow) is OrderFlow
                   and model.flow.A * self.params.dt * 2.0 <= _LOOP_MAX_RATE)
        if engine == "numba":
            if not _kernel.available():
                raise ValueError("engine must be 'auto' or 'numpy' here: the compiled step "
                                 "needs numba (pip install asmm_env[fast]), got 'numba'")
            if not applies:
                raise ValueError("engine must be 'auto' or 'numpy' for this market: the "
                                 "compiled step serves the built-in fill models (QueueFills; "
                                 "IndependentFills of one agent) without latency, got "
                                 "'numba'")
        return applies and _kernel.available()

    def reset(self, seed: Any = None, *, first_block: int = 0) -> None:
        """Start a new episode on every path.

        ``seed``: an int, a ``SeedSequence``, a ``Generator`` (one draw from it seeds the
        episode) or a :class:`~asmm_env.streams.RandomStreams`; ``None`` draws fresh OS
        entropy. ``first_block``: the index of this batch's first block in a larger run
        (``rollout`` chunks)."""
        streams = episode_streams(seed, self.n_paths, block_paths=self.block_paths,
                                  first_block=first_block)
        self.streams = streams
        self._pnl = None
        self.step_index = 0
        self.mid = np.full(self.n_paths, float(self.params.s0))
        self.last_volume = np.zeros((self.n_paths, self.n_agents, 2))
        self.last_fills = self.last_volume
        self.price_model.reset(self.n_paths, streams)
        self.fill_model.reset(self.n_paths, self.n_agents, streams)
        if self.latency is not None:
            self.latency.reset(self.n_paths, self.n_agents, streams, self.params.dt)
        self.ledger.reset(self.params.q0, self.mid)

    def capacity(self) -> np.ndarray | None:
        """Fills each quote may still take before its inventory bound, ``(n_paths, n_agents,
        2)`` (bid: ``floor((Q - q) / order_size)``, ask: ``floor((Q + q) / order_size)``), or
        None when the market is unbounded. A quote with capacity 0 is not posted."""
        if not self._bounded:
            return None
        q, size, Q = self.ledger.inventory, self.params.order_size, self.params.max_inventory
        room = np.stack([Q - q, Q + q], axis=-1) / size
        return np.floor(room + 1e-9)

    def allowed_sides(self) -> np.ndarray | None:
        """Which quotes the inventory bounds allow, (n_paths, n_agents, 2), or None if unbounded."""
        capacity = self.capacity()
        return None if capacity is None else capacity >= 1

    def on_grid(self, depths: np.ndarray) -> np.ndarray:
        """Depths of the quotes once their prices are rounded onto the tick grid, away from
        the mid (a bid down, an ask up); the depths themselves when ``tick_size`` is 0."""
        tick = self.params.tick_size
        if not tick:
            return depths
        mid = self.mid[:, None]
        bid = np.floor((mid - depths[..., 0]) / tick + 1e-9) * tick
        ask = np.ceil((mid + depths[..., 1]) / tick - 1e-9) * tick
        return np.stack([mid - bid, ask - mid], axis=-1)

    def step(self, depths: np.ndarray) -> np.ndarray:
        """Advance one step with quotes at ``depths`` (n_paths, n_agents, 2) = (bid, ask) in
        price units; returns the shares filled, same shape. Depths must be finite.

        The number of fills of each quote is ``last_fills``; on a tick grid the quotes
        rest (and fill) at their grid prices; with latency, ``depths`` are the decisions and
        the quotes decided earlier rest (``last_resting``: their depths from the mid)."""
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        p = self.params
        if getattr(depths, "shape", None) != self.last_fills.shape:
            raise ValueError(f"depths must have shape (n_paths, n_agents, 2) = "
                             f"{self.last_fills.shape}, got {np.shape(depths)}")
        old_mid = self.mid
        depths = self.on_grid(depths)
        if self.latency is not None:
            depths = self.latency.resting(old_mid, depths, self.step_index)
            self.last_resting = depths
        dS = self.price_model.increment(old_mid, p.dt)
        if self._compiled:
            return self._compiled_step(old_mid, depths, dS)
        fills = self.fill_model.fill(old_mid, depths, self.capacity(), dS, p.dt)
        self.ledger.record_fills(old_mid, depths, fills)
        volume = fills * p.order_size if p.order_size != 1.0 else fills
        if p.impact:
            # Informed flow: the shares the makers bought were sold by someone who knew
            # better, and the mid keeps the move (permanent impact).
            net_bought = volume[..., 0].sum(axis=1) - volume[..., 1].sum(axis=1)
            dS = dS - p.impact * net_bought
        self.mid = old_mid + dS
        self.step_index += 1
        self.ledger.record_move(old_mid, self.mid)
        if p.liquidation_cost and self.done:
            self.ledger.liquidate(p.liquidation_cost)
        self.last_volume, self.last_fills = volume, fills
        return volume

    def _compiled_step(self, old_mid: np.ndarray, depths: np.ndarray,
                       dS: np.ndarray) -> np.ndarray:
        """The rest of :meth:`step` in compiled passes (:mod:`asmm_env._kernel`): the same
        operations as the numpy fill model and ledger, so the same bytes."""
        p, led, model = self.params, self.ledger, self.fill_model
        n, a = self.n_paths, self.n_agents
        capacity = self.capacity()
        bounded = capacity is not None
        if isinstance(model, QueueFills):
            flow = model.flow
            u = flow.draw()
            log_rate = math.log(flow.A * p.dt)
            rule = _kernel.RULES[flow.rule]
            if a == 1:
                fills = _kernel.counts(depths[:, 0, :], u, dS,
                                       capacity[:, 0, :] if bounded else u, bounded, log_rate,
                                       flow.k, flow.toxicity, rule).reshape(n, 1, 2)
            else:
                tie = model._tie.next()
                model.priority = model.priority.copy()
                rest = model._rest_price.copy()
                fills = _kernel.allocate(old_mid, depths, capacity if bounded else depths,
                                         bounded, u, tie, dS, log_rate, flow.k, flow.toxicity,
                                         rule, float(model._t), rest, model.priority,
                                         _PRICE_RTOL)
                model._rest_price = rest
            model._t += 1
        else:                                     # IndependentFills of one agent
            flow = model._flows[0]
            fills = _kernel.counts(depths[:, 0, :], flow.draw(), dS,
                                   capacity[:, 0, :] if bounded else depths[:, 0, :], bounded,
                                   math.log(flow.A * p.dt), flow.k, flow.toxicity,
                                   _kernel.RULES[flow.rule]).reshape(n, 1, 2)
        volume = fills * p.order_size if p.order_size != 1.0 else fills
        # numpy's sums of the shares over agents, as the numpy step books the impact.
        net_bought = (volume[..., 0].sum(axis=1) - volume[..., 1].sum(axis=1) if p.impact
                      else dS)
        slot = led._step % led.horizon
        out, self.mid = _kernel.book(
            old_mid, dS, depths, fills, led.order_size, led.fee, p.impact, net_bought,
            led._recent, led._recent_net[slot], led.cash, led.inventory, led.spread_capture,
            led.fees, led.fills, led.volume, led.max_abs_inventory, led.inventory_pnl,
            led.adverse_selection, led.initial_value, led.liquidation)
        # The new fields are rows of one array (views: as fresh as separate arrays).
        (led.cash, led.inventory, led.spread_capture, led.fees, led.max_abs_inventory,
         led._recent, led.inventory_pnl, led.adverse_selection) = out[:8]
        led.fills = out[8:10].transpose(1, 2, 0)
        led.volume = out[10:12].transpose(1, 2, 0)
        led._step += 1
        self.step_index += 1
        self._pnl = out[12]                       # Ledger.pnl(mid), computed in the pass
        if p.liquidation_cost and self.done:
            led.liquidate(p.liquidation_cost)
            self._pnl = None
        self.last_volume, self.last_fills = volume, fills
        return volume

    def pnl(self) -> np.ndarray:
        """PnL since the start, (n_paths, n_agents): marked to the mid (less the liquidation
        cost at the end, if any)."""
        if self._pnl is not None:            # the compiled step's, of this very state
            return self._pnl
        return self.ledger.pnl(self.mid)
