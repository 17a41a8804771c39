"""Speed: env frames per second, per-step latency at each sampling-step count, peak memory and
model FLOPs utilisation (MFU) against a matmul peak measured in the same run."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from worldsim.runtime.world_model import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_latency(
    model: WorldModel, context_BTHWC: np.ndarray, prompt: str, repeats: int, seed: int
) -> float:
    """Median seconds per ``step`` (one frame for each batch row) after one warm-up step."""
    g = torch.Generator(model.device).manual_seed(seed)
    model.reset(context_BTHWC, prompt, generator=g)
    motion = np.tile([[10.0, 0.0]], (context_BTHWC.shape[0], 1))
    model.step(motion, generator=g)
    times = []
    for _ in range(repeats):
        _sync(model.device)
        t0 = time.perf_counter()
        model.step(motion, generator=g)
        _sync(model.device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def flops_per_frame(model: WorldModel, context_1THWC: np.ndarray, prompt: str) -> int:
    """FLOPs of one generated frame (batch 1: denoising steps, decoding and caching), counted
    by ``torch.utils.flop_counter``."""
    g = torch.Generator(model.device).manual_seed(0)
    model.reset(context_1THWC, prompt, generator=g)
    counter = FlopCounterMode(display=False)
    with counter:
        model.step(np.array([[10.0, 0.0]]), generator=g)
    return int(counter.get_total_flops())


def matmul_peak(
    device: torch.device, dtype: torch.dtype, size: int = 1024, repeats: int = 5
) -> float:
    """Best FLOP/s of a square ``size`` matmul on ``device`` in ``dtype``."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (MiB) and, on CUDA, peak allocated GPU memory."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    out = {"process_peak_rss_mib": float(rss_mib)}
    if device.type == "cuda":
        out["gpu_peak_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


ENV_MODES = ("single", "native", "sync")


def env_fps(
    checkpoint: str,
    num_envs: int,
    steps: int,
    sampling_steps: int,
    device: str = "cpu",
    dtype: str = "float32",
    mode: str = "native",
    model: WorldModel | None = None,
    env_options: dict[str, Any] | None = None,
) -> float:
    """Frames per second of ``worldsim/DrivingWorld-v0`` stepping constant actions after one
    warm-up step: ``mode="single"`` one env from ``gym.make``, ``"native"`` the batched vector
    env, ``"sync"`` ``num_envs`` separate envs stepped in turn. Every env shares ``model`` (by
    default ``checkpoint`` loaded once here). ``env_options`` are more env keyword arguments
    (``driving_heads="none"``, say)."""
    import gymnasium as gym

    import worldsim
    from worldsim.env.learned.model_cache import load_model

    if mode not in ENV_MODES:
        raise ValueError(f"mode={mode!r} is unknown; choose one of {list(ENV_MODES)}")
    if mode == "single" and num_envs != 1:
        raise ValueError(f"mode='single' runs one env, got num_envs={num_envs}")
    kwargs: dict[str, Any] = {
        "checkpoint": checkpoint,
        "horizon": 1_000_000,
        "device": device,
        "dtype": dtype,
        "sampling_steps": sampling_steps,
        "model": model if model is not None else load_model(checkpoint, device, dtype),
        **(env_options or {}),
    }
    if mode == "single":
        env = gym.make(worldsim.LEARNED_ENV_ID, **kwargs)
        action = np.zeros(2, np.float32)
    else:
        vectorization = {"vectorization_mode": "sync"} if mode == "sync" else {}
        env = gym.make_vec(worldsim.LEARNED_ENV_ID, num_envs=num_envs, **kwargs, **vectorization)
        action = np.zeros((num_envs, 2), np.float32)
    env.reset(seed=0)
    env.step(action)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(action)
    fps = num_envs * steps / (time.perf_counter() - t0)
    env.close()
    return fps


def measure_speed(
    model: WorldModel,
    checkpoint: str,
    context_1THWC: np.ndarray,
    prompt: str,
    sampling_steps: Sequence[int],
    repeats: int,
    env_steps: int,
    vector_envs: int,
    seed: int,
) -> dict[str, Any]:
    """Every speed number of the report, measured now on this machine."""
    latency = {
        str(s): step_latency(
            model.with_sampling(steps=int(s)), context_1THWC, prompt, repeats, seed
        )
        for s in sampling_steps
    }
    default_steps = model.sampling.steps
    default_latency = step_latency(model, context_1THWC, prompt, repeats, seed)
    flops = flops_per_frame(model, context_1THWC, prompt)
    peak_dtype = model.dtype if model.device.type == "cuda" else torch.float32
    peak = matmul_peak(model.device, peak_dtype, 4096 if model.device.type == "cuda" else 1024)
    achieved = flops / default_latency
    device, dtype = str(model.device), str(model.dtype).replace("torch.", "")
    from worldsim.env.learned.model_cache import load_model

    env_model = load_model(checkpoint, device, dtype)  # the checkpoint's own sampling settings
    env_single = env_fps(
        checkpoint, 1, env_steps, default_steps, device, dtype, mode="single", model=env_model
    )
    env_vector = env_fps(
        checkpoint, vector_envs, env_steps, default_steps, device, dtype, model=env_model
    )
    return {
        "sampling_steps": default_steps,
        "step_latency_s": latency,
        "model_fps_batch1": 1.0 / default_latency,
        "env_fps_single": env_single,
        "env_fps_vector": env_vector,
        "vector_envs": vector_envs,
        "flops_per_frame": flops,
        "matmul_peak_flops": peak,
        "matmul_peak_dtype": str(peak_dtype).replace("torch.", ""),
        "achieved_flops": achieved,
        "mfu": achieved / peak,
        **peak_memory(model.device),
    }
