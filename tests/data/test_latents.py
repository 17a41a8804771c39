"""Latent cache: built once per tokenizer, resumable, and read back as training clips."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from worldsim.data.clips import ClipDataset
from worldsim.data.errors import StoreReadError
from worldsim.data.latents import (
    LatentClipDataset,
    build_latent_cache,
    default_latents_dir,
    read_latent_info,
    tokenizer_tag,
)
from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import FrameTokenizer, TokenizerConfig, frames_to_tensor


def make_tokenizer(seed: int = 0) -> FrameTokenizer:
    torch.manual_seed(seed)
    tok = FrameTokenizer(TokenizerConfig(base_channels=8)).eval()
    tok.latent_scale.fill_(0.5)
    return tok


@pytest.fixture(scope="module")
def tokenizer() -> FrameTokenizer:
    return make_tokenizer()


@pytest.fixture(scope="module")
def cache(procedural_store: Path, tokenizer: FrameTokenizer, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("latents") / "cache"
    return build_latent_cache(procedural_store, tokenizer, out=out, batch_size=10, progress=False)


def test_cache_matches_direct_encoding(
    procedural_store: Path, tokenizer: FrameTokenizer, cache: Path
) -> None:
    store = EpisodeStore(procedural_store)
    for key in store.keys():
        cached = np.load(cache / f"{key}.npy")
        with torch.no_grad():
            direct = tokenizer.encode(frames_to_tensor(store.frames(key))).numpy()
        assert cached.dtype == np.float16 and cached.shape == direct.shape == (24, 4, 16, 28)
        np.testing.assert_allclose(cached, direct, atol=1e-2, rtol=1e-2)
    info = read_latent_info(cache)
    assert info["tag"] == tokenizer_tag(tokenizer)
    assert info["latent_shape"] == [4, 16, 28] and info["downsample"] == 4
    assert info["latent_scale"] == pytest.approx(0.5)
    assert info["tokenizer"]["channel_mult"] == [1, 2, 2]
    assert info["episodes"] == {key: 24 for key in store.keys()}
    assert not list(cache.glob(".tmp-*"))


def test_default_folder_resume_and_repair(
    procedural_store: Path, tokenizer: FrameTokenizer, tmp_path: Path
) -> None:
    store = shutil.copytree(procedural_store, tmp_path / "store")
    folder = build_latent_cache(store, tokenizer, progress=False)
    assert folder == store / "latents" / tokenizer_tag(tokenizer)
    assert folder == default_latents_dir(store, tokenizer)
    keys = EpisodeStore(store).keys()
    mtimes = {k: (folder / f"{k}.npy").stat().st_mtime_ns for k in keys}
    (folder / f"{keys[1]}.npy").unlink()  # an interrupted build
    (folder / f"{keys[2]}.npy").write_bytes(b"truncated")  # a damaged file
    build_latent_cache(store, tokenizer, progress=False)
    assert (folder / f"{keys[0]}.npy").stat().st_mtime_ns == mtimes[keys[0]]  # skipped
    assert (folder / f"{keys[3]}.npy").stat().st_mtime_ns == mtimes[keys[3]]
    for key in keys[1:3]:
        assert np.load(folder / f"{key}.npy").shape == (24, 4, 16, 28)  # re-encoded


def test_tag_changes_with_weights_and_scale(tokenizer: FrameTokenizer, tmp_path: Path) -> None:
    tag = tokenizer_tag(tokenizer)
    assert len(tag) == 12 and tag == tokenizer_tag(make_tokenizer())
    other = make_tokenizer()
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert tokenizer_tag(other) != tag
    rescaled = make_tokenizer()
    rescaled.latent_scale.fill_(2.0)
    assert tokenizer_tag(rescaled) != tag


def test_a_folder_of_another_tokenizer_is_refused(
    procedural_store: Path, cache: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="latents of tokenizer"):
        build_latent_cache(procedural_store, make_tokenizer(seed=1), out=cache, progress=False)


def test_latent_clips_match_the_frame_clips(procedural_store: Path, cache: Path) -> None:
    data = LatentClipDataset(procedural_store, cache, split="train", clip_len=8, stride=4)
    frames = ClipDataset(procedural_store, split="train", clip_len=8, stride=4)
    store = EpisodeStore(procedural_store)
    assert len(data) == len(frames) == 5 * len(store.keys("train"))  # (24 - 8) // 4 + 1 each
    stats = store.stats.ego_motion
    for index in (0, len(data) - 1):
        item, ref = data[index], frames[index]
        assert item["latents"].shape == (8, 4, 16, 28) and item["latents"].dtype == torch.float32
        assert (item["key"], item["start"], item["caption"]) == (
            ref["key"],
            ref["start"],
            ref["caption"],
        )
        motion = store.ego_motion(item["key"])[item["start"] : item["start"] + 8]
        torch.testing.assert_close(item["ego_motion"], torch.from_numpy(motion))
        expected = (motion - stats.mean) / stats.std
        np.testing.assert_allclose(item["ego_motion_norm"].numpy(), expected, rtol=1e-5, atol=1e-5)
        full = np.load(cache / f"{item['key']}.npy")
        np.testing.assert_array_equal(
            item["latents"].numpy(), full[item["start"] : item["start"] + 8].astype(np.float32)
        )
    # DataLoader workers get a fresh copy with nothing opened
    copy = pickle.loads(pickle.dumps(data))
    assert copy._store is None and not copy._arrays
    assert copy[0]["latents"].shape == (8, 4, 16, 28)
    val = LatentClipDataset(procedural_store, cache, split="val", clip_len=8)
    assert len(val) == 3 * len(store.keys("val")) > 0


def test_missing_and_corrupt_latents_name_the_file(
    procedural_store: Path, tokenizer: FrameTokenizer, tmp_path: Path
) -> None:
    folder = build_latent_cache(procedural_store, tokenizer, out=tmp_path / "lat", progress=False)
    data = LatentClipDataset(procedural_store, folder, split="train", clip_len=8)
    key = data.windows[0].key
    path = folder / f"{key}.npy"
    path.write_bytes(b"not a numpy file")
    with pytest.raises(StoreReadError, match=rf"{path}.*not a readable .npy.*rebuild"):
        LatentClipDataset(procedural_store, folder, clip_len=8)[0]
    np.save(path, np.zeros((5, 4, 16, 28), np.float16))  # too few frames
    with pytest.raises(
        StoreReadError, match=rf"{path} have shape \(5, 4, 16, 28\).*\(24, 4, 16, 28\)"
    ):
        LatentClipDataset(procedural_store, folder, clip_len=8)[0]
    path.unlink()
    with pytest.raises(StoreReadError, match=rf"{path} are missing.*build_latent_cache"):
        LatentClipDataset(procedural_store, folder, clip_len=8)[0]
    (folder / "latents.json").unlink()
    with pytest.raises(StoreReadError, match="latents.json is missing"):
        LatentClipDataset(procedural_store, folder, clip_len=8)
