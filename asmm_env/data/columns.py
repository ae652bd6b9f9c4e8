"""Column conventions of every table in :mod:`asmm_env.data`, in one place.

Units: time in seconds (LOBSTER: seconds after midnight); prices in currency units (LOBSTER
files store dollars times 10,000; the readers divide, the writers multiply back); sizes in
shares. A missing book level has a NaN price and size 0.

LOBSTER messages (``LobsterData.messages``, one row per message)::

    time        float64  seconds after midnight
    event_type  int8     1 new limit order, 2 partial cancellation, 3 deletion, 4 execution
                         of a visible limit order, 5 execution of a hidden limit order,
                         6 cross trade (auction), 7 trading halt
    order_id    int64    LOBSTER's order reference number
    size        int64    shares
    price       float64  currency units; NaN for event type 7
    direction   int8     side of the *resting limit order*: 1 buy (a bid), -1 sell (an ask);
                         an execution with direction 1 is a market SELL hitting a bid
    halt_flag   Int8     type 7 only (else <NA>): -1 halt begins, 0 quoting resumes,
                         1 trading resumes (LOBSTER stores it in the price column)

LOBSTER book (``LobsterData.book``, row i is the book AFTER message i)::

    time                            float64  the message's time
    ask_price_1, ask_size_1,        float64, int64 per level j = 1 .. levels, in LOBSTER's
    bid_price_1, bid_size_1, ...    column order

Trades (``TradesQuotes.trades``)::

    timestamp   as given (numeric seconds, or datetime64)
    time        float64  seconds: the numeric timestamp, or seconds after midnight of the
                         first trade's or quote's date for datetimes
    side        int8     aggressor: +1 buyer-initiated (lifts the ask), -1 seller-initiated
    price       float64  currency units
    size        float64  shares

Quotes (``TradesQuotes.quotes``)::

    timestamp, time                  as for trades
    bid_price, bid_size,             the best level
    ask_price, ask_size
    bid_price_2, bid_size_2, ...     optional deeper levels j = 2 .. levels

Market orders (``LobsterData.market_orders()``, ``TradesQuotes.market_orders()``; one row per
market order, i.e. per run of executions at one timestamp on one side)::

    time         float64  seconds
    side         int8     +1 market buy (fills ask quotes), -1 market sell (fills bid quotes)
    size         float64  shares executed
    n_fills      int64    executions (messages or trade prints) in the order
    worst_price  float64  the execution price farthest from the mid, currency units
    mid_before   float64  the mid of the book just before the order, currency units
    reach        float64  side * (worst_price - mid_before), price units (>= 0 for an
                          order that executes at or beyond the best quote)
    censored     bool     True when the order emptied the deepest visible level: it may
                          have reached further than the data show, ``reach`` is a lower bound
"""

from __future__ import annotations

MESSAGE_COLUMNS = ("time", "event_type", "order_id", "size", "price", "direction")
TRADE_COLUMNS = ("timestamp", "side", "price", "size")
QUOTE_COLUMNS = ("timestamp", "bid_price", "bid_size", "ask_price", "ask_size")
MARKET_ORDER_COLUMNS = ("time", "side", "size", "n_fills", "worst_price", "mid_before",
                        "reach", "censored")

EVENT_TYPES = {
    1: "new limit order",
    2: "partial cancellation",
    3: "deletion",
    4: "execution of a visible limit order",
    5: "execution of a hidden limit order",
    6: "cross trade",
    7: "trading halt",
}


def book_columns(levels: int) -> list[str]:
    """LOBSTER's book columns for ``levels`` levels: ask price, ask size, bid price, bid size
    per level."""
    return [f"{name}_{j}" for j in range(1, levels + 1)
            for name in ("ask_price", "ask_size", "bid_price", "bid_size")]


def quote_level_columns(level: int) -> tuple[str, str, str, str]:
    """Quote columns of level ``level`` (1 = best, without a suffix): bid price, bid size,
    ask price, ask size."""
    suffix = "" if level == 1 else f"_{level}"
    return (f"bid_price{suffix}", f"bid_size{suffix}", f"ask_price{suffix}",
            f"ask_size{suffix}")
