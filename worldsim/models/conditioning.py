"""``FrameConditioning``: everything the VideoDiT is conditioned on besides the noisy latents.

One instance describes either a clip (``VideoDiT.forward``: per-frame fields carry a time axis
``T``) or one new frame per row (``VideoDiT.forward_step``: no time axis). Text is per row in
both cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value to compare
class FrameConditioning:
    """Noise levels, ego motion, text and previous-frame latents of a clip or of one frame."""

    levels: torch.Tensor  # (B, T) or (B,): noise level of each frame
    motion: torch.Tensor  # (B, T, A) or (B, A): normalised ego motion leading to each frame
    motion_valid: torch.Tensor  # (B, T) or (B,): False where the motion is the null condition
    text_tokens: torch.Tensor  # (B, L, D_text)
    text_mask: torch.Tensor  # (B, L): True on real (non-padding) tokens
    text_pooled: torch.Tensor  # (B, D_text)
    prev_latents: torch.Tensor | None = None  # (B, T, C, h, w) or (B, C, h, w); prev_frame_input

    def frame(self, index: int) -> FrameConditioning:
        """The conditioning of frame ``index`` of a clip, for ``forward_step``."""
        prev_BCHW = None if self.prev_latents is None else self.prev_latents[:, index]
        return FrameConditioning(
            levels=self.levels[:, index],
            motion=self.motion[:, index],
            motion_valid=self.motion_valid[:, index],
            text_tokens=self.text_tokens,
            text_mask=self.text_mask,
            text_pooled=self.text_pooled,
            prev_latents=prev_BCHW,
        )

    @staticmethod
    def stack(frames: Sequence[FrameConditioning]) -> FrameConditioning:
        """Per-frame conditionings stacked into a clip along time; the text of the last frame."""
        last = frames[-1]
        prevs = [f.prev_latents for f in frames if f.prev_latents is not None]
        if prevs and len(prevs) != len(frames):
            raise ValueError("either every frame has prev_latents or none has")
        prev_BTCHW = torch.stack(prevs, dim=1) if prevs else None
        return FrameConditioning(
            levels=torch.stack([f.levels for f in frames], dim=1),
            motion=torch.stack([f.motion for f in frames], dim=1),
            motion_valid=torch.stack([f.motion_valid for f in frames], dim=1),
            text_tokens=last.text_tokens,
            text_mask=last.text_mask,
            text_pooled=last.text_pooled,
            prev_latents=prev_BTCHW,
        )
