"""Prompts and ego motion of every batch row as VideoDiT conditioning for every classifier-free
guidance branch. Branch rows are branch-major: row ``k * B + b`` is row ``b`` of branch ``k``
(the order of ``diffusion.guidance.guidance_batch``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from worldsim.diffusion.guidance import GuidanceScales, guidance_batch
from worldsim.models.conditioning import FrameConditioning

TextKeysValues = Callable[[torch.Tensor], tuple[tuple[torch.Tensor, torch.Tensor], ...]]


def expand_branches(x_B: torch.Tensor, scales: GuidanceScales) -> torch.Tensor:
    """``x_B`` repeated once per guidance branch along the batch: ``(branches * B, ...)``."""
    return x_B.repeat(scales.branches, *([1] * (x_B.ndim - 1)))


class BranchConditioner:
    """The encoded prompts of every row, and the per-frame conditioning built from them."""

    def __init__(
        self,
        text_encoder: nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        text_keys_values: TextKeysValues | None = None,
    ) -> None:
        self.text_encoder = text_encoder
        self.device = device
        self.dtype = dtype
        self.text_keys_values = text_keys_values  # VideoDiT.text_keys_values, to run once
        self.prompts: list[str] = []
        # tokens (B', L, D), mask (B', L) and pooled (B', D) over the B' = branches * B rows
        self.text: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.text_kv: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None

    def set_prompts(self, prompts: str | Sequence[str], batch: int, scales: GuidanceScales) -> None:
        """Condition the ``batch`` rows on ``prompts`` (one, or one per row); re-encodes only
        when they change."""
        listed = [prompts] * batch if isinstance(prompts, str) else list(prompts)
        if len(listed) != batch:
            raise ValueError(f"got {len(listed)} prompts for a batch of {batch}; pass one or B")
        if listed == self.prompts and self.text is not None:
            return
        self.prompts = listed
        valid_B = torch.ones(batch, dtype=torch.bool, device=self.device)
        expanded, _ = guidance_batch(listed, valid_B, scales)
        with torch.no_grad():
            enc = self.text_encoder(expanded)
            self.text = (enc.tokens_BLD.to(self.dtype), enc.mask_BL, enc.pooled_BD.to(self.dtype))
            kv = self.text_keys_values
            self.text_kv = None if kv is None else kv(self.text[0])

    def replace_prompts(
        self, rows: Sequence[int], prompts: Sequence[str], scales: GuidanceScales
    ) -> None:
        """Give the batch rows ``rows`` the matching ``prompts``; the other rows keep theirs."""
        listed = list(self.prompts)
        for row, prompt in zip(rows, prompts, strict=True):
            listed[row] = prompt
        self.set_prompts(listed, len(listed), scales)

    def motion(
        self, motion_BA: torch.Tensor | None, batch: int, action_dim: int, scales: GuidanceScales
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised motion ``(B', A)`` and its validity ``(B',)`` for every branch row from the
        normalised ``motion_BA``; ``None`` is the learned null condition."""
        if motion_BA is None:
            motion_BA = torch.zeros(batch, action_dim, device=self.device)
            valid_B = torch.zeros(batch, dtype=torch.bool, device=self.device)
        else:
            valid_B = torch.ones(batch, dtype=torch.bool, device=self.device)
        _, valid_all = guidance_batch(self.prompts, valid_B[:, None], scales)
        return expand_branches(motion_BA, scales).to(self.dtype), valid_all[:, 0]

    def frame(
        self,
        t_B: torch.Tensor,
        motion_BA: torch.Tensor,
        valid_B: torch.Tensor,
        prev_BCHW: torch.Tensor | None,
    ) -> FrameConditioning:
        """The conditioning of one frame per branch row, with the current prompts' text."""
        assert self.text is not None, "set_prompts() first"
        tokens_BLD, mask_BL, pooled_BD = self.text
        return FrameConditioning(
            t_B, motion_BA, valid_B, tokens_BLD, mask_BL, pooled_BD, prev_BCHW, self.text_kv
        )
