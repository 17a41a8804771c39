"""Next-step autoreset for the native vector envs: rows that ended on the last step reset
instead of stepping, the others step together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

StepRows = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def step_with_autoreset(
    ended: np.ndarray, step_rows: StepRows, reset_rows: Callable[[np.ndarray], None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step the rows not in ``ended`` (bool ``(N,)``) with ``step_rows(mask)`` (its rewards,
    terminated and truncated ``(N,)``), reset the ``ended`` rows with ``reset_rows(mask)``, and
    return the rewards, terminated and truncated of the step (zeros/False for reset rows)."""
    n = len(ended)
    resetting = ended.copy()
    stepping = ~resetting
    rewards = np.zeros(n)
    terminated = np.zeros(n, dtype=bool)
    truncated = np.zeros(n, dtype=bool)
    if stepping.any():
        r, te, tr = step_rows(stepping)
        rewards[stepping], terminated[stepping], truncated[stepping] = (
            r[stepping],
            te[stepping],
            tr[stepping],
        )
    if resetting.any():
        reset_rows(resetting)
    return rewards, terminated, truncated


def vector_metadata(render_modes: Sequence[str], render_fps: float = 10) -> dict[str, Any]:
    """The ``metadata`` of a native vector env that autoresets on the next step."""
    return {
        "render_modes": list(render_modes),
        "render_fps": render_fps,
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
    }
