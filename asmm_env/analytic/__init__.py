"""Analytic solutions: the Avellaneda–Stoikov closed form and the GLFT exact solution."""

from asmm_env.analytic.avellaneda_stoikov import (
    average_spread,
    optimal_depths,
    optimal_spread,
    reservation_price,
)
from asmm_env.analytic.glft import (
    GLFTQuoteTable,
    glft_asymptotic_depths,
    glft_certainty_equivalent,
    glft_depths,
    glft_log_v,
)

__all__ = [
    "GLFTQuoteTable",
    "average_spread",
    "glft_asymptotic_depths",
    "glft_certainty_equivalent",
    "glft_depths",
    "glft_log_v",
    "optimal_depths",
    "optimal_spread",
    "reservation_price",
]
