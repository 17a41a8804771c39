"""Per-frame convolutional autoencoder (the stage-1 tokenizer) and frame/tensor conversions.

Compression rule: each entry of ``channel_mult`` after the first adds one ×2 downsampling, so
``downsample = 2 ** (len(channel_mult) - 1)``: ``(1, 2, 2)`` is ×4, ``(1, 2, 2, 4)`` is ×8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

BOTTLENECKS = ("kl", "tanh")


@dataclass
class TokenizerConfig:
    """Sizes of the frame autoencoder."""

    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    latent_channels: int = 4
    num_res_blocks: int = 1
    bottleneck: str = "kl"
    in_channels: int = 3

    def __post_init__(self) -> None:
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        if len(self.channel_mult) < 1 or any(m < 1 for m in self.channel_mult):
            raise ValueError(
                f"tokenizer.channel_mult={list(self.channel_mult)} must be a non-empty list of "
                "positive integers (one entry per resolution; ×2 downsampling between entries)"
            )
        if self.bottleneck not in BOTTLENECKS:
            raise ValueError(
                f"tokenizer.bottleneck={self.bottleneck!r} is unknown; choose one of {list(BOTTLENECKS)}"
            )
        for name in ("base_channels", "latent_channels", "num_res_blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"tokenizer.{name}={getattr(self, name)} must be at least 1")
        if self.base_channels % 8:
            raise ValueError(
                f"tokenizer.base_channels={self.base_channels} must be a multiple of 8"
            )

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


@dataclass
class TokenizerOutput:
    recon: torch.Tensor
    mean: torch.Tensor
    logvar: torch.Tensor | None


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class FrameTokenizer(nn.Module):
    """Encodes frames in [-1, 1] to latents with about unit variance, and back."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = cfg = config
        chans = [cfg.base_channels * m for m in cfg.channel_mult]
        self.enc_in = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        enc: list[nn.Module] = []
        for i, c in enumerate(chans):
            c_prev = chans[max(i - 1, 0)]
            for j in range(cfg.num_res_blocks):
                enc.append(ResBlock(c_prev if j == 0 else c, c))
            if i < len(chans) - 1:
                enc.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.encoder = nn.Sequential(*enc, nn.GroupNorm(8, chans[-1]), nn.SiLU())
        moments = 2 * cfg.latent_channels if cfg.bottleneck == "kl" else cfg.latent_channels
        self.to_latent = nn.Conv2d(chans[-1], moments, 1)
        self.from_latent = nn.Conv2d(cfg.latent_channels, chans[-1], 3, padding=1)
        dec: list[nn.Module] = []
        rev = chans[::-1]
        for i, c in enumerate(rev):
            c_prev = rev[max(i - 1, 0)]
            for j in range(cfg.num_res_blocks + 1):
                dec.append(ResBlock(c_prev if j == 0 else c, c))
            if i < len(rev) - 1:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
        self.decoder = nn.Sequential(*dec, nn.GroupNorm(8, rev[-1]), nn.SiLU())
        self.dec_out = nn.Conv2d(rev[-1], cfg.in_channels, 3, padding=1)
        self.register_buffer("latent_scale", torch.ones(()))

    @property
    def downsample(self) -> int:
        return self.config.downsample

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def _check(self, frames_BCHW: torch.Tensor) -> None:
        h, w = frames_BCHW.shape[-2:]
        f = self.downsample
        if frames_BCHW.ndim != 4 or frames_BCHW.shape[1] != self.config.in_channels:
            raise ValueError(
                f"frames must be (B, {self.config.in_channels}, H, W), got {tuple(frames_BCHW.shape)}"
            )
        if h % f or w % f:
            raise ValueError(
                f"frame size {h}x{w} is not divisible by the tokenizer's downsampling factor {f}"
            )

    def moments(self, frames_BCHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Unscaled posterior mean and log-variance (None for the tanh bottleneck)."""
        self._check(frames_BCHW)
        h = self.to_latent(self.encoder(self.enc_in(frames_BCHW)))
        if self.config.bottleneck == "kl":
            mean, logvar = h.chunk(2, dim=1)
            return mean, logvar.clamp(-20.0, 10.0)
        return torch.tanh(h), None

    def encode(
        self,
        frames_BCHW: torch.Tensor,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Scaled latents ``(B, C, H/f, W/f)``; ``sample`` draws from the KL posterior."""
        mean, logvar = self.moments(frames_BCHW)
        z = mean
        if sample and logvar is not None:
            noise = torch.randn(
                mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
            )
            z = mean + torch.exp(0.5 * logvar) * noise
        return z * self.latent_scale

    def decode(self, latents_BCHW: torch.Tensor) -> torch.Tensor:
        """Frames in about [-1, 1] from scaled latents."""
        h = self.from_latent(latents_BCHW / self.latent_scale)
        return self.dec_out(self.decoder(h))

    def forward(
        self, frames_BCHW: torch.Tensor, generator: torch.Generator | None = None
    ) -> TokenizerOutput:
        mean, logvar = self.moments(frames_BCHW)
        z = mean
        if logvar is not None and self.training:
            noise = torch.randn(
                mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
            )
            z = mean + torch.exp(0.5 * logvar) * noise
        recon = self.dec_out(self.decoder(self.from_latent(z)))
        return TokenizerOutput(recon=recon, mean=mean, logvar=logvar)

    @torch.no_grad()
    def calibrate_scale(self, frames_BCHW: torch.Tensor) -> float:
        """Set ``latent_scale`` so that encoded latents have unit standard deviation."""
        mean, _ = self.moments(frames_BCHW)
        std = float(mean.float().std().clamp_min(1e-6))
        self.latent_scale.fill_(1.0 / std)
        return 1.0 / std


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` -> float ``(..., 3, H, W)`` in [-1, 1]."""
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if x.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8, got {x.dtype}")
    return rearrange(x.float() / 127.5 - 1.0, "... h w c -> ... c h w")


def tensor_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float ``(..., 3, H, W)`` in [-1, 1] -> uint8 ``(..., H, W, 3)``."""
    x = ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return rearrange(x, "... c h w -> ... h w c")


def psnr_tensor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB between tensors in [-1, 1]."""
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).pow(2).mean()
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-10))
