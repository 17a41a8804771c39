"""Frames per second of the procedural world, render and step, at several resolutions.

Usage: python benchmarks/sim_fps.py [--frames 200] [--sizes 64x112 128x224 256x448] [--quick]
Prints what it measured on this machine; nothing is compared against fixed numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _table import BenchRow, new_parser, run

from worldsim.sim import Camera, Conditions, DrivingPolicy, World

GROUP = "procedural sim"
SCENES = {
    "day clear, light traffic": Conditions("day", "clear", 2, "winding", "light"),
    "night rain, heavy traffic": Conditions("night", "rain", 3, "left", "heavy"),
}
QUICK = {"frames": 30, "sizes": ["64x112"]}


def frame_rate(size: tuple[int, int], conditions: Conditions, frames: int) -> tuple[float, float]:
    """Frames per second for render + policy + step, and the render share of the time."""
    world = World(seed=0, conditions=conditions, camera=Camera(*size))
    policy = DrivingPolicy(np.random.default_rng(0))
    world.render()  # warm caches
    render_s = 0.0
    start = time.perf_counter()
    for _ in range(frames):
        t0 = time.perf_counter()
        world.render()
        render_s += time.perf_counter() - t0
        world.step(policy.act(world))
    total = time.perf_counter() - start
    return frames / total, render_s / total


def parse_size(text: str) -> tuple[int, int]:
    """'64x112' -> (64, 112)."""
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """One row per resolution and scene: frames per second, with the render share in the note."""
    rows = []
    for text in args.sizes:
        h, w = parse_size(text)
        for name, conditions in SCENES.items():
            fps, share = frame_rate((h, w), conditions, args.frames)
            note = f"{name}; render {100 * share:.0f}% of time; {args.frames} frames"
            rows.append(BenchRow(GROUP, f"render+policy+step {h}x{w}", fps, "frames/s", note))
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    parser = new_parser(__doc__, checkpoint=False, store=False)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--sizes", nargs="+", default=["64x112", "128x224", "256x448"])
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, "# procedural world, single process")
