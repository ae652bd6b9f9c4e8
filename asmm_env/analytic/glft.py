"""Guéant–Lehalle–Fernandez-Tapia (2013) exact solution of the AS problem with bounded inventory.

Model: midprice ``dS = sigma dW``; market orders hit a quote at depth delta with intensity
``A exp(-k delta)`` on each side; the market maker holds an inventory q in [-Q, Q] (units of
one order) and maximises ``E[-exp(-gamma (X_T + q_T S_T))]`` (CARA utility of terminal
wealth, inventory marked at the mid, no terminal penalty).

Units: prices and depths in price units (depths positive away from the mid, negative means a
quote through the mid); time in the model's time unit; sigma in price units / sqrt(time);
A in orders per unit time; k in 1 / price units; gamma in 1 / money (money = price units x
inventory units); q and Q in inventory units.

The solution (GLFT 2013, Theorem 1): with

    alpha = k gamma sigma^2 / 2,      eta = A (1 + gamma / k)^(-(1 + k / gamma)),

and M the (2Q+1) x (2Q+1) tridiagonal matrix with ``alpha q^2`` on the diagonal and
``-eta`` off it (rows and columns indexed by q = -Q..Q), the value function is

    u(t, x, q, s) = -exp(-gamma (x + q s)) v_q(t)^(-gamma / k),   v(t) = exp(-M (T - t)) 1,

and the optimal depths are

    delta_bid(t, q) = ln(v_q / v_{q+1}) / k + ln(1 + gamma / k) / gamma      (q < Q),
    delta_ask(t, q) = ln(v_q / v_{q-1}) / k + ln(1 + gamma / k) / gamma      (q > -Q).

There is no bid at q = Q and no ask at q = -Q (returned as ``+inf``: an infinitely deep quote
never fills).

Numerics. v_q spans hundreds of orders of magnitude across q for large Q (at the AS 2008
parameters and Q = 100, v_{100} / v_0 ~ exp(-390)), so neither ``scipy.linalg.expm`` nor the
eigendecomposition ``U exp(-lam tau) U^T 1`` can resolve the outer inventories: both are
accurate only relative to max_q v_q, and the outer components drown in rounding (the
eigen-sum turns negative there). Everything here is computed in logs with only sums of
positive terms, which keeps every component to relative accuracy:

* ``exp(-M h) = exp(-c h) exp(N h)`` with ``N = c I - M`` entrywise >= 0 (uniformisation,
  c = alpha Q^2); for a short step h the Taylor series of ``exp(N h)`` has positive terms
  only, so there is no cancellation;
* longer propagators by squaring in log space (``log-sum-exp`` matrix products);
* for tau beyond the relaxation time ``40 / (lam_1 - lam_0)`` (lam_i the eigenvalues of M),
  v(tau) equals the ground state times ``exp(-lam_0 tau)`` to double precision, so
  ``log v(tau) = log v(tau_relax) - lam_0 (tau - tau_relax)``; the depths are then
  constant, and they are computed before the common shift so a long horizon costs no
  precision;
* the propagators drop entries below 1e-280, which is harmless on a vector whose neighbouring
  components differ by at most ~||N|| / eta (v started from 1 always is). A steep terminal
  vector (the terminal inventory penalty of ``asmm_env.analytic.cartea_jaimungal``, which
  reuses this machinery) is first advanced by exact log-space steps until it is that smooth.

References
----------
Guéant, O., Lehalle, C.-A. & Fernandez-Tapia, J. (2013). Dealing with the inventory risk:
a solution to the market making problem. Math. Financ. Econ. 7(4) 477-507 (Theorem 1: the
value function and the quotes; Section 4: asymptotic quotes and their closed-form
approximation). arXiv:1105.3115.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import eigvalsh_tridiagonal

from asmm_env.validation import check_whole_steps

__all__ = [
    "GLFTQuoteTable",
    "glft_asymptotic_depths",
    "glft_certainty_equivalent",
    "glft_depths",
    "glft_log_v",
]

# Relaxation: beyond tau_relax = _RELAXATION_E_FOLDS / (lam_1 - lam_0) the excited modes are
# below exp(-40) ~ 4e-18 relative to the ground state. (The first excited mode is odd in q and
# does not even enter v, whose terminal condition 1 is even, so the real margin is ~exp(-80).)
_RELAXATION_E_FOLDS = 40.0
# Base step: h * ||N||_inf <= 4 keeps every Taylor term of exp(N h) <= e^4 and the series short.
_STEP_NORM = 4.0
# Relative truncation of the positive Taylor series (below half an ulp).
_SERIES_TOL = 2.0**-56
# Propagator entries below this are dropped (log -> -inf) rather than kept as subnormal numbers
# with few significant digits. They sit d >~ 100 inventory states off the diagonal, where
# P_ij ~ (h eta)^d / d!, while neighbouring components of v differ by at most a factor
# ~ ||N|| / eta, so P_ij v_j / v_i <~ 4^d / d!: negligible. Those entries reappear, accurate,
# in the squared propagators (sums over intermediate states).
_DROP_BELOW = 1e-280


# ---------------------------------------------------------------------------------------------
# Validation (errors name the parameter, the value and the allowed range)
# ---------------------------------------------------------------------------------------------


def _positive(name: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _inventory_bound(Q) -> int:
    if not isinstance(Q, numbers.Integral) or isinstance(Q, bool) or Q < 1:
        raise ValueError(f"Q must be an integer >= 1, got {Q!r}")
    return int(Q)


def _model(gamma, sigma, A, k) -> tuple[float, float, float, float]:
    return (
        _positive("gamma", gamma),
        _positive("sigma", sigma),
        _positive("A", A),
        _positive("k", k),
    )


def _time_to_horizon(tau, name: str = "tau") -> np.ndarray:
    try:
        values = np.asarray(tau, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be finite and >= 0, got {tau!r}") from None
    bad = ~(np.isfinite(values) & (values >= 0))
    if np.any(bad):
        raise ValueError(f"{name} must be finite and >= 0, got {values[bad].flat[0].item()!r}")
    return values


def _inventory(q, Q: int, name: str = "q") -> np.ndarray:
    values = np.asarray(q)
    allowed = f"{name} must be an integer in [-Q, Q] = [{-Q}, {Q}]"
    if values.dtype.kind not in "iuf":  # bool, str, object: not an inventory
        raise ValueError(f"{allowed}, got {q!r}")
    bad = ~(np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= Q))
    if np.any(bad):
        raise ValueError(f"{allowed}, got {values[bad].flat[0].item()!r}")
    return values.astype(np.intp)


# ---------------------------------------------------------------------------------------------
# Model coefficients and the log-space linear algebra
# ---------------------------------------------------------------------------------------------


def _coefficients(gamma: float, sigma: float, A: float, k: float) -> tuple[float, float]:
    """alpha (1 / time) and eta (1 / time) of GLFT 2013, Theorem 1."""
    alpha = 0.5 * k * gamma * sigma**2
    # (1 + g/k)^(-(1 + k/g)) through log1p: exact as gamma / k -> 0, where it tends to A / e.
    eta = A * math.exp(-(1.0 + k / gamma) * math.log1p(gamma / k))
    return alpha, eta


def _spread_constant(gamma: float, k: float) -> float:
    """``ln(1 + gamma / k) / gamma``, price units: the depth of a risk-neutral-inventory quote."""
    return math.log1p(gamma / k) / gamma


@dataclass(frozen=True)
class _Chain:
    """M = diag(alpha q^2) - eta (shift up + shift down) on q = -Q..Q, and its spectral data."""

    alpha: float
    eta: float
    Q: int
    diag: np.ndarray = field(init=False, repr=False)
    shift: float = field(init=False)  # c of the uniformisation, max of the diagonal
    norm: float = field(init=False)  # ||N||_inf, N = c I - M
    lam0: float = field(init=False)  # ground-state eigenvalue of M (< 0)
    tau_relax: float = field(init=False)  # relaxation time of v to the ground state

    def __post_init__(self) -> None:
        q = np.arange(-self.Q, self.Q + 1, dtype=float)
        diag = self.alpha * q**2
        lam = eigvalsh_tridiagonal(
            diag, np.full(diag.size - 1, -self.eta), select="i", select_range=(0, 1)
        )
        object.__setattr__(self, "diag", diag)
        object.__setattr__(self, "shift", float(diag.max()))
        object.__setattr__(self, "norm", float(diag.max() + 2.0 * self.eta))
        object.__setattr__(self, "lam0", float(lam[0]))
        object.__setattr__(self, "tau_relax", _RELAXATION_E_FOLDS / float(lam[1] - lam[0]))

    @property
    def n(self) -> int:
        return 2 * self.Q + 1

    def log_propagator(self, h: float) -> np.ndarray:
        """``log exp(-M h)`` entrywise, shape (n, n), for any h >= 0."""
        squarings = max(0, math.ceil(math.log2(h * self.norm / _STEP_NORM))) if h > 0 else 0
        log_p = self._log_short_propagator(h / 2.0**squarings)
        for _ in range(squarings):
            log_p = _log_matmul(log_p, log_p)
        return log_p

    def _log_short_propagator(self, h: float) -> np.ndarray:
        # exp(-M h) = exp(-c h) sum_m (h N)^m / m!, every term entrywise >= 0.
        n_diag = self.shift - self.diag
        total = np.eye(self.n)
        term = np.eye(self.n)
        for m in range(1, 4 * self.n + 200):
            new = n_diag[:, None] * term
            new[1:] += self.eta * term[:-1]
            new[:-1] += self.eta * term[1:]
            term = new * (h / m)
            total += term
            if np.all((term <= _SERIES_TOL * total) | (total < _DROP_BELOW)):
                break
        else:  # pragma: no cover - the series converges in about n + 40 terms
            raise RuntimeError("GLFT propagator series did not converge")
        with np.errstate(divide="ignore"):
            return np.log(np.where(total < _DROP_BELOW, 0.0, total)) - self.shift * h

    def apply_short(self, log_x: np.ndarray, h: float) -> np.ndarray:
        """``log(exp(-M h) exp(log_x))`` for one vector and h * ||N|| <= _STEP_NORM."""
        with np.errstate(divide="ignore"):
            log_n_diag = np.log(self.shift - self.diag)  # -inf at q = +-Q
        log_eta = math.log(self.eta)
        log_term = log_x.copy()
        log_total = log_x.copy()
        for m in range(1, 100_000):
            below = np.full(self.n, -np.inf)
            above = np.full(self.n, -np.inf)
            below[1:] = log_eta + log_term[:-1]
            above[:-1] = log_eta + log_term[1:]
            log_term = _logsumexp3(log_n_diag + log_term, below, above) + math.log(h / m)
            log_total = np.logaddexp(log_total, log_term)
            # Tail bound: every later term is <= max(term) * rho^j, rho = h ||N|| / (m + 1).
            rho = h * self.norm / (m + 1)
            if rho < 0.5 and log_term.max() - math.log1p(-rho) <= log_total.min() + math.log(
                _SERIES_TOL
            ):
                break
        return log_total - self.shift * h


def _logsumexp3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    top = np.maximum(np.maximum(a, b), c)  # finite: each component has a finite neighbour term
    return top + np.log(np.exp(a - top) + np.exp(b - top) + np.exp(c - top))


def _log_matmul(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """``log(exp(log_a) @ exp(log_b))`` without leaving log space; O(n^3) log-sum-exp."""
    out = np.empty((log_a.shape[0], log_b.shape[1]))
    # Row blocks: a few rows at a time is fastest (cache) and bounds memory at ~32 MB.
    block = max(1, min(8, 4_000_000 // (log_a.shape[1] * log_b.shape[1])))
    with np.errstate(divide="ignore"):
        for start in range(0, log_a.shape[0], block):
            terms = log_a[start : start + block, :, None] + log_b[None, :, :]
            top = terms.max(axis=1)
            top = np.where(np.isfinite(top), top, 0.0)
            terms -= top[:, None, :]
            np.exp(terms, out=terms)
            out[start : start + block] = np.log(terms.sum(axis=1)) + top
    return out


def _log_matvec(log_a: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    terms = log_a + log_x[None, :]
    top = terms.max(axis=1)  # finite: the diagonal of a propagator is > 0
    return top + np.log(np.exp(terms - top[:, None]).sum(axis=1))


def _symmetrise(log_v: np.ndarray) -> np.ndarray:
    # M and the terminal condition are invariant under q -> -q, so v is even in q; averaging
    # removes the rounding asymmetry and makes delta_bid(q) == delta_ask(-q) exactly.
    return 0.5 * (log_v + log_v[..., ::-1])


def _is_smooth(chain: _Chain, log_x: np.ndarray) -> bool:
    """Whether neighbouring components of x differ by at most a factor e ||N|| / eta.

    The propagators drop entries below _DROP_BELOW; on such a vector the dropped terms are
    negligible (see _DROP_BELOW). v started from 1 (GLFT) always is; a steep terminal vector
    (a terminal inventory penalty exp(-c q^2)) is not until the flow has spread it.
    """
    return float(np.abs(np.diff(log_x)).max(initial=0.0)) <= math.log(chain.norm / chain.eta) + 1


def _exact_advance(chain: _Chain, log_x: np.ndarray, tau: float) -> np.ndarray:
    """``log(exp(-M tau) exp(log_x))`` by exact log-space steps (no entry dropped)."""
    steps = max(1, math.ceil(tau * chain.norm / _STEP_NORM))
    for _ in range(steps):
        log_x = chain.apply_short(log_x, tau / steps)
    return log_x


def _relaxed_log_v(
    chain: _Chain, tau: np.ndarray, log_terminal: np.ndarray | None = None
) -> np.ndarray:
    """log v at min(tau, tau_relax) for a 1-d array of tau; shape (tau.size, n).

    ``v(0) = exp(log_terminal)`` (default 1, GLFT); the terminal vector must be even in q.
    """
    eff = np.minimum(tau, chain.tau_relax)
    h0 = _STEP_NORM / chain.norm
    # Exact log-space steps of h0 while v is steep (the terminal vector of a penalty), with a
    # checkpoint after each; from the first smooth v on, propagators.
    checkpoints = [(0.0, np.zeros(chain.n) if log_terminal is None else log_terminal)]
    t_end = float(eff.max(initial=0.0))
    while checkpoints[-1][0] < t_end and not _is_smooth(chain, checkpoints[-1][1]):
        t0, x0 = checkpoints[-1]
        step = min(h0, t_end - t0)
        checkpoints.append((t0 + step, chain.apply_short(x0, step)))
    t_smooth, smooth = checkpoints[-1]
    later = np.maximum(eff - t_smooth, 0.0)
    whole = np.floor(later / h0).astype(np.int64)
    rest = later - whole * h0
    powers = [chain.log_propagator(h0)] if whole.max(initial=0) > 0 else []
    for _ in range(1, int(whole.max(initial=0)).bit_length()):
        powers.append(_log_matmul(powers[-1], powers[-1]))
    out = np.empty((eff.size, chain.n))
    for i, (e, m, r) in enumerate(zip(eff, whole, rest, strict=True)):
        if e < t_smooth:  # inside the steep phase: from the checkpoint before e
            t0, log_v = next((t, x) for t, x in reversed(checkpoints) if t <= e)
            out[i] = chain.apply_short(log_v, float(e - t0)) if e > t0 else log_v
            continue
        log_v = smooth
        if r > 0:
            log_v = chain.apply_short(log_v, float(r))
        for j, log_p in enumerate(powers):
            if (int(m) >> j) & 1:
                log_v = _log_matvec(log_p, log_v)
        out[i] = log_v
    return _symmetrise(out)


def _marched_log_v(
    chain: _Chain, dt: float, n_steps: int, log_terminal: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """log v on the grid tau_j = j dt up to relaxation: (rows j = 0..marched, marched).

    One log-space propagator ``exp(-M dt)`` and one matrix-vector product per step (exact
    log-space steps while v is steep, see _is_smooth), until the relaxation time, after which
    the depths are constant (the rows differ by the common shift -lam0 dt per step).
    """
    marched = min(n_steps, math.ceil(chain.tau_relax / dt))
    log_v = np.empty((marched + 1, chain.n))
    log_v[0] = 0.0 if log_terminal is None else log_terminal
    steep = 0
    while steep < marched and not _is_smooth(chain, log_v[steep]):
        log_v[steep + 1] = _exact_advance(chain, log_v[steep], dt)
        steep += 1
    if steep < marched:
        log_p = chain.log_propagator(dt)
        for j in range(steep, marched):
            log_v[j + 1] = _log_matvec(log_p, log_v[j])
    return _symmetrise(log_v), marched


def _table_depths(log_v: np.ndarray, marched: int, n_steps: int, k: float, constant: float):
    """Read-only bid and ask depth tables, shape (n_steps + 1, n), row i at t_i = i dt, from
    log v at tau_j = j dt (j = 0..marched; rows beyond repeat the relaxed depths)."""
    no_quote = np.full((marched + 1, 1), np.inf)
    bid = np.hstack([(log_v[:, :-1] - log_v[:, 1:]) / k + constant, no_quote])
    ask = np.hstack([no_quote, (log_v[:, 1:] - log_v[:, :-1]) / k + constant])
    rows = np.minimum(np.arange(n_steps, -1, -1), marched)  # t_i -> tau = (n_steps - i) dt
    bid, ask = bid[rows], ask[rows]
    bid.setflags(write=False)
    ask.setflags(write=False)
    return bid, ask


def _depths_from_log_v(log_v: np.ndarray, q_index: np.ndarray, k: float, constant: float):
    """Bid and ask depths from log v (..., n) at inventory indices q + Q (same leading shape)."""
    n = log_v.shape[-1]
    here = np.take_along_axis(log_v, q_index[..., None], axis=-1)[..., 0]
    up = np.take_along_axis(log_v, np.minimum(q_index + 1, n - 1)[..., None], axis=-1)[..., 0]
    down = np.take_along_axis(log_v, np.maximum(q_index - 1, 0)[..., None], axis=-1)[..., 0]
    bid = np.where(q_index == n - 1, np.inf, (here - up) / k + constant)
    ask = np.where(q_index == 0, np.inf, (here - down) / k + constant)
    return bid, ask


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def glft_log_v(tau, *, gamma: float, sigma: float, A: float, k: float, Q: int) -> np.ndarray:
    """``log v_q`` at time to horizon ``tau = T - t``, for every inventory q = -Q..Q.

    ``v(t) = exp(-M (T - t)) 1`` solves ``dv/dt = M v``, ``v(T) = 1`` (GLFT 2013, Theorem 1),
    and the value function is ``u(t, x, q, s) = -exp(-gamma (x + q s)) v_q(t)^(-gamma / k)``.

    Parameters
    ----------
    tau : array_like of float
        Time to the horizon, time units (finite, >= 0).
    gamma : float
        CARA risk aversion, 1 / money (> 0).
    sigma : float
        Midprice volatility, price units / sqrt(time) (> 0).
    A : float
        Market-order arrival rate on each side, orders per unit time (> 0).
    k : float
        Decay of the fill intensity ``A exp(-k delta)``, 1 / price units (> 0).
    Q : int
        Inventory bound, units (integer >= 1).

    Returns
    -------
    ndarray, shape ``np.shape(tau) + (2 Q + 1,)``
        ``log v_q(T - tau)``, column ``q + Q`` for inventory q. Every entry is finite (also for
        Q = 100 and tau = 1e4); ``v_q > 0``.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Theorem 1.

    Examples
    --------
    >>> glft_log_v(0.0, gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=2)
    array([0., 0., 0., 0., 0.])
    """
    gamma, sigma, A, k = _model(gamma, sigma, A, k)
    Q = _inventory_bound(Q)
    tau = _time_to_horizon(tau)
    chain = _Chain(*_coefficients(gamma, sigma, A, k), Q)
    unique, inverse = np.unique(tau, return_inverse=True)
    log_v = _relaxed_log_v(chain, unique)
    # Past the relaxation time only the ground state is left: a common shift -lam0 * extra.
    log_v += (-chain.lam0 * (unique - np.minimum(unique, chain.tau_relax)))[:, None]
    return log_v[inverse.reshape(tau.shape)]


def glft_depths(tau, q, *, gamma: float, sigma: float, A: float, k: float, Q: int):
    """Optimal GLFT bid and ask depths at time to horizon tau and inventory q.

    ``delta_bid = ln(v_q / v_{q+1}) / k + ln(1 + gamma / k) / gamma`` and
    ``delta_ask = ln(v_q / v_{q-1}) / k + ln(1 + gamma / k) / gamma``, with v as in
    :func:`glft_log_v`; the log-ratios are differences of logs, so they stay accurate at every
    inventory and horizon.

    Parameters
    ----------
    tau : array_like of float
        Time to the horizon ``T - t``, time units (finite, >= 0).
    q : array_like of int
        Inventory, units (integers in [-Q, Q]); broadcasts with tau.
    gamma, sigma, A, k, Q
        As in :func:`glft_log_v`.

    Returns
    -------
    bid_depth, ask_depth : ndarray of float, shape ``np.broadcast(tau, q).shape``
        Price units, positive away from the mid (negative at large |q|: a quote through the
        mid to unload inventory). ``bid_depth`` is ``+inf`` at q = Q and ``ask_depth`` is
        ``+inf`` at q = -Q (no quote on that side).

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Theorem 1.

    Examples
    --------
    >>> bid, ask = glft_depths(0.0, [-1, 0, 1], gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=1)
    >>> bid.round(4), ask.round(4)
    (array([0.6454, 0.6454,    inf]), array([   inf, 0.6454, 0.6454]))
    """
    gamma, sigma, A, k = _model(gamma, sigma, A, k)
    Q = _inventory_bound(Q)
    tau = _time_to_horizon(tau)
    q = _inventory(q, Q)
    tau, q = np.broadcast_arrays(tau, q)
    chain = _Chain(*_coefficients(gamma, sigma, A, k), Q)
    unique, inverse = np.unique(tau, return_inverse=True)
    # Depths from log v before the common shift -lam0 (tau - tau_relax): no cancellation of
    # large numbers at long horizons.
    log_v = _relaxed_log_v(chain, unique)[inverse.reshape(tau.shape)]
    return _depths_from_log_v(log_v, q + Q, k, _spread_constant(gamma, k))


def glft_certainty_equivalent(
    q0: int, *, gamma: float, sigma: float, A: float, k: float, Q: int, T: float
) -> float:
    """Certainty equivalent of the optimal strategy's PnL over [0, T], ``ln(v_{q0}(0)) / k``.

    Under the optimal quotes ``E[-exp(-gamma (X_T + q_T S_T))] = u(0, x0, q0, s0)
    = -exp(-gamma (x0 + q0 s0)) v_{q0}(0)^(-gamma / k)``
    ``= -exp(-gamma (x0 + q0 s0 + ln(v_{q0}(0)) / k))``. So the PnL
    ``X_T + q_T S_T - (x0 + q0 s0)`` (terminal inventory marked at the mid, no terminal
    penalty) has certainty equivalent ``CE = ln(v_{q0}(0)) / k``, i.e.
    ``E[exp(-gamma PnL)] = exp(-gamma CE)``: the check a Monte Carlo run must reproduce.

    Parameters
    ----------
    q0 : int
        Initial inventory, units (integer in [-Q, Q]).
    T : float
        Horizon, time units (finite, >= 0).
    gamma, sigma, A, k, Q
        As in :func:`glft_log_v`.

    Returns
    -------
    float
        The certainty equivalent, money (price units x inventory units).

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Theorem 1
    (the change of variables ``u = -exp(-gamma (x + q s)) v_q^(-gamma / k)``).
    """
    Q = _inventory_bound(Q)
    q0 = int(_inventory(q0, Q, name="q0"))
    T = float(_time_to_horizon(T, name="T"))
    log_v = glft_log_v(T, gamma=gamma, sigma=sigma, A=A, k=k, Q=Q)
    return float(log_v[q0 + Q] / k)


def glft_asymptotic_depths(q, *, gamma: float, sigma: float, A: float, k: float):
    """Closed-form approximation of the GLFT depths far from the horizon (T - t -> infinity).

    ``delta_bid(q) = ln(1 + gamma/k) / gamma + (2 q + 1) / 2 * s``,
    ``delta_ask(q) = ln(1 + gamma/k) / gamma - (2 q - 1) / 2 * s``, with
    ``s = sqrt(sigma^2 gamma / (2 k A) * (1 + gamma/k)^(1 + k/gamma)) = sqrt(alpha / eta) / k``.

    Derivation: as T - t -> infinity, v(t) is proportional to the ground state f of M, so the
    depths tend to ``ln(f_q / f_{q+1}) / k + ...``. Replacing the second difference
    ``f_{q+1} - 2 f_q + f_{q-1}`` by ``f''`` turns ``M f = lam0 f`` into the harmonic
    oscillator ``-eta f'' + alpha q^2 f = (lam0 + 2 eta) f``, whose ground state is
    ``f(q) = exp(-sqrt(alpha / eta) q^2 / 2)``; then ``ln(f_q / f_{q+1}) = sqrt(alpha / eta)
    (2 q + 1) / 2``. The approximation is good where the ground state is wide
    (``sqrt(alpha / eta) << 1``), for |q| well inside [-Q, Q]; it is linear in q, whereas the
    exact depths grow only logarithmically at large |q|, and it ignores the bound Q.

    Parameters
    ----------
    q : array_like of float
        Inventory, units (not restricted to integers or to a bound).
    gamma, sigma, A, k : float
        As in :func:`glft_log_v`.

    Returns
    -------
    bid_depth, ask_depth : ndarray of float, shape ``np.shape(q)``
        Price units, positive away from the mid.

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Section 4
    (closed-form approximations of the asymptotic quotes); also Guéant (2017), Optimal market
    making, Appl. Math. Finance 24(2) 112-154.

    Examples
    --------
    >>> bid, ask = glft_asymptotic_depths(0, gamma=0.1, sigma=2.0, A=140.0, k=1.5)
    >>> round(float(bid), 4), round(float(ask), 4)
    (0.6712, 0.6712)
    """
    gamma, sigma, A, k = _model(gamma, sigma, A, k)
    q = np.asarray(q, dtype=float)
    slope = math.sqrt(
        sigma**2 * gamma / (2.0 * k * A) * math.exp((1.0 + k / gamma) * math.log1p(gamma / k))
    )
    constant = _spread_constant(gamma, k)
    return constant + (2.0 * q + 1.0) / 2.0 * slope, constant - (2.0 * q - 1.0) / 2.0 * slope


class _QuoteLookup:
    """Grid lookup shared by the quote tables (fields T, dt, n_steps, Q, bid_depth, ask_depth)."""

    T: float
    dt: float
    n_steps: int
    Q: int
    bid_depth: np.ndarray
    ask_depth: np.ndarray

    @property
    def time_grid(self) -> np.ndarray:
        """The grid times ``t_i = i dt``, shape (n_steps + 1,), time units."""
        return np.arange(self.n_steps + 1) * self.dt

    def depths(self, time_remaining, q):
        """Look up bid and ask depths for arrays of time remaining and inventory.

        Parameters
        ----------
        time_remaining : array_like of float
            ``T - t``, time units; mapped to the nearest grid row
            ``i = round((T - time_remaining) / dt)``, clipped to [0, n_steps].
        q : array_like
            Inventory, units; rounded to the nearest integer and clipped to [-Q, Q].
            Broadcasts with time_remaining. Must not be NaN.

        Returns
        -------
        bid_depth, ask_depth : ndarray, shape ``np.broadcast(time_remaining, q).shape``
            Price units; ``+inf`` where there is no quote.
        """
        row = np.rint((self.T - np.asarray(time_remaining, dtype=float)) / self.dt)
        row = np.clip(row, 0, self.n_steps).astype(np.intp)
        col = np.clip(np.rint(np.asarray(q, dtype=float)), -self.Q, self.Q).astype(np.intp)
        col += self.Q
        return self.bid_depth[row, col], self.ask_depth[row, col]


@dataclass(frozen=True, eq=False)
class GLFTQuoteTable(_QuoteLookup):
    """GLFT depths precomputed on the time grid ``t_i = i dt``, i = 0..n_steps, for q = -Q..Q.

    Built once with :meth:`build`; :meth:`depths` is then pure fancy indexing, so a policy can
    look up the quotes of 100,000 paths per step with no Python loop.

    Attributes
    ----------
    gamma, sigma, A, k, Q, T, dt
        The model (see :func:`glft_log_v`), the horizon T and the time step dt (time units).
    n_steps : int
        ``round(T / dt)``.
    bid_depth, ask_depth : ndarray, shape (n_steps + 1, 2 Q + 1), read-only
        Depths at time ``t_i`` (row i) and inventory q (column q + Q), price units;
        ``+inf`` where there is no quote (bid at q = Q, ask at q = -Q).

    References
    ----------
    Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507, Theorem 1.

    Examples
    --------
    >>> table = GLFTQuoteTable.build(gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=10, T=1.0,
    ...                              dt=0.005)
    >>> table.bid_depth.shape
    (201, 21)
    >>> bid, ask = table.depths(np.array([1.0, 0.5]), np.array([0, 3]))
    """

    gamma: float
    sigma: float
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
        cls, *, gamma: float, sigma: float, A: float, k: float, Q: int, T: float, dt: float
    ) -> GLFTQuoteTable:
        """Precompute the depths on the grid; ``T / dt`` must be a whole number of steps.

        The grid is marched backwards from the horizon with one log-space propagator
        ``exp(-M dt)``, one matrix-vector product per step, until the relaxation time (after
        which the depths are constant); cost O(min(n_steps, tau_relax / dt) (2Q+1)^2).
        """
        gamma, sigma, A, k = _model(gamma, sigma, A, k)
        Q = _inventory_bound(Q)
        T = _positive("T", T)
        dt = _positive("dt", dt)
        n_steps = check_whole_steps(T, dt)
        chain = _Chain(*_coefficients(gamma, sigma, A, k), Q)
        log_v, marched = _marched_log_v(chain, dt, n_steps)
        bid, ask = _table_depths(log_v, marched, n_steps, k, _spread_constant(gamma, k))
        return cls(gamma, sigma, A, k, Q, T, dt, n_steps, bid, ask)
