"""sigma of the mid from realised variance, plain or noise-robust (two-scale).

Model: the observed mid is ``Y_t = X_t + eps_t`` with ``X`` an arithmetic Brownian motion of
volatility sigma (AS 2008's mid, price units per sqrt(time unit)) and ``eps`` i.i.d.
microstructure noise of variance ``E eps^2`` (zero for the plain estimator). Over a window of
length T the integrated variance is ``sigma^2 T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asmm_env.calibration._results import (
    Estimate,
    as_1d,
    check_confidence,
    check_positive,
)

METHODS = ("rv", "tsrv")


@dataclass(frozen=True)
class SigmaFit:
    """Estimate of the mid's volatility.

    Attributes
    ----------
    sigma : Estimate
        sigma, price units per sqrt(time unit) (interval: the square root of the
        ``sigma2`` interval's bounds).
    sigma2 : Estimate
        sigma^2 = integrated variance / T, price units^2 per time unit (log-scale Wald
        interval).
    method : str
        ``"rv"`` (realised variance) or ``"tsrv"`` (two-scale realised variance).
    duration : float
        T, the window the variance is integrated over, time units.
    n_returns : int
        Returns on the sampling grid.
    dt : float or None
        Sampling step, time units (None: every observation).
    n_subgrids : int or None
        K, the slow time scale of the two-scale estimator (None for ``"rv"``).
    noise_variance : float or None
        Estimate of ``E eps^2``, price units^2 (``"tsrv"`` only):
        ``([Y,Y]^(all) - TSRV) / (2n)``, ZMA's ``[Y,Y]^(all) / (2n)`` less the signal's share
        (floored at 0).
    autocorrelation : Estimate
        First-order autocorrelation of the sampled returns, with standard error
        ``1 / sqrt(n)``: about 0 for a Brownian mid, negative (down to -1/2) when noise
        dominates the returns, the usual sign that ``"rv"`` on this grid is biased upwards.
    """

    sigma: Estimate
    sigma2: Estimate
    method: str
    duration: float
    n_returns: int
    dt: float | None
    n_subgrids: int | None
    noise_variance: float | None
    autocorrelation: Estimate


def fit_sigma(time, mid, *, dt: float | None = None, method: str = "rv",
              n_subgrids: int | None = None, confidence: float = 0.95) -> SigmaFit:
    """Volatility of the mid from realised variance on a sampling grid.

    Parameters
    ----------
    time : array_like, shape (n,)
        Observation times, time units, non-decreasing (e.g. ``LobsterData.book["time"]``).
    mid : array_like, shape (n,)
        Mid at each time, price units; NaN (a one-sided book) rows are dropped.
    dt : float, optional
        Sampling step, time units (> 0): the mid is sampled every ``dt`` from the first time
        by the previous-tick rule. Default: every observation (tick time).
    method : {"rv", "tsrv"}
        ``"rv"``: realised variance ``RV = sum r_i^2`` of the sampled returns, with standard
        error from the realised quarticity, ``Var(RV) ~ (2/3) sum r_i^4`` (the feasible limit
        theory of Barndorff-Nielsen & Shephard 2002); valid without noise.
        ``"tsrv"``: the two-scale estimator of Zhang, Mykland & Aït-Sahalia (2005),
        ``TSRV = ([Y,Y]^(avg) - (nbar / n) [Y,Y]^(all)) / (1 - nbar / n)`` with
        ``[Y,Y]^(avg)`` the average of the realised variances on the K offset subgrids of
        step K, ``nbar = (n - K + 1) / K``, and the small-sample factor
        ``(1 - nbar / n)^-1``; robust to i.i.d. noise. Standard error from their asymptotic
        variance, to leading order ``8 (n / K^2) (E eps^2)^2 + (4 / 3) (K / n) IV^2``; we use
        the exact finite-sample variance under the model (sigma constant, as in the AS
        model, and Gaussian noise), with ``IV = TSRV`` and
        ``E eps^2 = ([Y,Y]^(all) - TSRV) / (2n)`` plugged in, times the small-sample factor
        squared (see ``_tsrv_variance``).
    n_subgrids : int, optional
        K for ``"tsrv"`` (2 <= K <= n / 2). Default: ZMA's optimum
        ``K* = (12 (E eps^2)^2 / (T int sigma^4))^(1/3) n^(2/3)`` from pilot estimates
        (a pilot TSRV with ``K = n^(2/3)``).
    confidence : float
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    SigmaFit
        sigma and sigma^2 with standard errors and intervals, and diagnostics.

    Raises
    ------
    ValueError
        On mismatched or unsorted inputs, too few returns, an unknown method, or an estimate
        that is not positive (a constant mid; for ``"tsrv"``, noise swamping the signal).

    Notes
    -----
    Both estimators assume the mid is observed without gaps in the model's clock; remove
    halts and overnight periods first (or pass only the trading-time rows). Drift is
    ignored: it contributes ``(mu dt)^2`` per return, negligible at high frequency.

    References
    ----------
    Barndorff-Nielsen & Shephard (2002), Econometric analysis of realized volatility and its
    use in estimating stochastic volatility models, JRSS B 64(2) 253-280.
    Zhang, Mykland & Aït-Sahalia (2005), A tale of two time scales: determining integrated
    volatility with noisy high-frequency data, JASA 100(472) 1394-1411 (the two-scales
    estimator, its asymptotic variance, the optimal number of subgrids and the small-sample
    adjustment; the formulas are written out above).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(10_001) * 0.01
    >>> s = 100 + 2.0 * np.concatenate([[0], np.cumsum(rng.normal(0, 0.1, 10_000))])
    >>> fit = fit_sigma(t, s)
    >>> fit.sigma.covers(2.0)
    True
    """
    confidence = check_confidence(confidence)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t = as_1d("time", time)
    y = as_1d("mid", mid, allow_nan=True)
    if t.shape != y.shape:
        raise ValueError(f"time and mid must have the same length, got {t.size} and {y.size}")
    keep = ~np.isnan(y)
    t, y = t[keep], y[keep]
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(f"time must be non-decreasing: time[{i}] = {float(t[i])!r} after "
                         f"{float(t[i - 1])!r} (after dropping NaN mids)")
    if t.size < 3:
        raise ValueError(f"need at least 3 observations with a mid, got {t.size}")
    if dt is not None:
        dt = check_positive("dt", dt, "time units")
        steps = int(math.floor((t[-1] - t[0]) / dt + 1e-9))
        if steps < 2:
            raise ValueError(f"dt={dt!r} leaves fewer than 2 returns in a window of "
                             f"{float(t[-1] - t[0])!r} time units")
        grid = t[0] + dt * np.arange(steps + 1)
        y = y[np.searchsorted(t, grid, side="right") - 1]
        duration = steps * dt
    else:
        duration = float(t[-1] - t[0])
        if duration <= 0:
            raise ValueError("time spans no interval: every observation has the same time")
    r = np.diff(y)
    n = r.size
    if method == "rv":
        iv = float(np.sum(r**2))
        if iv <= 0:
            raise ValueError("the mid never moves on the sampling grid: sigma is not "
                             "identified")
        iv_se = math.sqrt(2.0 / 3.0 * float(np.sum(r**4)))
        k_sub, noise = None, None
    else:
        k_sub = _subgrids(y, n_subgrids)
        iv, iv_se, noise = _tsrv(y, k_sub)
    sigma2 = Estimate.log_wald(iv / duration, iv_se / duration, confidence)
    sigma = math.sqrt(sigma2.value)
    sigma_est = Estimate(sigma, sigma2.se / (2.0 * sigma), math.sqrt(sigma2.ci_low),
                         math.sqrt(sigma2.ci_high), confidence)
    return SigmaFit(sigma=sigma_est, sigma2=sigma2, method=method, duration=duration,
                    n_returns=n, dt=dt, n_subgrids=k_sub, noise_variance=noise,
                    autocorrelation=_autocorrelation(r, confidence))


def _rv_avg(y: np.ndarray, k: int) -> float:
    """Average over the K offset subgrids of their realised variances: every lag-K return
    belongs to exactly one subgrid, so the sum over subgrids is the sum of all lag-K squares."""
    return float(np.sum((y[k:] - y[:-k]) ** 2)) / k


def _tsrv(y: np.ndarray, k: int) -> tuple[float, float, float]:
    n = y.size - 1
    rv_all = float(np.sum(np.diff(y) ** 2))
    nbar = (n - k + 1) / k
    adjust = 1.0 / (1.0 - nbar / n)
    iv = adjust * (_rv_avg(y, k) - nbar / n * rv_all)
    if not iv > 0:
        raise ValueError(f"the two-scale realised variance is not positive ({iv!r}) with "
                         f"K={k} subgrids: noise swamps the signal; use more observations or "
                         f"a larger n_subgrids")
    # E [Y,Y]^(all) = IV + 2 n E eps^2 under the model: ZMA's estimator of the noise
    # variance, less the signal's share.
    noise = max(0.0, (rv_all - iv) / (2.0 * n))
    var = _tsrv_variance(n, k, iv / n, noise)
    return iv, adjust * math.sqrt(var), noise


def _tsrv_variance(n: int, k: int, v: float, eta2: float) -> float:
    """Exact variance of ``[Y,Y]^(avg) - (nbar/n) [Y,Y]^(all)`` for a Brownian mid with
    increments of variance ``v`` per observation plus i.i.d. Gaussian noise of variance
    ``eta2`` (K >= 2). For zero-mean Gaussian variables ``Cov(U^2, W^2) = 2 Cov(U, W)^2``, so
    the variance is a sum of squared covariances of the lag-K differences U and the lag-1
    differences V; they depend only on the lag, and the sums take O(K) operations. To
    leading order it is ZMA's ``8 (n / K^2) eta2^2 + (4/3) (K / n) IV^2``; the exact form
    keeps the terms that matter at small K or large noise."""
    m = n - k + 1
    beta = (n - k + 1) / k / n
    lag = np.arange(-k, k + 1)
    c_uu = v * (k - np.abs(lag)) + eta2 * (2.0 * (lag == 0) - (np.abs(lag) == k))
    sum_uu = float(np.sum((m - np.abs(lag)) * c_uu**2))
    sum_vv = n * (v + 2.0 * eta2) ** 2 + 2.0 * (n - 1) * eta2**2
    sum_uv = m * (2.0 * (v + eta2) ** 2 + (k - 2) * v**2) + 2.0 * (m - 1) * eta2**2
    return 2.0 / k**2 * sum_uu - 4.0 * beta / k * sum_uv + 2.0 * beta**2 * sum_vv


def _subgrids(y: np.ndarray, n_subgrids: int | None) -> int:
    n = y.size - 1
    upper = n // 2
    if upper < 2:
        raise ValueError(f"tsrv needs at least 4 returns, got {n}")
    if n_subgrids is not None:
        if (isinstance(n_subgrids, bool) or not isinstance(n_subgrids, (int, np.integer))
                or not 2 <= n_subgrids <= upper):
            raise ValueError(f"n_subgrids must be an integer in [2, {upper}] (n / 2), got "
                             f"{n_subgrids!r}")
        return int(n_subgrids)
    pilot_k = int(min(upper, max(2, round(n ** (2.0 / 3.0)))))
    rv_all = float(np.sum(np.diff(y) ** 2))
    nbar = (n - pilot_k + 1) / pilot_k
    pilot = (_rv_avg(y, pilot_k) - nbar / n * rv_all) / (1.0 - nbar / n)
    if not pilot > 0:
        return pilot_k
    noise = rv_all / (2.0 * n)
    c = (12.0 * noise**2 / pilot**2) ** (1.0 / 3.0)
    return int(min(upper, max(2, round(c * n ** (2.0 / 3.0)))))


def _autocorrelation(r: np.ndarray, confidence: float) -> Estimate:
    centred = r - r.mean()
    denom = float(np.sum(centred**2))
    rho = float(np.sum(centred[1:] * centred[:-1]) / denom) if denom > 0 else math.nan
    return Estimate.wald(rho, 1.0 / math.sqrt(r.size), confidence)
