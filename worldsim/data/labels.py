"""Scene-condition labels (time of day, weather) for clip items, read from episode metadata."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from worldsim.data.store import EpisodeStore
from worldsim.sim.conditions import TIMES_OF_DAY, WEATHERS

UNKNOWN = -1


class ConditionLabels(Dataset):
    """Adds ``time_label`` and ``weather_label`` (int64 scalars) to the items of ``base``.

    A label is the index of the episode's ``meta["conditions"]["time_of_day"]`` (or
    ``["weather"]``) in ``time_labels`` (``weather_labels``), or -1 when the episode records
    no such condition or a name outside the list. Items must carry their episode ``key``.
    The labels of every episode are read once, here, so the dataset pickles to DataLoader
    workers as plain data.
    """

    def __init__(
        self,
        base: Dataset,
        store_root: str | os.PathLike[str],
        time_labels: Sequence[str] = TIMES_OF_DAY,
        weather_labels: Sequence[str] = WEATHERS,
    ) -> None:
        self.base = base
        self.time_labels = list(time_labels)
        self.weather_labels = list(weather_labels)
        store = EpisodeStore(Path(store_root), verify=False)
        self._labels: dict[str, tuple[int, int]] = {
            key: self._episode_labels(store.meta(key)) for key in store.keys()
        }
        # Episodes whose look switches mid-way: the labels from the switch frame on.
        self._switches: dict[str, tuple[int, tuple[int, int]]] = {}
        for key in store.keys():
            switch = store.caption_switch(key)
            if switch is not None:
                after = {**(store.meta(key).get("conditions") or {}), **switch.conditions}
                self._switches[key] = (switch.frame, self._episode_labels({"conditions": after}))

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def _episode_labels(self, meta: dict[str, Any]) -> tuple[int, int]:
        conditions = meta.get("conditions")
        if not isinstance(conditions, dict):
            conditions = {}
        return (
            _index(conditions.get("time_of_day"), self.time_labels),
            _index(conditions.get("weather"), self.weather_labels),
        )

    def labels(self, key: str) -> tuple[int, int]:
        """``(time_label, weather_label)`` of episode ``key``; -1 where unknown."""
        if key not in self._labels:
            raise KeyError(f"episode {key!r} is not in the labelled store")
        return self._labels[key]

    def clip_labels(self, key: str, start: int, length: int) -> tuple[int, int]:
        """The labels of frames ``start .. start+length-1``: -1 for a condition that switches
        inside them."""
        before = self.labels(key)
        if key not in self._switches:
            return before
        frame, after = self._switches[key]
        if start >= frame:
            return after
        if start + length <= frame:
            return before
        return tuple(b if b == a else UNKNOWN for b, a in zip(before, after, strict=True))  # type: ignore[return-value]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.base[index])
        if "start" in item and item["key"] in self._switches:
            length = len(item["ego_motion"])  # (T, 2): one row per frame of the clip
            time_label, weather_label = self.clip_labels(item["key"], int(item["start"]), length)
        else:
            time_label, weather_label = self.labels(item["key"])
        item["time_label"] = torch.tensor(time_label, dtype=torch.int64)
        item["weather_label"] = torch.tensor(weather_label, dtype=torch.int64)
        return item


def _index(value: Any, labels: list[str]) -> int:
    """Position of ``value`` in ``labels``, or -1 when it is missing or not listed."""
    return labels.index(value) if isinstance(value, str) and value in labels else UNKNOWN
