"""Latent cache: built once per tokenizer, resumable, and read back as training clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from worldsim.data.errors import StoreReadError
from worldsim.data.latents import LatentClipDataset, build_latent_cache, tokenizer_tag
from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import FrameTokenizer, TokenizerConfig, frames_to_tensor


@pytest.fixture
def tokenizer() -> FrameTokenizer:
    torch.manual_seed(0)
    return FrameTokenizer(TokenizerConfig(base_channels=8)).eval()


def test_cache_matches_direct_encoding_and_resumes(
    procedural_store: Path, tokenizer: FrameTokenizer, tmp_path: Path
) -> None:
    folder = build_latent_cache(procedural_store, tokenizer, out=tmp_path / "lat", progress=False)
    store = EpisodeStore(procedural_store)
    key = store.keys()[0]
    cached = np.load(folder / f"{key}.npy")
    with torch.no_grad():
        direct = tokenizer.encode(frames_to_tensor(store.frames(key))).numpy()
    assert cached.dtype == np.float16 and cached.shape == direct.shape == (24, 4, 16, 28)
    np.testing.assert_allclose(cached, direct, atol=2e-2, rtol=1e-2)
    mtime = (folder / f"{key}.npy").stat().st_mtime_ns
    build_latent_cache(procedural_store, tokenizer, out=folder, progress=False)
    assert (folder / f"{key}.npy").stat().st_mtime_ns == mtime


def test_tag_changes_with_the_weights(tokenizer: FrameTokenizer) -> None:
    before = tokenizer_tag(tokenizer)
    with torch.no_grad():
        tokenizer.latent_scale.fill_(2.0)
    assert tokenizer_tag(tokenizer) != before


def test_latent_clips_and_corrupt_files(
    procedural_store: Path, tokenizer: FrameTokenizer, tmp_path: Path
) -> None:
    folder = build_latent_cache(procedural_store, tokenizer, out=tmp_path / "lat", progress=False)
    data = LatentClipDataset(procedural_store, folder, split="train", clip_len=8, stride=8)
    item = data[0]
    assert item["latents"].shape == (8, 4, 16, 28) and item["latents"].dtype == torch.float32
    assert item["ego_motion_norm"].shape == (8, 2) and isinstance(item["caption"], str)
    (folder / f"{item['key']}.npy").write_bytes(b"not a numpy file")
    with pytest.raises(StoreReadError, match=item["key"]):
        data[0]
