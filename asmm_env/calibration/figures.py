"""Diagnostic figures of the intensity fits. Each function builds a new
:class:`matplotlib.figure.Figure` (no pyplot, no global state) and returns it; save it with
``fig.savefig(path)``."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from asmm_env.calibration._results import _z
from asmm_env.calibration.intensity import IntensityFit, as_fit_mapping

_QQ_POINTS = 1000


def plot_intensity_fit(fits: IntensityFit | dict[str, IntensityFit]) -> Figure:
    """Fitted ``A exp(-k delta)`` against the empirical intensity by depth, one panel per side.

    Parameters
    ----------
    fits : IntensityFit or mapping of str to IntensityFit
        E.g. the result of :func:`asmm_env.calibration.fit_intensity_per_side`.

    Returns
    -------
    matplotlib.figure.Figure
        Per panel: the empirical intensity (orders per unit time, log scale) with its
        confidence bars at the fits' level (log-scale Wald), and the fitted curve, against
        the depth (price units).
    """
    fits = as_fit_mapping(fits)
    fig = Figure(figsize=(4.5 * len(fits), 3.6), layout="constrained")
    axes = fig.subplots(1, len(fits), squeeze=False)[0]
    for ax, (label, fit) in zip(axes, fits.items(), strict=True):
        table = fit.intensity_table
        ok = table["empirical"].to_numpy() > 0
        z = _z(fit.k.confidence)
        emp = table["empirical"].to_numpy()[ok]
        # Log-scale intervals, emp * exp(-/+ z se / emp), as for every rate estimate here:
        # they stay positive on the log axis.
        spread = np.exp(z * np.nan_to_num(table["empirical_se"].to_numpy()[ok]) / emp)
        ax.errorbar(table["depth"].to_numpy()[ok], emp, yerr=[emp - emp / spread,
                                                                emp * spread - emp], fmt="o",
                    color="C0", capsize=3, label="empirical")
        grid = np.linspace(fit.delta_min, max(table["depth"].max(), fit.delta_min), 200)
        ax.plot(grid, fit.intensity(grid), color="C1",
                label=f"A exp(-k delta): A={fit.A.value:.3g}, k={fit.k.value:.3g}")
        ax.set_yscale("log")
        ax.set_xlabel("depth delta (price units)")
        ax.set_ylabel("intensity (orders per unit time)")
        ax.set_title(f"{label}: {fit.n_orders} orders")
        ax.legend(fontsize="small")
    return fig


def plot_interarrival_qq(fits: IntensityFit | dict[str, IntensityFit]) -> Figure:
    """QQ plot of the inter-arrival times of the orders reaching ``delta_min`` against the
    exponential law of rate N / T, one panel per side (fits made with arrival times)."""
    fits = as_fit_mapping(fits)
    missing = [label for label, fit in fits.items() if fit.interarrival_qq is None]
    if missing:
        raise ValueError(f"fits {missing} have no inter-arrival data: fit them with times=")
    fig = Figure(figsize=(4.0 * len(fits), 3.8), layout="constrained")
    axes = fig.subplots(1, len(fits), squeeze=False)[0]
    for ax, (label, fit) in zip(axes, fits.items(), strict=True):
        qq = fit.interarrival_qq
        # At most _QQ_POINTS evenly spaced order statistics: the same picture, drawn fast.
        qq = qq.iloc[np.unique(np.linspace(0, len(qq) - 1, min(len(qq), _QQ_POINTS))
                               .round().astype(int))]
        ax.plot(qq["exponential"], qq["observed"], ".", color="C0", markersize=3)
        top = float(max(qq["exponential"].max(), qq["observed"].max()))
        ax.plot([0, top], [0, top], color="C1", label="y = x")
        ks = fit.interarrival_ks
        ax.set_title(f"{label}: KS p = {ks.p_value:.3g}")
        ax.set_xlabel("exponential quantile (time units)")
        ax.set_ylabel("observed inter-arrival time (time units)")
        ax.legend(fontsize="small")
    return fig
