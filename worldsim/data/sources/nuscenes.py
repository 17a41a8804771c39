"""nuScenes source: camera sweep chains resampled to ``dt`` by real timestamps.

For every scene and camera, the full ``sample_data`` chain (keyframes and sweeps, about 12 Hz) is
followed through its ``prev``/``next`` links. Target times are ``t0 + k * dt``; each takes the
image nearest in time, and the ego pose is interpolated at the exact target time between the
two ``ego_pose`` records around it (position linearly, yaw from the quaternions, unwrapped).
Ego motion ``[speed, yaw_rate]`` is then the planar displacement projected on the heading and
the yaw change, over the real time between targets. Dropped sweeps are bridged because nothing
assumes a fixed rate.

Frames are scaled to cover the target size and centre-cropped (the intrinsics are updated).
An image that is missing or unreadable cuts the episode before it (``on_missing="cut"``) or
leaves the episode out (``on_missing="skip"``); either way it is reported, never written.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from worldsim.data.episode import Episode
from worldsim.data.errors import SkipEpisode
from worldsim.utils.image import cover_and_crop

EGO_STATE_FIELDS: tuple[str, ...] = ("x", "y", "heading", "speed", "timestamp")
MISSING_POLICIES = ("cut", "skip")


def _require_devkit() -> Any:
    try:
        from nuscenes.nuscenes import NuScenes
    except ImportError as exc:
        raise ImportError(
            'the nuScenes source needs nuscenes-devkit: pip install "worldsim[nuscenes]"'
        ) from exc
    return NuScenes


NUSCENES_TABLES = (
    "attribute",
    "calibrated_sensor",
    "category",
    "ego_pose",
    "instance",
    "log",
    "map",
    "sample",
    "sample_annotation",
    "sample_data",
    "scene",
    "sensor",
    "visibility",
)


@lru_cache(maxsize=2)
def open_nuscenes(root: str, version: str) -> Any:
    """The devkit's ``NuScenes`` for ``root``/``version``, loaded once per process."""
    NuScenes = _require_devkit()
    tables = Path(root) / version
    if not tables.is_dir():
        raise FileNotFoundError(
            f"nuScenes tables not found: expected the folder {tables} (source.root={root}, "
            f"source.version={version}); point source.root at the dataset root that holds "
            f"{version}/, samples/, sweeps/ and maps/"
        )
    missing = [t for t in NUSCENES_TABLES if not (tables / f"{t}.json").is_file()]
    if missing:
        raise FileNotFoundError(
            f"nuScenes tables {missing} are missing from {tables}; unpack the full {version} "
            "metadata archive there"
        )
    try:
        return NuScenes(version=version, dataroot=root, verbose=False)
    except Exception as exc:  # the devkit asserts, or fails to parse, on damaged tables
        raise ValueError(
            f"the nuScenes devkit cannot load the tables in {tables} "
            f"({type(exc).__name__}: {exc}); re-extract the {version} metadata archive"
        ) from exc


def official_splits(version: str) -> dict[str, str]:
    """Scene name -> ``train``/``val`` from the devkit's official splits."""
    _require_devkit()
    from nuscenes.utils.splits import create_splits_scenes

    splits = create_splits_scenes(verbose=False)
    names = ("mini_train", "mini_val") if "mini" in version else ("train", "val")
    out = {scene: "train" for scene in splits[names[0]]}
    out.update({scene: "val" for scene in splits[names[1]]})
    return out


def yaw_from_quaternion(q_wxyz: list[float]) -> float:
    """Heading about the up axis from a ``[w, x, y, z]`` quaternion."""
    w, x, y, z = q_wxyz
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


@dataclass
class Chain:
    """One camera's sample_data chain of a scene, in time order."""

    timestamps_us: np.ndarray  # (N,) int64
    filenames: list[str]
    xy_N2: np.ndarray  # ego position, metres
    yaw_N: np.ndarray  # unwrapped heading, radians
    intrinsic_33: np.ndarray
    image_size: tuple[int, int]  # (width, height)


