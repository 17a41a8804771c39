"""``LearnedWorldOptions``: the keyword arguments of the learned-world envs, validated once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from worldsim.diffusion.samplers import sampling_preset
from worldsim.env.rewards import RewardFn, TerminationFn
from worldsim.env.spaces import ACTION_MODES, OBS_MODES, check_mode

GUIDANCE_KEYS: tuple[str, ...] = ("text", "action")
T = TypeVar("T")


def options_from_keywords(cls: type[T], owner: str, keywords: Mapping[str, Any], extra: str) -> T:
    """The dataclass ``cls`` of ``owner``'s keyword arguments; a TypeError names any unknown
    one and lists the known ones, then ``extra`` (the wrapper's own arguments)."""
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(keywords) - set(known))
    if unknown:
        raise TypeError(
            f"{owner} got unknown keyword argument(s) {unknown}; it takes {', '.join(known)}, "
            f"{extra}"
        )
    return cls(**keywords)


@dataclass(frozen=True)
class LearnedWorldOptions:
    """Settings of one learned-world env (single or vector); see ``DrivingWorldEnv``'s Arguments."""

    checkpoint: str | None = None  # None: the bundled model
    scenario: str | Sequence[str] = "day_clear_straight"  # one, or one per env of a vector env
    obs_mode: str = "rgb"
    action_mode: str = "steer_accel"
    sampling_preset: str | None = None  # a SAMPLING_PRESETS name; None: the checkpoint's
    sampling_steps: int | None = None  # None: the checkpoint's (or the preset's)
    guidance: Mapping[str, float] | None = None  # {"text": s, "action": s}
    context_frames: int | None = None  # None: the scenario's
    device: str = "cpu"
    dtype: str = "float32"
    horizon: int | None = None  # None: the scenario's
    reward_fn: str | RewardFn = "progress_lane_comfort"
    termination_fn: str | TerminationFn = "collision_or_offroad"
    driving_heads: str | None = None  # None: the model bundle's; a path; "none": no heads
    termination_threshold: float = 0.5  # predicted P(off-road) or P(collision) above it counts

    @classmethod
    def from_keywords(cls, owner: str, keywords: Mapping[str, Any]) -> LearnedWorldOptions:
        """The options of ``owner``'s keyword arguments; a TypeError names any unknown one."""
        return options_from_keywords(cls, owner, keywords, "render_mode and model")

    def __post_init__(self) -> None:
        check_mode("obs_mode", self.obs_mode, OBS_MODES)
        check_mode("action_mode", self.action_mode, ACTION_MODES)
        if not 0.0 < float(self.termination_threshold) < 1.0:
            raise ValueError(
                f"termination_threshold={self.termination_threshold!r} must be in (0, 1)"
            )
        self.sampling_overrides()

    def sampling_overrides(self) -> dict[str, Any]:
        """The ``SamplingConfig`` fields these options replace in the checkpoint's settings."""
        overrides: dict[str, Any] = {}
        if self.sampling_preset is not None:
            overrides.update(sampling_preset(str(self.sampling_preset)))
        if self.sampling_steps is not None:
            overrides["steps"] = int(self.sampling_steps)
        for key, value in (self.guidance or {}).items():
            if key not in GUIDANCE_KEYS:
                raise ValueError(f"guidance key {key!r} is unknown; use 'text' and 'action'")
            overrides[f"guidance_{key}"] = float(value)
        return overrides

    def scenario_names(self, num: int) -> list[str]:
        """One scenario name or path per env of a batch of ``num``."""
        names = [self.scenario] * num if isinstance(self.scenario, str) else list(self.scenario)
        if len(names) != num:
            raise ValueError(f"got {len(names)} scenarios for {num} envs; pass one or {num}")
        return names
