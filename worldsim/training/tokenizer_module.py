"""Stage 1: train the frame tokenizer on the single frames of clips."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from einops import rearrange

from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor
from worldsim.training.schedule import OptimizerFactory, WarmupSchedule
from worldsim.utils.psnr import psnr_tensor


class TokenizerModule(L.LightningModule):
    """L1 + MSE reconstruction, an image-gradient (edge) term and a small KL penalty.

    ``latent_scale`` is calibrated on the first training batch of a fresh run (global step 0
    and scale still 1.0), then tracked as an exponential moving average of the posterior-mean
    variance (``scale_momentum``; 0 keeps the first calibration), so checkpoints always carry
    a scale that gives about unit-variance latents for the current weights.
    """

    def __init__(
        self,
        tokenizer: FrameTokenizer,
        optimizer: OptimizerFactory,
        warmup_steps: int = 100,
        lr_decay_steps: int | None = None,
        kl_weight: float = 1e-6,
        edge_weight: float = 0.5,
        scale_momentum: float = 0.99,
    ) -> None:
        super().__init__()
        self.schedule = WarmupSchedule(optimizer, warmup_steps, lr_decay_steps)
        if kl_weight < 0 or edge_weight < 0:
            raise ValueError(
                f"tokenizer_loss.kl_weight={kl_weight} and tokenizer_loss.edge_weight="
                f"{edge_weight} must be >= 0"
            )
        if not 0.0 <= scale_momentum < 1.0:
            raise ValueError(f"tokenizer_loss.scale_momentum={scale_momentum} must be in [0, 1)")
        self.tokenizer = tokenizer
        self.kl_weight = kl_weight
        self.edge_weight = edge_weight
        self.scale_momentum = scale_momentum
        config = asdict(tokenizer.config)
        config["channel_mult"] = list(config["channel_mult"])
        self.save_hyperparameters(
            {
                "tokenizer_config": config,
                "warmup_steps": warmup_steps,
                "kl_weight": kl_weight,
                "edge_weight": edge_weight,
                "scale_momentum": scale_momentum,
            }
        )

    def frames(self, batch: dict[str, Any]) -> torch.Tensor:
        """All frames of the clips as ``(B*T, 3, H, W)`` float in [-1, 1], on the device."""
        frames_NHWC = rearrange(batch["frames"], "b t h w c -> (b t) h w c")
        return frames_to_tensor(frames_NHWC.to(self.device))

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Calibrate the latent scale on the first training batch of a fresh run."""
        if self.global_step == 0 and float(self.tokenizer.latent_scale) == 1.0:
            x = self.frames(batch)
            was_training = self.tokenizer.training
            self.tokenizer.eval()
            scale = self.tokenizer.calibrate_scale(x)
            self.tokenizer.train(was_training)
            # every process takes the same value (the mean over processes)
            mean = self.trainer.strategy.reduce(torch.tensor(scale, device=self.device))
            self.tokenizer.latent_scale.fill_(float(mean))

    @torch.no_grad()
    def _track_scale(self, mean_BCHW: torch.Tensor) -> None:
        """Move ``latent_scale`` towards 1 / std of this batch's posterior means."""
        if self.scale_momentum == 0.0:
            return
        var = mean_BCHW.float().var()
        var = self.trainer.strategy.reduce(var) if self._trainer is not None else var
        scale = self.tokenizer.latent_scale
        old_var = scale.float().pow(-2)
        new_var = self.scale_momentum * old_var + (1.0 - self.scale_momentum) * var
        scale.copy_(new_var.clamp_min(1e-12).rsqrt().to(scale.dtype))

    def losses(self, x_BCHW: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training losses on frames in [-1, 1] (a posterior sample is decoded)."""
        out = self.tokenizer(x_BCHW)
        recon = out.recon  # (B, 3, H, W)
        l1 = F.l1_loss(recon, x_BCHW)
        mse = F.mse_loss(recon, x_BCHW)
        edge = F.l1_loss(image_gradients(recon), image_gradients(x_BCHW))
        kl = torch.zeros((), device=x_BCHW.device)
        if out.logvar is not None:
            kl = 0.5 * (out.mean.pow(2) + out.logvar.exp() - 1.0 - out.logvar).mean()
        loss = l1 + mse + self.edge_weight * edge + self.kl_weight * kl
        return {
            "loss": loss,
            "psnr": psnr_tensor(recon, x_BCHW),
            "kl": kl.detach(),
            "mean": out.mean.detach(),
        }

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.losses(self.frames(batch))
        self._track_scale(out["mean"])
        n = batch["frames"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("train/psnr", out["psnr"], prog_bar=True, batch_size=n)
        self.log("train/kl", out["kl"], batch_size=n)
        self.log("train/latent_scale", self.tokenizer.latent_scale.float(), batch_size=n)
        return out["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x = self.frames(batch)  # (B*T, 3, H, W)
        z = self.tokenizer.encode(x)  # (B*T, c, h, w) scaled posterior means
        recon = self.tokenizer.decode(z)
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        n = batch["frames"].shape[0]
        self.log("val/loss", loss, batch_size=n, sync_dist=True)
        self.log("val/psnr", psnr_tensor(recon, x), prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/latent_std", z.float().std(), batch_size=n, sync_dist=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        return self.schedule.configure(self.tokenizer.parameters())


def image_gradients(x_BCHW: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical finite differences, concatenated along the channels."""
    dx = x_BCHW[..., :, 1:] - x_BCHW[..., :, :-1]  # (B, C, H, W-1)
    dy = x_BCHW[..., 1:, :] - x_BCHW[..., :-1, :]  # (B, C, H-1, W)
    return torch.cat([dx[..., :-1, :], dy[..., :, :-1]], dim=1)  # (B, 2C, H-1, W-1)
