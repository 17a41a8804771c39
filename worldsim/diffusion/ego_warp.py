"""Move the previous frame by the ego motion before the world model predicts the change.

Between two frames the camera turns by ``yaw = yaw_rate · dt`` and travels ``speed · dt`` along
the arc that this turn describes. For a pinhole camera a pure rotation moves every pixel by the
same homography whatever its depth, and the travel moves every pixel of a flat ground plane by
another one that depends only on the camera's height above it. Both are applied to the previous
frame (up to the strip that enters at an edge, which is edge-padded): everything above the
principal row is treated as infinitely far (it only turns), everything below it as ground. The
world model then predicts only what this cannot explain (objects that stand on the ground,
traffic, new scenery) as a change from the moved frame. Steering and speed therefore move the
generated image from the first training step on, instead of having to be discovered through
the conditioning.

Camera convention (``worldsim.sim.camera``): X right, Y down, Z forward, zero pitch, a positive
yaw rate turns left, so the scene moves right in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")  # the grid_sample modes the warp may use


@dataclass(frozen=True)
class EgoWarp:
    """The camera the frames come from: horizontal field of view, principal-point row (a
    fraction of the height) and height above the ground in metres (0: turn only, the ground
    does not move with the travel); ``block`` is the tokenizer's pixel block (2 for
    ``patch2``, 1 to warp the latent grid itself)."""

    hfov_deg: float
    horizon: float = 0.5
    mount_height: float = 0.0
    block: int = 1
    base: str = "turned"  # the view the predicted change is added to: turned or moved
    interpolation: str = "bilinear"  # grid_sample's mode (benchmarks/sharpness.py compares)

    def __post_init__(self) -> None:
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"ego warp hfov_deg={self.hfov_deg} must lie in [1, 170] degrees")
        if not 0.0 <= self.horizon <= 1.0:
            raise ValueError(f"ego warp horizon={self.horizon} must lie in [0, 1]")
        if not math.isfinite(self.mount_height) or self.mount_height < 0.0:
            raise ValueError(
                f"ego warp mount_height={self.mount_height} must be 0 (turn only) or the "
                "camera's height above the ground in metres"
            )
        if self.block < 1:
            raise ValueError(f"ego warp block={self.block} must be at least 1")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"ego warp interpolation={self.interpolation!r} must be one of {INTERPOLATIONS}"
            )
        if self.base not in ("turned", "moved") or (self.base == "moved" and not self.mount_height):
            raise ValueError(
                f"ego warp base={self.base!r} must be 'turned', or 'moved' with a mount_height"
            )

    def grid(
        self,
        yaw_B: torch.Tensor,
        height: int,
        width: int,
        travel_B: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sampling grid ``(B, H, W, 2)`` that reads, for each output pixel, where it was
        before the camera turned by ``yaw_B`` radians and travelled ``travel_B`` metres."""
        tan_half = math.tan(math.radians(self.hfov_deg) / 2)
        dev, dtype = yaw_B.device, torch.float32
        x_n = (torch.arange(width, device=dev, dtype=dtype) + 0.5) / width * 2 - 1  # (W,)
        y_n = (torch.arange(height, device=dev, dtype=dtype) + 0.5) / height * 2 - 1  # (H,)
        a_out = (x_n * tan_half)[None, None, :]  # (1, 1, W) ray x/z after the move
        rows = (y_n + 1) / 2 - self.horizon  # (H,) in image heights from the principal row
        b_out = (rows * 2 * tan_half * height / width)[None, :, None]  # (1, H, 1) ray y/z
        yaw = yaw_B.float()[:, None, None]  # (B, 1, 1)
        cos, sin = torch.cos(yaw), torch.sin(yaw)
        x_num = a_out * cos - sin  # (B, 1, W) ray x of the old camera, times z / depth
        den = a_out * sin + cos  # (B, 1, W) ray z of the old camera, times z / depth
        if self.mount_height > 0 and travel_B is not None:
            # The arc of length `travel` that turns by `yaw`: forward sin(yaw)/yaw, left
            # (1 - cos(yaw))/yaw of its length, in the old camera's axes.
            travel = travel_B.to(dev, dtype)[:, None, None]  # (B, 1, 1)
            forward = travel * torch.sinc(yaw / math.pi)
            left = travel * torch.sin(yaw / 2) * torch.sinc(yaw / (2 * math.pi))
            ground = b_out.clamp(min=0.0) / self.mount_height  # (1, H, 1) 1 / ground depth
            x_num = x_num - left * ground  # (B, H, W)
            den = den + forward * ground
        a_src = x_num / den
        b_src = b_out / den
        x_src = (a_src / tan_half).expand(-1, height, width)
        y_src = ((self.horizon + b_src * width / (2 * tan_half * height)) * 2 - 1).expand(
            -1, height, width
        )
        return torch.stack([x_src, y_src], dim=-1)

    def __call__(
        self,
        latents_BCHW: torch.Tensor,
        yaw_B: torch.Tensor,
        travel_B: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``latents_BCHW`` as seen after the camera turned by ``yaw_B`` radians and
        travelled ``travel_B`` metres (ignored without a ``mount_height``)."""
        x = latents_BCHW
        if self.block > 1:
            x = F.pixel_shuffle(x, self.block)  # space-to-depth latents back to pixels
        grid = self.grid(yaw_B.to(x.device), x.shape[-2], x.shape[-1], travel_B).to(x.dtype)
        out = F.grid_sample(
            x, grid, mode=self.interpolation, padding_mode="border", align_corners=False
        )
        if self.block > 1:
            out = F.pixel_unshuffle(out, self.block)
        return out

    def views(
        self, latents_BCHW: torch.Tensor, motion_B2: torch.Tensor, dt: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The previous frame as the world model uses it: ``base``, which the predicted change
        is added to, and the DiT's input ``(B, k·C, h, w)``. Without a ``mount_height`` both
        are the frame turned by the yaw (k = 1). With one, the input is the base followed by
        the other view (k = 2): the frame turned only, and the frame moved along the ground
        as well; ``self.base`` says which of the two is the base."""
        motion = motion_B2.to(latents_BCHW.device, torch.float32)
        yaw = motion[:, 1] * dt
        turned = self(latents_BCHW, yaw)
        if self.mount_height <= 0:
            return turned, turned
        moved = self(latents_BCHW, yaw, motion[:, 0] * dt)
        base, other = (turned, moved) if self.base == "turned" else (moved, turned)
        return base, torch.cat([base, other], dim=1)


def warp_frames(
    warp: EgoWarp | None, latents_BTCHW: torch.Tensor, motion_BT2: torch.Tensor, dt: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``EgoWarp.views`` of frame ``i`` of ``latents_BTCHW`` under the ego motion
    ``motion_BT2`` (physical units) over ``dt``; both are the frames themselves without a warp."""
    if warp is None:
        return latents_BTCHW, latents_BTCHW
    b, t = latents_BTCHW.shape[:2]
    base, views = warp.views(latents_BTCHW.flatten(0, 1), motion_BT2.reshape(b * t, 2), dt)
    return base.reshape(latents_BTCHW.shape), views.reshape(b, t, *views.shape[1:])


def ego_warp_for(
    hfov_deg: float,
    horizon: float,
    mount_height: float,
    tokenizer_config: object,
    base: str = "turned",
    interpolation: str = "bilinear",
) -> EgoWarp | None:
    """The warp a model was configured with (``None`` when ``hfov_deg`` is 0); a patch
    tokenizer's latents are warped as pixels, any other tokenizer's latent grid directly."""
    if not hfov_deg:
        return None
    block = 1
    if getattr(tokenizer_config, "kind", None) == "patch":
        block = int(tokenizer_config.factor)
    return EgoWarp(
        float(hfov_deg), float(horizon), float(mount_height), block, str(base), str(interpolation)
    )
