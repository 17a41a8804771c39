"""Throughput targets of the learned env, measured in one run: the native vector env against one
env, the MFU of a batched step, the per-frame cost and memory over a long rollout, and the fast
sampling preset against the stochastic one.

Usage:
  python benchmarks/throughput_targets.py --checkpoint worldsim/assets/pretrained [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from _table import BenchRow, new_parser, require_inputs, run
from torch.utils.flop_counter import FlopCounterMode

from worldsim.diffusion.samplers import sampling_preset
from worldsim.env.learned.model_cache import load_model
from worldsim.eval.speed import env_fps, matmul_peak
from worldsim.runtime.world_model import WorldModel

GROUP = "targets"
QUICK = {"steps": 3, "long": 40, "envs": 4}
PROMPT = "day, clear weather, two-lane straight road"


def rss_mib() -> float:
    """The resident memory of this process now (not its peak), MiB."""
    with open(f"/proc/{os.getpid()}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def context(model: WorldModel, batch: int) -> np.ndarray:
    h, w = model.resolution
    rng = np.random.default_rng(0)
    return rng.integers(60, 200, (batch, 4, h, w, 3), dtype=np.uint8)


def batched_step(model: WorldModel, batch: int, repeats: int) -> tuple[float, int]:
    """Median seconds of one ``step`` of ``batch`` rows and the FLOPs it counts."""
    g = torch.Generator().manual_seed(0)
    model.reset(context(model, batch), PROMPT, generator=g)
    motion = np.tile([[10.0, 0.0]], (batch, 1))
    counter = FlopCounterMode(display=False)
    with counter:
        model.step(motion, generator=g)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.step(motion, generator=g)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), int(counter.get_total_flops())


def long_rollout(model: WorldModel, frames: int) -> tuple[list[float], float, float]:
    """Seconds of each of ``frames`` steps of one row, and the RSS before and after them."""
    g = torch.Generator().manual_seed(0)
    model.reset(context(model, 1), PROMPT, generator=g)
    motion = np.array([[10.0, 0.05]])
    for _ in range(10):  # warm-up, so allocator start-up is not counted as growth
        model.step(motion, generator=g)
    before = rss_mib()
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        model.step(motion, generator=g)
        times.append(time.perf_counter() - t0)
    return times, before, rss_mib()


def measure(args: argparse.Namespace) -> list[BenchRow]:
    require_inputs(args.checkpoint)
    ckpt = str(args.checkpoint)
    model = load_model(ckpt, "cpu", "float32")
    steps = model.sampling.steps
    n = args.envs
    one = env_fps(ckpt, 1, args.steps * 4, steps, mode="single", model=model)
    vec = env_fps(ckpt, n, args.steps, steps, mode="native", model=model)
    step_s, flops = batched_step(model.with_sampling(), n, max(3, args.steps))
    peak = matmul_peak(torch.device("cpu"), torch.float32)
    mfu = flops / step_s / peak
    times, rss0, rss1 = long_rollout(model.with_sampling(), args.long)
    early = float(np.median(times[:10]))
    late = float(np.median(times[-10:]))
    fast = sampling_preset("fast")
    slow = sampling_preset("stochastic")
    fast_fps = env_fps(ckpt, n, args.steps, int(fast["steps"]), mode="native", model=model)
    slow_fps = env_fps(ckpt, n, args.steps, int(slow["steps"]), mode="native", model=model)
    # The driving heads' cost: the same N-env step with and without them, twice in turn.
    no_heads = {"driving_heads": "none"}
    with_fps, without_fps = [], []
    for _ in range(2):
        with_fps.append(env_fps(ckpt, n, args.steps, steps, mode="native", model=model))
        without_fps.append(
            env_fps(ckpt, n, args.steps, steps, mode="native", model=model, env_options=no_heads)
        )
    heads_share = 1.0 - max(with_fps) / max(without_fps)
    note_n = f"N={n}, {steps} sampling step(s) (the checkpoint's)"
    return [
        BenchRow(GROUP, "one env", one, "steps/s", f"{steps} sampling step(s)"),
        BenchRow(GROUP, f"native vector env N={n}", vec, "frames/s", note_n),
        BenchRow(GROUP, f"vector N={n} / one env", vec / one, "x", "target >= 6x"),
        BenchRow(GROUP, f"batched step N={n}", 1000 * step_s, "ms", f"{flops / 1e9:.2f} GFLOP"),
        BenchRow(GROUP, "matmul peak (fp32, 1024^2)", peak / 1e9, "GFLOP/s", "same run"),
        BenchRow(GROUP, f"MFU of the batched step N={n}", 100 * mfu, "%", "target >= 30%"),
        BenchRow(GROUP, "frame cost, frames 11-20", 1000 * early, "ms", "one row, median"),
        BenchRow(GROUP, f"frame cost, last 10 of {args.long + 10}", 1000 * late, "ms", "median"),
        BenchRow(GROUP, "late / early frame cost", late / early, "x", "target <= 1.1x"),
        BenchRow(GROUP, f"RSS growth over {args.long} steps", rss1 - rss0, "MiB", "<= 64 MiB"),
        BenchRow(GROUP, f"fast preset N={n}", fast_fps, "frames/s", f"{fast}"),
        BenchRow(GROUP, f"stochastic preset N={n}", slow_fps, "frames/s", f"{slow}"),
        BenchRow(GROUP, "fast / stochastic", fast_fps / slow_fps, "x", "target >= 3x"),
        BenchRow(
            GROUP, f"native N={n}, no driving heads", max(without_fps), "frames/s", "best of 2"
        ),
        BenchRow(GROUP, f"driving heads' share of a step N={n}", 100 * heads_share, "%", "<= 10%"),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__, store=False)
    parser.add_argument("--steps", type=int, default=10, help="vector env steps per timing")
    parser.add_argument("--long", type=int, default=590, help="steps of the long rollout")
    parser.add_argument("--envs", type=int, default=16, help="N of the vector env")
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, "# throughput targets")
