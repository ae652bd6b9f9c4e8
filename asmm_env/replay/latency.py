"""Order-entry and cancel latency of the replay: how long an instruction takes to reach the
exchange, so that a quote computed at ``t`` rests from ``t + latency`` (stale meanwhile) and
an order being cancelled can still be filled until ``t + latency``.

A latency model maps uniforms in [0, 1) to delays in the data's time units (its inverse CDF),
so the replay draws them from its named ``"latency"`` stream (common random numbers across
policies). Delays must resolve within a decision step: :class:`~asmm_env.replay.ReplayParams`
rejects a constant of ``dt`` or more and the replay clips random ones just below ``dt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from asmm_env.validation import check_non_negative, check_positive


@runtime_checkable
class Latency(Protocol):
    """A latency model: ``quantile(u)`` gives delays (time units) for uniforms ``u``."""

    def quantile(self, u: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ConstantLatency:
    """Every instruction takes ``seconds`` (time units, >= 0)."""

    seconds: float

    def __post_init__(self) -> None:
        check_non_negative("seconds", self.seconds)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), float(self.seconds))

    @property
    def upper(self) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class ExponentialLatency:
    """``minimum + Exp(mean - minimum)``: a floor (wire time) plus an exponential queueing
    delay; ``mean`` > ``minimum`` >= 0, time units."""

    mean: float
    minimum: float = 0.0

    def __post_init__(self) -> None:
        check_non_negative("minimum", self.minimum)
        check_positive("mean", self.mean)
        if self.mean <= self.minimum:
            raise ValueError(f"mean must be > minimum = {self.minimum!r}, got {self.mean!r}")

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.minimum - (self.mean - self.minimum) * np.log1p(-np.asarray(u))

    @property
    def upper(self) -> float:
        return math.inf


@dataclass(frozen=True, eq=False)
class EmpiricalLatency:
    """Delays resampled from recorded ones (``samples``, time units, >= 0), by linear
    interpolation of their empirical quantiles (as hftbacktest's interpolated latency model
    uses recorded order latencies)."""

    samples: Any
    _sorted: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            x = np.asarray(self.samples, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("samples must be an array of delays (time units)") from None
        if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all() or (x < 0).any():
            raise ValueError(f"samples must be a non-empty 1-D array of finite delays >= 0, "
                             f"got shape {x.shape}")
        object.__setattr__(self, "_sorted", np.sort(x))

    def quantile(self, u: np.ndarray) -> np.ndarray:
        x = self._sorted
        return np.interp(np.asarray(u) * (x.size - 1), np.arange(x.size), x)

    @property
    def upper(self) -> float:
        return float(self._sorted[-1])


def as_latency(value: Any, name: str) -> Latency:
    """A latency model from a number (a constant, time units) or a model object; the error
    names the parameter."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be >= 0 (time units) or a latency model, got "
                             f"{value!r}")
        return ConstantLatency(float(value))
    if isinstance(value, Latency):
        return value
    raise ValueError(f"{name} must be a number of time units or a latency model with "
                     f"quantile(u) (ConstantLatency, ExponentialLatency, EmpiricalLatency), "
                     f"got {value!r}")
