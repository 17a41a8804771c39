"""The latent cache: every episode of a store encoded once by a tokenizer, so stage-2 training
never decodes video.

Layout::

    <store>/latents/<tag>/latents.json     tokenizer config, downsample, latent shape, tag, scale
    <store>/latents/<tag>/<key>.npy        float16 (T, C, h, w) scaled posterior means

``tag`` is a short hash of the tokenizer's config and weights (``latent_scale`` included), so a
different tokenizer never reads stale latents. Each file is written atomically (temporary file
+ ``os.replace``) and complete files are skipped, so an interrupted build resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.data.clips import WindowDataset, WindowOptions
from worldsim.data.errors import StoreReadError
from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor
from worldsim.utils.io import atomic_open, dumps_json, write_text_atomic

if TYPE_CHECKING:
    from typing_extensions import Unpack

CACHE_VERSION = 1
LATENTS_DIR = "latents"
INFO_FILE = "latents.json"
TMP_PREFIX = ".tmp-"
LATENT_DTYPE = np.float16
MAX_OPEN_FILES = 64  # memory maps kept open per process (each holds a file descriptor)


def _plain_config(tokenizer: FrameTokenizer) -> dict[str, Any]:
    """The tokenizer's config as JSON values (tuples become lists)."""
    return json.loads(json.dumps(asdict(tokenizer.config)))


