"""Peak signal-to-noise ratio: one formula for every caller.

:func:`psnr_db` is the definition, ``10 log10(peak² / MSE)`` on a tensor of mean squared
errors (``inf`` where the MSE is 0, then capped when asked). Each caller's reduction and units
are a thin layer over it:

- :func:`psnr_frames`: uint8 frames ``(..., H, W, 3)``, one value per frame, capped at
  ``PSNR_CAP`` (the evaluation's metric, re-exported by ``worldsim.eval.metrics``);
- :func:`psnr`: two arrays of any same shape, one value over all elements (``inf`` when equal;
  data round-trip checks and the training rollout logs);
- :func:`psnr_tensor`: torch tensors in [-1, 1], clipped, with an MSE floor so that it stays
  finite (the tokenizer's training logs).
"""

from __future__ import annotations

import numpy as np
import torch

PSNR_CAP = 100.0  # dB for identical frames, so that means stay finite


def psnr_db(mse: torch.Tensor, peak: float, cap: float | None = None) -> torch.Tensor:
    """PSNR in dB from mean squared errors for signals of peak value ``peak``."""
    value = 10.0 * torch.log10(peak**2 / mse)
    return value if cap is None else value.clamp(max=cap)


def _mse(a: np.ndarray, b: np.ndarray, axis: tuple[int, ...] | None) -> torch.Tensor:
    diff = a.astype(np.float64) - b.astype(np.float64)
    return torch.from_numpy(np.asarray(np.mean(diff**2, axis=axis)))


def psnr_frames(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PSNR in dB of each frame pair, shape ``a.shape[:-3]`` (capped at ``PSNR_CAP``)."""
    if a.shape != b.shape or a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(
            f"frames must be two arrays of the same shape (..., H, W, 3), got {a.shape} and "
            f"{b.shape}"
        )
    return psnr_db(_mse(a, b, axis=(-3, -2, -1)), 255.0, cap=PSNR_CAP).numpy()[()]


def psnr(a: np.ndarray, b: np.ndarray, max_value: float = 255.0) -> float:
    """PSNR in dB between two same-shape arrays over all their elements (inf when equal)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr needs equal shapes, got {a.shape} and {b.shape}")
    return float(psnr_db(_mse(a, b, axis=None), max_value))


def psnr_tensor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB between tensors in [-1, 1] (clipped), from the MSE over all elements; the
    MSE is floored at 1e-10, so equal tensors give about 106 dB. Detached, for logging."""
    mse = (a.detach().float().clamp(-1, 1) - b.detach().float().clamp(-1, 1)).pow(2).mean()
    return psnr_db(mse.clamp_min(1e-10), 2.0)
