"""``WORLDSIM_SMOKE=1``: every CLI run shrinks to seconds, for checking commands end to end.

The overrides below are appended after the user's own, so they win. The docs test runs each
command of the docs this way; a user can do the same to check a pipeline before a long run.
"""

from __future__ import annotations

import os

SMOKE_ENV = "WORLDSIM_SMOKE"

# Keyed by the root config's name (worldsim-data's is data_cli).
SMOKE: dict[str, list[str]] = {
    "data_cli": ["episodes=2", "frames=60", "workers=1", "progress=false"],
    "train": [
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "callbacks.rollout=null",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "callbacks.checkpoint.every_n_train_steps=1",
        "data.num_workers=0",
        "warmup_steps=1",
    ],
    "rollout": ["steps=2", "sampling_steps=1", "progress=false"],
    "eval": [
        "procedural.starts=1",
        "procedural.horizon=2",
        "procedural.maneuver_steps=2",
        "procedural.drift_rollouts=1",
        "procedural.drift_horizon=2",
        "horizons=[1,2]",
        "drift_edges=[2]",
        "counterfactual_steps=2",
        "store.horizon=2",
        "store.max_windows=1",
        "env.starts=2",
        "env.horizon=2",
        "sampling_steps=1",
        "speed.enabled=false",
        "progress=false",
    ],
}


SMOKE_STORE = {"episodes": 2, "frames": 60, "workers": 1}  # a store worldsim-train generates


def smoke_enabled() -> bool:
    return os.environ.get(SMOKE_ENV) == "1"


def smoke_overrides(config_name: str) -> list[str]:
    """The overrides that shrink ``config_name``'s run, when ``WORLDSIM_SMOKE=1``."""
    if not smoke_enabled():
        return []
    return list(SMOKE.get(config_name, []))
