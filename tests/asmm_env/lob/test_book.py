"""The queue-reactive book: hand-built events (priority rules, price moves), invariants under
random event sequences (hypothesis), the imbalance signal, agreement in law with the
reference kernel, the ledger identities, seeding and errors."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asmm_env.lob.book as book_module
from asmm_env import Ledger
from asmm_env.lob import BookParams, LimitOrderBook, event_code
from asmm_env.lob.book import NO_ORDER

BID, ASK = 0, 1
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "bench"


def _book(n_levels=3, n_agents=1, n_paths=1, seed=0, others=None, engine="auto", **kwargs):
    """A reset book; ``others`` (n_paths, 2, n_levels) overwrites the drawn queues (tests
    only: set before any agent's order rests)."""
    book = LimitOrderBook(BookParams(n_levels=n_levels, **kwargs), n_paths, n_agents,
                          engine=engine)
    book.reset(np.random.default_rng(seed))
    if others is not None:
        book._s.Q[...] = np.asarray(others, dtype=float).reshape(n_paths, 2, n_levels
                                                                  ).transpose(1, 2, 0)
    return book


def _quote(book, offsets):
    book.set_quotes(np.asarray(offsets).reshape(book.n_paths, book.n_agents, 2))


def _event(book, kind, side, level=0, u=0.0):
    code = event_code(kind, side, level, book.n_levels)
    return book.apply_events(np.full(book.n_paths, code), np.full(book.n_paths, u))


# --- the priority rules, event by event ---------------------------------------------------

def test_an_order_joins_the_back_and_a_limit_order_behind_it_changes_nothing():
    book = _book(others=[[[4, 2, 3], [5, 1, 1]]])
    _quote(book, [[0, 1]])
    assert book.queue_positions()[0, 0].tolist() == [4.0, 1.0]
    assert book.queue_sizes()[0].tolist() == [[5, 2, 3], [5, 2, 1]]
    _event(book, "limit", BID, 0)
    assert book.queue_positions()[0, 0, BID] == 4.0
    assert book.queue_sizes()[0, BID, 0] == 6


@pytest.mark.parametrize("u, moves_up", [(0.0, True), (0.45, True), (0.55, False), (0.99, False)])
def test_a_cancellation_moves_us_up_with_probability_others_ahead_over_others(u, moves_up):
    book = _book(others=[[[2, 2, 2], [2, 2, 2]]])
    _quote(book, [[0, 0]])
    _event(book, "limit", BID, 0)              # others: 2 ahead of us, 1 behind -> then 4
    _event(book, "limit", BID, 0)
    assert book.others()[0, BID, 0] == 4 and book.queue_positions()[0, 0, BID] == 2
    _event(book, "cancel", BID, 0, u=u)        # the floor(4u)-th other order leaves
    assert book.queue_positions()[0, 0, BID] == (1.0 if moves_up else 2.0)
    assert book.others()[0, BID, 0] == 3


def test_a_market_order_takes_the_front_and_fills_us_only_when_nothing_is_ahead():
    book = _book(others=[[[2, 3, 3], [3, 3, 3]]])
    _quote(book, [[0, 0]])
    for expected_ahead in (1.0, 0.0):
        filled, move = _event(book, "market", BID)
        assert not filled.any() and move[0] == 0
        assert book.queue_positions()[0, 0, BID] == expected_ahead
    assert book.others()[0, BID, 0] == 0       # only our order is left at the best bid
    filled, move = _event(book, "market", BID)
    assert filled[0, 0].tolist() == [True, False]
    assert move[0] == -1                        # the best bid emptied: the price fell a tick
    assert book.step_fills()[0, 0].tolist() == [1.0, 0.0]


def test_a_filled_order_rejoins_at_the_back_of_the_same_queue():
    book = _book(others=[[[1, 3, 3], [3, 3, 3]]])
    _quote(book, [[0, 0]])
    _event(book, "market", BID)                # takes the other order ahead of us
    _event(book, "limit", BID, 0)
    _event(book, "limit", BID, 0)              # two orders behind us
    counts = book.order_counts()[0, 0, BID]
    filled, move = _event(book, "market", BID)
    assert filled[0, 0, BID] and move[0] == 0
    assert book.queue_positions()[0, 0, BID] == 2.0     # behind the two
    assert book.order_counts()[0, 0, BID] == counts + 1


def test_keep_leaves_the_order_at_any_level_and_does_not_replace_it_after_a_fill():
    book = _book(others=[[[1, 3, 3], [3, 3, 3]]])
    _quote(book, [[0, 1]])
    _event(book, "limit", BID, 0)                       # one order behind our bid
    _quote(book, [[book_module.KEEP, book_module.KEEP]])  # both stay: the ask at level 1
    assert book.order_levels()[0, 0].tolist() == [0, 1]
    assert book.queue_positions()[0, 0].tolist() == [1.0, 3.0]
    counts = book.order_counts()[0, 0].copy()
    _event(book, "market", BID)                         # takes the order ahead of ours
    filled, move = _event(book, "market", BID)          # fills ours: no new order joins
    assert filled[0, 0, BID] and move[0] == 0
    assert book.order_levels()[0, 0].tolist() == [-1, 1]
    assert book.order_counts()[0, 0].tolist() == counts.tolist()
    assert book.queue_sizes()[0, BID, 0] == 1           # only the order that was behind
    _quote(book, [[book_module.KEEP, book_module.KEEP]])  # KEEP without an order: none
    assert book.order_levels()[0, 0].tolist() == [-1, 1]


def test_a_one_shot_order_filled_in_the_step_it_was_placed_is_not_replaced():
    """one_shot(j) quotes like the offset j, but a fill (or an exit from the window) during
    the same step does not re-place it; the plain offset 0 re-joins at once."""
    for offset, rejoins in ((0, True), (int(book_module.one_shot(0)), False)):
        book = _book(others=[[[1, 3, 3], [3, 3, 3]]])
        _quote(book, [[offset, -1]])
        assert book.order_levels()[0, 0].tolist() == [0, -1]
        assert book.queue_positions()[0, 0, BID] == 1.0
        _event(book, "market", BID)                      # takes the order ahead of ours
        filled, _ = _event(book, "market", BID)          # fills ours
        assert filled[0, 0, BID]
        assert bool(book.order_levels()[0, 0, BID] == 0) == rejoins
    # Two levels behind, pushed out of the window by an up move: not replaced either.
    book = _book(others=[[[1, 3, 3], [1, 3, 3]]])
    _quote(book, [[int(book_module.one_shot(2)), -1]])
    assert book.order_levels()[0, 0, BID] == 2
    _event(book, "market", ASK)                          # the best ask empties: up a tick
    assert book.order_levels()[0, 0, BID] == -1 and book.queue_sizes()[0, BID].min() >= 1
    np.testing.assert_array_equal(book_module.one_shot(np.array([0, 2])), [-3, -5])
    with pytest.raises(ValueError, match="level"):
        book_module.one_shot(-1)


def test_when_the_best_bid_empties_levels_shift_and_orders_keep_their_price_and_place():
    # others: bid levels 1, 4, 6; ask levels 2, 5, 7. Our bid one tick behind the best, our
    # ask two ticks behind.
    book = _book(others=[[[1, 4, 6], [2, 5, 7]]])
    _quote(book, [[1, 2]])
    assert book.queue_positions()[0, 0].tolist() == [4.0, 7.0]
    refilled0, dropped0 = book.moved_volume()
    filled, move = _event(book, "market", BID)  # takes the last order at the best bid
    assert move[0] == -1 and not filled.any()
    assert book.mid[0] == pytest.approx(100.0 - 0.01)
    others = book.others()[0]
    assert others[BID, :2].tolist() == [4, 6]       # bid levels moved up one
    assert others[ASK, 1:].tolist() == [2, 5]       # ask levels moved back one
    refilled, dropped = book.moved_volume()
    assert refilled[0] - refilled0[0] == others[BID, 2] + others[ASK, 0]
    assert dropped[0] - dropped0[0] == 7            # the old far ask level left the window
    # Our bid is now at the best with its place; our ask was pushed out and re-joined two
    # ticks behind the new best ask, at the back.
    assert book.order_levels()[0, 0].tolist() == [0, 2]
    assert book.queue_positions()[0, 0, BID] == 4.0
    assert book.queue_positions()[0, 0, ASK] == others[ASK, 2]


def test_an_empty_level_that_becomes_the_best_is_refilled():
    book = _book(others=[[[1, 0, 3], [3, 3, 3]]])
    _quote(book, [[-1, -1]])
    _event(book, "cancel", BID, 0)              # the best bid empties; level 1 is empty too
    assert book.mid_ticks[0] == -1
    assert book.others()[0, BID, 0] >= 1 and book.others()[0, BID, 1] == 3


def test_agents_share_queues_with_time_priority_and_a_cancel_moves_those_behind_up():
    book = _book(n_agents=3, others=[[[2, 2, 2], [2, 2, 2]]])
    _quote(book, [[0, 0], [-1, -1], [-1, -1]])
    _quote(book, [[0, 0], [0, -1], [-1, -1]])
    _quote(book, [[0, 0], [0, -1], [0, -1]])
    assert book.queue_positions()[0, :, BID].tolist() == [2.0, 3.0, 4.0]
    _quote(book, [[0, 0], [-1, -1], [0, -1]])    # agent 1 cancels: agent 2 moves up
    assert book.queue_positions()[0, [0, 2], BID].tolist() == [2.0, 3.0]
    # A cancellation by others: two others ahead of agent 2 plus agent 0's order.
    _event(book, "cancel", BID, 0, u=0.99)      # the second of two others: ahead of both
    assert book.queue_positions()[0, [0, 2], BID].tolist() == [1.0, 2.0]
    _event(book, "market", BID)
    _event(book, "market", BID)                 # agent 0 is at the front and is filled
    assert book.step_fills()[0, :, BID].tolist() == [1.0, 0.0, 0.0]
    assert book.queue_positions()[0, 2, BID] == 0.0
    assert book.queue_positions()[0, 0, BID] == 1.0     # re-joined behind agent 2


def test_requoting_at_the_same_level_keeps_the_place_and_elsewhere_rejoins_at_the_back():
    book = _book(others=[[[5, 3, 3], [5, 3, 3]]])
    _quote(book, [[0, 0]])
    _event(book, "limit", BID, 0)
    _quote(book, [[0, 1]])
    assert book.queue_positions()[0, 0].tolist() == [5.0, 3.0]
    _quote(book, [[1, 1]])
    assert book.queue_positions()[0, 0, BID] == 3.0 and book.order_levels()[0, 0, BID] == 1


def test_cancelling_our_last_orders_on_both_bests_moves_the_price_once_and_loses_no_order():
    # Both best queues hold only our orders; cancelling both at once empties both bests.
    # The old book ran two price moves on the path and lost the fresh best ask uncounted.
    for seed in range(20):
        book = LimitOrderBook(BookParams(n_levels=2, cancel_rate=1.0, refill=3.0), 1, 1)
        book.reset(seed=seed)
        book.set_quotes(np.zeros((1, 1, 2), dtype=int))
        bid, ask = event_code("cancel", BID, 0, 2), event_code("cancel", ASK, 0, 2)
        for side, code in ((0, bid), (1, ask)):
            while book.others()[0, side, 0] > 0:
                book.apply_events(np.array([code]), np.array([0.999]))
        assert book.best_queues() == (1.0, 1.0)          # ours only
        before = _snapshot(book)
        book.set_quotes(np.full((1, 1, 2), NO_ORDER))
        after = _snapshot(book)
        assert abs(after["ticks"][0] - before["ticks"][0]) == 1
        expected = (before["others"].sum() + (after["moved"][0] - before["moved"][0])
                    - (after["moved"][1] - before["moved"][1]))
        assert after["others"].sum() == expected
        _check_state(book, after)


def test_imbalance_and_micro_price_are_computed_from_the_best_queues():
    book = _book(others=[[[3, 1, 1], [1, 1, 1]]])
    _quote(book, [[0, -1]])                     # our bid makes the best bid queue 4
    assert book.imbalance()[0] == pytest.approx((4 - 1) / 5)
    bid, ask = book.best_bid[0], book.best_ask[0]
    assert (bid, ask) == pytest.approx((99.995, 100.005))
    assert book.micro_price()[0] == pytest.approx(bid * 1 / 5 + ask * 4 / 5)


# --- invariants under random event sequences ---------------------------------------------

def _snapshot(book):
    return dict(others=book.others(), sizes=book.queue_sizes(), pos=book.queue_positions(),
                lvl=book.order_levels(), ids=book.order_counts(), ticks=book.mid_ticks,
                moved=book.moved_volume(), fills=book.step_fills())


def _check_state(book, snap):
    """Invariants of one state: best queues never empty, a one-tick spread (never crossed),
    orders inside the window and inside their queues at distinct places."""
    K, A = book.n_levels, book.n_agents
    sizes, lvl, pos = snap["sizes"], snap["lvl"], snap["pos"]
    assert (snap["others"] >= 0).all()
    assert (sizes[:, :, 0] >= 1).all()
    assert np.allclose(book.best_ask - book.best_bid, book.params.tick_size)
    assert ((lvl >= -1) & (lvl < K)).all()
    active = lvl >= 0
    assert (pos[active] >= 0).all() and np.isnan(pos[~active]).all()
    counts = np.zeros_like(sizes)
    for i, a, s in zip(*np.nonzero(active), strict=True):
        j = lvl[i, a, s]
        counts[i, s, j] += 1
        assert pos[i, a, s] < sizes[i, s, j]
        same = [pos[i, b, s] for b in range(A) if lvl[i, b, s] == j]
        assert len(set(same)) == len(same)
    assert np.array_equal(sizes, snap["others"] + counts)


def _order_prices(snap):
    """Price of each order in ticks from the start (bid: mid - 1/2 - level)."""
    side = np.array([-1.0, 1.0])
    return snap["ticks"][:, None, None] + side * (0.5 + snap["lvl"])


def _check_event(book, before, after, events, filled, move):
    K = book.n_levels
    n_codes = 4 * K + 2
    kind = np.where(events < 2 * K, 1, np.where(events < 4 * K, -1, 0))    # limit / cancel
    market_side = np.where((events >= 4 * K) & (events < n_codes), events - 4 * K, -1)
    # fills: only by a market order on the order's side, at the best, with nothing ahead
    for i, a, s in zip(*np.nonzero(filled), strict=True):
        assert market_side[i] == s
        assert before["lvl"][i, a, s] == 0 and before["pos"][i, a, s] == 0
    at_front = (before["lvl"] == 0) & (before["pos"] == 0)
    for i in range(book.n_paths):
        s = market_side[i]
        if s >= 0:
            assert filled[i, :, s].tolist() == at_front[i, :, s].tolist()
    assert np.array_equal(after["fills"] - before["fills"], filled.astype(float))
    # volume: others change by the event (a market order takes another's order unless it
    # filled ours), plus what price moves drew and dropped
    took_other = (market_side >= 0) & ~filled.any(axis=(1, 2))
    expected = (before["others"].sum(axis=(1, 2)) + kind - took_other
                + (after["moved"][0] - before["moved"][0])
                - (after["moved"][1] - before["moved"][1]))
    assert np.array_equal(after["others"].sum(axis=(1, 2)), expected)
    # the mid moves at most a tick, and only when a best queue emptied
    assert (np.abs(move) <= 1).all()
    assert np.array_equal(after["ticks"] - before["ticks"], move)
    # a resting order keeps its price and moves up at most one place, never back
    same = ((after["ids"] == before["ids"]) & (before["lvl"] >= 0) & (after["lvl"] >= 0))
    assert np.array_equal(_order_prices(after)[same], _order_prices(before)[same])
    step = before["pos"][same] - after["pos"][same]
    assert ((step == 0) | (step == 1)).all()


def _check_quotes(book, before, after, offsets):
    """After ``set_quotes``: kept orders keep their price and do not move back; every order
    rests at its offset (unless an agent's cancel emptied a best queue and moved the price:
    then kept orders keep their price); new orders sit at the back of their level; other
    traders' orders are conserved (agents' cancels change none; a price move draws and
    drops what ``moved_volume`` counts)."""
    expected = (before["others"].sum(axis=(1, 2))
                + (after["moved"][0] - before["moved"][0])
                - (after["moved"][1] - before["moved"][1]))
    assert np.array_equal(after["others"].sum(axis=(1, 2)), expected)
    same = (after["ids"] == before["ids"]) & (before["lvl"] >= 0) & (after["lvl"] >= 0)
    assert (after["pos"][same] <= before["pos"][same]).all()
    assert np.array_equal(_order_prices(after)[same], _order_prices(before)[same])
    move = after["ticks"] - before["ticks"]
    assert (np.abs(move) <= 1).all()
    still = move == 0
    assert np.array_equal(after["lvl"][still], offsets[still])
    new = (after["ids"] != before["ids"])
    assert np.array_equal(after["lvl"][new], offsets[new])
    for i, s, j in {(i, s, after["lvl"][i, a, s]) for i, a, s in zip(*np.nonzero(new),
                                                                      strict=True)}:
        placed = new[i, :, s] & (after["lvl"][i, :, s] == j)
        size = int(after["sizes"][i, s, j])
        assert sorted(after["pos"][i, placed, s]) == list(range(size - placed.sum(), size))


@st.composite
def _scenarios(draw):
    """Book parameters, 1-3 agents, 3 paths, and 20-80 steps: one in four re-quotes at
    random offsets, the others apply one feasible event per path (a market order for a
    quarter of the draws, so that fills and price moves are frequent)."""
    K = draw(st.integers(1, 4))
    A = draw(st.integers(1, 3))
    params = dict(n_levels=K, limit_rate=draw(st.sampled_from([0.2, 1.0, 3.0])),
                  cancel_rate=draw(st.sampled_from([0.0, 0.3, 2.0])),
                  market_rate=draw(st.sampled_from([0.0, 0.6, 3.0])),
                  market_boost=draw(st.sampled_from([0.0, 2.0])),
                  small_queue=draw(st.integers(0, 3)),
                  refill=draw(st.sampled_from([0.0, 1.0, 5.0])))
    n = 3
    step = st.tuples(st.integers(0, 3),
                     st.lists(st.integers(0, 10**6), min_size=n * A * 2, max_size=n * A * 2),
                     st.lists(st.floats(0, 1, exclude_max=True), min_size=n, max_size=n))
    steps = draw(st.lists(step, min_size=20, max_size=80))
    return params, A, n, draw(st.integers(0, 2**32 - 1)), steps


def _events(book, choices):
    """One feasible event code per path (or none) from the drawn integers."""
    rates = book.event_rates()
    events = np.empty(book.n_paths, dtype=np.int64)
    for i in range(book.n_paths):
        market = 4 * book.n_levels + choices[i] // 4 % 2
        feasible = np.append(np.flatnonzero(rates[i] > 0), book.no_event)
        if choices[i] % 4 == 0 and rates[i, market] > 0:
            events[i] = market
        else:
            events[i] = feasible[choices[i] // 8 % feasible.size]
    return events


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenarios())
def test_invariants_hold_event_by_event_under_random_event_sequences(scenario):
    params, A, n, seed, steps = scenario
    book = LimitOrderBook(BookParams(**params), n, A)
    book.reset(seed)
    before = _snapshot(book)
    _check_state(book, before)
    for kind, ints, u in steps:
        if kind == 0:
            offsets = np.array(ints).reshape(n, A, 2) % (book.n_levels + 1) - 1
            book.set_quotes(offsets)
            after = _snapshot(book)
            _check_quotes(book, before, after, offsets)
        else:
            events = _events(book, ints)
            filled, move = book.apply_events(events, np.array(u))
            after = _snapshot(book)
            _check_event(book, before, after, events, filled, move)
        _check_state(book, after)
        before = after


@pytest.mark.parametrize("params", [
    dict(n_levels=3, cancel_rate=1.0, refill=1.0, small_queue=2),
    dict(n_levels=1, market_rate=2.0, refill=0.0, market_boost=0.0),
    dict(n_levels=4, limit_rate=0.3, cancel_rate=0.5, refill=2.0),
])
def test_invariants_hold_over_long_random_sequences_with_three_agents(params):
    """8 paths, 600 steps (one in five a re-quote), events chosen as in the hypothesis test
    from a seeded generator: long enough for many fills and price moves."""
    n, A = 8, 3
    book = LimitOrderBook(BookParams(**params), n, A)
    book.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    before = _snapshot(book)
    for _ in range(600):
        if rng.random() < 0.2:
            offsets = rng.integers(-1, book.n_levels, size=(n, A, 2))
            book.set_quotes(offsets)
            after = _snapshot(book)
            _check_quotes(book, before, after, offsets)
        else:
            events = _events(book, rng.integers(0, 10**6, size=n))
            filled, move = book.apply_events(events, rng.random(n))
            after = _snapshot(book)
            _check_event(book, before, after, events, filled, move)
        _check_state(book, after)
        before = after
    assert book.step_fills().sum() > 20 and np.abs(book.mid_ticks).sum() > 0


def test_invariants_hold_after_time_steps_with_working_set_compaction():
    n = 600     # above the compaction threshold
    book = _book(n_levels=3, n_agents=2, n_paths=n, seed=3, T=20.0, refill=1.0)
    rng = np.random.default_rng(4)
    while not book.done:
        book.step(rng.integers(-1, 3, size=(n, 2, 2)))
        assert np.all(book.clock == book.time)
        _check_state(book, _snapshot(book))


def test_working_set_compaction_does_not_change_the_law(monkeypatch):
    """4,000 paths, T = 20 (~1M events): mean fills and mean squared mid move agree (4 s.e.)
    with compaction off (threshold above the path count). The numpy engine's working sets."""
    def run():
        book = _book(n_paths=4000, seed=11, T=20.0, dt=5.0, engine="numpy")
        fills = np.zeros(4000)
        while not book.done:
            fills += book.step(np.zeros((4000, 1, 2), dtype=int)).sum(axis=(1, 2))
        return fills, book.mid_ticks ** 2

    compacted = run()
    monkeypatch.setattr(book_module, "_MIN_COMPACT", 10**9)
    plain = run()
    for a, b in zip(compacted, plain, strict=True):
        se = np.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) < 4 * se


