"""Standard FID and FVD, computed only when their pretrained networks are available locally."""

# worldsim never downloads weights at run time. FID uses torchmetrics' Inception network, which
# needs the ``torch-fidelity`` package and its Inception weights in the torch hub cache. FVD
# needs an I3D network trained on Kinetics-400; no such weights ship with any dependency, so it
# is reported as skipped. Skipped metrics say why in one line and are never estimated another
# way.

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from worldsim.eval.results import StandardMetrics

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def inception_weights_path() -> Path:
    """Where torchmetrics looks for the Inception weights (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def fid_unavailable_reason() -> str | None:
    """Why the standard FID cannot run here, or None when it can."""
    if importlib.util.find_spec("torchmetrics") is None:
        return (
            "FID skipped: torchmetrics is not installed (pip install torchmetrics torch-fidelity)"
        )
    if importlib.util.find_spec("torch_fidelity") is None:
        return "FID skipped: torch-fidelity is not installed (pip install torch-fidelity)"
    if not inception_weights_path().is_file():
        return (
            f"FID skipped: the Inception weights are not at {inception_weights_path()} and "
            "worldsim does not download weights"
        )
    return None


def standard_fid(generated: np.ndarray, real: np.ndarray, batch: int = 64) -> float:
    """FID (2048-d Inception pool features) between two uint8 frame sets ``(N, H, W, 3)``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048)
    for frames, is_real in ((real, True), (generated, False)):
        for start in range(0, len(frames), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(frames[start : start + batch]))
            metric.update(rearrange(chunk, "n h w c -> n c h w"), real=is_real)
    return float(metric.compute())


def standard_metrics(generated: np.ndarray, real: np.ndarray) -> StandardMetrics:
    """FID and FVD, or a ``*_skipped`` line saying why each was not computed."""
    out = StandardMetrics()
    reason = fid_unavailable_reason()
    if reason is None:
        try:
            out.fid = standard_fid(generated, real)
        except Exception as exc:  # weights present but unusable: report, never fake
            out.fid_skipped = f"FID skipped: the Inception network failed to load ({exc})"
    else:
        out.fid_skipped = reason
    out.fvd_skipped = (
        "FVD skipped: it needs I3D (Kinetics-400) weights, which no installed package provides "
        "and worldsim does not download"
    )
    return out
