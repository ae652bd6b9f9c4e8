"""Self-financing ledger per path and agent, with the PnL decomposition of DESIGN.md.

Identities (every path, every step, to float rounding)::

    pnl = cash + inventory * mid - (cash_0 + q_0 * mid_0)
        = spread_capture + inventory_pnl + fees
    spread_capture    = sum over fills of side * (mid at fill - fill price) = sum of filled depths
    inventory_pnl     = sum over steps of inventory * (mid after - mid before)
    adverse_selection = sum over fills of side * (mid h steps later - mid at fill)

side is +1 for a buy (our bid hit), -1 for a sell. Adverse selection is a part of inventory
PnL (it is not added again); fills less than h steps before the end are measured to the
terminal mid. Money in price units x shares, float64.
"""

from __future__ import annotations

import numpy as np

FIELDS = ("cash", "inventory", "spread_capture", "inventory_pnl", "adverse_selection",
          "fees", "bid_fills", "ask_fills", "max_abs_inventory")


class Ledger:
    """Cash, inventory and PnL accumulators, arrays of shape ``(n_paths, n_agents)``.

    Parameters
    ----------
    n_paths, n_agents : int
        Batch shape.
    horizon : int
        Adverse-selection horizon h, in steps (>= 1).
    fee : float
        Fee per share filled, price units (negative: rebate).
    """

    def __init__(self, n_paths: int, n_agents: int = 1, horizon: int = 1, fee: float = 0.0):
        self.shape = (n_paths, n_agents)
        self.horizon, self.fee = horizon, fee
        self._step = 0
        for name in FIELDS:
            setattr(self, name, np.zeros(self.shape))
        self.initial_value = np.zeros(self.shape)
        self._pending_net = np.zeros((horizon, *self.shape))   # signed shares filled at step i
        self._pending_mid = np.zeros((horizon, n_paths))        # mid at step i
        # Scratch buffers: the hot path writes into these instead of fresh arrays.
        self._edge, self._tmp = np.empty(self.shape), np.empty(self.shape)
        self._move = np.empty(n_paths)

    def reset(self, q0: float | np.ndarray, mid: np.ndarray, cash0: float = 0.0) -> None:
        for name in FIELDS:
            getattr(self, name).fill(0.0)
        self.inventory[...] = q0
        self.cash[...] = cash0
        self.max_abs_inventory[...] = np.abs(self.inventory)
        self.initial_value[...] = self.cash + self.inventory * mid[:, None]
        self._pending_net.fill(0.0)
        self._step = 0

    def record_fills(self, mid: np.ndarray, depths: np.ndarray, volume: np.ndarray,
                     fill_mid: np.ndarray | None = None) -> None:
        """Book the step's fills: ``volume`` shares (n_paths, n_agents, 2) at the quotes
        ``depths`` (same shape, (bid, ask)) around ``mid`` (n_paths,).

        ``fill_mid`` (same shape as ``volume``, optional): the volume-weighted mid at the fills
        of each side, when the mid moves within the step (an event-driven book fills at
        several mids). The fills are then at ``fill_mid -/+ depths``, and the filled shares
        were not held while the mid went from ``mid`` to ``fill_mid``: that part,
        ``side * volume * (mid - fill_mid)``, is booked to ``inventory_pnl`` and to
        ``adverse_selection``, so the identities hold with ``record_move(mid, new_mid)``.
        """
        bought, sold = volume[..., 0], volume[..., 1]
        slot = self._step % self.horizon
        net = np.subtract(bought, sold, out=self._pending_net[slot])   # kept for adverse sel.
        self._pending_mid[slot] = mid
        # A fill at mid -/+ depth earns the depth per share against the mid.
        edge = np.multiply(bought, depths[..., 0], out=self._edge)
        edge += np.multiply(sold, depths[..., 1], out=self._tmp)
        self.spread_capture += edge
        edge -= np.multiply(net, mid[:, None], out=self._tmp)
        self.cash += edge
        if fill_mid is not None:
            late = np.multiply(bought, np.subtract(mid[:, None], fill_mid[..., 0]),
                               out=self._tmp)
            late -= sold * np.subtract(mid[:, None], fill_mid[..., 1])
            self.cash += late
            self.inventory_pnl += late
            self.adverse_selection += late
        self.inventory += net
        if self.fee:
            fees = np.add(bought, sold, out=self._tmp)
            fees *= self.fee
            self.cash -= fees
            self.fees -= fees
        self.bid_fills += bought > 0
        self.ask_fills += sold > 0
        np.maximum(self.max_abs_inventory, np.abs(self.inventory, out=self._tmp),
                   out=self.max_abs_inventory)

    def record_move(self, old_mid: np.ndarray, new_mid: np.ndarray, final: bool = False) -> None:
        """Mark the inventory to the new mid; settle fills made h steps ago (all, if final)."""
        move = np.subtract(new_mid, old_mid, out=self._move)
        self.inventory_pnl += np.multiply(self.inventory, move[:, None], out=self._tmp)
        self._step += 1
        slots = range(self.horizon) if final else (self._step % self.horizon,)
        for slot in slots:
            move = np.subtract(new_mid, self._pending_mid[slot], out=self._move)
            self.adverse_selection += np.multiply(self._pending_net[slot], move[:, None],
                                                  out=self._tmp)
            self._pending_net[slot] = 0.0

    def pnl(self, mid: np.ndarray) -> np.ndarray:
        """Mark-to-market PnL since the start, price units x shares, (n_paths, n_agents)."""
        return self.cash + self.inventory * mid[:, None] - self.initial_value

    def decomposition_residual(self, mid: np.ndarray) -> np.ndarray:
        """``pnl - (spread_capture + inventory_pnl + fees)``: float rounding only."""
        return self.pnl(mid) - (self.spread_capture + self.inventory_pnl + self.fees)
