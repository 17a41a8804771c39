"""Speed of worldsim/DrivingWorld-v0: env steps per second for one env, frames per second of the
native vector env at several N, and the native env against N separate envs, all in one run.

Usage:
  python benchmarks/env_speed.py --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import worldsim

ID = worldsim.LEARNED_ENV_ID


def single_env_sps(checkpoint: str, steps: int, sampling_steps: int) -> float:
    env = gym.make(ID, checkpoint=checkpoint, sampling_steps=sampling_steps, horizon=10_000)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(np.zeros(2, np.float32))
    return steps / (time.perf_counter() - start)


def vector_fps(checkpoint: str, n: int, steps: int, sampling_steps: int, mode: str) -> float:
    kwargs = {"vectorization_mode": "sync"} if mode == "sync" else {}
    envs = gym.make_vec(
        ID,
        num_envs=n,
        checkpoint=checkpoint,
        sampling_steps=sampling_steps,
        horizon=10_000,
        **kwargs,
    )
    envs.reset(seed=0)
    actions = np.zeros((n, 2), np.float32)
    envs.step(actions)
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(actions)
    return n * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("outputs/runs/world_model_tiny/checkpoints/last.ckpt"),
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampling-steps", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        raise SystemExit(f"{args.checkpoint} not found: run `make demo` first")
    ckpt = str(args.checkpoint)
    print(f"# {ID}, {args.sampling_steps} sampling steps per frame, CPU")
    print(f"single env: {single_env_sps(ckpt, args.steps, args.sampling_steps):.1f} steps/s")
    print(f"{'N':>4} {'native fps':>11} {'N separate envs fps':>20} {'ratio':>6}")
    for n in args.sizes:
        native = vector_fps(ckpt, n, args.steps, args.sampling_steps, "native")
        separate = vector_fps(ckpt, n, max(2, args.steps // n), args.sampling_steps, "sync")
        print(f"{n:>4} {native:>11.1f} {separate:>20.1f} {native / separate:>5.1f}x")


if __name__ == "__main__":
    main()
