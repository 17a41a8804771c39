"""Train the evaluation heads: the inverse-dynamics model and the condition classifier."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from worldsim.models.heads import ConditionClassifier, InverseDynamicsModel
from worldsim.models.tokenizer import frames_to_tensor
from worldsim.runtime.heads import HEADS_FORMAT_VERSION
from worldsim.training.schedule import OptimizerFactory, WarmupSchedule, clip_each

UNKNOWN_LABEL = -1


class EvalHeadsModule(L.LightningModule):
    """Smooth-L1 on the IDM's normalised motion plus cross-entropy of both classifier heads.

    Batches are clips (``frames`` uint8 ``(B, T, H, W, 3)`` with T >= 2, ``ego_motion``
    ``(B, T, 2)``, ``time_label`` and ``weather_label`` int64 ``(B,)``, -1 when unknown). The
    IDM learns every consecutive pair ``(t, t+1)`` against ``ego_motion[:, t]``; the classifier
    learns every frame. In training, a clip is mirrored left-right with probability
    ``flip_prob`` (its yaw rate negated), which doubles the driving situations the IDM sees. The checkpoint's ``hyper_parameters["worldsim_heads"]`` holds the plain
    data :func:`worldsim.runtime.heads.load_eval_heads` needs to rebuild both networks.
    """

    def __init__(
        self,
        idm: InverseDynamicsModel,
        classifier: ConditionClassifier,
        optimizer: OptimizerFactory,
        warmup_steps: int = 100,
        lr_decay_steps: int | None = None,
        flip_prob: float = 0.5,
        store: str = "",
    ) -> None:
        super().__init__()
        self.schedule = WarmupSchedule(optimizer, warmup_steps, lr_decay_steps)
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob={flip_prob} must be in [0, 1]")
        if idm.config != classifier.config:
            raise ValueError(
                f"the IDM ({idm.config}) and the classifier ({classifier.config}) must share "
                "one HeadsConfig"
            )
        self.idm = idm
        self.classifier = classifier
        self.flip_prob = flip_prob
        self.save_hyperparameters(
            {
                "worldsim_heads": {
                    "format_version": HEADS_FORMAT_VERSION,
                    "config": asdict(idm.config),
                    "motion_mean": [float(v) for v in idm.motion_mean.tolist()],
                    "motion_std": [float(v) for v in idm.motion_std.tolist()],
                    "time_labels": list(classifier.time_labels),
                    "weather_labels": list(classifier.weather_labels),
                    "store": str(store),
                },
                "warmup_steps": warmup_steps,
                "flip_prob": flip_prob,
            }
        )

    def frames(self, batch: dict[str, Any]) -> torch.Tensor:
        """The clips' frames as ``(B, T, 3, H, W)`` float in [-1, 1], on the device."""
        frames_BTHWC = batch["frames"]
        if frames_BTHWC.ndim != 5 or frames_BTHWC.shape[1] < 2:
            raise ValueError(
                f"the heads train on clips of at least 2 frames, got frames of shape "
                f"{tuple(frames_BTHWC.shape)}; set data.clip_len >= 2"
            )
        return frames_to_tensor(frames_BTHWC.to(self.device))

    def outputs(self, batch: dict[str, Any], flip: bool = False) -> dict[str, torch.Tensor]:
        """Predictions of both heads next to their targets, flattened over the clip frames."""
        x_BTCHW = self.frames(batch)
        t = x_BTCHW.shape[1]
        motion_BT2 = batch["ego_motion"][:, : t - 1].to(self.device).float()
        if flip and self.flip_prob > 0:
            mirror_B = torch.rand(x_BTCHW.shape[0], device=self.device) < self.flip_prob
            x_BTCHW = torch.where(mirror_B[:, None, None, None, None], x_BTCHW.flip(-1), x_BTCHW)
            sign_B2 = torch.ones(x_BTCHW.shape[0], 2, device=self.device)
            sign_B2[mirror_B, 1] = -1.0  # a mirrored clip turns the other way
            motion_BT2 = motion_BT2 * sign_B2[:, None, :]
        x0_NCHW = rearrange(x_BTCHW[:, :-1], "b t c h w -> (b t) c h w")
        x1_NCHW = rearrange(x_BTCHW[:, 1:], "b t c h w -> (b t) c h w")
        motion_N2 = rearrange(motion_BT2, "b t k -> (b t) k")
        time_logits, weather_logits = self.classifier(
            rearrange(x_BTCHW, "b t c h w -> (b t) c h w")
        )  # (B*T, n_time), (B*T, n_weather)
        return {
            "motion_pred": self.idm(x0_NCHW, x1_NCHW),  # (B*(T-1), 2) normalised
            "motion_target": self.idm.normalize(motion_N2),
            "time_logits": time_logits,
            "weather_logits": weather_logits,
            "time_label": repeat(batch["time_label"].to(self.device), "b -> (b t)", t=t),
            "weather_label": repeat(batch["weather_label"].to(self.device), "b -> (b t)", t=t),
        }

    def losses(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """IDM, classifier and total loss."""
        idm_loss = F.smooth_l1_loss(out["motion_pred"], out["motion_target"])
        cls_loss = masked_cross_entropy(out["time_logits"], out["time_label"])
        cls_loss = cls_loss + masked_cross_entropy(out["weather_logits"], out["weather_label"])
        return {"loss": idm_loss + cls_loss, "idm_loss": idm_loss, "cls_loss": cls_loss}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        losses = self.losses(self.outputs(batch, flip=True))
        n = batch["frames"].shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=n)
        self.log("train/idm_loss", losses["idm_loss"], prog_bar=True, batch_size=n)
        self.log("train/cls_loss", losses["cls_loss"], batch_size=n)
        return losses["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.outputs(batch)
        losses = self.losses(out)
        pred_N2 = self.idm.denormalize(out["motion_pred"])
        target_N2 = self.idm.denormalize(out["motion_target"])
        mae_2 = (pred_N2 - target_N2).abs().mean(dim=0)
        pairs = pred_N2.shape[0]
        n = batch["frames"].shape[0]
        self.log("val/loss", losses["loss"], batch_size=n, sync_dist=True)
        self.log("val/idm_mae_speed", mae_2[0], batch_size=pairs, sync_dist=True)
        self.log("val/idm_mae_yaw_rate", mae_2[1], batch_size=pairs, sync_dist=True)
        norm_err = (out["motion_pred"] - out["motion_target"]).abs().mean()
        self.log("val/idm_mae_norm", norm_err, prog_bar=True, batch_size=pairs, sync_dist=True)
        # the error of always predicting the training mean (0 in normalised units)
        baseline = out["motion_target"].abs().mean()
        self.log("val/baseline_mae_norm", baseline, batch_size=pairs, sync_dist=True)
        for name in ("time", "weather"):
            correct, valid = masked_accuracy(out[f"{name}_logits"], out[f"{name}_label"])
            # weighting by the labelled frames makes the epoch value the accuracy over all
            # labelled frames; a batch without labels gets weight 0
            self.log(
                f"val/{name}_acc",
                correct / max(valid, 1),
                batch_size=valid,
                sync_dist=True,
            )
        return losses["loss"]

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip each head on its own, so the classifier's large early gradients do not shrink
        the IDM's updates through a shared norm."""
        heads = (self.idm.parameters(), self.classifier.parameters())
        clip_each(heads, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> dict[str, Any]:
        return self.schedule.configure(self.parameters())


def masked_cross_entropy(logits_NK: torch.Tensor, labels_N: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labels that are not -1; 0 when none is."""
    total = F.cross_entropy(logits_NK, labels_N, ignore_index=UNKNOWN_LABEL, reduction="sum")
    count = (labels_N != UNKNOWN_LABEL).sum().clamp_min(1)
    return total / count


def masked_accuracy(logits_NK: torch.Tensor, labels_N: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Number of correct predictions among the labelled entries, and that number of entries."""
    valid_N = labels_N != UNKNOWN_LABEL
    correct = ((logits_NK.argmax(dim=1) == labels_N) & valid_N).sum().float()
    return correct, int(valid_N.sum())
