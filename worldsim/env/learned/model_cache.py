"""Loading the world model behind the learned env: afresh, or through a cache the caller owns.

An env given no ``model=`` loads its checkpoint afresh. To share one set of networks between
envs (play sessions, rollout groups, ``SyncVectorEnv`` members), load it once and pass it as
``model=``, or keep a :class:`ModelCache` and pass ``model=cache.get(checkpoint)``: the cache
checks the file's size and modification time on every ``get``, so a checkpoint retrained at the
same path is loaded again, never served stale.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from worldsim.runtime.world_model import WorldModel

FileVersion = tuple[object, ...]


def file_version(checkpoint: str | None) -> tuple[str, FileVersion]:
    """Resolved path and (size, mtime) of a checkpoint file or of a bundle's weights (None: the
    bundled model); the version is empty when the file cannot be read."""
    from worldsim.runtime.bundle import MODEL_WEIGHTS, bundled_model_dir

    path = Path(checkpoint) if checkpoint is not None else bundled_model_dir()
    target = path / MODEL_WEIGHTS if path.is_dir() else path
    try:
        stat = target.stat()
    except OSError:
        return str(path.resolve()), ()
    return str(path.resolve()), (stat.st_size, stat.st_mtime_ns)


def load_model(checkpoint: str | None, device: str = "cpu", dtype: str = "float32") -> WorldModel:
    """Load a checkpoint file or bundle folder (None: the bundled model) afresh."""
    from worldsim.runtime.checkpoint import load_world_model

    return load_world_model(checkpoint, device=device, dtype=getattr(torch, dtype))


class ModelCache:
    """Loaded world models by checkpoint, device and dtype, reloaded when the file changes.

    Owned by the caller (nothing is cached process-wide); one entry per path, device and dtype,
    so a retrained file replaces its old networks instead of piling up. Thread-safe.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], tuple[FileVersion, WorldModel]] = {}
        self._lock = threading.Lock()

    def get(
        self, checkpoint: str | None = None, device: str = "cpu", dtype: str = "float32"
    ) -> WorldModel:
        """The model of ``checkpoint`` (None: the bundled model), loaded at most once per
        version of the file."""
        path, version = file_version(checkpoint)
        key = (path, str(device), str(dtype))
        with self._lock:
            cached = self._models.get(key)
            if cached is not None and version and cached[0] == version:
                return cached[1]
            model = load_model(checkpoint, device, dtype)
            self._models[key] = (version, model)
            return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Forget every loaded model."""
        with self._lock:
            self._models.clear()
