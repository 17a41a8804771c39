"""Frames per second of the procedural world, render and step, at several resolutions.

Usage: python benchmarks/sim_fps.py [--frames 200] [--sizes 64x112 128x224 256x448]
Prints what it measured on this machine; nothing is compared against fixed numbers.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from worldsim.sim import Camera, Conditions, DrivingPolicy, World

SCENES = {
    "day clear, light traffic": Conditions("day", "clear", 2, "winding", "light"),
    "night rain, heavy traffic": Conditions("night", "rain", 3, "left", "heavy"),
}


def measure(size: tuple[int, int], conditions: Conditions, frames: int) -> tuple[float, float]:
    """Returns (frames per second for render + policy + step, render share of the time)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--sizes", nargs="+", default=["64x112", "128x224", "256x448"])
    args = parser.parse_args()
    print(f"# procedural world, single process, {platform.processor() or platform.machine()}")
    print(f"{'resolution':>11}  {'scene':<28} {'frames/s':>9} {'render %':>9}")
    for text in args.sizes:
        h, w = (int(v) for v in text.lower().split("x"))
        for name, cond in SCENES.items():
            fps, share = measure((h, w), cond, args.frames)
            print(f"{h:>5}x{w:<5}  {name:<28} {fps:>9.1f} {100 * share:>8.0f}%")


if __name__ == "__main__":
    main()
