"""Multi-asset market making: the quadratic (closed-form) approximation of Guéant (2017).

Model (Guéant 2017, multi-asset section; Bergault, Evangelista, Guéant & Vieira 2021, "BEGV",
Section 2): d assets with midprices ``dS = Sigma^(1/2) dW`` (covariance Sigma, price units^2 /
time); on asset i, orders of size ``z_i`` (``order_size``) fill the bid or the ask at depth
delta with intensity ``A_i exp(-k_i delta)`` (the same on both sides). The market maker
maximises either

- Model A (``xi = gamma``, the default): ``E[-exp(-gamma (X_T + q_T . S_T))]``, CARA utility of
  terminal wealth (the multi-asset AS / GLFT problem), or
- Model B (``xi = 0``): ``E[X_T + q_T . S_T - (gamma / 2) int_0^T q_t' Sigma q_t dt]``, a
  risk-neutral maker with a running variance penalty (the multi-asset Cartea–Jaimungal
  problem, ``phi = gamma sigma^2 / 2`` in one dimension).

Both reduce to ``theta(t, q)`` (``u = -exp(-gamma (x + q . S + theta))`` in Model A,
``x + q . S + theta`` in Model B) solving

    0 = d theta / dt - (gamma / 2) q' Sigma q
        + sum_i z_i [H_i(p_i^b) + H_i(p_i^a)],
    p_i^b = (theta(t, q) - theta(t, q + z_i e_i)) / z_i,
    p_i^a = (theta(t, q) - theta(t, q - z_i e_i)) / z_i,

with the Hamiltonian ``H_i(p) = sup_delta A_i e^{-k_i delta} (1 - e^{-xi z_i (delta - p)}) /
(xi z_i)`` (``sup_delta A_i e^{-k_i delta} (delta - p)`` when xi = 0) and the optimal depth
``delta_i(p) = p + delta_static_i``. For exponential intensities, in closed form,

    H_i(p) = (A_i / k_i) c_i e^{-k_i p},    c_i = (1 + xi z_i / k_i)^(-(1 + k_i / (xi z_i)))
                                            (c_i = e^{-1} when xi = 0),
    delta_static_i = ln(1 + xi z_i / k_i) / (xi z_i)        (1 / k_i when xi = 0).

The quadratic approximation (BEGV Section 3; Guéant 2017 for the ergodic quotes). Replace each
H_i by its second-order Taylor expansion at p = 0, ``alpha_0 + alpha_1 p + alpha_2 p^2 / 2``
with ``alpha_2,i = k_i^2 H_i(0) = k_i A_i c_i``. Then the quadratic form
``theta(t, q) = -q' A(t) q - C(t)`` solves the approximate equation exactly (no linear term:
bid and ask are symmetric), where A(t) (money / inventory^2; "A" is the paper's letter, not the
intensity) solves the matrix Riccati equation

    A'(t) = 2 A(t) D A(t) - (gamma / 2) Sigma,    A(T) = 0,
    D = diag(z_i (alpha_2,i^b + alpha_2,i^a)) = diag(2 z_i k_i A_i c_i),

whose solution is

    A(t) = (1/2) D^(-1/2) Ahat tanh(Ahat (T - t)) D^(-1/2),
    Ahat = sqrt(gamma) (D^(1/2) Sigma D^(1/2))^(1/2),

(``tanh`` of a symmetric matrix through its eigenvalues). As T - t -> infinity A tends to the
solution of the algebraic Riccati equation ``A D A = (gamma / 4) Sigma``,

    A_inf = (sqrt(gamma) / 2) Gamma,    Gamma = D^(-1/2) (D^(1/2) Sigma D^(1/2))^(1/2) D^(-1/2),

(Gamma solves ``Gamma D Gamma = Sigma``). The quotes are those of the HJB's feedback with the
finite differences of the quadratic form:

    delta_i^b(q) = delta_static_i + 2 (A q)_i + z_i A_ii,
    delta_i^a(q) = delta_static_i - 2 (A q)_i + z_i A_ii,

i.e. in the ergodic regime ``delta_i^b = delta_static_i + sqrt(gamma) (q' Gamma e_i +
z_i Gamma_ii / 2)`` (BEGV's symmetric exponential case). The inventory of every asset moves
the quotes of asset i through ``(Gamma q)_i``: a long position in one asset lowers the quotes
of a positively correlated one. For d = 1, z = 1 and Model A this is exactly the GLFT
closed-form asymptotic quote ``ln(1 + gamma/k)/gamma + (2q + 1)/2 sqrt(sigma^2 gamma /
(2 k A) (1 + gamma/k)^(1 + k/gamma))`` (``asmm_env.analytic.glft.glft_asymptotic_depths``).

Units: depths in price units (positive away from the mid); Sigma in price units^2 / time; A in
orders per unit time; k in 1 / price units; gamma in 1 / money (money = price units x
inventory units); q and z in inventory units; theta in money; the value matrix A(t) and
``sqrt(gamma) Gamma`` in money / inventory^2.

The approximation ignores inventory bounds except for stopping the quote that would cross
one (``max_inventory``); it is an approximation of the optimal quotes, not the optimum (see
BEGV Section 6 for its accuracy).

References
----------
Guéant, O. (2017). Optimal market making. Appl. Math. Finance 24(2) 112-154 (the general
framework, Models A and B, the Hamiltonians, and closed-form approximations of the quotes
for one and several assets). arXiv:1605.01862.
Bergault, P., Evangelista, D., Guéant, O. & Vieira, D. (2021). Closed-form approximations in
multi-asset market making. Appl. Math. Finance 28(2) 101-142 (Section 3: the quadratic
approximation of the Hamiltonians, the Riccati equation for A and its closed-form solution,
the asymptotic quotes, and their symmetric exponential special case). arXiv:1810.04383.
(Equation numbers are not quoted: they were not checked against the published texts; the
formulas above are derived in full and the tests check them independently.)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "covariance_matrix",
    "gueant_depths",
    "gueant_gamma_matrix",
    "gueant_hamiltonian_curvature",
    "gueant_static_depth",
    "gueant_value_matrix",
]


# ---------------------------------------------------------------------------------------------
# Validation (errors name the parameter, the value and the allowed range)
# ---------------------------------------------------------------------------------------------


def _scalar(name: str, value, *, allow_zero: bool = False) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero)):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _covariance(Sigma) -> np.ndarray:
    allowed = "Sigma must be a symmetric positive semi-definite d x d matrix of finite numbers"
    try:
        cov = np.array(Sigma, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}, got {Sigma!r}") from None
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.size == 0:
        raise ValueError(f"{allowed}, got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{allowed}, got {Sigma!r}")
    scale = max(float(np.abs(cov).max()), np.finfo(float).tiny)
    if np.abs(cov - cov.T).max() > 1e-12 * scale:
        raise ValueError(f"{allowed}, got a non-symmetric matrix {Sigma!r}")
    cov = 0.5 * (cov + cov.T)
    smallest = float(np.linalg.eigvalsh(cov)[0])
    if smallest < -1e-12 * scale:
        raise ValueError(f"{allowed}, got smallest eigenvalue {smallest!r}")
    return cov


def _per_asset(name: str, value, d: int, *, positive: bool = True) -> np.ndarray:
    bound = "> 0" if positive else ">= 0"
    allowed = f"{name} must be a finite number {bound} or d = {d} of them"
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}, got {value!r}") from None
    if array.shape not in ((), (d,)) or not np.all(np.isfinite(array)):
        raise ValueError(f"{allowed}, got {value!r}")
    if np.any(array <= 0 if positive else array < 0):
        raise ValueError(f"{allowed}, got {value!r}")
    return np.broadcast_to(array, (d,)).astype(float)


def _model(Sigma, gamma, A, k, order_size, xi):
    cov = _covariance(Sigma)
    d = cov.shape[0]
    gamma = _scalar("gamma", gamma)
    xi = gamma if xi is None else _scalar("xi", xi, allow_zero=True)
    return (cov, gamma, _per_asset("A", A, d), _per_asset("k", k, d),
            _per_asset("order_size", order_size, d), xi)


# ---------------------------------------------------------------------------------------------
# Hamiltonian constants
# ---------------------------------------------------------------------------------------------


def _log_c(k: np.ndarray, z: np.ndarray, xi: float) -> np.ndarray:
    """``ln c = -(1 + k / (xi z)) ln(1 + xi z / k)``, tending to -1 as xi -> 0."""
    if xi == 0:
        return np.full_like(k, -1.0)
    x = xi * z / k
    return -(1.0 + 1.0 / x) * np.log1p(x)


def gueant_static_depth(*, k, order_size=1.0, xi: float) -> np.ndarray:
    """Depth at which the Hamiltonian's sup is reached for p = 0, price units.

    ``ln(1 + xi z / k) / (xi z)`` for xi > 0 (Model A, xi = gamma; ``ln(1 + gamma/k)/gamma`` at
    z = 1, the AS/GLFT spread constant) and ``1 / k`` for xi = 0 (Model B, the risk-neutral
    depth of Cartea–Jaimungal). Shape ``np.broadcast(k, order_size).shape``.

    References
    ----------
    Guéant (2017), Appl. Math. Finance 24(2), the function ``delta_tilde`` for exponential
    intensities.
    """
    k = np.asarray(k, dtype=float)
    z = np.asarray(order_size, dtype=float)
    if xi == 0:
        return 1.0 / np.broadcast_to(k, np.broadcast(k, z).shape)
    x = xi * z
    return np.log1p(x / k) / x


def gueant_hamiltonian_curvature(*, A, k, order_size=1.0, xi: float) -> np.ndarray:
    """``alpha_2 = H''(0) = k^2 H(0) = k A c``, the curvature of one side's Hamiltonian at 0.

    ``H(p) = (A / k) c e^{-k p}`` with ``c = (1 + xi z / k)^(-(1 + k / (xi z)))`` (``e^{-1}``
    at xi = 0). H is in price units / time (it multiplies z in the HJB equation of theta), so
    alpha_2 is in 1 / (price units x time). Shape ``np.broadcast(A, k, order_size).shape``.

    References
    ----------
    BEGV (2021), Section 3 (the quadratic approximation ``alpha_0 + alpha_1 p + alpha_2 p^2 /
    2`` of the Hamiltonians, by Taylor expansion at 0).
    """
    A, k, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, k, order_size)))
    return k * A * np.exp(_log_c(k, z, xi))


def _liquidity(A: np.ndarray, k: np.ndarray, z: np.ndarray, xi: float) -> np.ndarray:
    """The diagonal of D = diag(z_i (alpha_2,i^b + alpha_2,i^a)) = 2 z k A c."""
    return 2.0 * z * gueant_hamiltonian_curvature(A=A, k=k, order_size=z, xi=xi)


def _spectral(cov: np.ndarray, liquidity: np.ndarray):
    """``D^(-1/2) U`` and the eigenvalues s >= 0 of ``D^(1/2) Sigma D^(1/2) = U diag(s) U'``."""
    root = np.sqrt(liquidity)
    s, U = np.linalg.eigh(root[:, None] * cov * root[None, :])
    return U / root[:, None], np.maximum(s, 0.0)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def correlation_matrix(correlation, d: int) -> np.ndarray:
    """The d x d correlation matrix: ``correlation`` itself (symmetric, unit diagonal, positive
    semi-definite), or a number rho in [-1, 1] for every pair (positive semi-definite for
    ``rho >= -1 / (d - 1)``)."""
    allowed = (f"correlation must be a number in [-1, 1] or a symmetric positive semi-definite "
               f"{d} x {d} matrix with unit diagonal")
    try:
        corr = np.array(correlation, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}, got {correlation!r}") from None
    if corr.ndim == 0:
        corr = np.full((d, d), float(corr))
        np.fill_diagonal(corr, 1.0)
    if (corr.shape != (d, d) or not np.all(np.isfinite(corr)) or np.any(np.abs(corr) > 1)
            or np.any(np.diag(corr) != 1.0) or np.abs(corr - corr.T).max() > 1e-12
            or np.linalg.eigvalsh(corr)[0] < -1e-12):
        raise ValueError(f"{allowed}, got {correlation!r}")
    return corr


