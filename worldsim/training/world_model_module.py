"""Stage 2: train the VideoDiT with flow matching and diffusion forcing on tokenizer latents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from einops import rearrange
from torch import nn

from worldsim.diffusion.ego_warp import warp_frames, yaw_warp_for
from worldsim.diffusion.flow import (
    FlowConfig,
    add_noise,
    flow_loss,
    sample_forcing_levels,
    velocity_target,
)
from worldsim.diffusion.guidance import drop_conditions
from worldsim.diffusion.prediction import x0_residual_loss
from worldsim.diffusion.samplers import SamplingConfig
from worldsim.models.conditioning import FrameConditioning
from worldsim.models.dit import VideoDiT
from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor
from worldsim.runtime.checkpoint import FORMAT_VERSION
from worldsim.training.schedule import OptimizerFactory, WarmupSchedule


class WorldModelModule(L.LightningModule):
    """Receives built networks; the tokenizer is frozen, the DiT and text encoder train."""

    def __init__(
        self,
        tokenizer: FrameTokenizer,
        dit: VideoDiT,
        text_encoder: nn.Module,
        optimizer: OptimizerFactory,
        flow: FlowConfig,
        motion_mean: list[float],
        motion_std: list[float],
        dt: float,
        sampling: SamplingConfig | None = None,
        warmup_steps: int = 100,
        lr_decay_steps: int | None = None,
        text_state: dict[str, Any] | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer.eval().requires_grad_(False)
        self.dit = dit
        self.text_encoder = text_encoder
        self.schedule = WarmupSchedule(optimizer, warmup_steps, lr_decay_steps)
        self.flow = flow
        self.sampling = sampling or SamplingConfig()
        self.dt = float(dt)
        self.yaw_warp = yaw_warp_for(
            dit.config.yaw_warp_hfov_deg, dit.config.yaw_warp_horizon, tokenizer.config
        )
        self.register_buffer("motion_mean", torch.tensor(motion_mean, dtype=torch.float32))
        self.register_buffer("motion_std", torch.tensor(motion_std, dtype=torch.float32))
        self.save_hyperparameters(
            {
                "worldsim": {
                    "format_version": FORMAT_VERSION,
                    "tokenizer": _plain(asdict(tokenizer.config)),
                    "dit": dit.config.to_dict(),
                    "text": _plain(text_state or {}),
                    "flow": asdict(flow),
                    "sampling": asdict(self.sampling),
                    "motion_mean": list(map(float, motion_mean)),
                    "motion_std": list(map(float, motion_std)),
                    "dt": float(dt),
                    "warmup_steps": int(warmup_steps),
                    "config": _plain(run_config or {}),
                }
            }
        )

    # -- batches ----------------------------------------------------------------------------
    def latents(self, batch: dict[str, Any]) -> torch.Tensor:
        """Clip latents ``(B, T, C, h, w)``: cached, or encoded from frames on the fly."""
        if "latents" in batch:
            return batch["latents"].float()
        frames = batch["frames"]  # (B, T, H, W, 3) uint8
        b = frames.shape[0]
        with torch.no_grad():
            x = frames_to_tensor(rearrange(frames, "b t h w c -> (b t) h w c"))
            z = self.tokenizer.encode(x.to(self.device))
        return rearrange(z, "(b t) c h w -> b t c h w", b=b)

    @staticmethod
    def incoming_motion(motion_BT2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame i is conditioned on the motion from frame i-1 to i; frame 0 gets the null."""
        shifted = torch.cat([torch.zeros_like(motion_BT2[:, :1]), motion_BT2[:, :-1]], dim=1)
        valid = torch.ones(motion_BT2.shape[:2], dtype=torch.bool, device=motion_BT2.device)
        valid[:, 0] = False
        return shifted, valid

    def flow_step(
        self, batch: dict[str, Any], generator: torch.Generator | None = None, train: bool = True
    ) -> torch.Tensor:
        x0 = self.latents(batch)
        b, t = x0.shape[:2]
        cond = batch["cond"] if "cond" in batch else batch["ego_motion_norm"]
        motion, valid = self.incoming_motion(cond.float())
        prompts = list(batch["caption"])
        if train:
            prompts, valid = drop_conditions(
                prompts, valid, self.flow.text_dropout, self.flow.action_dropout, generator
            )
        levels, mask = sample_forcing_levels(b, t, self.flow, generator, self.device)
        noise = torch.randn(x0.shape, generator=generator, device=self.device)
        xt = add_noise(x0, noise, levels)
        text = self.text_encoder(prompts)
        prev = self.previous(x0, motion, train, generator)  # (B, T, C, h, w)
        cond = FrameConditioning(
            levels=levels,
            motion=motion,
            motion_valid=valid,
            text_tokens=text.tokens_BLD,
            text_mask=text.mask_BL,
            text_pooled=text.pooled_BD,
            prev_latents=prev if self.dit.config.prev_frame_input else None,
        )
        pred = self.dit(xt, cond)
        if self.flow.prediction == "x0_residual":
            mask = mask.clone()
            mask[:, 0] = 0.0  # the first frame of a clip has no previous frame to start from
            return x0_residual_loss(pred, x0, prev, levels, mask)
        return flow_loss(pred, velocity_target(x0, noise), mask)

    def previous(
        self,
        x0_BTCHW: torch.Tensor,
        motion_BT2: torch.Tensor,
        train: bool,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Frame i-1 for frame i (zeros for frame 0), turned by the yaw from i-1 to i when the
        model warps, and noised in training when ``flow.prev_noise`` is set."""
        prev = previous_frames(x0_BTCHW)
        if self.yaw_warp is not None:
            yaw_BT = (motion_BT2[..., 1] * self.motion_std[1] + self.motion_mean[1]) * self.dt
            prev = warp_frames(self.yaw_warp, prev, yaw_BT)
        if train and self.flow.prev_noise > 0:
            b = prev.shape[0]
            sigma = torch.rand(b, generator=generator, device=prev.device) * self.flow.prev_noise
            noise = torch.randn(prev.shape, generator=generator, device=prev.device)
            prev = prev + sigma.reshape(b, 1, 1, 1, 1) * noise
            prev[:, 0] = 0.0
        return prev

    # -- lightning hooks --------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.flow_step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["caption"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        generator = torch.Generator(device=self.device).manual_seed(1000 + batch_idx)
        loss = self.flow_step(batch, generator, train=False)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["caption"]), sync_dist=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        return self.schedule.configure([p for p in self.parameters() if p.requires_grad])


def previous_frames(x0_BTCHW: torch.Tensor) -> torch.Tensor:
    """For every frame the clean latents of the frame before it; zeros for the first."""
    return torch.cat([torch.zeros_like(x0_BTCHW[:, :1]), x0_BTCHW[:, :-1]], dim=1)


def _plain(value: Any) -> Any:
    """Tuples to lists recursively, so hyper-parameters are plain YAML/JSON data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
