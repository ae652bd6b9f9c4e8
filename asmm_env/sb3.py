"""Stable-Baselines3 on the native vector envs: :class:`SB3VecEnv` presents a
``gymnasium.vector.VectorEnv`` of this package (many paths stepped as one numpy batch) as
an SB3 ``VecEnv``, so PPO, SAC, ... train on it unchanged. Needs the optional extra ``sb3``
(``pip install asmm_env[sb3]``); nothing else in the package imports this module.

SB3's vector convention differs from Gymnasium's in two ways, both handled here: SB3 resets
a finished env inside ``step`` and hands back the last observation of the episode as
``infos[i]["terminal_observation"]`` (our envs reset on the next step, and every path of an
episode ends at once), and ``seed(s)`` applies at the next ``reset``.

Example
-------
>>> import gymnasium as gym, asmm_env                            # doctest: +SKIP
>>> from stable_baselines3 import PPO
>>> from asmm_env.sb3 import SB3VecEnv
>>> envs = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=16,
...                     vectorization_mode="vector_entry_point")
>>> model = PPO("MlpPolicy", SB3VecEnv(envs), seed=0).learn(100_000)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv


class SB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` over one of this package's native vector envs (``num_envs`` paths).

    Parameters
    ----------
    venv : gymnasium.vector.VectorEnv
        E.g. ``gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=16,
        vectorization_mode="vector_entry_point")``.
    info_keys : tuple of str
        Keys of the vector env's infos copied into SB3's per-env info dicts (default:
        ``("pnl",)``; every key costs a Python dict entry per path and step).
    """

    def __init__(self, venv: Any, info_keys: tuple[str, ...] = ("pnl",)) -> None:
        self.venv = venv
        self.info_keys = tuple(info_keys)
        self._actions: np.ndarray | None = None
        self._next_seed: int | None = None
        super().__init__(venv.num_envs, venv.single_observation_space,
                         venv.single_action_space)
        self.render_mode = getattr(venv, "render_mode", None)

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next reset (SB3 calls this with the model's seed)."""
        self._next_seed = seed
        return [seed] * self.num_envs

    def reset(self) -> np.ndarray:
        obs, _ = self.venv.reset(seed=self._next_seed)
        self._next_seed = None
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float64)

    def step_wait(self):
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        dones = terminated | truncated
        out = [{key: float(infos[key][i]) for key in self.info_keys if key in infos}
               for i in range(self.num_envs)]
        if dones.any():
            # Every path of an episode ends together: reset all, SB3-style, in this step.
            for i in np.flatnonzero(dones):
                out[i]["terminal_observation"] = obs[i]
                out[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            obs, _ = self.venv.reset()
        return obs, np.asarray(rewards, dtype=np.float64), dones, out

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self.venv.unwrapped if hasattr(self.venv, "unwrapped") else self.venv,
                        attr_name)
        return [value] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.venv.unwrapped if hasattr(self.venv, "unwrapped") else self.venv,
                attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        target = self.venv.unwrapped if hasattr(self.venv, "unwrapped") else self.venv
        result = getattr(target, method_name)(*args, **kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
