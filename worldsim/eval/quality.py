"""Quality metrics of rollouts against their true futures: fidelity, adherence and drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.eval.intervals import mean_with_interval
from worldsim.eval.metrics import (
    changed_pixel_psnr,
    frame_stats,
    frechet_distance,
    horizon_buckets,
    out_of_range_fraction,
    psnr_frames,
    repeat_last_frame,
    ssim_frames,
    stat_bounds,
)
from worldsim.eval.results import (
    ActionErrors,
    ActionFollowingResult,
    AdherenceResult,
    ClassifierAccuracy,
    CounterfactualScores,
    DriftBucket,
    DriftResult,
    FidelityResult,
)
from worldsim.runtime.world_model import WorldModel

if TYPE_CHECKING:
    from worldsim.runtime.heads import EvalHeads


@dataclass
class RolloutSet:
    """Generated and true futures of ``R`` rows from the same contexts and motions."""

    context_last_RHWC: np.ndarray  # uint8, the last context frame of each row
    generated_RNHWC: np.ndarray  # uint8 (R, N, H, W, 3)
    truth_RNHWC: np.ndarray  # uint8 (R, N, H, W, 3)
    motion_RN2: np.ndarray  # commanded ego motion leading to each future frame
    group_R: np.ndarray | None = None  # start context of each row (for intervals); None: own

    @property
    def groups(self) -> np.ndarray:
        """The group id of every row."""
        if self.group_R is None:
            return np.arange(len(self.truth_RNHWC))
        return np.asarray(self.group_R)


def per_group(values_R: np.ndarray, group_R: np.ndarray) -> np.ndarray:
    """Mean of the rows of each group (NaNs ignored; NaN for a group with no value), in the
    order of the sorted group ids."""
    out = []
    for g in np.unique(group_R):
        values = values_R[group_R == g]
        known = values[~np.isnan(values)]
        out.append(known.mean() if known.size else np.nan)
    return np.array(out, dtype=np.float64)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar counting generated frames (disabled with ``progress=false``)."""
    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False)


def generate(
    model: WorldModel,
    context_RTHWC: np.ndarray,
    past_motion_RT2: np.ndarray,
    motion_RN2: np.ndarray,
    prompts: Sequence[str],
    generator: torch.Generator,
    switch: tuple[int, Sequence[str]] | None = None,
    progress: Any = None,
) -> np.ndarray:
    """Roll every row out under its motions into uint8 ``(R, N, H, W, 3)``."""
    # switch=(step, prompts) changes the prompts before generating frame ``step``
    rows, steps = motion_RN2.shape[:2]
    model.reset(context_RTHWC, list(prompts), past_motion_RT2, generator)
    out = np.empty((rows, steps, *model.resolution, 3), dtype=np.uint8)
    for t in range(steps):
        new_prompts = switch[1] if switch is not None and t == switch[0] else None
        out[:, t] = model.step(motion_RN2[:, t], prompts=new_prompts, generator=generator)
        if progress is not None:
            progress.update(rows)
    return out


