"""The one warm-up-and-record loop of the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.sim.policies import DrivingPolicy
from worldsim.sim.recording import lane_keeper, record
from worldsim.sim.world import World


def test_record_returns_frames_and_the_motion_between_them() -> None:
    world = World(seed=2)
    frames, motion = record(world, lane_keeper(world), warmup_steps=5, frames=4)
    assert frames.shape == (4, 64, 112, 3) and frames.dtype == np.uint8
    assert motion.shape == (3, 2) and (motion[:, 0] > 0).all()
    assert world.state.step == 8  # 5 warm-up steps and 3 between the frames
    assert np.array_equal(frames[-1], world.render())  # left at the last recorded frame


def test_record_is_deterministic_under_a_seeded_policy_and_checks_counts() -> None:
    runs = []
    for _ in range(2):
        world = World(seed=7)
        policy = DrivingPolicy(np.random.default_rng(1))
        runs.append(record(world, policy.act, warmup_steps=3, frames=3))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    warm = World(seed=7)
    frames, motion = record(warm, lane_keeper(warm), warmup_steps=2, frames=0)
    assert frames.shape == (0, 64, 112, 3) and motion.shape == (0, 2)
    with pytest.raises(ValueError, match="frames=-1"):
        record(warm, lane_keeper(warm), warmup_steps=0, frames=-1)
