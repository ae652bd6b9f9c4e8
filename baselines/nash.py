"""A symmetric Nash equilibrium among N market makers over a one-parameter family of quotes:
the Avellaneda–Stoikov depths shifted by a common offset, found by iterated best response.

Economics
---------
Each of N identical makers (risk aversion gamma) quotes the AS depths plus an offset
``theta`` on both sides (:class:`OffsetPolicy`): ``theta < 0`` quotes tighter (more orders,
less edge each), ``theta > 0`` wider. Every maker values its terminal PnL by its CARA
certainty equivalent ``CE = -ln E[exp(-gamma PnL)] / gamma``. With the rivals at ``theta_o``
a maker's best response is

    BR(theta_o) = argmax_theta CE_0(theta; theta_o),

``CE_0`` the certainty equivalent of agent 0 quoting ``theta`` among N - 1 rivals at
``theta_o``, estimated by Monte Carlo on common random numbers (every candidate sees the same
mid paths and order flow, :mod:`asmm_env.streams`), so the comparison across candidates is
paired. A symmetric equilibrium is a fixed point ``theta* = BR(theta*)``: no maker gains by
quoting another offset of the family when the others quote ``theta*``. Iterating
``theta_{j+1} = BR(theta_j)`` from the AS quotes (``theta_0`` = 0) stops at a fixed point,
or reports the cycle it enters (a discrete family need not have a pure equilibrium). Under
price priority an offset a little below the rivals' takes their flow: as long as that pays
for the inventory it brings, the best response undercuts and the iteration walks the offset
down, Bertrand-like, towards the quotes whose edge just covers the inventory risk.

The equilibrium is of the family only (no maker may leave it), on a grid of offsets, for the
sample of paths given (the argmax is a Monte Carlo estimate).

Reference: Fudenberg & Tirole (1991), Game Theory, section 1.2.5 (iterated best response);
Avellaneda & Stoikov (2008), eqs. (29)-(30) (the quotes shifted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asmm_env.analytic.avellaneda_stoikov import optimal_depths
from asmm_env.params import MarketParams
from asmm_env.validation import check_finite, check_positive, check_positive_int
from baselines.avellaneda_stoikov import AvellanedaStoikovPolicy
from baselines.policy import market_params, model_parameter


class OffsetPolicy(AvellanedaStoikovPolicy):
    """The AS depths plus ``offset`` on both sides (price units; negative is tighter).

    Parameters
    ----------
    gamma : float
        Risk aversion of the AS quotes, 1 / money (> 0).
    offset : float
        Added to both AS depths, price units (finite).
    sigma, k, T, action_map
        As in :class:`baselines.AvellanedaStoikovPolicy`.
    """

    def __init__(self, gamma: float, offset: float, *, sigma: float, k: float, T: float,
                 action_map: Any) -> None:
        super().__init__(gamma, sigma=sigma, k=k, T=T, action_map=action_map)
        check_finite("offset", offset)
        self.offset = float(offset)

    @classmethod
    def from_env(cls, env: Any, gamma: float, offset: float = 0.0, *,
                 sigma: float | None = None, k: float | None = None) -> OffsetPolicy:
        p = market_params(env)
        return cls(gamma, offset, sigma=model_parameter(p, "sigma", sigma),
                   k=model_parameter(p, "k", k), T=p.T, action_map=p.action_map)

    def depths(self, observation: np.ndarray):
        bid, ask = optimal_depths(observation[..., 1], self.T - observation[..., 2],
                                  gamma=self.gamma, sigma=self.sigma, k=self.k, T=self.T)
        return bid + self.offset, ask + self.offset

    def __repr__(self) -> str:
        return f"OffsetPolicy(gamma={self.gamma}, offset={self.offset:+.4g})"


def certainty_equivalent(pnl: np.ndarray, gamma: float) -> float:
    """``-ln mean(exp(-gamma PnL)) / gamma``, computed shifted by the worst PnL (no
    overflow); price units."""
    pnl = np.asarray(pnl, dtype=np.float64)
    worst = float(pnl.min())
    return worst - float(np.log(np.mean(np.exp(-gamma * (pnl - worst))))) / gamma


@dataclass(frozen=True)
class BestResponse:
    """Agent 0's certainty equivalent ``ce`` and mean PnL ``mean_pnl`` for each candidate
    offset evaluated (``candidates``, sorted) with the rivals at ``rival_offset``; ``best`` is
    the argmax (price units)."""

    rival_offset: float
    candidates: np.ndarray
    ce: np.ndarray
    mean_pnl: np.ndarray
    best: float


@dataclass(frozen=True)
class NashEquilibrium:
    """The result of :func:`symmetric_nash`.

    Attributes
    ----------
    offset : float
        The fixed point ``theta*`` (price units), or the last offset of the iteration if it
        did not converge (for a cycle: the first offset it returned to).
    converged : bool
        Whether ``BR(theta*) == theta*`` was reached.
    path : tuple of float
        The iterates ``theta_0, theta_1, ...``.
    responses : dict
        Every best response computed, by rival offset (:class:`BestResponse`).
    """

    n_agents: int
    gamma: float
    offset: float
    converged: bool
    path: tuple[float, ...]
    responses: dict[float, BestResponse] = field(default_factory=dict)

    def policy(self, params: MarketParams) -> OffsetPolicy:
        """The equilibrium quotes on ``params``' market."""
        return OffsetPolicy.from_env(params, self.gamma, self.offset)


