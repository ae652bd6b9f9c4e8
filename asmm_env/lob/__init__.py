"""A tick-level, queue-reactive limit order book (Huang, Lehalle & Rosenbaum 2015; Cont &
de Larrard 2013), batched over paths, and its Gymnasium face.

- :mod:`asmm_env.lob.params`: :class:`BookParams`, the order flow and tick grid;
- :mod:`asmm_env.lob.book`: :class:`LimitOrderBook`, the batched event-driven book with the
  agents' resting orders and queue positions (market-like: ``reset``, ``step``, ``ledger``);
- :mod:`asmm_env.lob.env`: ``asmm_env/AvellanedaStoikovLOB-v0``.
"""

from asmm_env.lob.book import LimitOrderBook, event_code
from asmm_env.lob.params import BookParams

__all__ = ["BookParams", "LimitOrderBook", "event_code"]
