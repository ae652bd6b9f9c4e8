"""Fixed market-making policies (no learning): the analytic baselines and simple references.

Every policy implements :class:`baselines.policy.Policy`: ``act(observation) -> action``,
vectorised over a batch of observations.
"""

from baselines.avellaneda_stoikov import AvellanedaStoikovPolicy
from baselines.cartea_jaimungal import CarteaJaimungalPolicy
from baselines.constant_spread import ConstantSpreadPolicy
from baselines.glft import GLFTAsymptoticPolicy, GLFTPolicy
from baselines.policy import DepthPolicy, Policy, market_params
from baselines.portfolio import GueantPolicy, IndependentMakers
from baselines.random_policy import RandomPolicy
from baselines.symmetric import SymmetricPolicy

__all__ = ["AvellanedaStoikovPolicy", "CarteaJaimungalPolicy", "ConstantSpreadPolicy",
           "DepthPolicy", "GLFTAsymptoticPolicy", "GLFTPolicy", "GueantPolicy",
           "IndependentMakers", "Policy", "RandomPolicy", "SymmetricPolicy", "market_params"]
