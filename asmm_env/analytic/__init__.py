"""Analytic solutions: the Avellaneda–Stoikov closed form, the GLFT exact solution, the
Cartea–Jaimungal running-penalty solution and Guéant's multi-asset quadratic approximation."""

from asmm_env.analytic.avellaneda_stoikov import (
    average_spread,
    optimal_depths,
    optimal_spread,
    reservation_price,
)
from asmm_env.analytic.cartea_jaimungal import CJQuoteTable, cj_depths, cj_log_omega, cj_value
from asmm_env.analytic.glft import (
    GLFTQuoteTable,
    glft_asymptotic_depths,
    glft_certainty_equivalent,
    glft_depths,
    glft_log_v,
)
from asmm_env.analytic.multi_asset import (
    covariance_matrix,
    gueant_depths,
    gueant_gamma_matrix,
    gueant_hamiltonian_curvature,
    gueant_static_depth,
    gueant_value_matrix,
)

__all__ = [
    "CJQuoteTable",
    "GLFTQuoteTable",
    "average_spread",
    "cj_depths",
    "cj_log_omega",
    "cj_value",
    "covariance_matrix",
    "glft_asymptotic_depths",
    "glft_certainty_equivalent",
    "glft_depths",
    "glft_log_v",
    "gueant_depths",
    "gueant_gamma_matrix",
    "gueant_hamiltonian_curvature",
    "gueant_static_depth",
    "gueant_value_matrix",
    "optimal_depths",
    "optimal_spread",
    "reservation_price",
]
