"""What an evaluation ran on: package versions, hardware and file hashes."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import torch

PACKAGES: tuple[str, ...] = (
    "worldsim",
    "torch",
    "numpy",
    "lightning",
    "hydra-core",
    "gymnasium",
    "av",
    "einops",
    "matplotlib",
    "torchmetrics",
    "torch-fidelity",
    "nuscenes-devkit",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict[str, Any]:
    """CPU, thread counts and, for CUDA, the GPU name and memory."""
    out: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out["gpu"] = props.name
        out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return out
