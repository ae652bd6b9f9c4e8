"""Result records shared by the estimators: an estimate with its standard error and confidence
interval, and a goodness-of-fit test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and a two-sided confidence interval.

    Attributes
    ----------
    value : float
        The estimate, in the parameter's unit.
    se : float
        Its standard error (same unit).
    ci_low, ci_high : float
        Bounds of the ``confidence`` interval (same unit).
    confidence : float
        Coverage the interval is built for, in (0, 1).
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95

    def covers(self, x: float) -> bool:
        """Whether ``x`` lies in the confidence interval (bounds included)."""
        return bool(self.ci_low <= x <= self.ci_high)

    @classmethod
    def wald(cls, value: float, se: float, confidence: float = 0.95) -> Estimate:
        """``value -/+ z se`` with z the normal quantile of ``(1 + confidence) / 2``."""
        z = _z(confidence)
        return cls(float(value), float(se), float(value - z * se), float(value + z * se),
                   confidence)

    @classmethod
    def log_wald(cls, value: float, se: float, confidence: float = 0.95) -> Estimate:
        """For a positive parameter: the Wald interval of ``log value`` (standard error
        ``se / value`` by the delta method) mapped back, ``value * exp(-/+ z se / value)``; it
        stays positive and is more accurate than ``value -/+ z se`` in small samples."""
        z = _z(confidence)
        if not value > 0:
            return cls(float(value), float(se), math.nan, math.nan, confidence)
        spread = math.exp(z * se / value)
        return cls(float(value), float(se), float(value / spread), float(value * spread),
                   confidence)


@dataclass(frozen=True)
class GofTest:
    """A goodness-of-fit test.

    Attributes
    ----------
    name : str
        Which test, e.g. ``"Kolmogorov-Smirnov"`` or ``"chi-square"``.
    statistic : float
        The test statistic (NaN when the test could not be run; see ``note``).
    p_value : float
        Its p-value under the fitted model (NaN when not run).
    n : int
        Observations tested.
    df : int or None
        Degrees of freedom (chi-square tests).
    note : str
        Caveats: an estimated parameter, censoring, too few observations.
    """

    name: str
    statistic: float
    p_value: float
    n: int
    df: int | None = None
    note: str = ""


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def check_confidence(confidence: float) -> float:
    if (isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating))
            or not 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(confidence)


def check_positive(name: str, value: float, unit: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a finite number > 0 ({unit}), got {value!r}")
    return float(value)


def check_non_negative(name: str, value: float, unit: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0 ({unit}), got {value!r}")
    return float(value)


def as_1d(name: str, values, *, dtype=np.float64, allow_nan: bool = False) -> np.ndarray:
    """A 1-D array of ``values``; the error names the parameter and the first bad position."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers ({exc})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if dtype is np.float64:
        bad = np.flatnonzero(np.isinf(array) | (np.isnan(array) if not allow_nan else False))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] must be finite, got {float(array[bad[0]])!r}")
    return array
