"""Train the driving-signal heads on frames labelled by the simulator."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from worldsim.data.signals import signal_accuracy
from worldsim.models.heads import HEADS_SCALES, DrivingHeads
from worldsim.models.tokenizer import frames_to_tensor
from worldsim.runtime.driving_heads import DRIVING_HEADS_FORMAT_VERSION
from worldsim.training.schedule import OptimizerFactory, WarmupSchedule


class DrivingHeadsModule(L.LightningModule):
    """Smooth-L1 on the scaled lane offset, heading error and lead gap (where there is a
    lead) plus binary cross-entropy of off-road, collision and lead presence.

    Batches are :class:`worldsim.data.signals.SignalWindows` items. In training, a window is
    mirrored left-right with probability ``flip_prob`` (lane offset and heading error negated),
    and with probability ``pad_prob`` its oldest frames are replaced by copies of a later one,
    as the learned env fills a window from a context shorter than it.
    Validation logs the accuracy table of :func:`signal_accuracy` over the whole split. The
    checkpoint's ``hyper_parameters["worldsim_driving_heads"]`` holds the plain data that
    :func:`worldsim.runtime.driving_heads.load_driving_heads` rebuilds the network from.
    """

    def __init__(
        self,
        heads: DrivingHeads,
        optimizer: OptimizerFactory,
        warmup_steps: int = 100,
        lr_decay_steps: int | None = None,
        flip_prob: float = 0.5,
        collision_weight: float = 4.0,
        pad_prob: float = 0.0,
        store: str = "",
    ) -> None:
        super().__init__()
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob={flip_prob} must be in [0, 1]")
        if not 0.0 <= pad_prob <= 1.0:
            raise ValueError(f"pad_prob={pad_prob} must be in [0, 1]")
        if not collision_weight > 0:
            raise ValueError(f"collision_weight={collision_weight} must be > 0")
        self.heads = heads
        self.schedule = WarmupSchedule(optimizer, warmup_steps, lr_decay_steps)
        self.flip_prob = flip_prob
        self.collision_weight = collision_weight
        self.pad_prob = pad_prob
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.save_hyperparameters(
            {
                "worldsim_driving_heads": {
                    "format_version": DRIVING_HEADS_FORMAT_VERSION,
                    "config": asdict(heads.config),
                    "store": str(store),
                },
                "warmup_steps": warmup_steps,
                "flip_prob": flip_prob,
                "collision_weight": collision_weight,
                "pad_prob": pad_prob,
            }
        )

    def inputs(self, batch: dict[str, Any], flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``(B, K, 3, H, W)`` in [-1, 1] and signals ``(B, 5)``, mirrored at random."""
        frames_BKHWC = batch["frames"].to(self.device)
        b, k = frames_BKHWC.shape[:2]
        x_BKCHW = rearrange(
            frames_to_tensor(rearrange(frames_BKHWC, "b k h w c -> (b k) h w c")),
            "(b k) c h w -> b k c h w",
            b=b,
            k=k,
        )
        signals_BS = batch["signals"].to(self.device).float()
        if flip and self.flip_prob > 0:
            mirror_B = torch.rand(b, device=self.device) < self.flip_prob
            x_BKCHW = torch.where(mirror_B[:, None, None, None, None], x_BKCHW.flip(-1), x_BKCHW)
            sign_BS = torch.ones_like(signals_BS)
            sign_BS[mirror_B, 0] = -1.0  # lane offset
            sign_BS[mirror_B, 1] = -1.0  # heading error
            signals_BS = signals_BS * sign_BS
        if flip and self.pad_prob > 0 and k > 1:
            x_BKCHW = pad_oldest(x_BKCHW, self.pad_prob)
        return x_BKCHW, signals_BS

    def losses(self, out_BO: torch.Tensor, signals_BS: torch.Tensor) -> dict[str, torch.Tensor]:
        offset_scale, heading_scale = HEADS_SCALES
        gap_max = self.heads.config.lead_gap_max
        offset = F.smooth_l1_loss(out_BO[:, 0], signals_BS[:, 0] / offset_scale)
        heading = F.smooth_l1_loss(out_BO[:, 1], signals_BS[:, 1] / heading_scale)
        offroad = F.binary_cross_entropy_with_logits(out_BO[:, 2], signals_BS[:, 2])
        # Rare collisions weigh collision_weight times more. The logit is shifted by
        # log(collision_weight) inside the weighted loss, so the network's own logit stays a
        # calibrated probability (the weighting moves the optimum by exactly that shift).
        weight = torch.tensor(self.collision_weight, device=self.device)
        collision = F.binary_cross_entropy_with_logits(
            out_BO[:, 3] + torch.log(weight), signals_BS[:, 3], pos_weight=weight
        )
        lead_B = (signals_BS[:, 4] < gap_max - 1e-3).float()
        presence = F.binary_cross_entropy_with_logits(out_BO[:, 4], lead_B)
        gap_err = F.smooth_l1_loss(out_BO[:, 5], signals_BS[:, 4] / gap_max, reduction="none")
        gap = (gap_err * lead_B).sum() / lead_B.sum().clamp_min(1.0)
        total = offset + heading + offroad + collision + presence + gap
        return {
            "loss": total,
            "offset": offset,
            "heading": heading,
            "offroad": offroad,
            "collision": collision,
            "lead": presence + gap,
        }

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x, signals = self.inputs(batch, flip=True)
        losses = self.losses(self.heads(x), signals)
        n = x.shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=n)
        for name in ("offset", "heading", "offroad", "collision", "lead"):
            self.log(f"train/{name}_loss", losses[name], batch_size=n)
        return losses["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x, signals = self.inputs(batch, flip=False)
        out = self.heads(x)
        losses = self.losses(out, signals)
        self.log("val/loss", losses["loss"], batch_size=x.shape[0], sync_dist=True)
        self._val.append((out.detach().float().cpu(), signals.cpu()))
        return losses["loss"]

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        out = torch.cat([o for o, _ in self._val])
        true = torch.cat([s for _, s in self._val]).double().numpy()
        self._val.clear()
        accuracy = signal_accuracy(self.heads.signals(out), true, self.heads.config.lead_gap_max)
        for name, value in accuracy.items():
            if np.isfinite(value) and name != "frames":
                self.log(f"val/{name}", float(value), prog_bar=name == "lane_offset_mae")

    def configure_optimizers(self) -> dict[str, Any]:
        return self.schedule.configure(self.parameters())


def pad_oldest(x_BKCHW: torch.Tensor, prob: float) -> torch.Tensor:
    """With probability ``prob`` per window, frames ``0 .. j-1`` become copies of frame ``j``
    (``j`` uniform in ``1 .. K-1``): the window of an episode only ``K - j`` frames old."""
    b, k = x_BKCHW.shape[:2]
    device = x_BKCHW.device
    j_B = torch.randint(1, k, (b,), device=device)
    j_B = torch.where(torch.rand(b, device=device) < prob, j_B, torch.zeros_like(j_B))
    pick_BK = torch.maximum(torch.arange(k, device=device)[None, :], j_B[:, None])
    index = pick_BK.reshape(b, k, 1, 1, 1).expand_as(x_BKCHW)
    return torch.gather(x_BKCHW, 1, index)
