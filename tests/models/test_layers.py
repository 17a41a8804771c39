"""The DiT's building blocks against their textbook definitions."""

from __future__ import annotations

import torch
from einops import rearrange

from worldsim.models.layers import apply_rope, modulate, rope_angles, rope_rotation


def rotate_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """RoPE written out: each channel pair (2i, 2i+1) turned by its angle, in real arithmetic."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = angles.cos(), angles.sin()
    return rearrange(
        torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos]), "two ... p -> ... (p two)"
    )


def test_rope_turns_each_channel_pair_by_its_angle() -> None:
    g = torch.Generator().manual_seed(0)
    # Queries as the DiT makes them: a permuted view of a linear layer's output.
    projected = torch.randn(6, 7, 4 * 16, generator=g, requires_grad=True)
    q_BHTd = rearrange(projected, "b t (h d) -> b h t d", h=4)
    positions = torch.arange(7)
    out = apply_rope(q_BHTd, rope_rotation(positions, 16))
    expected = rotate_pairs(q_BHTd, rope_angles(positions, 16))
    torch.testing.assert_close(out, expected)
    # A rotation keeps each pair's length, and position 0 is the identity.
    torch.testing.assert_close(out.norm(dim=-1), q_BHTd.norm(dim=-1))
    torch.testing.assert_close(out[:, :, 0], q_BHTd[:, :, 0])
    # Gradients flow back to the projection as through the real-arithmetic form.
    (grad,) = torch.autograd.grad(out.square().sum(), projected)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), projected)
    torch.testing.assert_close(grad, grad_expected)


def test_rope_scores_depend_only_on_the_offset_and_keep_the_dtype() -> None:
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 1, 1, 32, generator=g)
    rotation = rope_rotation(torch.arange(12), 32)  # (12, 16)

    def score(i: int, j: int) -> torch.Tensor:
        """The attention score of ``q`` at position ``i`` and ``k`` at position ``j``."""
        return (apply_rope(q, rotation[i : i + 1]) * apply_rope(k, rotation[j : j + 1])).sum()

    torch.testing.assert_close(score(5, 2), score(9, 6))
    assert apply_rope(q.bfloat16(), rotation[:1]).dtype == torch.bfloat16


def test_modulate_is_scale_then_shift_per_row() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, 5, 8, generator=g)
    shift, scale = torch.randn(2, 3, 2, 1, 8, generator=g)
    torch.testing.assert_close(modulate(x, shift, scale), x * (1 + scale) + shift)