# --- the law of the book ------------------------------------------------------------------

@pytest.mark.slow
def test_order_book_imbalance_predicts_the_next_mid_move():
    """8,000 books without agents, 300 events of burn-in, then run to each path's next mid
    move: the sign of the move on the imbalance before it, t-stat > 4, and P(up | I > 0.5)
    above P(up | I < -0.5) by more than 4 s.e."""
    n = 8000
    book = _book(n_paths=n, seed=5)
    book.simulate_events(300)
    imbalance, start = book.imbalance(), book.mid_ticks
    move = np.zeros(n)
    for _ in range(3000):
        book.simulate_events(1)
        new = (move == 0) & (book.mid_ticks != start)
        move[new] = book.mid_ticks[new] - start[new]
        if (move != 0).mean() > 0.995:
            break
    seen = move != 0
    x, y = imbalance[seen], move[seen]
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    se = np.sqrt(resid.var() / ((x - x.mean()) ** 2).sum())
    assert slope / se > 4
    up_hi, up_lo = (y[x > 0.5] > 0), (y[x < -0.5] > 0)
    diff = up_hi.mean() - up_lo.mean()
    se_diff = np.sqrt(up_hi.var() / up_hi.size + up_lo.var() / up_lo.size)
    assert diff > 4 * se_diff and diff > 0.2


