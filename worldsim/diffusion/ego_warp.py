"""Rotate the previous frame by the ego car's yaw before the world model predicts the change.

Between two frames the camera turns by ``yaw = yaw_rate · dt``. For a pinhole camera a pure
rotation moves every pixel by the same homography whatever its depth, so it can be applied to
the previous frame exactly (up to the strip that enters at the side, which is edge-padded). The
world model then predicts what the rotation cannot explain (forward motion, traffic, new
scenery) as a change from the rotated frame. Steering therefore moves the generated image from
the first training step on, instead of having to be discovered through the conditioning.

Camera convention (``worldsim.sim.camera``): X right, Y down, Z forward, zero pitch, a positive
yaw rate turns left, so the scene moves right in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class YawWarp:
    """The camera the frames come from: horizontal field of view and principal-point row
    (a fraction of the height); ``block`` is the tokenizer's pixel block (2 for ``patch2``,
    1 to warp the latent grid itself)."""

    hfov_deg: float
    horizon: float = 0.5
    block: int = 1

    def __post_init__(self) -> None:
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"yaw warp hfov_deg={self.hfov_deg} must lie in [1, 170] degrees")
        if not 0.0 <= self.horizon <= 1.0:
            raise ValueError(f"yaw warp horizon={self.horizon} must lie in [0, 1]")
        if self.block < 1:
            raise ValueError(f"yaw warp block={self.block} must be at least 1")

    def grid(self, yaw_B: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Sampling grid ``(B, H, W, 2)`` that reads, for each output pixel, where it was
        before the camera turned by ``yaw_B`` radians."""
        tan_half = math.tan(math.radians(self.hfov_deg) / 2)
        dev, dtype = yaw_B.device, torch.float32
        x_n = (torch.arange(width, device=dev, dtype=dtype) + 0.5) / width * 2 - 1  # (W,)
        y_n = (torch.arange(height, device=dev, dtype=dtype) + 0.5) / height * 2 - 1  # (H,)
        a_out = (x_n * tan_half)[None, None, :]  # (1, 1, W) ray x/z after the turn
        rows = (y_n + 1) / 2 - self.horizon  # (H,) in image heights from the principal row
        b_out = (rows * 2 * tan_half * height / width)[None, :, None]  # (1, H, 1) ray y/z
        cos, sin = torch.cos(yaw_B.float())[:, None, None], torch.sin(yaw_B.float())[:, None, None]
        den = a_out * sin + cos  # (B, 1, W)
        a_src = (a_out * cos - sin) / den  # (B, 1, W)
        b_src = b_out / den  # (B, H, W)
        x_src = (a_src / tan_half).expand(-1, height, -1)
        y_src = (self.horizon + b_src * width / (2 * tan_half * height)) * 2 - 1
        return torch.stack([x_src, y_src], dim=-1)

    def __call__(self, latents_BCHW: torch.Tensor, yaw_B: torch.Tensor) -> torch.Tensor:
        """``latents_BCHW`` as seen after the camera turned by ``yaw_B`` radians."""
        x = latents_BCHW
        if self.block > 1:
            x = F.pixel_shuffle(x, self.block)  # space-to-depth latents back to pixels
        grid = self.grid(yaw_B.to(x.device), x.shape[-2], x.shape[-1]).to(x.dtype)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.block > 1:
            out = F.pixel_unshuffle(out, self.block)
        return out


def warp_frames(
    warp: YawWarp | None, latents_BTCHW: torch.Tensor, yaw_BT: torch.Tensor
) -> torch.Tensor:
    """Apply ``warp`` frame by frame (no-op without a warp)."""
    if warp is None:
        return latents_BTCHW
    b, t = latents_BTCHW.shape[:2]
    flat = warp(latents_BTCHW.flatten(0, 1), yaw_BT.reshape(b * t))
    return flat.reshape(latents_BTCHW.shape)


def yaw_warp_for(hfov_deg: float, horizon: float, tokenizer_config: object) -> YawWarp | None:
    """The warp a model was configured with (``None`` when ``hfov_deg`` is 0); a patch
    tokenizer's latents are warped as pixels, any other tokenizer's latent grid directly."""
    if not hfov_deg:
        return None
    block = 1
    if getattr(tokenizer_config, "kind", None) == "patch":
        block = int(tokenizer_config.factor)
    return YawWarp(float(hfov_deg), float(horizon), block)
