"""The procedural driving world: pure numpy, deterministic from a seed, clonable state."""

from worldsim.sim.camera import Camera
from worldsim.sim.conditions import Conditions, conditions_from_prompt, sample_conditions
from worldsim.sim.policies import DrivingPolicy, lane_keeping_action
from worldsim.sim.vehicle import VehicleParams
from worldsim.sim.world import EGO_STATE_FIELDS, World, WorldState

__all__ = [
    "EGO_STATE_FIELDS",
    "Camera",
    "Conditions",
    "DrivingPolicy",
    "VehicleParams",
    "World",
    "WorldState",
    "conditions_from_prompt",
    "lane_keeping_action",
    "sample_conditions",
]
