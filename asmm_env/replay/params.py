"""Parameters of the replay of recorded data, one frozen dataclass.

Units are the data's: time in its time unit (seconds for LOBSTER and for numeric
trades/quotes timestamps), prices in currency units, sizes in shares. Every field is validated
on construction and an error names the field, the value and its allowed range. Fields left
``None`` are taken from the data when the replay is built (:meth:`ReplayParams.resolve`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from asmm_env.actions import ActionMap
from asmm_env.replay.latency import ConstantLatency, as_latency
from asmm_env.validation import (
    check_choice,
    check_finite,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_whole_steps,
)

QUEUE_RULES = ("pro_rata", "random", "worst")


@dataclass(frozen=True)
class ReplayParams:
    """How a policy's quotes are replayed against recorded data.

    Parameters
    ----------
    T : float or None
        Episode length, time units (> 0): each dataset (day) is cut into consecutive slices
        of length ``T`` from ``start``; ``T / dt`` must be a whole number. ``None``: the
        shortest dataset's span, rounded down to whole steps (one slice per day).
    start : float or None
        When the first slice of every dataset starts, the data's time (e.g. 34200.0, 09:30
        in LOBSTER's seconds after midnight); before a dataset's first row its book is
        taken as that row's. ``None``: each dataset's first row.
    dt : float
        Decision step, time units (> 0): the policy re-quotes every ``dt``.
    q0 : float
        Initial inventory, shares.
    order_size : float
        Shares of each of our orders (> 0); fills may be partial.
    fee : float
        Fee per share filled, currency units; negative is a maker rebate.
    max_inventory : float or None
        Inventory bound Q, shares (> 0): no bid while ``q + order_size > Q``, no ask while
        ``q - order_size < -Q``, and a fill is cut at the bound. ``None``: unbounded.
    queue : {"pro_rata", "random", "worst"}
        Where cancellations of unknown position happen in our level's queue (a net decrease
        D of the V shares shown there, beyond the trades):
        ``"pro_rata"`` (default): in proportion to the shares ahead of and behind us, so we
        move up by ``D * ahead / V`` (the expected move; positions become fractional);
        ``"random"``: the D shares left from one uniformly random place of the queue, ahead
        of us with probability ``ahead / V`` (then we move up by D): pro-rata on average,
        exact for a book of unit orders (draws from the ``"queue"`` stream);
        ``"worst"``: always behind us (we advance only by trades, or when the level holds
        fewer shares than we thought were ahead).
    entry_latency, cancel_latency : float or latency model
        Delay of a new order (or a price change) and of a cancel, time units: a number
        (>= 0 and < dt) or a model of :mod:`asmm_env.replay.latency` (draws clipped below dt).
    tick_size : float or None
        Price grid, currency units (>= 0; 0: continuous prices). Quotes are rounded away
        from the mid onto the grid (a bid down, an ask up), so they meet the data's levels.
        ``None``: the data's (``LobsterData.tick_size``), else 0.
    min_depth, max_depth : float or None
        Depths (currency units) of actions -1 and +1 (:class:`~asmm_env.actions.ActionMap`).
        ``None``: ``max_depth`` is the largest distance from the mid to the deepest level the
        data show, ``min_depth = -max_depth``.
    adverse_selection_steps : int
        Horizon h, decision steps, of the ledger's adverse-selection measure.
    liquidation_cost : float
        Cost per share of ``|q_T|`` charged at the end of an episode (>= 0; 0 values the
        inventory at the mid).
    """

    T: float | None = None
    start: float | None = None
    dt: float = 1.0
    q0: float = 0.0
    order_size: float = 1.0
    fee: float = 0.0
    max_inventory: float | None = None
    queue: str = "pro_rata"
    entry_latency: Any = 0.0
    cancel_latency: Any = 0.0
    tick_size: float | None = None
    min_depth: float | None = None
    max_depth: float | None = None
    adverse_selection_steps: int = 10
    liquidation_cost: float = 0.0

    def __post_init__(self) -> None:
        check_positive("dt", self.dt)
        check_positive("order_size", self.order_size)
        for name in ("q0", "fee"):
            check_finite(name, getattr(self, name))
        check_non_negative("liquidation_cost", self.liquidation_cost)
        check_choice("queue", self.queue, QUEUE_RULES)
        check_positive_int("adverse_selection_steps", self.adverse_selection_steps)
        if self.T is not None:
            check_positive("T", self.T)
            check_whole_steps(self.T, self.dt)
        if self.start is not None:
            check_finite("start", self.start)
        if self.max_inventory is not None:
            check_positive("max_inventory", self.max_inventory)
            if abs(self.q0) > self.max_inventory:
                raise ValueError(f"q0 must be in [-max_inventory, max_inventory] = "
                                 f"[{-self.max_inventory}, {self.max_inventory}], got "
                                 f"{self.q0!r}")
        if self.tick_size is not None:
            check_non_negative("tick_size", self.tick_size)
        for name in ("entry_latency", "cancel_latency"):
            model = as_latency(getattr(self, name), name)
            if isinstance(model, ConstantLatency) and model.seconds >= self.dt:
                raise ValueError(f"{name} must be < dt = {self.dt!r} (an instruction resolves "
                                 f"within a decision step), got {getattr(self, name)!r}")
        if self.max_depth is not None:
            check_positive("max_depth", self.max_depth)
        if self.min_depth is not None:
            check_finite("min_depth", self.min_depth)
            if self.max_depth is not None and self.min_depth >= self.max_depth:
                raise ValueError(f"min_depth must be < max_depth = {self.max_depth!r}, got "
                                 f"{self.min_depth!r}")

    @property
    def n_steps(self) -> int:
        """Decision steps per episode, ``T / dt`` (``T`` must be set: see :meth:`resolve`)."""
        if self.T is None:
            raise ValueError("T is None: it is set from the data when the replay is built "
                             "(use the env's params, env.unwrapped.params)")
        return check_whole_steps(self.T, self.dt)

    @property
    def depth_bound(self) -> float:
        """``max_depth``, currency units (set from the data when None)."""
        if self.max_depth is None:
            raise ValueError("max_depth is None: it is set from the data when the replay is "
                             "built (use the env's params, env.unwrapped.params)")
        return float(self.max_depth)

    @property
    def action_map(self) -> ActionMap:
        """Actions in [-1, 1] to depths in ``[min_depth, max_depth]`` (currency units)."""
        high = self.depth_bound
        return ActionMap(-high if self.min_depth is None else float(self.min_depth), high)

    def latency(self, which: str):
        """The latency model of ``"entry"`` or ``"cancel"``."""
        return as_latency(getattr(self, f"{which}_latency"), f"{which}_latency")

    def resolve(self, *, T: float, tick_size: float, max_depth: float) -> ReplayParams:
        """A copy with the fields left None filled in (from the data)."""
        changes = {}
        if self.T is None:
            changes["T"] = T
        if self.tick_size is None:
            changes["tick_size"] = tick_size
        if self.max_depth is None:
            changes["max_depth"] = max(max_depth, math.ulp(1.0))
            if self.min_depth is not None and self.min_depth >= changes["max_depth"]:
                changes["min_depth"] = None
        return self.replace(**changes) if changes else self

    def replace(self, **changes) -> ReplayParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kwargs) -> ReplayParams:
        """Build from keyword arguments, naming any unknown one in the error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise TypeError(f"unknown replay parameter(s) {unknown}; known: {sorted(fields)}")
        return cls(**kwargs)
