"""Speed of worldsim/DrivingWorld-v0: env steps per second for one env, frames per second of the
native vector env at several N, and the native env against N separate envs, all in one run.

Usage:
  python benchmarks/env_speed.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from _table import BenchRow, add_inputs, add_quick, parse, print_rows, require_inputs

import worldsim

ID = worldsim.LEARNED_ENV_ID
GROUP = "gym env"
QUICK = {"steps": 4, "sizes": [1, 4]}


def single_env_sps(checkpoint: str, steps: int, sampling_steps: int) -> float:
    """Steps per second of one env after one warm-up step."""
    env = gym.make(ID, checkpoint=checkpoint, sampling_steps=sampling_steps, horizon=10_000)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(np.zeros(2, np.float32))
    return steps / (time.perf_counter() - start)


def vector_fps(checkpoint: str, n: int, steps: int, sampling_steps: int, mode: str) -> float:
    """Frames per second of ``n`` envs, natively batched or as separate envs stepped in turn."""
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


def vector_rows(checkpoint: str, n: int, steps: int, sampling_steps: int) -> list[BenchRow]:
    """Native and separate-env frame rates for ``n`` envs, and their ratio."""
    separate_steps = max(2, steps // n)
    native = vector_fps(checkpoint, n, steps, sampling_steps, "native")
    separate = vector_fps(checkpoint, n, separate_steps, sampling_steps, "sync")
    return [
        BenchRow(GROUP, f"native vector env N={n}", native, "frames/s", f"{steps} steps"),
        BenchRow(GROUP, f"separate envs N={n}", separate, "frames/s", f"{separate_steps} steps"),
        BenchRow(GROUP, f"native / separate N={n}", native / separate, "x"),
    ]


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """Single-env steps per second, then native against separate envs at each N."""
    require_inputs(args.checkpoint)
    ckpt = str(args.checkpoint)
    sps = single_env_sps(ckpt, args.steps, args.sampling_steps)
    note = f"{args.sampling_steps} sampling steps per frame, {args.steps} steps"
    rows = [BenchRow(GROUP, "single env", sps, "steps/s", note)]
    for n in args.sizes:
        rows += vector_rows(ckpt, n, args.steps, args.sampling_steps)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_inputs(parser, store=False)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampling-steps", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    add_quick(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None, known_only: bool = False) -> argparse.Namespace:
    """Parsed options, with the --quick values applied."""
    return parse(build_parser(), argv, QUICK, known_only)


def main() -> None:
    """Measure and print the rows as a table."""
    args = parse_args()
    print_rows(measure(args), f"# {ID}, {args.sampling_steps} sampling steps per frame")


if __name__ == "__main__":
    main()
