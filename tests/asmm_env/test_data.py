"""Tests of asmm_env.data: LOBSTER and trades/quotes readers, writers, validation, market
orders."""

import datetime
import importlib.util

import numpy as np
import pandas as pd
import pytest

from asmm_env.data import (
    LobsterData,
    TradesQuotes,
    lobster_file_names,
    read_lobster,
    read_trades_quotes,
    write_lobster,
    write_trades_quotes,
)
from asmm_env.data.columns import book_columns

# --- a LOBSTER pair written by hand --------------------------------------------------------
# Two levels, tick $0.01, around $100. Each orderbook row is the book after the message on
# the same line; the comments say what happened. Written by hand, not by our writer.
MESSAGES = """\
34200.013,1,1001,100,1000000,1
34200.15,1,1002,200,1000100,-1
34200.42,3,1002,200,1000100,-1
34201.007,4,990,100,1000000,1
34201.3,2,991,50,999900,1
34202.051,4,980,300,1000100,-1
34202.051,4,981,100,1000200,-1
34203.5,1,1003,100,1000100,-1
34204.25,1,1004,150,999900,1
34205.0,7,0,0,-1,-1
34265.0,7,0,0,0,-1
34270.125,1,1005,100,1000000,1
34280.0,7,0,0,1,-1
34281.337,4,1003,100,1000100,-1
34282.9,5,0,40,1000100,-1
34283.01,4,995,300,1000000,1
34283.01,4,996,500,999900,1
34284.5,1,1006,200,1000000,1
34285.0,1,1007,100,1000100,-1
34286.25,3,1006,200,1000000,1
34287.0,1,1008,300,999900,1
34288.125,6,0,1000,1000000,-1
34289.0,2,1008,100,999900,1
34290.4,4,1007,100,1000100,-1
34291.0,3,982,250,1000300,-1
34292.0,1,1009,100,1000300,-1
34293.7,4,997,200,999900,1
34294.0,1,1010,300,1000100,-1
34295.5,1,1011,100,999900,1
34296.0,1,1012,100,1000000,1
"""
# ask price 1, ask size 1, bid price 1, bid size 1, ask price 2, ask size 2, bid price 2, ...
ORDERBOOK = """\
1000100,300,1000000,300,1000200,500,999900,400
1000100,500,1000000,300,1000200,500,999900,400
1000100,300,1000000,300,1000200,500,999900,400
1000100,300,1000000,200,1000200,500,999900,400
1000100,300,1000000,200,1000200,500,999900,350
1000200,500,1000000,200,1000300,250,999900,350
1000200,400,1000000,200,1000300,250,999900,350
1000100,100,1000000,200,1000200,400,999900,350
1000100,100,1000000,200,1000200,400,999900,500
1000100,100,1000000,200,1000200,400,999900,500
1000100,100,1000000,200,1000200,400,999900,500
1000100,100,1000000,300,1000200,400,999900,500
1000100,100,1000000,300,1000200,400,999900,500
1000200,400,1000000,300,1000300,250,999900,500
1000200,400,1000000,300,1000300,250,999900,500
1000200,400,999900,500,1000300,250,999800,600
1000200,400,999800,600,1000300,250,999700,350
1000200,400,1000000,200,1000300,250,999800,600
1000100,100,1000000,200,1000200,400,999800,600
1000100,100,999800,600,1000200,400,999700,350
1000100,100,999900,300,1000200,400,999800,600
1000100,100,999900,300,1000200,400,999800,600
1000100,100,999900,200,1000200,400,999800,600
1000200,400,999900,200,1000300,250,999800,600
1000200,400,999900,200,9999999999,0,999800,600
1000200,400,999900,200,1000300,100,999800,600
1000200,400,999800,600,1000300,100,-9999999999,0
1000100,300,999800,600,1000200,400,-9999999999,0
1000100,300,999900,100,1000200,400,999800,600
1000100,300,1000000,100,1000200,400,999900,100
"""
MSG_NAME = "TEST_2024-01-02_34200000_57600000_message_2.csv"
BOOK_NAME = "TEST_2024-01-02_34200000_57600000_orderbook_2.csv"


