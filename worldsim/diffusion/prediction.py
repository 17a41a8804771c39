"""What the network's output means, and the training loss that goes with it.

- ``"velocity"``: the output is the flow velocity ``noise - x0`` (rectified flow).
- ``"x0_residual"``: the output is the change from the previous frame, so the clean estimate
  is ``x0_hat = prev + output``. A network that outputs zeros copies the previous frame, which
  makes "nothing moves" the starting point of training instead of noise. The sampler still
  integrates a velocity, recovered as ``v = (x_t - x0_hat) / t`` (the DDIM-style
  x0-parameterisation of the same ODE; the schedule never evaluates ``t = 0``).
"""

from __future__ import annotations

import torch

PREDICTIONS = ("velocity", "x0_residual")
# How x0_residual_loss penalises the error of x0_hat: "mse" trains the conditional mean (which
# blurs what the model is unsure of, such as where the next dash lies), "l1" the conditional
# median (each pixel takes its most likely side instead of an average of both).
X0_LOSSES = ("mse", "l1")
L1_EPS = 1e-3  # latent units; sqrt(e^2 + eps^2) keeps the L1 penalty smooth at e = 0


def check_prediction(name: str) -> str:
    if name not in PREDICTIONS:
        raise ValueError(f"diffusion.prediction={name!r} is unknown; choose one of {PREDICTIONS}")
    return name


def check_x0_loss(name: str) -> str:
    if name not in X0_LOSSES:
        raise ValueError(f"diffusion.x0_loss={name!r} is unknown; choose one of {X0_LOSSES}")
    return name


def _broadcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(*t.shape, *([1] * (like.ndim - t.ndim)))


def velocity_from_output(
    prediction: str,
    output: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    prev: torch.Tensor | None,
) -> torch.Tensor:
    """The flow velocity implied by the network ``output`` at ``x_t`` and level ``t``."""
    if prediction == "velocity":
        return output
    if prev is None:
        raise ValueError("x0_residual prediction needs the previous frame's latents")
    x0_hat = prev + output
    return (x_t - x0_hat) / _broadcast(t, x_t).clamp_min(1e-4)


def snr_weight(t_BT: torch.Tensor, cap: float = 4.0) -> torch.Tensor:
    """``1 + min(SNR, cap)`` with ``SNR = ((1 - t) / t)^2``: every level keeps a unit weight
    (the pure-noise level decides the motion) and low levels get up to ``1 + cap``
    (min-SNR weighting, Hang et al. 2023)."""
    snr = ((1 - t_BT) / t_BT.clamp_min(1e-4)).pow(2)
    return 1.0 + snr.clamp(max=cap)


def x0_residual_loss(
    output_BT: torch.Tensor,
    x0_BT: torch.Tensor,
    prev_BT: torch.Tensor,
    t_BT: torch.Tensor,
    mask_BT: torch.Tensor,
    kind: str = "mse",
) -> torch.Tensor:
    """SNR-weighted error of ``prev + output`` against the clean frames in the mask: squared
    (``kind="mse"``) or absolute, smoothed at zero (``kind="l1"``)."""
    check_x0_loss(kind)
    error = prev_BT.float() + output_BT.float() - x0_BT.float()
    squared = error.pow(2)
    per_element = squared if kind == "mse" else (squared + L1_EPS**2).sqrt() - L1_EPS
    per_frame = per_element.flatten(2).mean(-1)  # (B, T)
    weight = snr_weight(t_BT.float()) * mask_BT
    return (per_frame * weight).sum() / mask_BT.sum().clamp_min(1.0)
