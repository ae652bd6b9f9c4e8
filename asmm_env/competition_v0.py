"""
# Market-Making Competition

| Import             | `from asmm_env import competition_v0`                        |
|--------------------|--------------------------------------------------------------|
| Creation           | `pettingzoo.make("parallel", "asmm_env/Competition-v0")`     |
| Actions            | Continuous                                                   |
| Parallel API       | Yes                                                          |
| Manual Control     | No                                                           |
| Agents             | `agents= ['maker_0', 'maker_1', ..., 'maker_{n_agents-1}']`  |
| Agents             | `n_agents` (default 2)                                       |
| Action Shape       | (2,)                                                         |
| Action Values      | [-1, 1]: (bid_depth, ask_depth) / max_depth                  |
| Observation Shape  | (3,), or (5,) with `observe_rivals=True`                     |
| Observation Values | (mid, inventory, time_remaining[, rival_bid_depth,           |
|                    | rival_ask_depth]), finite bounds (see below)                 |
| State Shape        | (n_agents + 2,): (mid, every inventory, time_remaining)      |

`n_agents` market makers quote a bid and an ask on one shared Avellaneda–Stoikov (2008)
market: the mid follows the price model of the parameters (arithmetic Brownian motion by
default), and market orders arrive at rate `A` per side. Every agent chooses its two depths
each `dt`; an order trades with the best quotes it reaches, so agents compete for the flow by
price first. Each agent has its own self-financing ledger (cash, inventory, PnL and its
decomposition). The episode lasts `T` (`T / dt` steps); all agents terminate together.

This is the one-path view of the batched core `asmm_env.market.Market(params, n_paths=1,
n_agents=n_agents)` with the allocation rule `asmm_env.fills.QueueFills`; the Monte Carlo
experiments drive that same core over thousands of paths at once.

### Allocation rule

Market orders arrive on each side at rate `A`, each reaching a depth `delta* ~ Exp(k)`;
per step the orders reaching the best posted price are `Poisson(A min(1, exp(-k delta)) dt)`
(`fill_rule="poisson"`, the default; `"linear"` is the AS 2008 paper's at most one order a
step). Each order fills one quote of `order_size` shares, and quotes are replenished at once:

1. price priority: every order reaching the best price goes there;
2. time priority: at an equal price, the quote resting longest at that unchanged price
   first; a filled quote goes to the back (round robin), as does a quote that moves;
3. quotes joining a price at the same moment queue in a seeded random order.

So N makers at one price take together what one maker alone would: the totals do not depend
on how a price level is split. With `n_agents=1` this env is `asmm_env/AvellanedaStoikov-v0`,
byte for byte for the same seed. `tick_size > 0` puts quotes on a price grid (rounded away
from the mid), where makers share levels by time priority.

### Observation Space

Each agent sees the observation of the single-agent env for its own inventory,
`asmm_env.spaces.observations`, so any `baselines` policy drives any agent. With
`observe_rivals=True` it also sees the book's best rival quotes: the smallest bid and ask
depths among the quotes the *other* agents posted at the previous step (on the tick grid;
`asmm_env.spaces.no_rival_depth(params)`, a depth that never fills, where no rival posts,
e.g. at the first step), which the strategic policies
(`baselines.UndercutPolicy`, `baselines.CompetitionAwarePolicy`) need; the other policies
read the first three entries only, so any agent can run any policy:

| Num | Observation     | Unit        | Bounds                                  |
|-----|-----------------|-------------|-----------------------------------------|
| 0   | mid             | price units | s0 -/+ 100 sd of the episode's mid move |
| 1   | inventory       | shares      | -/+ max_inventory, or the most it moves |
| 2   | time_remaining  | time units  | [0, T]                                  |
| 3   | rival_bid_depth | price units | -/+ no_rival_depth (observe_rivals)     |
| 4   | rival_ask_depth | price units | -/+ no_rival_depth (observe_rivals)     |

A rival's quote is shown at the depth it was posted at (its distance from the mid then):
makers re-centre their quotes on the mid, so its depth, not its stale price, is what it is
expected to quote again. The Monte Carlo runner (`asmm_env.rollout.rollout`) gives the same
extended observation to every policy with `observes_rivals = True`, so a set of policies runs
alike on both faces.

### Action Space

`Box(-1, 1, (2,), float64)`: `(bid_depth, ask_depth) / max_depth` (`env.params.depth_bound`,
price units), as in the single-agent env; `asmm_env.spaces.depths_to_action` converts.
Depths are positive away from the mid (bid = mid - bid_depth, ask = mid + ask_depth);
values beyond [-1, 1] are clipped; NaN, infinite or misshapen actions raise `ValueError`.
With `max_inventory=Q` an agent's bid is not posted while `q + order_size > Q` (ask mirrored).

### Rewards

Per agent, as in the single-agent env: `reward="pnl"` (default) the step's change of its
mark-to-market PnL; `"inventory_penalty"` minus `inventory_penalty * q^2 * dt`; `"cara"`
zero until the last step, then `-exp(-risk_aversion * PnL_T)`.

### Info

`infos[agent]`: its ledger, `pnl, cash, inventory, bid_fills, ask_fills, fills,
spread_capture, inventory_pnl, adverse_selection, fees` (`pnl == spread_capture +
inventory_pnl + fees` to float rounding), and `mid`. After a step also the step's quotes
and fills, `bid_depth, ask_depth` (price units), `bid_filled, ask_filled` (shares filled in
the step), and `inside_spread`: best posted ask depth + best posted bid depth over all agents (price
units; `inf` if a side had no posted quote).

### Arguments

``` python
from asmm_env import competition_v0

competition_v0.parallel_env(n_agents=5, sigma=2.0, A=140.0, k=1.5, tick_size=0.01)
```

Strategic makers among fixed ones (any agent can run any policy):

``` python
from baselines import AvellanedaStoikovPolicy, UndercutPolicy

env = competition_v0.parallel_env(n_agents=3, tick_size=0.01, observe_rivals=True)
policies = [UndercutPolicy.from_env(env, gamma=0.1),
            *[AvellanedaStoikovPolicy.from_env(env, gamma=0.1)] * 2]
observations, infos = env.reset(seed=1)
while env.agents:
    actions = {agent: policies[i].act(observations[agent])
               for i, agent in enumerate(env.possible_agents)}
    observations, rewards, terminations, truncations, infos = env.step(actions)
```

| Argument            | Meaning                                                 | Default    |
|---------------------|---------------------------------------------------------|------------|
| `n_agents`          | number of market makers (integer >= 1)                  | 2          |
| MarketParams fields | `s0, sigma, A, k, T, dt, q0, order_size, max_inventory, | AS 2008    |
|                     | fee, toxicity, ...`, or `params=MarketParams(...)`      |            |
|                     | plus any overrides                                      |            |
| `reward`            | `"pnl"`, `"inventory_penalty"`, `"cara"` or a callable  | `"pnl"`    |
| `inventory_penalty` | phi of `"inventory_penalty"`, money / share^2 / time    | 0.0        |
| `risk_aversion`     | gamma of `"cara"`, 1 / money                            | 0.1        |
| `observe_rivals`    | append the best rival quotes to every observation       | False      |
| `render_mode`       | `"ansi"` or None                                        | None       |
| `price_model`       | a price model replacing the one `params` describe       | None       |
| `fill_model`        | a fill model replacing `QueueFills` (`IndependentFills`:| None       |
|                     | each agent its own flow, no competition)                |            |
| `latency`           | a `QuoteLatency`: quotes rest after a delay             | None       |

### Version History

* v0: initial version; `observe_rivals` (off by default) added with the strategic policies.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from pettingzoo.utils.conversions import parallel_to_aec

from asmm_env.envs._common import (
    ENV_KEYS,
    check_n_agents,
    check_render_mode,
    reward_from,
    split_kwargs,
)
from asmm_env.envs._faces import ParallelFace
from asmm_env.market import Market
from asmm_env.spaces import (
    ACTION_NAMES,
    OBSERVATION_NAMES,
    RIVAL_OBSERVATION_NAMES,
    action_space,
    best_rival_depths,
    observation_space,
    observations,
    rival_observations,
)


def env(**kwargs: Any):
    """The AEC form: :class:`CompetitionEnv` through PettingZoo's ``parallel_to_aec``
    (which adds the ``OrderEnforcingWrapper``)."""
    return parallel_to_aec(parallel_env(**kwargs))


def parallel_env(**kwargs: Any) -> CompetitionEnv:
    """The parallel form, :class:`CompetitionEnv` (arguments in the module docstring)."""
    return CompetitionEnv(**kwargs)


class CompetitionEnv(ParallelFace):
    """N market makers on one AS market, PettingZoo parallel API; see the module docstring.

    Attributes
    ----------
    params : MarketParams
        The market's parameters.
    market : Market
        The batched core (one path); ``market.fill_model`` is the allocation rule.
    possible_agents : list of str
        ``"maker_0" .. "maker_{n-1}"``; agent ``i`` is column ``i`` of the core's arrays.
    """

    metadata = {"name": "asmm_competition_v0", "render_modes": ["ansi"],
                "is_parallelizable": True}

    def __init__(self, n_agents: int = 2, **kwargs: Any) -> None:
        n_agents = check_n_agents(n_agents)
        params, options = split_kwargs(dict(kwargs), ENV_KEYS | {"observe_rivals"})
        self.observe_rivals = options.get("observe_rivals", False)
        if not isinstance(self.observe_rivals, (bool, np.bool_)):
            raise ValueError(f"observe_rivals must be True or False, got "
                             f"{self.observe_rivals!r}")
        self.params = params
        self.market = Market(params, 1, int(n_agents), price_model=options.get("price_model"),
                             fill_model=options.get("fill_model"),
                             latency=options.get("latency"),
                             engine=options.get("engine", "auto"))
        self.reward_fn = reward_from(options)
        self.render_mode = check_render_mode(options.get("render_mode"),
                                             self.metadata["render_modes"])
        self.observation_names = (OBSERVATION_NAMES + RIVAL_OBSERVATION_NAMES
                                  if self.observe_rivals else OBSERVATION_NAMES)
        self.action_names = ACTION_NAMES
        self._init_agents(int(n_agents),
                          lambda: observation_space(params, rivals=bool(self.observe_rivals)),
                          lambda: action_space(params))
        self._posted = np.full((1, int(n_agents), 2), np.inf)
        single = observation_space(params)
        n = len(self.possible_agents)
        self.state_space = gymnasium.spaces.Box(
            low=np.concatenate([single.low[:1], np.repeat(single.low[1], n), single.low[2:]]),
            high=np.concatenate([single.high[:1], np.repeat(single.high[1], n),
                                 single.high[2:]]),
            dtype=np.float64)

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._posted = np.full(self._posted.shape, np.inf)     # an empty book
        return super().reset(seed=seed, options=options)

    def _step_core(self, depths: np.ndarray) -> None:
        allowed = self.market.allowed_sides()
        depths = self.market.on_grid(depths)
        volume = self.market.step(depths)
        posted = depths if allowed is None else np.where(allowed, depths, np.inf)
        self._posted = posted
        self._last = {"depths": depths[0], "volume": volume[0].copy(),
                      "inside_spread": float(posted[0].min(axis=0).sum()),
                      "rows": (depths[0].tolist(), volume[0].tolist())}

    def state(self) -> np.ndarray:
        """``(mid, inventory of every agent, time_remaining)``, shape ``(n_agents + 2,)``."""
        m = self.market
        return np.concatenate([m.mid, m.ledger.inventory[0], [m.time_remaining]])

    def render(self) -> str | None:
        if not self._render_check():
            return None
        m, led = self.market, self.market.ledger
        lines = [f"t={m.time:.4f} mid={m.mid[0]:.4f}"
                 + (f" inside_spread={self._last['inside_spread']:.4f}" if self._last else "")]
        for i, agent in enumerate(self.possible_agents):
            line = (f"{agent}: q={led.inventory[0, i]:+g} cash={led.cash[0, i]:.4f} "
                    f"pnl={self._pnl[0, i]:.4f}")
            if self._last is not None:
                bid, ask = self._last["depths"][i]
                line += f" bid_depth={bid:.4f} ask_depth={ask:.4f}"
            lines.append(line)
        return "\n".join(lines)

    def _observation_rows(self) -> np.ndarray:
        m = self.market
        n = len(self.possible_agents)
        obs = observations(np.repeat(m.mid, n), m.ledger.inventory[0], m.time_remaining)
        if self.observe_rivals:
            obs = rival_observations(obs, best_rival_depths(self._posted)[0], self.params)
        return obs

    def _last_info(self, i: int) -> dict[str, float]:
        depths, volume = self._last["rows"]
        return {"bid_depth": depths[i][0], "ask_depth": depths[i][1],
                "bid_filled": volume[i][0], "ask_filled": volume[i][1],
                "inside_spread": self._last["inside_spread"]}


raw_env = CompetitionEnv
