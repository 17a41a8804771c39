"""``worldsim/LearnedEnv-v0``: the learned copy of any recorded Gymnasium env, served with the
recorded action space, single and native vectorised.

- :mod:`.options`: :class:`LearnedCopyOptions`, the keyword arguments, checked once;
- :mod:`.core`: :class:`LearnedCopy`, N rollouts in one batched pass per denoising step;
- :mod:`.starts` and :mod:`.env_starts`: real starting contexts, from the store or the real env;
- :mod:`.actions`: checking actions against the recorded space;
- :mod:`.outcome`: what the heads predict of a step, and the reward/termination functions;
- :mod:`.single_env` and :mod:`.vector_env`: the Gymnasium wrappers.
"""

from __future__ import annotations

from worldsim.env.learned_copy.core import LearnedCopy
from worldsim.env.learned_copy.options import LearnedCopyOptions
from worldsim.env.learned_copy.outcome import Outcome
from worldsim.env.learned_copy.single_env import LearnedEnv
from worldsim.env.learned_copy.vector_env import LearnedVectorEnv

__all__ = ["LearnedCopy", "LearnedCopyOptions", "LearnedEnv", "LearnedVectorEnv", "Outcome"]
