"""Avellaneda–Stoikov (2008) closed-form quotes, as pure functions of broadcastable arrays.

Units: s in price units, q in shares, t and T in time units, gamma in 1 / money, sigma in
price units / sqrt(time), k in 1 / price units. Depths are positive away from the mid.

Reference: Avellaneda & Stoikov (2008), Quant. Finance 8(3) 217-224, eqs. (29)-(30)
(reservation price) and (30)-(31) (spread), first-order approximation in the inventory.
"""

from __future__ import annotations

import numpy as np


def reservation_price(s, q, t, *, gamma: float, sigma: float, T: float):
    """Reservation (indifference) price ``r = s - q gamma sigma^2 (T - t)``, price units."""
    return np.asarray(s) - np.asarray(q) * gamma * sigma**2 * (T - np.asarray(t))


def optimal_spread(t, *, gamma: float, sigma: float, k: float, T: float,
                   include_time_term: bool = True):
    """Total bid-ask spread ``gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)``.

    ``include_time_term=False`` drops ``gamma sigma^2 (T - t)``: the spread the AS 2008
    simulation tables report (1.29 for gamma = 0.1, k = 1.5).
    """
    constant = 2.0 / gamma * np.log1p(gamma / k)
    if not include_time_term:
        return np.broadcast_to(constant, np.shape(t)).astype(float)
    return gamma * sigma**2 * (T - np.asarray(t)) + constant


def optimal_depths(q, t, *, gamma: float, sigma: float, k: float, T: float,
                   include_time_term: bool = True):
    """AS bid and ask depths around the mid: ``(s - r) + spread / 2`` and ``(r - s) + spread / 2``.

    Returns
    -------
    bid_depth, ask_depth : arrays, price units, broadcast of q and t. They can be negative
    (a quote through the mid) at large |q|.
    """
    inventory_term = gamma * sigma**2 * (T - np.asarray(t))      # (s - r) / q
    half = 1.0 / gamma * np.log1p(gamma / k)                      # half the constant spread
    if include_time_term:
        half = 0.5 * inventory_term + half
    skew = np.asarray(q) * inventory_term                          # s - r
    return half + skew, half - skew


def average_spread(*, gamma: float, sigma: float, k: float, T: float,
                   include_time_term: bool = True) -> float:
    """Time average over [0, T] of :func:`optimal_spread`: the symmetric strategy's spread."""
    constant = 2.0 / gamma * np.log1p(gamma / k)
    return float(constant + (0.5 * gamma * sigma**2 * T if include_time_term else 0.0))


def indifference_depths(q, t, *, gamma: float, sigma: float, T: float, order_size: float = 1.0):
    """Marginal inventory-risk cost of one more order on each side: how far from the mid the
    indifference bid and ask prices of ``order_size`` shares lie, per share.

    With the inventory held to the horizon (the AS frozen-inventory value
    ``v(x, s, q, t) = -exp(-gamma (x + q s)) exp(gamma^2 q^2 sigma^2 (T - t) / 2)``), buying
    ``m = order_size`` shares at ``s - delta`` leaves the maker indifferent when
    ``delta = (2 q + m) gamma sigma^2 (T - t) / 2`` (bid) and selling them when
    ``delta = (m - 2 q) gamma sigma^2 (T - t) / 2`` (ask). A quote deeper than this earns more
    than the risk it adds; the AS optimal depth is this cost plus the markup
    ``ln(1 + gamma / k) / gamma`` (for m = 1).

    Returns
    -------
    bid_cost, ask_cost : arrays, price units (negative when the order reduces |q| enough).

    Reference: Avellaneda & Stoikov (2008), section 2.2 (the reservation bid and ask prices
    of the frozen-inventory problem, ``r^b = s + (-1 - 2 q) gamma sigma^2 (T - t) / 2`` and
    ``r^a = s + (1 - 2 q) gamma sigma^2 (T - t) / 2``).
    """
    unit = 0.5 * gamma * sigma**2 * (T - np.asarray(t))
    q = np.asarray(q)
    return (2.0 * q + order_size) * unit, (order_size - 2.0 * q) * unit
