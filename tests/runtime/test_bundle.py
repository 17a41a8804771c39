"""Bundles (safetensors + JSON) and safe checkpoint loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from worldsim.runtime.bundle import MODEL_META, MODEL_WEIGHTS, export_heads, export_world_model
from worldsim.runtime.checkpoint import CheckpointError, load_world_model
from worldsim.runtime.heads import load_eval_heads


def _rollout(model: object) -> np.ndarray:
    ctx = np.random.default_rng(0).integers(0, 256, (1, 2, 64, 112, 3), dtype=np.uint8)
    motion = np.tile(np.array([[[8.0, 0.1]]], np.float32), (1, 3, 1))
    return model.rollout(ctx, motion, "day", generator=torch.Generator().manual_seed(0))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_bundle_rolls_out_exactly_like_its_checkpoint(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    out = export_world_model(ckpt, tmp_path / "bundle", {"recipe": "test"})
    record = json.loads((out / MODEL_META).read_text())
    assert record["recipe"] == "test" and record["worldsim"]["dit"]["depth"] == 1
    bundled = load_world_model(out)
    assert np.array_equal(_rollout(bundled), _rollout(load_world_model(ckpt)))
    assert np.array_equal(_rollout(load_world_model(out / MODEL_META)), _rollout(bundled))


@pytest.mark.slow
def test_heads_bundle_loads(heads_ckpt: Path, tmp_path: Path) -> None:
    out = export_heads(heads_ckpt, tmp_path / "bundle")
    heads = load_eval_heads(out)
    frames = np.zeros((1, 2, 64, 112, 3), np.uint8)
    assert heads.idm.predict(frames).shape == (1, 1, 2)


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.ckpt"
    torch.save({"hyper_parameters": {"worldsim": Payload()}, "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="safely"):
        load_world_model(path)
    assert not marker.exists()


def test_damaged_bundle_files_are_named(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    out = export_world_model(ckpt, tmp_path / "bundle", {})
    (out / MODEL_WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=MODEL_WEIGHTS):
        load_world_model(out)
    (out / MODEL_META).write_text("{broken")
    with pytest.raises(CheckpointError, match=MODEL_META):
        load_world_model(out)


def test_export_adds_driving_heads_to_an_existing_bundle(
    trained: Path, driving_heads_ckpt: Path, tmp_path: Path
) -> None:
    """``worldsim-export`` without ``checkpoint=`` adds heads to a bundle folder, the learned
    env then finds them there, and a folder that is no bundle is refused by name."""
    import subprocess
    import sys

    import gymnasium as gym

    import worldsim

    export = str(Path(sys.executable).with_name("worldsim-export"))
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    bundle = export_world_model(ckpt, tmp_path / "bundle", {"recipe": "test"})
    args = [export, f"driving_heads_ckpt={driving_heads_ckpt}"]
    done = subprocess.run([*args, f"out={bundle}"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    env = gym.make(worldsim.LEARNED_ENV_ID, checkpoint=str(bundle), sampling_steps=1)
    _, info = env.reset(seed=0)
    assert 0.0 <= info["collision_prob"] <= 1.0
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = subprocess.run([*args, f"out={empty}"], capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "is not a model bundle" in refused.stderr + refused.stdout
