"""Classifier-free guidance with separate text and action conditions (one dropout rate per
condition in training, one scale per condition at sampling)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GuidanceScales:
    """Scale 1 means plain conditional sampling for that condition; 0 ignores it."""

    text: float = 1.0
    action: float = 1.0

    @property
    def branches(self) -> int:
        """Forward passes needed per step: full, plus one per guided condition."""
        return 1 + int(self.text != 1.0) + int(self.action != 1.0)


def drop_conditions(
    prompts: list[str],
    motion_valid_BT: torch.Tensor,
    text_dropout: float,
    action_dropout: float,
    generator: torch.Generator | None = None,
    keep_text_B: torch.Tensor | None = None,
) -> tuple[list[str], torch.Tensor]:
    """Training-time condition dropout: replace a prompt by ``""`` and a clip's motion by the
    learned null motion, each with its own probability. Clips marked in ``keep_text_B`` keep
    their prompt: a clip whose caption switches shows a change of look that only its prompt
    explains, so without it the unconditional model would learn looks that change at random."""
    b = len(prompts)
    device = motion_valid_BT.device
    drop_text = torch.rand(b, generator=generator, device=device) < text_dropout
    drop_action = torch.rand(b, generator=generator, device=device) < action_dropout
    if keep_text_B is not None:
        if keep_text_B.shape != (b,):
            raise ValueError(
                f"keep_text_B has shape {tuple(keep_text_B.shape)}; expected ({b},), one flag "
                "per prompt"
            )
        drop_text = drop_text & ~keep_text_B.to(device=device, dtype=torch.bool)
    prompts = ["" if d else p for p, d in zip(prompts, drop_text.tolist(), strict=True)]
    return prompts, motion_valid_BT & ~drop_action[:, None]


def guidance_batch(
    prompts: list[str], motion_valid: torch.Tensor, scales: GuidanceScales
) -> tuple[list[str], torch.Tensor]:
    """Stack the conditional and unconditional variants along the batch.

    Order: full ``(text, action)``; then ``(text, no action)`` when the action is guided; then
    ``(no text, no action)`` when the text is guided.
    """
    out_prompts, out_valid = list(prompts), [motion_valid]
    if scales.action != 1.0:
        out_prompts += prompts
        out_valid.append(torch.zeros_like(motion_valid))
    if scales.text != 1.0:
        out_prompts += [""] * len(prompts)
        out_valid.append(torch.zeros_like(motion_valid))
    return out_prompts, torch.cat(out_valid, dim=0)


def combine_guidance(v_stacked: torch.Tensor, batch: int, scales: GuidanceScales) -> torch.Tensor:
    """Combine the branches of :func:`guidance_batch` into one velocity:
    ``v = v_none + s_text (v_text - v_none) + s_action (v_full - v_text)``."""
    chunks = list(v_stacked.split(batch, dim=0))
    v_full = chunks.pop(0)
    v_text = chunks.pop(0) if scales.action != 1.0 else None
    v_none = chunks.pop(0) if scales.text != 1.0 else None
    if v_text is None and v_none is None:
        return v_full
    if v_text is None:  # only the text is guided: v = v_none + s_text (v_full - v_none)
        return v_none + scales.text * (v_full - v_none)
    if v_none is None:  # only the action is guided
        return v_text + scales.action * (v_full - v_text)
    return v_none + scales.text * (v_text - v_none) + scales.action * (v_full - v_text)