def _write_pair(directory, messages=MESSAGES, orderbook=ORDERBOOK):
    msg, book = directory / MSG_NAME, directory / BOOK_NAME
    msg.write_text(messages)
    book.write_text(orderbook)
    return msg, book


def _edit(text, row, column, value):
    lines = text.splitlines()
    fields = lines[row].split(",")
    fields[column] = value
    lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


@pytest.fixture
def pair(tmp_path):
    return _write_pair(tmp_path)


# --- reading ----------------------------------------------------------------------------------


def test_hand_written_lobster_pair_loads_with_prices_in_dollars_and_empty_levels_as_nan(pair):
    data = read_lobster(*pair, tick_size=0.01)
    assert data.levels == 2 and data.n_messages == 30
    assert data.ticker == "TEST" and data.date == datetime.date(2024, 1, 2)
    assert list(data.messages.columns) == ["time", "event_type", "order_id", "size", "price",
                                           "direction", "halt_flag"]
    assert list(data.book.columns) == ["time"] + book_columns(2)
    first = data.messages.iloc[0]
    assert first["time"] == 34200.013 and first["event_type"] == 1
    assert first["price"] == 100.00 and first["direction"] == 1 and first["size"] == 100
    assert data.book["ask_price_1"].iloc[0] == 100.01
    assert data.book["bid_price_2"].iloc[15] == 99.98
    assert np.isnan(data.book["ask_price_2"].iloc[24]) and data.book["ask_size_2"].iloc[24] == 0
    assert np.isnan(data.book["bid_price_2"].iloc[26])
    assert data.book["time"].equals(data.messages["time"])
    top = data.top_of_book()
    assert top["mid"].iloc[0] == pytest.approx(100.005)
    assert top["spread"].iloc[15] == pytest.approx(0.03)
    assert data.mid.equals(top["mid"]) and data.spread.equals(top["spread"])


def test_trading_halt_messages_carry_their_flag_and_mark_the_halted_interval(pair):
    data = read_lobster(*pair)
    halt = data.messages["event_type"] == 7
    assert data.messages["halt_flag"][halt].tolist() == [-1, 0, 1]
    assert data.messages["halt_flag"][~halt].isna().all()
    assert data.messages["price"][halt].isna().all()
    assert np.flatnonzero(data.halted()).tolist() == [9, 10, 11]
    assert data.trading_duration() == pytest.approx(34296.0 - 34200.013 - 75.0)


def test_market_orders_group_executions_and_measure_reach_from_the_mid_before(pair):
    orders = read_lobster(*pair).market_orders()
    expected = pd.DataFrame({
        "time": [34201.007, 34202.051, 34281.337, 34283.01, 34290.4, 34293.7],
        "side": [-1, 1, 1, -1, 1, -1],
        "size": [100.0, 400.0, 100.0, 800.0, 100.0, 200.0],
        "n_fills": [1, 2, 1, 2, 1, 1],
        "worst_price": [100.00, 100.02, 100.01, 99.99, 100.01, 99.99],
        "mid_before": [100.005, 100.005, 100.005, 100.01, 100.00, 100.005],
        "reach": [0.005, 0.015, 0.005, 0.02, 0.01, 0.015],
        # The sell at 34283.01 emptied the deepest visible bid (99.99 x 500): it may have
        # gone further than the file shows.
        "censored": [False, False, False, True, False, False],
    }).astype({"side": np.int8})
    pd.testing.assert_frame_equal(orders, expected, check_exact=False, atol=1e-9)


def test_hidden_executions_join_the_market_orders_only_on_request(pair):
    data = read_lobster(*pair)
    hidden = data.market_orders(include_hidden=True)
    assert len(hidden) == 7
    row = hidden[hidden["time"] == 34282.9].iloc[0]
    assert row["side"] == 1 and row["reach"] == pytest.approx(0.0)


def test_levels_argument_keeps_the_first_levels_and_censoring_follows_it(pair):
    data = read_lobster(*pair, levels=1)
    assert data.levels == 1 and list(data.book.columns) == ["time"] + book_columns(1)
    orders = data.market_orders()
    # With one level every order that empties the best is censored.
    assert orders["censored"].tolist() == [False, True, True, True, True, True]


