"""Monte Carlo statistics with their uncertainty: every number an experiment reports comes
with a standard error or a 95% confidence interval, or says why it has none.

Conventions
-----------
* Samples are one value per independent Monte Carlo path (terminal PnL in price units, unless
  a caller says otherwise); intervals are two-sided 95%.
* **Losses are positive**: VaR and CVaR are reported as amounts of money lost, ``L = -PnL``,
  so a VaR of 3.2 means "a loss of 3.2 price units or more with probability 5%".
* :func:`pnl_summary` is the one row every experiment reports per policy (or cell), so columns
  are named the same everywhere (:data:`SUMMARY_COLUMNS`).

The older helpers (:func:`mean_ci`, :func:`std_ci`, :func:`sharpe_ci`, :func:`ratio_ci`) return
NaN for degenerate samples (fewer than two paths, zero spread) rather than raising; the newer
ones validate their input and raise ``ValueError`` naming the parameter.

References
----------
Avellaneda & Stoikov (2008), eq. (2): the CARA objective behind the certainty equivalent.
Zhang & Stephens (2009), Technometrics 51(3) 316-325: the generalized-Pareto shape fit.
Vehtari, Simpson, Gelman, Yao & Gabry (2024), JMLR 25(72): the Pareto-k diagnostic of
importance weights. Acerbi & Tasche (2002), J. Banking & Finance 26(7): expected shortfall.
Manistre & Hancock (2005), North American Actuarial J. 9(2): variance of the CTE estimator.
Mertens (2002) and Lo (2002): standard error of the Sharpe ratio. Wilson (1927), JASA 22:
the score interval of a proportion.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import stats as _scipy_stats

from asmm_env.validation import check_positive

Z95 = 1.959963984540054

# --- reliability rule of the certainty equivalent (documented in certainty_equivalent) -----
CE_MAX_PARETO_K = 0.5
"""Largest tail shape k of the CARA weights for which the CE gets an interval (finite variance)."""
CE_MIN_ESS = 100.0
"""Smallest effective sample size of the CARA weights for which the CE gets an interval."""
CE_MAX_TOP1_SHARE = 0.5
"""Largest share of the total CARA weight the top 1% of paths may carry."""

TAIL_MIN_PATHS = 20
"""Fewest paths beyond the VaR for which CVaR gets an interval."""


# --- validation -------------------------------------------------------------------------------
def _sample(x, name: str, min_size: int = 1) -> np.ndarray:
    """``x`` as a 1-D float array of finite values with at least ``min_size`` entries."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per path), got shape "
                         f"{arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} value(s), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return arr


def _level(level: float, name: str = "level") -> float:
    if (not isinstance(level, numbers.Real) or isinstance(level, bool)
            or not 0.5 <= float(level) < 1.0):
        raise ValueError(f"{name} must be a number in [0.5, 1), got {level!r}")
    return float(level)


# --- means, spreads, ratios -------------------------------------------------------------------
def mean_ci(x) -> dict[str, float]:
    """Mean, standard deviation, standard error and the 95% normal CI of the mean."""
    x = np.asarray(x, dtype=float)
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else float("nan")
    se = std / np.sqrt(n) if n > 1 else float("nan")
    return {"mean": mean, "std": std, "se": se, "ci_low": mean - Z95 * se,
            "ci_high": mean + Z95 * se, "n": n}


def sharpe(x) -> float:
    """Mean / standard deviation across paths (no annualisation, no risk-free rate)."""
    x = np.asarray(x, dtype=float)
    std = x.std(ddof=1)
    return float(x.mean() / std) if std > 0 else float("nan")


def proportion_ci(successes, trials) -> dict[str, float]:
    """Proportion with its Wilson 95% interval (NaN when there are no trials).

    Raises ``ValueError`` if ``successes`` is negative or exceeds ``trials``.
    """
    successes, trials = float(successes), float(trials)
    if trials <= 0:
        return {"p": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials] = [0, {trials:g}], got "
                         f"{successes:g}")
    p = successes / trials
    z2 = Z95**2
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * np.sqrt(p * (1 - p) / trials + z2 / (4 * trials**2)) / (1 + z2 / trials)
    return {"p": p, "ci_low": float(centre - half), "ci_high": float(centre + half)}


