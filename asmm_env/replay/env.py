"""The replay of recorded data as a Gymnasium environment (one slice at a time) and a native
vector environment (many slices at once), both views of
:class:`asmm_env.replay.market.ReplayMarket`."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from asmm_env.envs._common import check_render_mode, reward_from, split_kwargs
from asmm_env.envs._faces import SingleFace, VectorFace
from asmm_env.replay.market import ReplayMarket
from asmm_env.replay.params import ReplayParams
from asmm_env.validation import check_positive_int

OBSERVATION_NAMES = ("mid", "inventory", "time_remaining", "best_bid", "best_ask", "bid_size",
                     "ask_size", "bid_queue_position", "ask_queue_position")
ACTION_NAMES = ("bid_depth", "ask_depth")
INFO_KEYS = ("pnl", "cash", "inventory", "mid", "bid_fills", "ask_fills", "bid_volume",
             "ask_volume", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
             "liquidation", "bid_filled", "ask_filled", "slice")
_ENV_KEYS = frozenset({"reward", "inventory_penalty", "risk_aversion", "render_mode", "data"})


def observation_space(market: ReplayMarket) -> spaces.Box:
    """Finite bounds from the data (never reached): prices within the data's range widened
    by that range plus one unit on each side; sizes up to the largest shown, queue positions
    -1 (none) up to it; the inventory moves by at most one order per event of a slice."""
    tape, p = market.tape, market.params
    prices = np.concatenate([tape.row_best.reshape(-1), tape.row_mid])
    lo, hi = float(prices.min()), float(prices.max())
    band = hi - lo + 1.0
    size = float(tape.row_sz.max()) + 1.0
    events = int(np.diff(tape.day_events).max())
    inv = abs(p.q0) + p.order_size * (events + 1)
    if p.max_inventory is not None:
        inv = min(inv, p.max_inventory)
    low = [lo - band, -inv, 0.0, lo - band, lo - band, 0.0, 0.0, -1.0, -1.0]
    high = [hi + band, inv, p.T, hi + band, hi + band, size, size, size, size]
    return spaces.Box(low=np.array(low), high=np.array(high), dtype=np.float64)


def replay_observations(market: ReplayMarket) -> np.ndarray:
    """Observations ``(n_paths, 9)`` (:data:`OBSERVATION_NAMES`): the first three as in every
    env of this package, then the data's best quotes and their sizes and our queue positions
    (shares ahead; -1 without a resting order or where the queue is unknown)."""
    n = market.n_paths
    obs = np.empty((n, 9))
    obs[:, 0] = market.mid
    obs[:, 1] = market.ledger.inventory[:, 0]
    obs[:, 2] = market.time_remaining
    obs[:, 3] = market.best_bid
    obs[:, 4] = market.best_ask
    obs[:, 5:7] = market.best_sizes()
    obs[:, 7:9] = np.nan_to_num(market.queue_positions(), nan=-1.0)
    return obs


class _Face:
    """What the single and vector faces share: the replay core, rewards, observations."""

    def _build(self, n_paths: int, kwargs: dict[str, Any]) -> None:
        kwargs = dict(kwargs)
        if "data" not in kwargs:
            raise ValueError("data must be given: a LobsterData, a TradesQuotes or a sequence "
                             "of them (asmm_env.data.read_lobster / read_trades_quotes)")
        params, env_kwargs = split_kwargs(kwargs, _ENV_KEYS, ReplayParams)
        self.market = ReplayMarket(params, n_paths, data=env_kwargs["data"])
        self.params = self.market.params
        self.reward_fn = reward_from(env_kwargs)
        self.render_mode = check_render_mode(env_kwargs.get("render_mode"),
                                             self.metadata["render_modes"])
        self.observation_names = OBSERVATION_NAMES
        self.action_names = ACTION_NAMES
        self._pnl = np.zeros((n_paths, 1))
        self._init_spaces(observation_space(self.market),
                          spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float64))

    def _observations(self) -> np.ndarray:
        return replay_observations(self.market)

    def _core_action(self, action: Any) -> np.ndarray:
        n = self.market.n_paths
        return self.params.action_map.to_depths(action, n).reshape(n, 1, 2)

    def _extra_infos(self) -> dict[str, np.ndarray]:
        m = self.market
        return {"bid_filled": m.last_volume[:, 0, 0].copy(),
                "ask_filled": m.last_volume[:, 0, 1].copy(),
                "slice": m._slice.astype(np.float64)}

    def _render_text(self, path: int = 0) -> str:
        m, led = self.market, self.market.ledger
        pos = m.queue_positions()[path]
        return (f"t={m.time:.2f} bid={m.best_bid[path]:.4f} ask={m.best_ask[path]:.4f} "
                f"ahead={pos[0]:.0f}/{pos[1]:.0f} q={led.inventory[path, 0]:+.0f} "
                f"pnl={self._pnl[path, 0]:.4f}")


class ReplayEnv(_Face, SingleFace):
    """
    ## Description

    A market maker quotes a bid and an ask into recorded order-book data (LOBSTER files or
    trades + quotes tables) that replay as they happened: our orders join the back of their
    price level's queue, move up as the data's trades and cancellations at that level consume
    the queue ahead, and are filled when trades reach them; instructions take a latency to
    arrive, so quotes can be stale; fills pay fees and go to the same ledger as every other
    env of this package. The data do not react to our orders (no market impact). One slice
    of the data per episode; one path of :class:`asmm_env.replay.market.ReplayMarket`, whose
    module docstring states every rule.

    ## Action Space

    ``Box(-1, 1, (2,), float64)``: bid and ask depths from the mid, normalised by the
    params' :class:`~asmm_env.actions.ActionMap` (``env.unwrapped.params.action_map``,
    ``[min_depth, max_depth]`` in currency units), as in ``asmm_env/AvellanedaStoikov-v0``, so
    the baseline policies run unchanged; quotes are rounded away from the mid onto the tick
    grid. Values beyond [-1, 1] are clipped.

    | Num | Action              | Unit | Bounds  |
    |-----|---------------------|------|---------|
    | 0   | bid_depth, normalised | 1  | [-1, 1] |
    | 1   | ask_depth, normalised | 1  | [-1, 1] |

    ## Observation Space

    ``Box(float64, (9,))``, names in ``env.observation_names``; the first three entries are
    those of ``asmm_env/AvellanedaStoikov-v0``:

    | Num  | Observation          | Unit           | Bounds                  |
    |------|----------------------|----------------|-------------------------|
    | 0    | mid                  | currency units | the data's range, widened |
    | 1    | inventory            | shares         | +/- (a)                 |
    | 2    | time_remaining       | time units     | [0, T]                  |
    | 3, 4 | best_bid, best_ask   | currency units | as the mid              |
    | 5, 6 | bid_size, ask_size   | shares         | [0, largest shown + 1]  |
    | 7, 8 | bid/ask_queue_position | shares ahead of ours | -1 (none or unknown) up to it |

    (a) see :func:`observation_space`. A one-sided book carries the last two-sided quotes.

    ## Rewards

    ``reward="pnl"`` (default): the step's change of PnL marked to the data's mid;
    ``"inventory_penalty"`` and ``"cara"`` as in ``asmm_env/AvellanedaStoikov-v0``.

    ## Starting State

    The data's book at the slice's start, no order of ours, inventory ``q0``, cash 0.

    ## Episode End

    Terminated after ``T / dt`` steps. Slices: each dataset cut into windows of ``T`` from
    its first quote (``T`` None: one per dataset). ``reset(seed=s)`` starts at slice 0;
    every reset without a seed moves on to the next slice (cycling).

    ## Info

    The ledger (``pnl, cash, inventory, mid, bid_fills, ask_fills, bid_volume, ask_volume,
    spread_capture, inventory_pnl, adverse_selection, fees, liquidation``; ``pnl ==
    spread_capture + inventory_pnl + fees + liquidation`` to float rounding; a fill counts
    once however many shares it took), ``bid_filled``, ``ask_filled`` (shares this step) and
    ``slice`` (the index of the slice replayed).

    ## Arguments

    ``data`` (required): a :class:`~asmm_env.data.LobsterData`, a
    :class:`~asmm_env.data.TradesQuotes`, a sequence of them (days) or a
    :class:`~asmm_env.replay.tape.ReplayTape`; every field of
    :class:`asmm_env.replay.params.ReplayParams` (``T, dt, q0, order_size, fee,
    max_inventory, queue, entry_latency, cancel_latency, tick_size, min_depth, max_depth,
    ...``, or ``params=ReplayParams(...)``); ``reward``, ``inventory_penalty``,
    ``risk_aversion``, ``render_mode`` (``"ansi"``).

    >>> import gymnasium as gym, asmm_env
    >>> from asmm_env import MarketParams
    >>> from asmm_env.data import simulated_trades_quotes
    >>> days = simulated_trades_quotes(MarketParams(dt=0.001), n_days=2, seed=0)
    >>> env = gym.make("asmm_env/Replay-v0", data=days, dt=0.005, tick_size=0.0,
    ...                max_depth=2.0)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, env.unwrapped.params.n_steps
    ((9,), 200)

    ## Vectorized environment

    ``gym.make_vec("asmm_env/Replay-v0", num_envs=N, vectorization_mode="vector_entry_point",
    data=...)`` gives :class:`ReplayVectorEnv`: N slices replayed at once by the same core.

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 30}

    def __init__(self, **kwargs: Any) -> None:
        self._build(1, kwargs)


class ReplayVectorEnv(_Face, VectorFace):
    """``num_envs`` slices of :class:`ReplayEnv` replayed together by the batched core: path
    ``i`` replays slice ``i`` after ``reset(seed=s)`` and the next ``num_envs`` slices after
    each autoreset (cycling through the data). Observations ``(num_envs, 9)``, actions
    ``(num_envs, 2)``; infos as the single env's, arrays ``(num_envs,)`` with their ``_key``
    masks; Gymnasium's next-step autoreset. ``num_envs`` equal to the number of slices
    (``env.unwrapped.market.n_slices``) replays every slice once per episode."""

    metadata = {"render_modes": ["ansi"], "render_fps": 30,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        check_positive_int("num_envs", num_envs)
        kwargs.pop("max_episode_steps", None)
        self._build(num_envs, kwargs)
