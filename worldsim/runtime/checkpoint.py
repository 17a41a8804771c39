"""World-model checkpoints and bundles: rebuild tokenizer, DiT, text encoder and statistics
without Hydra. Neither path runs code from the file: Lightning checkpoints are read with
``torch.load(weights_only=True)`` and bundles are safetensors + JSON (``runtime/bundle.py``).

A world-model checkpoint is the Lightning checkpoint of ``WorldModelModule``. Its
``hyper_parameters["worldsim"]`` holds plain data (the configs of the three networks, the
ego-motion statistics, dt, the resolved run config) and its ``state_dict`` holds the weights
under the prefixes ``tokenizer.``, ``dit.`` and ``text_encoder.``. When EMA is on, Lightning's
``EMAWeightAveraging`` has already put the averaged weights in ``state_dict``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from worldsim.diffusion.samplers import SamplingConfig
from worldsim.models.dit import DiTConfig, VideoDiT
from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.models.text import text_encoder_from_state
from worldsim.models.tokenizer import FrameTokenizer, TokenizerConfig
from worldsim.runtime.bundle import BundleError, bundled_model_dir, is_bundle, read_model_bundle
from worldsim.runtime.parts import WorldModelParts
from worldsim.runtime.world_model import WorldModel
from worldsim.utils.io import file_sha256

__all__ = ["CheckpointError", "file_sha256", "load_world_model", "read_checkpoint"]

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or not a worldsim checkpoint of this kind."""


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A training checkpoint on the CPU, or a bundle folder in the same layout, with clear
    errors naming the file. Pickled objects other than tensors and plain data are refused."""
    if is_bundle(path):
        try:
            return read_model_bundle(path)[0]
        except BundleError as exc:
            raise CheckpointError(str(exc)) from exc
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated, foreign or unsafe files
        raise CheckpointError(
            f"cannot read checkpoint {path} safely (only tensors and plain data are loaded): {exc}"
        ) from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict")
    return ckpt


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under ``prefix``, with ``torch.compile``'s ``_orig_mod.`` wrapper removed."""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            out[key[len(prefix) :].replace("_orig_mod.", "")] = value
    return out


def tokenizer_config_from_dict(data: dict[str, Any]) -> TokenizerConfig:
    values = dict(data)
    if "channel_mult" in values:
        values["channel_mult"] = tuple(values["channel_mult"])
    return TokenizerConfig(**values)


def tokenizer_from_dict(data: dict[str, Any]) -> FrameTokenizer | PatchTokenizer:
    """The tokenizer described by its saved config (``kind: patch`` or an autoencoder)."""
    values = dict(data)
    if values.get("kind") == "patch":
        return PatchTokenizer(PatchTokenizerConfig(**values))
    values.pop("kind", None)
    return FrameTokenizer(tokenizer_config_from_dict(values))


def load_tokenizer(path: str | os.PathLike[str]) -> FrameTokenizer | PatchTokenizer:
    """The tokenizer from a tokenizer (stage 1) or world-model (stage 2) checkpoint."""
    ckpt = read_checkpoint(path)
    hparams = ckpt.get("hyper_parameters", {})
    state = ckpt.get("state_dict", {})
    if "worldsim" in hparams:
        config = hparams["worldsim"]["tokenizer"]
        weights = _prefixed(state, "tokenizer.")
    elif "tokenizer_config" in hparams:
        config = hparams["tokenizer_config"]
        weights = _prefixed(state, "tokenizer.")
    else:
        raise CheckpointError(
            f"{path} holds no tokenizer; train one with `worldsim-train experiment=tokenizer_tiny`"
        )
    tokenizer = tokenizer_from_dict(config)
    tokenizer.load_state_dict(weights)
    return tokenizer.eval()


def load_world_model(
    path: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    sampling: SamplingConfig | dict[str, Any] | None = None,
    use_cache: bool = True,
) -> WorldModel:
    """Rebuild a ``WorldModel`` from a world-model checkpoint file or bundle folder, without
    Hydra; with no ``path``, the model bundled in the package."""
    if path is None:
        path = bundled_model_dir()
        if not is_bundle(path):
            raise CheckpointError(
                f"no bundled model at {path}; reinstall worldsim or build it with `make pretrained`"
            )
    ckpt = read_checkpoint(path)
    meta = ckpt.get("hyper_parameters", {}).get("worldsim")
    if meta is None:
        raise CheckpointError(
            f"{path} is not a world-model checkpoint (no 'worldsim' metadata); train one with "
            "`worldsim-train experiment=world_model_tiny`"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {meta.get('format_version')}, this worldsim reads "
            f"format {FORMAT_VERSION}"
        )
    state = ckpt["state_dict"]
    tokenizer = tokenizer_from_dict(meta["tokenizer"])
    tokenizer.load_state_dict(_prefixed(state, "tokenizer."))
    dit = VideoDiT(DiTConfig(**meta["dit"]))
    dit.load_state_dict(_prefixed(state, "dit."))
    text = text_encoder_from_state(
        {"config": meta["text"], "state_dict": _prefixed(state, "text_encoder.")}
    )
    if isinstance(sampling, dict):
        sampling = SamplingConfig(**{**meta.get("sampling", {}), **sampling})
    elif sampling is None:
        sampling = SamplingConfig(**meta.get("sampling", {}))
    parts = WorldModelParts(
        tokenizer,
        dit,
        text,
        motion_mean=meta["motion_mean"],
        motion_std=meta["motion_std"],
        dt=meta["dt"],
        prediction=meta.get("flow", {}).get("prediction", "velocity"),
    )
    return WorldModel.from_parts(
        parts,
        sampling,
        device=device,
        dtype=dtype,
        metadata={
            "config": meta.get("config", {}),
            "checkpoint": str(path),
            "global_step": ckpt.get("global_step"),
            "action_space": meta.get("action_space"),
        },
        use_cache=use_cache,
    )
