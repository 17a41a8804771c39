"""Frame metrics: PSNR, SSIM, the repeat-last-frame baseline, Fréchet distance and the
out-of-range (collapse) test. Inputs are uint8 frames ``(..., H, W, 3)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from worldsim.utils.psnr import PSNR_CAP, psnr_db, psnr_frames  # noqa: F401 - re-exported

LUMA = np.array([0.299, 0.587, 0.114])
STAT_NAMES: tuple[str, ...] = ("luma_mean", "luma_std", "red_mean", "green_mean", "blue_mean")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(
            f"frames must be two arrays of the same shape (..., H, W, 3), got {a.shape} and "
            f"{b.shape}"
        )


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)  # (size, size)


def ssim_frames(a: np.ndarray, b: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, per RGB channel, averaged)
    of each frame pair, shape ``a.shape[:-3]``."""
    _check_pair(a, b)
    lead = a.shape[:-3]
    h, w = a.shape[-3:-1]
    if min(h, w) < 11:
        raise ValueError(f"SSIM needs frames of at least 11x11 pixels, got {h}x{w}")
    fa = a.reshape(-1, h, w, 3)
    fb = b.reshape(-1, h, w, 3)
    g = _gaussian_window()[5] / _gaussian_window()[5].sum()  # the separable 1-D factor (11,)
    row = g.to(torch.float64).reshape(1, 1, 1, 11).expand(3, 1, 1, 11)
    col = g.to(torch.float64).reshape(1, 1, 11, 1).expand(3, 1, 11, 1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for start in range(0, fa.shape[0], batch_size):
        x = torch.from_numpy(fa[start : start + batch_size]).to(torch.float64)
        y = torch.from_numpy(fb[start : start + batch_size]).to(torch.float64)
        x = rearrange(x, "n h w c -> n c h w")
        y = rearrange(y, "n h w c -> n c h w")

        def blur(z: torch.Tensor) -> torch.Tensor:  # the 11x11 Gaussian as two 1-D passes
            return F.conv2d(F.conv2d(z, row, groups=3), col, groups=3)

        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx**2
        vy = blur(y * y) - my**2
        cov = blur(x * y) - mx * my
        num = (2 * mx * my + c1) * (2 * cov + c2)
        den = (mx**2 + my**2 + c1) * (vx + vy + c2)
        out.append((num / den).mean(dim=(1, 2, 3)).numpy())
    return np.concatenate(out).reshape(lead)


def repeat_last_frame(context_last: np.ndarray, horizon: int) -> np.ndarray:
    """The "repeat last frame" prediction: ``(B, H, W, 3)`` context frames repeated over
    ``horizon`` steps, ``(B, horizon, H, W, 3)``."""
    if context_last.ndim != 4:
        raise ValueError(f"context_last must be (B, H, W, 3), got {context_last.shape}")
    if horizon < 1:
        raise ValueError(f"horizon={horizon} must be >= 1")
    return np.repeat(context_last[:, None], horizon, axis=1)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``:
    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``."""
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(
            f"the Fréchet distance needs at least 2 samples per set, got {a.shape[0]} and "
            f"{b.shape[0]}"
        )
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov(a, rowvar=False)
    cov_b = np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b))
    return max(value - 2.0 * trace_root, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    eig, vec = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vec * np.sqrt(np.clip(eig, 0.0, None))) @ vec.T


def frame_stats(frames: np.ndarray) -> np.ndarray:
    """Per-frame colour statistics ``(N, 5)`` (see ``STAT_NAMES``) of frames ``(..., H, W, 3)``."""
    flat = frames.reshape(-1, *frames.shape[-3:]).astype(np.float64)
    luma = flat @ LUMA  # (N, H, W)
    channel_means = flat.mean(axis=(1, 2))  # (N, 3)
    return np.column_stack([luma.mean(axis=(1, 2)), luma.std(axis=(1, 2)), channel_means])


def stat_bounds(real_stats: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """The ``low``-th and ``high``-th percentiles of each statistic, ``(2, 5)``."""
    return np.percentile(real_stats, [low, high], axis=0)


def out_of_range_fraction(stats: np.ndarray, bounds: np.ndarray) -> float:
    """Fraction of frames with any statistic outside ``bounds``."""
    if len(stats) == 0:
        raise ValueError("no frames to test")
    outside = (stats < bounds[0]) | (stats > bounds[1])
    return float(outside.any(axis=1).mean())


def horizon_buckets(horizon: int, edges: Sequence[int]) -> list[tuple[int, int]]:
    """Inclusive 1-based step ranges ``(first, last)`` cut at ``edges`` and ``horizon``."""
    if horizon < 1:
        raise ValueError(f"horizon={horizon} must be >= 1")
    buckets, first = [], 1
    for edge in sorted(set(int(e) for e in edges)):
        if edge >= first and edge <= horizon:
            buckets.append((first, edge))
            first = edge + 1
    if first <= horizon:
        buckets.append((first, horizon))
    return buckets


CHANGE_THRESHOLD = 16  # of 255: a pixel "changed" when any channel moved more than this


def changed_pixel_psnr(
    pred_NHWC: np.ndarray, truth_NHWC: np.ndarray, last_context_NHWC: np.ndarray
) -> np.ndarray:
    """PSNR in dB over only the pixels where the truth differs from the last context frame by
    more than ``CHANGE_THRESHOLD`` (any channel), per frame; NaN where nothing changed.

    Copying the last context frame cannot score well here: on these pixels it is wrong by
    definition.
    """
    _check_pair(pred_NHWC, truth_NHWC)
    _check_pair(truth_NHWC, last_context_NHWC)
    truth = truth_NHWC.astype(np.float64)
    changed = (np.abs(truth - last_context_NHWC.astype(np.float64)) > CHANGE_THRESHOLD).any(-1)
    sq = ((pred_NHWC.astype(np.float64) - truth) ** 2).mean(-1)  # (..., H, W)
    count = changed.sum(axis=(-2, -1))
    mse = np.where(count > 0, (sq * changed).sum(axis=(-2, -1)) / np.maximum(count, 1), np.nan)
    return psnr_db(torch.from_numpy(mse), 255.0, cap=PSNR_CAP).numpy()
