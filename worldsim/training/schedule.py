"""Learning-rate schedules as ``LambdaLR`` multipliers."""

from __future__ import annotations

from collections.abc import Callable


def warmup_lambda(warmup_steps: int) -> Callable[[int], float]:
    """Linear warm-up from ~0 to 1 over ``warmup_steps`` optimizer steps, then constant."""
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")

    def factor(step: int) -> float:
        if warmup_steps == 0:
            return 1.0
        return min(1.0, (step + 1) / warmup_steps)

    return factor
