"""asmm_env: Avellaneda–Stoikov market making environments, analytic solutions and a batched
Monte Carlo core. Importing it registers the Gymnasium (and PettingZoo) environment ids."""

from gymnasium.envs.registration import register as _register_gym
from pettingzoo import register as _register_pz

from asmm_env.ledger import Ledger
from asmm_env.market import Market
from asmm_env.params import MarketParams

__version__ = "0.1.0"

_register_gym(
    id="asmm_env/AvellanedaStoikov-v0",
    entry_point="asmm_env.envs.avellaneda_stoikov:AvellanedaStoikovEnv",
    vector_entry_point="asmm_env.envs.avellaneda_stoikov:AvellanedaStoikovVectorEnv",
)

# PettingZoo's registry: pettingzoo.make("parallel" | "aec", "asmm_env/Competition-v0", ...).
_register_pz("parallel", id="asmm_env/Competition-v0",
             entry_point="asmm_env.competition_v0:parallel_env")
_register_pz("aec", id="asmm_env/Competition-v0", entry_point="asmm_env.competition_v0:env")

_register_gym(
    id="asmm_env/AvellanedaStoikovLOB-v0",
    entry_point="asmm_env.lob.env:AvellanedaStoikovLOBEnv",
    vector_entry_point="asmm_env.lob.env:AvellanedaStoikovLOBVectorEnv",
)

# N market makers sharing one limit order book (price-time priority).
_register_pz("parallel", id="asmm_env/CompetitionLOB-v0",
             entry_point="asmm_env.lob.competition:parallel_env")
_register_pz("aec", id="asmm_env/CompetitionLOB-v0", entry_point="asmm_env.lob.competition:env")

# Any policy on recorded data (LOBSTER, trades + quotes): queue positions, latency, fees.
_register_gym(
    id="asmm_env/Replay-v0",
    entry_point="asmm_env.replay.env:ReplayEnv",
    vector_entry_point="asmm_env.replay.env:ReplayVectorEnv",
)

__all__ = ["Ledger", "Market", "MarketParams", "__version__"]
