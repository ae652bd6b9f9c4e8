"""Self- and cross-exciting (Hawkes) market-order flow, simulated exactly and batched over paths.

Two event types, with the package's side convention (the last axis of depths and fills):

- side 0: market **sells**, which hit the bids;
- side 1: market **buys**, which lift the asks.

The intensity of side i (events per unit time) is

    lambda_i(t) = mu_i + sum_j sum_{t_jn < t} alpha_ij exp(-beta_ij (t - t_jn)),

so an event of side j raises lambda_i by ``alpha_ij`` (1 / time), which then decays at rate
``beta_ij`` (1 / time). ``alpha_ii`` is self-excitation (clustered sells), ``alpha_ij`` for
i != j cross-excitation (a sell burst drawing buys). One decay for every pair is the common
case; per-pair decays cost nothing extra here.

Stationarity. ``K = alpha / beta`` (entrywise) is the branching matrix: ``K_ij`` is the mean
number of side-i events an event of side j triggers directly. The process has a stationary
version iff the branching ratio ``n = rho(K)`` (spectral radius) is < 1; its mean intensity is
then ``m = (I - K)^-1 mu`` (``mu / (1 - n)`` for one self-exciting side). As the law of large
numbers for counts, ``N_i(0, T) / T -> m_i``; for a one-dimensional process
``Var N(0, T) / E N(0, T) -> 1 / (1 - n)^2`` (Hawkes 1971; Bacry et al. 2013).

Exact simulation. Between events the intensity decays deterministically, and it is a sum of
hazards, one per *component*: the baseline ``mu_i`` of each side and the excitation
``x_ij(t) = sum_n alpha_ij exp(-beta_ij (t - t_jn))`` of each pair with ``alpha_ij > 0``
(pairs with the same side i and the same decay are merged: their sum decays as one
exponential, so with one decay the state is just the excess intensity of each side). The
first event is the first of independent competing clocks (Dassios & Zhao 2013, extended to
several components), each drawn exactly by inverting its cumulative hazard with one
``E ~ Exp(1)``:

- baseline: ``tau = E / mu_i``;
- excitation ``x e^{-beta s}``: the cumulative hazard ``x (1 - e^{-beta tau}) / beta`` is
  bounded by ``x / beta``, so the clock never rings (``tau = inf``) if ``beta E >= x`` and
  otherwise ``tau = -log(1 - beta E / x) / beta``.

The earliest clock fixes the time and the side of the next event; nothing is rejected, so
there is no bound to choose (unlike Ogata's thinning). An interval ``[t, t + dt]`` is simulated
by drawing clocks until the next event falls after ``t + dt``; that overshooting draw is
discarded and the state decayed to ``t + dt``. Discarding is exact: the state ``x`` is Markov
and the clocks are memoryless given it (the hazard from ``t + dt`` on depends only on
``x(t + dt)``), so the counts of ``[0, T]`` have the same law whatever the step dt.

Batching. Paths are simulated together: each iteration draws one ``Exp(1)`` per component for
every path still inside its interval (the *active set*) and gives each of them one event or
retires it, so the loop runs over events (at most the largest count of any path in the
interval, plus one), never over paths. The draws depend only on this process's own paths (how
many are still active at each iteration), so the same generator state gives the same counts,
byte for byte.

References
----------
Hawkes, A. G. (1971). Spectra of some self-exciting and mutually exciting point processes.
Biometrika 58(1) 83-90.
Ogata, Y. (1981). On Lewis' simulation method for point processes. IEEE Trans. Inf. Theory
27(1) 23-31.
Dassios, A. & Zhao, H. (2013). Exact simulation of Hawkes process with exponentially decaying
intensity. Electron. Commun. Probab. 18(62) 1-13.
Bacry, E., Delattre, S., Hoffmann, M. & Muzy, J.-F. (2013). Some limit theorems for Hawkes
processes and application to financial statistics. Stoch. Proc. Appl. 123(7) 2475-2499.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from asmm_env.validation import check_non_negative

__all__ = ["SIDES", "HawkesFlow", "HawkesParams"]

SIDES = ("sell", "buy")  # side 0: market sells hit the bids; side 1: market buys lift the asks


def _finite_array(name: str, value, shape_text: str, shapes: tuple[tuple[int, ...], ...]):
    """``value`` as a float array of one of ``shapes``; the error names the field."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {shape_text}, got {value!r}") from None
    if array.shape not in shapes or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be {shape_text}, got {value!r}")
    return array


def _as_pair(array: np.ndarray) -> tuple[float, float]:
    return (float(array[0]), float(array[1]))


