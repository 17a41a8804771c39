"""Load a user's callable from a ``module:attribute`` string, with errors that name the key."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# Env-level policies (worldsim-rollout ``policy=``, the Gym recorder's ``source.policy=``) are
# called as ``policy(observation, info) -> action``: ``info`` is the env's latest info dict (the
# recorder adds ``info["action_space"]`` and ``info["step"]``). A callable object may keep
# state across calls; the recorder makes a class afresh per episode and calls ``reset(seed)``
# when the policy has one (worldsim/data/sources/gym.py).
Policy = Callable[[Any, dict[str, Any]], Any]


def load_callable(spec: str, key: str) -> Callable[..., Any]:
    """The callable named by ``spec`` (``"package.module:name"``); ``key`` names the setting."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{key}={spec!r} must look like 'package.module:callable'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{key}={spec!r} cannot be imported: {exc}") from exc
    if not callable(target):
        raise ValueError(f"{key}={spec!r} is not callable")
    return target
