"""Load the driving-signal heads from a training checkpoint or a bundle folder.

A driving-heads checkpoint is the Lightning checkpoint of ``DrivingHeadsModule``: its
``hyper_parameters["worldsim_driving_heads"]`` holds plain data (the heads config, the store
they trained on) and its ``state_dict`` the weights under ``heads.``. A bundle holds the same
in ``driving_heads.json`` and ``driving_heads.safetensors``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worldsim.models.heads import DrivingHeads, DrivingHeadsConfig
from worldsim.runtime.bundle import (
    DRIVING_KEY,
    BundleError,
    bundled_model_dir,
    has_driving_heads,
    read_driving_heads_bundle,
)

__all__ = ["LoadedDrivingHeads", "has_driving_heads", "load_driving_heads"]
from worldsim.runtime.checkpoint import CheckpointError, _prefixed, read_checkpoint

DRIVING_HEADS_FORMAT_VERSION = 1


@dataclass
class LoadedDrivingHeads:
    """The network in eval mode and the checkpoint's metadata."""

    heads: DrivingHeads
    metadata: dict[str, Any] = field(default_factory=dict)


def load_driving_heads(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> LoadedDrivingHeads:
    """Rebuild the driving heads from a checkpoint or a bundle folder (None: the bundled
    model's), without Hydra."""
    path = bundled_model_dir() if path is None else Path(path)
    if Path(path).is_dir() or Path(path).suffix == ".json":
        try:
            ckpt = read_driving_heads_bundle(path)
        except BundleError as exc:
            raise CheckpointError(str(exc)) from exc
    else:
        ckpt = read_checkpoint(path)
    meta = ckpt.get("hyper_parameters", {}).get(DRIVING_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path} is not a driving-heads checkpoint (no {DRIVING_KEY!r} metadata); train "
            "one with `worldsim-train experiment=driving_heads`"
        )
    if meta.get("format_version") != DRIVING_HEADS_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has driving-heads format {meta.get('format_version')}, this worldsim "
            f"reads format {DRIVING_HEADS_FORMAT_VERSION}"
        )
    try:
        heads = DrivingHeads(DrivingHeadsConfig(**meta["config"]))
        heads.load_state_dict(_prefixed(ckpt.get("state_dict", {}), "heads."))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} holds driving heads that cannot be rebuilt: {exc}") from exc
    metadata = {**meta, "checkpoint": str(path), "global_step": ckpt.get("global_step")}
    return LoadedDrivingHeads(heads=heads.to(device).eval(), metadata=metadata)
