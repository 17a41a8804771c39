"""Training callbacks: rollout videos and real-versus-generated grids during validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from einops import rearrange

from worldsim.data.video import write_video
from worldsim.diffusion.samplers import SamplingConfig
from worldsim.models.tokenizer import tensor_to_frames
from worldsim.runtime.world_model import WorldModel
from worldsim.utils.png import write_png
from worldsim.utils.psnr import psnr


class RolloutVideos(L.Callback):
    """At the end of validation, roll the current model out from real context frames of the
    first validation clips and write ``rollouts/step_<N>/rollout.mp4`` (real | generated, one
    row per clip) and ``grid.png``; logs ``rollout/psnr@k`` against the real future."""

    def __init__(
        self,
        every_n_val: int = 1,
        clips: int = 2,
        context_frames: int = 2,
        sampling_steps: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if context_frames < 1 or clips < 1:
            raise ValueError("callbacks.rollout: context_frames and clips must be >= 1")
        self.every_n_val = every_n_val
        self.clips = clips
        self.context_frames = context_frames
        self.sampling_steps = sampling_steps
        self.seed = seed
        self._calls = 0
        self._batch: dict[str, Any] | None = None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx == 0:
            self._batch = batch

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batch, self._batch = self._batch, None
        self._calls += 1
        if batch is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (self._calls - 1) % self.every_n_val:
            return
        real = self._real_frames(pl_module, batch)[: self.clips]  # (B, T, H, W, 3) uint8
        if real.shape[1] <= self.context_frames:
            return
        raw = batch["cond_raw"] if "cond_raw" in batch else batch["ego_motion"]
        motion = raw[: self.clips].float().cpu().numpy()  # (B, T, action_dim)
        captions = list(batch["caption"][: self.clips])
        k = self.context_frames
        parts = pl_module.parts()
        sampling = SamplingConfig(
            steps=self.sampling_steps,
            sampler=pl_module.sampling.sampler,
            context_noise=pl_module.sampling.context_noise,
        )
        model = WorldModel.from_parts(parts, sampling, device=pl_module.device)
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        generated = model.rollout(
            real[:, :k], motion[:, k - 1 : -1], captions, motion[:, : k - 1], generator
        )
        future = real[:, k:]
        for step in sorted({1, min(5, future.shape[1]), future.shape[1]}):
            value = psnr(generated[:, step - 1], future[:, step - 1])
            pl_module.log(f"rollout/psnr@{step}", value, rank_zero_only=True)
        out = Path(trainer.default_root_dir) / "rollouts" / f"step_{trainer.global_step:07d}"
        out.mkdir(parents=True, exist_ok=True)
        video = np.concatenate([future, generated], axis=3)  # real | generated, side by side
        write_video(out / "rollout.mp4", rearrange(video, "b t h w c -> t (b h) w c"), fps=10.0)
        grid = np.stack([future, generated], axis=1)  # (B, 2, T, H, W, 3)
        write_png(out / "grid.png", rearrange(grid, "b r t h w c -> (b r h) (t w) c"))

    @staticmethod
    def _real_frames(pl_module: L.LightningModule, batch: dict[str, Any]) -> np.ndarray:
        if "frames" in batch:
            return batch["frames"].cpu().numpy()
        latents = batch["latents"].float().to(pl_module.device)  # (B, T, C, h, w)
        b = latents.shape[0]
        with torch.no_grad():
            x = pl_module.tokenizer.decode(rearrange(latents, "b t c h w -> (b t) c h w"))
        frames = tensor_to_frames(x).cpu().numpy()
        return rearrange(frames, "(b t) h w c -> b t h w c", b=b)