def test_with_one_level_the_book_is_the_reference_kernel_in_law():
    """One level, one unit order per side, the reference setting: fills, clock and mid
    variance after 1,000 events agree with the reference kernel within 4 s.e. (3,000 paths)."""
    reference = _import_reference()
    n, events = 3000, 1000
    book = _book(n_levels=1, n_paths=n, seed=1, market_boost=0.0)
    _quote(book, np.zeros((n, 1, 2), dtype=int))
    book.simulate_events(events)
    ours = dict(fills=book.step_fills().sum(axis=(1, 2)), clock=book.clock,
                ticks2=book.mid_ticks ** 2)
    out = reference.simulate(n, events, seed=2)
    ref = dict(fills=out["fills"], clock=out["clock"], ticks2=out["ticks"] ** 2)
    for key in ours:
        se = np.sqrt(ours[key].var() / n + ref[key].var() / n)
        assert abs(ours[key].mean() - ref[key].mean()) < 4 * se, key


def _import_reference():
    if not (REFERENCE / "reference_lob_kernel.py").exists():
        pytest.skip("shared/bench/reference_lob_kernel.py is not next to the repository")
    sys.path.insert(0, str(REFERENCE))
    import reference_lob_kernel
    return reference_lob_kernel


# --- accounting ---------------------------------------------------------------------------

