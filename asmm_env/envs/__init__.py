"""Environment faces of the batched market core."""

from asmm_env.envs.avellaneda_stoikov import AvellanedaStoikovEnv, AvellanedaStoikovVectorEnv

__all__ = ["AvellanedaStoikovEnv", "AvellanedaStoikovVectorEnv"]
