"""Latent cache: every episode of a store encoded once by a tokenizer, so stage-2 training never
decodes video. Layout: ``<store>/latents/<tag>/<key>.npy`` (float16 ``(T, C, h, w)``) plus
``latents.json``; ``tag`` hashes the tokenizer's config and weights."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from worldsim.data.clips import clip_windows
from worldsim.data.errors import StoreReadError
from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor


def tokenizer_tag(tokenizer: FrameTokenizer) -> str:
    """Short hash of the tokenizer's config and weights."""
    digest = hashlib.sha1(json.dumps(asdict(tokenizer.config), sort_keys=True).encode())
    for name, tensor in sorted(tokenizer.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def build_latent_cache(
    store_root: str | os.PathLike[str],
    tokenizer: FrameTokenizer,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Encode every episode (posterior means, scaled) once; resumable and atomic per file."""
    store = EpisodeStore(store_root)
    tag = tokenizer_tag(tokenizer)
    folder = Path(out) if out is not None else Path(store_root) / "latents" / tag
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer.to(device).eval()
    keys = store.keys()
    todo = [k for k in keys if not (folder / f"{k}.npy").is_file()]
    for key in tqdm(todo, disable=not progress, desc="encoding latents", unit="episode"):
        frames = store.frames(key)
        chunks = []
        with torch.no_grad():
            for i in range(0, len(frames), batch_size):
                x = frames_to_tensor(frames[i : i + batch_size]).to(device)
                chunks.append(tokenizer.encode(x).cpu().numpy().astype(np.float16))
        latents = np.concatenate(chunks)
        tmp = folder / f".{key}.npy.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            np.save(fh, latents)
        os.replace(tmp, folder / f"{key}.npy")
    info = {
        "tag": tag,
        "tokenizer": {
            **asdict(tokenizer.config),
            "channel_mult": list(tokenizer.config.channel_mult),
        },
        "downsample": tokenizer.downsample,
        "latent_channels": tokenizer.latent_channels,
        "latent_scale": float(tokenizer.latent_scale),
        "episodes": len(keys),
    }
    tmp = folder / f".latents.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, folder / "latents.json")
    return folder


class LatentClipDataset(Dataset):
    """Clip windows like ``ClipDataset`` but carrying cached latents instead of frames."""

    def __init__(
        self,
        store_root: str | os.PathLike[str],
        latents_dir: str | os.PathLike[str],
        split: str = "train",
        clip_len: int = 8,
        stride: int | None = None,
    ) -> None:
        self.store_root = str(store_root)
        self.latents_dir = Path(latents_dir)
        self.split = split
        self.clip_len = clip_len
        store = EpisodeStore(self.store_root)
        self.windows = clip_windows(store, clip_len, stride=stride, split=split)
        self._store: EpisodeStore | None = None

    def __len__(self) -> int:
        return len(self.windows)

    def _latents(self, key: str) -> np.ndarray:
        path = self.latents_dir / f"{key}.npy"
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise StoreReadError(
                f"cannot read cached latents {path}: {exc}; delete the file and rebuild the cache "
                "(worldsim-train rebuilds missing latents on start)"
            ) from exc

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._store is None:
            self._store = EpisodeStore(self.store_root)
        window = self.windows[index]
        key, start, length = window.key, window.start, window.length
        latents = self._latents(key)
        if latents.shape[0] < start + length:
            raise StoreReadError(
                f"cached latents {self.latents_dir / (key + '.npy')} hold {latents.shape[0]} frames, "
                f"fewer than the episode; delete the file and rebuild the cache"
            )
        motion = self._store.ego_motion(key)[start : start + length].astype(np.float32)
        stats = self._store.stats.ego_motion
        return {
            "latents": torch.from_numpy(
                np.array(latents[start : start + length], dtype=np.float32)
            ),
            "ego_motion": torch.from_numpy(motion),
            "ego_motion_norm": torch.from_numpy(stats.normalize(motion).astype(np.float32)),
            "caption": self._store.caption(key),
            "key": key,
            "start": start,
        }
