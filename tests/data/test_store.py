from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from worldsim.data.episode import EGO_MOTION_FIELDS
from worldsim.data.errors import EpisodeWriteError, StoreMismatchError, StoreReadError
from worldsim.data.store import (
    EpisodeStore,
    _init_worker,
    _write_task,
    assign_splits,
    key_fraction,
    write_episode,
    write_store,
)
from worldsim.utils.psnr import psnr


def _mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in (root / "episodes").rglob("*")
        if p.is_file()
    }


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def test_round_trip(pristine_store: Path, source) -> None:
    store = EpisodeStore(pristine_store)
    assert store.keys() == source.keys()
    assert store.source == source.name and store.dt == source.dt and store.fps == 10.0
    assert store.resolution == (64, 112)
    assert store.ego_motion_fields == EGO_MOTION_FIELDS
    assert store.ego_state_fields == ("x", "y", "heading", "speed")
    keys = source.keys()
    for key in keys:
        original = source.load(key)
        episode = store.episode(key)
        assert episode.num_frames == original.num_frames == store.num_frames(key)
        assert psnr(original.frames_THWC, episode.frames_THWC) >= 35.0
        assert episode.ego_motion_T2.dtype == np.float32
        np.testing.assert_allclose(episode.ego_motion_T2, original.ego_motion_T2, rtol=1e-6)
        assert episode.ego_state_TK.dtype == np.float64  # float64 input is kept
        np.testing.assert_array_equal(episode.ego_state_TK, original.ego_state_TK)
        np.testing.assert_array_equal(episode.actions_TA, original.actions_TA)
        assert episode.caption == original.caption == store.caption(key)
        assert episode.conditions == {"weather": "clear", "num_lanes": 2}
        assert episode.intrinsics == original.intrinsics
        assert episode.extra == original.extra
        assert episode.split == store.split(key)
        assert store.meta(key)["resolution"] == [64, 112]


def test_manifest_contents(pristine_store: Path, source) -> None:
    manifest = _manifest(pristine_store)
    keys = source.keys()
    assert manifest["format_version"] == 1
    assert manifest["num_episodes"] == 4
    lengths = [20, 25, 30, 35]
    assert [e["num_frames"] for e in manifest["episodes"]] == lengths
    assert manifest["num_frames"] == sum(lengths)
    assert sum(manifest["splits"].values()) == 4
    assert manifest["splits"]["val"] >= 1
    assert [e["split"] for e in manifest["episodes"]] == [
        assign_splits(keys, 0.25)[k] for k in keys
    ]
    assert not list((pristine_store / "episodes").glob(".tmp-*"))
    assert not list(pristine_store.glob("manifest.json.tmp-*"))