def covariance_matrix(sigma, correlation) -> np.ndarray:
    """``Sigma = diag(sigma) R diag(sigma)``, price units^2 / time.

    Parameters
    ----------
    sigma : array_like of float, shape (d,)
        Volatility of each midprice, price units / sqrt(time) (each > 0).
    correlation : float or array_like, shape (d, d)
        Correlation matrix R (symmetric, unit diagonal, positive semi-definite), or a number
        rho in [-1, 1] for every pair (see :func:`correlation_matrix`).

    Returns
    -------
    ndarray, shape (d, d)
    """
    try:
        sigma = np.array(sigma, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be d >= 1 finite numbers > 0, got {sigma!r}") from None
    if sigma.ndim != 1 or sigma.size == 0 or not np.all(np.isfinite(sigma) & (sigma > 0)):
        raise ValueError(f"sigma must be d >= 1 finite numbers > 0, got {sigma!r}")
    corr = correlation_matrix(correlation, sigma.size)
    return sigma[:, None] * corr * sigma[None, :]


def gueant_gamma_matrix(Sigma, *, gamma: float, A, k, order_size=1.0, xi=None) -> np.ndarray:
    """``Gamma = D^(-1/2) (D^(1/2) Sigma D^(1/2))^(1/2) D^(-1/2)``, the ergodic inventory matrix.

    Gamma is symmetric positive semi-definite (definite if Sigma is) and solves the algebraic
    Riccati equation ``Gamma D Gamma = Sigma``, ``D = diag(2 z_i k_i A_i c_i)``; the ergodic
    value matrix is ``A_inf = (sqrt(gamma) / 2) Gamma`` and the quotes depend on inventory
    through ``sqrt(gamma) (Gamma q)_i``.

    Parameters
    ----------
    Sigma : array_like, shape (d, d)
        Covariance of the midprice increments per unit time, price units^2 / time (symmetric
        positive semi-definite).
    gamma : float
        Risk aversion, 1 / money (> 0): CARA coefficient (Model A) or weight of the running
        variance penalty (Model B).
    A : float or array_like, shape (d,)
        Arrival rate of fills at depth 0 on each side, orders per unit time (> 0).
    k : float or array_like, shape (d,)
        Intensity decay, 1 / price units (> 0).
    order_size : float or array_like, shape (d,)
        Size z of one fill, inventory units (> 0).
    xi : float or None
        ``None`` (or gamma): Model A, CARA utility; 0: Model B, risk-neutral with the running
        penalty ``(gamma / 2) q' Sigma q`` (>= 0).

    Returns
    -------
    ndarray, shape (d, d)
        Gamma; ``sqrt(gamma) Gamma`` is in money / inventory^2 (price units / inventory), so
        ``sqrt(gamma) Gamma q`` is in price units.

    References
    ----------
    BEGV (2021), Section 3 (asymptotic regime); Guéant (2017), multi-asset closed-form
    approximations.
    """
    cov, gamma, A, k, z, xi = _model(Sigma, gamma, A, k, order_size, xi)
    P, s = _spectral(cov, _liquidity(A, k, z, xi))
    gamma_matrix = (P * np.sqrt(s)) @ P.T
    return 0.5 * (gamma_matrix + gamma_matrix.T)


def gueant_value_matrix(tau, Sigma, *, gamma: float, A, k, order_size=1.0, xi=None):
    """A(t) at time to horizon ``tau = T - t``: ``theta(t, q) ~ -q' A(t) q - C(t)``.

    ``A(t) = (1/2) D^(-1/2) Ahat tanh(Ahat tau) D^(-1/2)``, ``Ahat = sqrt(gamma) (D^(1/2) Sigma
    D^(1/2))^(1/2)``: the solution of ``A' = 2 A D A - (gamma / 2) Sigma``, ``A(T) = 0``;
    ``tau = inf`` gives the ergodic ``(sqrt(gamma) / 2) Gamma``.

    Parameters
    ----------
    tau : array_like of float
        Time to the horizon, time units (>= 0; ``numpy.inf`` for the ergodic regime).
    Sigma, gamma, A, k, order_size, xi
        As in :func:`gueant_gamma_matrix`.

    Returns
    -------
    ndarray, shape ``np.shape(tau) + (d, d)``
        Symmetric positive semi-definite, money / inventory^2.

    References
    ----------
    BEGV (2021), Section 3 (the Riccati equation for A and its closed-form solution).
    """
    cov, gamma, A, k, z, xi = _model(Sigma, gamma, A, k, order_size, xi)
    tau = _time_to_horizon(tau)
    P, s = _spectral(cov, _liquidity(A, k, z, xi))
    g = np.sqrt(gamma * s)
    with np.errstate(invalid="ignore"):  # g = 0 and tau = inf: 0 * tanh(nan) -> 0 below
        weights = 0.5 * g * np.tanh(g * tau[..., None])
    weights = np.where(g == 0, 0.0, weights)
    value = np.einsum("ij,...j,kj->...ik", P, weights, P)
    return 0.5 * (value + np.swapaxes(value, -1, -2))


def gueant_depths(q, Sigma, *, gamma: float, A, k, order_size=1.0, xi=None, tau=np.inf,
                  max_inventory=None):
    """Approximate optimal bid and ask depths of every asset for a batch of inventory vectors.

    ``delta_i^b = delta_static_i + 2 (A q)_i + z_i A_ii``,
    ``delta_i^a = delta_static_i - 2 (A q)_i + z_i A_ii``, with A = A(t) of
    :func:`gueant_value_matrix` (the ergodic ``(sqrt(gamma) / 2) Gamma`` by default) and
    ``delta_static`` of :func:`gueant_static_depth`.

    Parameters
    ----------
    q : array_like of float, shape (..., d)
        Inventory vectors, inventory units; the last axis is the asset.
    Sigma, gamma, A, k, order_size, xi
        As in :func:`gueant_gamma_matrix`.
    tau : array_like of float
        Time to the horizon, time units (>= 0, default ``inf``: the ergodic quotes);
        broadcasts with ``q.shape[:-1]``.
    max_inventory : None, float or array_like, shape (d,)
        Inventory bound Q_i (> 0): no bid (``+inf``) where ``q_i + z_i > Q_i``, no ask where
        ``q_i - z_i < -Q_i``. ``None``: unbounded.

    Returns
    -------
    bid_depth, ask_depth : ndarray, shape ``np.broadcast_shapes(q.shape, tau.shape + (d,))``
        Price units, positive away from the mid.

    References
    ----------
    BEGV (2021), Section 3 (the quotes ``delta_tilde(2 q' A e_i + z_i e_i' A e_i)``, and, for
    symmetric exponential intensities, ``sqrt(gamma) (q' Gamma e_i + z_i Gamma_ii / 2) +
    ln(1 + gamma z_i / k_i) / (gamma z_i)`` (Model A) or ``... + 1 / k_i`` (Model B));
    Guéant (2017), Appl. Math. Finance 24(2).

    Examples
    --------
    >>> Sigma = covariance_matrix([2.0, 1.0], 0.5)
    >>> bid, ask = gueant_depths([[0, 0], [3, 0]], Sigma, gamma=0.1, A=140.0, k=1.5)
    >>> bid.round(4)  # long asset 0: its bid widens, and so does the correlated asset's
    array([[0.6709, 0.6575],
           [0.8237, 0.6842]])
    """
    cov, gamma, A, k, z, xi = _model(Sigma, gamma, A, k, order_size, xi)
    d = cov.shape[0]
    q = _inventory_vectors(q, d)
    value = gueant_value_matrix(tau, cov, gamma=gamma, A=A, k=k, order_size=z, xi=xi)
    skew = 2.0 * np.einsum("...ij,...j->...i", value, q)
    level = gueant_static_depth(k=k, order_size=z, xi=xi) + z * np.diagonal(value, 0, -2, -1)
    bid, ask = level + skew, level - skew
    if max_inventory is not None:
        bound = _per_asset("max_inventory", max_inventory, d)
        bid = np.where(q + z > bound, np.inf, bid)
        ask = np.where(q - z < -bound, np.inf, ask)
    return bid, ask


def _time_to_horizon(tau) -> np.ndarray:
    try:
        values = np.asarray(tau, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"tau must be >= 0 (inf allowed), got {tau!r}") from None
    bad = ~(values >= 0)  # also NaN
    if np.any(bad):
        raise ValueError(f"tau must be >= 0 (inf allowed), got {values[bad].flat[0].item()!r}")
    return values


def _inventory_vectors(q, d: int) -> np.ndarray:
    allowed = f"q must be an array of finite inventories with last axis of length d = {d}"
    try:
        values = np.asarray(q, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}, got {q!r}") from None
    if values.ndim == 0 or values.shape[-1] != d:
        raise ValueError(f"{allowed}, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{allowed}, got {q!r}")
    return values