def test_ledger_books_a_fill_at_a_mid_that_moved_within_the_step():
    led = Ledger(1, 1, horizon=1)
    mid0, mid1 = np.array([100.0]), np.array([102.0])
    led.reset(0.0, mid0)
    # bought one share at 101 - 0.5 after the mid had moved from 100 to 101
    led.record_fills(mid0, np.full((1, 1, 2), 0.5), np.array([[[1.0, 0.0]]]),
                     fill_mid=np.array([[[101.0, 100.0]]]))
    led.record_move(mid0, mid1)
    assert led.cash[0, 0] == pytest.approx(-100.5)
    assert led.spread_capture[0, 0] == pytest.approx(0.5)
    assert led.inventory_pnl[0, 0] == pytest.approx(1.0)      # held from 101 to 102 only
    assert led.adverse_selection[0, 0] == pytest.approx(1.0)
    assert led.decomposition_residual(mid1)[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_ledger_identity_and_fill_prices_hold_for_every_agent_on_every_step(monkeypatch):
    """3 agents, 50 paths, random offsets every step, a fee: pnl = spread capture +
    inventory PnL + fees every step; cash equals the sum over fills of the fill price (best
    bid or ask at the fill, recorded independently) and each fill earns half a tick."""
    n, A = 50, 3
    book = _book(n_agents=A, n_paths=n, seed=8, T=40.0, fee=0.001, q0=2.0, engine="numpy")
    p = book.params
    cash = np.zeros((n, A))
    original = book._fill

    def recording_fill(s, filled):   # the full state: no working set below 256 paths
        side, agent, path = np.unravel_index(filled, (2, A, n))
        mid = p.s0 + p.tick_size * s.shift[path]
        price = np.where(side == BID, mid - p.tick_size / 2, mid + p.tick_size / 2)
        np.add.at(cash, (path, agent), np.where(side == BID, -price, price) * p.order_size)
        return original(s, filled)

    monkeypatch.setattr(book, "_fill", recording_fill)
    rng = np.random.default_rng(9)
    fills = np.zeros((n, A, 2))
    while not book.done:
        volume = book.step(rng.integers(0, 3, size=(n, A, 2)))
        fills += volume
        led = book.ledger
        assert np.abs(led.decomposition_residual(book.mid)).max() < 1e-9
        assert np.allclose(led.inventory, 2.0 + fills[..., 0] - fills[..., 1])
        assert np.allclose(led.spread_capture, p.tick_size / 2 * fills.sum(axis=-1))
        assert np.allclose(led.cash, cash - p.fee * fills.sum(axis=-1))
    assert fills.sum() > 100


# --- seeding and errors -------------------------------------------------------------------

def _trajectory(seed, n=20):
    book = _book(n_agents=2, n_paths=n, seed=seed, T=10.0)
    rng = np.random.default_rng(0)
    out = []
    while not book.done:
        book.step(rng.integers(0, 3, size=(n, 2, 2)))
        out += [book.mid, book.queue_sizes(), book.queue_positions(), book.pnl()]
    return out


def test_same_seed_gives_the_same_bytes_and_another_seed_differs():
    first, second, other = _trajectory(1), _trajectory(1), _trajectory(2)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=True))
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first, other, strict=True))


