"""Speed of worldsim/DrivingWorld-v0: env steps per second for one env, frames per second of the
native vector env at several N, and the native env against N separate envs, all in one run.

Usage:
  python benchmarks/env_speed.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt [--quick]
"""

from __future__ import annotations

import argparse

from _table import BenchRow, new_parser, require_inputs, run

import worldsim
from worldsim.eval.speed import env_fps

ID = worldsim.LEARNED_ENV_ID
GROUP = "gym env"
QUICK = {"steps": 4, "sizes": [1, 4]}


def vector_rows(checkpoint: str, n: int, steps: int, sampling_steps: int) -> list[BenchRow]:
    """Native and separate-env frame rates for ``n`` envs, and their ratio."""
    separate_steps = max(2, steps // n)
    native = env_fps(checkpoint, n, steps, sampling_steps, mode="native")
    separate = env_fps(checkpoint, n, separate_steps, sampling_steps, mode="sync")
    return [
        BenchRow(GROUP, f"native vector env N={n}", native, "frames/s", f"{steps} steps"),
        BenchRow(GROUP, f"separate envs N={n}", separate, "frames/s", f"{separate_steps} steps"),
        BenchRow(GROUP, f"native / separate N={n}", native / separate, "x"),
    ]


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """Single-env steps per second, then native against separate envs at each N."""
    require_inputs(args.checkpoint)
    ckpt = str(args.checkpoint)
    sps = env_fps(ckpt, 1, args.steps, args.sampling_steps, mode="single")
    note = f"{args.sampling_steps} sampling steps per frame, {args.steps} steps"
    rows = [BenchRow(GROUP, "single env", sps, "steps/s", note)]
    for n in args.sizes:
        rows += vector_rows(ckpt, n, args.steps, args.sampling_steps)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    parser = new_parser(__doc__, store=False)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampling-steps", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, f"# {ID}, {{sampling_steps}} sampling steps per frame")
