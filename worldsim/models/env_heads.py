"""Learned-env heads: reward, episode end and inverse dynamics of a recorded Gymnasium env.

One small convolutional encoder reads a transition, the tokenizer latents of frame t and of
frame t+1 (and their difference), and three heads read its pooled features:

- ``reward``: the reward received on arriving at frame t+1, given the action taken at t;
- ``terminated``: the logit that the transition into frame t+1 ended the episode;
- ``idm``: the action taken at t (the encoded Box action, or Discrete logits).

They train beside the world model on real transitions of the store (``WorldModelModule`` with
``env_heads``) and serve the learned copy of the env (``worldsim/LearnedEnv-v0``) and its
evaluation (``worldsim-eval suite=env``): features for a Fréchet distance, the IDM for a
per-action confusion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsim.models.heads import ConvEncoder, HeadsConfig

ACTION_KINDS = ("box", "discrete")


@dataclass
class EnvHeadsConfig:
    """Sizes of the heads and the shape of what they read and predict."""

    latent_channels: int  # C of the tokenizer latents
    action_dim: int  # width of the encoded action (Discrete: n)
    action_kind: str = "box"  # box | discrete
    width: int = 32  # channels of the encoder's first conv block
    feature_dim: int = 64
    reward_mean: float = 0.0  # the store's reward statistics (targets are standardised)
    reward_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("latent_channels", "action_dim", "width", "feature_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"env_heads.{name}={value!r} must be a positive integer")
        if self.action_kind not in ACTION_KINDS:
            raise ValueError(
                f"env_heads.action_kind={self.action_kind!r} is unknown; use one of "
                f"{list(ACTION_KINDS)}"
            )
        if not self.reward_std > 0:
            raise ValueError(f"env_heads.reward_std={self.reward_std!r} must be > 0")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class TransitionPrediction:
    """What the heads say of a batch of B transitions."""

    reward_B: torch.Tensor  # in the env's units
    terminated_logit_B: torch.Tensor
    action_BA: torch.Tensor  # Box: encoded action in [-1, 1]; Discrete: logits
    features_BF: torch.Tensor


class EnvHeads(nn.Module):
    """Reward, episode end and inverse dynamics from the latents of two consecutive frames."""

    def __init__(self, config: EnvHeadsConfig) -> None:
        super().__init__()
        self.config = config
        sizes = HeadsConfig(width=config.width, feature_dim=config.feature_dim)
        self.encoder = ConvEncoder(3 * config.latent_channels, sizes)
        f, a = config.feature_dim, config.action_dim
        self.idm = nn.Sequential(nn.SiLU(), nn.Linear(f, a))
        self.outcome = nn.Sequential(nn.Linear(f + a, f), nn.SiLU(), nn.Linear(f, 2))

    def features(self, z0_BCHW: torch.Tensor, z1_BCHW: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feature_dim)`` of the transitions ``z0 -> z1``."""
        if z0_BCHW.shape != z1_BCHW.shape or z0_BCHW.ndim != 4:
            raise ValueError(
                f"z0 and z1 must be latents of the same (B, C, h, w) shape, got "
                f"{tuple(z0_BCHW.shape)} and {tuple(z1_BCHW.shape)}"
            )
        if z0_BCHW.shape[1] != self.config.latent_channels:
            raise ValueError(
                f"latents have {z0_BCHW.shape[1]} channels, the heads read "
                f"{self.config.latent_channels}"
            )
        return self.encoder(torch.cat([z0_BCHW, z1_BCHW, z1_BCHW - z0_BCHW], dim=1))

    def forward(
        self, z0_BCHW: torch.Tensor, z1_BCHW: torch.Tensor, action_BA: torch.Tensor
    ) -> TransitionPrediction:
        """Heads of the transitions ``z0 -> z1`` under the encoded actions ``action_BA``."""
        if action_BA.shape != (z0_BCHW.shape[0], self.config.action_dim):
            raise ValueError(
                f"actions must have shape ({z0_BCHW.shape[0]}, {self.config.action_dim}), got "
                f"{tuple(action_BA.shape)}"
            )
        f_BF = self.features(z0_BCHW, z1_BCHW)
        out_B2 = self.outcome(torch.cat([f_BF, action_BA.to(f_BF.dtype)], dim=1))
        reward = out_B2[:, 0] * self.config.reward_std + self.config.reward_mean
        return TransitionPrediction(reward, out_B2[:, 1], self.idm(f_BF), f_BF)

    def loss(
        self,
        z0_BCHW: torch.Tensor,
        z1_BCHW: torch.Tensor,
        action_BA: torch.Tensor,
        reward_B: torch.Tensor,
        terminated_B: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The three losses on real transitions (standardised reward MSE, end BCE, IDM)."""
        pred = self(z0_BCHW, z1_BCHW, action_BA)
        std, mean = self.config.reward_std, self.config.reward_mean
        reward = F.mse_loss((pred.reward_B - mean) / std, (reward_B.float() - mean) / std)
        ended = F.binary_cross_entropy_with_logits(pred.terminated_logit_B, terminated_B.float())
        if self.config.action_kind == "discrete":
            idm = F.cross_entropy(pred.action_BA, action_BA.argmax(dim=1))
        else:
            idm = F.mse_loss(pred.action_BA, action_BA.float())
        return {"reward": reward, "terminated": ended, "idm": idm}


def transition_pairs(x_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T, ...)`` -> the ``(B * (T-1), ...)`` items at t and at t+1 of every pair."""
    first = rearrange(x_BT[:, :-1], "b t ... -> (b t) ...")
    second = rearrange(x_BT[:, 1:], "b t ... -> (b t) ...")
    return first, second
