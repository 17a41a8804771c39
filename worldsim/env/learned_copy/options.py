"""``LearnedCopyOptions``: the keyword arguments of ``worldsim/LearnedEnv-v0``, checked once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worldsim.env.learned.options import options_from_keywords
from worldsim.env.learned_copy.outcome import Outcome

STARTS: tuple[str, ...] = ("auto", "store", "env")
REWARDS: tuple[str, ...] = ("heads", "zero")
TERMINATIONS: tuple[str, ...] = ("heads", "never")
RewardFn = Callable[[Outcome], float]
TerminationFn = Callable[[Outcome], bool]


@dataclass(frozen=True)
class LearnedCopyOptions:
    """Settings of one learned copy of a recorded env (single or vector)."""

    checkpoint: str | None = None  # a world model trained with data.condition=actions
    store: str | None = None  # None: the store the model was trained on
    start: str = "auto"  # store | env | auto (the real env when it can be made, else the store)
    context_frames: int | None = None  # None: min(4, the model's context window)
    horizon: int = 200  # steps until truncation
    sampling_steps: int | None = None  # None: the checkpoint's
    sampling: Mapping[str, Any] | None = None  # other SamplingConfig fields to override
    device: str = "cpu"
    dtype: str = "float32"
    reward_fn: str | RewardFn = "heads"  # heads | zero | callable(Outcome) -> float
    termination_fn: str | TerminationFn = "heads"  # heads | never | callable(Outcome) -> bool
    termination_threshold: float = 0.5  # heads: end when P(terminated) exceeds it

    @classmethod
    def from_keywords(cls, owner: str, keywords: Mapping[str, Any]) -> LearnedCopyOptions:
        """The options of ``owner``'s keyword arguments; a TypeError names any unknown one."""
        return options_from_keywords(cls, owner, keywords, "render_mode, model and heads")

    def __post_init__(self) -> None:
        _choice("start", self.start, STARTS)
        if not callable(self.reward_fn):
            _choice("reward_fn", self.reward_fn, REWARDS)
        if not callable(self.termination_fn):
            _choice("termination_fn", self.termination_fn, TERMINATIONS)
        if self.context_frames is not None and int(self.context_frames) < 1:
            raise ValueError(f"context_frames={self.context_frames} must be at least 1")
        if int(self.horizon) < 1:
            raise ValueError(f"horizon={self.horizon} must be at least 1")
        if self.sampling_steps is not None and int(self.sampling_steps) < 1:
            raise ValueError(f"sampling_steps={self.sampling_steps} must be at least 1")
        if not 0.0 < float(self.termination_threshold) < 1.0:
            raise ValueError(
                f"termination_threshold={self.termination_threshold} must be in (0, 1)"
            )


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {list(allowed)}")
