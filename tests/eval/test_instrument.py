"""The measuring instrument: pixel-based motion, changed-pixel PSNR, action following and
bootstrap intervals, on hand-made cases and on the real procedural world."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.eval.ground_truth import make_start, roll_future
from worldsim.eval.intervals import bootstrap_interval, mean_with_interval
from worldsim.eval.metrics import changed_pixel_psnr, psnr_frames
from worldsim.eval.pixel_motion import horizontal_shift, image_change, pixel_motion
from worldsim.eval.quality import RolloutSet, action_following, counterfactual


def test_horizontal_shift_recovers_a_known_shift_with_its_sign() -> None:
    img = np.random.default_rng(0).integers(0, 256, (2, 64, 130, 3), dtype=np.uint8)
    a = img[:, :, 8:120]
    for shift in (1, 3, -2):
        b = img[:, :, 8 - shift : 120 - shift]  # content moved right by `shift`
        assert np.allclose(horizontal_shift(a, b), shift, atol=0.1)
    assert np.allclose(image_change(a, a), 0.0)


def test_changed_pixel_psnr_cannot_reward_copying() -> None:
    rng = np.random.default_rng(1)
    last = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    truth = last.copy()
    truth[:, :8] = 255 - truth[:, :8]  # half of the image changes a lot
    copy = changed_pixel_psnr(last, truth, last)
    perfect = changed_pixel_psnr(truth, truth, last)
    assert (copy < 10).all() and (perfect == 100.0).all()
    assert (psnr_frames(last, truth) > copy).all()  # plain PSNR credits the unchanged half
    assert np.isnan(changed_pixel_psnr(last, last, last)).all()  # nothing changed


def test_action_following_on_hand_made_rollouts() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 256, (3, 4, 8, 8, 3), dtype=np.uint8)
    motion = np.stack([np.full((4, 2), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    groups = np.zeros(3, dtype=int)
    follows = RolloutSet(truth[:, 0], truth.copy(), truth, motion, groups)
    assert action_following(follows, 4).score["mean"] == 1.0
    ignores = RolloutSet(truth[:, 0], truth[[0, 0, 0]], truth, motion, groups)
    assert action_following(ignores, 4).score["mean"] < 0.5


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_agreement() -> None:
    values = np.random.default_rng(3).normal(5.0, 1.0, 48)
    summary = mean_with_interval(values)
    assert summary["low"] < summary["mean"] < summary["high"]
    assert bootstrap_interval(np.full(48, 2.0)) == (2.0, 2.0)


def test_pixel_measure_orders_true_counterfactuals() -> None:
    # Ground truth must be ordered by the model-free measure: left > straight > right in
    # image shift and accelerate > brake in image change, from the same start states.
    contexts, rows, motions, lasts = 6, [], [], []
    for i in range(contexts):
        start = make_start(9_000 + i, (64, 112), 0.1, 2, 20)
        for kind in ("left", "straight", "right", "brake", "accelerate"):
            future = roll_future(start, 10, kind, 10)
            rows.append(future.frames_HHWC)
            motions.append(future.motion_H2)
            lasts.append(start.context_THWC[-1])
    frames, motion, last = np.stack(rows), np.stack(motions), np.stack(lasts)
    estimates = pixel_motion(last, frames)
    steer = [[5 * i, 5 * i + 1, 5 * i + 2] for i in range(contexts)]
    speed = [[5 * i + 3, 5 * i + 4] for i in range(contexts)]
    result = counterfactual({"steer": steer, "speed": speed}, estimates, motion, 10)
    assert result.steer_order_accuracy == 1.0
    assert result.speed_order_accuracy == 1.0


def test_drift_frechet_reference_is_the_rollouts_own_truth() -> None:
    # Two night drives against a reference of day drives: measured against other drives, the
    # true frames would be as far away as any generated ones. Against the rollouts' own true
    # frames the truth is near, and frames that lose the look are far.
    from worldsim.eval.quality import drift
    from worldsim.runtime.heads import load_eval_heads

    heads = load_eval_heads("worldsim/assets/pretrained")

    def drives(seeds: tuple[int, ...]) -> np.ndarray:
        starts = [make_start(seed, (64, 112), 0.1, 2, 20) for seed in seeds]
        return np.stack([roll_future(s, 20, None).frames_HHWC for s in starts])

    truth = drives((9102, 9106))  # two night drives (the seed draws the conditions)
    day_frames = drives((9101, 9103)).reshape(-1, 64, 112, 3)  # two day drives
    washed = (truth.astype(np.int16) // 2 + 100).astype(np.uint8)  # the look fades to grey
    same = drift(heads, truth, truth, day_frames, [10, 20])
    faded = drift(heads, washed, truth, day_frames, [10, 20])
    assert same.fd_reference_frames == truth[:, :20].size // (64 * 112 * 3)
    for b_same, b_faded in zip(same.buckets, faded.buckets, strict=True):
        assert b_same.fd_generated == b_same.fd_truth  # the truth scores as the truth
        assert b_faded.fd_truth == b_same.fd_truth  # the reference does not move with the model
        assert b_faded.fd_generated > 10 * b_faded.fd_truth


def test_switched_weather_is_reported_per_change_of_weather() -> None:
    # True drives are judged against their own weather (the switch "took") and against the
    # weather the eval would switch them to (it did not): each change of weather gets its own
    # row, with its number of rollouts.
    from worldsim.eval.ground_truth import switched_conditions
    from worldsim.eval.quality import weather_by_change
    from worldsim.runtime.heads import load_eval_heads

    heads = load_eval_heads("worldsim/assets/pretrained")
    starts = [make_start(seed, (64, 112), 0.1, 2, 20) for seed in range(9101, 9107)]
    frames = np.stack([roll_future(s, 4, None).frames_HHWC for s in starts])
    own = [s.conditions.to_dict() for s in starts]
    other = [switched_conditions(s.conditions).to_dict() for s in starts]

    took = weather_by_change(heads, frames, other, own)
    missed = weather_by_change(heads, frames, own, other)
    assert sum(v["rollouts"] for v in took.values()) == len(starts)
    assert set(took) == {
        f"{o['weather']} -> {n['weather']}" for o, n in zip(other, own, strict=True)
    }
    assert list(missed) == sorted(missed)
    assert all(v["weather_accuracy"] >= 0.75 for v in took.values())
    assert all(v["weather_accuracy"] <= 0.25 for v in missed.values())
    with pytest.raises(ValueError, match="6 rollouts need as many conditions, got 3"):
        weather_by_change(heads, frames, own, other[:3])


def test_per_group_means_skip_nans_and_leave_an_empty_group_nan_without_a_warning() -> None:
    import warnings

    from worldsim.eval.quality import per_group

    values = np.array([1.0, np.nan, 3.0, np.nan, np.nan])
    groups = np.array([2, 2, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" would fail here
        out = per_group(values, groups)
    np.testing.assert_array_equal(out, [3.0, np.nan, 1.0])
