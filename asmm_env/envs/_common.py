"""What every environment face shares: splitting keyword arguments into market parameters and
the face's own options, the reward option, the render-mode check and the ledger's info keys.
Used by the Gymnasium faces (:mod:`asmm_env.envs.avellaneda_stoikov`) and the PettingZoo
face (:mod:`asmm_env.competition_v0`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asmm_env.params import MarketParams
from asmm_env.rewards import build_reward

# Options every face takes besides the MarketParams fields.
ENV_KEYS = frozenset({"reward", "inventory_penalty", "risk_aversion", "render_mode",
                      "price_model", "fill_model"})

# Ledger fields reported in infos, per agent (see asmm_env.ledger).
LEDGER_KEYS = ("cash", "inventory", "bid_fills", "ask_fills", "spread_capture",
               "inventory_pnl", "adverse_selection", "fees")


def split_kwargs(kwargs: dict[str, Any], env_keys: Iterable[str] = ENV_KEYS,
                 ) -> tuple[MarketParams, dict[str, Any]]:
    """Market parameters (``MarketParams`` fields, or ``params=`` plus overrides) vs the
    face's own options (the keys in ``env_keys``). ``kwargs`` is consumed."""
    env_keys = frozenset(env_keys)
    env_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in env_keys}
    params = kwargs.pop("params", None)
    if params is None:
        params = MarketParams.from_kwargs(**kwargs)
    elif not isinstance(params, MarketParams):
        raise TypeError(f"params must be a MarketParams, got {type(params).__name__}")
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
