"""The model that ships inside the package: defaults, size, format and a regression guard."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

import worldsim
from worldsim.eval.metrics import psnr_frames, repeat_last_frame
from worldsim.eval.procedural import make_start, roll_future
from worldsim.eval.quality import generate
from worldsim.runtime.bundle import bundled_model_dir

EVAL_SEED = 1  # the held-out evaluation seed of docs/evaluation.md


def test_the_bundle_is_small_and_holds_no_pickle() -> None:
    folder = bundled_model_dir()
    files = [p for p in folder.iterdir() if p.is_file()]
    assert {p.suffix for p in files} <= {".safetensors", ".json", ".md", ".png"}
    assert sum(p.stat().st_size for p in files) <= 30 * 2**20
    record = worldsim.load_world_model().metadata
    assert record["checkpoint"] == str(folder)


def test_gym_make_and_make_vec_with_no_checkpoint_use_the_bundled_model() -> None:
    env = gym.make("worldsim/DrivingWorld-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 112, 3) and obs.dtype == np.uint8
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert obs.shape == (64, 112, 3) and np.isfinite(reward)
    env.close()
    vec = gym.make_vec("worldsim/DrivingWorld-v0", num_envs=2)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, 64, 112, 3)
    vec.close()


def test_bundled_model_beats_repeat_last_frame_at_1_and_5_steps_on_held_out_starts() -> None:
    model = worldsim.load_world_model()
    starts = [
        make_start(EVAL_SEED * 100_003 + i, model.resolution, model.dt, 4, 20) for i in range(8)
    ]
    futures = [roll_future(s, 5, None) for s in starts]
    context = np.stack([s.context_THWC for s in starts])
    truth = np.stack([f.frames_HHWC for f in futures])
    generated = generate(
        model,
        context,
        np.stack([s.past_motion_T2 for s in starts]),
        np.stack([f.motion_H2 for f in futures]),
        [s.conditions.caption() for s in starts],
        torch.Generator().manual_seed(0),
    )
    repeat = repeat_last_frame(context[:, -1], 5)
    for step in (1, 5):
        ours = psnr_frames(generated[:, step - 1], truth[:, step - 1]).mean()
        copy = psnr_frames(repeat[:, step - 1], truth[:, step - 1]).mean()
        assert ours > copy, (step, ours, copy)
