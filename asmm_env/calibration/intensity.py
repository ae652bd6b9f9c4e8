"""A and k of the fill intensity ``lambda(delta) = A exp(-k delta)``, per side, by maximum
likelihood from how deep market orders reach.

Model (the "reach" construction of DESIGN.md, which is AS 2008's intensity): market orders on
one side arrive as a Poisson process; each reaches a depth ``R`` from the mid it finds (the
distance from that mid to its worst execution price) and fills every quote within reach. A
quote at depth delta is then filled at rate ``lambda(delta) = rate * P(R >= delta)``. We fit,
for depths at or beyond a chosen ``delta_min``:

    orders with R >= delta_min   arrive at rate   A exp(-k delta_min)      (Poisson)
    R - delta_min                 ~ Exp(k)         independently,

so that ``lambda(delta) = A exp(-k delta)`` for ``delta >= delta_min``. On a tick grid
(``tick_size``) reaches take the values ``delta_min + j tick`` and ``j`` is geometric,
``P(J >= j) = exp(-k j tick)``: the same ``lambda`` evaluated on the grid.

Estimators. With N orders reaching ``delta_min`` in a window of length T, ``n_u`` of them
uncensored, and ``S`` the sum of their excess reaches ``R - delta_min`` (in ticks ``j`` on a
grid; censored orders contribute their lower bound):

    continuous:  k = n_u / S                      se(k) = k / sqrt(n_u)
    grid:        q = S / (n_u + S), k = -ln(q) / tick,
                 se(k) = (1 - q) / (tick sqrt(q n_u))          (observed information)
    both:        A = (N / T) exp(k delta_min)
                 se(log A) = sqrt(1 / N + (delta_min se(k))^2)  (delta method; N and the
                                                                 reaches are independent)

Intervals are Wald intervals on the log scale. Censoring: when the data only show reaches up
to a book's deepest visible level (LOBSTER files with few levels), an order that emptied that
level has ``R >=`` its observed reach; such right-censored orders enter the likelihood through
``P(R >= r)`` (the formulas above already do). An order censored below ``delta_min`` cannot
be placed and is dropped (counted in ``n_dropped``).

References
----------
Avellaneda & Stoikov (2008), High-frequency trading in a limit order book, Quant. Finance
8(3) 217-224, Section 2 (the intensity ``lambda(delta) = A exp(-k delta)`` of fills at depth
delta). Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, CUP,
Chapter 10 (market making with fill probabilities that decay with the depth). Lawless (2003),
Statistical Models and Methods for Lifetime Data, 2nd ed., Wiley, Chapters 2-3 (exponential
and geometric likelihoods with right censoring; Kaplan-Meier and Greenwood's formula).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from asmm_env.calibration._results import (
    Estimate,
    GofTest,
    as_1d,
    check_confidence,
    check_non_negative,
    check_positive,
)

SIDES = {"bid": -1, "ask": 1}   # a bid quote is filled by market sells, an ask by market buys
_GRID_TOL = 1e-6                # reaches within this many ticks of the grid are on it


@dataclass(frozen=True, eq=False)
class IntensityFit:
    """Fit of ``lambda(delta) = A exp(-k delta)`` for one side.

    Attributes
    ----------
    A : Estimate
        Orders per unit time (the intensity extrapolated to depth 0).
    k : Estimate
        Decay, 1 / price units.
    rate_at_delta_min : Estimate
        ``lambda(delta_min) = N / T``, orders per unit time (Poisson standard error).
    side : str or None
        ``"bid"`` (quotes hit by market sells) or ``"ask"`` (lifted by market buys), if known.
    delta_min : float
        Smallest depth modelled, price units.
    tick_size : float or None
        Grid step of the reaches (geometric model), price units; None: continuous model.
    duration : float
        T, time units.
    n_orders : int
        N, orders reaching at least ``delta_min`` (censored ones included).
    n_censored : int
        Of these, orders whose reach is a lower bound.
    n_dropped : int
        Orders left out: reach below ``delta_min``, unknown (NaN), or censored below it.
    intensity_table : pandas.DataFrame
        By depth: ``depth`` (price units), ``n_reaching`` (orders known to reach it),
        ``empirical`` = (N / T) times the Kaplan-Meier estimate of ``P(R >= depth)`` (orders
        per unit time), ``empirical_se`` (Poisson and Greenwood), ``fitted``
        (``A exp(-k depth)``), ``z = (empirical - fitted) / empirical_se``.
    reach_ks : GofTest
        Kolmogorov-Smirnov test of ``R - delta_min ~ Exp(k)`` (continuous model without
        censoring only; p-value conservative because k is estimated from the same data).
    reach_chi2 : GofTest
        Chi-square test of the reach distribution on bins with at least 5 expected orders
        (df = bins - 2, k estimated); with censoring the bins stop at the smallest censoring
        point and the last bin is open.
    interarrival_ks : GofTest or None
        Kolmogorov-Smirnov test of the inter-arrival times of the N orders against
        ``Exp(N / T)`` (None without arrival times).
    interarrival_qq : pandas.DataFrame or None
        QQ data: ``exponential`` (quantiles of ``Exp(N / T)`` at ``(i - 1/2) / m``) and
        ``observed`` (sorted inter-arrival times), time units.
    """

    A: Estimate
    k: Estimate
    rate_at_delta_min: Estimate
    side: str | None
    delta_min: float
    tick_size: float | None
    duration: float
    n_orders: int
    n_censored: int
    n_dropped: int
    intensity_table: pd.DataFrame
    reach_ks: GofTest
    reach_chi2: GofTest
    interarrival_ks: GofTest | None
    interarrival_qq: pd.DataFrame | None

    def intensity(self, delta) -> np.ndarray:
        """Fitted ``A exp(-k delta)``, orders per unit time, at depths ``delta`` (price
        units; meaningful for ``delta >= delta_min``)."""
        return self.A.value * np.exp(-self.k.value * np.asarray(delta, dtype=np.float64))


def fit_intensity(reach, *, duration: float, delta_min: float, tick_size: float | None = None,
                  censored=None, times=None, side: str | None = None, depths=None,
                  confidence: float = 0.95) -> IntensityFit:
    """Maximum-likelihood A and k of ``lambda(delta) = A exp(-k delta)`` from market orders'
    reaches on one side (model and formulas: module docstring).

    Parameters
    ----------
    reach : array_like, shape (n,)
        Every market order's reach on this side in the window, price units: the distance from
        the mid before the order to its worst execution price. NaN (unknown) is dropped.
    duration : float
        T, length of the observation window, time units (> 0); exclude trading halts.
    delta_min : float
        Smallest depth modelled, price units (>= 0), e.g. half a tick; orders reaching less
        are dropped (they say nothing about ``lambda`` beyond ``delta_min``).
    tick_size : float, optional
        Grid step of the reaches, price units (> 0): then every kept reach must equal
        ``delta_min + j tick_size`` and the geometric model is fitted. With a varying spread
        LOBSTER reaches live on a half-tick grid: pass half a tick. Default: continuous.
    censored : array_like of bool, shape (n,), optional
        True where the reach is only a lower bound (see
        :meth:`asmm_env.data.LobsterData.market_orders`). Default: none censored.
    times : array_like, shape (n,), optional
        Arrival times, time units, non-decreasing: enables the inter-arrival diagnostics.
    side : {"bid", "ask"}, optional
        Label stored in the result.
    depths : array_like, optional
        Depths of the intensity table, price units (>= delta_min). Default: the grid points
        up to the deepest reach (tick model, at most 40) or quantiles of the reaches.
    confidence : float
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    IntensityFit

    Raises
    ------
    ValueError
        On bad inputs (named), off-grid reaches (naming the position), or data that do not
        identify k (no uncensored order, or none reaching beyond ``delta_min``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = rng.poisson(140.0 * 100)                     # A = 140 per unit time, T = 100
    >>> fit = fit_intensity(rng.exponential(1 / 1.5, n), duration=100.0, delta_min=0.0)
    >>> fit.k.covers(1.5) and fit.A.covers(140.0)
    True
    """
    confidence = check_confidence(confidence)
    duration = check_positive("duration", duration, "time units")
    delta_min = check_non_negative("delta_min", delta_min, "price units")
    if tick_size is not None:
        tick_size = check_positive("tick_size", tick_size, "price units")
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be one of {tuple(SIDES)} or None, got {side!r}")
    r = as_1d("reach", reach, allow_nan=True)
    cens = np.zeros(r.size, dtype=bool) if censored is None else _bool_array(censored, r.size)
    t = None if times is None else as_1d("times", times)
    if t is not None:
        if t.size != r.size:
            raise ValueError(f"times must have the same length as reach, got {t.size} and "
                             f"{r.size}")
        bad = np.flatnonzero(np.diff(t) < 0)
        if bad.size:
            raise ValueError(f"times must be non-decreasing: times[{bad[0] + 1}] = "
                             f"{float(t[bad[0] + 1])!r} after {float(t[bad[0]])!r}")
    scale = tick_size if tick_size is not None else max(delta_min, 1e-12)
    with np.errstate(invalid="ignore"):
        keep = ~np.isnan(r) & (r >= delta_min - _GRID_TOL * scale)
    positions = np.flatnonzero(keep)
    x = np.maximum(r[keep] - delta_min, 0.0)
    c = cens[keep]
    n_orders, n_censored = int(x.size), int(c.sum())
    n_unc = n_orders - n_censored
    if n_unc == 0:
        raise ValueError(f"no uncensored order reaches delta_min={delta_min!r}: k is not "
                         f"identified ({r.size} orders given)")
    if tick_size is None:
        excess = x
        total = float(excess.sum())
        if total <= 0:
            raise ValueError(f"every order reaches exactly delta_min={delta_min!r}: k is not "
                             f"identified (infinite)")
        k = n_unc / total
        k_se = k / math.sqrt(n_unc)
    else:
        steps = x / tick_size
        off = np.abs(steps - np.round(steps)) > _GRID_TOL
        if off.any():
            i = int(positions[np.flatnonzero(off)[0]])
            raise ValueError(f"reach[{i}] = {float(r[i])!r} is not on the grid delta_min + j * "
                             f"tick_size (delta_min={delta_min!r}, tick_size={tick_size!r})")
        excess = np.round(steps)
        total = float(excess.sum())
        if total <= 0:
            raise ValueError(f"every order reaches exactly delta_min={delta_min!r}: k is not "
                             f"identified (infinite)")
        q = total / (n_unc + total)
        k = -math.log(q) / tick_size
        k_se = (1.0 - q) / (tick_size * math.sqrt(q * n_unc))
    rate0 = n_orders / duration
    A = rate0 * math.exp(k * delta_min)
    log_a_se = math.sqrt(1.0 / n_orders + (delta_min * k_se) ** 2)
    fit_k = Estimate.log_wald(k, k_se, confidence)
    fit_a = Estimate.log_wald(A, A * log_a_se, confidence)
    fit_rate = Estimate.log_wald(rate0, math.sqrt(n_orders) / duration, confidence)
    unit = tick_size if tick_size is not None else 1.0
    table = _intensity_table(excess, c, rate0, n_orders, fit_a.value, fit_k.value, delta_min,
                             tick_size, depths)
    ks, chi2 = _reach_tests(excess, c, k * unit, tick_size is not None)
    ia_ks, ia_qq = (None, None) if t is None else _interarrival(t[keep], rate0)
    return IntensityFit(A=fit_a, k=fit_k, rate_at_delta_min=fit_rate, side=side,
                        delta_min=delta_min, tick_size=tick_size, duration=duration,
                        n_orders=n_orders, n_censored=n_censored,
                        n_dropped=int(r.size - n_orders), intensity_table=table,
                        reach_ks=ks, reach_chi2=chi2, interarrival_ks=ia_ks,
                        interarrival_qq=ia_qq)


def fit_intensity_per_side(orders: pd.DataFrame, *, duration: float, delta_min: float,
                           tick_size: float | None = None, confidence: float = 0.95
                           ) -> dict[str, IntensityFit]:
    """:func:`fit_intensity` on each side of a market-order table.

    Parameters
    ----------
    orders : pandas.DataFrame
        Market orders as :meth:`asmm_env.data.LobsterData.market_orders` and
        :meth:`asmm_env.data.TradesQuotes.market_orders` return them (columns ``time``,
        ``side``, ``reach``, ``censored``).
    duration, delta_min, tick_size, confidence
        As in :func:`fit_intensity`; for LOBSTER data pass ``data.trading_duration()``
        (halts left out), for trades and quotes ``data.duration()``.

    Returns
    -------
    dict
        ``{"bid": fit from market sells (side -1), "ask": fit from market buys (side +1)}``.
    """
    if not isinstance(orders, pd.DataFrame):
        raise ValueError(f"orders must be a pandas DataFrame, got {type(orders).__name__}")
    missing = [c for c in ("time", "side", "reach", "censored") if c not in orders.columns]
    if missing:
        raise ValueError(f"orders: missing column {missing[0]!r}")
    fits = {}
    for name, sign in SIDES.items():
        one = orders[orders["side"].to_numpy() == sign]
        fits[name] = fit_intensity(one["reach"].to_numpy(), duration=duration,
                                   delta_min=delta_min, tick_size=tick_size,
                                   censored=one["censored"].to_numpy(dtype=bool),
                                   times=one["time"].to_numpy(), side=name,
                                   confidence=confidence)
    return fits


# --- diagnostics ----------------------------------------------------------------------------


def _bool_array(values, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,) or array.dtype != bool:
        raise ValueError(f"censored must be a boolean array of the length of reach ({n}), got "
                         f"dtype {array.dtype} and shape {array.shape}")
    return array


def _kaplan_meier(x: np.ndarray, censored: np.ndarray, at: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier ``P(X >= a)`` for each ``a`` in ``at`` and Greenwood's variance (censored
    values are at risk at their own value)."""
    events = np.unique(x[~censored])
    sorted_x = np.sort(x)
    at_risk = sorted_x.size - np.searchsorted(sorted_x, events, side="left")
    deaths = np.searchsorted(np.sort(x[~censored]), events, side="right") - np.searchsorted(
        np.sort(x[~censored]), events, side="left")
    factor = 1.0 - deaths / at_risk
    surv = np.cumprod(factor)
    with np.errstate(divide="ignore"):
        green = np.cumsum(np.where(at_risk > deaths, deaths / (at_risk * np.maximum(
            at_risk - deaths, 1)), np.inf))
    idx = np.searchsorted(events, at, side="left")     # events strictly below a
    s = np.where(idx > 0, surv[np.maximum(idx - 1, 0)], 1.0)
    g = np.where(idx > 0, green[np.maximum(idx - 1, 0)], 0.0)
    return s, g


def _intensity_table(excess: np.ndarray, censored: np.ndarray, rate0: float, n: int,
                     A: float, k: float, delta_min: float, tick_size: float | None,
                     depths) -> pd.DataFrame:
    unit = tick_size if tick_size is not None else 1.0
    if depths is None:
        if tick_size is not None:
            at = np.arange(0, min(int(excess.max()), 40) + 1, dtype=np.float64)
        else:
            at = np.unique(np.quantile(excess, [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]))
    else:
        d = as_1d("depths", depths)
        bad = np.flatnonzero(d < delta_min)
        if bad.size:
            raise ValueError(f"depths[{bad[0]}] = {float(d[bad[0]])!r} is below delta_min="
                             f"{delta_min!r}")
        at = (d - delta_min) / unit
    # A small tolerance so that a depth on the grid counts the orders that reach it exactly.
    probe = at - (_GRID_TOL if tick_size is not None else 0.0)
    surv, green = _kaplan_meier(excess, censored, probe)
    empirical = rate0 * surv
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_var = 1.0 / n + np.where(surv > 0, green, np.nan)
        se = np.where(surv > 0, empirical * np.sqrt(rel_var), np.nan)
    depth = delta_min + at * unit
    fitted = A * np.exp(-k * depth)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (empirical - fitted) / se, np.nan)
    return pd.DataFrame({
        "depth": depth,
        "n_reaching": np.array([int(np.sum(excess >= a)) for a in probe], dtype=np.int64),
        "empirical": empirical,
        "empirical_se": se,
        "fitted": fitted,
        "z": z,
    })