def test_lobster_converts_to_trades_and_quotes_with_the_same_market_orders(pair):
    data = read_lobster(*pair)
    tq = data.to_trades_quotes()
    assert tq.levels == 2 and len(tq.quotes) == 30
    assert len(tq.trades) == 9                        # the type 4 and 5 messages
    assert tq.trades["side"].tolist()[:3] == [-1, 1, 1]
    # The last quote strictly before each trade is the LOBSTER book before the order here;
    # trade prints are never censored.
    ours = data.market_orders(include_hidden=True).drop(columns="censored")
    theirs = tq.market_orders()
    assert not theirs["censored"].any()
    pd.testing.assert_frame_equal(theirs.drop(columns="censored"), ours)


# --- writing and round trips ---------------------------------------------------------------


def test_lobster_file_names_follow_lobster():
    assert lobster_file_names("AAPL", "2012-06-21", 5) == (
        "AAPL_2012-06-21_34200000_57600000_message_5.csv",
        "AAPL_2012-06-21_34200000_57600000_orderbook_5.csv")
    assert lobster_file_names("X", datetime.date(2020, 1, 3), 1, start=36000.5, end=36060)[0] \
        == "X_2020-01-03_36000500_36060000_message_1.csv"


@pytest.mark.parametrize("kwargs, name", [
    ({"ticker": ""}, "ticker"), ({"ticker": "a/b"}, "ticker"), ({"date": "2020-13-01"}, "date"),
    ({"levels": 0}, "levels"), ({"start": -1.0}, "start"), ({"end": 1.0}, "end"),
])
def test_lobster_file_names_reject_bad_arguments(kwargs, name):
    args = {"ticker": "A", "date": "2020-01-02", "levels": 1} | kwargs
    with pytest.raises(ValueError, match=name):
        lobster_file_names(args.pop("ticker"), args.pop("date"), args.pop("levels"), **args)


def test_hand_written_pair_round_trips_through_the_writer(pair, tmp_path):
    data = read_lobster(*pair, tick_size=0.01)
    out = tmp_path / "out"
    out.mkdir()
    msg, book = write_lobster(data.messages, data.book, out, "TEST", "2024-01-02", 2)
    assert (msg.name, book.name) == (MSG_NAME, BOOK_NAME)
    again = read_lobster(msg, book, tick_size=0.01)
    pd.testing.assert_frame_equal(again.messages, data.messages)
    pd.testing.assert_frame_equal(again.book, data.book)
    # Integers, dummies and flags come back exactly as LOBSTER writes them.
    assert book.read_text().splitlines()[24].split(",")[4:6] == ["9999999999", "0"]
    assert msg.read_text().splitlines()[9].split(",")[1:] == ["7", "0", "0", "-1", "-1"]


def _random_frames(rng, n, levels, tick=0.01):
    """Valid frames in the reader's convention (random, not a consistent market)."""
    time = 34200 + np.cumsum(rng.exponential(0.5, n)).round(9)
    time[5:8] = time[5]                                # equal timestamps are allowed
    event = rng.choice([1, 2, 3, 4, 5, 6], n)
    event[10] = 7
    messages = pd.DataFrame({
        "time": time, "event_type": event, "order_id": rng.integers(0, 10**9, n),
        "size": rng.integers(1, 1000, n),
        "price": (10000 + rng.integers(-50, 50, n)) * tick,
        "direction": rng.choice([-1, 1], n), "halt_flag": pd.array([pd.NA] * n, dtype="Int8"),
    })
    messages.loc[10, "price"] = np.nan
    messages.loc[10, "halt_flag"] = -1
    mid_ticks = 10000 + rng.integers(-20, 20, n)
    book = {}
    for j in range(1, levels + 1):
        book[f"ask_price_{j}"] = (mid_ticks + j) * tick
        book[f"ask_size_{j}"] = rng.integers(1, 500, n)
        book[f"bid_price_{j}"] = (mid_ticks - j) * tick
        book[f"bid_size_{j}"] = rng.integers(1, 500, n)
    book = pd.DataFrame(book)
    empty = rng.random(n) < 0.2                       # the deepest ask level missing sometimes
    book.loc[empty, f"ask_price_{levels}"] = np.nan
    book.loc[empty, f"ask_size_{levels}"] = 0
    return messages, book


