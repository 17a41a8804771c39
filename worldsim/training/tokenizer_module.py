"""Stage 1: train the frame tokenizer on single frames from clips."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor, psnr_tensor
from worldsim.training.schedule import warmup_lambda

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class TokenizerModule(L.LightningModule):
    """L1 + MSE reconstruction, an edge term for sharpness, and a small KL penalty."""

    def __init__(
        self,
        tokenizer: FrameTokenizer,
        optimizer: OptimizerFactory,
        warmup_steps: int = 100,
        kl_weight: float = 1e-6,
        edge_weight: float = 0.5,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.optimizer_factory = optimizer
        self.warmup_steps = warmup_steps
        self.kl_weight = kl_weight
        self.edge_weight = edge_weight
        config = asdict(tokenizer.config)
        config["channel_mult"] = list(config["channel_mult"])
        self.save_hyperparameters(
            {
                "tokenizer_config": config,
                "warmup_steps": warmup_steps,
                "kl_weight": kl_weight,
                "edge_weight": edge_weight,
            }
        )

    @staticmethod
    def frames(batch: dict[str, Any]) -> torch.Tensor:
        """All frames of the clips as ``(B*T, 3, H, W)`` in [-1, 1]."""
        return frames_to_tensor(rearrange(batch["frames"], "b t h w c -> (b t) h w c"))

    def on_fit_start(self) -> None:
        """Calibrate the latent scale on the first training batch of a fresh run."""
        if self.global_step > 0 or float(self.tokenizer.latent_scale) != 1.0:
            return
        loader = self.trainer.train_dataloader
        if loader is None:
            return
        batch = next(iter(loader))
        self.tokenizer.calibrate_scale(self.frames(batch).to(self.device))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.tokenizer(x)
        recon = out.recon
        l1 = F.l1_loss(recon, x)
        mse = F.mse_loss(recon, x)
        edge = F.l1_loss(_gradients(recon), _gradients(x))
        kl = torch.zeros((), device=x.device)
        if out.logvar is not None:
            kl = 0.5 * (out.mean.pow(2) + out.logvar.exp() - 1.0 - out.logvar).mean()
        loss = l1 + mse + self.edge_weight * edge + self.kl_weight * kl
        return {"loss": loss, "psnr": psnr_tensor(recon.detach(), x), "kl": kl.detach()}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.losses(self.frames(batch).to(self.device))
        n = batch["frames"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("train/psnr", out["psnr"], prog_bar=True, batch_size=n)
        self.log("train/kl", out["kl"], batch_size=n)
        return out["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x = self.frames(batch).to(self.device)
        with torch.no_grad():
            recon = self.tokenizer.decode(self.tokenizer.encode(x))
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        n = batch["frames"].shape[0]
        self.log("val/loss", loss, batch_size=n, sync_dist=True)
        self.log("val/psnr", psnr_tensor(recon, x), prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(self.tokenizer.parameters())
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_lambda(self.warmup_steps))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _gradients(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical finite differences, concatenated along the channels."""
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return torch.cat([dx[..., :-1, :], dy[..., :, :-1]], dim=1)
