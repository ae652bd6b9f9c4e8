"""A tick-level, queue-reactive limit order book (Huang, Lehalle & Rosenbaum 2015; Cont &
de Larrard 2013), batched over paths, and its Gymnasium and PettingZoo faces.

- :mod:`asmm_env.lob.params`: :class:`BookParams`, the order flow and tick grid;
- :mod:`asmm_env.lob.book`: :class:`LimitOrderBook`, the batched event-driven book with the
  agents' resting orders and queue positions (market-like: ``reset``, ``step``, ``ledger``);
- :mod:`asmm_env.lob.env`: ``asmm_env/AvellanedaStoikovLOB-v0``;
- :mod:`asmm_env.lob.competition`: ``asmm_env/CompetitionLOB-v0``, N market makers on one
  book (PettingZoo parallel and AEC).
"""

from asmm_env.lob.book import LimitOrderBook, event_code
from asmm_env.lob.params import BookParams

__all__ = ["BookParams", "LimitOrderBook", "event_code"]