@pytest.mark.parametrize("seed", range(5))
def test_frames_round_trip_through_write_and_read(tmp_path, seed):
    rng = np.random.default_rng(seed)
    messages, book = _random_frames(rng, 60, levels=3)
    data = LobsterData.from_frames(messages, book, tick_size=0.01)
    msg, bk = write_lobster(messages, book, tmp_path, "SIM", "2024-05-06")
    again = read_lobster(msg, bk, tick_size=0.01)
    pd.testing.assert_frame_equal(again.messages, data.messages)
    pd.testing.assert_frame_equal(again.book, data.book)


def test_writer_pads_missing_levels_and_drops_extra_ones(tmp_path, pair):
    data = read_lobster(*pair)
    one, _ = write_lobster(data.messages, data.book, tmp_path, "T", "2024-01-02", 1)
    assert one.name.endswith("_message_1.csv")
    (tmp_path / "b").mkdir()
    m4, b4 = write_lobster(data.messages, data.book, tmp_path / "b", "T", "2024-01-02", 4)
    wide = read_lobster(m4, b4)
    assert wide.levels == 4 and wide.book["ask_size_4"].eq(0).all()
    assert wide.book["ask_price_3"].isna().all()


def test_writer_validates_before_writing_anything(tmp_path, pair):
    data = read_lobster(*pair)
    book = data.book.copy()
    book.loc[3, "bid_price_1"] = 100.02                 # crossed
    with pytest.raises(ValueError, match=r"orderbook DataFrame: row 3, column 'bid_price_1'"):
        write_lobster(data.messages, book, tmp_path, "T", "2024-01-02")
    assert list(tmp_path.glob("T_*")) == []
    with pytest.raises(ValueError, match="directory"):
        write_lobster(data.messages, data.book, tmp_path / "nope", "T", "2024-01-02")


# --- malformed LOBSTER input: the error names file, row and column --------------------------


@pytest.mark.parametrize("which, row, column, value, pattern", [
    ("msg", 5, 0, "34201.0", r"message_2.csv: row 5 \(line 6\), column 'time': timestamps "
                             r"are not sorted"),
    ("msg", 3, 1, "8", r"message_2.csv: row 3 \(line 4\), column 'event_type': unknown event "
                       r"type 8"),
    ("msg", 4, 3, "-50", r"row 4 \(line 5\), column 'size': negative size"),
    ("msg", 2, 4, "abc", r"row 2 \(line 3\), column 'price': non-numeric value 'abc'"),
    ("msg", 7, 5, "0", r"row 7 \(line 8\), column 'direction': unknown direction"),
    ("msg", 7, 3, "", r"row 7 \(line 8\), column 'size': missing value"),
    ("msg", 9, 4, "2", r"row 9 \(line 10\), column 'price': unknown trading-halt flag"),
    ("msg", 3, 4, "1000050", r"row 3 \(line 4\), column 'price': .* not on the tick grid"),
    ("msg", 6, 4, "-5", r"row 6 \(line 7\), column 'price': price must be > 0"),
    ("book", 4, 2, "1000100", r"orderbook_2.csv: row 4 \(line 5\), column 'bid_price_1': "
                              r"crossed book"),
    ("book", 6, 3, "-200", r"orderbook_2.csv: row 6 \(line 7\), column 'bid_size_1': "
                           r"negative size"),
    ("book", 8, 5, "x", r"row 8 \(line 9\), column 'ask_size_2': non-numeric value 'x'"),
    ("book", 2, 4, "1000050", r"row 2 \(line 3\), column 'ask_price_2': .* not on the tick"),
    ("book", 2, 4, "1000000", r"row 2 \(line 3\), column 'ask_price_2': ask level 2 price "
                              r".* is not above level 1"),
    ("book", 2, 1, "0", r"row 2 \(line 3\), column 'ask_size_1': a level with price"),
    ("book", 2, 0, "9999999999", r"row 2 \(line 3\), column 'ask_size_1': size 300 at a "
                                 r"level without a price"),
    ("book", 2, 6, "0", r"row 2 \(line 3\), column 'bid_price_2': .* neither a positive "
                        r"price nor LOBSTER's dummy"),
])
def test_malformed_lobster_input_names_file_row_and_column(tmp_path, which, row, column,
                                                           value, pattern):
    messages, orderbook = MESSAGES, ORDERBOOK
    if which == "msg":
        messages = _edit(messages, row, column, value)
    else:
        orderbook = _edit(orderbook, row, column, value)
    with pytest.raises(ValueError, match=pattern):
        read_lobster(*_write_pair(tmp_path, messages, orderbook), tick_size=0.01)