def std_ci(x) -> dict[str, float]:
    """Standard deviation with a large-sample standard error and 95% CI.

    ``se(s) = sqrt(m4 - s^4) / (2 s sqrt(n))`` (delta method on the sample variance, with the
    sample fourth central moment ``m4``, so heavy tails widen the interval; for normal data it
    is ``s / sqrt(2 n)``).
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 2:
        nan = float("nan")
        return {"std": nan, "se": nan, "ci_low": nan, "ci_high": nan, "n": n}
    std = float(x.std(ddof=1))
    if std == 0:
        return {"std": 0.0, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": n}
    m4 = float(np.mean((x - x.mean()) ** 4))
    se = float(np.sqrt(max(m4 - std**4, 0.0)) / (2 * std * np.sqrt(n)))
    return {"std": std, "se": se, "ci_low": std - Z95 * se, "ci_high": std + Z95 * se, "n": n}


def format_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    """``"62.94 [62.57, 63.31]"``: a value and its interval for Markdown tables; ``"45.10 (no
    CI)"`` when the interval is NaN (e.g. an unreliable certainty equivalent), ``"n/a"`` when
    the value is."""
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f} (no CI)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def sharpe_ci(x) -> dict[str, float]:
    """Sharpe ratio mean / std across paths with a delta-method standard error and 95% CI.

    ``se^2 = (1 - skew * SR + (kurtosis - 1) / 4 * SR^2) / n`` (Mertens 2002; Lo 2002 for
    normal data, where it is ``(1 + SR^2 / 2) / n``), with the sample skewness and (non-excess)
    kurtosis, so fat tails widen the interval.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    nan = float("nan")
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    if n < 3 or std == 0:
        return {"sharpe": nan, "se": nan, "ci_low": nan, "ci_high": nan, "n": n}
    sr = float(x.mean() / std)
    z = (x - x.mean()) / x.std()
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
    se = float(np.sqrt(max(1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2, 0.0) / n))
    return {"sharpe": sr, "se": se, "ci_low": sr - Z95 * se, "ci_high": sr + Z95 * se, "n": n}


def ratio_ci(numerator, denominator) -> dict[str, float]:
    """``sum(numerator) / sum(denominator)`` over paths with a delta-method 95% CI
    (linearisation ``(x_i - R y_i) / mean(y)``, i.i.d. paths)."""
    x, y = np.asarray(numerator, float), np.asarray(denominator, float)
    total = y.sum()
    if total <= 0:
        nan = float("nan")
        return {"ratio": nan, "se": nan, "ci_low": nan, "ci_high": nan}
    ratio = float(x.sum() / total)
    se = (float(np.std(x - ratio * y, ddof=1) / (y.mean() * math.sqrt(x.size)))
          if x.size > 1 else float("nan"))
    return {"ratio": ratio, "se": se, "ci_low": ratio - Z95 * se, "ci_high": ratio + Z95 * se}


