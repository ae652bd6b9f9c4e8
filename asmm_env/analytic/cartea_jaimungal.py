"""Cartea–Jaimungal–Penalva (2015) market making with a running quadratic inventory penalty.

Model (Cartea, Jaimungal & Penalva 2015, Algorithmic and High-Frequency Trading, Chapter 10,
Section 10.2): midprice ``dS = sigma dW``; market orders arrive at rate A on each side and
fill a quote at depth delta with probability ``exp(-k delta)`` (so fills have intensity
``A exp(-k delta)``, the AS intensity); inventory q stays in [-Q, Q] (units of one order: no
bid at q = Q, no ask at q = -Q). The market maker is **risk neutral** and maximises

    E[ X_T + q_T (S_T - alpha q_T) - phi int_t^T q_u^2 du ],

the terminal cash plus the inventory liquidated at ``S_T - alpha q_T`` (equivalently, marked
at the mid with a terminal penalty ``alpha q_T^2``), minus a running inventory penalty
``phi q^2``. The volatility does not enter: phi plays the role of the risk term (for example
``phi = gamma sigma^2 / 2`` matches the running variance penalty of Guéant 2017, Model B).

The book's notation maps to ours as lambda^± -> A (same rate on both sides), kappa -> k,
delta^- -> bid depth, delta^+ -> ask depth, (q_min, q_max) -> (-Q, Q).

The solution (CJP 2015, Section 10.2). With the ansatz ``H(t, x, S, q) = x + q S + h(t, q)``
the HJB equation becomes, for q in [-Q, Q] and ``h(T, q) = -alpha q^2``,

    0 = dh/dt - phi q^2 + A sup_d exp(-k d) (d + h(t, q + 1) - h(t, q)) 1{q < Q}
                       + A sup_d exp(-k d) (d + h(t, q - 1) - h(t, q)) 1{q > -Q},

with the feedback depths

    delta_bid(t, q) = 1 / k - h(t, q + 1) + h(t, q)      (q < Q),
    delta_ask(t, q) = 1 / k - h(t, q - 1) + h(t, q)      (q > -Q).

The substitution ``h(t, q) = ln(omega(t, q)) / k`` makes it linear, ``d omega / dt + A_mat omega
= 0``, with A_mat tridiagonal: ``-k phi q^2`` on the diagonal and ``A e^{-1}`` off it (rows and
columns q = -Q..Q), so

    omega(t) = exp(A_mat (T - t)) z,      z_q = exp(-k alpha q^2).

Units: prices and depths in price units (positive away from the mid); time in the model's time
unit; A in orders per unit time; k in 1 / price units; phi in money / (inventory^2 time) and
alpha in money / inventory^2 (money = price units x inventory units); q, Q in inventory units;
h in money.

Numerics. ``A_mat = -M`` with M the GLFT matrix of ``asmm_env.analytic.glft`` for the
coefficients ``k phi`` (diagonal) and ``A / e`` (off-diagonal), and the terminal vector z in
place of 1. So this module reuses the GLFT log-space machinery (positive Taylor sums, squaring
in log space, the relaxation shortcut), which keeps every ``ln omega_q`` to relative accuracy
even where omega spans thousands of orders of magnitude (a terminal penalty makes
``ln z_Q = -k alpha Q^2``).

References
----------
Cartea, Á., Jaimungal, S. & Penalva, J. (2015). Algorithmic and High-Frequency Trading.
Cambridge University Press. Chapter 10 (Market making), Section 10.2: the HJB equation of the
risk-neutral market maker with running inventory penalty phi and terminal liquidation penalty
alpha, its feedback depths, and the closed form ``h = ln(omega) / k``,
``omega = exp(A (T - t)) z``. (Equation numbers are not quoted here: they were not checked
against the printed book.)
Guéant, O. (2017). Optimal market making. Appl. Math. Finance 24(2) 112-154 (Model B: the same
objective with ``phi = gamma sigma^2 / 2``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from asmm_env.analytic.glft import (
    _Chain,
    _depths_from_log_v,
    _inventory,
    _inventory_bound,
    _marched_log_v,
    _positive,
    _QuoteLookup,
    _relaxed_log_v,
    _table_depths,
    _time_to_horizon,
)
from asmm_env.validation import check_whole_steps

__all__ = ["CJQuoteTable", "cj_depths", "cj_log_omega", "cj_value"]


def _non_negative(name: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _model(phi, alpha, A, k) -> tuple[float, float, float, float]:
    return (
        _non_negative("phi", phi),
        _non_negative("alpha", alpha),
        _positive("A", A),
        _positive("k", k),
    )


def _chain(phi: float, A: float, k: float, Q: int) -> _Chain:
    """-A_mat: ``k phi q^2`` on the diagonal, ``-A / e`` off it (the GLFT matrix's form)."""
    return _Chain(k * phi, A / math.e, Q)


def _log_terminal(alpha: float, k: float, Q: int) -> np.ndarray:
    """``ln z_q = -k alpha q^2``, q = -Q..Q."""
    q = np.arange(-Q, Q + 1, dtype=float)
    return -k * alpha * q**2


def cj_log_omega(tau, *, phi: float, alpha: float, A: float, k: float, Q: int) -> np.ndarray:
    """``ln omega_q`` at time to horizon ``tau = T - t``, for every inventory q = -Q..Q.

    ``omega(t) = exp(A_mat (T - t)) z`` (module docstring); ``h(t, q) = ln(omega_q(t)) / k``.

    Parameters
    ----------
    tau : array_like of float
        Time to the horizon, time units (finite, >= 0).
    phi : float
        Running inventory penalty, money / (inventory^2 time) (finite, >= 0).
    alpha : float
        Terminal inventory penalty (liquidation cost), money / inventory^2 (finite, >= 0).
    A : float
        Market-order arrival rate on each side, orders per unit time (> 0).
    k : float
        Decay of the fill probability ``exp(-k delta)``, 1 / price units (> 0).
    Q : int
        Inventory bound, units (integer >= 1).

    Returns
    -------
    ndarray, shape ``np.shape(tau) + (2 Q + 1,)``
        ``ln omega_q(T - tau)``, column ``q + Q`` for inventory q; every entry finite.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    References
    ----------
    Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, Section 10.2.

    Examples
    --------
    >>> cj_log_omega(0.0, phi=0.01, alpha=0.1, A=140.0, k=1.5, Q=1)
    array([-0.15,  0.  , -0.15])
    """
    phi, alpha, A, k = _model(phi, alpha, A, k)
    Q = _inventory_bound(Q)
    tau = _time_to_horizon(tau)
    chain = _chain(phi, A, k, Q)
    unique, inverse = np.unique(tau, return_inverse=True)
    log_omega = _relaxed_log_v(chain, unique, _log_terminal(alpha, k, Q))
    # Past the relaxation time only the ground state is left: a common shift -lam0 * extra.
    log_omega += (-chain.lam0 * (unique - np.minimum(unique, chain.tau_relax)))[:, None]
    return log_omega[inverse.reshape(tau.shape)]


def cj_depths(tau, q, *, phi: float, alpha: float, A: float, k: float, Q: int):
    """Optimal bid and ask depths at time to horizon tau and inventory q.

    ``delta_bid = 1 / k + (ln omega_q - ln omega_{q+1}) / k`` and
    ``delta_ask = 1 / k + (ln omega_q - ln omega_{q-1}) / k`` (module docstring): the
    risk-neutral depth 1/k plus the loss of value of one more unit of inventory.

    Parameters
    ----------
    tau : array_like of float
        Time to the horizon ``T - t``, time units (finite, >= 0).
    q : array_like of int
        Inventory, units (integers in [-Q, Q]); broadcasts with tau.
    phi, alpha, A, k, Q
        As in :func:`cj_log_omega`.

    Returns
    -------
    bid_depth, ask_depth : ndarray of float, shape ``np.broadcast(tau, q).shape``
        Price units, positive away from the mid (negative: a quote through the mid to unload
        inventory). ``bid_depth`` is ``+inf`` at q = Q and ``ask_depth`` at q = -Q. At the
        horizon ``delta_bid = 1/k + alpha (2 q + 1)``, ``delta_ask = 1/k - alpha (2 q - 1)``.

    Notes
    -----
    With ``phi = alpha = 0`` the depths are 1/k away from the bounds; near ``q = +-Q`` they
    are wider on the side that moves toward the bound, because the bound itself costs
    trading opportunities (only the unbounded problem has 1/k everywhere).

    References
    ----------
    Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, Section 10.2
    (the feedback depths ``delta^± = 1/kappa - h(t, q ∓ 1) + h(t, q)``).

    Examples
    --------
    >>> bid, ask = cj_depths(0.0, [-1, 0, 1], phi=0.01, alpha=0.1, A=140.0, k=1.5, Q=1)
    >>> bid.round(4), ask.round(4)
    (array([0.5667, 0.7667,    inf]), array([   inf, 0.7667, 0.5667]))
    """
    phi, alpha, A, k = _model(phi, alpha, A, k)
    Q = _inventory_bound(Q)
    tau = _time_to_horizon(tau)
    q = _inventory(q, Q)
    tau, q = np.broadcast_arrays(tau, q)
    chain = _chain(phi, A, k, Q)
    unique, inverse = np.unique(tau, return_inverse=True)
    log_omega = _relaxed_log_v(chain, unique, _log_terminal(alpha, k, Q))
    return _depths_from_log_v(log_omega[inverse.reshape(tau.shape)], q + Q, k, 1.0 / k)


def cj_value(
    q0: int, *, phi: float, alpha: float, A: float, k: float, Q: int, T: float
) -> float:
    """Value of the optimal strategy over [0, T] from inventory q0: ``h(0, q0) = ln(omega_q0) / k``.

    Under the optimal depths,
    ``E[X_T + q_T (S_T - alpha q_T) - phi int_0^T q_u^2 du] = x0 + q0 S0 + h(0, q0)``, so
    ``h(0, q0)`` is the expected PnL (terminal inventory marked at the mid) net of both
    inventory penalties: the number a Monte Carlo run of the optimal policy must reproduce.

    Parameters
    ----------
    q0 : int
        Initial inventory, units (integer in [-Q, Q]).
    T : float
        Horizon, time units (finite, >= 0).
    phi, alpha, A, k, Q
        As in :func:`cj_log_omega`.

    Returns
    -------
    float
        ``h(0, q0)``, money; ``-alpha q0^2`` at T = 0.

    References
    ----------
    Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, Section 10.2
    (the ansatz ``H = x + q S + h(t, q)``).
    """
    Q = _inventory_bound(Q)
    q0 = int(_inventory(q0, Q, name="q0"))
    T = float(_time_to_horizon(T, name="T"))
    log_omega = cj_log_omega(T, phi=phi, alpha=alpha, A=A, k=k, Q=Q)
    return float(log_omega[q0 + Q] / _positive("k", k))


@dataclass(frozen=True, eq=False)
class CJQuoteTable(_QuoteLookup):
    """Cartea–Jaimungal depths precomputed on the time grid ``t_i = i dt``, i = 0..n_steps.

    The same structure and lookup as :class:`asmm_env.analytic.glft.GLFTQuoteTable`: built
    once with :meth:`build`, then :meth:`depths` is fancy indexing (no Python loop over paths).

    Attributes
    ----------
    phi, alpha, A, k, Q, T, dt
        The model (see :func:`cj_log_omega`), the horizon T and the time step dt (time units).
    n_steps : int
        ``round(T / dt)``.
    bid_depth, ask_depth : ndarray, shape (n_steps + 1, 2 Q + 1), read-only
        Depths at time ``t_i`` (row i) and inventory q (column q + Q), price units;
        ``+inf`` where there is no quote (bid at q = Q, ask at q = -Q).

    References
    ----------
    Cartea, Jaimungal & Penalva (2015), Algorithmic and High-Frequency Trading, Section 10.2.

    Examples
    --------
    >>> table = CJQuoteTable.build(phi=0.01, alpha=0.1, A=140.0, k=1.5, Q=10, T=1.0, dt=0.005)
    >>> table.bid_depth.shape
    (201, 21)
    >>> bid, ask = table.depths(np.array([1.0, 0.5]), np.array([0, 3]))
    """

    phi: float
    alpha: float
    A: float
    k: float
    Q: int
    T: float
    dt: float
    n_steps: int
    bid_depth: np.ndarray = field(repr=False)
    ask_depth: np.ndarray = field(repr=False)

    @classmethod
    def build(
        cls, *, phi: float, alpha: float, A: float, k: float, Q: int, T: float, dt: float
    ) -> CJQuoteTable:
        """Precompute the depths on the grid; ``T / dt`` must be a whole number of steps.

        Marched backwards from the horizon with one log-space propagator per step until the
        relaxation time (then the depths are constant), as :meth:`GLFTQuoteTable.build`.
        """
        phi, alpha, A, k = _model(phi, alpha, A, k)
        Q = _inventory_bound(Q)
        T = _positive("T", T)
        dt = _positive("dt", dt)
        n_steps = check_whole_steps(T, dt)
        chain = _chain(phi, A, k, Q)
        log_omega, marched = _marched_log_v(chain, dt, n_steps, _log_terminal(alpha, k, Q))
        bid, ask = _table_depths(log_omega, marched, n_steps, k, 1.0 / k)
        return cls(phi, alpha, A, k, Q, T, dt, n_steps, bid, ask)
