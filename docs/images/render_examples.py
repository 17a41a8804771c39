"""Regenerate the example images in docs/images: python docs/images/render_examples.py"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldsim.sim import Camera, Conditions, DrivingPolicy, World
from worldsim.utils.png import write_png

HERE = Path(__file__).resolve().parent


def frame_after(conditions: Conditions, seed: int, steps: int, size=(128, 224)) -> np.ndarray:
    world = World(seed=seed, conditions=conditions, camera=Camera(*size))
    policy = DrivingPolicy(np.random.default_rng(seed))
    for _ in range(steps):
        world.step(policy.act(world))
    return world.render()


def main() -> None:
    grid = [
        [
            ("day", "clear", 2, "left", "moderate"),
            ("dusk", "clear", 3, "winding", "heavy"),
            ("night", "clear", 2, "straight", "moderate"),
        ],
        [
            ("day", "rain", 3, "right", "light"),
            ("day", "fog", 2, "winding", "moderate"),
            ("day", "snow", 1, "left", "light"),
        ],
    ]
    rows = [
        np.concatenate([frame_after(Conditions(*c), seed=4, steps=40) for c in row], axis=1)
        for row in grid
    ]
    write_png(HERE / "conditions.png", np.concatenate(rows, axis=0))

    start = World(
        seed=2,
        conditions=Conditions("day", "clear", 2, "straight", "light"),
        camera=Camera(128, 224),
        start_speed=12.0,
    )
    branches = []
    for steer in (0.6, 0.0, -0.6):
        world = start.clone()
        frames = []
        for t in range(12):
            world.step(np.array([steer, 0.0]))
            if t % 4 == 3:
                frames.append(world.render())
        branches.append(np.concatenate(frames, axis=1))
    write_png(HERE / "steering_branches.png", np.concatenate(branches, axis=0))
    write_png(
        HERE / "high_res.png",
        frame_after(
            Conditions("dusk", "rain", 4, "left", "heavy"), seed=9, steps=60, size=(256, 448)
        ),
    )


if __name__ == "__main__":
    main()
