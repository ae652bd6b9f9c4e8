"""The order book's event recorder: LOBSTER frames that match the book, both formats written
and read back, the book's rates recovered from its own output (the synthetic round trip),
and recording that changes nothing when it is off."""

import numpy as np
import pytest
from scipy import stats

from asmm_env.calibration import fit_book_rates
from asmm_env.data import read_lobster, read_trades_quotes
from asmm_env.lob import BookParams, LimitOrderBook
from asmm_env.lob.recorder import BookRecorder
from asmm_env.rollout import rollout

PARAMS = BookParams(s0=100.005, T=60.0, order_size=100)
TRUE = {"limit_rate": 1.0, "cancel_rate": 0.2, "market_rate": 0.6, "market_boost": 1.0,
        "refill": 5.0}


class NoQuotes:
    def offsets(self, obs):
        return -np.ones((obs.shape[0], 2), dtype=int)


def _record(params=PARAMS, n_paths=2, seed=0, paths=None):
    book = LimitOrderBook(params, n_paths=n_paths)
    recorder = BookRecorder(paths).attach(book)
    book.reset(seed=seed)
    while not book.done:
        book.step(np.full((n_paths, 1, 2), -1))
    return book, recorder


def test_frames_hold_one_message_per_event_and_the_book_after_it():
    book, recorder = _record()
    days = recorder.lobster()
    assert len(days) == 2
    K, tick = PARAMS.n_levels, PARAMS.tick_size
    for path, day in enumerate(days):
        m, b = day.messages, day.book
        assert set(m["event_type"]) <= {1, 3, 4} and (m["size"] == 100).all()
        assert m["time"].is_monotonic_increasing and m["time"].iloc[-1] <= 34_200 + 60
        assert (m["order_id"] == np.arange(1, len(m) + 1)).all()
        # The last row is the book at the end: other traders' orders per tick level, in
        # shares, empty levels left out.
        others = book.others()[path] * 100                        # (2, K)
        best_bid = book.best_bid[path]
        for s, name, sign in ((0, "bid", -1), (1, "ask", 1)):
            best = best_bid if s == 0 else book.best_ask[path]
            shown = [(best + sign * j * tick, q) for j, q in enumerate(others[s]) if q > 0]
            for level in range(1, K + 1):
                price = b[f"{name}_price_{level}"].iloc[-1]
                size = b[f"{name}_size_{level}"].iloc[-1]
                if level <= len(shown):
                    assert price == pytest.approx(shown[level - 1][0])
                    assert size == shown[level - 1][1]
                else:
                    assert np.isnan(price) and size == 0
        # An execution takes one order from the best of the resting side.
        top = day.top_of_book()
        ex = np.flatnonzero(m["event_type"].to_numpy() == 4)[1:]
        bid_hit = m["direction"].to_numpy()[ex] == 1
        before = np.where(bid_hit, top["best_bid"].to_numpy()[ex - 1],
                          top["best_ask"].to_numpy()[ex - 1])
        assert np.allclose(m["price"].to_numpy()[ex], before)


def test_both_formats_are_written_by_the_phase_one_writers_and_read_back(tmp_path):
    _, recorder = _record(n_paths=3, paths=[0, 2])
    written = recorder.write(tmp_path, ticker="SIM", date="2024-03-04")
    assert len(written) == 2
    assert written[1]["message"].name == "SIM_2024-03-05_34200000_34260000_message_3.csv"
    for day, files in zip(recorder.lobster(), written, strict=True):
        back = read_lobster(files["message"], files["orderbook"], tick_size=0.01)
        assert np.allclose(back.messages["price"], day.messages["price"])
        assert np.allclose(back.book.fillna(0), day.book.fillna(0))
        tq = read_trades_quotes(files["trades"], files["quotes"])
        ex = day.messages["event_type"] == 4
        assert len(tq.trades) == ex.sum() and len(tq.quotes) == day.n_messages
        assert (tq.trades["side"].to_numpy() == -day.messages["direction"][ex]).all()


def test_recording_changes_nothing_and_costs_one_attribute_test_when_off():
    with_rec, _ = _record(seed=5)
    without = LimitOrderBook(PARAMS, n_paths=2)
    assert without.recorder is None
    without.reset(seed=5)
    while not without.done:
        without.step(np.full((2, 1, 2), -1))
    assert (with_rec.others() == without.others()).all()
    assert (with_rec.mid == without.mid).all() and (with_rec.clock == without.clock).all()


def test_rollout_observer_records_each_chunk():
    res = rollout(NoQuotes(), PARAMS.replace(T=20.0), n_paths=3, seed=1,
                  observers=[BookRecorder])
    (days,) = res.observed[0]
    assert len(days) == 3 and all(d.n_messages > 100 for d in days)


def test_round_trip_recovers_the_book_rates_within_their_intervals():
    # A day of 10 minutes: every true rate inside its 95% interval.
    _, recorder = _record(PARAMS.replace(T=600.0), n_paths=1, seed=11)
    for day in recorder.lobster():
        fit = fit_book_rates(day, tick_size=0.01, order_size=100)
        assert fit.n_unplaced == 0
        for name, value in TRUE.items():
            assert getattr(fit, name).covers(value), (name, getattr(fit, name))


@pytest.mark.slow
def test_book_rate_intervals_from_the_simulator_cover_in_95_percent_of_days():
    # 200 days of 150 s in one batch (independent paths), each fitted alone.
    n = 200
    lo, hi = stats.binom.ppf(0.0005, n, 0.95), stats.binom.isf(0.0005, n, 0.95)
    _, recorder = _record(PARAMS.replace(T=150.0), n_paths=n, seed=21)
    hits = dict.fromkeys(TRUE, 0)
    for day in recorder.lobster():
        fit = fit_book_rates(day, tick_size=0.01, order_size=100)
        for name, value in TRUE.items():
            hits[name] += getattr(fit, name).covers(value)
    for name, count in hits.items():
        assert lo <= count <= hi, (name, count / n)


@pytest.mark.parametrize("make, match", [
    (lambda: BookRecorder(paths=[0, 0]), "paths must be distinct"),
    (lambda: BookRecorder(paths=[-1]), "paths must be distinct"),
    (lambda: BookRecorder(session_start=-1.0), "session_start must be seconds"),
    (lambda: BookRecorder(paths=[5]).attach(LimitOrderBook(PARAMS, n_paths=2)),
     "paths must be < n_paths"),
    (lambda: BookRecorder().attach(LimitOrderBook(PARAMS.replace(order_size=1.5))),
     "order_size must be a whole number"),
    (lambda: BookRecorder().lobster(), "attach"),
])
def test_bad_arguments_are_rejected_naming_them(make, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        make()
