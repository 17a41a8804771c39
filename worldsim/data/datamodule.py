"""LightningDataModule over an episode store: clip windows of frames or cached latents."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, WeightedRandomSampler

from worldsim.data.action_codec import encode_actions
from worldsim.data.clips import ClipDataset
from worldsim.data.labels import ConditionLabels
from worldsim.data.store import EpisodeStore

CONDITIONS = ("ego_motion", "actions")


class ConditionedClips(Dataset):
    """Adds the per-frame conditioning to clip items: ``cond`` (normalised, what the model
    sees) and ``cond_raw`` (the units the runtime takes). ``ego_motion`` uses the store's
    normalisation statistics; ``actions`` encodes the recorded raw actions with their space."""

    def __init__(self, base: Dataset, store_root: str, condition: str) -> None:
        self.base = base
        self.store_root = store_root
        self.condition = condition
        self._store: EpisodeStore | None = None
        if condition == "actions":
            space = EpisodeStore(store_root).action_space
            if space is None:
                raise ValueError(
                    f"data.condition=actions but store {store_root} has no recorded action space; "
                    "record it with `worldsim-data source=gym ...` or use data.condition=ego_motion"
                )
            self.space = space

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.base[index])
        if self.condition == "ego_motion":
            item["cond"] = item["ego_motion_norm"]
            item["cond_raw"] = item["ego_motion"]
            return item
        if self._store is None:
            self._store = EpisodeStore(self.store_root)
        start = int(item["start"])
        length = item["ego_motion"].shape[0]
        raw = self._store.actions(item["key"])[start : start + length]
        encoded = torch.from_numpy(encode_actions(raw, self.space))
        item["cond"] = item["cond_raw"] = encoded
        item.update(outcome_labels(self._store, item["key"], start, length))
        return item


OUTCOME_FIELDS = ("reward", "terminated")


def outcome_labels(store: EpisodeStore, key: str, start: int, length: int) -> dict[str, Any]:
    """``reward`` and ``terminated`` ``(T,)`` float32 of a clip, each on arriving at its frame,
    when the episode's ego state records them (the gym source does); else nothing."""
    fields = list(store.meta(key)["ego_state_fields"])
    if not all(name in fields for name in OUTCOME_FIELDS):
        return {}
    state_TK = store.ego_state(key)[start : start + length]
    return {
        name: torch.from_numpy(state_TK[:, fields.index(name)].astype("float32"))
        for name in OUTCOME_FIELDS
    }


@dataclass(frozen=True)
class ClipSettings:
    """What a clip item holds: ``clip_len`` frames (or cached latents) of the store ``store``."""

    store: str
    clip_len: int
    condition: str
    latents_dir: str | None
    labels: bool

    def dataset(self, split: str, stride: int | None, motion_from: str | None = None) -> Dataset:
        """The ``split`` clips, conditioned and, with ``labels``, labelled. With
        ``motion_from`` (another store's root) the ego motion is normalised with that store's
        statistics, so that clips of two stores mixed in one batch share the model's units."""
        if self.latents_dir is not None:
            from worldsim.data.latents import LatentClipDataset

            base: Any = LatentClipDataset(
                self.store, self.latents_dir, split=split, clip_len=self.clip_len, stride=stride
            )
        else:
            base = ClipDataset(self.store, split=split, clip_len=self.clip_len, stride=stride)
        if motion_from is not None:
            base.stats = EpisodeStore(motion_from).stats.ego_motion
        dataset: Dataset = ConditionedClips(base, self.store, self.condition)
        if self.labels:
            dataset = ConditionLabels(dataset, self.store)
        return dataset


@dataclass(frozen=True)
class StoreMix:
    """A second store whose training clips make up ``share`` of the training draws (its
    latents in ``latents_dir`` when the main store's are cached)."""

    store: str
    share: float
    latents_dir: str | None = None