def test_a_level_after_an_empty_one_is_rejected(tmp_path):
    orderbook = _edit(_edit(ORDERBOOK, 26, 2, "-9999999999"), 26, 3, "0")
    orderbook = _edit(orderbook, 26, 6, "999800")
    orderbook = _edit(orderbook, 26, 7, "5")
    with pytest.raises(ValueError, match=r"row 26 \(line 27\), column 'bid_price_2': level 2 "
                                         r"has a price but level 1 is empty"):
        read_lobster(*_write_pair(tmp_path, MESSAGES, orderbook))


def test_missing_columns_are_named(tmp_path):
    short_msgs = "\n".join(line.rsplit(",", 1)[0] for line in MESSAGES.splitlines()) + "\n"
    with pytest.raises(ValueError, match=r"message_2.csv: missing column 'direction'"):
        read_lobster(*_write_pair(tmp_path, short_msgs, ORDERBOOK))
    short_book = "\n".join(line.rsplit(",", 1)[0] for line in ORDERBOOK.splitlines()) + "\n"
    with pytest.raises(ValueError, match=r"orderbook_2.csv: missing column 'bid_size_2'"):
        read_lobster(*_write_pair(tmp_path, MESSAGES, short_book))
    wide_msgs = "\n".join(line + ",0" for line in MESSAGES.splitlines()) + "\n"
    with pytest.raises(ValueError, match=r"message_2.csv: expected 6 columns"):
        read_lobster(*_write_pair(tmp_path, wide_msgs, ORDERBOOK))


def test_message_and_orderbook_row_counts_must_match(tmp_path):
    short_book = "\n".join(ORDERBOOK.splitlines()[:-2]) + "\n"
    with pytest.raises(ValueError, match=r"orderbook_2.csv: row 28: missing; .*message_2.csv "
                                         r"has 30 rows"):
        read_lobster(*_write_pair(tmp_path, MESSAGES, short_book))


def test_file_level_problems_name_the_file(tmp_path):
    msg, book = _write_pair(tmp_path)
    with pytest.raises(ValueError, match="levels=3 but .*orderbook_2.csv has 2"):
        read_lobster(msg, book, levels=3)
    with pytest.raises(ValueError, match="levels must be an integer >= 1"):
        read_lobster(msg, book, levels=0)
    with pytest.raises(ValueError, match="date must be"):
        read_lobster(msg, book, date="21/06/2012")
    with pytest.raises(ValueError, match="tick_size must be a whole number of LOBSTER"):
        read_lobster(msg, book, tick_size=0.00005)
    with pytest.raises(ValueError, match="tick_size must be a finite number > 0"):
        read_lobster(msg, book, tick_size=-0.01)
    with pytest.raises(ValueError, match="no such file"):
        read_lobster(tmp_path / "missing.csv", book)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv: the file is empty"):
        read_lobster(empty, book)
    other = tmp_path / "OTHER_2024-01-02_34200000_57600000_orderbook_2.csv"
    other.write_text(ORDERBOOK)
    with pytest.raises(ValueError, match="are not a pair: .* ticker 'TEST' and 'OTHER'"):
        read_lobster(msg, other)


def test_from_frames_checks_halt_flags_and_book_times(pair):
    data = read_lobster(*pair)
    no_flag = data.messages.drop(columns="halt_flag")
    with pytest.raises(ValueError, match=r"messages DataFrame: row 9, column 'halt_flag'"):
        LobsterData.from_frames(no_flag, data.book)
    book = data.book.copy()
    book.loc[4, "time"] = 1.0
    with pytest.raises(ValueError, match=r"orderbook DataFrame: row 4, column 'time'"):
        LobsterData.from_frames(data.messages, book)
    with pytest.raises(ValueError, match="must be pandas DataFrames"):
        LobsterData.from_frames(data.messages.to_numpy(), data.book)


# --- trades and quotes -------------------------------------------------------------------

