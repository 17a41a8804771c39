"""Checks of the arrays passed to ``WorldModel``, with errors that name the expected shape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def context_frames(frames: np.ndarray | torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """uint8 context frames ``(B, T, H, W, 3)`` at the model's ``resolution``."""
    frames_BTHWC = torch.as_tensor(np.asarray(frames))
    shape = tuple(frames_BTHWC.shape)
    if frames_BTHWC.ndim != 5 or shape[-1] != 3 or frames_BTHWC.dtype != torch.uint8:
        raise ValueError(
            f"context_frames must be uint8 (B, T, H, W, 3), got {frames_BTHWC.dtype} {shape}"
        )
    if shape[2:4] != resolution:
        raise ValueError(
            f"context frames are {shape[2:4]} but the model generates {resolution}; resize the "
            "frames or use a matching checkpoint"
        )
    return frames_BTHWC


def row_context_frames(frames: np.ndarray | torch.Tensor, rows: int) -> torch.Tensor:
    """uint8 context frames ``(R, T, H, W, 3)`` of the ``rows`` rows being reset."""
    frames_RTHWC = torch.as_tensor(np.asarray(frames))
    if frames_RTHWC.ndim != 5 or frames_RTHWC.shape[0] != rows or frames_RTHWC.dtype != torch.uint8:
        raise ValueError(
            f"context_frames must be uint8 ({rows}, T, H, W, 3) for the {rows} reset rows, got "
            f"{frames_RTHWC.dtype} {tuple(frames_RTHWC.shape)}"
        )
    return frames_RTHWC


def past_motion(
    motion: np.ndarray | torch.Tensor, batch: int, frames: int, action_dim: int
) -> torch.Tensor:
    """float32 motion ``(B, T-1, A)`` between the ``frames`` context frames of each row."""
    past_BTA = torch.as_tensor(np.asarray(motion), dtype=torch.float32)
    if past_BTA.shape != (batch, frames - 1, action_dim):
        raise ValueError(
            f"past_motion must have shape ({batch}, {frames - 1}, {action_dim}), got "
            f"{tuple(past_BTA.shape)}"
        )
    return past_BTA


def ego_motion(motion: np.ndarray | torch.Tensor, batch: int, action_dim: int) -> torch.Tensor:
    """Finite float32 motion ``(B, A)`` leading to the next frame of every row."""
    motion_BA = torch.as_tensor(np.asarray(motion), dtype=torch.float32)
    if motion_BA.shape != (batch, action_dim) or not torch.isfinite(motion_BA).all():
        raise ValueError(
            f"ego_motion must be finite with shape ({batch}, {action_dim}), got "
            f"{tuple(motion_BA.shape)}"
        )
    return motion_BA


def motion_sequence(motion: np.ndarray | torch.Tensor, action_dim: int) -> np.ndarray:
    """float32 motion ``(B, N, A)`` of ``N`` steps of every row."""
    motion_BNA = np.asarray(motion, dtype=np.float32)
    if motion_BNA.ndim != 3 or motion_BNA.shape[-1] != action_dim:
        raise ValueError(f"ego_motion must have shape (B, N, {action_dim}), got {motion_BNA.shape}")
    return motion_BNA


def row_mask(rows: np.ndarray | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """A bool mask ``(B,)`` of batch rows."""
    mask_B = torch.as_tensor(np.asarray(rows), dtype=torch.bool, device=device)
    if mask_B.shape != (batch,):
        raise ValueError(f"rows must be a bool mask of shape ({batch},)")
    return mask_B


def row_prompts(prompts: str | Sequence[str], rows: int) -> list[str]:
    """One prompt per reset row (a single string applies to all)."""
    listed = [prompts] * rows if isinstance(prompts, str) else list(prompts)
    if len(listed) != rows:
        raise ValueError(f"got {len(listed)} prompts for {rows} reset rows")
    return listed
