"""Accuracy measures of the driving-signal heads: MAE, AUROC, Pearson r, precision/recall."""

from __future__ import annotations

import numpy as np


def auroc(scores_N: np.ndarray, labels_N: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count half); nan
    when only one class is present."""
    scores_N = np.asarray(scores_N, dtype=np.float64).ravel()
    labels_N = np.asarray(labels_N).ravel().astype(bool)
    pos, neg = int(labels_N.sum()), int((~labels_N).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores_N, kind="mergesort")
    ranks = np.empty(len(scores_N))
    sorted_scores = scores_N[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + 0.5 * (count + 1)
    return float((ranks[labels_N].sum() - pos * (pos + 1) / 2) / (pos * neg))


def pearson(a_N: np.ndarray, b_N: np.ndarray) -> float:
    """Pearson correlation of two samples; nan when either is constant."""
    a_N, b_N = np.asarray(a_N, np.float64).ravel(), np.asarray(b_N, np.float64).ravel()
    if a_N.std() == 0 or b_N.std() == 0:
        return float("nan")
    return float(np.corrcoef(a_N, b_N)[0, 1])


def precision_recall(pred_N: np.ndarray, true_N: np.ndarray) -> tuple[float, float]:
    """Precision and recall of boolean predictions (nan where undefined)."""
    pred_N, true_N = np.asarray(pred_N, bool).ravel(), np.asarray(true_N, bool).ravel()
    hits = float((pred_N & true_N).sum())
    precision = hits / pred_N.sum() if pred_N.any() else float("nan")
    recall = hits / true_N.sum() if true_N.any() else float("nan")
    return precision, recall


def signal_accuracy(
    pred: dict[str, np.ndarray], true_NS: np.ndarray, lead_gap_max: float = 50.0
) -> dict[str, float]:
    """The heads' accuracy table on labelled frames, with constant baselines.

    ``pred`` is :meth:`DrivingHeads.predict`'s output; ``true_NS`` holds the recorded signals
    in the order of ``SIGNALS``. A constant baseline predicts the median (for MAE) or one
    score for every frame (AUROC 0.5). Lane offset and heading error MAE are measured on the
    on-road frames (``*_mae``) and on all frames (``*_mae_all``): off the road the lane offset
    grows without bound and the episode has ended, so no reward reads it there.
    """
    from worldsim.models.heads import SIGNALS

    col = {name: true_NS[:, i] for i, name in enumerate(SIGNALS)}
    onroad = col["offroad"] < 0.5
    out: dict[str, float] = {"frames": float(len(true_NS)), "onroad_frames": float(onroad.sum())}
    for name in ("lane_offset", "heading_error"):
        # headline: on the road, where the signal drives the reward (off it, episodes end)
        for suffix, mask in (("", onroad), ("_all", np.ones_like(onroad))):
            if not mask.any():
                continue
            err = np.abs(pred[name][mask] - col[name][mask])
            out[f"{name}_mae{suffix}"] = float(err.mean())
            const = np.abs(col[name][mask] - np.median(col[name][mask]))
            out[f"{name}_mae{suffix}_constant"] = float(const.mean())
    for name in ("offroad", "collision"):
        labels = col[name] > 0.5
        out[f"{name}_auroc"] = auroc(pred[f"{name}_prob"], labels)
        out[f"{name}_positives"] = float(labels.sum())
        p, r = precision_recall(pred[f"{name}_prob"] > 0.5, labels)
        out[f"{name}_precision"], out[f"{name}_recall"] = p, r
    lead = col["lead_gap"] < lead_gap_max - 1e-3
    if lead.any():
        out["lead_gap_mae"] = float(np.abs(pred["lead_gap"][lead] - col["lead_gap"][lead]).mean())
        median = np.median(col["lead_gap"][lead])
        out["lead_gap_mae_constant"] = float(np.abs(col["lead_gap"][lead] - median).mean())
    out["lead_auroc"] = auroc(pred["lead_prob"], lead)
    return out
