"""``worldsim/DrivingWorld-v0``: the learned world model as a Gymnasium env, single and native
vectorised.

- :mod:`.options`: :class:`LearnedWorldOptions`, the env keyword arguments validated once;
- :mod:`.core`: :class:`LearnedDriving`, N rollouts in one batched forward pass per denoising
  step (kinematics, per-row bookkeeping, resets, per-row state);
- :mod:`.single_env` and :mod:`.vector_env`: the Gymnasium wrappers :class:`DrivingWorldEnv`
  and :class:`DrivingWorldVectorEnv`;
- :mod:`.model_cache`: loading the networks, and :class:`ModelCache` to share them.
"""

from __future__ import annotations

from worldsim.env.learned.core import LearnedDriving
from worldsim.env.learned.model_cache import ModelCache, load_model
from worldsim.env.learned.options import LearnedWorldOptions
from worldsim.env.learned.single_env import DrivingWorldEnv
from worldsim.env.learned.vector_env import DrivingWorldVectorEnv

__all__ = [
    "DrivingWorldEnv",
    "DrivingWorldVectorEnv",
    "LearnedDriving",
    "LearnedWorldOptions",
    "ModelCache",
    "load_model",
]
