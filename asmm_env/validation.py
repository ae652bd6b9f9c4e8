"""Checks shared by every parameter dataclass, env and experiment setting: errors name the
field, the value and the allowed range (``ValueError: sigma must be > 0, got -1.0``)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable


def check_finite(name: str, value: float) -> None:
    # numbers.Real also admits numpy scalars (np.float32, np.int64), e.g. from a parameter grid.
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_positive(name: str, value: float) -> None:
    check_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def check_in_range(name: str, value: float, low: float, high: float) -> None:
    check_finite(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")


def check_positive_int(name: str, value: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_whole_steps(T: float, dt: float) -> int:
    """The number of steps ``T / dt`` if it is a whole number >= 1 (to a relative 1e-9),
    else ``ValueError`` naming both."""
    steps = T / dt
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
        raise ValueError(
            f"T / dt must be a whole number of steps >= 1, got T={T!r}, dt={dt!r}")
    return round(steps)
