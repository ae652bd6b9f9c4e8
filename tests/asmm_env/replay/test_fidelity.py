"""Does a replay reproduce the market that produced the data? On the reduced-form market's
trades and quotes, AS and a constant spread make what the model makes; on the order book's
own output (its event stream, recorded while the policy quoted), the replay of the same
policy fills what the simulator filled. Both within 4 standard errors."""

import functools

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.data import simulated_trades_quotes
from asmm_env.lob import BookParams
from asmm_env.lob.recorder import BookRecorder
from asmm_env.replay import ReplayMarket, ReplayParams, ReplayTape
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy, ConstantSpreadPolicy


def _replay(policy, params, tape, n, seed=1):
    core = ReplayMarket(params, 1, data=tape)
    return rollout(policy, core.params, n_paths=n, seed=seed,
                   market_factory=functools.partial(ReplayMarket, data=tape)).paths


@pytest.mark.slow
def test_replay_of_the_reduced_form_market_reproduces_the_model():
    # 300 sessions (30 days of 10 sessions) against 300 model paths, AS 2008's market.
    model = MarketParams()
    days = simulated_trades_quotes(model.replace(T=10.0), n_days=30, seed=11)
    tape = ReplayTape.from_data(days, tick_size=0.0)
    params = ReplayParams(T=1.0, dt=model.dt, tick_size=0.0, max_depth=model.depth_bound)
    for policy in (ConstantSpreadPolicy(0.8, action_map=model),
                   AvellanedaStoikovPolicy(0.1, sigma=2.0, k=1.5, T=1.0, action_map=model)):
        rep = _replay(policy, params, tape, 300)
        sim = rollout(policy, model, n_paths=300, seed=11).paths
        assert rep["max_identity_residual"].max() < 1e-9
        for column in ("terminal_pnl", "fills", "spread_capture"):
            a, b = rep[column], sim[column]
            se = np.sqrt(a.var() / a.size + b.var() / b.size)
            assert abs(a.mean() - b.mean()) < 4 * se, (policy, column, a.mean(), b.mean())


@pytest.mark.slow
@pytest.mark.parametrize("ticks", [0.5, 1.5])
def test_replay_of_the_order_books_output_reproduces_its_fills(ticks):
    # The book with a fixed policy (quote at the best, or one tick behind) on 150 paths of
    # 100 s; its event stream (the policy's own trades included, the book of the others'
    # orders) replayed with the same policy: the shares filled per path agree (paired).
    book = BookParams(s0=100.005, T=100.0)
    policy = ConstantSpreadPolicy(ticks * book.tick_size, action_map=book)
    res = rollout(policy, book, n_paths=150, seed=5, observers=[BookRecorder])
    tape = ReplayTape.from_data(res.observed[0][0], tick_size=book.tick_size)
    params = ReplayParams(T=book.T, start=34_200.0, dt=book.dt, tick_size=book.tick_size,
                          max_depth=book.depth_bound)
    rep = _replay(policy, params, tape, 150)
    sim = res.paths
    for column in ("bid_volume", "ask_volume"):
        diff = rep[column] - sim[column]
        se = diff.std() / np.sqrt(diff.size)
        assert abs(diff.mean()) < 4 * se + 1e-9, (column, rep[column].mean(), sim[column].mean())
    assert sim["bid_volume"].mean() > 0.5
