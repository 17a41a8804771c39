"""Forward-looking pinhole camera mounted on the ego car."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Pinhole camera with zero pitch; the principal point sits above centre to show more road.

    Camera axes: X right, Y down, Z forward. Pixel centres are at integer + 0.5.
    """

    height: int = 64
    width: int = 112
    hfov_deg: float = 70.0
    mount_height: float = 1.5  # metres above the ground
    horizon: float = 0.42  # principal point row as a fraction of the image height

    def __post_init__(self) -> None:
        if self.height % 2 or self.width % 2 or self.height < 16 or self.width < 16:
            raise ValueError(
                f"resolution {self.height}x{self.width} must be even and at least 16x16 "
                "(video is stored as yuv420p); pick e.g. 64x112, 128x224 or 256x448"
            )
        if not 20.0 <= self.hfov_deg <= 150.0:
            raise ValueError(f"hfov_deg={self.hfov_deg} must lie in [20, 150]")

    @cached_property
    def fx(self) -> float:
        return 0.5 * self.width / float(np.tan(np.radians(self.hfov_deg) / 2))

    @cached_property
    def fy(self) -> float:
        return self.fx

    @cached_property
    def cx(self) -> float:
        return 0.5 * self.width

    @cached_property
    def cy(self) -> float:
        return self.horizon * self.height

    def intrinsics(self) -> dict[str, float]:
        """Camera matrix entries plus the mount height, as stored in episode metadata."""
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": float(self.width),
            "height": float(self.height),
            "mount_height": self.mount_height,
        }

    @cached_property
    def rays_HW3(self) -> np.ndarray:
        """Per-pixel ray direction with unit Z component."""
        u = np.arange(self.width) + 0.5
        v = np.arange(self.height) + 0.5
        rays = np.empty((self.height, self.width, 3))
        rays[..., 0] = ((u - self.cx) / self.fx)[None, :]
        rays[..., 1] = ((v - self.cy) / self.fy)[:, None]
        rays[..., 2] = 1.0
        return rays

    def project(self, points_N3: np.ndarray) -> np.ndarray:
        """Camera-frame points to pixel coordinates ``(N, 2)`` as ``(u, v)``."""
        z = points_N3[:, 2]
        return np.stack(
            [self.cx + self.fx * points_N3[:, 0] / z, self.cy + self.fy * points_N3[:, 1] / z],
            axis=1,
        )


def world_to_camera(
    points_N3: np.ndarray, x: float, y: float, heading: float, mount_height: float
) -> np.ndarray:
    """World points (x, y, z-up) to camera coordinates for an ego at ``(x, y, heading)``."""
    dx = points_N3[..., 0] - x
    dy = points_N3[..., 1] - y
    c, s = np.cos(heading), np.sin(heading)
    forward = dx * c + dy * s
    left = -dx * s + dy * c
    return np.stack([-left, mount_height - points_N3[..., 2], forward], axis=-1)
