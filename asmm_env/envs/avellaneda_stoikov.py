"""The Avellaneda–Stoikov market as a Gymnasium environment (one path) and a native vector
environment (many paths), both views of the one batched core :class:`asmm_env.market.Market`."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from asmm_env.envs._common import check_render_mode, reward_from, split_kwargs
from asmm_env.envs._faces import SingleFace, VectorFace
from asmm_env.envs._render import PathTrace
from asmm_env.market import Market
from asmm_env.spaces import (
    ACTION_NAMES,
    OBSERVATION_NAMES,
    action_space,
    observation_space,
    observations,
)
from asmm_env.validation import check_positive_int

INFO_KEYS = ("pnl", "cash", "inventory", "mid", "bid_fills", "ask_fills", "bid_volume",
             "ask_volume", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
             "liquidation")


class _Face:
    """The AS model's part of a face: the market, observations, actions, rendering."""

    def _build(self, n_paths: int, kwargs: dict[str, Any]) -> None:
        params, env_kwargs = split_kwargs(dict(kwargs))
        self.params = params
        self.market = Market(params, n_paths, 1, price_model=env_kwargs.get("price_model"),
                             fill_model=env_kwargs.get("fill_model"),
                             latency=env_kwargs.get("latency"),
                             engine=env_kwargs.get("engine", "auto"))
        self.reward_fn = reward_from(env_kwargs)
        self.render_mode = check_render_mode(env_kwargs.get("render_mode"),
                                             self.metadata["render_modes"])
        self.observation_names = OBSERVATION_NAMES
        self.action_names = ACTION_NAMES
        self._map = params.action_map
        self._pnl = np.zeros((n_paths, 1))
        self._trace = PathTrace() if self.render_mode == "rgb_array" else None
        self._init_spaces(observation_space(params), action_space(params))

    def _observations(self) -> np.ndarray:
        m = self.market
        return observations(m.mid, m.ledger.inventory[:, 0], m.time_remaining)

    def _core_action(self, action: Any) -> np.ndarray:
        n_paths = self.market.n_paths
        return self._map.to_depths(action, n_paths).reshape(n_paths, 1, 2)

    def _trace_step(self, depths: np.ndarray) -> None:
        """Step and record path 0's quotes as they rested during the step."""
        m = self.market
        t, mid, q = m.time, float(m.mid[0]), float(m.ledger.inventory[0, 0])
        volume = m.step(depths)
        self._trace.add(t, mid, mid - depths[0, 0, 0], mid + depths[0, 0, 1], q,
                        volume[0, 0, 0], volume[0, 0, 1])

    def _render_rgb(self) -> np.ndarray:
        return self._trace.to_rgb(f"path 0: t = {self.market.time:.3f}, "
                                  f"pnl = {self._pnl[0, 0]:.2f}")

    def _render_text(self, path: int = 0) -> str:
        m, led = self.market, self.market.ledger
        return (f"t={m.time:.4f} mid={m.mid[path]:.4f} q={led.inventory[path, 0]:+.0f} "
                f"cash={led.cash[path, 0]:.4f} pnl={self._pnl[path, 0]:.4f}")


