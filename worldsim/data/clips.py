"""Fixed-length clip windows over an episode store, and a torch Dataset that reads them."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from worldsim.data.captions import window_captions
from worldsim.data.store import EpisodeStore


@dataclass(frozen=True)
class ClipWindow:
    """Frames ``[start, start + length)`` of episode ``key``."""

    key: str
    start: int
    length: int


def clip_windows(
    store: EpisodeStore,
    clip_len: int,
    stride: int | None = None,
    split: str | None = None,
) -> list[ClipWindow]:
    """All windows of ``clip_len`` frames every ``stride`` frames (default: ``clip_len``).

    Episode ``k`` with ``T`` frames gives ``(T - clip_len) // stride + 1`` windows starting at
    0, stride, 2 * stride, ...; episodes shorter than ``clip_len`` give none.
    """
    stride = clip_len if stride is None else stride
    if clip_len < 1 or stride < 1:
        raise ValueError(f"clip_len and stride must be >= 1, got {clip_len} and {stride}")
    windows: list[ClipWindow] = []
    for key in store.keys(split):
        last = store.num_frames(key) - clip_len
        windows.extend(ClipWindow(key, start, clip_len) for start in range(0, last + 1, stride))
    return windows


def read_clips(
    store: EpisodeStore, windows: list[ClipWindow], threads: int = 4
) -> list[np.ndarray]:
    """Decode the windows' frames concurrently; returns (T, H, W, 3) uint8 arrays in order."""
    if threads <= 1 or len(windows) <= 1:
        return [store.frames(w.key, w.start, w.length) for w in windows]
    with ThreadPoolExecutor(max_workers=min(threads, len(windows))) as pool:
        return list(pool.map(lambda w: store.frames(w.key, w.start, w.length), windows))


class WindowOptions(TypedDict, total=False):
    """The keyword options of :class:`WindowDataset`, for subclasses that pass them on."""

    split: str | None
    clip_len: int
    stride: int | None
    verify: bool


class WindowDataset(Dataset):
    """Clip windows of one split of a store, which is opened lazily once in each process.

    Subclasses add the clip's pixels or latents to :meth:`item`'s ego motion, caption and key;
    what :meth:`fresh` names is reset in a new process and left out when pickled.
    """

    _store: EpisodeStore | None
    _pid: int | None

    def __init__(
        self,
        store_root: str | os.PathLike[str],
        split: str | None = "train",
        clip_len: int = 16,
        stride: int | None = None,
        verify: bool = True,
    ) -> None:
        self.store_root = Path(store_root)
        self.verify = verify
        self.split = split
        self.clip_len = clip_len
        store = EpisodeStore(self.store_root)
        self.windows = clip_windows(store, clip_len, stride, split)
        self.stats = store.stats.ego_motion
        self.__dict__.update(self.fresh())

    def fresh(self) -> dict[str, Any]:
        """The per-process attributes as a new process starts with them."""
        return {"_store": None, "_pid": None}

    @property
    def store(self) -> EpisodeStore:
        if self._store is None or self._pid != os.getpid():
            self.__dict__.update(self.fresh())
            self._store = EpisodeStore(self.store_root, verify=self.verify)
            self._pid = os.getpid()
        return self._store

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, **self.fresh()}

    def __len__(self) -> int:
        return len(self.windows)

    def item(self, window: ClipWindow, **data: torch.Tensor) -> dict[str, Any]:
        """``data`` with the window's ego motion (raw and normalised), captions, key and start.

        ``caption`` is the caption of the window's last frame; ``caption_first`` that of its
        first frame and ``switch_at`` the index from which ``caption`` holds (0 unless the
        episode's caption switches inside the window; see :mod:`worldsim.data.captions`).
        """
        store = self.store
        ego_motion_T2 = store.ego_motion(window.key)[window.start : window.start + window.length]
        first, last, switch_at = window_captions(
            store.caption(window.key), store.caption_switch(window.key), window.start, window.length
        )
        return {
            **data,
            "ego_motion": torch.from_numpy(np.ascontiguousarray(ego_motion_T2, np.float32)),
            "ego_motion_norm": torch.from_numpy(self.stats.normalize(ego_motion_T2)),
            "caption": last,
            "caption_first": first,
            "switch_at": switch_at,
            "key": window.key,
            "start": window.start,
        }


class ClipDataset(WindowDataset):
    """Clips of ``clip_len`` frames from one split of an episode store.

    Items are dicts: ``frames`` uint8 (T, H, W, 3), ``ego_motion`` float32 (T, 2),
    ``ego_motion_norm`` float32 (T, 2) normalised with the store's train statistics,
    ``caption`` str, ``key`` str, ``start`` int. The store is opened lazily in each process,
    so the dataset is safe to use with DataLoader workers. ``verify`` is passed to
    :class:`EpisodeStore` (checksum each file once per process).
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        window = self.windows[index]
        frames_THWC = self.store.frames(window.key, window.start, window.length)
        return self.item(window, frames=torch.from_numpy(frames_THWC))