def _reach_tests(excess: np.ndarray, censored: np.ndarray, k_unit: float,
                 grid: bool) -> tuple[GofTest, GofTest]:
    """KS and chi-square tests of the excess reach (in ticks on a grid) against the fitted
    exponential (geometric) law with rate ``k_unit`` per unit of ``excess``."""
    n = excess.size
    if grid:
        ks = GofTest("Kolmogorov-Smirnov", math.nan, math.nan, n,
                     note="not run: reaches on a grid are discrete (see the chi-square test)")
    elif censored.any():
        ks = GofTest("Kolmogorov-Smirnov", math.nan, math.nan, n,
                     note="not run: censored reaches (see the chi-square test)")
    else:
        res = stats.kstest(excess, "expon", args=(0.0, 1.0 / k_unit))
        ks = GofTest("Kolmogorov-Smirnov", float(res.statistic), float(res.pvalue), n,
                     note="k estimated from the same data: the p-value is conservative")
    limit = float(excess[censored].min()) if censored.any() else math.inf
    if grid:
        q = math.exp(-k_unit)
        # Singleton bins j = 0 .. J-1 and a tail [J, inf), each with >= 5 expected orders.
        J = 0
        while (J + 1 <= limit and n * (1 - q) * q**J >= 5 and n * q ** (J + 1) >= 5):
            J += 1
        observed = np.array([np.sum((excess == j) & ~censored) for j in range(J)]
                            + [np.sum(excess >= J)], dtype=np.float64)
        expected = np.array([n * (1 - q) * q**j for j in range(J)] + [n * q**J])
    else:
        m = min(10, n // 5)
        edges = -np.log1p(-np.arange(m) / m) / k_unit if m > 0 else np.array([0.0])
        edges = edges[edges < limit] if np.isfinite(limit) else edges
        upper = np.append(edges[1:], np.inf)
        observed = np.array([np.sum((excess >= lo) & (excess < hi) & ~censored)
                             for lo, hi in zip(edges[:-1], upper[:-1], strict=True)]
                            + [np.sum(excess >= edges[-1])], dtype=np.float64)
        cdf = -np.expm1(-k_unit * np.append(edges, np.inf))
        expected = n * np.diff(cdf)
    df = observed.size - 2
    if df < 1:
        return ks, GofTest("chi-square", math.nan, math.nan, n, df=None,
                           note="not run: too few orders for 3 bins of 5 expected")
    stat = float(np.sum((observed - expected) ** 2 / expected))
    note = "k estimated: df = bins - 2"
    if np.isfinite(limit):
        note += f"; bins stop at the smallest censoring point ({limit:g})"
    return ks, GofTest("chi-square", stat, float(stats.chi2.sf(stat, df)), n, df=df, note=note)


def _interarrival(times: np.ndarray, rate: float) -> tuple[GofTest | None, pd.DataFrame | None]:
    gaps = np.sort(np.diff(times))
    m = gaps.size
    if m < 2:
        return None, None
    expo = -np.log1p(-(np.arange(1, m + 1) - 0.5) / m) / rate
    res = stats.kstest(gaps, "expon", args=(0.0, 1.0 / rate))
    test = GofTest("Kolmogorov-Smirnov", float(res.statistic), float(res.pvalue), m,
                   note="rate N / T estimated from the same data: the p-value is conservative")
    return test, pd.DataFrame({"exponential": expo, "observed": gaps})


def as_fit_mapping(fits) -> Mapping[str, IntensityFit]:
    """One fit or a mapping of fits, as a mapping (labels: the fits' sides)."""
    if isinstance(fits, IntensityFit):
        return {fits.side or "fit": fits}
    if isinstance(fits, Mapping) and fits and all(isinstance(f, IntensityFit)
                                                  for f in fits.values()):
        return fits
    raise ValueError("fits must be an IntensityFit or a non-empty mapping of IntensityFit")
