"""worldsim-rollout and the PyAV video recorder."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym

import worldsim
from tests.cli_helpers import run_cli
from worldsim.data.video import read_video
from worldsim.env.recorder import VideoRecorder


def test_rollout_writes_video_sheet_and_csv_per_scenario(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    proc = run_cli(
        "worldsim-rollout",
        f"checkpoint={ckpt}",
        "scenarios=[hard_braking,lane_change_left,snow_rural]",
        "policy=constant",
        "constant_action=[0.1,0.2]",
        "steps=5",
        "sampling_steps=1",
        "context_frames=2",
        "out=out",
        "progress=false",
        "prompt='night, fog'",
        cwd=tmp_path,
        check=True,
    )
    for name in ("hard_braking", "lane_change_left", "snow_rural"):
        folder = tmp_path / "out" / name
        assert read_video(folder / "rollout.mp4").shape == (6, 64, 112, 3)
        assert (folder / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"
        with open(folder / "steps.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 5 and abs(float(rows[0]["action_1"]) - 0.2) < 1e-6
        assert (folder / "prompt.txt").read_text().strip() == "night, fog"
        assert f"wrote out/{name}/rollout.mp4" in proc.stdout


def test_rollout_rejects_scripted_policy_without_script(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    proc = run_cli(
        "worldsim-rollout",
        f"checkpoint={ckpt}",
        "scenarios=[snow_rural]",
        "policy=scripted",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "snow_rural" in proc.stderr and "policy=random" in proc.stderr


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
