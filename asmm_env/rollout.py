"""Monte Carlo rollout of fixed policies on a batched core, chunked over paths: the one
runner for the reduced-form market (:class:`~asmm_env.market.Market`, from
``MarketParams``) and the limit order book (:class:`~asmm_env.lob.LimitOrderBook`, from
``BookParams``).

``rollout(policy, params, n_paths=..., seed=...)`` steps every path at once (one vectorised
``policy.act`` call per agent and step, no Python loop per path) and returns one row per
path (and agent) in a pandas DataFrame. Paths are simulated in chunks of whole blocks of
:data:`~asmm_env.streams.BLOCK_PATHS` paths, and every block draws from its own named
streams (:mod:`asmm_env.streams`), so the market of path ``i`` depends only on ``(seed, i)``:
results are the same bytes for any ``chunk_size``, any number of workers and any policies
(common random numbers), and the first paths of a larger run are the paths of a smaller one.

Strategic policies (``observes_rivals = True``, e.g. :class:`baselines.UndercutPolicy`) get
each step the observation extended with the book's best rival quotes,
``(mid, inventory, time_remaining, rival_bid_depth, rival_ask_depth)``
(:func:`asmm_env.spaces.rival_observations`): the smallest depth per side among the quotes
the *other* agents posted at the previous step (on the tick grid, where posted; none before
the first step), as the PettingZoo face ``competition_v0.parallel_env(observe_rivals=True)``
shows them. Agents re-quote simultaneously, so a rival's quote of this step is not known; a
maker re-centres its quotes on the mid, so the rival's depth, not its stale price, is what it
is expected to quote again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from asmm_env.actions import ActionMap
from asmm_env.market import Market
from asmm_env.params import MarketParams
from asmm_env.spaces import best_rival_depths, observations, rival_observations
from asmm_env.streams import BLOCK_PATHS
from asmm_env.validation import check_positive_int

COLUMNS = ("path", "agent", "terminal_pnl", "terminal_inventory", "cash", "bid_fills",
           "ask_fills", "fills", "bid_volume", "ask_volume", "spread_capture",
           "inventory_pnl", "adverse_selection", "fees", "liquidation", "max_abs_inventory",
           "max_identity_residual")


class Observer(Protocol):
    """Something that watches a chunk's steps: ``start(core)`` after the reset,
    ``step(core, step, quotes, volume)`` after each step (``quotes``: what the core was given:
    depths for the market, offsets for the book), ``result()`` at the end of the chunk (any
    picklable value; :func:`rollout` returns the list of them, one per chunk)."""

    def start(self, core: Any) -> None: ...

    def step(self, core: Any, step: int, quotes: np.ndarray, volume: np.ndarray) -> None: ...

    def result(self) -> Any: ...


@dataclass
class RolloutResult:
    """Per-path results, recorded trajectories and what the observers gathered.

    ``paths``: DataFrame with columns ``COLUMNS`` (money in price units x shares, inventory in
    shares, fills counted as fills), one row per (path, agent). ``trajectories``: arrays of
    the first ``record_paths`` paths: ``mid`` (n_steps + 1, K), ``inventory`` and ``pnl``
    (n_steps + 1, K, n_agents), ``bid_depth`` and ``ask_depth`` (n_steps, K, n_agents),
    ``fills`` (n_steps, K, n_agents, 2) = shares (bought, sold); ``time`` (n_steps + 1,).
    ``inside_spread_mean`` (n_steps,): the best bid-ask spread across agents averaged over all
    paths, per step (price units). ``inside_spread_path`` (n_paths,): the same averaged over
    the steps of each path (steps where a side has no posted quote are skipped; NaN if every
    step is). ``observed``: per observer, its ``result()`` of each chunk.
    """

    paths: pd.DataFrame
    trajectories: dict[str, np.ndarray] = field(default_factory=dict)
    inside_spread_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    observed: list[list[Any]] = field(default_factory=list)
    inside_spread_path: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def joined(self, index: int = 0) -> Any:
        """Observer ``index``'s results of every chunk joined along the path axis (the first):
        arrays are concatenated, dicts of arrays key by key (e.g. :class:`Snapshots`)."""
        chunks = self.observed[index]
        if isinstance(chunks[0], Mapping):
            return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
        return np.concatenate([np.asarray(c) for c in chunks])


class Snapshots:
    """An observer that records per-path values at the decision times: ``fields`` maps a
    name to a function of the core giving one value per path (``(n_paths,)``, e.g.
    ``lambda core: core.mid``), called after the reset and after every step from decision
    time ``first`` on (time ``t`` is the start of step ``t``, time ``n_steps`` the end).

    ``result()``: ``{name: (n_paths, n_steps + 1 - first)}``. Give :func:`rollout`
    ``observers=[functools.partial(Snapshots, fields, first=...)]`` and join its chunks with
    :meth:`RolloutResult.joined`. Values keep the dtype the functions return (cast there to
    save memory).
    """

    def __init__(self, fields: Mapping[str, Callable[[Any], Any]], first: int = 0) -> None:
        if not isinstance(fields, Mapping) or not fields or not all(
                isinstance(k, str) and callable(f) for k, f in fields.items()):
            raise ValueError(f"fields must be a non-empty mapping of names to functions of the "
                             f"core, got {fields!r}")
        if not isinstance(first, (int, np.integer)) or isinstance(first, bool) or first < 0:
            raise ValueError(f"first must be an integer >= 0, got {first!r}")
        self.fields, self.first = dict(fields), int(first)

    def start(self, core: Any) -> None:
        if self.first > core.n_steps:
            raise ValueError(f"first must be <= n_steps = {core.n_steps}, got {self.first}")
        self._rows: dict[str, list[np.ndarray]] = {name: [] for name in self.fields}
        if self.first == 0:
            self._record(core)

    def step(self, core: Any, step: int, quotes: np.ndarray, volume: np.ndarray) -> None:
        if step + 1 >= self.first:
            self._record(core)

    def _record(self, core: Any) -> None:
        for name, fn in self.fields.items():
            self._rows[name].append(np.asarray(fn(core)).reshape(core.n_paths))

    def result(self) -> dict[str, np.ndarray]:
        return {name: np.stack(rows, axis=1) for name, rows in self._rows.items()}


def rollout(policies: Any, params: Any = None, *, n_paths: int, seed: int,
            chunk_size: int = 50_000, record_paths: int = 0,
            progress: Callable[[int], None] | None = None,
            market_factory: Callable[..., Any] | None = None,
            observers: Sequence[Callable[[], Observer]] = ()) -> RolloutResult:
    """Roll fixed policies over ``n_paths`` Monte Carlo paths.

    Parameters
    ----------
    policies : Policy or sequence of Policy
        One policy (one agent) or one per competing agent. On the order book a policy may
        implement ``offsets(observation) -> (n, 2)`` levels (see
        :meth:`~asmm_env.lob.LimitOrderBook.set_quotes`) instead of depths.
    params : MarketParams or BookParams
        The market (default: the AS 2008 setup) or the order book.
    n_paths : int
        Number of paths (>= 1).
    seed : int
        Root seed (>= 0) of the named streams (:mod:`asmm_env.streams`).
    chunk_size : int
        Paths simulated at once (>= 1), rounded up to whole blocks of ``BLOCK_PATHS``;
        bounds memory and never changes a result.
    record_paths : int
        Keep full trajectories of the first this-many paths (capped by the first chunk).
    progress : callable, optional
        Called with the number of paths finished after each chunk (e.g. a tqdm ``update``).
    market_factory : callable, optional
        ``(params, n_paths, n_agents, block_paths=...) -> core``, to roll out on a custom
        market (it must accept ``block_paths``); ``params`` may then be that core's own
        parameters (with ``action_map`` and ``n_steps``), e.g. a replay of recorded data:
        ``rollout(policy, market.params, n_paths=market.n_slices, seed=s,
        market_factory=functools.partial(ReplayMarket, data=market.tape))``.
    observers : sequence of callables
        Factories of :class:`Observer` objects, one new observer per chunk.
    """
    agents: Sequence[Any] = (list(policies) if isinstance(policies, (list, tuple))
                             else [policies])
    if not agents:
        raise ValueError("policies must name at least one policy, got an empty sequence")
    for i, policy in enumerate(agents):
        if not callable(getattr(policy, "act", None)) and \
                not callable(getattr(policy, "offsets", None)):
            raise TypeError(f"policies[{i}] must have an act(observation) method, got {policy!r}")
    check_positive_int("n_paths", n_paths)
    check_positive_int("chunk_size", chunk_size)
    if (not isinstance(record_paths, (int, np.integer)) or isinstance(record_paths, bool)
            or record_paths < 0):
        raise ValueError(f"record_paths must be an integer >= 0, got {record_paths!r}")
    # SeedSequence(None) would draw fresh OS entropy: an unseeded, unreproducible run.
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    params = params if params is not None else MarketParams()
    driver = _driver(params, market_factory)
    chunk = -(-chunk_size // BLOCK_PATHS) * BLOCK_PATHS

    n_rows = n_paths * len(agents)
    table = {name: np.empty(n_rows, dtype=np.int64 if name in ("path", "agent") else float)
             for name in COLUMNS}
    trajectories: dict[str, np.ndarray] = {}
    spread_sum = np.zeros(params.n_steps)
    spread_path = np.empty(n_paths)
    observed: list[list[Any]] = [[] for _ in observers]
    for start in range(0, n_paths, chunk):
        size = min(chunk, n_paths - start)
        core = driver.make(size, len(agents))
        core.reset(int(seed), first_block=start // BLOCK_PATHS)
        watchers = [factory() for factory in observers]
        keep = min(record_paths, size) if start == 0 else 0
        columns, recorded, spread, spread_path[start:start + size] = _run_chunk(
            core, driver, agents, keep, watchers)
        rows = slice(start * len(agents), (start + size) * len(agents))
        for name in COLUMNS:
            table[name][rows] = columns[name]
        table["path"][rows] += start
        spread_sum += spread * size
        for i, watcher in enumerate(watchers):
            observed[i].append(watcher.result())
        if keep:
            trajectories = recorded
        if progress is not None:
            progress(size)
    paths = pd.DataFrame(table, copy=False)
    return RolloutResult(paths, trajectories, spread_sum / n_paths, observed, spread_path)


class _Driver:
    """How the runner talks to one kind of core: build it, observe an agent, turn an action
    into what ``core.step`` takes, and the depths at which the quotes rest."""

    def __init__(self, params: Any, factory: Callable[..., Any] | None) -> None:
        self.params = params
        self.factory = factory

    def make(self, n_paths: int, n_agents: int) -> Any:
        if self.factory is not None:
            return self.factory(self.params, n_paths, n_agents, block_paths=BLOCK_PATHS)
        return Market(self.params, n_paths, n_agents, block_paths=BLOCK_PATHS)

    def observe(self, core: Any, agent: int) -> np.ndarray:
        return observations(core.mid, core.ledger.inventory[:, agent], core.time_remaining)

    def quotes(self, policy: Any, obs: np.ndarray, n: int) -> np.ndarray:
        return policy_depths(policy, obs, n, self.params.action_map)

    def depths(self, core: Any, quotes: np.ndarray) -> np.ndarray:
        return core.on_grid(quotes)


class _BookDriver(_Driver):
    def make(self, n_paths: int, n_agents: int) -> Any:
        from asmm_env.lob import LimitOrderBook

        factory = self.factory or LimitOrderBook
        return factory(self.params, n_paths, n_agents, block_paths=BLOCK_PATHS)

    def observe(self, core: Any, agent: int) -> np.ndarray:
        from asmm_env.lob.env import book_observations

        if agent == 0:
            self._obs = book_observations(core)
        return self._obs[:, agent]

    def quotes(self, policy: Any, obs: np.ndarray, n: int) -> np.ndarray:
        from asmm_env.lob.env import depths_to_offsets

        if callable(getattr(policy, "offsets", None)):
            return np.asarray(policy.offsets(obs)).reshape(n, 2)
        return depths_to_offsets(policy_depths(policy, obs, n, self.params.action_map),
                                 self.params)

    def depths(self, core: Any, quotes: np.ndarray) -> np.ndarray:
        # A quote j levels behind the best rests (j + 1/2) ticks from the mid; -1: none.
        return np.where(quotes >= 0, (quotes + 0.5) * self.params.tick_size, np.inf)


def market_with(**components: Any) -> Callable[..., Market]:
    """A ``market_factory`` for :func:`rollout`: each chunk's :class:`Market` built with
    ``components`` (``fill_model=``, ``price_model=``, ``latency=``, ``engine=``). The same
    component objects serve chunk after chunk (each chunk's market resets them).

    >>> from asmm_env.latency import QuoteLatency
    >>> factory = market_with(latency=QuoteLatency(0.01))
    """

    def factory(params: MarketParams, n_paths: int, n_agents: int, *,
                block_paths: int | None = None) -> Market:
        return Market(params, n_paths, n_agents, block_paths=block_paths, **components)

    return factory


def policy_depths(policy: Any, obs: np.ndarray, n: int, action_map: ActionMap) -> np.ndarray:
    """The depths (n, 2) a policy quotes on ``obs``: a depth policy's own depths (the formula,
    exactly: no normalising round trip and no clipping), else its action mapped by the
    market's ``action_map`` (clipped to ``[min_depth, max_depth]``, as an env applies it).
    So an env and the runner agree wherever a depth policy's quotes lie inside the env's
    depth range; the runner evaluates the policy itself where they do not."""
    if callable(getattr(policy, "depths", None)):
        bid, ask = policy.depths(obs)
        depths = np.empty((n, 2))
        depths[:, 0] = bid
        depths[:, 1] = ask
        return depths
    return action_map.to_depths(policy.act(obs), n)


def _driver(params: Any, factory: Callable[..., Any] | None) -> _Driver:
    from asmm_env.lob import BookParams

    if isinstance(params, BookParams):
        return _BookDriver(params, factory)
    if isinstance(params, MarketParams):
        return _Driver(params, factory)
    # A custom core (e.g. asmm_env.replay.ReplayMarket) brings its own parameters: anything
    # with the action map and the episode's steps that its factory understands.
    if factory is not None and hasattr(params, "action_map") and hasattr(params, "n_steps"):
        return _Driver(params, factory)
    raise TypeError(f"params must be a MarketParams or a BookParams (or, with a "
                    f"market_factory, parameters with action_map and n_steps), got "
                    f"{type(params).__name__}")


def _run_chunk(core: Any, driver: _Driver, agents: Sequence[Any], keep: int,
               watchers: Sequence[Observer]):
    n, a, n_steps = core.n_paths, core.n_agents, core.n_steps
    quotes = np.empty((n, a, 2), dtype=np.int64 if isinstance(driver, _BookDriver) else float)
    worst_residual = np.zeros((n, a))
    spread = np.empty(n_steps)
    path_sum, path_count = np.zeros(n), np.zeros(n)
    rec = _Recorder(core, keep) if keep else None
    for watcher in watchers:
        watcher.start(core)
    # Strategic policies see the book as it stands when they re-quote: the quotes every
    # agent posted at the previous step (none before the first), see the module docstring.
    watching = [j for j, policy in enumerate(agents) if getattr(policy, "observes_rivals", False)]
    if watching and isinstance(driver, _BookDriver):
        raise TypeError(f"policies[{watching[0]}] observes its rivals' quotes, which the runner "
                        "provides on the reduced-form market (MarketParams) only")
    book = np.full((n, a, 2), np.inf) if watching else None
    for step in range(n_steps):
        rivals = best_rival_depths(book) if watching else None
        for j, policy in enumerate(agents):
            obs = driver.observe(core, j)
            if rivals is not None and j in watching:
                obs = rival_observations(obs, rivals[:, j], driver.params)
            quotes[:, j, :] = driver.quotes(policy, obs, n)
        depths = driver.depths(core, quotes)
        # The inside spread: best bid depth + best ask depth over posted quotes.
        if a == 1 and not isinstance(driver, _BookDriver):
            allowed = core.allowed_sides()
            inside = depths[:, 0, 0] + depths[:, 0, 1]
            if allowed is not None:
                inside = np.where(allowed[:, 0].all(axis=-1), inside, np.inf)
        else:
            allowed = core.allowed_sides() if hasattr(core, "allowed_sides") else None
            posted = depths if allowed is None else np.where(allowed, depths, np.inf)
            inside = posted.min(axis=1).sum(axis=-1)
            if book is not None:
                book = posted.copy()
        finite = np.isfinite(inside)
        spread[step] = inside[finite].mean() if finite.any() else np.nan
        path_sum += np.where(finite, inside, 0.0)
        path_count += finite
        volume = core.step(quotes)
        residual = np.abs(core.ledger.decomposition_residual(core.mid))
        np.maximum(worst_residual, residual, out=worst_residual)
        for watcher in watchers:
            watcher.step(core, step, quotes, volume)
        if rec is not None:
            rec.record(step + 1, depths, volume)
    led = core.ledger
    pnl = core.pnl()
    columns = {
        "path": np.repeat(np.arange(n), a),
        "agent": np.tile(np.arange(a), n),
        "terminal_pnl": pnl, "terminal_inventory": led.inventory, "cash": led.cash,
        "bid_fills": led.bid_fills, "ask_fills": led.ask_fills,
        "fills": led.bid_fills + led.ask_fills, "bid_volume": led.bid_volume,
        "ask_volume": led.ask_volume, "spread_capture": led.spread_capture,
        "inventory_pnl": led.inventory_pnl, "adverse_selection": led.adverse_selection,
        "fees": led.fees, "liquidation": led.liquidation,
        "max_abs_inventory": led.max_abs_inventory, "max_identity_residual": worst_residual,
    }
    columns = {key: np.asarray(value).reshape(-1) for key, value in columns.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        per_path = np.where(path_count > 0, path_sum / path_count, np.nan)
    return columns, (rec.arrays() if rec is not None else {}), spread, per_path


class _Recorder:
    """Full trajectories of the first ``keep`` paths of a chunk."""

    def __init__(self, core: Any, keep: int) -> None:
        self.core, self.keep = core, keep
        n_steps, a = core.n_steps, core.n_agents
        self.mid = np.empty((n_steps + 1, keep))
        self.inventory = np.empty((n_steps + 1, keep, a))
        self.pnl = np.empty((n_steps + 1, keep, a))
        self.bid_depth = np.empty((n_steps, keep, a))
        self.ask_depth = np.empty((n_steps, keep, a))
        self.fills = np.empty((n_steps, keep, a, 2))
        self._snapshot(0)

    def _snapshot(self, i: int) -> None:
        c = self.core
        self.mid[i] = c.mid[: self.keep]
        self.inventory[i] = c.ledger.inventory[: self.keep]
        self.pnl[i] = c.pnl()[: self.keep]

    def record(self, i: int, depths: np.ndarray, volume: np.ndarray) -> None:
        self.bid_depth[i - 1] = depths[: self.keep, :, 0]
        self.ask_depth[i - 1] = depths[: self.keep, :, 1]
        self.fills[i - 1] = volume[: self.keep]
        self._snapshot(i)

    def arrays(self) -> dict[str, np.ndarray]:
        dt, n_steps = self.core.params.dt, self.core.n_steps
        return {"time": np.arange(n_steps + 1) * dt, "mid": self.mid,
                "inventory": self.inventory, "pnl": self.pnl, "bid_depth": self.bid_depth,
                "ask_depth": self.ask_depth, "fills": self.fills}
