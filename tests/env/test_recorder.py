"""The PyAV video recorder wrapper writes one mp4 per episode."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

import worldsim
from worldsim.data.video import read_video
from worldsim.env.recorder import VideoRecorder


def test_video_recorder_writes_one_mp4_per_episode(tmp_path: Path) -> None:
    env = VideoRecorder(
        gym.make(worldsim.PROCEDURAL_ENV_ID, render_mode="rgb_array", horizon=4), tmp_path
    )
    for seed in (0, 1):
        env.reset(seed=seed)
        for _ in range(4):
            env.step(env.action_space.sample())
    env.close()
    assert [p.name for p in env.paths] == ["rollout-episode-0.mp4", "rollout-episode-1.mp4"]
    assert read_video(env.paths[0]).shape == (5, 64, 112, 3)
