"""Self-financing ledger per path and agent, with the PnL decomposition of DESIGN.md.

Identities (every path, every step, to float rounding)::

    pnl = cash + inventory * mid - (cash_0 + q_0 * mid_0) + liquidation
        = spread_capture + inventory_pnl + fees + liquidation
    spread_capture    = sum over fills of side * (mid at fill - fill price) = sum of filled depths
    inventory_pnl     = sum over steps of inventory * (mid after - mid before)
    adverse_selection = sum over fills of side * (mid h steps later - mid at fill)

side is +1 for a buy (our bid hit), -1 for a sell. Adverse selection is a part of inventory
PnL (it is not added again); fills less than h steps before the end are measured to the
terminal mid. It is accumulated as the inventory PnL of the shares acquired in the last h
steps: sum over steps of (net shares filled in the last h steps) * (mid after - mid before),
which is the sum over fills above, rearranged (each fill's move over h steps is the sum of
the h one-step moves that follow it). ``liquidation`` is 0 until :meth:`Ledger.liquidate`
charges the cost of unwinding the terminal inventory (``MarketParams.liquidation_cost``).

Fills are counted as fills, not as steps with a fill: ``fills`` holds the number of fills
per side and ``volume`` the shares, ``(n_paths, n_agents, 2)`` (bid, ask);
``bid_fills``, ``ask_fills``, ``bid_volume``, ``ask_volume`` are views of them. Money in
price units x shares, float64.
"""

from __future__ import annotations

import numpy as np

FIELDS = ("cash", "inventory", "spread_capture", "inventory_pnl", "adverse_selection",
          "fees", "liquidation", "max_abs_inventory")
SIDE_FIELDS = ("fills", "volume")


class Ledger:
    """Cash, inventory and PnL accumulators, arrays of shape ``(n_paths, n_agents)``
    (``fills`` and ``volume``: ``(n_paths, n_agents, 2)``).

    Parameters
    ----------
    n_paths, n_agents : int
        Batch shape.
    horizon : int
        Adverse-selection horizon h, in steps (>= 1).
    fee : float
        Fee per share filled, price units (negative: rebate).
    order_size : float
        Shares per fill (> 0).
    """

    def __init__(self, n_paths: int, n_agents: int = 1, horizon: int = 1, fee: float = 0.0,
                 order_size: float = 1.0):
        self.shape = (n_paths, n_agents)
        self.horizon, self.fee, self.order_size = horizon, fee, float(order_size)
        self._step = 0
        self._recent_net = np.zeros((horizon, *self.shape))    # signed shares filled, by step
        self.reset(0.0, np.zeros(n_paths))

    # The public fields are never written in place: every update binds a new array, so an
    # array handed out (a vector env's infos) keeps its step's values without a copy. (Fresh
    # arrays are also the fast choice at both ends: an in-place or ``out=`` ufunc costs 3x
    # more per call on one path.)

    def reset(self, q0: float | np.ndarray, mid: np.ndarray, cash0: float = 0.0) -> None:
        zeros = np.zeros(self.shape)
        for name in FIELDS:
            setattr(self, name, zeros)     # shared until the first update rebinds each
        for name in SIDE_FIELDS:
            setattr(self, name, np.zeros((*self.shape, 2)))
        self.inventory = zeros + q0
        self.cash = zeros + cash0
        self.max_abs_inventory = np.abs(self.inventory)
        self.initial_value = self.cash + self.inventory * mid[:, None]
        self._recent_net.fill(0.0)
        self._recent = zeros
        self._step = 0

    @property
    def bid_fills(self) -> np.ndarray:
        """Fills of the bid (market sells taken), ``(n_paths, n_agents)``."""
        return self.fills[..., 0]

    @property
    def ask_fills(self) -> np.ndarray:
        """Fills of the ask (market buys taken), ``(n_paths, n_agents)``."""
        return self.fills[..., 1]

    @property
    def bid_volume(self) -> np.ndarray:
        """Shares bought, ``(n_paths, n_agents)``."""
        return self.volume[..., 0]

    @property
    def ask_volume(self) -> np.ndarray:
        """Shares sold, ``(n_paths, n_agents)``."""
        return self.volume[..., 1]

    def record_fills(self, mid: np.ndarray, depths: np.ndarray, fills: np.ndarray,
                     fill_mid: np.ndarray | None = None,
                     volume: np.ndarray | None = None) -> None:
        """Book the step's fills: ``fills`` (n_paths, n_agents, 2), the number of fills of
        ``order_size`` shares at the quotes ``depths`` (same shape, (bid, ask)) around ``mid``
        (n_paths,).

        ``volume`` (same shape, optional): the shares filled, when fills are not all of
        ``order_size`` shares (a replay's partial fills); ``depths`` are then the
        share-weighted mean depths. Default ``fills * order_size``.

        ``fill_mid`` (same shape as ``fills``, optional): the mean mid at the fills of each
        side, when the mid moves within the step (an event-driven book fills at several
        mids). The fills are then at ``fill_mid -/+ depths``, and the filled shares were not
        held while the mid went from ``mid`` to ``fill_mid``: that part,
        ``side * volume * (mid - fill_mid)``, is booked to ``inventory_pnl`` and to
        ``adverse_selection``, so the identities hold with ``record_move(mid, new_mid)``.
        """
        slot = self._step % self.horizon
        if fill_mid is None and volume is None and not fills.any():
            # No fill anywhere: only the adverse-selection window moves on.
            if self._recent_net[slot].any():
                self._recent = self._recent - self._recent_net[slot]
                self._recent_net[slot] = 0.0
            return
        if volume is None:
            volume = fills * self.order_size if self.order_size != 1.0 else fills
        bought, sold = volume[..., 0], volume[..., 1]
        net = bought - sold
        # The window of recent fills drops step t - h and takes step t (same ring slot).
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
        self.fills = self.fills + fills
        self.volume = self.volume + volume
        self.max_abs_inventory = np.maximum(self.max_abs_inventory, np.abs(self.inventory))

    def record_move(self, old_mid: np.ndarray, new_mid: np.ndarray) -> None:
        """Mark the inventory to the new mid; the shares filled in the last h steps take
        their part of the move as adverse selection (a window cut by the end of the episode
        is thereby measured to the terminal mid)."""
        move = (new_mid - old_mid)[:, None]
        self.inventory_pnl = self.inventory_pnl + self.inventory * move
        self.adverse_selection = self.adverse_selection + self._recent * move
        self._step += 1

    def liquidate(self, cost_per_share: float) -> None:
        """Charge ``cost_per_share * |inventory|`` (price units per share) for unwinding the
        terminal inventory; the inventory stays (it is valued, not traded)."""
        if cost_per_share:
            self.liquidation = self.liquidation - cost_per_share * np.abs(self.inventory)

    def pnl(self, mid: np.ndarray) -> np.ndarray:
        """PnL since the start, price units x shares, (n_paths, n_agents): marked to ``mid``,
        less the liquidation cost once charged."""
        return self.cash + self.inventory * mid[:, None] - self.initial_value + self.liquidation

    def decomposition_residual(self, mid: np.ndarray) -> np.ndarray:
        """``pnl - (spread_capture + inventory_pnl + fees + liquidation)``: float rounding."""
        return self.pnl(mid) - (self.spread_capture + self.inventory_pnl + self.fees
                                + self.liquidation)
