"""Monte Carlo statistics with their uncertainty: every number an experiment reports comes
with a standard error or a 95% confidence interval."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


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


def certainty_equivalent(pnl, gamma: float) -> dict[str, float]:
    """CARA certainty equivalent ``-ln(mean(exp(-gamma PnL))) / gamma`` with a delta-method
    standard error and 95% CI (computed with a shift for numerical stability)."""
    x = -gamma * np.asarray(pnl, dtype=float)
    shift = x.max()
    w = np.exp(x - shift)
    m = w.mean()
    ce = -(np.log(m) + shift) / gamma
    # d CE / d m = -1 / (gamma m); se of m is std(w)/sqrt(n)
    se = float(w.std(ddof=1) / np.sqrt(w.size) / (gamma * m))
    return {"ce": float(ce), "se": se, "ci_low": float(ce - Z95 * se),
            "ci_high": float(ce + Z95 * se)}


def proportion_ci(successes, trials) -> dict[str, float]:
    """Proportion with its Wilson 95% interval."""
    successes, trials = float(successes), float(trials)
    if trials <= 0:
        return {"p": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
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
    """``"62.94 [62.57, 63.31]"``: a value and its interval for Markdown tables."""
    if not np.isfinite(value):
        return "n/a"
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
