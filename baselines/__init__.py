"""Fixed market-making policies (no learning): the analytic baselines and simple references.

Every policy implements :class:`baselines.policy.Policy`: ``act(observation) -> action``,
vectorised over a batch of observations. The strategic ones (``observes_rivals = True``:
:class:`UndercutPolicy`, :class:`CompetitionAwarePolicy`) also read the book's best rival
quotes, appended to the observation by the runner and by
``competition_v0.parallel_env(observe_rivals=True)``.
"""

from baselines.avellaneda_stoikov import AvellanedaStoikovPolicy
from baselines.cartea_jaimungal import CarteaJaimungalPolicy
from baselines.competition_aware import CompetitionAwarePolicy
from baselines.constant_spread import ConstantSpreadPolicy
from baselines.glft import GLFTAsymptoticPolicy, GLFTPolicy
from baselines.nash import NashEquilibrium, OffsetPolicy, symmetric_nash
from baselines.policy import DepthPolicy, Policy, market_params
from baselines.portfolio import GueantPolicy, IndependentMakers
from baselines.random_policy import RandomPolicy
from baselines.symmetric import SymmetricPolicy
from baselines.undercut import UndercutPolicy

__all__ = ["AvellanedaStoikovPolicy", "CarteaJaimungalPolicy", "CompetitionAwarePolicy",
           "ConstantSpreadPolicy", "DepthPolicy", "GLFTAsymptoticPolicy", "GLFTPolicy",
           "GueantPolicy", "IndependentMakers", "NashEquilibrium", "OffsetPolicy", "Policy",
           "RandomPolicy", "SymmetricPolicy", "UndercutPolicy", "market_params",
           "symmetric_nash"]
