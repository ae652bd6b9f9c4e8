"""Recorded order books in, and out: LOBSTER message/orderbook file pairs and generic trades +
quotes tables (CSV, Parquet or DataFrames), validated on the way in, with the market orders
they contain (the input of :mod:`asmm_env.calibration`); and trades and quotes of the
reduced-form market with known parameters (:func:`simulated_trades_quotes`).

Every table's columns and units are listed in :mod:`asmm_env.data.columns`: time in seconds
(LOBSTER: after midnight), prices in currency units, sizes in shares. Malformed input raises
``ValueError`` naming the file (or DataFrame), the row and the column.
"""

from asmm_env.data.lobster import (
    LobsterData,
    lobster_file_names,
    read_lobster,
    write_lobster,
)
from asmm_env.data.synthetic import simulated_trades_quotes
from asmm_env.data.trades_quotes import TradesQuotes, read_trades_quotes, write_trades_quotes

__all__ = [
    "LobsterData",
    "TradesQuotes",
    "lobster_file_names",
    "read_lobster",
    "read_trades_quotes",
    "simulated_trades_quotes",
    "write_lobster",
    "write_trades_quotes",
]