class AvellanedaStoikovEnv(_Face, SingleFace):
    """
    ## Description

    A market maker quotes a bid and an ask around a midprice in the Avellaneda–Stoikov (2008)
    market: the mid follows an arithmetic Brownian motion (or the paper's binomial walk),
    market orders arrive as Poisson processes, and a quote at depth delta from the mid is hit
    with intensity ``A exp(-k delta)``. The agent chooses its two depths every ``dt``; the
    episode lasts ``T``. One path of the batched core :class:`asmm_env.market.Market`.

    ## Action Space

    ``Box(-1, 1, (2,), float64)``: the two depths from the mid, mapped affinely onto
    ``[min_depth, max_depth]`` (price units) by ``env.unwrapped.params.action_map``
    (:class:`asmm_env.actions.ActionMap`; action -1 quotes at ``min_depth``, +1 at
    ``max_depth``), normalised as Gymnasium and Stable-Baselines3 recommend. Depths are
    positive away from the mid: bid = mid - bid_depth, ask = mid + ask_depth.
    ``params.action_map.to_action(bid, ask)`` converts; the baseline policies return actions
    in these units.

    | Num | Action    | Unit | Bounds  | Depth (price units)           |
    |-----|-----------|------|---------|-------------------------------|
    | 0   | bid       | 1    | [-1, 1] | min_depth .. max_depth        |
    | 1   | ask       | 1    | [-1, 1] | min_depth .. max_depth        |

    A negative depth quotes through the mid (AS does so at large inventory); it is reached
    by every market order, ``A`` per unit time (``asmm_env.fills``). Values beyond [-1, 1]
    are clipped; NaN, infinite or misshapen actions raise ``ValueError``. With
    ``max_inventory=Q`` a quote takes at most the fills left before the bound (the bid
    ``floor((Q - q) / order_size)``), and is not posted at the bound.

    ## Observation Space

    ``Box(float64, (3,))``, names in ``env.observation_names``:

    | Num | Observation    | Unit        | Min                | Max                |
    |-----|----------------|-------------|--------------------|--------------------|
    | 0   | mid            | price units | s0 - 100 sd (a)    | s0 + 100 sd (a)    |
    | 1   | inventory      | shares      | -Q (b)             | Q (b)              |
    | 2   | time_remaining | time units  | 0                  | T                  |

    (a) sd is the standard deviation of the mid's move over the episode: a finite bound that
    is never reached in practice. (b) Q = max_inventory, or the most the inventory can move.

    ## Rewards

    ``reward="pnl"`` (default): the step's change of mark-to-market PnL ``cash + q * mid``.
    ``"inventory_penalty"``: that minus ``inventory_penalty * q^2 * dt``. ``"cara"``: zero
    until the last step, then ``-exp(-risk_aversion * PnL_T)``.

    ## Starting State

    mid = s0, inventory = q0, cash = 0, t = 0.

    ## Episode End

    Terminated after ``T / dt`` steps (t = T). Never truncated by the env itself.

    ## Info

    ``pnl, cash, inventory, mid, bid_fills, ask_fills, spread_capture, inventory_pnl,
    adverse_selection, fees`` (floats): the ledger; ``pnl == spread_capture + inventory_pnl +
    fees`` to float rounding, and adverse selection is the part of inventory PnL measured
    ``adverse_selection_steps`` after each fill.

    ## Arguments

    Every field of :class:`asmm_env.params.MarketParams` (``s0, sigma, A, k, T, dt, q0,
    price_dynamics, fill_rule, order_size, max_inventory, fee, toxicity, ...``, or a
    whole ``params=MarketParams(...)``), plus ``reward``, ``inventory_penalty``,
    ``risk_aversion``, ``render_mode`` (``"ansi"``: a text line; ``"rgb_array"``: a picture
    of the episode so far, mid, quotes, fills and inventory), ``price_model`` and ``fill_model``
    (component objects replacing the ones the parameters describe, e.g.
    ``asmm_env.fills.hawkes_fill_model(params, ...)``), ``latency`` (an
    ``asmm_env.latency.QuoteLatency``), ``engine``
    (``"auto"``, ``"numpy"`` or ``"numba"``: see :class:`asmm_env.market.Market`).

    >>> import gymnasium as gym, asmm_env
    >>> env = gym.make("asmm_env/AvellanedaStoikov-v0", sigma=2.0, A=140.0, k=1.5)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (3,)

    ## Vectorized environment

    ``gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=N,
    vectorization_mode="vector_entry_point")`` gives :class:`AvellanedaStoikovVectorEnv`:
    N paths stepped at once by the same core, no Python loop per path.

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 30}

    def __init__(self, **kwargs: Any) -> None:
        self._build(1, kwargs)


class AvellanedaStoikovVectorEnv(_Face, VectorFace):
    """``num_envs`` paths of :class:`AvellanedaStoikovEnv` stepped together by the batched core.

    Observations ``(num_envs, 3)``, actions ``(num_envs, 2)``, rewards/terminations
    ``(num_envs,)``; ``infos`` holds each key of the single env as an array of shape
    ``(num_envs,)`` with its ``_key`` mask (Gymnasium's vector-info convention). Every path has
    the same horizon, so all terminate together; autoreset is Gymnasium's next-step mode: the
    step after the last one resets every path (the action is ignored, rewards are 0).
    ``reset(seed=s)`` seeds one generator that draws for all paths: same seed, same bytes.
    A list of ``num_envs`` seeds (Gymnasium's vector convention) seeds that one generator
    with the whole list (``SeedSequence(seeds)``): reproducible, but path i is not a function
    of ``seeds[i]`` alone. ``render()`` shows path 0 (``"rgb_array"``) or the first 8 paths
    (``"ansi"``).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 30,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        check_positive_int("num_envs", num_envs)
        kwargs.pop("max_episode_steps", None)
        self._build(num_envs, kwargs)
