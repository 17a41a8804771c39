"""A texture term for the x0_residual loss: match the local gradient energy of ``x0_hat`` to the
truth's, cell by cell.

A one-step predictor trained on the squared error returns the conditional mean, which is grey
wherever it is unsure where an edge lies (the next dash of a lane marking). The squared error
of the *energy* of the gradients pooled over a cell does not care where inside the cell the
edge is, only that the cell has as much edge as the truth, so it pays the model to draw an edge
somewhere near where it belongs instead of averaging it away (in the spirit of the gradient
difference loss of Mathieu et al. 2016, pooled so that it does not punish a small shift).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6  # keeps the square root differentiable on flat cells


def gradient_energy(x_NCHW: torch.Tensor, pool: int) -> torch.Tensor:
    """Root mean square of the horizontal and vertical differences, over channels and over
    ``pool × pool`` cells: ``(N, 1, ceil(H / pool), ceil(W / pool))``.

    Squared, not absolute, differences: blurring an edge over ``k`` pixels keeps the sum of its
    absolute differences (the total variation) but divides the sum of their squares by ``k``.
    """
    if pool < 1:
        raise ValueError(f"pool={pool} must be >= 1")
    dx = (x_NCHW[..., :, 1:] - x_NCHW[..., :, :-1]).pow(2)  # (N, C, H, W-1)
    dy = (x_NCHW[..., 1:, :] - x_NCHW[..., :-1, :]).pow(2)  # (N, C, H-1, W)
    g_N1HW = F.pad(dx, (0, 1)).mean(1, keepdim=True) + F.pad(dy, (0, 0, 0, 1)).mean(1, True)
    return (F.avg_pool2d(g_N1HW, pool, ceil_mode=True) + EPS).sqrt()


def texture_loss(
    x0_hat_BTCHW: torch.Tensor, x0_BTCHW: torch.Tensor, mask_BT: torch.Tensor, pool: int
) -> torch.Tensor:
    """Squared difference of the pooled gradient energy of ``x0_hat`` and the truth, averaged
    over the cells of the frames in the mask."""
    b, t = x0_BTCHW.shape[:2]
    energy_hat = gradient_energy(x0_hat_BTCHW.float().flatten(0, 1), pool)
    energy = gradient_energy(x0_BTCHW.float().flatten(0, 1), pool)
    per_frame = (energy_hat - energy).pow(2).flatten(1).mean(-1).reshape(b, t)  # (B, T)
    return (per_frame * mask_BT).sum() / mask_BT.sum().clamp_min(1.0)
