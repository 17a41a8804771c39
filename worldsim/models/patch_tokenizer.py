"""A lossless, parameter-free tokenizer: space-to-depth patches of the pixels.

Each ``factor × factor`` block of RGB pixels becomes ``3 · factor²`` latent channels (pixel
unshuffle), scaled by a fixed ``scale`` so that latents have about unit variance. Decoding
inverts it exactly, so the reconstruction ceiling is the 8-bit quantisation of the frame and
encoding and decoding cost next to nothing. At 64×112 this is cheaper and better than any
autoencoder a CPU can train in minutes; the world model then predicts pixels directly, which
its ``x0_residual`` parameterisation makes well posed (see docs/world-model.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.models.tokenizer import LatentGrid


@dataclass
class PatchTokenizerConfig:
    """``factor``: side of each pixel block; ``scale``: latent = scale · pixel in [-1, 1]."""

    factor: int = 2
    scale: float = 2.0
    in_channels: int = 3
    kind: str = "patch"

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise ValueError(f"tokenizer.factor={self.factor!r} must be an integer >= 1")
        if not (isinstance(self.scale, (int, float)) and 0 < float(self.scale) < float("inf")):
            raise ValueError(f"tokenizer.scale={self.scale!r} must be a positive number")
        if self.kind != "patch":
            raise ValueError(f"PatchTokenizerConfig.kind must be 'patch', got {self.kind!r}")

    @property
    def downsample(self) -> int:
        return self.factor

    @property
    def latent_channels(self) -> int:
        return self.in_channels * self.factor**2


class PatchTokenizer(LatentGrid, nn.Module):
    """Frames ``(B, 3, H, W)`` in [-1, 1] <-> latents ``(B, 3f², H/f, W/f)``, exactly."""

    size_hint = "tokenizer.factor"

    def __init__(self, config: PatchTokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("latent_scale", torch.tensor(float(config.scale)))

    def _encode(
        self, frames_BCHW: torch.Tensor, sample: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Scaled latents ``(B, 3f², H/f, W/f)`` (deterministic; ``sample`` is ignored)."""
        return F.pixel_unshuffle(frames_BCHW, self.downsample) * self.latent_scale

    def decode(self, latents_BCHW: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, H, W)`` from scaled latents."""
        self._check_latents(latents_BCHW)
        return F.pixel_shuffle(latents_BCHW / self.latent_scale, self.downsample)

    def to_dict(self) -> dict[str, object]:
        return asdict(self.config)
