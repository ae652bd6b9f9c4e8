"""Command line: ``python -m experiments all`` (or ``asmm run all``) runs every experiment;
``python -m experiments NAME [NAME ...]`` runs some. ``--help`` lists them."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from experiments.config import ConfigError, load_config
from experiments.framework import available, run_experiments


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so that cleanup (``finally``) runs as for
    Ctrl-C. A BaseException, so an experiment's ``except Exception`` does not swallow it."""


def _raise_terminated(signum, frame):
    raise Terminated(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_raises():
    """While the CLI runs, SIGTERM raises :class:`Terminated` (the default would kill the
    process without running cleanup, leaving a ``.staging-*`` folder behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``, with a message naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    names = available()
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description="Run asmm_env Monte Carlo experiments; figures, tables and REPORT.md "
                    "are written under --out.",
        epilog="experiments: " + ", ".join(names),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", default=["all"],
                        help="'all' or experiment names: " + ", ".join(names))
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--paths", type=_positive_int, help="Monte Carlo paths per cell "
                       "(default: the config's)")
    parser.add_argument("--seed", type=_non_negative_int, help="root seed (default: config)")
    parser.add_argument("--config", type=Path, help="YAML file overriding the shipped config")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    sizes.add_argument("--quick", action="store_true",
                       help="small path counts (the config's quick_paths): a smoke run")
    parser.add_argument("--workers", type=_positive_int, default=min(2, os.cpu_count() or 1),
                        help="local worker processes for sweeps (results do not depend on it)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="where sweep cells run: a local process pool or a Dask cluster")
    parser.add_argument("--scheduler", help="Dask scheduler address (with --executor dask; "
                        "default: a LocalCluster)")
    parser.add_argument("--data", type=Path, metavar="PATH",
                        help="your own data (a file or directory) for the experiments that "
                             "read data (e.g. calibration: LOBSTER files or trades/quotes "
                             "tables); default: their synthetic data with known parameters")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":        # `asmm run all` reads like `python -m experiments all`
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    names = list(args.names)
    if "all" in names:
        if len(names) > 1:
            parser.error("'all' cannot be combined with other names")
        names = list(available())
    unknown = [n for n in names if n not in available()]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {list(available())} or 'all'")
    if args.scheduler and args.executor != "dask":
        parser.error("--scheduler needs --executor dask")
    if args.data is not None and not args.data.exists():
        parser.error(f"--data: no such file or directory {str(args.data)!r}")
    start = time.perf_counter()
    try:
        with _sigterm_raises():
            config = load_config(args.config)
            run_experiments(names, config, args.out, seed=args.seed, quick=args.quick,
                            n_paths=args.paths, workers=args.workers, executor=args.executor,
                            scheduler=args.scheduler, show_progress=not args.no_progress,
                            echo=lambda s: print(s, file=sys.stderr), data=args.data)
    except ConfigError as err:
        print(f"error: config: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the running experiment's results were not written", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: the running experiment's results were not written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception:
        traceback.print_exc()
        print("error: an experiment failed (traceback above); its results were not written",
              file=sys.stderr)
        return 1
    print(f"wrote {args.out / 'REPORT.md'} in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
