"""Midprice models: each draws the increment of the mid over one step, batched over paths.

A model has ``reset(n_paths, streams)`` (takes its sources from the episode's
:class:`~asmm_env.streams.RandomStreams` and sets any state of its own) and
``increment(mid, dt) -> ndarray (n_paths,)``, the change of the mid over ``[t, t + dt]`` in
price units. The market draws the increment *before* the fills of the step, so that an
informed-flow fill model can condition on it (see ``asmm_env.fills``). Each part draws from
its own named stream (``"price"``, ``"jumps"`` and ``"jump_size"``, ``"volatility"``), a
fixed number of variates per path and step, so a model switched off (no jumps, no stochastic
volatility) leaves the diffusion's draws, and so the paths, byte for byte as without it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from asmm_env.params import MarketParams
from asmm_env.streams import RandomStreams


class PriceModel(Protocol):
    def reset(self, n_paths: int, streams: RandomStreams) -> None: ...

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray: ...


class ArithmeticBrownian:
    """``dS = drift dt + sigma dW`` with Gaussian increments (AS 2008's model).

    sigma in price units / sqrt(time), drift in price units / time.
    """

    def __init__(self, sigma: float, drift: float = 0.0) -> None:
        self.sigma, self.drift = sigma, drift

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self._z = streams.source("price", "normal")

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        dS = self._z.next() * (self.sigma * np.sqrt(dt))
        return dS + self.drift * dt if self.drift else dS


class BinomialWalk:
    """The AS 2008 simulation walk: ``+/- sigma sqrt(dt)`` with probability 1/2 (plus drift dt)."""

    def __init__(self, sigma: float, drift: float = 0.0) -> None:
        self.sigma, self.drift = sigma, drift

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self._u = streams.source("price", "uniform")

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        step = self.sigma * np.sqrt(dt)
        up = self._u.next() < 0.5
        return up * (2.0 * step) - (step - self.drift * dt)


class GeometricBrownian:
    """``dS / S = drift dt + sigma dW``, exact log-normal step (sigma relative, 1 / sqrt(time))."""

    def __init__(self, sigma: float, drift: float = 0.0) -> None:
        self.sigma, self.drift = sigma, drift

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self._z = streams.source("price", "normal")

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        z = self._z.next()
        log_step = (self.drift - 0.5 * self.sigma**2) * dt + self.sigma * np.sqrt(dt) * z
        return mid * np.expm1(log_step)


class StochasticVolatility:
    """Heston-type arithmetic model: ``dS = drift dt + sqrt(v) dW``,
    ``dv = kappa (sigma^2 - v) dt + vol_of_vol sqrt(v) dW'`` with independent W, W'.

    The variance starts at its long-run level sigma^2 (price units^2 / time) and is stepped by
    full-truncation Euler (the variance used is ``max(v, 0)``), a standard scheme that keeps
    the square root real without biasing v upwards much.
    """

    def __init__(self, sigma: float, vol_of_vol: float, mean_reversion: float,
                 drift: float = 0.0) -> None:
        self.sigma, self.vol_of_vol = sigma, vol_of_vol
        self.mean_reversion, self.drift = mean_reversion, drift
        self.variance = np.empty(0)

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self.variance = np.full(n_paths, self.sigma**2)
        self._z = streams.source("price", "normal")
        self._w = streams.source("volatility", "normal")

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        v = np.maximum(self.variance, 0.0)
        root_v_dt = np.sqrt(v * dt)
        dS = self.drift * dt + root_v_dt * self._z.next()
        self.variance = (self.variance + self.mean_reversion * (self.sigma**2 - v) * dt
                         + self.vol_of_vol * root_v_dt * self._w.next())
        return dS


class CompoundPoissonJumps:
    """Adds compound-Poisson jumps to another model: ``N ~ Poisson(intensity dt)`` jumps per
    step, each ``Normal(0, jump_std^2)`` in price units (the sum of N is drawn in one shot)."""

    def __init__(self, base: PriceModel, intensity: float, jump_std: float) -> None:
        self.base, self.intensity, self.jump_std = base, intensity, jump_std
        self._dt = None

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self.base.reset(n_paths, streams)
        self._streams = streams
        self._dt = None

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        if dt != self._dt:      # the count's mean is fixed per episode: one source per dt
            self._dt = dt
            self._count = self._streams.source("jumps", "poisson", lam=self.intensity * dt)
            self._size = self._streams.source("jump_size", "normal")
        dS = self.base.increment(mid, dt)
        return dS + self.jump_std * np.sqrt(self._count.next()) * self._size.next()


def build_price_model(params: MarketParams) -> PriceModel:
    """The price model the parameters describe (extensions wrap the base model only when on)."""
    if params.vol_of_vol > 0:
        model: PriceModel = StochasticVolatility(
            params.sigma, params.vol_of_vol, params.vol_mean_reversion, params.drift)
    else:
        base = {"gaussian": ArithmeticBrownian, "binomial": BinomialWalk,
                "gbm": GeometricBrownian}[params.price_dynamics]
        model = base(params.sigma, params.drift)
    if params.jump_intensity > 0 and params.jump_std > 0:
        model = CompoundPoissonJumps(model, params.jump_intensity, params.jump_std)
    return model
