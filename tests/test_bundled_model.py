"""The model that ships inside the package: defaults, size, format and a regression guard."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

import worldsim
from worldsim.eval.ground_truth import make_start, roll_future
from worldsim.eval.metrics import changed_pixel_psnr, psnr_frames, repeat_last_frame
from worldsim.eval.pixel_motion import horizontal_shift
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


def test_bundled_model_regression_guard_on_held_out_starts() -> None:
    # Guards the measured level of the bundled model (docs/world-model.md): it beats
    # repeat-last-frame on the pixels that change, and stays within 1.5 dB of it on all pixels
    # at 1 and 5 steps. (The quality target, beating repeat-last on all pixels, is not met yet.)
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
    last = np.broadcast_to(context[:, -1:], truth.shape)
    for step in (1, 5):
        i = step - 1
        ours = psnr_frames(generated[:, i], truth[:, i]).mean()
        copy = psnr_frames(repeat[:, i], truth[:, i]).mean()
        assert ours > copy - 1.5, (step, ours, copy)
        ours_changed = np.nanmean(changed_pixel_psnr(generated[:, i], truth[:, i], last[:, i]))
        copy_changed = np.nanmean(changed_pixel_psnr(repeat[:, i], truth[:, i], last[:, i]))
        assert ours_changed > copy_changed, (step, ours_changed, copy_changed)


def test_bundled_model_turns_the_view_with_the_steering_on_held_out_starts() -> None:
    # The same start under a left turn, straight on and a right turn (yaw rate +-0.2 rad/s for
    # three frames): the road must move right, not at all, and left in the image, in that order.
    model = worldsim.load_world_model()
    starts = [
        make_start(EVAL_SEED * 100_003 + i, model.resolution, model.dt, 4, 20) for i in range(4)
    ]
    context = np.stack([s.context_THWC for s in starts])
    past = np.stack([s.past_motion_T2 for s in starts])
    prompts = [s.conditions.caption() for s in starts]
    speed = past[:, -1:, :1]  # (B, 1, 1) keep the last speed
    shifts = []
    for yaw in (0.2, 0.0, -0.2):
        motion = np.concatenate([np.repeat(speed, 3, 1), np.full((4, 3, 1), yaw)], -1)
        frames = generate(
            model,
            context,
            past,
            motion.astype(np.float32),
            prompts,
            torch.Generator().manual_seed(0),
        )
        shifts.append(horizontal_shift(context[:, -1], frames[:, -1]))
    left, straight, right = shifts
    ordered = (left > straight) & (straight > right)
    # 3 of 4: on start 2 (night, the headlight pool fixed to the camera) phase correlation
    # reads +15 px for the right turn, although the scene visibly moves left; over 48 held-out
    # starts the report's pixel order is 0.917.
    assert ordered.sum() >= 3, shifts
