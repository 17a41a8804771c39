"""Evaluation heads: an inverse-dynamics model (ego motion between two frames) and a
time-of-day / weather classifier whose features also serve a Fréchet distance.

Both read frames with a small convolutional encoder: stride-2 conv blocks (GroupNorm + SiLU),
global average pooling and a linear projection to ``feature_dim``. The public ``predict`` and
``embed`` methods take uint8 frames and return numpy arrays, in chunks of ``batch_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange, reduce
from torch import nn

from worldsim.models.tokenizer import frames_to_tensor

ENCODER_MULT = (1, 2, 4, 4)  # channel multiplier of each stride-2 block
MAX_GROUPS = 8
MIN_SIZE = 16  # smallest frame height and width the heads accept


@dataclass
class HeadsConfig:
    """Sizes of the evaluation heads' encoders."""

    width: int = 32  # channels of the first conv block
    feature_dim: int = 64  # size of the pooled feature vector

    def __post_init__(self) -> None:
        for name in ("width", "feature_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"heads.{name}={value!r} must be a positive integer")


def conv_blocks(in_channels: int, width: int) -> tuple[nn.Sequential, int]:
    """The stride-2 conv blocks (GroupNorm + SiLU) of every head, and their output channels."""
    layers: list[nn.Module] = []
    channels = in_channels
    for mult in ENCODER_MULT:
        out = width * mult
        layers += [
            nn.Conv2d(channels, out, 3, stride=2, padding=1),
            nn.GroupNorm(math.gcd(MAX_GROUPS, out), out),
            nn.SiLU(),
        ]
        channels = out
    return nn.Sequential(*layers), channels


class ConvEncoder(nn.Module):
    """``(B, C, H, W)`` frames -> ``(B, feature_dim)`` pooled features."""

    def __init__(self, in_channels: int, config: HeadsConfig) -> None:
        super().__init__()
        self.blocks, channels = conv_blocks(in_channels, config.width)
        self.proj = nn.Linear(channels, config.feature_dim)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        h_BCHW = self.blocks(x_BCHW)  # (B, 4 * width, H / 16, W / 16)
        h_BC = reduce(h_BCHW, "b c h w -> b c", "mean")  # (B, 4 * width)
        return self.proj(h_BC)  # (B, feature_dim)


def _as_uint8(frames: np.ndarray | torch.Tensor, ndim: int, layout: str) -> torch.Tensor:
    """Check ``frames`` is uint8 with ``ndim`` dims, 3 channels and H, W >= MIN_SIZE."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.asarray(frames))
    if x.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 {layout}, got dtype {x.dtype}")
    if x.ndim != ndim or x.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 {layout}, got shape {tuple(x.shape)}")
    if x.shape[-3] < MIN_SIZE or x.shape[-2] < MIN_SIZE:
        raise ValueError(
            f"frames must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {x.shape[-3]}x{x.shape[-2]}"
        )
    return x


def _chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


class InverseDynamicsModel(nn.Module):
    """Predicts the normalised ego motion ``[speed, yaw_rate]`` from frame t to frame t+1."""

    def __init__(
        self, config: HeadsConfig, motion_mean: Sequence[float], motion_std: Sequence[float]
    ) -> None:
        super().__init__()
        mean = torch.as_tensor(list(motion_mean), dtype=torch.float32)
        std = torch.as_tensor(list(motion_std), dtype=torch.float32)
        if mean.shape != (2,) or std.shape != (2,):
            raise ValueError(
                f"motion_mean and motion_std must have 2 values (speed, yaw_rate), got "
                f"{tuple(mean.shape)} and {tuple(std.shape)}"
            )
        if not bool(torch.isfinite(mean).all()) or not bool((std > 0).all()):
            raise ValueError(
                f"motion_mean={mean.tolist()} must be finite and motion_std={std.tolist()} > 0"
            )
        self.config = config
        self.encoder = ConvEncoder(9, config)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(config.feature_dim, 2))
        self.register_buffer("motion_mean", mean)
        self.register_buffer("motion_std", std)

    def forward(self, x0_BCHW: torch.Tensor, x1_BCHW: torch.Tensor) -> torch.Tensor:
        """Normalised motion ``(B, 2)`` between frames in [-1, 1]."""
        if x0_BCHW.shape != x1_BCHW.shape:
            raise ValueError(
                f"x0 and x1 must have the same shape, got {tuple(x0_BCHW.shape)} and "
                f"{tuple(x1_BCHW.shape)}"
            )
        x_BCHW = torch.cat([x0_BCHW, x1_BCHW, x1_BCHW - x0_BCHW], dim=1)  # (B, 9, H, W)
        return self.head(self.encoder(x_BCHW))  # (B, 2)

    def normalize(self, motion_B2: torch.Tensor) -> torch.Tensor:
        """Physical motion -> the normalised units ``forward`` predicts."""
        return (motion_B2 - self.motion_mean) / self.motion_std

    def denormalize(self, motion_B2: torch.Tensor) -> torch.Tensor:
        """Normalised motion -> ``[speed m/s, yaw_rate rad/s]``."""
        return motion_B2 * self.motion_std + self.motion_mean

    @torch.no_grad()
    def predict(self, frames: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Motion ``(B, T-1, 2)`` in m/s and rad/s from uint8 clips ``(B, T, H, W, 3)``."""
        x = _as_uint8(frames, 5, "(B, T, H, W, 3)")
        b, t = x.shape[:2]
        if t < 2:
            raise ValueError(f"clips need at least 2 frames to predict motion, got T={t}")
        x0_NHWC = rearrange(x[:, :-1], "b t h w c -> (b t) h w c")
        x1_NHWC = rearrange(x[:, 1:], "b t h w c -> (b t) h w c")
        param = next(self.parameters())
        out = []
        for part in _chunks(x0_NHWC.shape[0], batch_size):
            x0 = frames_to_tensor(x0_NHWC[part].to(param.device)).to(param.dtype)
            x1 = frames_to_tensor(x1_NHWC[part].to(param.device)).to(param.dtype)
            out.append(self.denormalize(self(x0, x1).float()).cpu())
        motion_N2 = torch.cat(out) if out else torch.zeros(0, 2)
        return rearrange(motion_N2.numpy(), "(b t) k -> b t k", b=b, t=t - 1)


class ConditionClassifier(nn.Module):
    """Time of day and weather of single frames, from one shared encoder."""

    def __init__(
        self, config: HeadsConfig, time_labels: Sequence[str], weather_labels: Sequence[str]
    ) -> None:
        super().__init__()
        for name, labels in (("time_labels", time_labels), ("weather_labels", weather_labels)):
            if len(labels) == 0 or len(set(labels)) != len(labels):
                raise ValueError(f"{name}={list(labels)} must be a non-empty list of unique names")
        self.config = config
        self.time_labels = [str(label) for label in time_labels]
        self.weather_labels = [str(label) for label in weather_labels]
        self.encoder = ConvEncoder(3, config)
        self.time_head = nn.Sequential(nn.SiLU(), nn.Linear(config.feature_dim, len(time_labels)))
        self.weather_head = nn.Sequential(
            nn.SiLU(), nn.Linear(config.feature_dim, len(weather_labels))
        )

    def features(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feature_dim)`` of frames in [-1, 1]."""
        return self.encoder(x_BCHW)

    def forward(self, x_BCHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time-of-day logits ``(B, n_time)`` and weather logits ``(B, n_weather)``."""
        f_BF = self.features(x_BCHW)
        return self.time_head(f_BF), self.weather_head(f_BF)

    def _batches(
        self, frames: np.ndarray | torch.Tensor, batch_size: int
    ) -> Iterator[torch.Tensor]:
        """Chunks of ``frames`` (N, H, W, 3) as float ``(b, 3, H, W)`` on the module's device."""
        x = _as_uint8(frames, 4, "(N, H, W, 3)")
        param = next(self.parameters())
        for part in _chunks(x.shape[0], batch_size):
            yield frames_to_tensor(x[part].to(param.device)).to(param.dtype)

    @torch.no_grad()
    def predict(
        self, frames: np.ndarray | torch.Tensor, batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label indices ``(N,)`` of time of day and of weather for uint8 ``(N, H, W, 3)``."""
        times, weathers = [torch.zeros(0, dtype=torch.int64)], [torch.zeros(0, dtype=torch.int64)]
        for x_BCHW in self._batches(frames, batch_size):
            time_logits, weather_logits = self(x_BCHW)
            times.append(time_logits.argmax(dim=1).cpu())
            weathers.append(weather_logits.argmax(dim=1).cpu())
        return torch.cat(times).numpy(), torch.cat(weathers).numpy()

    @torch.no_grad()
    def embed(self, frames: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Features ``(N, feature_dim)`` as float64 of uint8 ``(N, H, W, 3)`` frames."""
        out = [torch.zeros(0, self.config.feature_dim, dtype=torch.float64)]
        for x_BCHW in self._batches(frames, batch_size):
            out.append(self.features(x_BCHW).double().cpu())
        return torch.cat(out).numpy()


# -- driving signals ------------------------------------------------------------------------
SIGNALS: tuple[str, ...] = ("lane_offset", "heading_error", "offroad", "collision", "lead_gap")
# Output columns of DrivingHeads: two regressions, three logits and the lead-gap regression.
OUTPUTS: tuple[str, ...] = (
    "lane_offset",  # metres / OFFSET_SCALE
    "heading_error",  # rad / HEADING_SCALE
    "offroad_logit",
    "collision_logit",
    "lead_logit",  # a vehicle ahead in the lane closer than lead_gap_max
    "lead_gap",  # metres / lead_gap_max, meaningful where there is a lead
)
OFFSET_SCALE = 1.0  # m
HEADING_SCALE = 0.1  # rad
HEADS_SCALES = (OFFSET_SCALE, HEADING_SCALE)


@dataclass
class DrivingHeadsConfig:
    """Sizes and input of the driving-signal heads."""

    height: int = 64  # frame size the heads read (they flatten the final feature map)
    width: int = 112
    frames: int = 2  # the last ``frames`` frames, stacked on channels
    channels: int = 32  # channels of the first conv block
    feature_dim: int = 128
    lead_gap_max: float = 50.0  # metres; no lead closer than this counts as no lead

    def __post_init__(self) -> None:
        for name in ("height", "width", "frames", "channels", "feature_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"driving_heads.{name}={value!r} must be a positive integer")
        if self.height < MIN_SIZE or self.width < MIN_SIZE:
            raise ValueError(
                f"driving_heads reads frames of at least {MIN_SIZE}x{MIN_SIZE}, got "
                f"{self.height}x{self.width}"
            )
        if not self.lead_gap_max > 0:
            raise ValueError(f"driving_heads.lead_gap_max={self.lead_gap_max} must be > 0")


class DrivingHeads(nn.Module):
    """Lane offset, heading error, off-road, collision and lead gap of the newest frame.

    Reads the last ``frames`` frames stacked on channels with stride-2 conv blocks; the final
    feature map is flattened, not pooled, because where the lane markings are in the image is
    what the lateral offset and the heading error are.
    """

    def __init__(self, config: DrivingHeadsConfig) -> None:
        super().__init__()
        self.config = config
        self.blocks, channels = conv_blocks(3 * config.frames, config.channels)
        h, w = config.height, config.width
        for _ in ENCODER_MULT:  # each block halves the size, rounding up
            h, w = (h + 1) // 2, (w + 1) // 2
        self.proj = nn.Sequential(
            nn.Linear(channels * h * w, config.feature_dim), nn.SiLU(), nn.Dropout(0.1)
        )
        self.out = nn.Linear(config.feature_dim, len(OUTPUTS))

    def forward(self, x_BKCHW: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(B, len(OUTPUTS))`` of ``K`` frames each in [-1, 1]."""
        x_BCHW = rearrange(x_BKCHW, "b k c h w -> b (k c) h w")
        h_BCHW = self.blocks(x_BCHW)
        return self.out(self.proj(rearrange(h_BCHW, "b c h w -> b (c h w)")))

    def check_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, K, H, W, 3)`` of this config's ``K``, ``H``, ``W``, as a tensor."""
        x = _as_uint8(frames, 5, "(N, K, H, W, 3)")
        c = self.config
        if tuple(x.shape[1:4]) != (c.frames, c.height, c.width):
            raise ValueError(
                f"the driving heads read {c.frames} frames of {c.height}x{c.width}, got "
                f"frames of shape {tuple(x.shape)}"
            )
        return x

    @torch.no_grad()
    def predict(
        self, frames: np.ndarray | torch.Tensor, batch_size: int = 256
    ) -> dict[str, np.ndarray]:
        """The signals of uint8 windows ``(N, K, H, W, 3)``, each ``(N,)`` float64 numpy:
        ``lane_offset`` (m), ``heading_error`` (rad), ``offroad_prob``, ``collision_prob``,
        ``lead_prob`` and ``lead_gap`` (m; ``lead_gap_max`` where ``lead_prob < 0.5``)."""
        x = self.check_frames(frames)
        outs = [torch.zeros(0, len(OUTPUTS))]
        for part in _chunks(x.shape[0], batch_size):
            outs.append(self(self.input_tensor(x[part])).float().cpu())
        return self.signals(torch.cat(outs))

    def input_tensor(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames ``(..., H, W, 3)`` -> the heads' input ``(..., 3, H, W)`` in [-1, 1],
        on their device and in their dtype.

        As ``frames_to_tensor``, but transposed while still uint8 and scaled in place: the
        conversion of 8 frames a window is otherwise dearer than the convolutions.
        """
        x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.asarray(frames))
        param = next(self.parameters())
        u = rearrange(x.to(param.device), "... h w c -> ... c h w").contiguous()
        return u.to(param.dtype).div_(127.5).sub_(1.0)

    @torch.no_grad()
    def predict_inputs(self, x_NKCHW: torch.Tensor) -> dict[str, np.ndarray]:
        """:meth:`predict` of windows already converted by :meth:`input_tensor`."""
        c = self.config
        if tuple(x_NKCHW.shape[1:]) != (c.frames, 3, c.height, c.width):
            raise ValueError(
                f"the driving heads read inputs of shape (N, {c.frames}, 3, {c.height}, "
                f"{c.width}), got {tuple(x_NKCHW.shape)}"
            )
        return self.signals(self(x_NKCHW).float().cpu())

    def signals(self, out_NO: torch.Tensor) -> dict[str, np.ndarray]:
        """Physical signals of raw outputs ``(N, len(OUTPUTS))`` (see :meth:`predict`)."""
        o = out_NO.double().numpy()
        gap_max = self.config.lead_gap_max
        lead_prob = _sigmoid(o[:, 4])
        gap = np.clip(o[:, 5] * gap_max, -5.0, gap_max)
        return {
            "lane_offset": o[:, 0] * OFFSET_SCALE,
            "heading_error": o[:, 1] * HEADING_SCALE,
            "offroad_prob": _sigmoid(o[:, 2]),
            "collision_prob": _sigmoid(o[:, 3]),
            "lead_prob": lead_prob,
            "lead_gap": np.where(lead_prob >= 0.5, gap, gap_max),
        }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))