def _as_matrix(array: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    return (_as_pair(array[0]), _as_pair(array[1]))


@dataclass(frozen=True)
class HawkesParams:
    """Parameters of two-sided Hawkes market-order flow with exponential kernels.

    Parameters
    ----------
    mu : float or sequence of 2 floats
        Baseline intensity per side (sells, buys), events per unit time (each > 0). A scalar
        is used for both sides. Stored as a tuple.
    alpha : 2 x 2 nested sequence of floats
        Jump of the intensities per event, 1 / time (each >= 0): ``alpha[i][j]`` is the jump of
        side i's intensity when a side-j event occurs. The diagonal is self-excitation, the
        off-diagonal cross-excitation. Stored as a tuple of tuples.
    beta : float or 2 x 2 nested sequence of floats
        Decay rate of the excitation, 1 / time (each > 0): one for every pair, or
        ``beta[i][j]`` per pair. Stored as a tuple of tuples.

    Raises
    ------
    ValueError
        If a field has the wrong shape or is out of range (the message names it), or if the
        branching ratio (spectral radius of alpha / beta) is >= 1: then the flow explodes and
        has no stationary mean.

    See Also
    --------
    HawkesParams.symmetric : the same self- and cross-excitation on both sides.

    Examples
    --------
    >>> p = HawkesParams.symmetric(mu=60.0, alpha_self=150.0, beta=300.0)
    >>> p.branching_ratio, p.stationary_intensity.tolist()
    (0.5, [120.0, 120.0])
    """

    mu: tuple[float, float]
    alpha: tuple[tuple[float, float], tuple[float, float]]
    beta: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self) -> None:
        mu = _finite_array("mu", self.mu, "a finite number > 0 or 2 of them", ((), (2,)))
        if np.any(mu <= 0):
            raise ValueError(f"mu must be > 0 on each side, got {self.mu!r}")
        alpha = _finite_array(
            "alpha", self.alpha, "a 2 x 2 matrix of finite numbers >= 0", ((2, 2),)
        )
        if np.any(alpha < 0):
            raise ValueError(f"alpha must be a 2 x 2 matrix of finite numbers >= 0, got "
                             f"{self.alpha!r}")
        beta = _finite_array(
            "beta", self.beta, "a finite number > 0 or a 2 x 2 matrix of them", ((), (2, 2))
        )
        if np.any(beta <= 0):
            raise ValueError(f"beta must be > 0 (each entry), got {self.beta!r}")
        mu, beta = np.broadcast_to(mu, (2,)), np.broadcast_to(beta, (2, 2))
        n = _spectral_radius(alpha / beta)
        if not n < 1.0:
            raise ValueError(
                f"alpha / beta must have spectral radius (the branching ratio) < 1 for a "
                f"stationary flow, got {n!r} with alpha={self.alpha!r}, beta={self.beta!r}"
            )
        object.__setattr__(self, "mu", _as_pair(mu))
        object.__setattr__(self, "alpha", _as_matrix(alpha))
        object.__setattr__(self, "beta", _as_matrix(beta))

    @classmethod
    def symmetric(
        cls, *, mu: float, alpha_self: float, beta: float, alpha_cross: float = 0.0
    ) -> HawkesParams:
        """Both sides alike: baseline ``mu``, self-excitation ``alpha_self``, cross-excitation
        ``alpha_cross`` (1 / time), one decay ``beta`` (1 / time).

        The branching ratio is ``(alpha_self + alpha_cross) / beta`` and the stationary
        intensity of each side ``mu / (1 - (alpha_self + alpha_cross) / beta)``.
        """
        return cls(mu=mu, alpha=((alpha_self, alpha_cross), (alpha_cross, alpha_self)),
                   beta=beta)

    @property
    def mu_vector(self) -> np.ndarray:
        """Baselines (sells, buys), shape (2,), events per unit time."""
        return np.array(self.mu)

    @property
    def alpha_matrix(self) -> np.ndarray:
        """Jumps ``alpha[i, j]`` of side i's intensity per side-j event, shape (2, 2), 1 / time."""
        return np.array(self.alpha)

    @property
    def beta_matrix(self) -> np.ndarray:
        """Decay rates ``beta[i, j]``, shape (2, 2), 1 / time."""
        return np.array(self.beta)

    @property
    def branching_matrix(self) -> np.ndarray:
        """``K = alpha / beta``, shape (2, 2): ``K[i, j]`` is the mean number of side-i events
        triggered directly by one side-j event (the integral of the kernel ``phi_ij``)."""
        return self.alpha_matrix / self.beta_matrix

    @property
    def branching_ratio(self) -> float:
        """Spectral radius n of ``alpha / beta``, in [0, 1): the factor by which each
        generation of triggered events outnumbers the previous one in the long run (one
        dimension: the mean number of events one event triggers directly)."""
        return _spectral_radius(self.branching_matrix)

    @property
    def stationary_intensity(self) -> np.ndarray:
        """Stationary mean intensity ``m = (I - alpha / beta)^-1 mu``, shape (2,), events per
        unit time; the long-run event rate of each side (``mu / (1 - n)`` in one dimension).

        It solves ``m = mu + K m`` (each event's expected offspring ``K`` on top of the
        baseline), i.e. the row-vector form ``mu^T (I - K^T)^-1``.
        """
        return np.linalg.solve(np.eye(2) - self.branching_matrix, self.mu_vector)

    @property
    def relaxation_time(self) -> float:
        """Time for the mean intensity to relax to ``stationary_intensity`` by a factor e, time
        units; ``1 / (beta (1 - n))`` with one decay beta.

        The mean excitations ``E[x_ij]`` obey the linear ODE
        ``d E[x_ij] / dt = -beta_ij E[x_ij] + alpha_ij (mu_j + sum_l E[x_jl])``; this is
        ``-1 / max Re(eigenvalue)`` of its matrix. A burn-in of ~10-20 relaxation times puts the
        second moments (and so the variance of counts) at their stationary values too.
        """
        g = _mean_dynamics(self)
        if g.size == 0:  # Poisson flow: nothing to relax
            return 0.0
        return -1.0 / float(np.max(np.linalg.eigvals(g).real))


