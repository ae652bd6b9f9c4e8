"""Checks on tables read from files or passed as DataFrames: every error names the source (a
file path or "<name> DataFrame"), the row and the column.

Rows count data rows from 0 (the DataFrame position). For a text file the error also gives the
file line, counted from 1, so that ``sed -n LINEp FILE`` shows the offending line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Where:
    """Where a table came from: ``source`` names it in errors; ``first_line`` is the file
    line (from 1) of data row 0, or ``None`` when the table is not a text file."""

    source: str
    first_line: int | None = None

    def at(self, row: int, column: str) -> str:
        line = "" if self.first_line is None else f" (line {self.first_line + int(row)})"
        return f"{self.source}: row {int(row)}{line}, column {column!r}"

    def error(self, row: int, column: str, problem: str) -> ValueError:
        return ValueError(f"{self.at(row, column)}: {problem}")


def fmt(value) -> str:
    """A number as a person writes it: ``8`` rather than ``np.float64(8.0)``."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (np.integer, np.floating)):
        return repr(value.item())
    return repr(value)


def first_true(mask: np.ndarray) -> int | None:
    """Position of the first True in a boolean array, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...],
                    where: Where) -> None:
    """Raise naming the first missing column (row 0: the header, or the first data row)."""
    present = set(map(str, frame.columns))
    for column in columns:
        if column not in present:
            raise ValueError(f"{where.source}: missing column {column!r} (columns present: "
                             f"{sorted(present)})")


def numeric(frame: pd.DataFrame, column: str, where: Where, *,
            allow_missing: bool = False, integer: bool = False) -> np.ndarray:
    """The column as float64, after checking every value is a number (and, if ``integer``, a
    whole number); missing values (empty fields, NaN) are errors unless ``allow_missing``."""
    series = frame[column]
    if series.dtype == bool or pd.api.types.is_bool_dtype(series.dtype):
        raise where.error(0, column, f"expected numbers, got booleans (dtype {series.dtype})")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = first_true((coerced.isna() & series.notna()).to_numpy())
        if bad is not None:
            raise where.error(bad, column, f"non-numeric value {series.iloc[bad]!r}")
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    if not allow_missing:
        bad = first_true(np.isnan(values))
        if bad is not None:
            raise where.error(bad, column, "missing value")
    bad = first_true(np.isinf(values))
    if bad is not None:
        raise where.error(bad, column, f"infinite value {fmt(values[bad])}")
    if integer:
        finite = ~np.isnan(values)
        bad = first_true(finite & (values != np.round(values)))
        if bad is not None:
            raise where.error(bad, column, f"expected a whole number, got {fmt(values[bad])}")
    return values


def check_sorted(times: np.ndarray, column: str, where: Where) -> None:
    """Timestamps must not decrease (equal timestamps are allowed)."""
    bad = first_true(np.diff(times) < 0)
    if bad is not None:
        raise where.error(bad + 1, column, f"timestamps are not sorted: {fmt(times[bad + 1])} "
                                           f"comes after {fmt(times[bad])}")


def check_non_negative(values: np.ndarray, column: str, where: Where) -> None:
    bad = first_true(values < 0)
    if bad is not None:
        raise where.error(bad, column, f"negative size {fmt(values[bad])}")


def check_in_set(values: np.ndarray, allowed: tuple, column: str, where: Where,
                 what: str) -> None:
    bad = first_true(~np.isin(values, allowed))
    if bad is not None:
        raise where.error(bad, column, f"unknown {what} {fmt(values[bad])} (allowed: "
                                       f"{', '.join(map(str, allowed))})")


def check_not_crossed(bid: np.ndarray, ask: np.ndarray, bid_column: str, where: Where) -> None:
    """Best bid strictly below best ask wherever both sides are present."""
    with np.errstate(invalid="ignore"):
        crossed = ~np.isnan(bid) & ~np.isnan(ask) & (bid >= ask)
    bad = first_true(crossed)
    if bad is not None:
        raise where.error(bad, bid_column, f"crossed book: best bid {fmt(bid[bad])} >= best ask "
                                           f"{fmt(ask[bad])}")


def check_levels(prices: np.ndarray, sizes: np.ndarray, side: str, price_columns: list[str],
                 size_columns: list[str], where: Where) -> None:
    """Levels of one side, ``(n_rows, n_levels)``: a missing level (NaN price) has size 0 and
    only missing levels follow it; a present level has a positive size; prices move away from
    the spread level by level (asks increase, bids decrease)."""
    missing = np.isnan(prices)
    for j in range(prices.shape[1]):
        bad = first_true(missing[:, j] & (sizes[:, j] != 0))
        if bad is not None:
            raise where.error(bad, size_columns[j],
                              f"size {fmt(sizes[bad, j])} at a level without a price")
        bad = first_true(~missing[:, j] & (sizes[:, j] <= 0))
        if bad is not None:
            raise where.error(bad, size_columns[j],
                              f"a level with price {fmt(prices[bad, j])} must have a positive "
                              f"size, got {fmt(sizes[bad, j])}")
        if j == 0:
            continue
        bad = first_true(missing[:, j - 1] & ~missing[:, j])
        if bad is not None:
            raise where.error(bad, price_columns[j],
                              f"level {j + 1} has a price but level {j} is empty")
        with np.errstate(invalid="ignore"):
            wrong = prices[:, j] <= prices[:, j - 1] if side == "ask" \
                else prices[:, j] >= prices[:, j - 1]
        bad = first_true(~missing[:, j] & wrong)
        if bad is not None:
            order = "above" if side == "ask" else "below"
            raise where.error(bad, price_columns[j],
                              f"{side} level {j + 1} price {fmt(prices[bad, j])} is not {order} "
                              f"level {j} price {fmt(prices[bad, j - 1])}")
