"""The uncached reference path of ``WorldModel(use_cache=False)``.

Committed frames are kept and the whole history is re-encoded by a full ``VideoDiT.forward``
for every denoising step. The cost grows with the rollout; it exists as the reference the KV
cache must match (``tests/runtime/test_world_model.py``).
"""

from __future__ import annotations

import torch

from worldsim.models.conditioning import FrameConditioning
from worldsim.models.dit import VideoDiT


class UncachedReference:
    """Every committed frame (latents and conditioning), replayed in full for each new frame."""

    def __init__(self, dit: VideoDiT) -> None:
        self.dit = dit
        self._latents: list[torch.Tensor] = []  # (B, C, h, w) per committed frame
        self._conds: list[FrameConditioning] = []  # per committed frame, no time axis

    def __len__(self) -> int:
        """Committed frames."""
        return len(self._latents)

    def clear(self) -> None:
        """Forget the whole history."""
        self._latents, self._conds = [], []

    def append(self, latents_BCHW: torch.Tensor, cond: FrameConditioning) -> None:
        """Add a committed (context-noised) frame and its conditioning to the history."""
        self._latents.append(latents_BCHW)
        self._conds.append(cond)

    def output(self, latents_BCHW: torch.Tensor, cond: FrameConditioning) -> torch.Tensor:
        """DiT output ``(B, C, h, w)`` for the new frame from a full forward pass over the
        history and it; the text of ``cond`` applies to the whole clip."""
        latents_BTCHW = torch.stack([*self._latents, latents_BCHW], dim=1)
        clip = FrameConditioning.stack([*self._conds, cond])
        return self.dit(latents_BTCHW, clip)[:, -1]