def tokenizer_tag(tokenizer: FrameTokenizer) -> str:
    """Short hash (12 hex digits) of the tokenizer's config and weights."""
    digest = hashlib.sha1(
        json.dumps([CACHE_VERSION, _plain_config(tokenizer)], sort_keys=True).encode()
    )
    for name, tensor in sorted(tokenizer.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def default_latents_dir(store_root: str | os.PathLike[str], tokenizer: FrameTokenizer) -> Path:
    """``<store>/latents/<tag>``: where :func:`build_latent_cache` writes by default."""
    return Path(store_root) / LATENTS_DIR / tokenizer_tag(tokenizer)


def _rebuild_hint(path: Path) -> str:
    return (
        f"delete {path} and rebuild the cache (stage-2 `worldsim-train` with "
        "data.latent_cache=true re-encodes missing episodes on start, or call "
        "worldsim.data.latents.build_latent_cache(store, tokenizer))"
    )


def _latent_header(path: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype of a readable ``.npy`` file, or None when it is missing or damaged."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return tuple(array.shape), array.dtype


def _tmp_name(path: Path) -> str:
    """The name of the temporary file that becomes ``path`` (``.tmp-<name>-<pid>``)."""
    return f"{TMP_PREFIX}{path.name}-{os.getpid()}"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb", fsync=True, tmp_name=_tmp_name(path)) as f:
        np.save(f, array)


@torch.no_grad()
def _encode_episode(
    store: EpisodeStore, key: str, tokenizer: FrameTokenizer, batch_size: int, device: torch.device
) -> np.ndarray:
    """Scaled posterior means of all frames of ``key``, ``(T, C, h, w)`` float16."""
    total = store.num_frames(key)
    chunks = []
    for start in range(0, total, batch_size):
        frames_THWC = store.frames(key, start, min(batch_size, total - start))
        x = frames_to_tensor(frames_THWC).to(device)  # (t, 3, H, W)
        chunks.append(tokenizer.encode(x).float().cpu().numpy().astype(LATENT_DTYPE))
    return np.concatenate(chunks)  # (T, C, h, w)


def build_latent_cache(
    store_root: str | os.PathLike[str],
    tokenizer: FrameTokenizer,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Encode every episode of the store once; returns the cache folder.

    Writes ``<out>/<key>.npy`` (default ``out``: ``<store>/latents/<tag>``) per episode and then
    ``latents.json``. Complete files are skipped; missing or damaged ones are (re-)encoded. It
    holds the store's writer lock, so it never runs beside a ``worldsim-data`` run on the store.
    """
    from worldsim.data.lock import store_lock

    with store_lock(store_root):
        return _build_latent_cache(store_root, tokenizer, out, batch_size, device, progress)


def _build_latent_cache(
    store_root: str | os.PathLike[str],
    tokenizer: FrameTokenizer,
    out: str | os.PathLike[str] | None,
    batch_size: int,
    device: str | torch.device,
    progress: bool,
) -> Path:
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    store = EpisodeStore(store_root)
    if store.resolution is None:
        raise StoreReadError(f"episode store {store.root} has no episodes to encode")
    tag = tokenizer_tag(tokenizer)
    folder = Path(out) if out is not None else store.root / LATENTS_DIR / tag
    info_path = folder / INFO_FILE
    if info_path.is_file():
        try:
            old_tag = json.loads(info_path.read_text(encoding="utf-8")).get("tag")
        except (OSError, ValueError):
            old_tag = None
        if old_tag is not None and old_tag != tag:
            raise ValueError(
                f"{folder} holds latents of tokenizer {old_tag}, not of this tokenizer ({tag}); "
                "choose another out= folder (the default is one per tokenizer) or delete it"
            )
    folder.mkdir(parents=True, exist_ok=True)
    height, width = store.resolution
    latent_shape = tokenizer.latent_shape(height, width)  # (C, h, w)

    device = torch.device(device)
    home = tokenizer.latent_scale.device
    was_training = tokenizer.training
    tokenizer.to(device).eval()
    try:
        keys = store.keys()
        for key in tqdm(keys, disable=not progress, desc="encoding latents", unit="episode"):
            path = folder / f"{key}.npy"
            want = (store.num_frames(key), *latent_shape)
            if _latent_header(path) == (want, np.dtype(LATENT_DTYPE)):
                continue  # complete (maybe written meanwhile by another process)
            latents_TCHW = _encode_episode(store, key, tokenizer, batch_size, device)
            _save_atomic(path, latents_TCHW)
    finally:
        tokenizer.to(home).train(was_training)

    config = _plain_config(tokenizer)
    info = {
        "version": CACHE_VERSION,
        "tag": tag,
        "tokenizer": config,
        "downsample": tokenizer.downsample,
        "latent_channels": tokenizer.latent_channels,
        "latent_shape": list(latent_shape),
        "latent_scale": float(tokenizer.latent_scale),
        "dtype": np.dtype(LATENT_DTYPE).name,
        "resolution": [height, width],
        "episodes": {key: store.num_frames(key) for key in keys},
    }
    write_text_atomic(info_path, dumps_json(info), tmp_name=_tmp_name(info_path))
    return folder


def read_latent_info(latents_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The cache's ``latents.json``; StoreReadError when it is missing or unreadable."""
    path = Path(latents_dir) / INFO_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StoreReadError(
            f"{path} is missing, so {Path(latents_dir)} is not a complete latent cache; "
            f"{_rebuild_hint(Path(latents_dir))}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise StoreReadError(f"{path} is not readable JSON ({exc}); {_rebuild_hint(path)}") from exc
    if not isinstance(info, dict) or "latent_shape" not in info:
        raise StoreReadError(f"{path} is not a latent cache description; {_rebuild_hint(path)}")
    return info


class LatentClipDataset(WindowDataset):
    """Clip windows like :class:`~worldsim.data.clips.ClipDataset`, carrying cached latents.

    Items are dicts: ``latents`` float32 (T, C, h, w), ``ego_motion`` float32 (T, 2),
    ``ego_motion_norm`` float32 (T, 2) normalised with the store's train statistics,
    ``caption`` str, ``key`` str, ``start`` int. The store and the memory-mapped latent files
    are opened lazily in each process, so the dataset is safe to use with DataLoader workers.
    ``options`` are those of :class:`~worldsim.data.clips.WindowDataset` (``split``,
    ``clip_len``, ``stride``, ``verify``), by keyword; ``clip_len`` defaults to 8 here.
    """

    _arrays: OrderedDict[str, np.ndarray]

    def __init__(
        self,
        store_root: str | os.PathLike[str],
        latents_dir: str | os.PathLike[str],
        **options: Unpack[WindowOptions],
    ) -> None:
        self.latents_dir = Path(latents_dir)
        self.info = read_latent_info(self.latents_dir)
        self.latent_shape: tuple[int, int, int] = tuple(self.info["latent_shape"])
        super().__init__(store_root, **{"clip_len": 8, **options})

    def fresh(self) -> dict[str, Any]:
        """The per-process attributes, the open memory maps included."""
        return {**super().fresh(), "_arrays": OrderedDict()}

    def latents(self, key: str) -> np.ndarray:
        """The memory-mapped ``(T, C, h, w)`` float16 latents of episode ``key``."""
        store = self.store
        array = self._arrays.get(key)
        if array is not None:
            self._arrays.move_to_end(key)
            return array
        path = self.latents_dir / f"{key}.npy"
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError as exc:
            raise StoreReadError(
                f"cached latents {path} are missing; {_rebuild_hint(path)}"
            ) from exc
        except (OSError, ValueError, EOFError) as exc:
            raise StoreReadError(
                f"cached latents {path} are not a readable .npy file ({exc}); {_rebuild_hint(path)}"
            ) from exc
        want = (store.num_frames(key), *self.latent_shape)
        if tuple(array.shape) != want:
            raise StoreReadError(
                f"cached latents {path} have shape {tuple(array.shape)}, expected {want}; "
                f"{_rebuild_hint(path)}"
            )
        self._arrays[key] = array
        if len(self._arrays) > MAX_OPEN_FILES:
            self._arrays.popitem(last=False)
        return array

    def __getitem__(self, index: int) -> dict[str, Any]:
        window = self.windows[index]
        end = window.start + window.length
        latents_TCHW = np.asarray(self.latents(window.key)[window.start : end], np.float32)
        return self.item(window, latents=torch.from_numpy(latents_TCHW))
