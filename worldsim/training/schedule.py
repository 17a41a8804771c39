"""Learning-rate schedules as ``LambdaLR`` multipliers, and the optimizer setup that uses them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def warmup_lambda(
    warmup_steps: int, decay_steps: int | None = None, final_ratio: float = 0.1
) -> Callable[[int], float]:
    """Linear warm-up from ~0 to 1 over ``warmup_steps`` optimizer steps, then constant, or
    with ``decay_steps`` a cosine decay to ``final_ratio`` at step ``decay_steps``."""
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
    if decay_steps is not None and decay_steps <= warmup_steps:
        raise ValueError(
            f"lr_decay_steps={decay_steps} must be larger than warmup_steps={warmup_steps}"
        )

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay_steps is None:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / (decay_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@dataclass(frozen=True)
class WarmupSchedule:
    """An optimizer factory and the :func:`warmup_lambda` schedule its learning rate follows."""

    optimizer: OptimizerFactory
    warmup_steps: int = 100
    lr_decay_steps: int | None = None

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be >= 0")

    def configure(self, params: Iterable[nn.Parameter]) -> dict[str, Any]:
        """The optimizer over ``params`` with its per-step scheduler, as Lightning takes them."""
        optimizer = self.optimizer(params)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_lambda(self.warmup_steps, self.lr_decay_steps)
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def clip_each(
    groups: Iterable[Iterable[nn.Parameter]], value: float | None, algorithm: str | None
) -> None:
    """Clip the gradients of each parameter group on its own (``algorithm`` "value", or the
    norm by default), so that one group's large gradients do not shrink another's updates
    through a shared norm; nothing when ``value`` is unset or 0."""
    if not value:
        return
    for params in groups:
        params = list(params)
        if algorithm == "value":
            nn.utils.clip_grad_value_(params, value)
        else:
            nn.utils.clip_grad_norm_(params, value)
