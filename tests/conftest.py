"""Shared fixtures: small procedural worlds and stores built with the real components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import write_store
from worldsim.sim import Camera, Conditions, World


@pytest.fixture
def straight_day() -> Conditions:
    return Conditions(time_of_day="day", weather="clear", lanes=2, road="straight", traffic="none")


def make_world(conditions: Conditions, seed: int = 7, size: tuple[int, int] = (64, 112)) -> World:
    return World(seed=seed, conditions=conditions, camera=Camera(*size), start_speed=10.0)


@pytest.fixture(scope="session")
def procedural_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-episode procedural store written in-process."""
    root = tmp_path_factory.mktemp("store") / "procedural"
    source = ProceduralSource(episodes=4, frames=24, seed=3)
    write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    return root


def luminance(frame_HW3: np.ndarray) -> np.ndarray:
    return frame_HW3.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


TRAIN = str(Path(sys.executable).with_name("worldsim-train"))

# Tiny sizes for every training run of the tests: conf/debug/tiny.yaml (a store of 4 x 20
# frames, a one-block DiT of width 32, narrow tokenizer, text encoder and evaluation heads).
# A list, so that callers can splice it into their own argument lists.
TINY = ["debug=tiny"]


def train(root: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run worldsim-train with tiny sizes (``debug=tiny``) under ``root``."""
    args = [
        TRAIN,
        f"paths.runs_dir={root / 'runs'}",
        f"paths.data_dir={root / 'data'}",
        *TINY,
        *overrides,
    ]
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    if check:
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def short_run(experiment: str, clip_len: int, steps: int) -> list[str]:
    """Overrides of a tiny ``experiment`` run of ``steps`` steps on clips of ``clip_len``
    frames, validated and checkpointed every ``steps // 2`` steps."""
    every = steps // 2
    return [
        f"experiment={experiment}",
        f"data.clip_len={clip_len}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={every}",
        f"callbacks.checkpoint.every_n_train_steps={every}",
    ]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with a tiny tokenizer run and a tiny world-model run."""
    root = tmp_path_factory.mktemp("train")
    train(root, *short_run("tokenizer_tiny", clip_len=2, steps=6))
    rollout_callback = ["callbacks.rollout.context_frames=2", "callbacks.rollout.sampling_steps=2"]
    train(root, *short_run("world_model_tiny", clip_len=4, steps=6), *rollout_callback)
    return root


@pytest.fixture(scope="session")
def heads_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last.ckpt of a tiny evaluation-heads run (IDM + condition classifier) on 64x112."""
    root = tmp_path_factory.mktemp("heads")
    train(root, *short_run("eval_heads", clip_len=2, steps=4), "data.stride=2")
    return root / "runs" / "eval_heads" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def driving_heads_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last.ckpt of a tiny driving-heads run on 64x112 frames."""
    root = tmp_path_factory.mktemp("driving_heads")
    train(root, *short_run("driving_heads", clip_len=2, steps=4))
    return root / "runs" / "driving_heads" / "checkpoints" / "last.ckpt"