def test_numpys_global_generator_plays_no_part():
    np.random.seed(1)             # noqa: NPY002  (numpy's global RNG must play no part)
    first = _trajectory(3)
    np.random.seed(2)             # noqa: NPY002
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, _trajectory(3), strict=True))


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("field, value", [
    *[(name, value) for name in ("s0", "tick_size", "limit_rate", "order_size", "T", "dt")
      for value in (-1.0, 0.0, NAN, INF, "1")],
    *[(name, value) for name in ("cancel_rate", "market_rate", "market_boost", "refill")
      for value in (-0.1, NAN, INF)],
    *[(name, value) for name in ("q0", "fee") for value in (NAN, INF, None)],
    ("n_levels", 0), ("n_levels", 2.0), ("n_levels", 31), ("small_queue", -1),
    ("small_queue", 1.5), ("adverse_selection_steps", 0), ("dt", 0.7),
])
def test_bad_book_params_raise_an_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field if field != "dt" or value != 0.7 else "T / dt"):
        BookParams(**{field: value})


def test_unknown_book_parameter_is_named():
    with pytest.raises(TypeError, match="sigma"):
        BookParams.from_kwargs(sigma=1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_paths=0), "n_paths"), (dict(n_agents=0), "n_agents"), (dict(n_paths=2.0), "n_paths"),
])
def test_bad_batch_shape_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LimitOrderBook(BookParams(), **kwargs)


