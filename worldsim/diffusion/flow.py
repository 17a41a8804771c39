"""Rectified flow / flow matching with per-frame noise levels (diffusion forcing).

Convention: ``x_t = (1 - t) * x_0 + t * noise`` with ``t = 0`` clean and ``t = 1`` pure noise;
the network predicts the velocity ``dx_t/dt = noise - x_0`` (Liu et al. 2022, "Flow Straight
and Fast"; Esser et al. 2024, SD3, for logit-normal time sampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldsim.diffusion.prediction import check_prediction, check_x0_loss


@dataclass
class FlowConfig:
    """Training-time noise sampling and condition dropout."""

    logit_mean: float = 0.0
    logit_std: float = 1.0
    context_prob: float = 0.9  # share of clips trained as "clean context, noisy future"
    context_noise_max: float = 0.1  # context frames get t ~ U(0, context_noise_max)
    text_dropout: float = 0.1
    action_dropout: float = 0.1
    prediction: str = "velocity"  # "velocity" | "x0_residual" (see diffusion/prediction.py)
    x0_loss: str = "mse"  # x0_residual only: "mse" (conditional mean) | "l1" (median)
    # x0_residual only: weight of the texture term (diffusion/texture_loss.py), which matches
    # the gradient energy of x0_hat to the truth's in cells of texture_pool latent cells.
    texture_weight: float = 0.0
    texture_pool: int = 4
    # The texture term counts only the frames whose noise level is at least texture_min_level.
    # 0 counts every frame, where a partly noisy input lets the model buy gradient energy by
    # keeping some of its noise; 1 counts only the frames a one-step sampler predicts.
    texture_min_level: float = 0.0
    # x0_residual only: weight of the adversarial term (diffusion/adversarial.py) on the frames
    # predicted from the sampler's input, relative to the squared error's pull on the last
    # layer; adversarial_width is the patch discriminator's first width.
    # The discriminator trains alone for adversarial_start steps before the model is paid
    # for fooling it, at adversarial_lr_scale times the model's learning rate.
    adversarial_weight: float = 0.0
    adversarial_width: int = 32
    adversarial_start: int = 0
    adversarial_lr_scale: float = 1.0
    # x0_residual: the previous frame gets Gaussian noise of std ~ U(0, prev_noise) in training,
    # so the model learns to repair the errors its own rollouts feed back to it.
    prev_noise: float = 0.0
    # Training on the model's own rollouts (x0_residual): a ``rollout_prob`` share of the steps
    # replaces up to ``rollout_frames`` context frames of the clips by frames the model itself
    # generates, with its run-time sampler, so it learns to continue from its own errors.
    rollout_prob: float = 0.0
    rollout_frames: int = 0
    # A ``sampler_prob`` share of the clips trains its noisy frames at the run-time sampler's
    # first level (t = 1) from noise scaled by its temperature: the only input a one-step
    # sampler ever gives the network, and one that logit-normal levels almost never draw.
    sampler_prob: float = 0.0
    # Clips whose caption switches inside them (procedural ``switch_prob`` stores): the
    # ``switch_span`` frames from the switch on weigh ``switch_weight`` times the others in the
    # training loss, the frames where the look has to follow the new prompt.
    switch_weight: float = 1.0
    switch_span: int = 1

    def __post_init__(self) -> None:
        check_prediction(self.prediction)
        check_x0_loss(self.x0_loss)
        if self.x0_loss != "mse" and self.prediction != "x0_residual":
            raise ValueError(
                f"diffusion.x0_loss={self.x0_loss!r} needs diffusion.prediction=x0_residual "
                "(a velocity model is trained with the squared error only)"
            )
        if self.texture_weight < 0 or self.texture_pool < 1:
            raise ValueError(
                f"diffusion.texture_weight={self.texture_weight} must be >= 0 and "
                f"diffusion.texture_pool={self.texture_pool} >= 1"
            )
        if (
            self.adversarial_weight < 0
            or self.adversarial_width < 1
            or self.adversarial_start < 0
            or self.adversarial_lr_scale <= 0
        ):
            raise ValueError(
                f"diffusion.adversarial_weight={self.adversarial_weight} must be >= 0, "
                f"diffusion.adversarial_width={self.adversarial_width} >= 1, "
                f"diffusion.adversarial_start={self.adversarial_start} >= 0 and "
                f"diffusion.adversarial_lr_scale={self.adversarial_lr_scale} > 0"
            )
        for name in ("texture_weight", "adversarial_weight"):  # terms on x0_hat
            if getattr(self, name) > 0 and self.prediction != "x0_residual":
                raise ValueError(
                    f"diffusion.{name}={getattr(self, name)} needs "
                    "diffusion.prediction=x0_residual (set it to 0 for a velocity model)"
                )
        if not 0.0 <= self.texture_min_level <= 1.0:
            raise ValueError(
                f"diffusion.texture_min_level={self.texture_min_level} must lie in [0, 1]"
            )
        for name in ("context_prob", "context_noise_max", "text_dropout", "action_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"diffusion.{name}={value} must lie in [0, 1]")
        if not 0.0 <= self.prev_noise <= 1.0:
            raise ValueError(f"diffusion.prev_noise={self.prev_noise} must lie in [0, 1]")
        for name in ("rollout_prob", "sampler_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"diffusion.{name}={getattr(self, name)} must lie in [0, 1]")
        if self.rollout_frames < 0 or (self.rollout_prob > 0 and self.rollout_frames < 1):
            raise ValueError(
                f"diffusion.rollout_frames={self.rollout_frames} must be >= 1 when "
                f"rollout_prob={self.rollout_prob} > 0 (and never negative)"
            )
        if self.rollout_prob > 0 and self.prediction != "x0_residual":
            raise ValueError(
                "diffusion.rollout_prob > 0 needs diffusion.prediction=x0_residual (the rollout "
                "continues from the previous frame)"
            )
        if self.logit_std <= 0:
            raise ValueError(f"diffusion.logit_std={self.logit_std} must be positive")
        if self.switch_weight <= 0 or self.switch_span < 1:
            raise ValueError(
                f"diffusion.switch_weight={self.switch_weight} must be > 0 and "
                f"diffusion.switch_span={self.switch_span} >= 1"
            )


def sample_logit_normal(
    shape: tuple[int, ...],
    mean: float,
    std: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``sigmoid(N(mean, std))`` samples in (0, 1)."""
    z = torch.randn(shape, generator=generator, device=device)
    return torch.sigmoid(mean + std * z)


