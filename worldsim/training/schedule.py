"""Learning-rate schedules as ``LambdaLR`` multipliers."""

from __future__ import annotations

import math
from collections.abc import Callable


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