def test_stats_equal_numpy_over_train_episodes(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    train = store.keys("train")
    assert train and len(train) < len(store)
    motion = np.concatenate([store.ego_motion(k) for k in train]).astype(np.float64)
    state = np.concatenate([store.ego_state(k) for k in train]).astype(np.float64)
    np.testing.assert_allclose(store.stats.ego_motion.mean, motion.mean(0), rtol=1e-10)
    np.testing.assert_allclose(store.stats.ego_motion.std, motion.std(0), rtol=1e-10)
    np.testing.assert_allclose(store.stats.ego_state.mean, state.mean(0), rtol=1e-10)
    np.testing.assert_allclose(store.stats.ego_state.std, state.std(0), rtol=1e-10)
    assert store.stats.ego_motion.count == len(motion)
    normed = store.stats.ego_motion.normalize(motion)
    np.testing.assert_allclose(normed.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(normed.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(store.stats.ego_motion.denormalize(normed), motion, rtol=1e-5)


def test_splits_are_deterministic() -> None:
    keys = [f"scene-{i:04d}" for i in range(200)]
    splits = assign_splits(keys, 0.1)
    assert splits == assign_splits(list(reversed(keys)), 0.1)
    assert all((splits[k] == "val") == (key_fraction(k) < 0.1) for k in keys)
    assert 5 <= list(splits.values()).count("val") <= 40
    # A tiny store still gets one val episode, the key with the smallest hash fraction.
    few = ["a", "b"]
    small = assign_splits(few, 0.01)
    assert list(small.values()).count("val") == 1
    assert small[min(few, key=key_fraction)] == "val"
    assert set(assign_splits(keys, 0.0).values()) == {"train"}
    assert assign_splits(["only"], 0.5)["only"] in {"train", "val"}
    with pytest.raises(ValueError, match="val_fraction"):
        assign_splits(keys, 1.0)


def test_source_split_wins(tmp_path: Path, source) -> None:
    src = dataclasses.replace(source, num_episodes=2, splits={"ep-000": "test", "ep-001": "val"})
    write_store(src, tmp_path / "s", workers=1, val_fraction=0.0, progress=False)
    store = EpisodeStore(tmp_path / "s")
    assert store.keys("test") == ["ep-000"]
    assert store.keys("val") == ["ep-001"]
    assert store.keys("train") == []
    assert store.stats.ego_motion.count == 0  # no train episodes: identity normalisation
    np.testing.assert_array_equal(store.stats.ego_motion.std, [1.0, 1.0])
    with pytest.raises(ValueError, match="unknown split"):
        store.keys("valid")


def test_resume_skips_finished_episodes(tmp_path: Path, source) -> None:
    root = tmp_path / "s"
    failing = dataclasses.replace(source, fail_on=("ep-002",))
    with pytest.raises(EpisodeWriteError, match="ep-002"):
        write_store(failing, root, workers=1, val_fraction=0.25, progress=False)
    # What was finished before the failure is a valid store already.
    partial = EpisodeStore(root)
    assert partial.keys() == ["ep-000", "ep-001"]
    assert partial.frames("ep-001").shape == (25, 64, 112, 3)
    before = _mtimes(root)

    summary = write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    assert summary.skipped == ["ep-000", "ep-001"]
    assert summary.written == ["ep-002", "ep-003"]
    assert summary.num_episodes == 4
    after = _mtimes(root)
    assert all(after[name] == mtime for name, mtime in before.items())
    assert EpisodeStore(root).keys() == source.keys()

    again = write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    assert again.written == [] and len(again.skipped) == 4
    assert _mtimes(root) == after


def test_interrupted_store_opens_and_is_completed(store_copy: Path, source) -> None:
    root = store_copy
    # Simulate a kill: ep-002 was renamed into place but the manifest was not updated yet,
    # ep-003 was half written into its temp folder, and a manifest temp file was left over.
    manifest = _manifest(root)
    manifest["episodes"] = manifest["episodes"][:2]
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "manifest.json.tmp-4242").write_text("{")
    shutil.rmtree(root / "episodes" / "ep-003")
    stale = root / "episodes" / ".tmp-ep-003-4242"
    stale.mkdir()
    (stale / "frames.mp4").write_bytes(b"\x00" * 100)

    store = EpisodeStore(root)
    assert store.keys() == ["ep-000", "ep-001"]
    listed = store.keys()
    for key in listed:  # everything listed reads completely
        assert len(store.frames(key)) == store.num_frames(key)
        store.ego_state(key)
        store.actions(key)

    kept = (root / "episodes" / "ep-002" / "frames.mp4").stat().st_mtime_ns
    summary = write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    assert summary.written == ["ep-003"]
    assert not stale.exists() and not (root / "manifest.json.tmp-4242").exists()
    assert (root / "episodes" / "ep-002" / "frames.mp4").stat().st_mtime_ns == kept
    assert EpisodeStore(root).keys() == source.keys()
    assert _manifest(root)["num_episodes"] == 4


def test_manifest_exists_from_the_start(tmp_path: Path, source) -> None:
    root = tmp_path / "s"
    failing = dataclasses.replace(source, fail_on=("ep-000",))
    with pytest.raises(EpisodeWriteError, match="'ep-000'.*simulated loader failure"):
        write_store(failing, root, workers=1, progress=False)
    store = EpisodeStore(root)
    assert len(store) == 0 and store.keys("train") == [] and store.resolution is None


@pytest.mark.parametrize(
    ("change", "message"),
    [({"dt": 0.05}, "dt 0.1 != 0.05"), ({"name": "other"}, "source 'synthetic-test' != 'other'")],
)
def test_mismatched_source_is_refused(store_copy: Path, source, change, message) -> None:
    with pytest.raises(StoreMismatchError, match=message):
        write_store(dataclasses.replace(source, **change), store_copy, workers=1, progress=False)


def test_mismatched_resolution_is_refused(store_copy: Path, source) -> None:
    shutil.rmtree(store_copy / "episodes" / "ep-003")
    bigger = dataclasses.replace(source, height=32, width=48)
    with pytest.raises(StoreMismatchError, match=r"height: the store has 64, this run 32"):
        write_store(bigger, store_copy, workers=1, progress=False)
    # Extending a store never mixes frame sizes.
    with pytest.raises(StoreMismatchError, match=r"resolution \[32, 48\].*\[64, 112\]"):
        write_store(bigger, store_copy, workers=1, progress=False, extend=True)
    assert not (store_copy / "episodes" / "ep-003").exists()
    assert len(EpisodeStore(store_copy)) == 3


def test_worker_function_writes_one_complete_folder(tmp_path: Path, source) -> None:
    episodes = tmp_path / "episodes"
    episodes.mkdir()
    meta = write_episode(source, "ep-001", episodes, default_split="val")
    folder = episodes / "ep-001"
    assert sorted(p.name for p in folder.iterdir()) == [
        "actions.npy",
        "ego_motion.npy",
        "ego_state.npy",
        "frames.mp4",
        "meta.json",
    ]
    assert json.loads((folder / "meta.json").read_text()) == meta
    assert meta["split"] == "val" and meta["num_frames"] == 25
    assert set(meta["files"]) == {"frames.mp4", "ego_motion.npy", "ego_state.npy", "actions.npy"}
    assert [p.name for p in episodes.iterdir()] == ["ep-001"]
    pickle.dumps(meta)  # small, picklable result for the parent process

    # The process-pool entry point uses the source handed to the initializer.
    no_actions = dataclasses.replace(source, with_actions=False)
    _init_worker(no_actions)
    meta2 = _write_task("ep-000", str(episodes), "train", {"resolution": [64, 112]}, 10)
    assert meta2["actions"] is None and not (episodes / "ep-000" / "actions.npy").exists()
    with pytest.raises(StoreMismatchError, match="resolution"):
        _write_task("ep-002", str(episodes), "train", {"resolution": [32, 32]}, 10)
    assert not (episodes / "ep-002").exists()
    assert not list(episodes.glob(".tmp-*"))


def test_invalid_keys_are_rejected(tmp_path: Path, source) -> None:
    class BadKeys(type(source)):
        def keys(self) -> list[str]:
            return ["../escape"]

    with pytest.raises(ValueError, match="'../escape' is not a valid folder name"):
        write_store(BadKeys(), tmp_path / "s", workers=1, progress=False)


def test_missing_root_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreReadError, match=f"{missing} does not exist.*worldsim-data"):
        EpisodeStore(missing)


def test_missing_or_corrupt_manifest_raises(store_copy: Path) -> None:
    path = store_copy / "manifest.json"
    path.write_text('{"format_version": 1, "episodes": [')
    with pytest.raises(StoreReadError, match=f"{path} is not readable JSON"):
        EpisodeStore(store_copy)
    path.unlink()
    with pytest.raises(StoreReadError, match=f"{path} is missing.*worldsim-data"):
        EpisodeStore(store_copy)


def _corrupt_video(path: Path, how: str) -> None:
    data = path.read_bytes()
    n = len(data)
    if how == "zeroed_middle":  # same size, invisible to the decoder: caught by the SHA-1
        path.write_bytes(data[: n // 2] + bytes(256) + data[n // 2 + 256 :])
    elif how == "truncated":
        path.write_bytes(data[: n // 2])
    elif how == "truncated_tail":
        path.write_bytes(data[: n - 64])


@pytest.mark.parametrize("how", ["zeroed_middle", "truncated", "truncated_tail"])
def test_damaged_video_raises_naming_the_file(store_copy: Path, how: str) -> None:
    path = store_copy / "episodes" / "ep-001" / "frames.mp4"
    _corrupt_video(path, how)
    store = EpisodeStore(store_copy)
    with pytest.raises(StoreReadError) as info:
        store.frames("ep-001", 3, 4)
    assert str(path) in str(info.value)
    assert "worldsim-data" in str(info.value)
    store.frames("ep-000", 0, 2)  # other episodes are unaffected
    if how == "truncated":  # without checksums the decoder still notices this one
        with pytest.raises(StoreReadError, match=str(path)):
            EpisodeStore(store_copy, verify=False).frames("ep-001")


def test_checksums_are_rechecked_after_a_change(store_copy: Path) -> None:
    store = EpisodeStore(store_copy)
    store.frames("ep-002", 0, 1)
    _corrupt_video(store_copy / "episodes" / "ep-002" / "frames.mp4", "zeroed_middle")
    with pytest.raises(StoreReadError, match="SHA-1"):
        store.frames("ep-002", 0, 1)


def test_missing_or_corrupt_arrays_raise_naming_the_file(store_copy: Path) -> None:
    folder = store_copy / "episodes" / "ep-000"
    (folder / "ego_motion.npy").unlink()
    (folder / "ego_state.npy").write_bytes(b"not a numpy file")
    store = EpisodeStore(store_copy, verify=False)
    with pytest.raises(StoreReadError, match=f"{folder / 'ego_motion.npy'} is missing"):
        store.ego_motion("ep-000")
    with pytest.raises(StoreReadError, match=f"{folder / 'ego_state.npy'} is not a readable"):
        store.ego_state("ep-000")
    with pytest.raises(StoreReadError, match=f"{folder / 'ego_state.npy'} has 16 bytes"):
        EpisodeStore(store_copy).ego_state("ep-000")
    np.save(folder / "actions.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(StoreReadError, match=r"actions.npy has shape \(3, 2\), expected \(20, A\)"):
        store.actions("ep-000")
    (folder / "meta.json").unlink()
    with pytest.raises(StoreReadError, match=f"{folder / 'meta.json'} is missing"):
        EpisodeStore(store_copy).meta("ep-000")


def test_unknown_key_and_bad_range(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    with pytest.raises(KeyError, match="'nope' is not in the store"):
        store.frames("nope")
    with pytest.raises(ValueError, match="out of range"):
        store.frames("ep-000", 15, 10)
    assert "ep-000" in store and "nope" not in store
    assert store.frames("ep-000", 5, 0).shape == (0, 64, 112, 3)


def test_store_is_picklable(pristine_store: Path) -> None:
    store = EpisodeStore(pristine_store)
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.frames("ep-000", 2, 3), store.frames("ep-000", 2, 3))
    assert repr(clone).startswith("EpisodeStore(")
