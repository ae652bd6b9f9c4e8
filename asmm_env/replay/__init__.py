"""Replay of recorded order books: any policy of this package quotes into recorded data
(LOBSTER files, trades + quotes tables) with queue positions, latency, fees and the same
ledger, through ``gym.make("asmm_env/Replay-v0", data=...)`` or
:func:`asmm_env.rollout.rollout` with a ``market_factory``.

- :mod:`asmm_env.replay.params`: :class:`ReplayParams`, the rules of the replay;
- :mod:`asmm_env.replay.latency`: order-entry and cancel latency models;
- :mod:`asmm_env.replay.tape`: :class:`ReplayTape`, the data as rows and trades in order;
- :mod:`asmm_env.replay.market`: :class:`ReplayMarket`, the batched core (the rules);
- :mod:`asmm_env.replay.env`: the Gymnasium faces.
"""

from asmm_env.replay.latency import ConstantLatency, EmpiricalLatency, ExponentialLatency
from asmm_env.replay.market import ReplayMarket
from asmm_env.replay.params import QUEUE_RULES, ReplayParams
from asmm_env.replay.tape import ReplayTape

__all__ = ["QUEUE_RULES", "ConstantLatency", "EmpiricalLatency", "ExponentialLatency",
           "ReplayMarket", "ReplayParams", "ReplayTape"]
