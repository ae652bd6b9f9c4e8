"""Speed of the reduced-form core against the references, measured in one run.

Every measurement is a ratio of ours against a reference timed in the same run, the two
alternated repeat by repeat (so a busy machine slows both), medians of ``--repeats``:

* ``vector_env``: path-steps per second of the AS 2008 rollout through the native vector env
  (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, binomial walk,
  ``min(lambda dt, 1)`` fills, the AS policy's ``act``) against
  ``../shared/bench/reference_kernel.py`` at the same path count (above 1: faster);
* ``rollout``: path-steps per second of ``asmm_env.rollout.rollout`` over ``--rollout-paths``
  paths (1,000,000; chunked) against the reference kernel at 100,000 paths;
* ``single_env``: microseconds per ``step`` of the single env through ``gymnasium.make``
  against ``CartPole-v1`` through ``gymnasium.make`` (a ratio of times: below 1 is faster);
* ``pettingzoo``: microseconds per ``step`` of ``Competition-v0`` with 10 agents against
  CartPole's step (times);
* ``competition``: agent-path-steps per second of the batched core with 10 AS agents on
  10,000 paths (``rollout``) against the reference kernel's path-steps per second at 10,000.

The compiled one-agent step (``asmm_env._kernel``) is used when numba is installed; the
``engine`` column says which ran. Usage: ``python benchmarks/bench_core.py [--quick]``
(``--quick``: smaller sizes, one repeat, well under a minute). The library's allocator
tuning is opted into here (``asmm_env.allocator``), as the experiments CLI does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pettingzoo

import asmm_env  # noqa: F401  (registers the ids)
from asmm_env import MarketParams, _kernel
from asmm_env.allocator import retain_freed_memory
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench"
AS2008 = dict(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005, q0=0.0,
              price_dynamics="binomial", fill_rule="linear")
STEPS = 200


def paired(ours: Callable[[int], float], reference: Callable[[int], float],
           repeats: int) -> tuple[float, float]:
    """Medians of ``repeats`` alternated timings (seconds) of two callables ``f(repeat)``."""
    a, b = [], []
    for r in range(repeats):
        for fn, out in ((ours, a), (reference, b)):
            t0 = time.perf_counter()
            fn(r)
            out.append(time.perf_counter() - t0)
    return float(np.median(a)), float(np.median(b))


def vector_episode(n_paths: int) -> Callable[[int], None]:
    env = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=n_paths,
                       vectorization_mode="vector_entry_point", **AS2008)
    policy = AvellanedaStoikovPolicy.from_env(env, gamma=0.1)

    def episode(seed: int) -> None:
        obs, _ = env.reset(seed=seed)
        for _ in range(STEPS):
            obs, _, _, _, _ = env.step(policy.act(obs))

    episode(0)                         # warm-up (and the compiled step's first call)
    return episode


def reference_episode(reference, n_paths: int) -> Callable[[int], None]:
    return lambda seed: reference.rollout(n_paths, seed)


def rollout_run(n_paths: int, n_agents: int = 1) -> Callable[[int], None]:
    params = MarketParams(**AS2008)
    gammas = np.geomspace(0.01, 0.5, n_agents) if n_agents > 1 else [0.1]
    policies = [AvellanedaStoikovPolicy.from_env(params, g) for g in gammas]
    return lambda seed: rollout(policies, params, n_paths=n_paths, seed=seed,
                                chunk_size=100_000)


def step_time(env_id: str, n_steps: int, action) -> Callable[[int], None]:
    env = gym.make(env_id, **(AS2008 if env_id.startswith("asmm") else {}))
    env.reset(seed=0)

    def run(seed: int) -> None:
        env.reset(seed=seed)
        for _ in range(n_steps):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    return run


def pettingzoo_steps(n_agents: int, n_steps: int) -> Callable[[int], None]:
    env = pettingzoo.make("parallel", "asmm_env/Competition-v0", n_agents=n_agents, **AS2008)
    action = env.params.action_map.to_action(0.7, 0.7)
    env.reset(seed=0)

    def run(seed: int) -> None:
        env.reset(seed=seed)
        for _ in range(n_steps):
            if not env.agents:
                env.reset()
            env.step(dict.fromkeys(env.agents, action))

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rollout-paths", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    retain_freed_memory()
    sys.path.insert(0, str(REFERENCE))
    import reference_kernel

    quick = args.quick
    repeats = 1 if quick else args.repeats
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    engine = "numba" if _kernel.available() else "numpy"
    rows = []

    def report(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    for n in sizes:
        ours, ref = paired(vector_episode(n), reference_episode(reference_kernel, n), repeats)
        report({"what": "vector_env", "n_paths": n, "engine": engine,
                "ours_path_steps_per_s": round(n * STEPS / ours),
                "reference_path_steps_per_s": round(n * STEPS / ref),
                "ratio": round(ref / ours, 3)})

    n_roll = 100_000 if quick else args.rollout_paths
    n_ref = 10_000 if quick else 100_000
    ours, ref = paired(rollout_run(n_roll), reference_episode(reference_kernel, n_ref), 1)
    report({"what": "rollout", "n_paths": n_roll, "reference_paths": n_ref, "engine": engine,
            "ours_path_steps_per_s": round(n_roll * STEPS / ours),
            "reference_path_steps_per_s": round(n_ref * STEPS / ref),
            "ratio": round((n_roll / ours) / (n_ref / ref), 3)})

    n_steps = 2_000 if quick else 20_000
    ours, ref = paired(step_time("asmm_env/AvellanedaStoikov-v0", n_steps,
                                 np.array([0.0, 0.0])),
                       step_time("CartPole-v1", n_steps, 0), repeats)
    report({"what": "single_env", "engine": engine,
            "ours_us_per_step": round(ours / n_steps * 1e6, 2),
            "cartpole_us_per_step": round(ref / n_steps * 1e6, 2),
            "time_ratio": round(ours / ref, 2)})

    pz_steps = 500 if quick else 5_000
    ours, ref = paired(pettingzoo_steps(10, pz_steps), step_time("CartPole-v1", pz_steps, 0),
                       repeats)
    report({"what": "pettingzoo", "n_agents": 10, "ours_us_per_step":
            round(ours / pz_steps * 1e6, 1), "cartpole_us_per_step":
            round(ref / pz_steps * 1e6, 2), "time_ratio": round(ours / ref, 2)})

    n_comp = 2_000 if quick else 10_000
    ours, ref = paired(rollout_run(n_comp, 10), reference_episode(reference_kernel, n_comp),
                       repeats)
    report({"what": "competition", "n_agents": 10, "n_paths": n_comp,
            "ours_agent_path_steps_per_s": round(10 * n_comp * STEPS / ours),
            "reference_path_steps_per_s": round(n_comp * STEPS / ref),
            "ratio": round(10 * ref / ours, 3)})

    print("\n| measurement | ours | reference | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        if row["what"] == "vector_env":
            print(f"| vector env, {row['n_paths']:,} paths (path-steps/s, {row['engine']}) | "
                  f"{row['ours_path_steps_per_s']:,} | {row['reference_path_steps_per_s']:,} | "
                  f"{row['ratio']} |")
        elif row["what"] == "rollout":
            print(f"| rollout, {row['n_paths']:,} paths vs reference at "
                  f"{row['reference_paths']:,} (path-steps/s) | {row['ours_path_steps_per_s']:,} "
                  f"| {row['reference_path_steps_per_s']:,} | {row['ratio']} |")
        elif row["what"] == "single_env":
            print(f"| single env step vs CartPole-v1 (us, {row['engine']}) | "
                  f"{row['ours_us_per_step']} | {row['cartpole_us_per_step']} | "
                  f"{row['time_ratio']}x the time |")
        elif row["what"] == "pettingzoo":
            print(f"| PettingZoo step, 10 agents, vs CartPole-v1 step (us) | "
                  f"{row['ours_us_per_step']} | {row['cartpole_us_per_step']} | "
                  f"{row['time_ratio']}x the time |")
        else:
            print(f"| batched competition, 10 agents, {row['n_paths']:,} paths (agent-path-"
                  f"steps/s vs path-steps/s) | {row['ours_agent_path_steps_per_s']:,} | "
                  f"{row['reference_path_steps_per_s']:,} | {row['ratio']} |")


if __name__ == "__main__":
    main()