def test_an_unknown_engine_is_named():
    with pytest.raises(ValueError, match="engine must be one of"):
        LimitOrderBook(BookParams(), engine="fast")


def test_engine_numba_without_numba_names_the_extra(monkeypatch):
    from asmm_env.lob import _kernel

    monkeypatch.setattr(_kernel, "numba", None)
    with pytest.raises(ImportError, match=r"engine='numba' needs numba.*asmm_env\[fast\]"):
        LimitOrderBook(BookParams(), engine="numba")
    assert not LimitOrderBook(BookParams()).compiled     # auto: numpy, silently


def test_params_must_be_book_params():
    with pytest.raises(TypeError, match="BookParams"):
        LimitOrderBook(object())


@pytest.mark.parametrize("offsets, match", [
    (np.zeros((2, 1, 2), dtype=int), "shape"),
    (np.zeros((1, 2), dtype=int), "shape"),
    (np.full((1, 1, 2), 3), r"\[0, 2\]"),
    (np.full((1, 1, 2), -6), r"\[0, 2\]"),      # below one_shot(2) = -5
    (np.full((1, 1, 2), 0.5), "whole numbers"),
    (np.full((1, 1, 2), np.nan), "whole numbers"),
    (np.array([[["a", "b"]]]), "whole numbers"),
])
def test_malformed_offsets_raise_naming_offsets(offsets, match):
    book = _book()
    with pytest.raises(ValueError, match="offsets") as info:
        book.set_quotes(offsets)
    assert info.match(match)


def test_events_with_zero_rate_or_bad_codes_raise():
    book = _book(others=[[[1, 2, 2], [1, 2, 2]]], n_levels=3)
    _quote(book, [[0, -1]])
    _event(book, "market", BID)               # the best bid now holds only our order
    with pytest.raises(ValueError, match="positive rate"):
        _event(book, "cancel", BID, 0)
    with pytest.raises(ValueError, match="events"):
        book.apply_events(np.array([99]), np.array([0.5]))
    with pytest.raises(ValueError, match="u must"):
        book.apply_events(np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="kind"):
        event_code("iceberg", BID, 0, 3)


def test_step_after_the_end_raises():
    book = _book(T=2.0)
    book.step(np.zeros((1, 1, 2), dtype=int))
    book.step(np.zeros((1, 1, 2), dtype=int))
    with pytest.raises(RuntimeError, match="reset"):
        book.step(np.zeros((1, 1, 2), dtype=int))
