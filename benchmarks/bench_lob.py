"""Speed of the limit order book against the reference kernels, in one run.

Prints one JSON line per measurement and a summary table:

* events per second of :class:`asmm_env.lob.LimitOrderBook` in the reference kernel's
  setting (one level per side, one unit order per side re-joining at the back after a
  fill, L = 1, C = 0.2, M = 0.6, new queues 1 + Poisson(5), no market-order boost), every
  path running its events one after another (``simulate_events``), at 1k, 10k and 100k
  paths by default:

  - the numpy engine (``engine="numpy"``) next to the bare-numpy reference
    ``../shared/bench/reference_lob_kernel.py``,
  - when numba is installed, the compiled engine (``engine="numba"``, the same bytes) next
    to the numba reference ``../shared/bench/reference_lob_numba.py`` (both on
    ``numba.get_num_threads()`` threads; the reference does not keep event clocks, ours
    does),

  each with its ratio (ours / reference; above 1 is faster);
* for information, events per second of whole decision steps in the default setting
  (three levels, ``step`` with its clock, working sets and ledger; the compiled engine
  when numba is installed), where the event count is the total event rate times the
  simulated time.

Usage: ``python benchmarks/bench_lob.py [N_PATHS ...] [--events 500] [--repeats 3]
[--quick]``. Medians of ``--repeats`` runs (at least 5 for the compiled pair), ours and the
reference's taken in turns. ``--quick``: 1k and 10k paths, fewer events, one repeat (a smoke
run for CI, well under a minute; its ratios are not the ones to report).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from asmm_env.lob import BookParams, LimitOrderBook

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench"
REFERENCE_SETTING = dict(n_levels=1, limit_rate=1.0, cancel_rate=0.2, market_rate=0.6,
                         market_boost=0.0, refill=5.0)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def book_seconds(n_paths: int, n_events: int, seed: int, engine: str = "numpy") -> float:
    """Seconds of ``simulate_events`` in the reference setting (the book is built and reset
    outside the timing, as the reference's arrays are allocated inside its timing: that
    favours neither much)."""
    book = LimitOrderBook(BookParams(**REFERENCE_SETTING), n_paths, engine=engine)
    book.reset(np.random.default_rng(seed))
    book.set_quotes(np.zeros((n_paths, 1, 2), dtype=np.int64))
    t0 = time.perf_counter()
    book.simulate_events(n_events)
    return time.perf_counter() - t0


def reference_seconds(module, n_paths: int, n_events: int, seed: int) -> float:
    """Seconds of a reference kernel's ``simulate(n_paths, n_events, seed)``."""
    t0 = time.perf_counter()
    module.simulate(n_paths, n_events, seed)
    return time.perf_counter() - t0


def paired_events_per_second(n_paths: int, n_events: int, repeats: int, engine: str,
                             reference) -> tuple[float, float]:
    """(ours, reference) events per second, medians of ``repeats`` runs taken in turns, so
    that both see the same load on a shared machine."""
    ours, ref = [], []
    for r in range(repeats):
        ours.append(book_seconds(n_paths, n_events, r, engine))
        ref.append(reference_seconds(reference, n_paths, n_events, r))
    return n_paths * n_events / _median(ours), n_paths * n_events / _median(ref)


def stepped_events_per_second(n_paths: int, horizon: float, repeats: int,
                              engine: str = "auto") -> tuple[float, float]:
    """(events per second, path-steps per second) of ``step`` in the default setting, the
    agent at both best queues; events counted from the event rates of the final state times
    the simulated time (the rates are stationary)."""
    params = BookParams(T=horizon)
    offsets = np.zeros((n_paths, 1, 2), dtype=np.int64)
    times, rate = [], 0.0
    for r in range(repeats):
        book = LimitOrderBook(params, n_paths, engine=engine)
        book.reset(np.random.default_rng(r))
        t0 = time.perf_counter()
        while not book.done:
            book.step(offsets)
        times.append(time.perf_counter() - t0)
        rate = float(book.event_rates().sum(axis=1).mean())
    seconds = _median(times)
    return n_paths * horizon * rate / seconds, n_paths * params.n_steps / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=int)
    parser.add_argument("--events", type=int, help="events per path per run (default 500)")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (default 3)")
    parser.add_argument("--horizon", type=float,
                        help="simulated time of the stepped measurement, dt = 1 (default 30)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = parser.parse_args(argv)
    quick = args.quick
    args.paths = args.paths or ([1_000, 10_000] if quick else [1_000, 10_000, 100_000])
    args.events = args.events or (100 if quick else 500)
    args.repeats = args.repeats or (1 if quick else 3)
    args.horizon = args.horizon or (5.0 if quick else 30.0)
    compiled_repeats = args.repeats if quick else max(args.repeats, 5)
    sys.path.insert(0, str(REFERENCE))
    import reference_lob_kernel

    try:
        import numba
        import reference_lob_numba
    except ImportError:          # the compiled engine and its reference need numba
        numba = reference_lob_numba = None
    if numba is not None:
        # Compile (or load) both compiled paths before any timing; ours also runs its check
        # against the numpy engine here.
        reference_lob_numba.simulate(100, 100, 0)
        book_seconds(100, 10, 0, engine="numba")
        print(json.dumps({"what": "threads", "numba_threads": numba.get_num_threads()}),
              flush=True)

    rows = []
    for n in args.paths:
        ours, ref = paired_events_per_second(n, args.events, args.repeats, "numpy",
                                             reference_lob_kernel)
        row = {"what": "book_numpy_vs_reference", "n_paths": n,
               "ours_events_per_s": round(ours), "reference_events_per_s": round(ref),
               "ratio": round(ours / ref, 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if numba is None:
            continue
        ours, ref = paired_events_per_second(n, args.events, compiled_repeats, "numba",
                                             reference_lob_numba)
        row = {"what": "book_numba_vs_numba_reference", "n_paths": n,
               "ours_events_per_s": round(ours), "reference_events_per_s": round(ref),
               "ratio": round(ours / ref, 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    engine = "numpy" if numba is None else "numba"
    for n in args.paths:
        events, steps = stepped_events_per_second(n, args.horizon, args.repeats, engine)
        row = {"what": "stepped_default", "engine": engine, "n_paths": n,
               "events_per_s": round(events), "path_steps_per_s": round(steps)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    labels = {"book_numpy_vs_reference": "book (numpy engine) vs reference_lob_kernel",
              "book_numba_vs_numba_reference": "book (compiled engine) vs reference_lob_numba"}
    print("\n| measurement | ours (events/s) | reference (events/s) | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        if row["what"] in labels:
            print(f"| {labels[row['what']]}, {row['n_paths']:,} paths | "
                  f"{row['ours_events_per_s']:,} | {row['reference_events_per_s']:,} | "
                  f"{row['ratio']} |")
        else:
            print(f"| step() ({row['engine']} engine), default setting, {row['n_paths']:,} paths "
                  f"({row['path_steps_per_s']:,} path-steps/s) | {row['events_per_s']:,} "
                  f"| - | - |")


if __name__ == "__main__":
    main()
