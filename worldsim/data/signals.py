"""Windows of frames labelled with the simulator's driving signals, for the driving heads.

A procedural store records ``lane_offset``, ``heading_error``, ``offroad``, ``collision`` and
``lead_gap`` in each frame's ego state (``docs/data-format.md``). The heads read the last ``K``
frames and predict the signals of the newest one. The frames of a split are decoded once into
memory (a 64x112 frame is 21 KiB), so an epoch costs no video decoding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from worldsim.data.store import EpisodeStore
from worldsim.models.heads import SIGNALS
from worldsim.utils.scores import auroc, precision_recall


def signal_columns(store: EpisodeStore, key: str) -> list[int]:
    """The ego-state columns of ``SIGNALS`` in episode ``key``; a ValueError says which
    signals the store lacks and how to record them."""
    fields = list(store.meta(key)["ego_state_fields"])
    missing = [name for name in SIGNALS if name not in fields]
    if missing:
        raise ValueError(
            f"episode {key!r} of store {store.root} records no {missing} (its ego state has "
            f"{fields}); the driving heads train on a procedural store written by this "
            "worldsim, e.g. `worldsim-train experiment=driving_heads` generates one"
        )
    return [fields.index(name) for name in SIGNALS]


class SignalWindows(Dataset):
    """Every window of ``frames`` consecutive frames of one split, with the newest frame's
    signals. Items: ``frames`` uint8 ``(K, H, W, 3)``, ``signals`` float32 ``(len(SIGNALS),)``
    in the order of ``SIGNALS``, ``key`` and ``index`` (of the newest frame)."""

    def __init__(
        self,
        store_root: str | os.PathLike[str],
        split: str | None,
        frames: int = 2,
        allow_empty: bool = False,
    ) -> None:
        if frames < 1:
            raise ValueError(f"frames={frames} must be >= 1")
        store = EpisodeStore(Path(store_root))
        keys = store.keys(split)
        if not keys and not allow_empty:
            raise ValueError(f"store {store_root} has no episodes in split {split!r}")
        self.frames = frames
        self.episodes: list[np.ndarray] = []  # each (T, H, W, 3) uint8
        self.labels: list[np.ndarray] = []  # each (T, len(SIGNALS)) float32
        self.index: list[tuple[int, int]] = []  # (episode, newest frame)
        self.keys = keys
        for e, key in enumerate(keys):
            columns = signal_columns(store, key)
            frames_THWC = store.frames(key)
            self.episodes.append(frames_THWC)
            self.labels.append(store.ego_state(key)[:, columns].astype(np.float32))
            self.index += [(e, t) for t in range(frames - 1, frames_THWC.shape[0])]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        e, t = self.index[i]
        return {
            "frames": torch.from_numpy(self.episodes[e][t - self.frames + 1 : t + 1]),
            "signals": torch.from_numpy(self.labels[e][t]),
            "key": self.keys[e],
            "index": t,
        }

    def all_signals(self) -> np.ndarray:
        """The signals of every item, ``(len(self), len(SIGNALS))``."""
        if not self.index:
            return np.zeros((0, len(SIGNALS)), np.float32)
        return np.stack([self.labels[e][t] for e, t in self.index])


class SignalDataModule(L.LightningDataModule):
    """Train (``train`` split) and validation (``val`` split) windows of a store, and of
    ``extra_stores`` beside it (e.g. world-model replays of its drives)."""

    def __init__(
        self,
        store: str,
        frames: int = 2,
        batch_size: int = 64,
        extra_stores: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size} must be >= 1")
        self.store, self.frames, self.batch_size = str(store), frames, batch_size
        self.stores = [self.store, *(str(s) for s in extra_stores)]
        self._train: Dataset | None = None
        self._val: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self._train is None:
            self._train = ConcatDataset(
                [
                    SignalWindows(s, "train", self.frames, allow_empty=i > 0)
                    for i, s in enumerate(self.stores)
                ]
            )
            # a small store may hold no val episode: training then runs without validation
            self._val = ConcatDataset(
                [SignalWindows(s, "val", self.frames, allow_empty=True) for s in self.stores]
            )

    def train_dataloader(self) -> DataLoader:
        assert self._train is not None
        drop_last = len(self._train) > self.batch_size  # a tiny store still gives one batch
        return DataLoader(
            self._train, batch_size=self.batch_size, shuffle=True, drop_last=drop_last
        )

    def val_dataloader(self) -> DataLoader:
        assert self._val is not None
        return DataLoader(self._val, batch_size=self.batch_size)


def signal_accuracy(
    pred: dict[str, np.ndarray], true_NS: np.ndarray, lead_gap_max: float = 50.0
) -> dict[str, float]:
    """The heads' accuracy table on labelled frames, with constant baselines.

    ``pred`` is :meth:`DrivingHeads.predict`'s output; ``true_NS`` holds the recorded signals
    in the order of ``SIGNALS``. A constant baseline predicts the median (for MAE) or one
    score for every frame (AUROC 0.5). Lane offset and heading error MAE are measured on the
    on-road frames (``*_mae``) and on all frames (``*_mae_all``): off the road the lane offset
    grows without bound and the episode has ended, so no reward reads it there.
    """
    col = {name: true_NS[:, i] for i, name in enumerate(SIGNALS)}
    onroad = col["offroad"] < 0.5
    out: dict[str, float] = {"frames": float(len(true_NS)), "onroad_frames": float(onroad.sum())}
    for name in ("lane_offset", "heading_error"):
        # headline: on the road, where the signal drives the reward (off it, episodes end)
        for suffix, mask in (("", onroad), ("_all", np.ones_like(onroad))):
            if not mask.any():
                continue
            err = np.abs(pred[name][mask] - col[name][mask])
            out[f"{name}_mae{suffix}"] = float(err.mean())
            const = np.abs(col[name][mask] - np.median(col[name][mask]))
            out[f"{name}_mae{suffix}_constant"] = float(const.mean())
    for name in ("offroad", "collision"):
        labels = col[name] > 0.5
        out[f"{name}_auroc"] = auroc(pred[f"{name}_prob"], labels)
        out[f"{name}_positives"] = float(labels.sum())
        p, r = precision_recall(pred[f"{name}_prob"] > 0.5, labels)
        out[f"{name}_precision"], out[f"{name}_recall"] = p, r
    lead = col["lead_gap"] < lead_gap_max - 1e-3
    if lead.any():
        out["lead_gap_mae"] = float(np.abs(pred["lead_gap"][lead] - col["lead_gap"][lead]).mean())
        median = np.median(col["lead_gap"][lead])
        out["lead_gap_mae_constant"] = float(np.abs(col["lead_gap"][lead] - median).mean())
    out["lead_auroc"] = auroc(pred["lead_prob"], lead)
    return out