# --- certainty equivalent ---------------------------------------------------------------------
def pareto_k(weights) -> float:
    """Shape ``k`` of a generalized Pareto fit to the largest importance weights.

    The ``M = min(n / 5, 3 sqrt(n))`` largest weights in excess of the next one are fitted
    with the Zhang & Stephens (2009) empirical-Bayes estimator, with the weak prior towards
    0.5 of Vehtari et al. (2024, appendix C). ``k < 1/2``: the weights have a finite variance
    (a central limit theorem holds for their mean); ``1/2 <= k < 1``: finite mean, infinite
    variance; ``k >= 1``: not even the mean exists. Scale-free: ``pareto_k(c w) =
    pareto_k(w)``.

    Parameters
    ----------
    weights : array_like, shape (n,)
        Non-negative finite weights, ``n >= 25`` (so that the fit has at least 5 points).

    Returns
    -------
    float
        The shape estimate; NaN when fewer than 5 of the largest weights exceed the
        threshold (the tail takes so few values that it is bounded).

    References
    ----------
    Zhang & Stephens (2009), Technometrics 51(3), section 3; Vehtari et al. (2024), JMLR
    25(72), section 3 and appendix C.
    """
    w = _sample(weights, "weights", min_size=25)
    if np.any(w < 0):
        raise ValueError("weights must be >= 0")
    n = w.size
    m = int(min(n // 5, math.ceil(3 * math.sqrt(n))))
    ordered = np.sort(w)
    exceed = ordered[-m:] - ordered[-m - 1]
    exceed = exceed[exceed > 0]
    if exceed.size < 5:
        return float("nan")
    return _gpd_shape(exceed / exceed[-1])       # scaled to max 1: the shape is scale-free


def _gpd_shape(x: np.ndarray) -> float:
    """Zhang & Stephens (2009) estimate of the generalized Pareto shape of the sorted positive
    exceedances ``x`` (parametrised as ``theta = -k / sigma``), with the weak prior of
    Vehtari et al. (2024): ``k -> (M k + 10 * 0.5) / (M + 10)``."""
    n = x.size
    n_grid = 30 + int(math.sqrt(n))
    theta = 1.0 - np.sqrt(n_grid / (np.arange(1, n_grid + 1, dtype=float) - 0.5))
    theta = theta / (3.0 * x[int(n / 4 + 0.5) - 1]) + 1.0 / x[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log1p(-theta[:, None] * x).mean(axis=1)
        profile = n * (np.log(-theta / k) - k - 1.0)      # profile log-likelihood of theta
    keep = np.isfinite(profile)
    if not keep.any():
        return float("nan")
    theta, profile = theta[keep], profile[keep]
    posterior = np.exp(profile - profile.max())
    theta_hat = float(np.sum(theta * posterior) / posterior.sum())
    k_hat = float(np.log1p(-theta_hat * x).mean())
    return (n * k_hat + 10 * 0.5) / (n + 10)


def certainty_equivalent(pnl, gamma: float) -> dict:
    """CARA certainty equivalent of a PnL sample, with the tail diagnostics that say whether
    it can be trusted and, only if it can, a 95% interval.

    ``CE = -ln(mean(exp(-gamma (X - c)))) / gamma + c`` with the shift ``c = min(X)``, so
    every exponent is <= 0 (no overflow; the CE does not depend on ``c``).

    The estimate is a log of a mean of weights ``w = exp(-gamma X)``, which can be dominated
    by a handful of losing paths: when the PnL has exponential or heavier tails (e.g. a
    symmetric strategy: inventory times a price move), ``E[w]`` may be infinite and no sample
    size gives an honest interval. The diagnostics, from the weights:

    * ``ess`` = ``(sum w)^2 / sum w^2``, the effective sample size (``ess_ratio`` = ess / n);
    * ``top1_share``, the share of ``sum w`` carried by the ``ceil(n / 100)`` largest weights;
    * ``pareto_k``, the tail shape of the weights (:func:`pareto_k`).

    **Reliability rule.** The CE is ``reliable`` when ``pareto_k < 0.5`` (the weights have a
    finite variance, which the normal interval needs; NaN counts as bounded), ``ess >= 100``
    (the relative s.e. of ``mean(w)`` is at most about 0.1, so the log is close to linear
    over the interval) and ``top1_share < 0.5`` (no half of the weight on 1% of the paths).
    Thresholds: :data:`CE_MAX_PARETO_K`, :data:`CE_MIN_ESS`, :data:`CE_MAX_TOP1_SHARE`.
    When reliable, the interval is the delta method on the log scale,
    ``CE +/- 1.96 sd(w) / (sqrt(n) mean(w) gamma)``, which shrinks like ``1 / sqrt(n)``;
    otherwise ``se``, ``ci_low`` and ``ci_high`` are NaN and ``reason`` says which criteria
    failed.

    Parameters
    ----------
    pnl : array_like, shape (n_paths,)
        Terminal PnL per path, price units; finite, at least one path.
    gamma : float
        Risk aversion, 1 / price units (> 0).

    Returns
    -------
    dict
        ``ce``, ``se``, ``ci_low``, ``ci_high`` (price units), ``ess``, ``ess_ratio``,
        ``top1_share``, ``pareto_k``, ``reliable`` (bool), ``reason`` (str, "" when
        reliable), ``n``.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(50.0, 5.0, 10_000)
    >>> ce = certainty_equivalent(x, 0.1)        # about 50 - 0.1 * 25 / 2 = 48.75
    >>> bool(ce["reliable"]), round(ce["ce"])
    (True, 49)
    """
    x = _sample(pnl, "pnl")
    check_positive("gamma", gamma)
    n = x.size
    shift = float(x.min())
    w = np.exp(-gamma * (x - shift))                 # in (0, 1]; the worst path has weight 1
    m = float(w.mean())
    ce = shift - math.log(m) / gamma
    total = float(w.sum())
    ess = total**2 / float(np.sum(w**2))
    top = math.ceil(n / 100)
    top1 = float(np.sum(np.partition(w, n - top)[n - top:]) / total)
    k = pareto_k(w) if n >= 25 else float("nan")
    reasons = []
    if np.isfinite(k) and k >= CE_MAX_PARETO_K:
        reasons.append(f"tail shape k of the weights exp(-gamma PnL) is {k:.2f} >= "
                       f"{CE_MAX_PARETO_K} (their variance looks infinite)")
    if ess < CE_MIN_ESS:
        reasons.append(f"effective sample size {ess:.0f} < {CE_MIN_ESS:.0f}")
    if top1 >= CE_MAX_TOP1_SHARE:
        reasons.append(f"the worst 1% of paths carry {top1:.0%} of the weight (>= "
                       f"{CE_MAX_TOP1_SHARE:.0%})")
    reliable = not reasons
    nan = float("nan")
    se = float(w.std(ddof=1) / (math.sqrt(n) * m * gamma)) if reliable else nan
    return {"ce": float(ce), "se": se, "ci_low": ce - Z95 * se, "ci_high": ce + Z95 * se,
            "ess": ess, "ess_ratio": ess / n, "top1_share": top1, "pareto_k": k,
            "reliable": reliable, "reason": "; ".join(reasons), "n": n}


# --- tail risk --------------------------------------------------------------------------------
def value_at_risk(pnl, level: float = 0.95) -> dict[str, float]:
    """Value at risk and expected shortfall (CVaR) of a PnL sample, as positive losses.

    With losses ``L = -PnL``:

    * ``var`` is the empirical ``level``-quantile of L (the inverted empirical CDF: the
      ``ceil(n level)``-th smallest loss), with the distribution-free order-statistic
      interval ``[L_(l), L_(u)]``, ``l`` and ``u - 1`` the 2.5% and 97.5% quantiles of
      Binomial(n, level) (coverage >= 95% for continuous L);
    * ``cvar`` is the expected shortfall ``(1 / (1 - level)) * integral_level^1 VaR_u du``
      of the empirical distribution (Acerbi & Tasche 2002; the mean of the worst
      ``n (1 - level)`` losses when that is a whole number), with the normal interval of
      se ``sd((L - VaR)^+) / ((1 - level) sqrt(n))`` (its influence function; Manistre &
      Hancock 2005), given only when at least :data:`TAIL_MIN_PATHS` losses lie beyond the
      VaR.

    An interval whose order statistics fall outside the sample is NaN (too few paths).

    Parameters
    ----------
    pnl : array_like, shape (n_paths,)
        PnL per path, price units; finite.
    level : float
        Confidence level in [0.5, 1), e.g. 0.95 or 0.99.

    Returns
    -------
    dict
        ``var``, ``var_ci_low``, ``var_ci_high``, ``cvar``, ``cvar_se``, ``cvar_ci_low``,
        ``cvar_ci_high`` (price units, losses positive), ``tail_paths`` (losses at or
        beyond the VaR).
    """
    loss = np.sort(-_sample(pnl, "pnl"))
    level = _level(level)
    n = loss.size
    nan = float("nan")
    rank = min(max(math.ceil(n * level - 1e-9), 1), n)      # 1-based rank of the VaR
    var = float(loss[rank - 1])
    lo = int(_scipy_stats.binom.ppf(0.025, n, level))
    hi = int(_scipy_stats.binom.ppf(0.975, n, level)) + 1
    var_low, var_high = ((float(loss[lo - 1]), float(loss[hi - 1])) if 1 <= lo and hi <= n
                         else (nan, nan))
    # Integral of the empirical quantile function over [level, 1]: the loss of rank i covers
    # u in ((i - 1) / n, i / n].
    edges = np.arange(n + 1) / n
    overlap = np.clip(edges[1:] - np.maximum(edges[:-1], level), 0.0, None)
    cvar = float(np.sum(overlap * loss) / (1.0 - level))
    excess = np.maximum(loss - var, 0.0)
    tail = int(np.count_nonzero(loss >= var))
    if n - rank + 1 >= TAIL_MIN_PATHS and n > 1:
        se = float(excess.std(ddof=1) / ((1.0 - level) * math.sqrt(n)))
    else:
        se = nan
    return {"var": var, "var_ci_low": var_low, "var_ci_high": var_high, "cvar": cvar,
            "cvar_se": se, "cvar_ci_low": cvar - Z95 * se, "cvar_ci_high": cvar + Z95 * se,
            "tail_paths": tail}


def moments(pnl) -> dict[str, float]:
    """Sample skewness and excess kurtosis, bias-adjusted (``G1``, ``G2`` of Joanes & Gill
    1998, the defaults of Excel and SAS; ``scipy.stats.skew/kurtosis(bias=False)``).

    ``g1 = m3 / m2^1.5``, ``G1 = g1 sqrt(n (n - 1)) / (n - 2)``; ``g2 = m4 / m2^2 - 3``,
    ``G2 = ((n + 1) g2 + 6) (n - 1) / ((n - 2) (n - 3))``, with central moments ``m_r``.
    Both are dimensionless (0 for normal data); NaN for fewer than 4 paths or zero spread.
    No interval: their standard errors need moments up to order 8, which PnL tails rarely
    have.
    """
    x = _sample(pnl, "pnl")
    n = x.size
    d = x - x.mean()
    m2 = float(np.mean(d**2))
    if n < 4 or m2 <= 0:
        return {"skew": float("nan"), "excess_kurtosis": float("nan")}
    g1 = float(np.mean(d**3)) / m2**1.5
    g2 = float(np.mean(d**4)) / m2**2 - 3.0
    return {"skew": g1 * math.sqrt(n * (n - 1)) / (n - 2),
            "excess_kurtosis": ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))}


def max_drawdown(pnl_paths) -> np.ndarray:
    """Largest peak-to-trough fall of each PnL path, price units (>= 0).

    ``MDD = max_t (max_{s <= t} P_s - P_t)``; the peak includes the first row (usually the
    PnL at t = 0, which is 0), so a path that only loses has MDD = its worst loss.

    Parameters
    ----------
    pnl_paths : array_like, shape (n_steps + 1, n_paths)
        Cumulative PnL per step (rows) and path (columns), price units; finite.

    Returns
    -------
    numpy.ndarray, shape (n_paths,)
    """
    try:
        p = np.asarray(pnl_paths, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("pnl_paths must be an array of numbers") from None
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"pnl_paths must have shape (n_steps + 1, n_paths) with both >= 1, "
                         f"got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("pnl_paths must be finite")
    return np.max(np.maximum.accumulate(p, axis=0) - p, axis=0)


# --- the standard summary row -----------------------------------------------------------------
SUMMARY_COLUMNS = (
    "paths",
    "mean", "mean_se", "mean_ci_low", "mean_ci_high",
    "std", "std_ci_low", "std_ci_high",
    "sharpe", "sharpe_ci_low", "sharpe_ci_high",
    "p_loss", "p_loss_ci_low", "p_loss_ci_high",
    "ce_gamma", "ce", "ce_ci_low", "ce_ci_high", "ce_ess", "ce_ess_ratio", "ce_top1_share",
    "ce_pareto_k", "ce_reliable", "ce_reason",
    "var95", "var95_ci_low", "var95_ci_high", "cvar95", "cvar95_ci_low", "cvar95_ci_high",
    "var99", "var99_ci_low", "var99_ci_high", "cvar99", "cvar99_ci_low", "cvar99_ci_high",
    "skew", "excess_kurtosis",
    "max_drawdown_mean", "max_drawdown_ci_low", "max_drawdown_ci_high", "max_drawdown_p95",
)
"""Columns of :func:`pnl_summary`, in order."""


def pnl_summary(pnl, *, gamma: float, pnl_paths=None) -> dict:
    """The standard summary of a PnL sample: the one row every experiment reports.

    Columns (:data:`SUMMARY_COLUMNS`; money in price units, losses positive):

    ==================================  ==========================================================
    ``paths``                           number of paths n
    ``mean``, ``mean_se``, ``mean_ci_*`` mean PnL, its s.e. and 95% normal CI (:func:`mean_ci`)
    ``std``, ``std_ci_*``               std of PnL with a kurtosis-aware CI (:func:`std_ci`)
    ``sharpe``, ``sharpe_ci_*``         mean / std across paths, per episode, CI of Mertens
                                        (2002) (:func:`sharpe_ci`); dimensionless
    ``p_loss``, ``p_loss_ci_*``         share of paths with PnL < 0, Wilson 95% CI
    ``ce_gamma``, ``ce``, ``ce_ci_*``   CARA certainty equivalent at ``gamma``; CI only when
                                        ``ce_reliable`` (:func:`certainty_equivalent`)
    ``ce_ess``, ``ce_ess_ratio``,       tail diagnostics of the CARA weights and the rule's
    ``ce_top1_share``, ``ce_pareto_k``, verdict (``ce_reason``: why not reliable, "" if it is)
    ``ce_reliable``, ``ce_reason``
    ``var95``, ``cvar95``, ... ``_99``  VaR and expected shortfall at 95% and 99% with their
                                        CIs (:func:`value_at_risk`)
    ``skew``, ``excess_kurtosis``       bias-adjusted sample moments (:func:`moments`)
    ``max_drawdown_mean``, ``_ci_*``,   mean (95% CI) and 95th percentile over paths of the
    ``max_drawdown_p95``                per-path maximum drawdown (:func:`max_drawdown`);
                                        NaN when ``pnl_paths`` is not given
    ==================================  ==========================================================

    Parameters
    ----------
    pnl : array_like, shape (n_paths,)
        Terminal PnL per path, price units; finite, at least 2 paths.
    gamma : float
        Risk aversion of the certainty equivalent, 1 / price units (> 0).
    pnl_paths : array_like, shape (n_steps + 1, n_recorded), optional
        Cumulative PnL paths for the drawdown (may be a recorded subset of the paths).

    Returns
    -------
    dict
        One value per column of :data:`SUMMARY_COLUMNS`, in that order.
    """
    x = _sample(pnl, "pnl", min_size=2)
    check_positive("gamma", gamma)
    n = x.size
    m, s, sr = mean_ci(x), std_ci(x), sharpe_ci(x)
    loss = proportion_ci(int(np.count_nonzero(x < 0)), n)
    ce = certainty_equivalent(x, gamma)
    row = {
        "paths": n,
        "mean": m["mean"], "mean_se": m["se"], "mean_ci_low": m["ci_low"],
        "mean_ci_high": m["ci_high"],
        "std": s["std"], "std_ci_low": s["ci_low"], "std_ci_high": s["ci_high"],
        "sharpe": sr["sharpe"], "sharpe_ci_low": sr["ci_low"], "sharpe_ci_high": sr["ci_high"],
        "p_loss": loss["p"], "p_loss_ci_low": loss["ci_low"], "p_loss_ci_high": loss["ci_high"],
        "ce_gamma": float(gamma), "ce": ce["ce"], "ce_ci_low": ce["ci_low"],
        "ce_ci_high": ce["ci_high"], "ce_ess": ce["ess"], "ce_ess_ratio": ce["ess_ratio"],
        "ce_top1_share": ce["top1_share"], "ce_pareto_k": ce["pareto_k"],
        "ce_reliable": ce["reliable"], "ce_reason": ce["reason"],
    }
    for level, tag in ((0.95, "95"), (0.99, "99")):
        r = value_at_risk(x, level)
        row.update({f"var{tag}": r["var"], f"var{tag}_ci_low": r["var_ci_low"],
                    f"var{tag}_ci_high": r["var_ci_high"], f"cvar{tag}": r["cvar"],
                    f"cvar{tag}_ci_low": r["cvar_ci_low"],
                    f"cvar{tag}_ci_high": r["cvar_ci_high"]})
    row.update(moments(x))
    nan = float("nan")
    if pnl_paths is not None:
        dd = max_drawdown(pnl_paths)
        d = mean_ci(dd)
        row.update({"max_drawdown_mean": d["mean"], "max_drawdown_ci_low": d["ci_low"],
                    "max_drawdown_ci_high": d["ci_high"],
                    "max_drawdown_p95": float(np.quantile(dd, 0.95))})
    else:
        row.update({"max_drawdown_mean": nan, "max_drawdown_ci_low": nan,
                    "max_drawdown_ci_high": nan, "max_drawdown_p95": nan})
    return {column: row[column] for column in SUMMARY_COLUMNS}
