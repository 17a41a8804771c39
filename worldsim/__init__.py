"""worldsim: a learned driving simulator built on a video diffusion world model.

Importing the package registers the Gymnasium ids by string entry point; it does not import
torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

PROCEDURAL_ENV_ID = "worldsim/ProceduralDriving-v0"


def register_envs() -> None:
    """Register worldsim's Gymnasium ids (idempotent)."""
    from gymnasium.envs.registration import register, registry

    if PROCEDURAL_ENV_ID not in registry:
        register(
            id=PROCEDURAL_ENV_ID,
            entry_point="worldsim.env.procedural:ProceduralDrivingEnv",
            disable_env_checker=False,
        )


register_envs()
