from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from worldsim.data.clips import ClipDataset, ClipWindow, clip_windows, read_clips
from worldsim.data.store import EpisodeStore

# The pristine store holds episodes of 20, 25, 30 and 35 frames.


@pytest.mark.parametrize(("clip_len", "stride"), [(8, 4), (16, 16), (16, None), (1, 7), (30, 1)])
def test_window_count(pristine_store: Path, clip_len: int, stride: int | None) -> None:
    store = EpisodeStore(pristine_store)
    step = clip_len if stride is None else stride
    for split in (None, "train", "val"):
        windows = clip_windows(store, clip_len, stride, split)
        expected = sum(
            max(0, (store.num_frames(k) - clip_len) // step + 1) for k in store.keys(split)
        )
        assert len(windows) == expected
        for w in windows:
            assert w.length == clip_len
            assert w.start % step == 0 and w.start + clip_len <= store.num_frames(w.key)
            assert split is None or store.split(w.key) == split


def test_window_values(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    windows = clip_windows(store, 10, 5)
    assert [w.start for w in windows if w.key == "ep-000"] == [0, 5, 10]
    assert [w.start for w in windows if w.key == "ep-003"] == [0, 5, 10, 15, 20, 25]
    assert clip_windows(store, 36) == []
    with pytest.raises(ValueError, match="stride"):
        clip_windows(store, 8, 0)


def test_dataset_items(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    dataset = ClipDataset(pristine_store, split="train", clip_len=8, stride=6)
    assert len(dataset) == len(clip_windows(store, 8, 6, "train")) > 0
    stats = store.stats.ego_motion
    for index in (0, len(dataset) - 1):
        item = dataset[index]
        key, start = item["key"], item["start"]
        assert store.split(key) == "train"
        assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (8, 64, 112, 3)
        assert item["ego_motion"].dtype == torch.float32 and item["ego_motion"].shape == (8, 2)
        assert item["ego_motion_norm"].dtype == torch.float32
        assert item["ego_motion_norm"].shape == (8, 2)
        np.testing.assert_array_equal(item["frames"].numpy(), store.frames(key, start, 8))
        motion = store.ego_motion(key)[start : start + 8]
        np.testing.assert_array_equal(item["ego_motion"].numpy(), motion)
        expected = (motion.astype(np.float64) - stats.mean) / stats.std
        np.testing.assert_allclose(item["ego_motion_norm"].numpy(), expected, rtol=1e-5, atol=1e-6)
        assert item["caption"] == store.caption(key)


def test_dataset_batches_and_pickles(pristine_store: Path) -> None:
    dataset = ClipDataset(pristine_store, split=None, clip_len=4, stride=10)
    dataset[0]  # opens the store in this process
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._store is None  # reopened lazily where it is used
    batch = next(iter(DataLoader(clone, batch_size=3, shuffle=False)))
    assert batch["frames"].shape == (3, 4, 64, 112, 3)
    assert batch["ego_motion_norm"].shape == (3, 4, 2)
    assert batch["key"] == [w.key for w in dataset.windows[:3]]
    assert batch["start"].tolist() == [w.start for w in dataset.windows[:3]]
    assert len(batch["caption"]) == 3


def test_read_clips_matches_sequential_reads(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    windows = [ClipWindow("ep-003", 3, 9), ClipWindow("ep-000", 0, 4), ClipWindow("ep-002", 17, 13)]
    clips = read_clips(store, windows, threads=3)
    assert [c.shape[0] for c in clips] == [9, 4, 13]
    for clip, w in zip(clips, windows, strict=True):
        np.testing.assert_array_equal(clip, store.frames(w.key, w.start, w.length))
    assert len(read_clips(store, windows, threads=1)) == 3
