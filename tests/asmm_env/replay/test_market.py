"""The replay's rules, checked by hand on small recorded books: joining behind the shown
queue, trades consuming it, partial fills, cancellations under each queue rule, trades
through our price, crossings, unknown queues beyond the shown levels, latency, fees, the
inventory bound, and the ledger's identity."""

import numpy as np
import pandas as pd
import pytest

from asmm_env.data import TradesQuotes
from asmm_env.replay import (
    ConstantLatency,
    EmpiricalLatency,
    ExponentialLatency,
    ReplayMarket,
    ReplayParams,
    ReplayTape,
)

TICK = 0.01


def data(rows, trades=()):
    """A one-level book around 100: rows ``(time, bid_size, ask_size[, bid, ask])`` (size 0:
    an empty side) and trades ``(time, side, price, size)``."""
    q = []
    for r in rows:
        bid, ask = (r[3], r[4]) if len(r) > 3 else (99.99, 100.01)
        q.append((r[0], bid if r[1] else np.nan, r[1], ask if r[2] else np.nan, r[2]))
    quotes = pd.DataFrame(q, columns=["timestamp", "bid_price", "bid_size", "ask_price",
                                      "ask_size"])
    trades = pd.DataFrame(list(trades), columns=["timestamp", "side", "price", "size"])
    return TradesQuotes.from_frames(trades, quotes)


def replay(day, depths=(0.01, 0.01), steps=None, **kwargs):
    """Replay constant depths (bid, ask) from t = 0 with dt = 1; returns the market."""
    params = ReplayParams(**{"T": None, "start": 0.0, "dt": 1.0, "tick_size": TICK,
                             "order_size": 100.0, "max_depth": 1.0, **kwargs})
    market = ReplayMarket(params, 1, data=day)
    market.reset(0)
    for _ in range(market.n_steps if steps is None else steps):
        market.step(np.array([[depths]], dtype=float))
        assert abs(market.ledger.decomposition_residual(market.mid)[0, 0]) < 1e-9
    return market


def test_an_order_joins_behind_the_shown_queue_and_trades_fill_it_partially():
    # Bid at 99.99 behind 300 shares; a sell of 350 takes the 300 and 50 of our 100; a sell
    # of 80 fills our last 50 and the order is replaced at once behind what is left.
    day = data([(0.0, 300, 300), (0.5, 0, 300), (1.5, 0, 300)],
               [(0.5, -1, 99.99, 350), (1.5, -1, 99.99, 80)])
    m = replay(day, steps=1)
    led = m.ledger
    assert led.bid_volume[0, 0] == 50 and led.bid_fills[0, 0] == 1
    assert m.queue_positions()[0, 0] == 0 and m._rem[0, 0].max() == 50
    m.step(np.array([[[0.01, 0.01]]]))
    assert led.bid_volume[0, 0] == 100 and led.bid_fills[0, 0] == 2
    # The replacement joins behind the shares the second trade did not take from us: 30
    # shown (the data show 0 after it: a cancellation of those 30, ahead of us).
    assert m.queue_positions()[0, 0] == 0 and m._rem[0, 0].max() == 100
    # Bought 100 at 99.99 with the mid at 100.00: spread capture 1.
    assert led.spread_capture[0, 0] == pytest.approx(1.0)
    assert led.cash[0, 0] == pytest.approx(-9999.0)


@pytest.mark.parametrize("queue, ahead", [("pro_rata", 300 * 300 / 400), ("worst", 300.0)])
def test_cancellations_of_unknown_position_follow_the_queue_rule(queue, ahead):
    # Behind 300; 100 join behind us (400 shown); 100 leave (300 shown): pro rata moves us
    # up by 100 * 300 / 400, the worst case not at all.
    day = data([(0.0, 300, 300), (0.2, 400, 300), (0.4, 300, 300)])
    m = replay(day, steps=1, queue=queue)
    assert m.queue_positions()[0, 0] == pytest.approx(ahead)


