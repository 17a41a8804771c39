"""The in-memory episode that every source produces and the store writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worldsim.data.captions import caption_switch

EGO_MOTION_FIELDS: tuple[str, ...] = ("speed", "yaw_rate")


@dataclass
class Episode:
    """One recorded drive, resampled to the store's time step.

    ``frames_THWC`` is uint8 RGB with even H and W. ``ego_motion_T2`` holds the canonical
    ``[speed m/s, yaw_rate rad/s]`` measured from frame t to t+1 in the ego frame.
    ``ego_state_TK`` holds the columns named in ``ego_state_fields``.
    """

    key: str
    frames_THWC: np.ndarray
    ego_motion_T2: np.ndarray
    ego_state_TK: np.ndarray
    ego_state_fields: tuple[str, ...]
    caption: str
    source: str
    dt: float
    conditions: dict[str, Any] = field(default_factory=dict)
    intrinsics: dict[str, float] = field(default_factory=dict)
    actions_TA: np.ndarray | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = self.frames_THWC
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"episode {self.key!r}: frames must be uint8 (T, H, W, 3), got "
                f"{frames.dtype} {tuple(frames.shape)}"
            )
        t, h, w, _ = frames.shape
        if h % 2 or w % 2:
            raise ValueError(
                f"episode {self.key!r}: frame size {h}x{w} must be even in both dimensions "
                "for yuv420p video; resize or crop to an even size"
            )
        if self.ego_motion_T2.shape != (t, 2):
            raise ValueError(
                f"episode {self.key!r}: ego_motion must have shape ({t}, 2), "
                f"got {tuple(self.ego_motion_T2.shape)}"
            )
        if self.ego_state_TK.shape != (t, len(self.ego_state_fields)):
            raise ValueError(
                f"episode {self.key!r}: ego_state must have shape ({t}, "
                f"{len(self.ego_state_fields)}) to match ego_state_fields, "
                f"got {tuple(self.ego_state_TK.shape)}"
            )
        if self.actions_TA is not None and self.actions_TA.shape[0] != t:
            raise ValueError(
                f"episode {self.key!r}: actions must have {t} rows, got {self.actions_TA.shape[0]}"
            )
        if not np.isfinite(self.ego_motion_T2).all():
            raise ValueError(f"episode {self.key!r}: ego_motion contains non-finite values")
        caption_switch(self.extra, t, self.key)  # a mid-way caption switch must be well formed

    @property
    def num_frames(self) -> int:
        return int(self.frames_THWC.shape[0])

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.frames_THWC.shape[1]), int(self.frames_THWC.shape[2])