def tokenizer_reconstruction(model: WorldModel, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Frames passed through the tokenizer (encode, decode): the fidelity ceiling."""
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = np.empty_like(flat)
    with torch.no_grad():
        for start in range(0, len(flat), batch):
            chunk = torch.from_numpy(flat[start : start + batch])
            out[start : start + batch] = model.decode(model.encode(chunk))
    return out.reshape(frames.shape)


def fidelity(model: WorldModel, rollouts: RolloutSet, horizons: Sequence[int]) -> FidelityResult:
    """PSNR and SSIM per horizon step of the model, repeat-last-frame and the tokenizer."""
    gen, truth = rollouts.generated_RNHWC, rollouts.truth_RNHWC
    steps = truth.shape[1]
    repeat = repeat_last_frame(rollouts.context_last_RHWC, steps)
    recon = tokenizer_reconstruction(model, truth)
    curves = {
        "model": {"psnr": psnr_frames(gen, truth), "ssim": ssim_frames(gen, truth)},
        "repeat_last": {"psnr": psnr_frames(repeat, truth), "ssim": ssim_frames(repeat, truth)},
        "tokenizer": {"psnr": psnr_frames(recon, truth), "ssim": ssim_frames(recon, truth)},
    }
    last = np.broadcast_to(rollouts.context_last_RHWC[:, None], truth.shape)
    for name, pred in (("model", gen), ("repeat_last", repeat), ("tokenizer", recon)):
        curves[name]["changed_psnr"] = changed_pixel_psnr(pred, truth, last)
    groups = rollouts.groups
    at = [h for h in horizons if 1 <= h <= steps]
    means: dict[str, dict[str, float]] = {}
    mean_curves: dict[str, dict[str, list[float]]] = {}
    intervals: dict[str, dict[str, dict[str, float]]] = {}
    for name, metrics in curves.items():
        mean_curves[name] = {k: [float(x) for x in np.nanmean(v, 0)] for k, v in metrics.items()}
        means[name] = {
            f"{k}@{h}": float(np.nanmean(v[:, h - 1])) for k, v in metrics.items() for h in at
        }
        intervals[name] = {
            f"{k}@{h}": mean_with_interval(per_group(v[:, h - 1], groups))
            for k, v in metrics.items()
            for h in at
        }
    return FidelityResult(
        rows=int(truth.shape[0]),
        contexts=int(len(np.unique(groups))),
        horizon=steps,
        curves=mean_curves,
        intervals=intervals,
        model=means["model"],
        repeat_last=means["repeat_last"],
        tokenizer=means["tokenizer"],
    )


def action_following(rollouts: RolloutSet, steps: int) -> ActionFollowingResult:
    """Share of rollout pairs from one start where each is closer to its own truth."""
    # Ordered pairs (r, r') under different motions where r's generated frames are closer to
    # r's truth than r''s generated frames are, over the first ``steps`` frames: does the
    # model's future depend on the actions in the right way?
    gen = rollouts.generated_RNHWC[:, :steps].astype(np.float32)
    truth = rollouts.truth_RNHWC[:, :steps].astype(np.float32)
    motion = rollouts.motion_RN2[:, :steps]
    groups = rollouts.groups
    scores = []
    for g in np.unique(groups):
        rows = np.nonzero(groups == g)[0]
        hits = []
        for r in rows:
            own = float(((gen[r] - truth[r]) ** 2).mean())
            for other in rows:
                if other == r or np.allclose(motion[other], motion[r]):
                    continue
                hits.append(own < float(((gen[other] - truth[r]) ** 2).mean()))
        if hits:
            scores.append(float(np.mean(hits)))
    if not scores:
        return ActionFollowingResult(score=None, contexts=0, steps=steps)
    return ActionFollowingResult(mean_with_interval(np.array(scores)), len(scores), steps)


def _mae(pred: np.ndarray, target: np.ndarray, std: np.ndarray) -> ActionErrors:
    """Speed and yaw-rate MAE, and the mean error in standard deviations."""
    err = np.abs(pred - target)  # (..., 2)
    return ActionErrors(
        mae_speed=float(err[..., 0].mean()),
        mae_yaw_rate=float(err[..., 1].mean()),
        action_error=float((err / std).mean()),
    )


def action_adherence(heads: EvalHeads, rollouts: RolloutSet) -> AdherenceResult:
    """IDM estimates on generated and on true frames against the commanded ego motion."""
    idm = heads.idm
    std = idm.motion_std.detach().cpu().numpy()
    mean = idm.motion_mean.detach().cpu().numpy()
    first = rollouts.context_last_RHWC[:, None]
    gen = idm.predict(np.concatenate([first, rollouts.generated_RNHWC], axis=1))
    truth = idm.predict(np.concatenate([first, rollouts.truth_RNHWC], axis=1))
    motion = rollouts.motion_RN2
    return AdherenceResult(
        generated=_mae(gen, motion, std),
        ground_truth=_mae(truth, motion, std),
        constant=_mae(np.broadcast_to(mean, motion.shape), motion, std),
        estimates_generated=gen,
        estimates_truth=truth,
    )


def fidelity_and_adherence(
    model: WorldModel, heads: EvalHeads | None, rollouts: RolloutSet, horizons: Sequence[int]
) -> tuple[FidelityResult, AdherenceResult | None]:
    """Fidelity of ``rollouts``, and their IDM action adherence when there are heads."""
    result = fidelity(model, rollouts, horizons)
    adherence = action_adherence(heads, rollouts) if heads is not None else None
    return result, adherence


def order_agreement(estimates: np.ndarray, commanded: np.ndarray) -> bool:
    """Whether ``estimates`` sort in the same strict order as ``commanded``."""
    return bool(np.array_equal(np.argsort(estimates), np.argsort(commanded)))


def counterfactual(
    groups: dict[str, list[int]],
    estimates_RN2: np.ndarray,
    motion_RN2: np.ndarray,
    steps: int,
) -> CounterfactualScores:
    """How often estimates rank futures from one context in the commanded order."""
    # Yaw rate over left/straight/right and over the extremes alone (left/right), and speed
    # over brake/accelerate, averaged over the first ``steps``.
    est = np.nanmean(estimates_RN2[:, :steps], axis=1)  # (R, 2)
    cmd = motion_RN2[:, :steps].mean(axis=1)
    steer_hits, pair_hits, speed_hits = [], [], []
    for rows in groups.get("steer", []):
        steer_hits.append(order_agreement(est[rows, 1], cmd[rows, 1]))
        ends = [rows[0], rows[-1]]  # the two extremes: left and right
        pair_hits.append(order_agreement(est[ends, 1], cmd[ends, 1]))
    for rows in groups.get("speed", []):
        speed_hits.append(order_agreement(est[rows, 0], cmd[rows, 0]))

    def share(hits: list[bool]) -> float | None:
        """The share of hits (None without any)."""
        return float(np.mean(hits)) if hits else None

    def interval(hits: list[bool]) -> dict[str, float] | None:
        """The share of hits with its bootstrap interval (None without any)."""
        return mean_with_interval(np.array(hits, dtype=np.float64)) if hits else None

    return CounterfactualScores(
        steer_order_accuracy=share(steer_hits),
        steer_pair_accuracy=share(pair_hits),
        speed_order_accuracy=share(speed_hits),
        intervals={
            "steer_order_accuracy": interval(steer_hits),
            "steer_pair_accuracy": interval(pair_hits),
            "speed_order_accuracy": interval(speed_hits),
        },
        contexts=len(steer_hits),
        steps=steps,
    )


def label_indices(heads: EvalHeads, conditions: Sequence[dict[str, Any]]) -> np.ndarray:
    """``(R, 2)`` classifier label indices of each row's time of day and weather (-1: none)."""
    clf = heads.classifier
    out = np.full((len(conditions), 2), -1, dtype=np.int64)
    for i, cond in enumerate(conditions):
        for j, (field, labels) in enumerate(
            (("time_of_day", clf.time_labels), ("weather", clf.weather_labels))
        ):
            value = cond.get(field)
            if value in labels:
                out[i, j] = list(labels).index(value)
    return out


def classifier_accuracy(
    heads: EvalHeads, frames_RNHWC: np.ndarray, labels_R2: np.ndarray
) -> ClassifierAccuracy:
    """Accuracy of the condition classifier on every frame against its row's labels."""
    rows, steps = frames_RNHWC.shape[:2]
    time_pred, weather_pred = heads.classifier.predict(
        frames_RNHWC.reshape(-1, *frames_RNHWC.shape[2:])
    )
    pred = np.stack([time_pred, weather_pred], axis=1).reshape(rows, steps, 2)
    out: dict[str, float | None] = {}
    for j, name in enumerate(("time_of_day", "weather")):
        known = labels_R2[:, j] >= 0
        if not known.any():
            out[f"{name}_accuracy"] = None
            continue
        hits = pred[known, :, j] == labels_R2[known, None, j]
        out[f"{name}_accuracy"] = float(hits.mean())
    return ClassifierAccuracy(**out)


def changes_of_weather(
    old: Sequence[dict[str, Any]],
    new: Sequence[dict[str, Any]],
    fields: Sequence[str] = ("weather",),
) -> dict[str, list[int]]:
    """The rows of each change ``"old -> new"`` of the conditions' ``fields`` (the weather by
    default; ``("time_of_day", "weather")`` gives ``"dusk, snow -> day, rain"``), sorted."""
    if len(old) != len(new):
        raise ValueError(f"{len(old)} old conditions need as many new ones, got {len(new)}")

    def look(conditions: dict[str, Any]) -> str:
        return ", ".join(str(conditions.get(f)) for f in fields)

    groups: dict[str, list[int]] = {}
    for r, (before, after) in enumerate(zip(old, new, strict=True)):
        groups.setdefault(f"{look(before)} -> {look(after)}", []).append(r)
    return dict(sorted(groups.items()))


def weather_hits(
    heads: EvalHeads, frames_RNHWC: np.ndarray, conditions: Sequence[dict[str, Any]]
) -> np.ndarray:
    """``(R, N)``: whether the classifier finds each row's weather in each of its frames."""
    if len(conditions) != len(frames_RNHWC):
        raise ValueError(
            f"{len(frames_RNHWC)} rollouts need as many conditions, got {len(conditions)}"
        )
    labels = label_indices(heads, conditions)[:, 1]
    _, weather_pred = heads.classifier.predict(frames_RNHWC.reshape(-1, *frames_RNHWC.shape[2:]))
    return np.asarray(weather_pred).reshape(frames_RNHWC.shape[:2]) == labels[:, None]


def weather_by_change(
    heads: EvalHeads,
    frames_RNHWC: np.ndarray,
    old: Sequence[dict[str, Any]],
    new: Sequence[dict[str, Any]],
) -> dict[str, dict[str, float]]:
    """Weather accuracy against ``new`` per change of weather ``"old -> new"``, with its
    number of rollouts."""
    hits_RN = weather_hits(heads, frames_RNHWC, new)
    return {
        change: {"rollouts": len(rows), "weather_accuracy": float(hits_RN[rows].mean())}
        for change, rows in changes_of_weather(old, new).items()
    }


def drift(
    heads: EvalHeads | None,
    generated_RNHWC: np.ndarray,
    truth_RNHWC: np.ndarray,
    reference_frames: np.ndarray,
    edges: Sequence[int],
) -> DriftResult:
    """Per horizon bucket: the Fréchet distance of the generated and of the true frames to all
    true frames of the same rollouts, and out-of-range rates against ``reference_frames``.

    The Fréchet reference is the rollouts' own true frames, pooled over the horizon, so that it
    holds the same drives, times of day and weathers as the buckets it is compared with. A
    reference of other drives (a wider set of starts) differs from a few rollouts by their mix
    of conditions alone, which gives the true frames a distance as large as the generated ones'
    and hides the drift. The colour-statistics bounds of the out-of-range rate come from
    ``reference_frames``."""
    # Fréchet distances of generated and of true frames use classifier-encoder features.
    steps = generated_RNHWC.shape[1]
    ref_stats = frame_stats(reference_frames)
    bounds = stat_bounds(ref_stats)
    fd_reference = truth_RNHWC.reshape(-1, *truth_RNHWC.shape[2:])
    ref_feats = heads.classifier.embed(fd_reference) if heads is not None else None
    buckets = []
    for first, last in horizon_buckets(steps, edges):
        gen = generated_RNHWC[:, first - 1 : last].reshape(-1, *generated_RNHWC.shape[2:])
        true = truth_RNHWC[:, first - 1 : last].reshape(-1, *truth_RNHWC.shape[2:])
        entry = DriftBucket(
            first=first,
            last=last,
            frames=int(len(gen)),
            out_of_range_generated=out_of_range_fraction(frame_stats(gen), bounds),
            out_of_range_truth=out_of_range_fraction(frame_stats(true), bounds),
        )
        if heads is not None and ref_feats is not None and len(gen) >= 2:
            entry.fd_generated = frechet_distance(heads.classifier.embed(gen), ref_feats)
            entry.fd_truth = frechet_distance(heads.classifier.embed(true), ref_feats)
        buckets.append(entry)
    all_gen = generated_RNHWC.reshape(-1, *generated_RNHWC.shape[2:])
    return DriftResult(
        horizon=steps,
        reference_frames=int(len(reference_frames)),
        fd_reference_frames=int(len(fd_reference)),
        stat_bounds={"p1": bounds[0].tolist(), "p99": bounds[1].tolist()},
        out_of_range_generated=out_of_range_fraction(frame_stats(all_gen), bounds),
        out_of_range_reference=out_of_range_fraction(ref_stats, bounds),
        buckets=buckets,
    )