def test_random_cancellations_move_us_a_whole_cancel_or_not_at_all():
    day = data([(0.0, 300, 300), (0.2, 400, 300), (0.4, 300, 300)])
    seen = {replay(day, steps=1, queue="random").queue_positions()[0, 0]} | set()
    for seed in range(1, 40):
        params = ReplayParams(start=0.0, dt=1.0, tick_size=TICK, order_size=100.0,
                              max_depth=1.0, queue="random")
        m = ReplayMarket(params, 1, data=day)
        m.reset(seed)
        m.step(np.array([[[0.01, 0.01]]]))
        seen.add(m.queue_positions()[0, 0])
    assert seen == {200.0, 300.0}


def test_a_trade_through_our_price_fills_the_whole_order_and_the_crossing_other_side_too():
    # Bid 99.98 (depth 0.02) behind nothing shown there; a sell walks to 99.97: filled whole.
    # Ask at 100.01 behind 300; the bid moves up to 100.01: crossed, filled whole.
    day = data([(0.0, 300, 300), (0.3, 100, 300, 99.97, 100.01),
                (0.6, 100, 300, 100.01, 100.02)],
               [(0.3, -1, 99.99, 300), (0.3, -1, 99.98, 50), (0.3, -1, 99.97, 10)])
    m = replay(day, depths=(0.02, 0.01), steps=1)
    assert m.ledger.bid_volume[0, 0] == 100 and m.ledger.ask_volume[0, 0] == 100


def test_beyond_the_shown_levels_the_queue_is_unknown_until_it_shows():
    # One level shown; our bid at 99.98 is deeper: unknown (-1 in observations) until the
    # best falls to 99.98 showing 250, all of them ahead of us (the worst case).
    day = data([(0.0, 300, 300), (0.5, 250, 300, 99.98, 100.00)])
    m = replay(day, depths=(0.02, 0.01), steps=1)
    assert m.queue_positions()[0, 0] == 250
    early = replay(data([(0.0, 300, 300), (1.5, 250, 300, 99.98, 100.00)]),
                   depths=(0.02, 0.01), steps=1)
    assert np.isnan(early.queue_positions()[0, 0])


def test_entry_latency_makes_quotes_stale_and_cancel_latency_lets_old_orders_fill():
    # 100 shown at 99.99. Quotes enter 0.4 after each decision: a sell of 200 at 0.2 finds no
    # order of ours, the next at 0.6 fills it; without latency both fill 100.
    day = data([(0.0, 100, 300), (2.0, 100, 300)],
               [(0.2, -1, 99.99, 200), (0.6, -1, 99.99, 200)])
    assert replay(day, steps=1, entry_latency=0.4).ledger.bid_volume[0, 0] == 100
    assert replay(day, steps=1).ledger.bid_volume[0, 0] == 200
    # Moving the bid away at t = 1 with a cancel latency of 0.5: a sell at 1.3 still fills
    # the old bid (behind 100); with 0.2 it is gone by then.
    day = data([(0.0, 100, 300), (2.0, 100, 300)], [(1.3, -1, 99.99, 200)])
    for latency, bought in ((0.5, 100), (0.2, 0)):
        params = ReplayParams(T=2.0, start=0.0, dt=1.0, tick_size=TICK, order_size=100.0,
                              max_depth=1.0, cancel_latency=latency)
        m = ReplayMarket(params, 1, data=day)
        m.reset(0)
        m.step(np.array([[[0.01, 0.01]]]))
        m.step(np.array([[[0.05, 0.01]]]))
        assert m.ledger.bid_volume[0, 0] == bought


def test_fees_and_the_inventory_bound():
    # Five sells of 100 at 99.99 behind 100 shown: the first takes the 100, the next two fill
    # us 100 each; then q + order_size = 300 > 250 = Q: no more bid.
    trades = [(0.1 + 0.1 * i, -1, 99.99, 100) for i in range(5)]
    day = data([(0.0, 100, 300), (2.0, 100, 300)], trades)
    m = replay(day, steps=1, fee=0.001, max_inventory=250.0)
    assert m.ledger.bid_volume[0, 0] == 200 and m.ledger.bid_fills[0, 0] == 2
    assert m.ledger.fees[0, 0] == pytest.approx(-0.2)
    assert not m.allowed_sides()[0, 0, 0] and m.allowed_sides()[0, 0, 1]


