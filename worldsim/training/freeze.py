"""Fine-tune a part of a model: every parameter outside the chosen ones is frozen."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from torch import nn


def train_only(module: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Freeze every parameter of ``module`` whose name matches none of ``patterns``
    (shell-style, e.g. ``dit.blocks.*.attn_x.*``); return the names left trainable.

    A pattern that matches no parameter is refused, so a typo cannot freeze the whole model."""
    if isinstance(patterns, str) or not all(isinstance(p, str) and p for p in patterns):
        raise ValueError(
            f"train_only={patterns!r} must be a list of parameter-name patterns, "
            "e.g. ['dit.blocks.*.attn_x.*', 'text_encoder.*']"
        )
    names = [name for name, _ in module.named_parameters()]
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        roots = sorted({n.split(".")[0] for n in names})
        raise ValueError(
            f"train_only pattern(s) {unmatched} match no parameter; names start with {roots} "
            f"(e.g. {names[0]!r})"
        )
    kept = []
    for name, param in module.named_parameters():
        trainable = any(fnmatchcase(name, p) for p in patterns)
        param.requires_grad_(trainable and param.requires_grad)
        if param.requires_grad:
            kept.append(name)
    if not kept:
        raise ValueError(f"train_only={list(patterns)} leaves no trainable parameter")
    return kept
