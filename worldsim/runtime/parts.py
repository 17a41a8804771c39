"""``WorldModelParts``: the trained pieces a ``WorldModel`` runs, as loaded from a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from worldsim.models.dit import VideoDiT


@dataclass(frozen=True)
class WorldModelParts:
    """A trained world model: its networks, ego-motion statistics, frame interval and the kind
    of output its DiT predicts; ``WorldModel.from_parts`` adds the run-time settings."""

    tokenizer: nn.Module
    dit: VideoDiT
    text_encoder: nn.Module
    motion_mean: Sequence[float]  # (A,) of the ego motion, in physical units
    motion_std: Sequence[float]  # (A,)
    dt: float  # seconds between frames
    prediction: str = "velocity"  # what the DiT outputs (diffusion/prediction.py)
