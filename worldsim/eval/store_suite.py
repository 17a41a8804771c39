"""The store suite: rollouts from recorded windows against their held-out continuations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from worldsim.eval.config import EvalConfig
from worldsim.eval.quality import (
    RolloutSet,
    classifier_accuracy,
    drift,
    fidelity_and_adherence,
    generate,
    label_indices,
    progress_bar,
)
from worldsim.eval.results import QualityResult, RolloutArrays, TextResult
from worldsim.runtime.world_model import WorldModel

if TYPE_CHECKING:
    from worldsim.data.store import EpisodeStore
    from worldsim.runtime.heads import EvalHeads

Window = tuple[str, int]  # (episode key, first frame)


def _windows(
    store: EpisodeStore, cfg: EvalConfig, model: WorldModel
) -> tuple[list[str], int, list[Window]]:
    """The usable episodes, the horizon and the ``(episode, start)`` windows to evaluate."""
    sc = cfg.store
    if store.resolution is None or tuple(store.resolution) != tuple(model.resolution):
        raise ValueError(
            f"store {sc.path} holds {store.resolution} frames but the model generates "
            f"{model.resolution}; evaluate on a store of the model's resolution"
        )
    keys = store.keys(sc.split) or store.keys()
    lengths = [store.num_frames(k) - sc.context_frames for k in keys]
    usable = [k for k, n in zip(keys, lengths, strict=True) if n >= 2]
    if not usable:
        raise ValueError(
            f"no episode of {sc.path} has more than context_frames+1={sc.context_frames + 1} "
            "frames; lower store.context_frames"
        )
    horizon = min(sc.horizon, *(store.num_frames(k) - sc.context_frames for k in usable))
    span = sc.context_frames + horizon
    windows = [(k, s) for k in usable for s in range(0, store.num_frames(k) - span + 1, span)][
        : sc.max_windows
    ]
    return usable, horizon, windows


def store_suite(
    model: WorldModel, heads: EvalHeads | None, cfg: EvalConfig
) -> tuple[QualityResult, RolloutArrays]:
    """Fidelity, IDM adherence and Fréchet distance against held-out continuations."""
    from worldsim.data.store import EpisodeStore

    sc = cfg.store
    store = EpisodeStore(str(sc.path))
    usable, horizon, windows = _windows(store, cfg, model)
    span = sc.context_frames + horizon
    frames = np.stack([store.frames(k, s, span) for k, s in windows])
    motion = np.stack([store.ego_motion(k)[s : s + span] for k, s in windows]).astype(np.float32)
    c = sc.context_frames
    g = torch.Generator(model.device).manual_seed(cfg.seed)
    with progress_bar(len(windows) * horizon, "store rollouts", cfg.progress) as bar:
        generated = generate(
            model,
            frames[:, :c],
            motion[:, : c - 1],
            motion[:, c - 1 : c - 1 + horizon],
            [store.caption_at(k, s + c - 1) for k, s in windows],
            g,
            progress=bar,
        )
    rollouts = RolloutSet(
        frames[:, c - 1], generated, frames[:, c:], motion[:, c - 1 : c - 1 + horizon]
    )
    fid, adherence = fidelity_and_adherence(model, heads, rollouts, cfg.horizons)
    text = None
    if heads is not None and adherence is not None:
        conditions = [store.meta(k).get("conditions") or {} for k, _ in windows]
        labels = label_indices(heads, conditions)
        if (labels >= 0).any():
            text = TextResult(
                generated=classifier_accuracy(heads, generated, labels),
                ground_truth=classifier_accuracy(heads, rollouts.truth_RNHWC, labels),
            )
    reference = np.concatenate([store.frames(k) for k in usable])
    result = QualityResult(
        suite="store",
        fidelity=fid,
        drift=drift(heads, generated, rollouts.truth_RNHWC, reference, cfg.drift_edges),
        store=str(sc.path),
        windows=[[k, int(s)] for k, s in windows],
        action=adherence,
        text=text,
    )
    return result, RolloutArrays(frames[:, :c], generated, rollouts.truth_RNHWC)