def _deviator_pnl(theta: float, rival_offset: float, *, params: MarketParams, n_agents: int,
                  gamma: float, n_paths: int, seed: int) -> np.ndarray:
    """Terminal PnL of agent 0 quoting ``theta`` among ``n_agents - 1`` rivals at
    ``rival_offset`` (one rollout on ``seed``)."""
    from asmm_env.rollout import rollout

    policies = [OffsetPolicy.from_env(params, gamma, theta),
                *[OffsetPolicy.from_env(params, gamma, rival_offset)] * (n_agents - 1)]
    result = rollout(policies, params, n_paths=n_paths, seed=seed)
    return result.paths["terminal_pnl"].to_numpy()[::n_agents]


def best_response(rival_offset: float, grid: Sequence[float], *, params: MarketParams,
                  n_agents: int, gamma: float, n_paths: int, seed: int,
                  ce_gamma: float | None = None, search: str = "climb") -> BestResponse:
    """Agent 0's best offset on ``grid`` (price units) with ``n_agents - 1`` rivals at
    ``rival_offset``, by its certainty equivalent at ``ce_gamma`` (default ``gamma``), every
    candidate on the seed ``seed`` (common random numbers).

    ``search="grid"`` evaluates every offset of the grid; ``"climb"`` (cheaper) starts from
    the grid points next to the rivals' offset and extends the search one grid step at a
    time beyond whichever end holds the best candidate, until the best is interior (or a
    grid end): exact when the CE is unimodal in the offset, as it is in every map we drew
    (:func:`best_response` with ``"grid"`` draws one).
    """
    check_positive_int("n_agents", n_agents)
    check_positive("gamma", gamma)
    if search not in ("climb", "grid"):
        raise ValueError(f"search must be 'climb' or 'grid', got {search!r}")
    ce_gamma = gamma if ce_gamma is None else ce_gamma
    grid = np.asarray(sorted(set(float(c) for c in grid)))
    if grid.size == 0:
        raise ValueError("grid must hold at least one offset, got none")
    found: dict[int, tuple[float, float]] = {}

    def evaluate(i: int) -> float:
        if i not in found:
            pnl = _deviator_pnl(float(grid[i]), rival_offset, params=params,
                                n_agents=n_agents, gamma=gamma, n_paths=n_paths, seed=seed)
            found[i] = (certainty_equivalent(pnl, ce_gamma), float(pnl.mean()))
        return found[i][0]

    if search == "grid":
        for i in range(grid.size):
            evaluate(i)
    else:
        centre = int(np.argmin(np.abs(grid - rival_offset)))
        low, high = max(centre - 1, 0), min(centre + 1, grid.size - 1)
        for i in range(low, high + 1):
            evaluate(i)
        while True:
            best = max(found, key=lambda i: found[i][0])
            if best == low and low > 0:
                low -= 1
                evaluate(low)
            elif best == high and high < grid.size - 1:
                high += 1
                evaluate(high)
            else:
                break
    index = np.array(sorted(found))
    ce = np.array([found[i][0] for i in index])
    mean = np.array([found[i][1] for i in index])
    return BestResponse(float(rival_offset), grid[index], ce, mean,
                        float(grid[index[int(np.argmax(ce))]]))


def symmetric_nash(params: MarketParams, n_agents: int, gamma: float, grid: Sequence[float],
                   *, n_paths: int, seed: int, start: float = 0.0, max_iterations: int = 12,
                   ce_gamma: float | None = None, search: str = "climb") -> NashEquilibrium:
    """Iterated best response ``theta_{j+1} = BR(theta_j)`` over the offsets ``grid`` (price
    units), from the grid point nearest ``start``, until a fixed point, a cycle or
    ``max_iterations`` best responses (:func:`best_response` for ``search`` and the seeds).

    With ``n_agents = 1`` there is no rival: the lone maker's best offset is the fixed point
    at once.

    Examples
    --------
    >>> from asmm_env import MarketParams
    >>> params = MarketParams(T=0.2, tick_size=0.05)
    >>> eq = symmetric_nash(params, 2, 0.1, [-0.6, -0.4, -0.2, 0.0], n_paths=200,
    ...                     seed=1)  # doctest: +SKIP
    >>> eq.converged, eq.offset < 0  # doctest: +SKIP
    (True, True)
    """
    values = np.asarray(sorted(set(float(o) for o in grid)))
    if values.size == 0:
        raise ValueError("grid must hold at least one offset, got none")
    check_positive_int("max_iterations", max_iterations)
    theta = float(values[np.argmin(np.abs(values - start))])
    path, responses = [theta], {}
    for _ in range(max_iterations):
        response = best_response(theta, values, params=params, n_agents=n_agents,
                                 gamma=gamma, n_paths=n_paths, seed=seed, ce_gamma=ce_gamma,
                                 search=search)
        responses[theta] = response
        if n_agents == 1 or response.best == theta:
            if response.best != theta:
                path.append(response.best)
            return NashEquilibrium(n_agents, gamma, response.best, True, tuple(path),
                                   responses)
        cycle = response.best in path
        path.append(response.best)
        theta = response.best
        if cycle:                              # no pure fixed point on this path
            return NashEquilibrium(n_agents, gamma, theta, False, tuple(path), responses)
    return NashEquilibrium(n_agents, gamma, theta, False, tuple(path), responses)