class EpisodeDataModule(L.LightningDataModule):
    """Train/val clips of ``clip_len`` frames from the store at ``store``.

    With ``latents_dir`` set, items carry cached tokenizer latents instead of decoded frames
    (stage 2 of training never decodes video then). With ``labels`` set, items also carry the
    episode's ``time_label`` and ``weather_label`` (see :class:`ConditionLabels`). With ``mix``
    the training clips are drawn from two stores, ``mix.share`` of them (with replacement) from
    ``mix.store``, whose ego motion is normalised with the main store's statistics; an epoch
    is as long as the main store's training clips, and validation uses the main store only.
    """

    def __init__(
        self,
        store: str,
        clip_len: int = 8,
        batch_size: int = 8,
        num_workers: int = 0,
        stride: int | None = None,
        val_stride: int | None = None,
        latents_dir: str | None = None,
        condition: str = "ego_motion",
        labels: bool = False,
        mix: StoreMix | None = None,
    ) -> None:
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(
                f"data.condition={condition!r} is unknown; choose one of {list(CONDITIONS)}"
            )
        if clip_len < 1 or batch_size < 1 or num_workers < 0:
            raise ValueError(
                f"data.clip_len={clip_len} and data.batch_size={batch_size} must be >= 1 and "
                f"data.num_workers={num_workers} >= 0"
            )
        if mix is not None and not 0.0 < mix.share < 1.0:
            raise ValueError(
                f"data.mix.share={mix.share} must lie strictly between 0 and 1 (the share of "
                f"training clips drawn from {mix.store}); set data.mix.store=null to use one store"
            )
        if mix is not None and (mix.latents_dir is None) != (latents_dir is None):
            raise ValueError(
                "the mixed store's latents must be cached exactly when the main store's are "
                f"(latents_dir={latents_dir}, mix.latents_dir={mix.latents_dir})"
            )
        self.clips = ClipSettings(str(store), clip_len, condition, latents_dir, labels)
        self.mix = mix
        self.strides = {"train": stride, "val": val_stride or clip_len}
        self.batch_size = batch_size
        self.num_workers = num_workers
        self._train: Dataset | None = None
        self._val: Dataset | None = None
        self._mixed: Dataset | None = None

    def open_store(self) -> EpisodeStore:
        return EpisodeStore(self.clips.store)

    def setup(self, stage: str | None = None) -> None:
        store = self.clips.store
        if not Path(store).is_dir():
            raise FileNotFoundError(
                f"episode store {store} does not exist; create it with `worldsim-data out={store}`"
            )
        if self._train is None:
            self._train = self.clips.dataset("train", self.strides["train"])
            self._val = self.clips.dataset("val", self.strides["val"])
        if len(self._train) == 0:
            raise ValueError(
                f"store {store} has no training clips of {self.clips.clip_len} frames; write "
                "longer episodes (frames=...) or lower data.clip_len"
            )
        if self.mix is not None and self._mixed is None:
            self._mixed = self._mixed_clips(self.mix)

    def _mixed_clips(self, mix: StoreMix) -> Dataset:
        """The training clips of the mixed store, checked against the main store."""
        if not Path(mix.store).is_dir():
            raise FileNotFoundError(
                f"data.mix.store={mix.store} does not exist; create it with "
                f"`worldsim-data out={mix.store}` or set data.mix.store=null"
            )
        main, other = self.open_store(), EpisodeStore(mix.store)
        if tuple(other.resolution) != tuple(main.resolution):
            raise ValueError(
                f"data.mix.store={mix.store} holds {tuple(other.resolution)} frames but "
                f"{self.clips.store} holds {tuple(main.resolution)}; mix stores of one frame size"
            )
        settings = replace(self.clips, store=str(mix.store), latents_dir=mix.latents_dir)
        clips = settings.dataset("train", self.strides["train"], motion_from=self.clips.store)
        if len(clips) == 0:
            raise ValueError(
                f"data.mix.store={mix.store} has no training clips of {self.clips.clip_len} frames"
            )
        return clips

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        assert dataset is not None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=shuffle and len(dataset) >= self.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        if self.mix is None or self._mixed is None:
            return self._loader(self._train, shuffle=True)
        assert self._train is not None
        main, mixed = len(self._train), len(self._mixed)  # type: ignore[arg-type]
        weights = [(1.0 - self.mix.share) / main] * main + [self.mix.share / mixed] * mixed
        return DataLoader(
            ConcatDataset([self._train, self._mixed]),
            batch_size=self.batch_size,
            sampler=WeightedRandomSampler(weights, num_samples=main, replacement=True),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=main >= self.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._val, shuffle=False)
