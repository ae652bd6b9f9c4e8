"""Reward functions: what a step is worth to an agent, from the market after the step.

A reward is called as ``reward(pnl_change, market)`` with the step's change of mark-to-market
PnL (n_paths, n_agents) and returns an array of the same shape.
"""

from __future__ import annotations

import numpy as np

from asmm_env.validation import check_non_negative, check_positive


class PnLIncrement:
    """The change of mark-to-market PnL over the step, price units x shares (the default)."""

    name = "pnl"

    def __call__(self, pnl_change: np.ndarray, market) -> np.ndarray:
        return pnl_change


class InventoryPenalty:
    """PnL increment minus a running inventory penalty ``phi * q^2 * dt``.

    phi : money per share^2 per unit time (>= 0); the running penalty of Cartea, Jaimungal &
    Penalva (2015), ch. 10.
    """

    name = "inventory_penalty"

    def __init__(self, phi: float) -> None:
        check_non_negative("inventory_penalty", phi)
        self.phi = phi

    def __call__(self, pnl_change: np.ndarray, market) -> np.ndarray:
        q = market.ledger.inventory
        return pnl_change - self.phi * market.params.dt * q * q


class TerminalCARA:
    """Zero until the last step, then the CARA utility ``-exp(-gamma * PnL_T)`` of terminal PnL.

    gamma : risk aversion, 1 / money (> 0), as in Avellaneda & Stoikov (2008) eq. (1).
    """

    name = "cara"

    def __init__(self, gamma: float) -> None:
        check_positive("risk_aversion", gamma)
        self.gamma = gamma

    def __call__(self, pnl_change: np.ndarray, market) -> np.ndarray:
        if not market.done:
            return np.zeros_like(pnl_change)
        return -np.exp(-self.gamma * market.pnl())


REWARDS = ("pnl", "inventory_penalty", "cara")


def build_reward(reward: str | object, inventory_penalty: float = 0.0,
                 risk_aversion: float = 0.1):
    """The reward named ``reward`` ("pnl", "inventory_penalty", "cara"), or a callable as is."""
    if callable(reward):
        return reward
    if reward == "pnl":
        return PnLIncrement()
    if reward == "inventory_penalty":
        return InventoryPenalty(inventory_penalty)
    if reward == "cara":
        return TerminalCARA(risk_aversion)
    raise ValueError(f"reward must be one of {REWARDS} or a callable, got {reward!r}")
