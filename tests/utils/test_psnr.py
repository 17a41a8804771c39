"""PSNR: one formula (``psnr_db``) behind the per-frame, whole-array and tensor forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.eval import metrics
from worldsim.utils.psnr import PSNR_CAP, psnr, psnr_db, psnr_frames, psnr_tensor


def test_psnr_db_is_the_definition_with_an_optional_cap() -> None:
    mse = torch.tensor([255.0**2 / 100, 0.0], dtype=torch.float64)
    np.testing.assert_allclose(psnr_db(mse, 255.0).numpy(), [20.0, np.inf])
    np.testing.assert_allclose(psnr_db(mse, 255.0, cap=15.0).numpy(), [15.0, 15.0])


def test_whole_array_psnr() -> None:
    a = np.zeros((4, 4), np.uint8)
    assert psnr(a, a) == float("inf")
    b = a.copy()
    b[0, 0] = 255  # mse = 255^2 / 16
    assert psnr(a, b) == pytest.approx(10 * np.log10(16))
    assert psnr(a.astype(np.float64), b / 255.0, max_value=1.0) == pytest.approx(10 * np.log10(16))
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(a, a[:2])


def test_per_frame_psnr_is_the_evaluation_metric() -> None:
    """``psnr_frames`` gives what ``worldsim.eval.metrics.psnr_frames`` gives, so that the
    evaluation can import it from here."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 3, 8, 10, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    b[1, 2] = a[1, 2]  # one identical pair: capped
    value = psnr_frames(a, b)
    assert value.shape == (2, 3) and value[1, 2] == PSNR_CAP == metrics.PSNR_CAP
    np.testing.assert_allclose(value, metrics.psnr_frames(a, b), rtol=1e-12)
    assert psnr_frames(a[0, 0], b[0, 0]) == pytest.approx(
        float(metrics.psnr_frames(a[0, 0], b[0, 0]))
    )
    with pytest.raises(ValueError, match="same shape"):
        psnr_frames(a, b[..., :9, :])
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, 3\)"):
        psnr_frames(a[..., :2], b[..., :2])


def test_tensor_psnr_clips_to_the_unit_range_and_floors_the_mse() -> None:
    a = torch.zeros(1, 3, 4, 4)
    assert float(psnr_tensor(a, a + 0.2)) == pytest.approx(10 * np.log10(4 / 0.04), abs=1e-4)
    assert float(psnr_tensor(a, a)) == pytest.approx(10 * np.log10(4e10), abs=1e-3)  # MSE floor
    assert float(psnr_tensor(a + 5.0, a + 1.0)) == float(psnr_tensor(a, a))  # both clip to 1
    x = torch.zeros(2, requires_grad=True)
    assert not psnr_tensor(x, x + 0.5).requires_grad  # a logged value, detached
