"""Frame metrics on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.eval import metrics
from worldsim.eval.quality import counterfactual, order_agreement


def test_repeat_last_frame_on_a_hand_made_case() -> None:
    h, w = 16, 16
    last = np.zeros((2, h, w, 3), np.uint8)
    last[0] = 10
    last[1] = 200
    pred = metrics.repeat_last_frame(last, 3)
    assert pred.shape == (2, 3, h, w, 3)
    assert (pred[0] == 10).all() and (pred[1] == 200).all()
    # true future: row 0 brightens by 5 per step, row 1 stays put
    truth = np.stack(
        [
            np.stack([np.full((h, w, 3), 10 + 5 * (t + 1), np.uint8) for t in range(3)]),
            np.stack([np.full((h, w, 3), 200, np.uint8) for _ in range(3)]),
        ]
    )
    value = metrics.psnr_frames(pred, truth)
    expected = [10 * np.log10(255.0**2 / (5.0 * (t + 1)) ** 2) for t in range(3)]
    np.testing.assert_allclose(value[0], expected)
    np.testing.assert_allclose(value[1], metrics.PSNR_CAP)
    with pytest.raises(ValueError, match="horizon"):
        metrics.repeat_last_frame(last, 0)
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        metrics.repeat_last_frame(last[0], 2)


def test_psnr_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr_frames(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 9, 3), np.uint8))


def test_ssim_is_one_for_identical_frames_and_drops_with_noise() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 32, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(metrics.ssim_frames(a, a), 1.0, atol=1e-12)
    noisy = np.clip(a.astype(int) + rng.normal(0, 30, a.shape), 0, 255).astype(np.uint8)
    very = np.clip(a.astype(int) + rng.normal(0, 90, a.shape), 0, 255).astype(np.uint8)
    s1, s2 = metrics.ssim_frames(a, noisy), metrics.ssim_frames(a, very)
    assert s1.shape == (3,)
    assert (s2 < s1).all() and (s1 < 1.0).all()
    # luminance term alone: flat frames of means 64 and 104 give 2*64*104 / (64^2 + 104^2)
    flat_a = np.full((1, 16, 16, 3), 64, np.uint8)
    flat_b = np.full((1, 16, 16, 3), 104, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 64 * 104 + c1) / (64**2 + 104**2 + c1)
    np.testing.assert_allclose(metrics.ssim_frames(flat_a, flat_b), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim_frames(a[:, :8, :8], a[:, :8, :8])


def test_frechet_distance_of_gaussians() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (4000, 3))
    b = rng.normal(0, 1, (4000, 3)) + np.array([2.0, 0.0, 0.0])
    # identical distributions: close to 0; a mean shift of 2: close to |2|^2 = 4
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)
    # scaled covariance: FD = d * (sigma_a - sigma_b)^2 = 3 * (1 - 2)^2
    c = rng.normal(0, 2, (4000, 3))
    assert metrics.frechet_distance(a, c) == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(a[:1], b)


def test_out_of_range_flags_collapsed_frames() -> None:
    rng = np.random.default_rng(2)
    real = rng.integers(60, 200, (200, 8, 8, 3), dtype=np.uint8)
    bounds = metrics.stat_bounds(metrics.frame_stats(real))
    grey = np.full((10, 8, 8, 3), 128, np.uint8)  # no contrast at all
    black = np.zeros((10, 8, 8, 3), np.uint8)
    assert metrics.out_of_range_fraction(metrics.frame_stats(black), bounds) == 1.0
    assert metrics.out_of_range_fraction(metrics.frame_stats(grey), bounds) == 1.0
    assert metrics.out_of_range_fraction(metrics.frame_stats(real), bounds) < 0.15


def test_horizon_buckets() -> None:
    assert metrics.horizon_buckets(600, [10, 30, 60, 150, 300, 600]) == [
        (1, 10),
        (11, 30),
        (31, 60),
        (61, 150),
        (151, 300),
        (301, 600),
    ]
    assert metrics.horizon_buckets(20, [10, 30]) == [(1, 10), (11, 20)]


def test_counterfactual_ranking() -> None:
    assert order_agreement(np.array([0.3, 0.0, -0.2]), np.array([0.5, 0.0, -0.5]))
    assert not order_agreement(np.array([0.0, 0.3, -0.2]), np.array([0.5, 0.0, -0.5]))
    motion = np.zeros((5, 4, 2))
    motion[[0, 1, 2], :, 1] = [[0.3], [0.0], [-0.3]]
    motion[[3, 4], :, 0] = [[2.0], [9.0]]
    est = motion.copy()
    est[2, :, 1] = 0.5  # "right" estimated as the strongest left turn: wrong order
    out = counterfactual({"steer": [[0, 1, 2]], "speed": [[3, 4]]}, est, motion, 4)
    assert out.steer_order_accuracy == 0.0 and out.speed_order_accuracy == 1.0
    assert out.steer_pair_accuracy == 0.0  # "right" above "left"
    est[2, :, 1] = -0.5  # now the right order
    out = counterfactual({"steer": [[0, 1, 2]], "speed": [[3, 4]]}, est, motion, 4)
    assert out.steer_pair_accuracy == 1.0
