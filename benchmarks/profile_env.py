"""Where a batched learned-env step spends its time: DiT passes while sampling, the context
commit, tokenizer decoding, kinematics, the driving heads and rewards, and the rest (Python and
bookkeeping).

The sections are ``torch.profiler.record_function`` ranges wrapped around the methods of one
``DrivingWorldVectorEnv`` at ``--envs`` rows; the top operators come from the same profile.

Usage:
  python benchmarks/profile_env.py [--checkpoint <ckpt or bundle>] [--envs 16] [--steps 10]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from _table import BenchRow, print_rows
from torch.profiler import ProfilerActivity, profile, record_function

import worldsim
import worldsim.env.learned.core as core_module
from worldsim.runtime.bundle import bundled_model_dir

SECTIONS = {
    "dit sampling": "DiT passes of the denoising steps (sample_latents)",
    "context commit": "DiT pass that writes the new frame into the KV cache (_commit)",
    "tokenizer decode": "latents to uint8 frames (decode)",
    "kinematics": "batched bicycle model",
    "driving heads": "lane, off-road and collision signals of the new frames",
    "rewards": "reward and termination functions",
}


def wrap(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by the same callable inside a ``record_function(label)`` range."""
    fn: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(fn)
    def ranged(*args: Any, **kwargs: Any) -> Any:
        with record_function(label):
            return fn(*args, **kwargs)

    setattr(owner, name, ranged)


def instrument(envs: Any) -> None:
    """Put every section's range around the methods of this env's core and model."""
    core, model = envs.unwrapped.core, envs.unwrapped.core.model
    wrap(model, "sample_latents", "dit sampling")
    wrap(model, "_commit", "context commit")
    wrap(model, "decode", "tokenizer decode")
    wrap(core_module, "step_steer_accel_batch", "kinematics")
    wrap(core.signals, "_predict", "driving heads")
    wrap(core, "_apply", "rewards")


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """Profile ``args.steps`` batched steps after two warm-up steps."""
    checkpoint = str(args.checkpoint or bundled_model_dir())
    envs = gym.make_vec(worldsim.LEARNED_ENV_ID, num_envs=args.envs, checkpoint=checkpoint)
    envs.reset(seed=0)
    actions = np.tile(np.array([[0.1, 0.2]], np.float32), (args.envs, 1))
    for _ in range(2):
        envs.step(actions)
    instrument(envs)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            with record_function("env step"):
                envs.step(actions)
        wall = time.perf_counter() - start
    events = {e.key: e for e in prof.key_averages()}
    step_ms = events["env step"].cpu_time_total / 1e3 / args.steps
    group = f"N={args.envs} step"
    rows = [BenchRow(group, "batched step", step_ms, "ms", f"{args.steps} steps, profiled")]
    covered = 0.0
    for label, what in SECTIONS.items():
        ms = events[label].cpu_time_total / 1e3 / args.steps if label in events else 0.0
        covered += ms
        rows.append(BenchRow(group, label, ms, "ms", f"{100 * ms / step_ms:.1f}% - {what}"))
    rest = step_ms - covered
    rows.append(
        BenchRow(group, "rest", rest, "ms", f"{100 * rest / step_ms:.1f}% - Python, bookkeeping")
    )
    rows.append(
        BenchRow(group, "frames/s", args.envs * args.steps / wall, "frames/s", "wall clock")
    )
    ops = sorted(
        (e for e in prof.key_averages() if e.key.startswith("aten::")),
        key=lambda e: e.self_cpu_time_total,
        reverse=True,
    )
    for e in ops[: args.top]:
        ms = e.self_cpu_time_total / 1e3 / args.steps
        rows.append(
            BenchRow("top ops (self)", e.key, ms, "ms", f"{e.count // args.steps} calls/step")
        )
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=8, help="operators to list")
    return parser


if __name__ == "__main__":
    args = build_parser().parse_args()
    rows = measure(args)
    print_rows(rows, f"# profile of worldsim/DrivingWorld-v0, {torch.get_num_threads()} threads")
