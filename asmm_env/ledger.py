"""Self-financing ledger per path and agent, with the PnL decomposition of DESIGN.md.

Identities (every path, every step, to float rounding)::

    pnl = cash + inventory * mid - (cash_0 + q_0 * mid_0)
        = spread_capture + inventory_pnl + fees
    spread_capture    = sum over fills of side * (mid at fill - fill price) = sum of filled depths
    inventory_pnl     = sum over steps of inventory * (mid after - mid before)
    adverse_selection = sum over fills of side * (mid h steps later - mid at fill)

side is +1 for a buy (our bid hit), -1 for a sell. Adverse selection is a part of inventory
PnL (it is not added again); fills less than h steps before the end are measured to the
terminal mid. It is accumulated as the inventory PnL of the shares acquired in the last h
steps: sum over steps of (net shares filled in the last h steps) * (mid after - mid before),
which is the sum over fills above, rearranged (each fill's move over h steps is the sum of
the h one-step moves that follow it). Money in price units x shares, float64.
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
        self._recent_net = np.zeros((horizon, *self.shape))    # signed shares filled, by step
        self._recent = np.zeros(self.shape)                     # their sum over the last h

    # The public fields are never written in place: every update binds a new array, so an
    # array handed out (a vector env's infos) keeps its step's values without a copy. (Fresh
    # arrays are also the fast choice at both ends: an in-place or ``out=`` ufunc costs 3x
    # more per call on one path, and at 100k paths freed blocks are reused, see _allocator.)

    def reset(self, q0: float | np.ndarray, mid: np.ndarray, cash0: float = 0.0) -> None:
        for name in FIELDS:
            setattr(self, name, np.zeros(self.shape))
        self.inventory = self.inventory + q0
        self.cash = self.cash + cash0
        self.max_abs_inventory = np.abs(self.inventory)
        self.initial_value = self.cash + self.inventory * mid[:, None]
        self._recent_net.fill(0.0)
        self._recent = np.zeros(self.shape)
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
        net = bought - sold
        # The window of recent fills drops step t - h and takes step t (same ring slot).
        slot = self._step % self.horizon
        self._recent = self._recent + net - self._recent_net[slot]
        self._recent_net[slot] = net
        # A fill at mid -/+ depth earns the depth per share against the mid.
        edge = bought * depths[..., 0] + sold * depths[..., 1]
        self.spread_capture = self.spread_capture + edge
        cash = self.cash + (edge - net * mid[:, None])
        if fill_mid is not None:
            late = (bought * (mid[:, None] - fill_mid[..., 0])
                    - sold * (mid[:, None] - fill_mid[..., 1]))
            cash = cash + late
            self.inventory_pnl = self.inventory_pnl + late
            self.adverse_selection = self.adverse_selection + late
        if self.fee:
            fees = self.fee * (bought + sold)
            cash = cash - fees
            self.fees = self.fees - fees
        self.cash = cash
        self.inventory = self.inventory + net
        self.bid_fills = self.bid_fills + (bought > 0)
        self.ask_fills = self.ask_fills + (sold > 0)
        self.max_abs_inventory = np.maximum(self.max_abs_inventory, np.abs(self.inventory))

    def record_move(self, old_mid: np.ndarray, new_mid: np.ndarray) -> None:
        """Mark the inventory to the new mid; the shares filled in the last h steps take
        their part of the move as adverse selection (a window cut by the end of the episode
        is thereby measured to the terminal mid)."""
        move = (new_mid - old_mid)[:, None]
        self.inventory_pnl = self.inventory_pnl + self.inventory * move
        self.adverse_selection = self.adverse_selection + self._recent * move
        self._step += 1

    def pnl(self, mid: np.ndarray) -> np.ndarray:
        """Mark-to-market PnL since the start, price units x shares, (n_paths, n_agents)."""
        return self.cash + self.inventory * mid[:, None] - self.initial_value

    def decomposition_residual(self, mid: np.ndarray) -> np.ndarray:
        """``pnl - (spread_capture + inventory_pnl + fees)``: float rounding only."""
        return self.pnl(mid) - (self.spread_capture + self.inventory_pnl + self.fees)
