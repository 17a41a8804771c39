"""Stateless ODE samplers for rectified flow. A sampler takes a velocity function, the noise to
start from and a decreasing schedule of noise levels; every random draw takes a generator.
``SamplingConfig`` holds the run-time sampling settings (sampler, steps, shift, guidance)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from worldsim.diffusion.guidance import GuidanceScales

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor], None]


def make_schedule(
    steps: int, shift: float = 1.0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``steps + 1`` noise levels from 1 to 0, warped by ``t' = s t / (1 + (s - 1) t)``
    (the resolution shift of SD3, Esser et al. 2024); ``shift > 1`` spends more steps at high
    noise."""
    if steps < 1:
        raise ValueError(f"sampling steps={steps} must be at least 1")
    if shift <= 0:
        raise ValueError(f"schedule shift={shift} must be positive")
    t = torch.linspace(1.0, 0.0, steps + 1, device=device)
    return shift * t / (1 + (shift - 1) * t)


def initial_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise drawn from ``generator``."""
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


@torch.no_grad()
def sample_euler(
    velocity: VelocityFn,
    x: torch.Tensor,
    schedule: torch.Tensor,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Euler's method on the flow ODE ``dx/dt = v(x, t)`` from ``schedule[0]`` down to
    ``schedule[-1]`` (Liu et al. 2022, rectified flow). ``x`` is the starting noise."""
    for i in range(len(schedule) - 1):
        t, t_next = schedule[i], schedule[i + 1]
        v = velocity(x, t.expand(x.shape[0]))
        x = x + (t_next - t) * v
        if callback is not None:
            callback(i, x, t_next)
    return x


@torch.no_grad()
def sample_heun(
    velocity: VelocityFn,
    x: torch.Tensor,
    schedule: torch.Tensor,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 1 without churn): an Euler
    step corrected by the average of the slopes at both ends; the last step to t = 0 is Euler."""
    for i in range(len(schedule) - 1):
        t, t_next = schedule[i], schedule[i + 1]
        v = velocity(x, t.expand(x.shape[0]))
        x_euler = x + (t_next - t) * v
        if t_next > 0:
            v_next = velocity(x_euler, t_next.expand(x.shape[0]))
            x = x + (t_next - t) * 0.5 * (v + v_next)
        else:
            x = x_euler
        if callback is not None:
            callback(i, x, t_next)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": sample_euler, "heun": sample_heun}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    """The sampler called ``name`` (a key of ``SAMPLERS``)."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler={name!r} is unknown; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name]


@dataclass
class SamplingConfig:
    """How frames are sampled at run time."""

    steps: int = 8
    sampler: str = "euler"
    shift: float = 1.0
    context_noise: float = 0.05  # noise level given to past frames before they are cached
    guidance_text: float = 1.0
    guidance_action: float = 1.0
    temperature: float = 1.0  # scale of the initial noise: < 1 trades sample detail for the mean

    def __post_init__(self) -> None:
        get_sampler(self.sampler)
        make_schedule(self.steps, self.shift)
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"context_noise={self.context_noise} must lie in [0, 1)")
        if not 0.0 <= self.temperature <= 1.0:
            raise ValueError(f"temperature={self.temperature} must lie in [0, 1]")
        for name in ("guidance_text", "guidance_action"):
            if not getattr(self, name) >= 0.0:  # also refuses NaN
                raise ValueError(
                    f"{name}={getattr(self, name)} must be >= 0 (1: no guidance, 0: the "
                    "condition left out, above 1: pushed further)"
                )

    @property
    def scales(self) -> GuidanceScales:
        """The classifier-free guidance scales of the text and action conditions."""
        return GuidanceScales(text=self.guidance_text, action=self.guidance_action)


# Named run-time sampler settings (``DrivingWorld-v0``'s ``sampling_preset``): fields of
# ``SamplingConfig`` that replace the checkpoint's. "fast" is one deterministic step, the
# setting the bundled model's rollout training uses (docs/world-model.md); "stochastic" is
# four Euler steps from full-temperature noise.
SAMPLING_PRESETS: dict[str, dict[str, float | int]] = {
    "fast": {"steps": 1, "temperature": 0.0},
    "stochastic": {"steps": 4, "temperature": 1.0},
}


def sampling_preset(name: str) -> dict[str, float | int]:
    """The ``SamplingConfig`` overrides of the preset called ``name``."""
    if name not in SAMPLING_PRESETS:
        raise ValueError(
            f"sampling_preset={name!r} is unknown; choose one of {sorted(SAMPLING_PRESETS)}"
        )
    return dict(SAMPLING_PRESETS[name])