def sample_forcing_levels(
    batch: int,
    frames: int,
    cfg: FlowConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    context: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame noise levels ``t_BT`` and a loss mask ``(B, T)``.

    Every frame gets an independent logit-normal level (diffusion forcing). A ``context_prob``
    share of the clips instead gets a random-length clean-ish prefix (``t <= context_noise_max``,
    excluded from the loss) followed by noisy frames: exactly the situation of autoregressive
    rollouts, where past frames are known and the next one is generated. With ``context``
    every clip gets a prefix of exactly that many frames.
    """
    t = sample_logit_normal((batch, frames), cfg.logit_mean, cfg.logit_std, generator, device)
    mask = torch.ones(batch, frames, device=device)
    if context is not None:
        if not 1 <= context < frames:
            raise ValueError(f"context={context} must lie in [1, {frames - 1}]")
        use_ctx = torch.ones(batch, dtype=torch.bool, device=device)
        split = torch.full((batch,), context, device=device)
    elif frames < 2 or cfg.context_prob == 0:
        return t, mask
    else:
        use_ctx = torch.rand(batch, generator=generator, device=device) < cfg.context_prob
        split = torch.randint(1, frames, (batch,), generator=generator, device=device)
    is_ctx = (torch.arange(frames, device=device)[None, :] < split[:, None]) & use_ctx[:, None]
    ctx_t = torch.rand(batch, frames, generator=generator, device=device) * cfg.context_noise_max
    t = torch.where(is_ctx, ctx_t, t)
    mask = torch.where(is_ctx, torch.zeros_like(mask), mask)
    return t, mask


def switch_frame_weights(
    switch_at_B: torch.Tensor, frames: int, span: int, weight: float
) -> torch.Tensor:
    """``(B, T)`` loss weights: ``weight`` on the ``span`` frames from each clip's caption
    switch on (``switch_at_B > 0``), 1 elsewhere and in clips without a switch."""
    index_T = torch.arange(frames, device=switch_at_B.device)
    at_B1 = switch_at_B[:, None]
    after_BT = (at_B1 > 0) & (index_T[None, :] >= at_B1) & (index_T[None, :] < at_B1 + span)
    return torch.where(after_BT, weight, 1.0).float()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(1 - t) x0 + t noise`` with ``t`` broadcast from the leading dims of ``x0``."""
    t = t.reshape(*t.shape, *([1] * (x0.ndim - t.ndim)))
    return (1 - t) * x0 + t * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def flow_loss(
    pred_BT: torch.Tensor, target_BT: torch.Tensor, mask_BT: torch.Tensor
) -> torch.Tensor:
    """Mean squared velocity error over the frames selected by ``mask_BT``."""
    per_frame = (pred_BT.float() - target_BT.float()).pow(2).flatten(2).mean(-1)  # (B, T)
    return (per_frame * mask_BT).sum() / mask_BT.sum().clamp_min(1.0)