def test_latency_models_draw_within_a_step():
    assert ConstantLatency(0.2).quantile(np.array([0.1, 0.9])).tolist() == [0.2, 0.2]
    assert ExponentialLatency(0.3, 0.1).quantile(np.array([0.0]))[0] == pytest.approx(0.1)
    emp = EmpiricalLatency([0.1, 0.3, 0.2])
    assert emp.quantile(np.array([0.0, 0.5, 1.0])).tolist() == pytest.approx([0.1, 0.2, 0.3])
    day = data([(0.0, 100, 300), (3.0, 100, 300)], [(0.5, -1, 99.99, 200)])
    m = replay(day, entry_latency=ExponentialLatency(5.0), cancel_latency=emp)
    assert m.ledger.bid_volume[0, 0] in (0, 100)
    with pytest.raises(ValueError, match="mean must be > minimum"):
        ExponentialLatency(0.1, 0.2)
    with pytest.raises(ValueError, match="samples must be a non-empty"):
        EmpiricalLatency([-1.0])


def test_the_tape_merges_lobster_executions_before_their_rows():
    import tempfile
    from pathlib import Path

    from asmm_env.data import read_lobster
    from tests.asmm_env.test_data import MESSAGES, ORDERBOOK, _write_pair

    with tempfile.TemporaryDirectory() as tmp:
        day = read_lobster(*_write_pair(Path(tmp), MESSAGES, ORDERBOOK), tick_size=0.01)
    tape = ReplayTape.from_data(day)
    assert tape.tick == 0.01 and tape.levels == 2
    n_exec = int((day.messages["event_type"] == 4).sum())
    assert tape.tr_size.size == n_exec and tape.ev_time.size == day.n_messages + n_exec
    trade_pos = np.flatnonzero(tape.ev_kind == 1)
    assert (tape.ev_kind[trade_pos + 1] == 0).all()             # each execution, then its row
    assert np.all(np.diff(tape.ev_time) >= 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(dt=0.0), "dt must be > 0"),
    (dict(T=1.5, dt=1.0), "T / dt must be a whole number"),
    (dict(queue="fifo"), "queue must be one of"),
    (dict(entry_latency=1.0), "entry_latency must be < dt"),
    (dict(cancel_latency=-0.1), "cancel_latency must be >= 0"),
    (dict(cancel_latency="slow"), "cancel_latency must be a number"),
    (dict(tick_size=-0.01), "tick_size must be >= 0"),
    (dict(max_depth=-1.0), "max_depth must be > 0"),
    (dict(min_depth=2.0, max_depth=1.0), "min_depth must be < max_depth"),
    (dict(max_inventory=1.0, q0=2.0), "q0 must be in"),
    (dict(order_size=0.0), "order_size must be > 0"),
    (dict(start=float("nan")), "start must be a finite number"),
])
def test_bad_parameters_are_rejected_naming_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReplayParams(**kwargs)


def test_bad_data_and_sizes_are_rejected_naming_them():
    day = data([(0.0, 300, 300), (5.0, 300, 300)])
    with pytest.raises(ValueError, match="data must be a LobsterData"):
        ReplayMarket(ReplayParams(), 1, data="file.csv")
    with pytest.raises(ValueError, match=r"data\[1\] must be a LobsterData"):
        ReplayMarket(ReplayParams(), 1, data=[day, 3])
    with pytest.raises(ValueError, match="not on the tick grid"):
        ReplayMarket(ReplayParams(tick_size=0.03), 1, data=day)
    with pytest.raises(ValueError, match="T=10.0 is longer than every dataset"):
        ReplayMarket(ReplayParams(T=10.0), 1, data=day)
    with pytest.raises(ValueError, match="n_agents must be 1"):
        ReplayMarket(ReplayParams(), 1, 2, data=day)
    with pytest.raises(ValueError, match="n_paths must be an integer >= 1"):
        ReplayMarket(ReplayParams(), 0, data=day)
    m = ReplayMarket(ReplayParams(tick_size=TICK), 1, data=day)
    m.reset(0)
    with pytest.raises(ValueError, match=r"depths must have shape \(n_paths, 1, 2\)"):
        m.step(np.zeros(2))
