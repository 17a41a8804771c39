"""Drive the simulator under a policy and record its camera: the one warm-up-and-record loop."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from worldsim.sim.policies import lane_keeping_action
from worldsim.sim.world import World

# Simulator-level policies see the whole world (privileged state), unlike env-level policies,
# which see observations (worldsim.utils.loading.Policy).
SimPolicy = Callable[[World], np.ndarray]


def lane_keeper(world: World) -> SimPolicy:
    """Keep the current lane at the current speed (the scenario and env warm-up driver)."""
    target_d = float(world.road.lane_center(world.road.lane_of(world.state.d)))
    speed = world.state.ego.speed
    return lambda w: lane_keeping_action(w, target_d, speed)


def record(
    world: World, policy: SimPolicy, warmup_steps: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Step ``warmup_steps`` unrecorded, then render ``frames`` frames with a step between each.

    Returns uint8 frames ``(frames, H, W, 3)`` and the ego motion between them ``(frames-1, 2)``;
    the world is left at the last recorded frame.
    """
    if warmup_steps < 0 or frames < 0:
        raise ValueError(f"warmup_steps={warmup_steps} and frames={frames} must be >= 0")
    for _ in range(warmup_steps):
        world.step(policy(world))
    images, motions = [], []
    for k in range(frames):
        if k:
            motions.append(world.step(policy(world)))
        images.append(world.render())
    cam = world.camera
    frames_THWC = np.stack(images) if images else np.zeros((0, cam.height, cam.width, 3), np.uint8)
    return frames_THWC, np.asarray(motions, dtype=np.float32).reshape(-1, 2)
