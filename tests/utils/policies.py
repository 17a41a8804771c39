"""A user policy with the documented signature, loaded by ``module:callable`` in the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

SEEN: list[dict[str, Any]] = []


def steer_left(observation: Any, info: dict[str, Any]) -> np.ndarray:
    """Steer half left, and remember the ``info`` it was given."""
    SEEN.append(info)
    return np.array([0.5, 0.0], dtype=np.float32)
