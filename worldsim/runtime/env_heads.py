"""Load the learned-env heads that a world-model checkpoint trained beside its DiT.

A world model trained with ``env_heads`` holds their config in
``hyper_parameters["worldsim"]["env_heads"]`` and their weights under ``env_heads.`` in its
``state_dict`` (bundles: in ``model.json`` and ``model.safetensors``, the same layout).
"""

from __future__ import annotations

import os

import torch

from worldsim.models.env_heads import EnvHeads, EnvHeadsConfig
from worldsim.runtime.checkpoint import CheckpointError, _prefixed, read_checkpoint


def load_env_heads(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> EnvHeads | None:
    """The env heads of the world-model checkpoint at ``path``, or None when it has none."""
    ckpt = read_checkpoint(path)
    meta = ckpt.get("hyper_parameters", {}).get("worldsim")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a world-model checkpoint (no 'worldsim' metadata)")
    config = meta.get("env_heads")
    if config is None:
        return None
    try:
        heads = EnvHeads(EnvHeadsConfig(**config))
        heads.load_state_dict(_prefixed(ckpt.get("state_dict", {}), "env_heads."))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} holds env heads that cannot be rebuilt: {exc}") from exc
    return heads.to(device).eval()
