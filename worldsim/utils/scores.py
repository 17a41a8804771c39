"""Scores of predictions against labels: AUROC, Pearson r, precision and recall."""

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
