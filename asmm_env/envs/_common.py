"""What every environment face shares: splitting keyword arguments into market parameters and
the face's own options, the reward option, the render-mode check and the ledger's info keys;
for the PettingZoo faces also the agent count check, the per-agent action conversion and the
seeding. Used by the Gymnasium faces (:mod:`asmm_env.envs.avellaneda_stoikov`,
:mod:`asmm_env.lob.env`) and the PettingZoo faces (:mod:`asmm_env.competition_v0`,
:mod:`asmm_env.lob.competition`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from asmm_env.actions import ActionMap
from asmm_env.params import MarketParams
from asmm_env.rewards import build_reward

# Options every face takes besides the MarketParams fields.
ENV_KEYS = frozenset({"reward", "inventory_penalty", "risk_aversion", "render_mode",
                      "price_model", "fill_model", "engine", "latency"})

# Ledger fields reported in infos, per agent (see asmm_env.ledger).
LEDGER_KEYS = ("cash", "inventory", "bid_fills", "ask_fills", "bid_volume", "ask_volume",
               "spread_capture", "inventory_pnl", "adverse_selection", "fees", "liquidation")


def split_kwargs(kwargs: dict[str, Any], env_keys: Iterable[str] = ENV_KEYS,
                 params_cls: type = MarketParams) -> tuple[Any, dict[str, Any]]:
    """Market parameters (``params_cls`` fields, or ``params=`` plus overrides) vs the
    face's own options (the keys in ``env_keys``). ``kwargs`` is consumed. ``params_cls`` is
    a frozen parameter dataclass with ``from_kwargs`` and ``replace`` (``MarketParams``, or
    ``asmm_env.lob.BookParams`` for the order-book faces)."""
    env_keys = frozenset(env_keys)
    env_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in env_keys}
    params = kwargs.pop("params", None)
    if params is None:
        params = params_cls.from_kwargs(**kwargs)
    elif not isinstance(params, params_cls):
        raise TypeError(f"params must be a {params_cls.__name__}, got {type(params).__name__}")
    elif kwargs:
        params = params.replace(**kwargs)
    return params, env_kwargs


def reward_from(env_kwargs: dict[str, Any]):
    """The reward function the options ``reward``, ``inventory_penalty``, ``risk_aversion``
    describe (default: the PnL increment); see :func:`asmm_env.rewards.build_reward`."""
    return build_reward(env_kwargs.get("reward", "pnl"), env_kwargs.get("inventory_penalty", 0.0),
                        env_kwargs.get("risk_aversion", 0.1))


def check_render_mode(render_mode: str | None, render_modes: Iterable[str]) -> str | None:
    """``render_mode`` if it is None or one of ``render_modes``, else ``ValueError``."""
    render_modes = list(render_modes)
    if render_mode is not None and render_mode not in render_modes:
        raise ValueError(f"render_mode must be one of {render_modes} or None, "
                         f"got {render_mode!r}")
    return render_mode


# --- PettingZoo faces ------------------------------------------------------------------------

def check_n_agents(n_agents: Any) -> int:
    """``n_agents`` as an int if it is an integer >= 1, else ``ValueError`` naming it."""
    if (not isinstance(n_agents, (int, np.integer)) or isinstance(n_agents, bool)
            or n_agents < 1):
        raise ValueError(f"n_agents must be an integer >= 1, got {n_agents!r}")
    return int(n_agents)


def agent_depths(actions: Mapping[str, Any], live_agents: Sequence[str],
                 possible_agents: Sequence[str], action_map: ActionMap) -> np.ndarray:
    """Every agent's action ``(bid, ask)`` in [-1, 1] as depths in price units,
    ``(1, n_agents, 2)`` in the order of ``possible_agents`` (all of them live while an
    episode runs: the agents terminate together).

    ``actions`` must hold one entry per live agent and no other; a missing, unknown or
    malformed action raises ``ValueError`` naming the agent (see
    :meth:`asmm_env.actions.ActionMap.to_depths` for the checks and the clipping)."""
    missing = [agent for agent in live_agents if agent not in actions]
    unknown = [agent for agent in actions if agent not in possible_agents]
    if missing or unknown:
        raise ValueError(f"actions must have one entry per live agent {list(live_agents)}; "
                         f"missing {missing}, unknown {unknown}")
    try:
        # One conversion for all agents; a misfit falls through to the per-agent checks,
        # which name the agent.
        stacked = np.array([actions[agent] for agent in possible_agents], dtype=np.float64)
        if stacked.shape == (len(possible_agents), 2):
            return action_map.to_depths(stacked, len(possible_agents)).reshape(1, -1, 2)
    except (ValueError, TypeError):
        pass
    depths = np.empty((1, len(possible_agents), 2))
    for i, agent in enumerate(possible_agents):
        try:
            depths[0, i] = action_map.to_depths(actions[agent], 1)[0]
        except ValueError as error:
            raise ValueError(f"actions[{agent!r}]: {error}") from error
    return depths


class ParallelSeeding:
    """The generator of a PettingZoo ``ParallelEnv``: ``np_random`` (a fresh one on first
    use), re-seeded by ``reseed(seed)`` from ``reset(seed=...)``; every draw comes from it."""

    _np_random: np.random.Generator | None = None
    _np_random_seed: int | None = None

    @property
    def np_random(self) -> np.random.Generator:
        """The env's generator (seeded by ``reset(seed=...)``); every draw comes from it."""
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    def reseed(self, seed: int | None) -> np.random.Generator:
        """Re-seed if ``seed`` is given (else carry on with the current stream); returns the
        generator."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        return self.np_random
