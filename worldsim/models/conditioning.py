"""``FrameConditioning``: everything the VideoDiT is conditioned on besides the noisy latents.

One instance describes either a clip (``VideoDiT.forward``: per-frame fields carry a time axis
``T``) or one new frame per row (``VideoDiT.forward_step``: no time axis). Text is per row, or
in a clip also per frame (a prompt that switches inside the clip): then the text fields carry
the time axis too.
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
    text_tokens: torch.Tensor  # (B, L, D_text), or (B, T, L, D_text) with a text per frame
    text_mask: torch.Tensor  # (B, L) or (B, T, L): True on real (non-padding) tokens
    text_pooled: torch.Tensor  # (B, D_text) or (B, T, D_text)
    prev_latents: torch.Tensor | None = None  # (B, T, C, h, w) or (B, C, h, w); prev_frame_input
    # One frame with one text per row only: per block, the text's cross-attention keys and
    # values ``(B, H, L, hd)`` from ``VideoDiT.text_keys_values``, computed once per prompt
    # instead of in every streamed pass (the text tokens above must be the ones they came from).
    text_kv: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None

    def frame(self, index: int) -> FrameConditioning:
        """The conditioning of frame ``index`` of a clip, for ``forward_step``."""
        prev_BCHW = None if self.prev_latents is None else self.prev_latents[:, index]
        per_frame = self.text_pooled.ndim == 3
        return FrameConditioning(
            levels=self.levels[:, index],
            motion=self.motion[:, index],
            motion_valid=self.motion_valid[:, index],
            text_tokens=self.text_tokens[:, index] if per_frame else self.text_tokens,
            text_mask=self.text_mask[:, index] if per_frame else self.text_mask,
            text_pooled=self.text_pooled[:, index] if per_frame else self.text_pooled,
            prev_latents=prev_BCHW,
        )

    @staticmethod
    def stack(frames: Sequence[FrameConditioning]) -> FrameConditioning:
        """Per-frame conditionings stacked into a clip along time; one text per row when every
        frame has the same text tensors, else a text per frame (padded to one length)."""
        last = frames[-1]
        prevs = [f.prev_latents for f in frames if f.prev_latents is not None]
        if prevs and len(prevs) != len(frames):
            raise ValueError("either every frame has prev_latents or none has")
        prev_BTCHW = torch.stack(prevs, dim=1) if prevs else None
        tokens, mask, pooled = last.text_tokens, last.text_mask, last.text_pooled
        if any(f.text_tokens is not tokens or f.text_pooled is not pooled for f in frames):
            length = max(f.text_tokens.shape[1] for f in frames)
            tokens = torch.stack([_pad(f.text_tokens, length) for f in frames], dim=1)
            mask = torch.stack([_pad(f.text_mask, length) for f in frames], dim=1)
            pooled = torch.stack([f.text_pooled for f in frames], dim=1)
        return FrameConditioning(
            levels=torch.stack([f.levels for f in frames], dim=1),
            motion=torch.stack([f.motion for f in frames], dim=1),
            motion_valid=torch.stack([f.motion_valid for f in frames], dim=1),
            text_tokens=tokens,
            text_mask=mask,
            text_pooled=pooled,
            prev_latents=prev_BTCHW,
        )


def _pad(x_BL: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad (``False`` for masks) the token axis 1 of ``x`` to ``length``."""
    missing = length - x_BL.shape[1]
    if missing == 0:
        return x_BL
    pad = x_BL.new_zeros((x_BL.shape[0], missing, *x_BL.shape[2:]))
    return torch.cat([x_BL, pad], dim=1)


def per_frame_text(
    first: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    last: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    switch_at_B: torch.Tensor,
    frames: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Text per frame ``(B, T, L, D)``, ``(B, T, L)``, ``(B, T, D)``: frames before
    ``switch_at_B`` have the ``first`` (tokens, mask, pooled), the others ``last``; both are
    padded to one length."""
    length = max(first[0].shape[1], last[0].shape[1])
    after_BT = torch.arange(frames, device=switch_at_B.device)[None, :] >= switch_at_B[:, None]
    pick = after_BT[:, :, None]
    tokens = torch.where(
        pick[..., None], _pad(last[0], length)[:, None], _pad(first[0], length)[:, None]
    )
    mask = torch.where(pick, _pad(last[1], length)[:, None], _pad(first[1], length)[:, None])
    pooled = torch.where(pick, last[2][:, None], first[2][:, None])
    return tokens, mask, pooled
