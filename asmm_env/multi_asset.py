"""Several assets with correlated midprices, each a reduced-form AS market, and a runner for
portfolio market makers.

The market (:class:`MultiAssetMarket`): d assets, asset i a :class:`~asmm_env.market.Market`
of its own :class:`~asmm_env.params.MarketParams` (sigma_i, A_i, k_i, ...; the same T and dt)
with one maker. The mid increments over a step are Gaussian with correlation matrix R:

    dS_i = sigma_i sqrt(dt) sum_{j <= i} L_ij Z_j,      R = L L' (Cholesky),

the Z_j independent standard normals, Z_j from asset j's ``"price"`` stream. Each asset's
order flow, tie-breaks and any other source draw from that asset's own streams: asset i of d
takes index ``j d + i`` where a single market takes index j (:class:`AssetStreams`), so asset 0
draws exactly what a single :class:`~asmm_env.market.Market` with the same seed draws, and
with ``L_00 = 1`` its mid path is that market's, whatever the correlation (common random
numbers across correlations). Fills, capacities, impact and the ledger are each asset's
Market's; a portfolio's PnL is the sum over assets.

The runner (:func:`rollout_portfolio`) steps a portfolio policy over chunks of whole blocks of
paths, like :func:`asmm_env.rollout.rollout`: ``policy.depths(observation)`` with
``observation`` of shape (n_paths, d, 3), each asset's ``(mid, inventory, time_remaining)``,
returns the bid and ask depths, each (n_paths, d), price units.

References: Guéant (2017), Appl. Math. Finance 24(2), and Bergault, Evangelista, Guéant &
Vieira (2021), Appl. Math. Finance 28(2), section 2: the multi-asset model (correlated
arithmetic Brownian mids, AS intensities per asset).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from asmm_env.analytic.multi_asset import correlation_matrix
from asmm_env.market import Market
from asmm_env.params import MarketParams
from asmm_env.streams import BLOCK_PATHS, RandomStreams, episode_streams
from asmm_env.validation import check_positive_int

__all__ = ["PORTFOLIO_COLUMNS", "AssetStreams", "MultiAssetMarket", "correlation_matrix",
           "rollout_portfolio"]


def _cholesky(corr: np.ndarray) -> np.ndarray:
    """Lower-triangular L with ``L L' = corr``, also for a singular (semi-definite) matrix
    (rho = +-1): the pivot-free outer-product algorithm, a zero pivot giving a zero column."""
    d = corr.shape[0]
    L = np.zeros((d, d))
    for j in range(d):
        pivot = corr[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = np.sqrt(max(pivot, 0.0))
        for i in range(j + 1, d):
            rest = corr[i, j] - L[i, :j] @ L[j, :j]
            L[i, j] = rest / L[j, j] if L[j, j] > 1e-12 else 0.0
    return L


class AssetStreams(RandomStreams):
    """Asset ``asset``'s view of the episode's streams among ``n_assets``: the source a single
    market draws with index j is drawn with index ``j * n_assets + asset`` (so asset 0 with
    index 0 is the single market's stream)."""

    def __init__(self, streams: RandomStreams, asset: int, n_assets: int) -> None:
        self.__dict__.update(streams.__dict__)
        self._step_bits = {}
        self.asset, self.n_assets = int(asset), int(n_assets)

    def block_generator(self, stream: str, block: int, index: int = 0) -> np.random.Generator:
        return super().block_generator(stream, block, index * self.n_assets + self.asset)


class _GivenIncrement:
    """A price model whose increments the multi-asset market sets before each step."""

    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def reset(self, n_paths: int, streams: RandomStreams) -> None:
        self.value = None

    def increment(self, mid: np.ndarray, dt: float) -> np.ndarray:
        return self.value


class MultiAssetMarket:
    """d correlated assets, one market maker quoting on each (module docstring).

    Parameters
    ----------
    params : sequence of MarketParams
        One per asset (d >= 1), Gaussian mids without jumps or stochastic volatility
        (``price_dynamics="gaussian"``, ``jump_intensity = vol_of_vol = 0``), all with the same
        T and dt.
    correlation : float or array_like (d, d)
        Correlation of the mid increments (see :func:`correlation_matrix`).
    n_paths : int
        Monte Carlo paths simulated at once.
    block_paths : int, optional
        Paths per block of the random streams (see :class:`~asmm_env.market.Market`).
    fill_models : sequence, optional
        One fill model per asset replacing the ones its params describe (e.g. Hawkes flow).

    Attributes
    ----------
    markets : list of Market
        Asset i's market (its ``ledger``, ``mid``, ``fill_model``).
    correlation : ndarray (d, d)
    """

    def __init__(self, params: Sequence[MarketParams], correlation: Any = 0.0,
                 n_paths: int = 1, *, block_paths: int | None = None,
                 fill_models: Sequence[Any] | None = None) -> None:
        params = list(params) if isinstance(params, (list, tuple)) else None
        if not params or not all(isinstance(p, MarketParams) for p in params):
            raise ValueError("params must be a non-empty sequence of MarketParams, one per "
                             "asset")
        for i, p in enumerate(params):
            if p.price_dynamics != "gaussian" or p.jump_intensity or p.vol_of_vol:
                raise ValueError(f"params[{i}] must have Gaussian mids (price_dynamics="
                                 f"'gaussian', no jumps, no stochastic volatility), got "
                                 f"price_dynamics={p.price_dynamics!r}, jump_intensity="
                                 f"{p.jump_intensity!r}, vol_of_vol={p.vol_of_vol!r}")
            if p.T != params[0].T or p.dt != params[0].dt:
                raise ValueError(f"params[{i}] must have the T and dt of params[0] "
                                 f"({params[0].T!r}, {params[0].dt!r}), got ({p.T!r}, "
                                 f"{p.dt!r})")
        d = len(params)
        if fill_models is not None and len(fill_models) != d:
            raise ValueError(f"fill_models must hold one fill model per asset ({d}), got "
                             f"{len(fill_models)}")
        self.params, self.n_assets = params, d
        self.correlation = correlation_matrix(correlation, d)
        self._L = _cholesky(self.correlation)
        self._scale = np.array([p.sigma for p in params])
        self._drift = np.array([p.drift for p in params])
        self._prices = [_GivenIncrement() for _ in range(d)]
        self.markets = [Market(p, n_paths, 1, price_model=self._prices[i],
                               fill_model=None if fill_models is None else fill_models[i],
                               block_paths=block_paths)
                        for i, p in enumerate(params)]
        self.n_paths, self.block_paths = self.markets[0].n_paths, block_paths
        self.n_steps = params[0].n_steps
        self.dt = params[0].dt
        self.step_index = 0

    @property
    def time_remaining(self) -> float:
        """``T - t``, time units."""
        return (self.n_steps - self.step_index) * self.dt

    @property
    def done(self) -> bool:
        return self.step_index >= self.n_steps

    @property
    def mid(self) -> np.ndarray:
        """Mids, (n_paths, d), price units."""
        return np.stack([m.mid for m in self.markets], axis=1)

    @property
    def inventory(self) -> np.ndarray:
        """Inventories, (n_paths, d), shares."""
        return np.stack([m.ledger.inventory[:, 0] for m in self.markets], axis=1)

    def reset(self, seed: Any = None, *, first_block: int = 0) -> None:
        """Start a new episode (``seed`` as :meth:`Market.reset`)."""
        streams = episode_streams(seed, self.n_paths, block_paths=self.block_paths,
                                  first_block=first_block)
        self.streams = streams
        views = [AssetStreams(streams, i, self.n_assets) for i in range(self.n_assets)]
        self._z = [view.source("price", "normal") for view in views]
        for market, view in zip(self.markets, views, strict=True):
            market.reset(view)
        self.step_index = 0

    def observation(self) -> np.ndarray:
        """Each asset's ``(mid, inventory, time_remaining)``, (n_paths, d, 3)."""
        obs = np.empty((self.n_paths, self.n_assets, 3))
        obs[..., 0] = self.mid
        obs[..., 1] = self.inventory
        obs[..., 2] = self.time_remaining
        return obs

    def step(self, depths: np.ndarray) -> np.ndarray:
        """One step with the bid and ask ``depths`` of every asset, (n_paths, d, 2), price
        units; returns the shares filled, same shape."""
        shape = (self.n_paths, self.n_assets, 2)
        if getattr(depths, "shape", None) != shape:
            raise ValueError(f"depths must have shape (n_paths, d, 2) = {shape}, got "
                             f"{np.shape(depths)}")
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        z = [source.next() for source in self._z]
        root_dt = np.sqrt(self.dt)
        volume = np.empty(shape)
        for i, market in enumerate(self.markets):
            # Asset i's normal: sum_{j <= i} L_ij Z_j (exactly Z_0 for asset 0, L_00 = 1), scaled
            # as ArithmeticBrownian scales its draw.
            x = self._L[i, 0] * z[0]
            for j in range(1, i + 1):
                x = x + self._L[i, j] * z[j]
            dS = x * (self._scale[i] * root_dt)
            self._prices[i].value = dS + self._drift[i] * self.dt if self._drift[i] else dS
            volume[:, i] = market.step(depths[:, i:i + 1])[:, 0]
        self.step_index += 1
        return volume

    def pnl(self) -> np.ndarray:
        """PnL per asset, (n_paths, d), price units (the portfolio's is the sum)."""
        return np.concatenate([m.pnl() for m in self.markets], axis=1)


PORTFOLIO_COLUMNS = ("path", "asset", "terminal_pnl", "terminal_inventory", "bid_fills",
                     "ask_fills", "fills", "spread_capture", "inventory_pnl",
                     "adverse_selection", "max_abs_inventory")


def rollout_portfolio(policy: Any, params: Sequence[MarketParams], correlation: Any = 0.0, *,
                      n_paths: int, seed: int, chunk_size: int = 50_000,
                      fill_models: Any = None) -> pd.DataFrame:
    """Roll a portfolio policy over ``n_paths`` paths of a :class:`MultiAssetMarket`.

    Parameters
    ----------
    policy
        ``policy.depths(observation) -> (bid, ask)``: observation (n, d, 3) per asset (mid,
        inventory, time_remaining); depths (n, d), price units (e.g.
        :class:`baselines.portfolio.GueantPolicy`, :class:`baselines.portfolio.IndependentMakers`).
    params, correlation
        The market (:class:`MultiAssetMarket`).
    n_paths : int
        Paths (>= 1).
    seed : int
        Root seed of the named streams (>= 0); asset 0 of path i sees the market a single-asset
        :func:`~asmm_env.rollout.rollout` with this seed sees on path i.
    chunk_size : int
        Paths simulated at once, rounded up to whole blocks; never changes a result.
    fill_models : callable, optional
        ``fill_models() -> sequence`` of one fresh fill model per asset, called per chunk.

    Returns
    -------
    DataFrame
        One row per (path, asset), columns :data:`PORTFOLIO_COLUMNS` (money in price units,
        inventory in shares, fills counted).
    """
    check_positive_int("n_paths", n_paths)
    check_positive_int("chunk_size", chunk_size)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not callable(getattr(policy, "depths", None)):
        raise TypeError(f"policy must have a depths(observation) method, got {policy!r}")
    chunk = -(-chunk_size // BLOCK_PATHS) * BLOCK_PATHS
    frames = []
    for start in range(0, n_paths, chunk):
        size = min(chunk, n_paths - start)
        market = MultiAssetMarket(params, correlation, size, block_paths=BLOCK_PATHS,
                                  fill_models=None if fill_models is None else fill_models())
        market.reset(int(seed), first_block=start // BLOCK_PATHS)
        depths = np.empty((size, market.n_assets, 2))
        for _ in range(market.n_steps):
            bid, ask = policy.depths(market.observation())
            depths[..., 0], depths[..., 1] = bid, ask
            market.step(depths)
        frames.append(_chunk_frame(market, start))
    return pd.concat(frames, ignore_index=True)


def _chunk_frame(market: MultiAssetMarket, start: int) -> pd.DataFrame:
    n, d = market.n_paths, market.n_assets
    led = [m.ledger for m in market.markets]

    def per_asset(values) -> np.ndarray:
        return np.stack([np.asarray(v).reshape(n) for v in values], axis=1).reshape(-1)

    columns = {
        "path": np.repeat(np.arange(start, start + n), d),
        "asset": np.tile(np.arange(d), n),
        "terminal_pnl": market.pnl().reshape(-1),
        "terminal_inventory": per_asset(lg.inventory for lg in led),
        "bid_fills": per_asset(lg.bid_fills for lg in led),
        "ask_fills": per_asset(lg.ask_fills for lg in led),
        "fills": per_asset(lg.bid_fills + lg.ask_fills for lg in led),
        "spread_capture": per_asset(lg.spread_capture for lg in led),
        "inventory_pnl": per_asset(lg.inventory_pnl for lg in led),
        "adverse_selection": per_asset(lg.adverse_selection for lg in led),
        "max_abs_inventory": per_asset(lg.max_abs_inventory for lg in led),
    }
    return pd.DataFrame(columns)