def _spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def _mean_dynamics(params: HawkesParams) -> np.ndarray:
    """Matrix G of ``d E[x] / dt = G E[x] + c``, x the excitations x_ij with alpha_ij > 0.

    (A pair with alpha_ij = 0 stays at 0: its decay is no mode of the flow.)
    """
    alpha, beta = params.alpha_matrix, params.beta_matrix
    pairs = [(i, j) for i in range(2) for j in range(2) if alpha[i, j] > 0]
    g = np.zeros((len(pairs), len(pairs)))
    for row, (i, j) in enumerate(pairs):
        g[row, row] -= beta[i, j]
        for col, (l, _) in enumerate(pairs):
            if l == j:  # alpha_ij lambda_j, with lambda_j = mu_j + sum of the x_jl
                g[row, col] += alpha[i, j]
    return g


class HawkesFlow:
    """Two-sided Hawkes market-order flow for a batch of paths, simulated exactly.

    Call :meth:`reset` once per episode, then :meth:`advance` once per interval; the counts of
    successive intervals, whatever their lengths, are those of one continuous-time Hawkes path
    (see the module docstring for the method).

    Parameters
    ----------
    params : HawkesParams
        The model.

    Attributes
    ----------
    params : HawkesParams
    n_paths : int
        Number of paths since the last :meth:`reset` (0 before).

    Notes
    -----
    Starting state. :meth:`reset` puts every path's excitation at its stationary mean,
    ``x_ij = alpha_ij m_j / beta_ij``, so that ``lambda(0) = m`` (the stationary intensity)
    deterministically. Because the mean dynamics are linear, ``E[lambda(t)] = m`` then holds at
    every t, and ``E[N_i(0, T)] = m_i T`` exactly, from the first step. The fluctuations,
    however, start at zero (the same intensity on every path) and reach their stationary
    size after a few relaxation times; pass ``burn_in`` (e.g. 15 x ``params.relaxation_time``)
    to start from (close to) the stationary law, at the cost of simulating it.

    Cost: about (largest count of any path in the interval + 1) iterations of ~20 array
    operations on the paths still active.

    Examples
    --------
    >>> flow = HawkesFlow(HawkesParams.symmetric(mu=60.0, alpha_self=150.0, beta=300.0))
    >>> rng = np.random.default_rng(7)
    >>> flow.reset(3, rng)
    >>> counts = flow.advance(0.005, rng)
    >>> counts.shape, counts.dtype
    ((3, 2), dtype('int64'))
    """

    def __init__(self, params: HawkesParams) -> None:
        if not isinstance(params, HawkesParams):
            raise TypeError(f"params must be a HawkesParams, got {type(params).__name__}")
        self.params = params
        alpha, beta = params.alpha_matrix, params.beta_matrix
        # Excitation components: the pairs (i, j) with alpha_ij > 0, merged when they share the
        # side i and the decay beta_ij (their sum then decays as one exponential). With one
        # decay that is one component per excited side: the state is the excess intensity.
        keys = sorted({(i, float(beta[i, j])) for i in range(2) for j in range(2)
                       if alpha[i, j] > 0})
        self._component_side = np.array([i for i, _ in keys], dtype=np.intp)
        self._component_beta = np.array([b for _, b in keys])
        # _jump[j, c]: rise of component c at a side-j event.
        self._jump = np.zeros((2, len(keys)))
        for c, (i, b) in enumerate(keys):
            for j in range(2):
                if alpha[i, j] > 0 and beta[i, j] == b:
                    self._jump[j, c] = alpha[i, j]
        self._inverse_mu = 1.0 / params.mu_vector
        # Clock c of an iteration: the two baselines, then the components; its side:
        self._clock_side = np.concatenate([[0, 1], self._component_side])
        self._one_decay = np.unique(self._component_beta).size <= 1
        self._y = np.zeros((0, len(keys)))
        self._n_paths = 0

    @property
    def n_paths(self) -> int:
        return self._n_paths

    @property
    def intensity(self) -> np.ndarray:
        """Current intensities ``lambda_i(t)`` (sells, buys) per path, shape (n_paths, 2),
        events per unit time (a new array)."""
        out = np.broadcast_to(self.params.mu_vector, (self._n_paths, 2)).copy()
        for c, side in enumerate(self._component_side):
            out[:, side] += self._y[:, c]
        return out

    def reset(self, n_paths: int, rng: np.random.Generator, *, burn_in: float = 0.0) -> None:
        """Start ``n_paths`` paths at the stationary mean intensity (see Notes of the class).

        Parameters
        ----------
        n_paths : int
            Number of paths (integer >= 1).
        rng : numpy.random.Generator
            Source of the burn-in's draws; not used when ``burn_in == 0``.
        burn_in : float
            Time simulated and discarded before the episode starts, time units (>= 0).
        """
        if not isinstance(n_paths, numbers.Integral) or isinstance(n_paths, bool) or n_paths < 1:
            raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
        check_non_negative("burn_in", burn_in)
        # Stationary mean of component c: sum_j jump[j, c] m_j / beta_c.
        mean_y = self.params.stationary_intensity @ self._jump / self._component_beta
        self._n_paths = int(n_paths)
        self._y = np.broadcast_to(mean_y, (self._n_paths, mean_y.size)).copy()
        if burn_in > 0:
            self.advance(burn_in, rng)

    def advance(self, dt: float, rng: np.random.Generator) -> np.ndarray:
        """Simulate the next ``dt`` time units; return the number of events of each side.

        Parameters
        ----------
        dt : float
            Length of the interval, time units (finite, >= 0; 0 draws nothing).
        rng : numpy.random.Generator
            Source of every draw: one ``standard_exponential((n_active, n_clocks))`` array per
            iteration, ``n_clocks`` = 2 baselines + the excitation components.

        Returns
        -------
        ndarray of int64, shape (n_paths, 2)
            Market sells (column 0) and market buys (column 1) in ``(t, t + dt]``. The
            intensity state moves to ``t + dt``.
        """
        check_non_negative("dt", dt)
        if self._n_paths == 0:
            raise RuntimeError("advance called before reset(n_paths, rng)")
        n = self._n_paths
        counts = np.zeros((n, 2), dtype=np.int64)
        if dt == 0:
            return counts
        n_components = self._component_beta.size
        active = np.arange(n)
        y = self._y  # replaced (not written) below: the state is stored as paths retire
        remaining = np.full(n, float(dt))
        # Clocks that never ring: log1p(-1) = -inf; an excitation that underflowed to 0 (long
        # idle) gives beta E / 0 = inf, or nan if E = 0, which fmin maps to 1 (never rings).
        with np.errstate(divide="ignore", invalid="ignore"):
            while active.size:
                clocks = rng.standard_exponential((active.size, 2 + n_components))
                clocks[:, :2] *= self._inverse_mu  # baselines: E / mu_i
                if n_components:
                    # Excitation y e^{-beta s}: tau = -log(1 - beta E / y) / beta if beta E < y.
                    ratio = clocks[:, 2:]
                    ratio *= self._component_beta
                    ratio /= y
                    np.fmin(ratio, 1.0, out=ratio)
                    np.log1p(-ratio, out=ratio)
                    ratio /= -self._component_beta
                first = clocks.argmin(axis=1)
                wait = clocks[np.arange(active.size), first]
                fires = wait <= remaining
                if n_components:
                    elapsed = np.minimum(wait, remaining)
                    if self._one_decay:
                        y = y * np.exp(-self._component_beta[0] * elapsed)[:, None]
                    else:
                        y = y * np.exp(-self._component_beta * elapsed[:, None])
                if not fires.all():  # retire the paths whose next event is past their interval
                    done = ~fires
                    self._y[active[done]] = y[done]
                    active, y, remaining = active[fires], y[fires], remaining[fires]
                    first, wait = first[fires], wait[fires]
                side = self._clock_side[first]
                counts[active, side] += 1
                if n_components:
                    y += self._jump[side]
                remaining -= wait
        return counts