def resample_times(timestamps_us: np.ndarray, dt: float) -> np.ndarray:
    """Target times ``t0 + k dt`` (microseconds) that lie inside the chain."""
    step = int(round(dt * 1e6))
    count = int((timestamps_us[-1] - timestamps_us[0]) // step) + 1
    return timestamps_us[0] + step * np.arange(count, dtype=np.int64)


def ego_motion_at(chain: Chain, targets_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated poses ``(T, 3)`` and motion ``(T, 2)`` at the target times."""
    t = chain.timestamps_us.astype(np.float64)
    x = np.interp(targets_us, t, chain.xy_N2[:, 0])
    y = np.interp(targets_us, t, chain.xy_N2[:, 1])
    yaw = np.interp(targets_us, t, chain.yaw_N)
    dt_s = np.diff(targets_us.astype(np.float64)) / 1e6
    dx, dy = np.diff(x), np.diff(y)
    speed = (dx * np.cos(yaw[:-1]) + dy * np.sin(yaw[:-1])) / dt_s
    yaw_rate = np.diff(yaw) / dt_s
    motion = np.stack([speed, yaw_rate], axis=1)
    motion = np.concatenate([motion, motion[-1:]], axis=0) if len(motion) else np.zeros((1, 2))
    return np.stack([x, y, yaw], axis=1), motion


def nearest_indices(timestamps_us: np.ndarray, targets_us: np.ndarray) -> np.ndarray:
    """Index of the chain entry nearest in time to every target."""
    right = np.clip(np.searchsorted(timestamps_us, targets_us), 1, len(timestamps_us) - 1)
    left = right - 1
    pick_left = (targets_us - timestamps_us[left]) <= (timestamps_us[right] - targets_us)
    return np.where(pick_left, left, right)


@dataclass
class NuScenesSource:
    """Episodes ``<scene name>-<camera>`` from a nuScenes root, via the official devkit."""

    root: str
    version: str = "v1.0-mini"
    cameras: list[str] = field(default_factory=lambda: ["CAM_FRONT"])
    dt: float = 0.1
    height: int = 64
    width: int = 112
    splits: list[str] = field(default_factory=lambda: ["train", "val"])
    on_missing: str = "cut"
    min_frames: int = 8
    name: str = "nuscenes"
    # Where the dataset lies and which scenes/cameras are picked do not change an episode's
    # content, so a re-run may differ in them without a settings mismatch.
    settings_exempt: ClassVar[tuple[str, ...]] = ("root", "cameras", "splits", "min_frames")

    def __post_init__(self) -> None:
        if self.on_missing not in MISSING_POLICIES:
            raise ValueError(
                f"source.on_missing={self.on_missing!r} is not allowed; choose one of "
                f"{list(MISSING_POLICIES)}"
            )
        if self.height % 2 or self.width % 2:
            raise ValueError(f"frame size {self.height}x{self.width} must be even")
        self.root = os.fspath(self.root)
        self.cameras = list(self.cameras)
        self.splits = list(self.splits)

    def nusc(self) -> Any:
        return open_nuscenes(self.root, self.version)

    def keys(self) -> list[str]:
        nusc = self.nusc()
        split_of = official_splits(self.version)
        channels = {s["channel"] for s in nusc.sensor}
        unknown = sorted(set(self.cameras) - channels)
        if unknown:
            raise ValueError(
                f"source.cameras {unknown} not in this dataset; choose from {sorted(channels)}"
            )
        scenes = sorted(s["name"] for s in nusc.scene if split_of.get(s["name"]) in self.splits)
        return [f"{scene}-{camera}" for scene in scenes for camera in self.cameras]

    def _parse(self, key: str) -> tuple[dict[str, Any], str]:
        for camera in self.cameras:
            if key.endswith(f"-{camera}"):
                name = key[: -len(camera) - 1]
                for scene in self.nusc().scene:
                    if scene["name"] == name:
                        return scene, camera
        raise KeyError(
            f"{key!r} is not an episode of this source; keys look like scene-0061-CAM_FRONT"
        )

    def chain(self, scene: dict[str, Any], camera: str) -> Chain:
        """Follow the camera's full sweep chain of ``scene`` through prev/next links."""
        nusc = self.nusc()
        first = nusc.get("sample", scene["first_sample_token"])
        record = nusc.get("sample_data", first["data"][camera])
        while record["prev"]:
            previous = nusc.get("sample_data", record["prev"])
            if nusc.get("sample", previous["sample_token"])["scene_token"] != scene["token"]:
                break
            record = previous
        stamps, files, xy, yaw = [], [], [], []
        calib = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
        size = (int(record["width"]), int(record["height"]))
        while True:
            pose = nusc.get("ego_pose", record["ego_pose_token"])
            stamps.append(int(record["timestamp"]))
            files.append(record["filename"])
            xy.append(pose["translation"][:2])
            yaw.append(yaw_from_quaternion(pose["rotation"]))
            if not record["next"]:
                break
            record = nusc.get("sample_data", record["next"])
            if nusc.get("sample", record["sample_token"])["scene_token"] != scene["token"]:
                break
        order = np.argsort(stamps, kind="stable")
        return Chain(
            timestamps_us=np.asarray(stamps, dtype=np.int64)[order],
            filenames=[files[i] for i in order],
            xy_N2=np.asarray(xy, dtype=np.float64)[order],
            yaw_N=np.unwrap(np.asarray(yaw, dtype=np.float64)[order]),
            intrinsic_33=np.asarray(calib["camera_intrinsic"], dtype=np.float64),
            image_size=size,
        )

    def load(self, key: str) -> Episode:
        from PIL import Image

        scene, camera = self._parse(key)
        chain = self.chain(scene, camera)
        targets = resample_times(chain.timestamps_us, self.dt)
        poses, motion = ego_motion_at(chain, targets)
        picks = nearest_indices(chain.timestamps_us, targets)
        frames, missing = [], []
        for idx in picks:
            path = Path(self.root) / chain.filenames[idx]
            try:
                with Image.open(path) as im:
                    image = np.asarray(im.convert("RGB"))
            except (OSError, ValueError):
                missing.append(str(path))
                continue
            if not missing:  # keep frames up to the first missing one
                frames.append(cover_and_crop(image, self.height, self.width)[0])
        if missing:
            report = f"{len(missing)} missing or unreadable image(s), first: {missing[:3]}"
            if self.on_missing == "skip" or len(frames) < self.min_frames:
                raise SkipEpisode(f"{report}; episode left out (on_missing={self.on_missing})")
            warnings.warn(f"episode {key!r}: {report}; cut to {len(frames)} frames", stacklevel=2)
        n = len(frames)
        k = chain.intrinsic_33
        scale = max(self.height / chain.image_size[1], self.width / chain.image_size[0])
        new_w = max(self.width, round(chain.image_size[0] * scale))
        new_h = max(self.height, round(chain.image_size[1] * scale))
        intrinsics = {
            "fx": float(k[0, 0] * scale),
            "fy": float(k[1, 1] * scale),
            "cx": float(k[0, 2] * scale - (new_w - self.width) // 2),
            "cy": float(k[1, 2] * scale - (new_h - self.height) // 2),
            "width": float(self.width),
            "height": float(self.height),
        }
        log = self.nusc().get("log", scene["log_token"])
        state = np.column_stack(
            [poses[:n, 0], poses[:n, 1], poses[:n, 2], motion[:n, 0], targets[:n] / 1e6]
        )
        split = official_splits(self.version).get(scene["name"])
        return Episode(
            key=key,
            frames_THWC=np.stack(frames),
            ego_motion_T2=motion[:n].astype(np.float32),
            ego_state_TK=state,
            ego_state_fields=EGO_STATE_FIELDS,
            caption=f"{scene['description']}, {log['location']}",
            source=self.name,
            dt=self.dt,
            conditions={"scene": scene["name"], "location": log["location"], "camera": camera},
            intrinsics=intrinsics,
            split=split,
            extra={
                "chain_length": len(chain.filenames),
                "duplicated_frames": int(n - len(set(picks[:n].tolist()))),
                "missing_images": len(missing),
                "first_missing": missing[:3],
                "cut_at": n if missing else None,
            },
        )
