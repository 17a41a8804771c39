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
QUICK = {"steps": 3, "long": 40, "envs": 4, "pairs": 6, "head_rounds": 2}
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


def long_rollout(
    model: WorldModel, frames: int, states: dict[int, dict] | None = None
) -> tuple[list[float], float, float]:
    """Seconds of each of ``frames`` steps of one row, and the RSS before and after them.

    ``states``, if given, receives the row's state (``WorldModel.row_state``) after 10 warm-up
    steps (key 10) and after the last step (key ``10 + frames``)."""
    g = torch.Generator().manual_seed(0)
    model.reset(context(model, 1), PROMPT, generator=g)
    motion = np.array([[10.0, 0.05]])
    for _ in range(10):  # warm-up, so allocator start-up is not counted as growth
        model.step(motion, generator=g)
    if states is not None:
        states[10] = model.row_state(0)
    before = rss_mib()
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        model.step(motion, generator=g)
        times.append(time.perf_counter() - t0)
    if states is not None:
        states[10 + frames] = model.row_state(0)
    return times, before, rss_mib()


def paired_frame_cost(
    model: WorldModel, states: dict[int, dict], rounds: int
) -> tuple[float, float]:
    """Median seconds of the step after each of the two saved states of ``long_rollout``, timed
    in alternation (the order swapped every round) so that a machine whose speed drifts slows
    both alike: ``(early, late)``."""
    motion = np.array([[10.0, 0.05]])
    g = torch.Generator().manual_seed(1)
    early_key, late_key = sorted(states)
    times: dict[int, list[float]] = {early_key: [], late_key: []}
    for r in range(rounds):
        order = (early_key, late_key) if r % 2 == 0 else (late_key, early_key)
        for key in order:
            model.load_row_state(0, states[key])
            t0 = time.perf_counter()
            model.step(motion, generator=g)
            times[key].append(time.perf_counter() - t0)
    return float(np.median(times[early_key])), float(np.median(times[late_key]))


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
    streamed, states = model.with_sampling(), {}
    _, rss0, rss1 = long_rollout(streamed, args.long, states)
    early, late = paired_frame_cost(streamed, states, args.pairs)
    fast = sampling_preset("fast")
    slow = sampling_preset("stochastic")
    fast_fps = env_fps(ckpt, n, args.steps, int(fast["steps"]), mode="native", model=model)
    slow_fps = env_fps(ckpt, n, args.steps, int(slow["steps"]), mode="native", model=model)
    # The driving heads' cost: the same N-env step with and without them, in turn, the order
    # swapped every round, so that a drift of the machine's speed slows both alike.
    no_heads = {"driving_heads": "none"}
    with_fps, without_fps = [], []
    for r in range(args.head_rounds):
        for heads in (True, False) if r % 2 == 0 else (False, True):
            options = None if heads else no_heads
            fps = env_fps(
                ckpt, n, args.steps, steps, mode="native", model=model, env_options=options
            )
            (with_fps if heads else without_fps).append(fps)
    heads_share = 1.0 - float(np.median(with_fps)) / float(np.median(without_fps))
    rounds = f"median of {args.head_rounds}, in turn"
    note_n = f"N={n}, {steps} sampling step(s) (the checkpoint's)"
    paired = f"one row, median of {args.pairs}, the two in turn"
    return [
        BenchRow(GROUP, "one env", one, "steps/s", f"{steps} sampling step(s)"),
        BenchRow(GROUP, f"native vector env N={n}", vec, "frames/s", note_n),
        BenchRow(GROUP, f"vector N={n} / one env", vec / one, "x", "target >= 6x"),
        BenchRow(GROUP, f"batched step N={n}", 1000 * step_s, "ms", f"{flops / 1e9:.2f} GFLOP"),
        BenchRow(GROUP, "matmul peak (fp32, 1024^2)", peak / 1e9, "GFLOP/s", "same run"),
        BenchRow(GROUP, f"MFU of the batched step N={n}", 100 * mfu, "%", "target >= 30%"),
        BenchRow(GROUP, "frame cost, frame 11", 1000 * early, "ms", paired),
        BenchRow(GROUP, f"frame cost, frame {args.long + 11}", 1000 * late, "ms", paired),
        BenchRow(GROUP, "late / early frame cost", late / early, "x", "target <= 1.1x"),
        BenchRow(GROUP, f"RSS growth over {args.long} steps", rss1 - rss0, "MiB", "<= 64 MiB"),
        BenchRow(GROUP, f"fast preset N={n}", fast_fps, "frames/s", f"{fast}"),
        BenchRow(GROUP, f"stochastic preset N={n}", slow_fps, "frames/s", f"{slow}"),
        BenchRow(GROUP, "fast / stochastic", fast_fps / slow_fps, "x", "target >= 3x"),
        BenchRow(
            GROUP,
            f"native N={n}, no driving heads",
            float(np.median(without_fps)),
            "frames/s",
            rounds,
        ),
        BenchRow(
            GROUP,
            f"driving heads' share of a step N={n}",
            100 * heads_share,
            "%",
            f"<= 10%; {rounds}",
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(__doc__, store=False)
    parser.add_argument("--steps", type=int, default=10, help="vector env steps per timing")
    parser.add_argument("--long", type=int, default=590, help="steps of the long rollout")
    parser.add_argument("--envs", type=int, default=16, help="N of the vector env")
    parser.add_argument(
        "--head-rounds", type=int, default=6, help="in-turn timings with and without the heads"
    )
    parser.add_argument(
        "--pairs", type=int, default=40, help="alternating early/late timings of one step"
    )
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, "# throughput targets")
