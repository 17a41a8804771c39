"""Model-free action measures computed from pixels alone, to check the IDM.

- Steering: the horizontal shift of the lower half of the image (road and verge) between
  consecutive frames, by phase correlation (Kuglin and Hines 1975). Turning left moves the
  scene to the right in the image, so the shift is positive for a left turn.
- Speed: the mean absolute change of the lower half between consecutive frames, after a 4×4
  average pool that removes rain and snow particles (they change every frame whatever the
  speed). Markings, verge and traffic move through the image faster when the car is faster.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
POOL = 4  # pixels per side of the average pool before the speed measure


def _road_luma(frames_NHWC: np.ndarray) -> np.ndarray:
    """Luma of the lower half of each frame, float32 ``(N, H/2, W)``."""
    h = frames_NHWC.shape[-3]
    return (frames_NHWC[..., h // 2 :, :, :].astype(np.float32) @ LUMA) / 255.0


def horizontal_shift(a_NHWC: np.ndarray, b_NHWC: np.ndarray) -> np.ndarray:
    """Sub-pixel horizontal shift (pixels, positive = content moved right) from ``a`` to ``b``.

    Phase correlation of the per-row-centred, Hann-windowed lower halves, restricted to
    horizontal shifts: the cross-power spectrum is averaged over rows (1-D FFT along x), the
    peak of its inverse is refined by a parabola through its neighbours.
    """
    if a_NHWC.shape != b_NHWC.shape or a_NHWC.ndim != 4:
        raise ValueError(f"need two (N, H, W, 3) arrays of one shape, got {a_NHWC.shape}")
    a, b = _road_luma(a_NHWC), _road_luma(b_NHWC)  # (N, h, W)
    w = a.shape[-1]
    window = np.hanning(w).astype(np.float32)
    a = (a - a.mean(axis=-1, keepdims=True)) * window
    b = (b - b.mean(axis=-1, keepdims=True)) * window
    fa, fb = np.fft.rfft(a, axis=-1), np.fft.rfft(b, axis=-1)
    cross = (np.conj(fa) * fb).sum(axis=1)  # (N, W/2+1), summed over rows
    cross /= np.abs(cross) + 1e-9
    corr = np.fft.irfft(cross, n=w, axis=-1)  # (N, W)
    corr = np.fft.fftshift(corr, axes=-1)
    peak = corr.argmax(axis=-1)
    idx = np.arange(len(peak))
    left = corr[idx, np.clip(peak - 1, 0, w - 1)]
    mid = corr[idx, peak]
    right = corr[idx, np.clip(peak + 1, 0, w - 1)]
    denom = left - 2 * mid + right
    offset = np.where(
        np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0
    )
    return (peak - w // 2 + offset).astype(np.float64)


def _pool(x_NHW: np.ndarray, k: int = POOL) -> np.ndarray:
    n, h, w = x_NHW.shape
    x = x_NHW[:, : h // k * k, : w // k * k]
    return x.reshape(n, h // k, k, w // k, k).mean(axis=(2, 4))


def image_change(a_NHWC: np.ndarray, b_NHWC: np.ndarray) -> np.ndarray:
    """Mean absolute change of the 4×4-pooled luma of the lower half from ``a`` to ``b``."""
    change = np.abs(_pool(_road_luma(b_NHWC)) - _pool(_road_luma(a_NHWC)))
    return change.mean(axis=(-2, -1)).astype(np.float64)


def pixel_motion(context_last_RHWC: np.ndarray, frames_RNHWC: np.ndarray) -> np.ndarray:
    """Per row and step ``[image change, horizontal shift]`` ``(R, N, 2)``: stand-ins for speed
    and yaw rate that follow the same order as the commanded motion."""
    prev = np.concatenate([context_last_RHWC[:, None], frames_RNHWC[:, :-1]], axis=1)
    r, n = frames_RNHWC.shape[:2]
    flat_prev = prev.reshape(r * n, *prev.shape[2:])
    flat_next = frames_RNHWC.reshape(r * n, *frames_RNHWC.shape[2:])
    out = np.stack([image_change(flat_prev, flat_next), horizontal_shift(flat_prev, flat_next)], -1)
    return out.reshape(r, n, 2)
