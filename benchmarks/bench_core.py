"""Speed of the AS core against the bare-numpy reference kernel, measured in one run.

Prints one JSON line per measurement and a summary table:

* path-steps per second of the AS 2008 rollout through the native vector env
  (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``, binomial walk,
  ``min(lambda dt, 1)`` fills, the AS inventory policy) at 1k, 10k and 100k paths, next to
  ``../shared/bench/reference_kernel.py`` doing the same work, and their ratio;
* microseconds per ``step`` of the single env (through ``gymnasium.make``) next to
  ``CartPole-v1`` (also through ``gymnasium.make``), and their ratio.

Usage: ``python benchmarks/bench_core.py [N_PATHS ...]``. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import asmm_env  # noqa: F401  (registers the ids)
from baselines import AvellanedaStoikovPolicy

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench"
AS2008 = dict(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005, q0=0.0,
              price_dynamics="binomial", fill_rule="linear")


def _median_time(fn, repeats: int) -> float:
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        fn(r)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def vector_env_rate(n_paths: int, repeats: int) -> float:
    """Path-steps per second of a whole AS episode through the native vector env."""
    env = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=n_paths,
                       vectorization_mode="vector_entry_point", **AS2008)
    policy = AvellanedaStoikovPolicy.from_env(env, gamma=0.1)
    steps = env.unwrapped.params.n_steps if hasattr(env, "unwrapped") else env.params.n_steps

    def episode(seed: int) -> None:
        obs, _ = env.reset(seed=seed)
        for _ in range(steps):
            obs, _, _, _, _ = env.step(policy.act(obs))

    seconds = _median_time(episode, repeats)
    env.close()
    return n_paths * steps / seconds


def single_step_us(env_id: str, n_steps: int, action_fn, **kwargs) -> float:
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        obs, _, terminated, truncated, _ = env.step(action_fn(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    seconds = time.perf_counter() - t0
    env.close()
    return seconds / n_steps * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single-steps", type=int, default=20_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REFERENCE))
    import reference_kernel

    rows = []
    for n in args.paths:
        ours = vector_env_rate(n, args.repeats)
        ref = reference_kernel.path_steps_per_second(n, repeats=args.repeats)
        row = {"what": "vector_env_vs_reference", "n_paths": n, "ours_path_steps_per_s":
               round(ours), "reference_path_steps_per_s": round(ref), "ratio": round(ours / ref, 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    # The single env: the AS policy's quote for a constant action is not needed for timing;
    # a fixed action keeps the policy's cost out of the measurement (CartPole gets the same).
    fixed = np.array([0.03, 0.03])
    ours_us = single_step_us("asmm_env/AvellanedaStoikov-v0", args.single_steps,
                             lambda obs: fixed, **AS2008)
    cart_us = single_step_us("CartPole-v1", args.single_steps, lambda obs: 0)
    row = {"what": "single_env_step_vs_cartpole", "ours_us_per_step": round(ours_us, 2),
           "cartpole_us_per_step": round(cart_us, 2), "ratio": round(ours_us / cart_us, 2)}
    rows.append(row)
    print(json.dumps(row), flush=True)

    print("\n| measurement | ours | reference | ratio (ours/ref speed or time) |")
    print("|---|---|---|---|")
    for row in rows:
        if row["what"] == "vector_env_vs_reference":
            print(f"| vector env, {row['n_paths']:,} paths (path-steps/s) | "
                  f"{row['ours_path_steps_per_s']:,} | {row['reference_path_steps_per_s']:,} | "
                  f"{row['ratio']} |")
        else:
            print(f"| single env step (us), CartPole-v1 as reference | {row['ours_us_per_step']}"
                  f" | {row['cartpole_us_per_step']} | {row['ratio']} (time) |")


if __name__ == "__main__":
    main()
