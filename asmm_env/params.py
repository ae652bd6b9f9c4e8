"""The market's parameters in one frozen dataclass, with the Avellaneda–Stoikov (2008) names.

Units: prices in price units (e.g. dollars), time in the model's time unit (AS 2008: one
trading session, T = 1), inventory in shares. Every field is validated on construction and
an error names the field, the value and its allowed range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from asmm_env.actions import ActionMap
from asmm_env.validation import (
    check_choice,
    check_finite,
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_whole_steps,
)

PRICE_DYNAMICS = ("gaussian", "binomial", "gbm")
FILL_RULES = ("poisson", "exponential", "linear")


@dataclass(frozen=True)
class MarketParams:
    """Parameters of the reduced-form AS market (defaults: the AS 2008 simulation setup).

    Parameters
    ----------
    s0 : float
        Initial midprice, price units (> 0).
    sigma : float
        Volatility of the midprice, price units per sqrt(time) (> 0). For ``"gbm"`` it is
        the relative volatility, 1 / sqrt(time).
    A : float
        Arrival rate of market orders on each side, orders per unit time (> 0).
    k : float
        Decay of the fill intensity ``A exp(-k delta)`` with the depth delta, 1 / price units (> 0).
    T : float
        Horizon, time units (> 0).
    dt : float
        Time step, time units (> 0); ``T / dt`` must be a whole number of steps.
    q0 : float
        Initial inventory, shares.
    price_dynamics : {"gaussian", "binomial", "gbm"}
        Midprice increments: ``sigma sqrt(dt) Z`` (arithmetic Brownian motion), the AS 2008
        walk ``+/- sigma sqrt(dt)`` with probability 1/2, or geometric Brownian motion.
    drift : float
        Drift of the midprice, price units per unit time (relative drift for ``"gbm"``).
    fill_rule : {"poisson", "exponential", "linear"}
        Market orders per step and side reaching a quote at depth delta (see
        ``asmm_env.fills``): ``Poisson(lambda dt)`` with the quote replenished after each fill
        (exact for quotes held over the step; the default), at most one
        (``1 - exp(-lambda dt)``), or at most one with probability ``min(lambda dt, 1)`` (the
        AS 2008 paper's discretisation). ``lambda = A min(1, exp(-k delta))``.
    order_size : float
        Shares per fill (> 0).
    max_inventory : float or None
        Hard inventory bound Q (> 0): no bid while ``q + order_size > Q``, no ask while
        ``q - order_size < -Q``. ``None`` means unbounded.
    fee : float
        Fee per share filled, price units; negative is a maker rebate.
    adverse_selection_steps : int
        Horizon h, in steps, of the adverse-selection measure ``side * (mid(t + h) - mid(t))``.
    toxicity : float
        Informed-flow strength in [0, 1]: market sells arrive at rate ``A (1 - toxicity)``
        before an up-move and ``A (1 + toxicity)`` before a down-move (buys mirrored), so the
        average rate is unchanged but fills precede adverse moves. 0 is the AS model.
    impact : float
        Permanent price impact of informed order flow, price units per share (>= 0): after
        market sells fill the makers' bids the mid falls by ``impact`` per share filled (buys
        lift it), so every fill is followed by an adverse move of known size, whatever dt.
        0 is the AS model. (Cartea, Jaimungal & Penalva 2015, section 10.4.)
    jump_intensity : float
        Rate of midprice jumps, per unit time (>= 0); 0 switches jumps off.
    jump_std : float
        Standard deviation of a jump, price units (>= 0).
    vol_of_vol : float
        Volatility of the variance in the stochastic-volatility model (>= 0); 0 switches it off.
        The variance ``v`` mean-reverts to ``sigma**2``:
        ``dv = kappa (sigma^2 - v) dt + vol_of_vol sqrt(v) dW'``.
    vol_mean_reversion : float
        kappa above, per unit time (> 0).
    min_depth : float or None
        The depth (price units) action -1 stands for (see ``action_map``; default ``-1 / k``).
    max_depth : float or None
        The depth (price units) action +1 stands for. ``None`` for both gives
        ``[-1 / k, 3 / k]``: action 0 is the depth ``1 / k`` a risk-neutral
        maker quotes (the AS quote as gamma -> 0), and the range spans the depths where fills
        happen (``A exp(-k delta)`` falls by ``e^-2`` from the centre to ``3 / k``; through the
        mid every order fills a quote, so deeper than ``-1 / k`` only worsens the price).
        Stable-Baselines3's PPO starts profitable there (and earns 0 on a box scaled to any
        depth); its training is measured in ``examples/train_ppo.py``. Any depths stay
        reachable: set both, e.g.
        ``max_depth = 10 sigma sqrt(T) + 10 / k`` for quotes that essentially never fill.
    tick_size : float
        Price grid, price units (>= 0; 0 is the continuous model). Quotes are rounded away
        from the mid onto the grid (a bid down, an ask up), so makers at one grid price share
        it by time priority.
    liquidation_cost : float
        Cost of unwinding the terminal inventory, price units per share of ``|q_T|`` (>= 0;
        e.g. half the market's spread to cross it). 0 (the default) values the terminal
        inventory at the mid, as the AS model does. Booked in the ledger's ``liquidation``
        at the last step.
    """

    s0: float = 100.0
    sigma: float = 2.0
    A: float = 140.0
    k: float = 1.5
    T: float = 1.0
    dt: float = 0.005
    q0: float = 0.0
    price_dynamics: str = "gaussian"
    drift: float = 0.0
    fill_rule: str = "poisson"
    order_size: float = 1.0
    max_inventory: float | None = None
    fee: float = 0.0
    adverse_selection_steps: int = 10
    toxicity: float = 0.0
    impact: float = 0.0
    jump_intensity: float = 0.0
    jump_std: float = 0.0
    vol_of_vol: float = 0.0
    vol_mean_reversion: float = 5.0
    min_depth: float | None = None
    max_depth: float | None = None
    tick_size: float = 0.0
    liquidation_cost: float = 0.0

    def __post_init__(self) -> None:
        for name in ("s0", "sigma", "A", "k", "T", "dt", "order_size", "vol_mean_reversion"):
            check_positive(name, getattr(self, name))
        for name in ("q0", "drift", "fee"):
            check_finite(name, getattr(self, name))
        for name in ("impact", "jump_intensity", "jump_std", "vol_of_vol", "tick_size",
                     "liquidation_cost"):
            check_non_negative(name, getattr(self, name))
        check_in_range("toxicity", self.toxicity, 0.0, 1.0)
        check_choice("price_dynamics", self.price_dynamics, PRICE_DYNAMICS)
        check_choice("fill_rule", self.fill_rule, FILL_RULES)
        check_positive_int("adverse_selection_steps", self.adverse_selection_steps)
        if self.max_inventory is not None:
            check_positive("max_inventory", self.max_inventory)
            if abs(self.q0) > self.max_inventory:
                raise ValueError(
                    f"q0 must be in [-max_inventory, max_inventory] = "
                    f"[{-self.max_inventory}, {self.max_inventory}], got {self.q0!r}"
                )
        if self.max_depth is not None:
            check_finite("max_depth", self.max_depth)
        if self.min_depth is not None:
            check_finite("min_depth", self.min_depth)
        low, high = self._depth_range()
        if low >= high and self.min_depth is not None:
            raise ValueError(f"min_depth must be < max_depth = {high!r}, got {low!r}")
        if low >= high:
            raise ValueError(f"max_depth must be > min_depth = {low!r}, got {high!r}")
        check_whole_steps(self.T, self.dt)
        if self.vol_of_vol > 0 and self.price_dynamics != "gaussian":
            raise ValueError(
                f"vol_of_vol must be 0 unless price_dynamics='gaussian' (stochastic volatility "
                f"drives Gaussian increments), got vol_of_vol={self.vol_of_vol!r} with "
                f"price_dynamics={self.price_dynamics!r}"
            )

    @property
    def n_steps(self) -> int:
        """Number of decision steps in an episode, ``T / dt``."""
        return check_whole_steps(self.T, self.dt)

    @property
    def depth_bound(self) -> float:
        """The deepest quote an action reaches, price units (``max_depth``)."""
        if self.max_depth is not None:
            return float(self.max_depth)
        return 3.0 / self.k

    @property
    def action_map(self) -> ActionMap:
        """Actions in [-1, 1] to depths in ``[min_depth, max_depth]`` (price units)."""
        return ActionMap(*self._depth_range())

    def _depth_range(self) -> tuple[float, float]:
        low = -1.0 / self.k if self.min_depth is None else float(self.min_depth)
        return low, self.depth_bound

    def replace(self, **changes) -> MarketParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kwargs) -> MarketParams:
        """Build from keyword arguments, naming any unknown one in the error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - fields)
        if "fill_probability" in unknown:
            raise TypeError("unknown market parameter 'fill_probability': it is now "
                            f"'fill_rule', one of {FILL_RULES}")
        if unknown:
            raise TypeError(f"unknown market parameter(s) {unknown}; known: {sorted(fields)}")
        return cls(**kwargs)
