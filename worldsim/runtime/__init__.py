"""The world-model runtime: one checkpoint in, batched autoregressive frame generation out."""

from worldsim.diffusion.samplers import SamplingConfig

__all__ = ["SamplingConfig"]
