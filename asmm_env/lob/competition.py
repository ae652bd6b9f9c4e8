"""
# Market-Making Competition on a Limit Order Book

| Import             | `from asmm_env.lob import competition`                           |
|--------------------|------------------------------------------------------------------|
| Creation           | `pettingzoo.make("parallel", "asmm_env/CompetitionLOB-v0")`      |
| Actions            | Continuous (rounded to tick levels)                              |
| Parallel API       | Yes                                                              |
| Manual Control     | No                                                               |
| Agents             | `agents= ['maker_0', 'maker_1', ..., 'maker_{n_agents-1}']`      |
| Agents             | `n_agents` (default 2)                                           |
| Action Shape       | (2,)                                                             |
| Action Values      | [-1, 1]: (bid_depth, ask_depth) / depth_bound                    |
| Observation Shape  | (11 + 2 * n_levels,)                                             |
| Observation Values | as `asmm_env/AvellanedaStoikovLOB-v0`, with the agent's own      |
|                    | inventory, queue positions and levels                            |
| State Shape        | (n_agents + 6 + 2 * n_levels,)                                   |

`n_agents` market makers quote one unit order on each side of one shared tick-level,
queue-reactive limit order book (Huang, Lehalle & Rosenbaum 2015; one-tick spread as in
Cont & de Larrard 2013). Other traders' limit orders, cancellations and market orders arrive
event by event; every agent's order waits in the FIFO queue of its price level with the same
price-time priority as everyone else's, and the price moves one tick when a best queue
empties. Every agent re-quotes each `dt`; the episode lasts `T` (`T / dt` steps); all agents
terminate together. Each agent has its own self-financing ledger.

This is the one-path view of the batched core `asmm_env.lob.LimitOrderBook(params,
n_paths=1, n_agents=n_agents)` (model, priority rules and invariants in
`asmm_env.lob.book`); the single-agent Gymnasium face is `asmm_env/AvellanedaStoikovLOB-v0`
(`asmm_env.lob.env`), whose action mapping, observations and spaces this env shares.

### Priority between agents

Agents' orders are ordinary orders of the book: an order joins the back of its level, the
orders ahead of it (other traders' and other agents') are served first, a cancellation of
another order ahead moves it up. Orders of several agents placed at the same moment at the
same price queue in a random agent order (one permutation per step, from the env's seeded
generator). An order already resting at the chosen level keeps its place when the agent
quotes that level again; a filled order re-joins at once at the back of its level.

### Action Space

`Box(-1, 1, (2,), float64)`: bid and ask depths from the mid as fractions of `depth_bound =
n_levels * tick_size` (price units), as in the single-agent env, rounded to the tick grid:
the order rests at level `j = floor(depth / tick_size)` behind the best, clipped to
`[0, n_levels - 1]`; `asmm_env.lob.env.offsets_to_action(bid_level, ask_level, params)`
gives the action for given levels. Values beyond [-1, 1] are clipped; NaN, infinite or
misshapen actions raise `ValueError` naming the agent.

### Observation Space

Each agent sees the single-agent env's observation for its own orders
(`asmm_env.lob.env.observation_names`, `book_observations`), so any `baselines` policy
(which reads the first three entries) drives any agent:

| Num        | Observation                        | Unit                          |
|------------|------------------------------------|-------------------------------|
| 0          | mid                                | price units                   |
| 1          | inventory (the agent's)            | shares                        |
| 2          | time_remaining                     | time units                    |
| 3, 4       | best_bid, best_ask                 | price units                   |
| 5          | imbalance (Qb - Qa) / (Qb + Qa)    | 1                             |
| 6          | micro_price (size-weighted mid)    | price units                   |
| 7, 8       | bid/ask_queue_position (agent's)   | orders ahead; -1: no order    |
| 9, 10      | bid/ask_level (agent's)            | ticks behind the best; -1     |
| 11 + j     | bid_queue_j (all agents' included) | orders                        |
| 11 + K + j | ask_queue_j                        | orders                        |

Bounds: `asmm_env.lob.env.observation_space` (finite, never reached in practice).

### State

`(mid, inventory of every agent, time_remaining, best_bid, best_ask, imbalance,
micro_price, bid_queue_0 .. bid_queue_{K-1}, ask_queue_0 .. ask_queue_{K-1})`.

### Rewards

Per agent, as in the single-agent env: `reward="pnl"` (default) the step's change of its
mark-to-market PnL; `"inventory_penalty"` minus `inventory_penalty * q^2 * dt`; `"cara"`
zero until the last step, then `-exp(-risk_aversion * PnL_T)`.

### Info

`infos[agent]`: its ledger, `pnl, cash, inventory, bid_fills, ask_fills, fills,
spread_capture, inventory_pnl, adverse_selection, fees` (`pnl == spread_capture +
inventory_pnl + fees` to float rounding; every fill is at the best, half a tick from the mid
at the fill), and `mid`. After a step also `bid_level, ask_level` (the levels the step's
action chose) and `bid_filled, ask_filled` (shares filled during the step; the ledger's
`bid_volume, ask_volume` are the totals).

### Arguments

``` python
from asmm_env.lob import competition

competition.parallel_env(n_agents=3, n_levels=3, T=300.0, market_rate=0.6)
```

| Argument            | Meaning                                                  | Default |
|---------------------|----------------------------------------------------------|---------|
| `n_agents`          | number of market makers (integer >= 1)                   | 2       |
| BookParams fields   | `s0, tick_size, n_levels, limit_rate, cancel_rate,       | see     |
|                     | market_rate, market_boost, small_queue, refill,          | Book-   |
|                     | order_size, T, dt, q0, fee, ...`, or                     | Params  |
|                     | `params=BookParams(...)` plus any overrides              |         |
| `reward`            | `"pnl"`, `"inventory_penalty"`, `"cara"` or a callable   | `"pnl"` |
| `inventory_penalty` | phi of `"inventory_penalty"`, money / share^2 / time     | 0.0     |
| `risk_aversion`     | gamma of `"cara"`, 1 / money                             | 0.1     |
| `render_mode`       | `"ansi"` or None                                         | None    |

### Version History

* v0: initial version.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from pettingzoo.utils.conversions import parallel_to_aec

from asmm_env.envs._common import (
    check_n_agents,
    check_render_mode,
    reward_from,
    split_kwargs,
)
from asmm_env.envs._faces import ParallelFace
from asmm_env.lob.book import LimitOrderBook
from asmm_env.lob.env import (
    ACTION_NAMES,
    action_space,
    book_observations,
    depths_to_offsets,
    observation_names,
    observation_space,
)
from asmm_env.lob.params import BookParams

_ENV_KEYS = frozenset({"reward", "inventory_penalty", "risk_aversion", "render_mode"})


def env(**kwargs: Any):
    """The AEC form: :class:`CompetitionLOBEnv` through PettingZoo's ``parallel_to_aec``
    (which adds the ``OrderEnforcingWrapper``)."""
    return parallel_to_aec(parallel_env(**kwargs))


def parallel_env(**kwargs: Any) -> CompetitionLOBEnv:
    """The parallel form, :class:`CompetitionLOBEnv` (arguments in the module docstring)."""
    return CompetitionLOBEnv(**kwargs)


class CompetitionLOBEnv(ParallelFace):
    """N market makers on one limit order book, PettingZoo parallel API; see the module
    docstring.

    Attributes
    ----------
    params : BookParams
        The book's parameters.
    book : LimitOrderBook
        The batched core (one path, ``n_agents`` agents); also ``market``.
    possible_agents : list of str
        ``"maker_0" .. "maker_{n-1}"``; agent ``i`` is column ``i`` of the core's arrays.
    """

    metadata = {"name": "asmm_competition_lob_v0", "render_modes": ["ansi"],
                "is_parallelizable": True}

    def __init__(self, n_agents: int = 2, **kwargs: Any) -> None:
        n_agents = check_n_agents(n_agents)
        params, options = split_kwargs(dict(kwargs), _ENV_KEYS, BookParams)
        self.params = params
        self.book = LimitOrderBook(params, 1, n_agents)
        self.reward_fn = reward_from(options)
        self.render_mode = check_render_mode(options.get("render_mode"),
                                             self.metadata["render_modes"])
        self.observation_names = observation_names(params.n_levels)
        self.action_names = ACTION_NAMES
        self._init_agents(n_agents, lambda: observation_space(params),
                          lambda: action_space(params))
        single = observation_space(params)
        parts = (slice(0, 1), np.repeat(1, n_agents), slice(2, 7), slice(11, None))
        self.state_space = gymnasium.spaces.Box(
            low=np.concatenate([single.low[i] for i in parts]),
            high=np.concatenate([single.high[i] for i in parts]), dtype=np.float64)

    @property
    def market(self) -> LimitOrderBook:
        """The batched core (the name the reduced-form competition env uses)."""
        return self.book

    def _step_core(self, depths: np.ndarray) -> None:
        offsets = depths_to_offsets(depths, self.params)
        volume = self.book.step(offsets)
        self._last = {"levels": offsets[0], "volume": volume[0].copy()}

    def state(self) -> np.ndarray:
        """``(mid, inventory of every agent, time_remaining, best_bid, best_ask, imbalance,
        micro_price, queue sizes)``, shape ``(n_agents + 6 + 2 * n_levels,)``."""
        b = self.book
        return np.concatenate([b.mid, b.ledger.inventory[0], [b.time_remaining], b.best_bid,
                               b.best_ask, b.imbalance(), b.micro_price(),
                               b.queue_sizes()[0].reshape(-1)])

    def render(self) -> str | None:
        if not self._render_check():
            return None
        b, led = self.book, self.book.ledger
        qb, qa = b.best_queues()
        lines = [f"t={b.time:.2f} bid={b.best_bid[0]:.4f}x{qb[0]:.0f} "
                 f"ask={b.best_ask[0]:.4f}x{qa[0]:.0f}"]
        levels, ahead = b.order_levels()[0], b.queue_positions()[0]
        for i, agent in enumerate(self.possible_agents):
            lines.append(f"{agent}: q={led.inventory[0, i]:+g} pnl={self._pnl[0, i]:.4f} "
                         f"bid level {levels[i, 0]} ahead {ahead[i, 0]:.0f}, "
                         f"ask level {levels[i, 1]} ahead {ahead[i, 1]:.0f}")
        return "\n".join(lines)

    def _observation_rows(self) -> np.ndarray:
        return book_observations(self.book)[0]

    def _last_info(self, i: int) -> dict[str, float]:
        bid_level, ask_level = map(int, self._last["levels"][i])
        bid_filled, ask_filled = map(float, self._last["volume"][i])
        return {"bid_level": bid_level, "ask_level": ask_level, "bid_filled": bid_filled,
                "ask_filled": ask_filled}


raw_env = CompetitionLOBEnv
