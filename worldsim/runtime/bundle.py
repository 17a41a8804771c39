"""Exported models: ``safetensors`` weights plus JSON metadata, the format users share and the
package bundles. Loading one never runs code from the files.

A bundle is a folder:

- ``model.safetensors``: tensors under ``tokenizer.``, ``dit.``, ``text_encoder.`` and, for a
  learned env copy, ``env_heads.``;
- ``model.json``: the configs of the three networks, ego-motion statistics, ``dt``, the sampling
  settings, the recipe, the data seeds, the git commit and the evaluation numbers;
- optionally ``heads.safetensors`` + ``heads.json``: the evaluation heads;
- optionally ``driving_heads.safetensors`` + ``driving_heads.json``: the driving-signal heads
  the learned env's reward and termination read;
- optionally ``metrics.json`` and ``report.md`` of its evaluation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

MODEL_WEIGHTS, MODEL_META = "model.safetensors", "model.json"
HEADS_WEIGHTS, HEADS_META = "heads.safetensors", "heads.json"
DRIVING_WEIGHTS, DRIVING_META = "driving_heads.safetensors", "driving_heads.json"
DRIVING_KEY = "worldsim_driving_heads"
BUNDLE_FORMAT = 1


class BundleError(RuntimeError):
    """A bundle folder is missing a file, or holds something that is not a worldsim model."""


def bundled_model_dir() -> Path:
    """The folder of the model that ships inside the package."""
    return Path(__file__).resolve().parent.parent / "assets" / "pretrained"


def is_bundle(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return (path.is_dir() and (path / MODEL_META).is_file()) or path.name == MODEL_META


def _folder(path: str | os.PathLike[str]) -> Path:
    """The bundle folder of ``path``: the folder itself or the folder of one of its JSON files."""
    path = Path(path)
    return path.parent if path.name in (MODEL_META, HEADS_META, DRIVING_META) else path


def has_driving_heads(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a bundle folder (or one of its JSON files) that ships driving heads."""
    folder = _folder(path)
    return folder.is_dir() and (folder / DRIVING_META).is_file()


def digest(
    path: str | os.PathLike[str], names: tuple[str, str] = (MODEL_WEIGHTS, MODEL_META)
) -> str:
    """sha256 of a checkpoint file, or of a bundle's weights and metadata (``names``) together."""
    import hashlib

    from worldsim.utils.io import file_sha256

    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    parts = [file_sha256(path / name) for name in names]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    from worldsim.utils.io import atomic_path

    plain = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(plain, str(tmp))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise BundleError(f"bundle file {path} does not exist")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"cannot read {path} as safetensors: {exc}") from exc


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BundleError(f"bundle file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {path} as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _write_json(data: dict[str, Any], path: Path) -> None:
    from worldsim.utils.io import write_json_atomic

    write_json_atomic(path, data)


def export_world_model(
    checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], extra: dict[str, Any]
) -> Path:
    """Write ``model.safetensors`` + ``model.json`` of a world-model training checkpoint."""
    from worldsim.runtime.checkpoint import read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    meta = ckpt.get("hyper_parameters", {}).get("worldsim")
    if not isinstance(meta, dict):
        raise BundleError(f"{checkpoint} is not a world-model checkpoint (no 'worldsim' metadata)")
    keep = ("tokenizer.", "dit.", "text_encoder.", "env_heads.")
    tensors = {
        k.replace("_orig_mod.", ""): v for k, v in ckpt["state_dict"].items() if k.startswith(keep)
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _save_tensors(tensors, out / MODEL_WEIGHTS)
    record = {
        "bundle_format": BUNDLE_FORMAT,
        "worldsim": meta,
        "global_step": ckpt.get("global_step"),
        **extra,
    }
    _write_json(record, out / MODEL_META)
    return out


def export_heads(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``heads.safetensors`` + ``heads.json`` of an evaluation-heads checkpoint."""
    from worldsim.runtime.checkpoint import read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    meta = ckpt.get("hyper_parameters", {}).get("worldsim_heads")
    if not isinstance(meta, dict):
        raise BundleError(f"{checkpoint} is not an evaluation-heads checkpoint")
    tensors = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(("idm.", "classifier."))}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _save_tensors(tensors, out / HEADS_WEIGHTS)
    _write_json({"bundle_format": BUNDLE_FORMAT, "worldsim_heads": meta}, out / HEADS_META)
    return out


def export_driving_heads(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``driving_heads.safetensors`` + ``driving_heads.json`` of a driving-heads
    checkpoint into the bundle folder ``out``."""
    from worldsim.runtime.checkpoint import read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    meta = ckpt.get("hyper_parameters", {}).get(DRIVING_KEY)
    if not isinstance(meta, dict):
        raise BundleError(
            f"{checkpoint} is not a driving-heads checkpoint (no {DRIVING_KEY!r} metadata); "
            "train one with `worldsim-train experiment=driving_heads`"
        )
    tensors = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("heads.")}
    record = {
        "bundle_format": BUNDLE_FORMAT,
        DRIVING_KEY: meta,
        "global_step": ckpt.get("global_step"),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _save_tensors(tensors, out / DRIVING_WEIGHTS)
    _write_json(record, out / DRIVING_META)
    return out


def read_driving_heads_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint-like dict of the driving heads in a bundle folder."""
    folder = _folder(path)
    record = read_json(folder / DRIVING_META)
    if record.get("bundle_format") != BUNDLE_FORMAT or not isinstance(
        record.get(DRIVING_KEY), dict
    ):
        raise BundleError(f"{folder / DRIVING_META} is not a worldsim driving-heads bundle")
    return {
        "hyper_parameters": {DRIVING_KEY: record[DRIVING_KEY]},
        "state_dict": _load_tensors(folder / DRIVING_WEIGHTS),
        "global_step": record.get("global_step"),
    }


def read_model_bundle(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(checkpoint-like dict, record)`` of a bundle: the same ``hyper_parameters`` and
    ``state_dict`` layout a training checkpoint has, read from JSON and safetensors."""
    folder = _folder(path)
    record = read_json(folder / MODEL_META)
    if record.get("bundle_format") != BUNDLE_FORMAT or not isinstance(record.get("worldsim"), dict):
        raise BundleError(
            f"{folder / MODEL_META} is not a worldsim model bundle of format {BUNDLE_FORMAT}"
        )
    state = _load_tensors(folder / MODEL_WEIGHTS)
    ckpt = {
        "hyper_parameters": {"worldsim": record["worldsim"]},
        "state_dict": state,
        "global_step": record.get("global_step"),
    }
    return ckpt, record


def read_heads_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint-like dict of the heads in a bundle folder."""
    folder = _folder(path)
    record = read_json(folder / HEADS_META)
    if record.get("bundle_format") != BUNDLE_FORMAT or not isinstance(
        record.get("worldsim_heads"), dict
    ):
        raise BundleError(f"{folder / HEADS_META} is not a worldsim heads bundle")
    state = _load_tensors(folder / HEADS_WEIGHTS)
    return {"hyper_parameters": {"worldsim_heads": record["worldsim_heads"]}, "state_dict": state}
