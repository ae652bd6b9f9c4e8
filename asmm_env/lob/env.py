"""The queue-reactive limit order book as a Gymnasium environment (one path) and a native
vector environment (many paths), both views of the batched
:class:`asmm_env.lob.book.LimitOrderBook`.

Actions are depths normalised as in the reduced-form env (``asmm_env.spaces``) and rounded
to the tick grid: a quote at depth ``delta`` (price units) from the mid rests at the level
whose depth bin ``[j * tick, (j + 1) * tick)`` contains it, level ``j`` sitting at depth
``(j + 1/2) * tick``. So a depth policy of the reduced-form env runs here unchanged, and
:func:`offsets_to_action` gives the action that quotes given levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from asmm_env.envs._common import check_render_mode, reward_from, split_kwargs
from asmm_env.envs._faces import SingleFace, VectorFace
from asmm_env.lob.book import LimitOrderBook
from asmm_env.lob.params import BookParams
from asmm_env.validation import check_positive_int

INFO_KEYS = ("pnl", "cash", "inventory", "mid", "bid_fills", "ask_fills", "bid_volume",
             "ask_volume", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
             "liquidation", "bid_filled", "ask_filled")
ACTION_NAMES = ("bid_depth", "ask_depth")
_ENV_KEYS = frozenset({"reward", "inventory_penalty", "risk_aversion", "render_mode"})


def observation_names(n_levels: int) -> tuple[str, ...]:
    """Names of the observation entries for a book with ``n_levels`` visible levels."""
    return (("mid", "inventory", "time_remaining", "best_bid", "best_ask", "imbalance",
             "micro_price", "bid_queue_position", "ask_queue_position", "bid_level",
             "ask_level")
            + tuple(f"bid_queue_{j}" for j in range(n_levels))
            + tuple(f"ask_queue_{j}" for j in range(n_levels)))


def observation_space(params: BookParams) -> spaces.Box:
    """Finite bounds (Gymnasium's checker rejects infinite ones), never reached in practice:
    with ``n`` the expected number of events in an episode at typical queue sizes, the mid
    moves at most a tick per event, so ``+/- (n + 100 sqrt(n) + 100)`` ticks; queues and
    positions stay below the typical size ``qbar`` plus ``100 sqrt(qbar) + 100``; the
    inventory moves by at most one order per market order."""
    p, K = params, params.n_levels
    qbar = max(1.0 + p.refill, p.limit_rate / p.cancel_rate) if p.cancel_rate > 0 else (
        1.0 + p.refill + p.limit_rate * p.T)
    boosted = p.market_rate * (1.0 + p.market_boost)
    events = p.T * (2 * K * (p.limit_rate + p.cancel_rate * qbar) + 2 * boosted)
    band = p.tick_size * (events + 100.0 * np.sqrt(events) + 100.0)
    q_max = qbar + 100.0 * np.sqrt(qbar) + 100.0
    markets = 2 * boosted * p.T
    inv = abs(p.q0) + p.order_size * (markets + 100.0 * np.sqrt(markets) + 100.0)
    lo_mid, hi_mid = p.s0 - band, p.s0 + band
    low = [lo_mid, -inv, 0.0, lo_mid, lo_mid, -1.0, lo_mid, -1.0, -1.0, -1.0, -1.0]
    high = [hi_mid, inv, p.T, hi_mid, hi_mid, 1.0, hi_mid, q_max, q_max, K - 1, K - 1]
    low += [0.0] * (2 * K)
    high += [q_max] * (2 * K)
    return spaces.Box(low=np.array(low), high=np.array(high), dtype=np.float64)


def action_space(params: BookParams) -> spaces.Box:
    """``Box(-1, 1, (2,))``: (bid_depth, ask_depth) as fractions of ``params.depth_bound``."""
    return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float64)


def depths_to_offsets(depths: np.ndarray, params: BookParams) -> np.ndarray:
    """Levels (integer ticks behind the best) for depths in price units: the level whose
    depth bin ``[j * tick, (j + 1) * tick)`` holds the depth, clipped to
    ``[0, n_levels - 1]`` (a depth inside the spread joins the best)."""
    levels = np.floor(np.asarray(depths, dtype=np.float64) / params.tick_size)
    return np.clip(levels, 0, params.n_levels - 1).astype(np.int64)


def offsets_to_action(bid_offset: Any, ask_offset: Any, params: BookParams) -> np.ndarray:
    """The action ``(..., 2)`` that quotes ``bid_offset`` and ``ask_offset`` ticks behind the
    best: the depths of those levels, ``(j + 1/2) * tick``, normalised."""
    depth = lambda j: (np.asarray(j, dtype=np.float64) + 0.5) * params.tick_size  # noqa: E731
    return params.action_map.to_action(depth(bid_offset), depth(ask_offset))


def book_observations(book: LimitOrderBook) -> np.ndarray:
    """Every agent's observation (:func:`observation_names`), ``(n_paths, n_agents,
    11 + 2 * n_levels)``: the book's features (shared) with the agent's own inventory, queue
    positions (-1 without an order) and order levels."""
    n, A, K = book.n_paths, book.n_agents, book.n_levels
    obs = np.empty((n, A, 11 + 2 * K))
    obs[:, :, 0] = book.mid[:, None]
    obs[:, :, 1] = book.ledger.inventory
    obs[:, :, 2] = book.time_remaining
    obs[:, :, 3] = book.best_bid[:, None]
    obs[:, :, 4] = book.best_ask[:, None]
    obs[:, :, 5] = book.imbalance()[:, None]
    obs[:, :, 6] = book.micro_price()[:, None]
    obs[:, :, 7:9] = np.nan_to_num(book.queue_positions(), nan=-1.0)
    obs[:, :, 9:11] = book.order_levels()
    obs[:, :, 11:] = book.queue_sizes().reshape(n, 1, 2 * K)
    return obs


class _Face:
    """What the single and vector faces share: the book, the reward, observations, infos."""

    def _build(self, n_paths: int, kwargs: dict[str, Any]) -> None:
        params, env_kwargs = split_kwargs(dict(kwargs), _ENV_KEYS, BookParams)
        self.params = params
        self.book = LimitOrderBook(params, n_paths, 1)
        self.reward_fn = reward_from(env_kwargs)
        self.render_mode = check_render_mode(env_kwargs.get("render_mode"),
                                             self.metadata["render_modes"])
        self.observation_names = observation_names(params.n_levels)
        self.action_names = ACTION_NAMES
        self._pnl = np.zeros((n_paths, 1))
        self._init_spaces(observation_space(params), action_space(params))

    @property
    def market(self) -> LimitOrderBook:
        """The batched core (the name the reduced-form faces use)."""
        return self.book

    def _observations(self) -> np.ndarray:
        return book_observations(self.book)[:, 0]

    def _core_action(self, action: Any) -> np.ndarray:
        n = self.book.n_paths
        depths = self.params.action_map.to_depths(action, n)
        return depths_to_offsets(depths, self.params).reshape(n, 1, 2)

    def _extra_infos(self) -> dict[str, np.ndarray]:
        return {"bid_filled": self.book.last_volume[:, 0, 0].copy(),
                "ask_filled": self.book.last_volume[:, 0, 1].copy()}

    def _render_text(self, path: int = 0) -> str:
        b, led = self.book, self.book.ledger
        qb, qa = b.best_queues()
        pos = b.queue_positions()[path, 0]
        return (f"t={b.time:.2f} bid={b.best_bid[path]:.4f}x{qb[path]:.0f} "
                f"ask={b.best_ask[path]:.4f}x{qa[path]:.0f} ours ahead={pos[0]:.0f}/{pos[1]:.0f} "
                f"q={led.inventory[path, 0]:+.0f} pnl={self._pnl[path, 0]:.4f}")


class AvellanedaStoikovLOBEnv(_Face, SingleFace):
    """
    ## Description

    A market maker quotes one unit order on each side of a tick-level, queue-reactive limit
    order book (Huang, Lehalle & Rosenbaum 2015; one-tick spread as in Cont & de Larrard
    2013). Other traders' limit orders, cancellations and market orders arrive event by
    event; the agent's orders wait in FIFO queues, are filled when a market order reaches
    them, and the price moves one tick when a best queue empties. The agent re-quotes every
    ``dt``; the episode lasts ``T``. One path of :class:`asmm_env.lob.book.LimitOrderBook`
    (model and invariants in its module docstring; parameters in
    :class:`asmm_env.lob.params.BookParams`).

    ## Action Space

    ``Box(-1, 1, (2,), float64)``: bid and ask depths from the mid as fractions of
    ``depth_bound = n_levels * tick_size`` (price units), as in ``asmm_env/AvellanedaStoikov-v0``,
    rounded to the tick grid: the order rests at level ``j = floor(depth / tick_size)``
    behind the best, clipped to ``[0, n_levels - 1]`` (0 joins the best queue; a negative
    depth joins the best as well). ``offsets_to_action(bid_level, ask_level, params)``
    gives the action for given levels (the level's own depth ``(j + 1/2) * tick_size``).

    | Num | Action                  | Unit | Bounds  |
    |-----|-------------------------|------|---------|
    | 0   | bid_depth / depth_bound | 1    | [-1, 1] |
    | 1   | ask_depth / depth_bound | 1    | [-1, 1] |

    An order already resting at the chosen level keeps its place in the queue; otherwise it
    is cancelled and a new order joins the back of the chosen level. A filled order is
    replaced at once at the back of the level at the same offset from the (new) best. Values
    beyond [-1, 1] are clipped; NaN, infinite or misshapen actions raise ``ValueError``.
    A Box rather than MultiDiscrete keeps one action convention for every face and the
    baseline policies; it passes ``gymnasium.utils.env_checker.check_env`` without warnings.

    ## Observation Space

    ``Box(float64, (11 + 2 * n_levels,))``, names in ``env.observation_names``; the first
    three entries are those of ``asmm_env/AvellanedaStoikov-v0``:

    | Num        | Observation         | Unit                  | Bounds                   |
    |------------|---------------------|-----------------------|--------------------------|
    | 0          | mid                 | price units           | s0 +/- band (a)          |
    | 1          | inventory           | shares                | +/- (b)                  |
    | 2          | time_remaining      | time units            | [0, T]                   |
    | 3, 4       | best_bid, best_ask  | price units           | s0 +/- band              |
    | 5          | imbalance           | 1                     | [-1, 1]                  |
    | 6          | micro_price         | price units           | s0 +/- band              |
    | 7, 8       | bid/ask_queue_position | orders ahead of ours | [-1, qmax] (c)         |
    | 9, 10      | bid/ask_level       | ticks behind the best | [-1, n_levels - 1] (c)   |
    | 11 + j     | bid_queue_j         | orders (ours included) | [0, qmax]               |
    | 11 + K + j | ask_queue_j         | orders (ours included) | [0, qmax]               |

    imbalance is ``(Qb - Qa) / (Qb + Qa)`` and micro_price ``bid * Qa / (Qb + Qa) + ask * Qb
    / (Qb + Qa)`` with Qb, Qa the best queues. (a), (b): see :func:`observation_space`;
    finite bounds never reached in practice. (c) -1 when the agent has no order on that side
    (only before the first step).

    ## Rewards

    ``reward="pnl"`` (default): the step's change of mark-to-market PnL ``cash + q * mid``.
    ``"inventory_penalty"``: that minus ``inventory_penalty * q^2 * dt``. ``"cara"``: zero
    until the last step, then ``-exp(-risk_aversion * PnL_T)``.

    ## Starting State

    mid = s0, every queue ``1 + Poisson(refill)`` other traders' orders, no order of the
    agent, inventory = q0, cash = 0, t = 0.

    ## Episode End

    Terminated after ``T / dt`` steps (t = T). Never truncated by the env itself.

    ## Info

    ``pnl, cash, inventory, mid, bid_fills, ask_fills, spread_capture, inventory_pnl,
    adverse_selection, fees`` (floats) as in ``asmm_env/AvellanedaStoikov-v0`` (the ledger;
    ``pnl == spread_capture + inventory_pnl + fees`` to float rounding; a fill's spread
    capture is half a tick, at the mid at the fill), and ``bid_filled``, ``ask_filled``: the
    shares bought and sold during the step.

    ## Arguments

    Every field of :class:`asmm_env.lob.params.BookParams` (``tick_size, n_levels,
    limit_rate, cancel_rate, market_rate, market_boost, small_queue, refill, order_size, T,
    dt, q0, fee, ...``, or a whole ``params=BookParams(...)``), plus ``reward``,
    ``inventory_penalty``, ``risk_aversion`` and ``render_mode`` (``"ansi"``).

    >>> import gymnasium as gym, asmm_env
    >>> env = gym.make("asmm_env/AvellanedaStoikovLOB-v0", n_levels=3, T=60.0)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (17,)

    ## Vectorized environment

    ``gym.make_vec("asmm_env/AvellanedaStoikovLOB-v0", num_envs=N,
    vectorization_mode="vector_entry_point")`` gives :class:`AvellanedaStoikovLOBVectorEnv`:
    N books stepped at once by the same core, no Python loop per path.

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 30}

    def __init__(self, **kwargs: Any) -> None:
        self._build(1, kwargs)


class AvellanedaStoikovLOBVectorEnv(_Face, VectorFace):
    """``num_envs`` books of :class:`AvellanedaStoikovLOBEnv` stepped together by the batched
    core.

    Observations ``(num_envs, 11 + 2 * n_levels)``, actions ``(num_envs, 2)``,
    rewards/terminations ``(num_envs,)``; ``infos`` holds each key of the single env as an
    array ``(num_envs,)`` with its ``_key`` mask. Every path has the same horizon, so all
    terminate together; autoreset is Gymnasium's next-step mode (the step after the last
    one resets every path; its action is ignored and its rewards are 0). ``reset(seed=s)``
    seeds one generator that draws for all paths: same seed, same bytes.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 30,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        check_positive_int("num_envs", num_envs)
        kwargs.pop("max_episode_steps", None)
        self._build(num_envs, kwargs)
