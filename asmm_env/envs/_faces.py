"""The Gymnasium faces, independent of the market model: one path (``gym.Env``) or many
(``gymnasium.vector.VectorEnv``) of a batched core. The reduced-form AS env and the order-book
env differ only in their core, observations, action mapping and extra infos, which a model's
face class provides; reset, step, next-step autoreset, seeding and infos live here once.

A model's face class (mixed in before :class:`SingleFace` / :class:`VectorFace`) sets, in
``_build``: ``self.params``, ``self.market`` (the core: ``reset(rng)``, ``step(x)``,
``pnl()``, ``done``, ``ledger``, ``mid``, ``n_paths``), ``self.reward_fn``,
``self.render_mode``, ``self.observation_names``, ``self.action_names``, and ``self._trace``
(a :class:`~asmm_env.envs._render.PathTrace` or None); and implements ``_observations()``
(n_paths, d), ``_core_action(action)`` (what ``market.step`` takes), ``_extra_infos()`` and
``_render_text(path)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from pettingzoo import ParallelEnv

from asmm_env.envs._common import LEDGER_KEYS, ParallelSeeding, agent_depths


def _read_only(view: np.ndarray) -> np.ndarray:
    view.flags.writeable = False
    return view


class Face:
    """Stepping, rewards and infos shared by the single and vector faces."""

    _trace = None

    def _advance(self, action: Any) -> np.ndarray:
        """One step of every path; returns the reward of the (first) agent, (n_paths,)."""
        core_action = self._core_action(action)
        if self._trace is not None:
            self._trace_step(core_action)
        else:
            self.market.step(core_action)
        pnl = self.market.pnl()
        reward = self.reward_fn(pnl - self._pnl, self.market)
        self._pnl = pnl
        return reward[:, 0]

    def _start(self, seed: Any) -> None:
        """Reset the core: from ``seed`` (an int or list of ints from ``reset(seed=...)``),
        or, without one, from a draw of the env's generator (so episodes after a seeded
        reset, autoresets included, are reproducible too). See :mod:`asmm_env.streams`."""
        self.market.reset(self.np_random if seed is None else seed)
        self._pnl = np.zeros((self.market.n_paths, 1))
        if self._trace is not None:
            self._trace.clear()

    def _info_arrays(self) -> dict[str, np.ndarray]:
        """The ledger of every path, (n_paths,) each. The ledger binds new arrays at every step,
        so views of them keep this step's values without a copy; they are read-only so that
        nobody can corrupt the ledger through them."""
        led = self.market.ledger
        infos = {key: _read_only(getattr(led, key)[:, 0]) for key in LEDGER_KEYS}
        infos["pnl"] = _read_only(self._pnl[:, 0])
        infos["mid"] = _read_only(self.market.mid.view())   # cores bind a new mid each step
        infos.update(self._extra_infos())
        return infos

    def _extra_infos(self) -> dict[str, np.ndarray]:
        return {}


class SingleFace(Face, gym.Env):
    """One path: ``reset`` / ``step`` return one observation and a dict of floats."""

    def _init_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._start(seed)
        return self._observations()[0], self._info()

    def step(self, action):
        reward = self._advance(action)
        return self._observations()[0], float(reward[0]), self.market.done, False, self._info()

    def _info(self) -> dict[str, float]:
        led = self.market.ledger
        # The first element of each field (the per-side ones read from their (.., 2) arrays:
        # no view per key), in LEDGER_KEYS order.
        fills, volume = led.fills, led.volume
        info = {"cash": led.cash.item(0), "inventory": led.inventory.item(0),
                "bid_fills": fills.item(0), "ask_fills": fills.item(1),
                "bid_volume": volume.item(0), "ask_volume": volume.item(1),
                "spread_capture": led.spread_capture.item(0),
                "inventory_pnl": led.inventory_pnl.item(0),
                "adverse_selection": led.adverse_selection.item(0), "fees": led.fees.item(0),
                "liquidation": led.liquidation.item(0), "pnl": self._pnl.item(0),
                "mid": self.market.mid.item(0)}
        extra = self._extra_infos()
        if extra:
            info.update({key: float(value[0]) for key, value in extra.items()})
        return info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return self._render_text()
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        return None


class VectorFace(Face, VectorEnv):
    """``num_envs`` paths stepped together, Gymnasium's next-step autoreset: every path has the
    same horizon, so all terminate together, and the step after the last one resets every
    path (its action is ignored, its rewards are 0). ``infos`` holds each key of the single
    env as an array ``(num_envs,)`` with its ``_key`` mask. ``reset(seed=s)`` seeds one
    episode's named streams (:mod:`asmm_env.streams`): with ``num_envs`` of at least
    ``BLOCK_PATHS`` the paths are those of ``rollout(..., seed=s)``. A list of ``num_envs``
    seeds (Gymnasium's vector convention) seeds the episode with the whole list
    (``SeedSequence(seeds)``): reproducible, but path i is not a function of ``seeds[i]``
    alone."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def _init_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.num_envs = self.market.n_paths
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.observation_space = batch_space(observation_space, self.num_envs)
        self.action_space = batch_space(action_space, self.num_envs)
        self._needs_reset = False
        self._mask = np.ones(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if isinstance(seed, (list, tuple, np.ndarray)):
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs or any(s < 0 for s in seeds):
                raise ValueError(f"seed must be an int >= 0 or a list of {self.num_envs} ints "
                                 f">= 0 (one per env), got {seed!r}")
            super().reset(seed=None)
            self._np_random = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seeds)))
            self._np_random_seed = seeds[0]
            seed = seeds
        else:
            super().reset(seed=seed)
        self._start(seed)
        self._needs_reset = False
        return self._observations(), self._infos()

    def step(self, actions):
        not_done = np.zeros(self.num_envs, dtype=bool)
        if self._needs_reset:   # next-step autoreset: this step only starts new episodes
            self._start(None)
            self._needs_reset = False
            return (self._observations(), np.zeros(self.num_envs), not_done, not_done.copy(),
                    self._infos())
        reward = self._advance(actions)
        self._needs_reset = done = self.market.done
        return (self._observations(), reward, np.full(self.num_envs, done), not_done,
                self._infos())

    def _infos(self) -> dict[str, np.ndarray]:
        infos = self._info_arrays()
        for key in list(infos):
            infos["_" + key] = self._mask
        return infos

    def render(self) -> tuple[str, ...] | np.ndarray | None:
        if self.render_mode == "ansi":
            return tuple(self._render_text(i) for i in range(min(self.num_envs, 8)))
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        return None


