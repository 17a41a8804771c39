"""Faults: worldsim-data killed at 10 random moments and worldsim-train at 5 leave a valid
store and a run that resumes with its global step; 2,000 env steps keep memory flat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.conftest import TINY
from tests.fuzz.helpers import count
from worldsim.data.store import EpisodeStore

BIN = Path(sys.executable).parent


def _kill_after(args: list[str], seconds: float, cwd: Path) -> None:
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the kill reaches the writer's worker processes too
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _verify(root: Path) -> int:
    store = EpisodeStore(root)
    for key in store.keys():
        store.episode(key)  # every listed episode is complete and matches its digests
    return len(store)


@pytest.mark.slow
def test_data_writer_killed_at_ten_random_moments(tmp_path: Path) -> None:
    root = tmp_path / "store"
    args = [str(BIN / "worldsim-data"), f"out={root}", "episodes=8", "frames=30", "workers=2"]
    args.append("progress=false")
    rng = np.random.default_rng(16)
    sizes = []
    for moment in rng.uniform(1.0, 6.0, size=10):
        _kill_after(args, float(moment), tmp_path)
        if (root / "manifest.json").exists():
            sizes.append(_verify(root))
        count("kills_survived")
    assert sizes == sorted(sizes)  # finished episodes are never lost
    subprocess.run(args, check=True, capture_output=True, timeout=600)
    assert _verify(root) == 8


@pytest.mark.slow
def test_training_killed_at_five_random_moments_resumes_with_its_step(tmp_path: Path) -> None:
    args = [
        str(BIN / "worldsim-train"),
        f"paths.runs_dir={tmp_path / 'runs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        *TINY,
        "experiment=world_model_tiny",
        "tokenizer=patch2",
        "~tokenizer.base_channels",  # debug=tiny narrows the conv tokenizer; patch2 has none
        "tokenizer_ckpt=null",
        "run_name=faults",
        "trainer.max_steps=60",
        "trainer.val_check_interval=1000",
        "callbacks.checkpoint.every_n_train_steps=2",
        "callbacks.rollout=null",
        "ckpt_path=last",
    ]
    last = tmp_path / "runs" / "faults" / "checkpoints" / "last.ckpt"
    rng = np.random.default_rng(5)
    steps = []
    for moment in rng.uniform(8.0, 16.0, size=5):
        _kill_after(args, float(moment), tmp_path)
        if last.exists():
            steps.append(int(torch.load(last, weights_only=True)["global_step"]))
        count("kills_survived")
    assert steps and steps == sorted(steps), steps  # the step never goes back
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stdout
    assert int(torch.load(last, weights_only=True)["global_step"]) == 60


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("worldsim/ProceduralDriving-v0", {}), ("worldsim/DrivingWorld-v0", {"sampling_steps": 1})],
)
def test_two_thousand_env_steps_keep_memory_flat(env_id: str, kwargs: dict) -> None:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    start = 0.0
    for step in range(2200):
        if step == 200:  # after warm-up: allocator pools and caches are in place
            start = _rss_mib()
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    growth = _rss_mib() - start
    env.close()
    assert growth <= 64, f"{env_id}: RSS grew {growth:.1f} MiB over 2,000 steps"
    count("env_steps_memory_checked", 2000)
