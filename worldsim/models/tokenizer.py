"""Per-frame convolutional autoencoder (the stage-1 tokenizer) and frame/tensor conversions.

Compression rule: ``channel_mult`` lists the channel multiplier of each resolution level, from
full resolution down; each entry after the first halves the resolution with a strided conv, so
``downsample = 2 ** (len(channel_mult) - 1)``: ``(1, 2, 2)`` is ×4, ``(1, 2, 2, 4)`` is ×8.

Latents are scaled by the ``latent_scale`` buffer (saved in the state dict) so that they have
about unit variance, which is what the diffusion model in stage 2 expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

BOTTLENECKS = ("kl", "tanh")
MAX_GROUPS = 8  # GroupNorm groups (fewer when the channel count is not a multiple of 8)
LOGVAR_RANGE = (-20.0, 10.0)


@dataclass
class TokenizerConfig:
    """Sizes of the frame autoencoder; ``downsample = 2 ** (len(channel_mult) - 1)``."""

    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)  # one level per entry; ×2 down between entries
    latent_channels: int = 4
    num_res_blocks: int = 1  # per level in the encoder; the decoder has one more
    bottleneck: str = "kl"  # "kl": diagonal-Gaussian posterior; "tanh": bounded, deterministic
    in_channels: int = 3

    def __post_init__(self) -> None:
        try:
            self.channel_mult = tuple(int(m) for m in self.channel_mult)
        except (TypeError, ValueError):
            raise ValueError(
                f"tokenizer.channel_mult={self.channel_mult!r} must be a list of positive integers"
            ) from None
        if len(self.channel_mult) < 1 or any(m < 1 for m in self.channel_mult):
            raise ValueError(
                f"tokenizer.channel_mult={list(self.channel_mult)} must be a non-empty list of "
                "positive integers (one entry per resolution level; ×2 downsampling between "
                "entries, so [1, 2, 2] is ×4 and [1, 2, 2, 4] is ×8)"
            )
        if self.bottleneck not in BOTTLENECKS:
            raise ValueError(
                f"tokenizer.bottleneck={self.bottleneck!r} is unknown; choose one of "
                f"{list(BOTTLENECKS)}"
            )
        for name in ("base_channels", "latent_channels", "num_res_blocks", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"tokenizer.{name}={value!r} must be an integer >= 1")

    @property
    def downsample(self) -> int:
        """Spatial compression factor of each side."""
        return 2 ** (len(self.channel_mult) - 1)


@dataclass
class TokenizerOutput:
    """What :meth:`FrameTokenizer.forward` returns for training."""

    recon: torch.Tensor  # (B, C, H, W) reconstruction in about [-1, 1]
    mean: torch.Tensor  # (B, c, h, w) unscaled posterior mean (tanh latent for "tanh")
    logvar: torch.Tensor | None  # (B, c, h, w) posterior log-variance; None for "tanh"


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups."""
    return nn.GroupNorm(math.gcd(MAX_GROUPS, channels), channels)


class ResBlock(nn.Module):
    """Pre-activation residual block: (GroupNorm, SiLU, conv 3x3) twice plus a skip."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1 = _norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = _norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = self.conv2(F.silu(self.norm2(h)))  # (B, c_out, H, W)
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided 3x3 conv: halves H and W."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)  # (B, c_out, H/2, W/2)


class Upsample(nn.Module):
    """Nearest-neighbour ×2 upsampling followed by a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, c_in, 2H, 2W)
        return self.conv(x)  # (B, c_out, 2H, 2W)


class Encoder(nn.Module):
    """Frames (B, in, H, W) -> latent moments (B, 2c or c, H/f, W/f)."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        blocks: list[nn.Module] = []
        c_prev = chans[0]
        for level, c in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(c_prev, c))
                c_prev = c
            if level < len(chans) - 1:
                blocks.append(Downsample(c, chans[level + 1]))
                c_prev = chans[level + 1]
        blocks.append(ResBlock(c_prev, c_prev))  # middle block at the lowest resolution
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = _norm(c_prev)
        moments = 2 * cfg.latent_channels if cfg.bottleneck == "kl" else cfg.latent_channels
        self.conv_out = nn.Conv2d(c_prev, moments, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # (B, c0, H, W)
        h = self.blocks(h)  # (B, cL, H/f, W/f)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 2c or c, H/f, W/f)


class Decoder(nn.Module):
    """Unscaled latents (B, c, h, w) -> frames (B, in, h*f, w*f)."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        chans = [cfg.base_channels * m for m in cfg.channel_mult][::-1]  # lowest resolution first
        self.conv_in = nn.Conv2d(cfg.latent_channels, chans[0], 3, padding=1)
        blocks: list[nn.Module] = [ResBlock(chans[0], chans[0])]  # middle block
        c_prev = chans[0]
        for level, c in enumerate(chans):
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(c_prev, c))
                c_prev = c
            if level < len(chans) - 1:
                blocks.append(Upsample(c, chans[level + 1]))
                c_prev = chans[level + 1]
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = _norm(c_prev)
        self.conv_out = nn.Conv2d(c_prev, cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)  # (B, cL, h, w)
        h = self.blocks(h)  # (B, c0, H, W)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, in, H, W)


