"""What every text encoder shares: the output type, the missing-package error, prompt checks,
masked pooling and the conversion of a legacy flat config to an encoder's own config."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from einops import rearrange

ConfigT = TypeVar("ConfigT")


class MissingTextDependency(ImportError):
    """An optional text-encoder package is not installed; the message names the extra."""


@dataclass
class TextEncoding:
    """Per-token features, their mask and a pooled vector for a batch of prompts."""

    tokens_BLD: torch.Tensor  # (B, L, D) float, zero at padding
    mask_BL: torch.Tensor  # (B, L) bool, True = real token
    pooled_BD: torch.Tensor  # (B, D) float


def check_kind(config: Any, expected: str) -> None:
    """``config.kind`` is ``expected``: each config class builds one encoder only."""
    if config.kind != expected:
        raise ValueError(
            f"text.kind={config.kind!r} does not match {type(config).__name__} (kind "
            f"{expected!r}); choose the encoder with text={config.kind}"
        )


def as_encoder_config(config: Any, cls: type[ConfigT]) -> ConfigT:
    """``config`` as ``cls``: ``None`` gives the defaults, and a legacy flat
    ``TextEncoderConfig`` of the matching kind is converted (duck-typed, no import cycle)."""
    if config is None:
        config = cls()
    encoder_config = getattr(config, "encoder_config", None)
    if callable(encoder_config):
        config = encoder_config()
    if not isinstance(config, cls):
        kind = getattr(cls, "kind", "?")
        raise TypeError(f"expected {cls.__name__} (text.kind={kind!r}), got {config!r}")
    return config


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """The prompts as a list, with a clear error for a bare string or a non-string entry."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got one str; wrap it: [prompt]")
    listed = list(prompts)
    for i, p in enumerate(listed):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is {type(p).__name__}, expected str")
    return listed


def masked_mean(tokens_BLD: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens of each row."""
    weights_BL1 = rearrange(mask_BL, "b l -> b l 1").to(tokens_BLD.dtype)
    return (tokens_BLD * weights_BL1).sum(1) / weights_BL1.sum(1).clamp_min(1.0)


def import_optional(module: str, kind: str, extra: str) -> Any:
    """Import an optional package, or raise :class:`MissingTextDependency` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingTextDependency(
            f'text.kind="{kind}" needs the {module!r} package, which is not installed: '
            f'pip install "worldsim[{extra}]"'
        ) from exc
