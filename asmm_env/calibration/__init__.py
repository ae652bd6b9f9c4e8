"""Estimators of the model's parameters from data, with standard errors and goodness of fit.

- :func:`fit_sigma`: sigma of the mid, realised variance or two-scale (noise-robust).
- :func:`fit_intensity`, :func:`fit_intensity_per_side`: A and k of
  ``lambda(delta) = A exp(-k delta)`` by maximum likelihood from market orders' reaches.
- :func:`fit_book_rates`: limit, cancellation and market order rates of the queue-reactive
  book (``asmm_env.lob.params.BookParams``).
- :func:`plot_intensity_fit`, :func:`plot_interarrival_qq`: diagnostic figures.

Every estimate is an :class:`Estimate` (``value, se, ci_low, ci_high``); units are the data's
(prices in currency units, time in seconds for LOBSTER). The inputs come from
:mod:`asmm_env.data`.
"""

from asmm_env.calibration._results import Estimate, GofTest
from asmm_env.calibration.book_rates import BookRatesFit, fit_book_rates
from asmm_env.calibration.figures import plot_intensity_fit, plot_interarrival_qq
from asmm_env.calibration.intensity import IntensityFit, fit_intensity, fit_intensity_per_side
from asmm_env.calibration.volatility import SigmaFit, fit_sigma

__all__ = [
    "BookRatesFit",
    "Estimate",
    "GofTest",
    "IntensityFit",
    "SigmaFit",
    "fit_book_rates",
    "fit_intensity",
    "fit_intensity_per_side",
    "fit_sigma",
    "plot_interarrival_qq",
    "plot_intensity_fit",
]
