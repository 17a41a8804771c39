"""Load the evaluation heads (inverse dynamics and condition classifier) from one checkpoint.

A heads checkpoint is the Lightning checkpoint of ``EvalHeadsModule``: its
``hyper_parameters["worldsim_heads"]`` holds plain data (the heads config, the ego-motion
statistics, the label names, the store it was trained on) and its ``state_dict`` holds the
weights under the prefixes ``idm.`` and ``classifier.``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worldsim.models.heads import ConditionClassifier, HeadsConfig, InverseDynamicsModel
from worldsim.runtime.bundle import HEADS_META, BundleError, read_heads_bundle
from worldsim.runtime.checkpoint import CheckpointError, _prefixed, read_checkpoint

HEADS_FORMAT_VERSION = 1
REQUIRED = ("config", "motion_mean", "motion_std", "time_labels", "weather_labels")


@dataclass
class EvalHeads:
    """The two evaluation networks, in eval mode, and the checkpoint's metadata."""

    idm: InverseDynamicsModel
    classifier: ConditionClassifier
    metadata: dict[str, Any] = field(default_factory=dict)


def load_eval_heads(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> EvalHeads:
    """Rebuild the IDM and the condition classifier from a heads checkpoint, without Hydra."""
    if Path(path).is_dir() or Path(path).name == HEADS_META:
        try:
            ckpt = read_heads_bundle(path)
        except BundleError as exc:
            raise CheckpointError(str(exc)) from exc
    else:
        ckpt = read_checkpoint(path)
    meta = ckpt.get("hyper_parameters", {}).get("worldsim_heads")
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path} is not an evaluation-heads checkpoint (no 'worldsim_heads' metadata); "
            "train one with `worldsim-train experiment=eval_heads`"
        )
    if meta.get("format_version") != HEADS_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has heads format {meta.get('format_version')}, this worldsim reads "
            f"format {HEADS_FORMAT_VERSION}"
        )
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise CheckpointError(f"{path} heads metadata lacks {missing}; re-train the heads")
    state = ckpt.get("state_dict", {})
    try:
        config = HeadsConfig(**meta["config"])
        idm = InverseDynamicsModel(config, meta["motion_mean"], meta["motion_std"])
        classifier = ConditionClassifier(config, meta["time_labels"], meta["weather_labels"])
        idm.load_state_dict(_prefixed(state, "idm."))
        classifier.load_state_dict(_prefixed(state, "classifier."))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} holds heads that cannot be rebuilt: {exc}") from exc
    metadata = {
        **meta,
        "checkpoint": str(path),
        "global_step": ckpt.get("global_step"),
    }
    return EvalHeads(
        idm=idm.to(device).eval(),
        classifier=classifier.to(device).eval(),
        metadata=metadata,
    )
