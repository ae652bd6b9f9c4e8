"""The one Policy protocol every baseline (and a user's own policy) implements.

``policy.act(observation) -> action``: observation ``(d,)`` or ``(n, d)`` whose first three
entries are (mid, inventory, time_remaining), as every env emits them (d = 3 for the AS envs;
the order-book env appends book features after them); action ``(2,)`` or ``(n, 2)`` in the
envs' units, ``(bid, ask)`` in [-1, 1] (``params.action_map``). Vectorised: one call
serves one path or a batch of paths. Policies are fixed (no learning) and deterministic
unless documented.

A strategic policy sets the class attribute ``observes_rivals = True``: the Monte Carlo runner
(:func:`asmm_env.rollout.rollout`) and the PettingZoo face
(``competition_v0.parallel_env(observe_rivals=True)``) then append the book's best rival bid
and ask depths to its observation, ``(mid, inventory, time_remaining, rival_bid_depth,
rival_ask_depth)`` (:func:`asmm_env.spaces.rival_observations`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from asmm_env.actions import ActionMap
from asmm_env.lob.params import BookParams
from asmm_env.params import MarketParams
from asmm_env.replay.params import ReplayParams

_PARAMS = (MarketParams, BookParams, ReplayParams)


@runtime_checkable
class Policy(Protocol):
    def act(self, observation: np.ndarray) -> np.ndarray: ...


def market_params(env: Any) -> MarketParams | BookParams | ReplayParams:
    """The parameters of any env this package registers: ``MarketParams`` of the reduced-form
    envs, ``BookParams`` of the order-book envs, ``ReplayParams`` of the replay env. Found
    through Gymnasium wrappers (``unwrapped``), Gymnasium's vector envs (sync: ``envs``;
    async: ``get_attr``), native vector envs and PettingZoo's AEC/parallel conversions; or
    the params themselves.

    Raises ``TypeError`` naming the object when none is found."""
    if isinstance(env, _PARAMS):
        return env
    todo, seen = [env], set()
    while todo:
        candidate = todo.pop(0)
        if candidate is None or id(candidate) in seen:
            continue
        seen.add(id(candidate))
        params = getattr(candidate, "params", None)
        if isinstance(params, _PARAMS):
            return params
        for attr in ("unwrapped", "env", "aec_env", "par_env"):
            todo.append(getattr(candidate, attr, None))
        todo.extend(getattr(candidate, "envs", None) or ())
        if callable(getattr(candidate, "get_attr", None)) and \
                getattr(candidate, "num_envs", None):
            try:   # an async vector env: its sub-envs live in other processes
                values = candidate.get_attr("params")
            except Exception:    # noqa: BLE001 (any env may refuse: then keep looking)
                values = ()
            todo.extend(type("_Holder", (), {"params": v})() for v in values[:1])
    raise TypeError(f"cannot find MarketParams, BookParams or ReplayParams on {env!r}: pass an "
                    "asmm_env env (wrapped or vectorised) or its params")


def model_parameter(params: Any, name: str, given: float | None) -> float:
    """``given`` if not None, else the model parameter ``name`` of ``params``. The order
    book and the replay have no ``sigma``, ``A`` or ``k`` (their flow is event by event or
    recorded): for them they must be given, e.g. estimated with :mod:`asmm_env.calibration`;
    the error says so."""
    if given is not None:
        return given
    value = getattr(params, name, None)
    if value is None:
        raise ValueError(f"{name} must be given for an env with {type(params).__name__} (it "
                         f"has no {name}: estimate it from the book, e.g. with "
                         f"asmm_env.calibration), got {name}=None")
    return value


class DepthPolicy:
    """Base class for policies that compute depths in price units: subclasses implement
    ``depths(observation) -> (bid_depth, ask_depth)`` (price units); ``act`` maps them to
    actions with ``action_map`` (the env's; see :class:`asmm_env.actions.ActionMap`). The
    Monte Carlo runner calls ``depths`` directly (no action round trip), clipped to the map's
    range as the env clips actions."""

    action_map: ActionMap

    def depths(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def act(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation, dtype=np.float64)
        if observation.ndim not in (1, 2) or observation.shape[-1] < 3:
            raise ValueError("observation must have shape (d,) or (n, d), d >= 3, starting "
                             f"(mid, inventory, time_remaining), got shape {observation.shape}")
        bid, ask = self.depths(observation)
        return self.action_map.to_action(bid, ask)
