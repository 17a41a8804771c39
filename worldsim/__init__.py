"""worldsim: a learned driving simulator built on a video diffusion world model.

Importing the package registers the Gymnasium ids by string entry point; it does not import
torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

PROCEDURAL_ENV_ID = "worldsim/ProceduralDriving-v0"
LEARNED_ENV_ID = "worldsim/DrivingWorld-v0"
LEARNED_COPY_ENV_ID = "worldsim/LearnedEnv-v0"


def register_envs() -> None:
    """Register worldsim's Gymnasium ids (idempotent)."""
    from gymnasium.envs.registration import register, registry

    if PROCEDURAL_ENV_ID not in registry:
        register(
            id=PROCEDURAL_ENV_ID,
            entry_point="worldsim.env.procedural:ProceduralDrivingEnv",
            disable_env_checker=False,
        )
    if LEARNED_ENV_ID not in registry:
        register(
            id=LEARNED_ENV_ID,
            entry_point="worldsim.env.learned.single_env:DrivingWorldEnv",
            vector_entry_point="worldsim.env.learned.vector_env:DrivingWorldVectorEnv",
        )
    if LEARNED_COPY_ENV_ID not in registry:
        register(
            id=LEARNED_COPY_ENV_ID,
            entry_point="worldsim.env.learned_copy.single_env:LearnedEnv",
            vector_entry_point="worldsim.env.learned_copy.vector_env:LearnedVectorEnv",
        )


register_envs()


def __getattr__(name: str) -> object:
    """Lazy top-level API, so ``import worldsim`` does not import torch."""
    if name == "load_world_model":
        from worldsim.runtime.checkpoint import load_world_model

        return load_world_model
    raise AttributeError(f"module 'worldsim' has no attribute {name!r}")