TRADES_CSV = """\
timestamp,side,price,size,venue
1.0,buy,100.02,100,X
2.5,sell,99.99,50,X
2.5,sell,99.98,30,X
4.0,1,100.01,10,X
"""
QUOTES_CSV = """\
timestamp,bid_price,bid_size,ask_price,ask_size,bid_price_2,bid_size_2,ask_price_2,ask_size_2
0.5,100.00,300,100.01,200,99.99,100,100.02,400
1.0,100.00,300,100.02,300,99.99,100,100.03,100
2.0,99.99,50,100.01,100,99.98,500,,
2.5,99.98,470,100.01,100,99.97,20,,0
3.5,100.00,10,100.01,100,99.98,470,100.02,50
"""


@pytest.fixture
def tq_paths(tmp_path):
    trades, quotes = tmp_path / "trades.csv", tmp_path / "quotes.csv"
    trades.write_text(TRADES_CSV)
    quotes.write_text(QUOTES_CSV)
    return trades, quotes


def test_trades_and_quotes_load_from_csv_with_levels_and_sides(tq_paths):
    data = read_trades_quotes(*tq_paths)
    assert isinstance(data, TradesQuotes) and data.levels == 2
    assert list(data.trades.columns) == ["timestamp", "time", "side", "price", "size"]
    assert data.trades["side"].tolist() == [1, -1, -1, 1]
    assert np.isnan(data.quotes["ask_price_2"].iloc[2]) and data.quotes["ask_size_2"].iloc[2] == 0
    assert data.mid.iloc[0] == pytest.approx(100.005)
    assert data.duration() == pytest.approx(3.5)


def test_trades_and_quotes_market_orders_use_the_last_quote_strictly_before(tq_paths):
    orders = read_trades_quotes(*tq_paths).market_orders()
    assert orders["side"].tolist() == [1, -1, 1]
    assert orders["n_fills"].tolist() == [1, 2, 1]
    assert orders["size"].tolist() == [100.0, 80.0, 10.0]
    # The buy at t=1 sees the quote of t=0.5 (mid 100.005), not the one stamped t=1.
    np.testing.assert_allclose(orders["mid_before"], [100.005, 100.0, 100.005])
    np.testing.assert_allclose(orders["reach"], [0.015, 0.02, 0.005], atol=1e-9)
    assert not orders["censored"].any()


def test_datetime_timestamps_become_seconds_after_midnight(tmp_path):
    trades = pd.DataFrame({"timestamp": ["2024-03-04T09:30:01.5", "2024-03-04T09:30:02"],
                           "side": ["B", "S"], "price": [10.01, 9.99], "size": [1, 2]})
    quotes = pd.DataFrame({"timestamp": ["2024-03-04T09:30:00", "2024-03-04T09:30:01.75"],
                           "bid_price": [10.0, 10.0], "bid_size": [5, 5],
                           "ask_price": [10.01, 10.02], "ask_size": [5, 5]})
    data = read_trades_quotes(trades, quotes)
    assert data.time_origin == pd.Timestamp("2024-03-04")
    np.testing.assert_allclose(data.trades["time"], [34201.5, 34202.0])
    np.testing.assert_allclose(data.quotes["time"], [34200.0, 34201.75])
    paths = write_trades_quotes(data.trades, data.quotes, tmp_path / "t.csv",
                                tmp_path / "q.csv")
    again = read_trades_quotes(*paths)
    pd.testing.assert_frame_equal(again.trades, data.trades)
    pd.testing.assert_frame_equal(again.quotes, data.quotes)


def test_trades_and_quotes_round_trip_through_csv(tq_paths, tmp_path):
    data = read_trades_quotes(*tq_paths)
    paths = write_trades_quotes(data.trades, data.quotes, tmp_path / "t2.csv",
                                tmp_path / "q2.csv")
    again = read_trades_quotes(*paths)
    pd.testing.assert_frame_equal(again.trades, data.trades)
    pd.testing.assert_frame_equal(again.quotes, data.quotes)


_PARQUET = any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet"))


@pytest.mark.skipif(not _PARQUET, reason="no Parquet engine (pyarrow or fastparquet)")
def test_trades_and_quotes_round_trip_through_parquet(tq_paths, tmp_path):
    data = read_trades_quotes(*tq_paths)
    paths = write_trades_quotes(data.trades, data.quotes, tmp_path / "t.parquet",
                                tmp_path / "q.pq")
    again = read_trades_quotes(*paths)
    pd.testing.assert_frame_equal(again.trades, data.trades)
    pd.testing.assert_frame_equal(again.quotes, data.quotes)