class ParallelFace(ParallelSeeding, ParallelEnv):
    """The PettingZoo parallel face of a core with one path and ``n_agents`` agents, shared by
    the reduced-form and order-book competition envs. A model's class calls
    ``_init_agents`` in its constructor (after setting ``params``, ``market``, ``reward_fn``,
    ``render_mode``) and implements ``_step_core(depths) -> volume`` (which also sets
    ``self._last``, the step's quotes for the infos), ``_observation_rows()``
    (n_agents, d) and ``_last_info(i)`` (the step keys of agent i's info)."""

    def _init_agents(self, n_agents: int, observation_space: Callable[[], gym.Space],
                     action_space: Callable[[], gym.Space]) -> None:
        """Agents ``maker_0 .. maker_{n-1}``, each with its own space objects (built by the
        two factories), the same object on every call."""
        self.possible_agents = [f"maker_{i}" for i in range(n_agents)]
        self.agents: list[str] = []
        self.agent_name_mapping = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._observation_spaces = {agent: observation_space() for agent in self.possible_agents}
        self._action_spaces = {agent: action_space() for agent in self.possible_agents}
        self._pnl = np.zeros((1, n_agents))
        self._last: dict[str, np.ndarray] | None = None

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Box:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode (the core's starting state). ``seed`` re-seeds the generator;
        without it the generator carries on (a fresh one the first time)."""
        rng = self.reseed(seed)
        self.market.reset(rng if seed is None else seed)
        self.agents = self.possible_agents[:]
        self._pnl = np.zeros((1, len(self.possible_agents)))
        self._last = None
        return self._observations(), self._infos()

    def step(self, actions: dict[str, Any]):
        """One step of length ``dt`` with every live agent's action; returns
        ``(observations, rewards, terminations, truncations, infos)``, dicts by agent."""
        if not self.agents:
            raise RuntimeError("the episode is over (or not started): call reset() before step()")
        depths = agent_depths(actions, self.agents, self.possible_agents,
                              self.params.action_map)
        self._step_core(depths)
        pnl = self.market.pnl()
        rewards = self.reward_fn(pnl - self._pnl, self.market)[0]
        self._pnl = pnl
        done, agents = self.market.done, self.agents
        obs, infos = self._observations(), self._infos()
        rewards = {agent: float(rewards[self.agent_name_mapping[agent]]) for agent in agents}
        terminations = dict.fromkeys(agents, done)
        truncations = dict.fromkeys(agents, False)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def close(self) -> None:
        pass

    def _render_check(self) -> bool:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' "
                            "to the constructor")
            return False
        return True

    def _observations(self) -> dict[str, np.ndarray]:
        rows = self._observation_rows()
        return {agent: rows[self.agent_name_mapping[agent]] for agent in self.agents}

    def _infos(self) -> dict[str, dict[str, float]]:
        led, mid = self.market.ledger, float(self.market.mid[0])
        # One conversion per ledger field (a row of Python floats), not one per agent.
        columns = [(key, getattr(led, key)[0].tolist()) for key in LEDGER_KEYS]
        pnl = self._pnl[0].tolist()
        infos = {}
        for agent in self.agents:
            i = self.agent_name_mapping[agent]
            info = {key: values[i] for key, values in columns}
            info["fills"] = info["bid_fills"] + info["ask_fills"]
            info["pnl"] = pnl[i]
            info["mid"] = mid
            if self._last is not None:
                info.update(self._last_info(i))
            infos[agent] = info
        return infos