class LatentGrid:
    """Shape bookkeeping shared by the tokenizers; ``config`` has ``downsample`` and
    ``latent_channels``, and ``size_hint`` names the setting that fixes the factor."""

    config: Any
    size_hint = "tokenizer.channel_mult"

    @property
    def downsample(self) -> int:
        """Spatial compression factor of each side."""
        return int(self.config.downsample)

    @property
    def latent_channels(self) -> int:
        return int(self.config.latent_channels)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(C, h, w)`` of the latents of a ``height × width`` frame."""
        self._check_size(height, width)
        return (self.latent_channels, height // self.downsample, width // self.downsample)

    def encode(
        self,
        frames_BCHW: torch.Tensor,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Scaled latents ``(B, C, H/f, W/f)`` of frames ``(B, in_channels, H, W)`` in [-1, 1]."""
        self._check_frames(frames_BCHW)
        return self._encode(frames_BCHW, sample, generator)

    def _encode(
        self, frames_BCHW: torch.Tensor, sample: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """The latents of frames already checked: each tokenizer's own encoding."""
        raise NotImplementedError

    def _check_frames(self, frames_BCHW: torch.Tensor) -> None:
        if frames_BCHW.ndim != 4 or frames_BCHW.shape[1] != self.config.in_channels:
            raise ValueError(
                f"frames must be (B, {self.config.in_channels}, H, W), got "
                f"{tuple(frames_BCHW.shape)}"
            )
        self._check_size(*frames_BCHW.shape[-2:])

    def _check_latents(self, latents_BCHW: Any) -> None:
        if latents_BCHW.ndim != 4 or latents_BCHW.shape[1] != self.latent_channels:
            raise ValueError(
                f"latents must be (B, {self.latent_channels}, h, w), got "
                f"{tuple(latents_BCHW.shape)}"
            )

    def _check_size(self, height: int, width: int) -> None:
        f = self.downsample
        if height % f or width % f:
            raise ValueError(
                f"frame size {height}x{width} (HxW) is not divisible by the tokenizer's "
                f"downsampling factor {f}; resize the data or change {self.size_hint}"
            )


class FrameTokenizer(LatentGrid, nn.Module):
    """Encodes frames in [-1, 1] to latents with about unit variance, and back."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.register_buffer("latent_scale", torch.ones(()))  # 1 / std of posterior means

    def moments(self, frames_BCHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Unscaled posterior mean and log-variance (None for the tanh bottleneck)."""
        self._check_frames(frames_BCHW)
        h = self.encoder(frames_BCHW)  # (B, 2c or c, h, w)
        if self.config.bottleneck == "kl":
            mean, logvar = h.chunk(2, dim=1)  # (B, c, h, w) each
            return mean, logvar.clamp(*LOGVAR_RANGE)
        return torch.tanh(h), None

    @staticmethod
    def _sample(
        mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * noise

    def _encode(
        self, frames_BCHW: torch.Tensor, sample: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Scaled posterior means, or samples with ``sample`` (KL only; needs a ``generator``)."""
        mean, logvar = self.moments(frames_BCHW)
        z = mean
        if sample and logvar is not None:
            if generator is None:
                raise ValueError("encode(sample=True) needs a torch.Generator for the noise")
            z = self._sample(mean, logvar, generator)
        return z * self.latent_scale  # (B, c, h, w)

    def decode(self, latents_BCHW: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, h*f, w*f)`` in about [-1, 1] from scaled latents."""
        self._check_latents(latents_BCHW)
        return self.decoder(latents_BCHW / self.latent_scale)

    def forward(
        self,
        frames_BCHW: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool | None = None,
    ) -> TokenizerOutput:
        """Reconstruct through the bottleneck (the training path; latents are not scaled).

        ``sample`` (default: ``self.training``) decodes a posterior sample drawn with
        ``generator`` (torch's default generator when None, as in a seeded training run).
        """
        mean, logvar = self.moments(frames_BCHW)  # (B, c, h, w)
        sample = self.training if sample is None else sample
        z = self._sample(mean, logvar, generator) if sample and logvar is not None else mean
        recon = self.decoder(z)  # (B, 3, H, W)
        return TokenizerOutput(recon=recon, mean=mean, logvar=logvar)

    @torch.no_grad()
    def calibrate_scale(self, frames_BCHW: torch.Tensor) -> float:
        """Set ``latent_scale`` to 1 / std of the unscaled posterior means; returns it."""
        mean, _ = self.moments(frames_BCHW)
        scale = 1.0 / float(mean.float().std().clamp_min(1e-6))
        self.latent_scale.fill_(scale)
        return scale


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., H, W, C)`` -> float32 ``(..., C, H, W)`` in [-1, 1]."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.asarray(frames))
    if x.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 (..., H, W, 3), got dtype {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"frames must be (..., H, W, 3), got shape {tuple(x.shape)}")
    return rearrange(x.float() / 127.5 - 1.0, "... h w c -> ... c h w")


def tensor_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float ``(..., C, H, W)`` in [-1, 1] -> uint8 ``(..., H, W, C)`` (clipped, rounded)."""
    x = ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return rearrange(x, "... c h w -> ... h w c")
