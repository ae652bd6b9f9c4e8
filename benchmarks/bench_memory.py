"""Peak memory of a chunked Monte Carlo rollout as the path count grows.

Each size runs in a fresh process (peak RSS is per process). The simulation holds one chunk
(``chunk_size`` paths) at a time, so what grows with the path count is only the result table
itself (one row of ``len(COLUMNS)`` float64 values per path, built once per chunk and
concatenated). Usage: ``python benchmarks/bench_memory.py [N_PATHS ...] [--quick]``.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import resource, sys, time
from asmm_env import MarketParams
from asmm_env.rollout import COLUMNS, rollout
from baselines import AvellanedaStoikovPolicy
n = int(sys.argv[1])
params = MarketParams()
start = time.perf_counter()
paths = rollout(AvellanedaStoikovPolicy.from_env(params, 0.1), params, n_paths=n, seed=1).paths
seconds = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds,
      paths.memory_usage(index=True, deep=True).sum() / 2**20)
"""


def main(argv: list[str] | None = None) -> None:
    args = list(argv if argv is not None else sys.argv[1:])
    quick = "--quick" in args
    sizes = [int(a) for a in args if a != "--quick"] or (
        [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000])
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], check=True,
                             capture_output=True, text=True).stdout.split()
        peak, seconds, table = (float(x) for x in out)
        print(json.dumps({"n_paths": n, "peak_rss_mb": round(peak), "result_table_mb":
                          round(table, 1), "seconds": round(seconds, 1),
                          "path_steps_per_s": round(n * 200 / seconds)}), flush=True)


if __name__ == "__main__":
    main()