@pytest.mark.skipif(_PARQUET, reason="a Parquet engine is installed")
def test_parquet_without_an_engine_says_which_extra_to_install(tq_paths, tmp_path):
    data = read_trades_quotes(*tq_paths)
    with pytest.raises(ImportError, match=r"asmm_env\[parquet\]"):
        write_trades_quotes(data.trades, data.quotes, tmp_path / "t.parquet",
                            tmp_path / "q.csv")
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    with pytest.raises(ImportError, match=r"asmm_env\[parquet\]"):
        read_trades_quotes(tmp_path / "t.parquet", tq_paths[1])


@pytest.mark.parametrize("table, row, column, value, pattern", [
    ("trades", 2, "timestamp", "1.5", r"trades.csv: row 2 \(line 4\), column 'timestamp': "
                                      r"timestamps are not sorted"),
    ("trades", 1, "side", "hold", r"trades.csv: row 1 \(line 3\), column 'side': unknown side"),
    ("trades", 3, "size", "-10", r"trades.csv: row 3 \(line 5\), column 'size': negative"),
    ("trades", 0, "price", "abc", r"trades.csv: row 0 \(line 2\), column 'price': non-numeric"),
    ("trades", 2, "timestamp", "soon", r"row 2 \(line 4\), column 'timestamp': non-numeric"),
    ("quotes", 3, "bid_price", "100.02", r"quotes.csv: row 3 \(line 5\), column 'bid_price': "
                                         r"crossed book"),
    ("quotes", 1, "ask_size", "-5", r"quotes.csv: row 1 \(line 3\), column 'ask_size': "
                                    r"negative size"),
    ("quotes", 4, "bid_size", "", r"quotes.csv: row 4 \(line 6\), column 'bid_size': missing"),
    ("quotes", 0, "ask_price_2", "100.00", r"row 0 \(line 2\), column 'ask_price_2': ask "
                                           r"level 2"),
])
def test_malformed_trades_and_quotes_name_file_row_and_column(tmp_path, table, row, column,
                                                              value, pattern):
    frames = {"trades": pd.read_csv(pd.io.common.StringIO(TRADES_CSV), dtype=str),
              "quotes": pd.read_csv(pd.io.common.StringIO(QUOTES_CSV), dtype=str)}
    frames[table].loc[row, column] = value
    paths = []
    for name in ("trades", "quotes"):
        path = tmp_path / f"{name}.csv"
        frames[name].to_csv(path, index=False)
        paths.append(path)
    with pytest.raises(ValueError, match=pattern):
        read_trades_quotes(*paths)


def test_trades_and_quotes_missing_columns_and_bad_arguments_are_named(tq_paths, tmp_path):
    trades = pd.read_csv(tq_paths[0])
    quotes = pd.read_csv(tq_paths[1])
    with pytest.raises(ValueError, match=r"trades DataFrame: missing column 'side'"):
        read_trades_quotes(trades.drop(columns="side"), quotes)
    with pytest.raises(ValueError, match=r"quotes DataFrame: missing column 'ask_size_2'"):
        read_trades_quotes(trades, quotes.drop(columns="ask_size_2"))
    with pytest.raises(ValueError, match="trades must be a .csv, .parquet or .pq file"):
        read_trades_quotes(tmp_path / "t.txt", quotes)
    with pytest.raises(ValueError, match="trades must be a path or a pandas DataFrame"):
        read_trades_quotes(3, quotes)
    dated = trades.assign(timestamp=pd.to_datetime(["2024-01-01"] * 4))
    with pytest.raises(ValueError, match="trades have datetime timestamps but quotes have "
                                         "numeric"):
        read_trades_quotes(dated, quotes)
    with pytest.raises(ValueError, match="a trade of size 0"):
        read_trades_quotes(trades.assign(size=0), quotes)
    with pytest.raises(ValueError, match="quotes_path must end in"):
        write_trades_quotes(trades, quotes, tmp_path / "t.csv", tmp_path / "q.json")
