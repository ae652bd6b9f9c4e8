"""Analytic solutions: the Avellaneda–Stoikov closed form and the GLFT exact solution."""

from asmm_env.analytic.avellaneda_stoikov import (
    average_spread,
    optimal_depths,
    optimal_spread,
    reservation_price,
)

__all__ = ["average_spread", "optimal_depths", "optimal_spread", "reservation_price"]
