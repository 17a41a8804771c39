"""Normalisation statistics: per-episode moments, merged over the train episodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from worldsim.data.episode import EGO_MOTION_FIELDS

STD_FLOOR = 1e-6  # fields with a smaller std are only centred, not scaled, by normalize()


@dataclass(frozen=True)
class NormStats:
    """Per-field mean and (population) standard deviation over the train episodes."""

    fields: tuple[str, ...]
    mean: np.ndarray  # (K,) float64
    std: np.ndarray  # (K,) float64
    count: int  # number of frames (rows) the statistics cover

    def normalize(self, x_TK: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` as float32; fields with std < STD_FLOOR are only centred."""
        scale = np.where(self.std > STD_FLOOR, self.std, 1.0)
        return ((np.asarray(x_TK, np.float64) - self.mean) / scale).astype(np.float32)

    def denormalize(self, x_TK: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`, as float32."""
        scale = np.where(self.std > STD_FLOOR, self.std, 1.0)
        return (np.asarray(x_TK, np.float64) * scale + self.mean).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NormStats:
        return cls(
            fields=tuple(data["fields"]),
            mean=np.asarray(data["mean"], np.float64),
            std=np.asarray(data["std"], np.float64),
            count=int(data["count"]),
        )


@dataclass(frozen=True)
class StoreStats:
    """Normalisation statistics of the store, computed over its train episodes."""

    ego_motion: NormStats
    ego_state: NormStats


def _moments(x_TK: np.ndarray) -> dict[str, Any]:
    """Count, mean and sum of squared deviations per column (merged with Chan's formula)."""
    x = np.asarray(x_TK, np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    m2 = ((x - mean) ** 2).sum(axis=0)
    return {"count": int(len(x)), "mean": mean.tolist(), "m2": m2.tolist()}


def _merge_moments(
    parts: Iterable[dict[str, Any]], num_fields: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """Total count, mean and sum of squared deviations of several :func:`_moments` dicts."""
    count = 0
    mean = np.zeros(num_fields)
    m2 = np.zeros(num_fields)
    for part in parts:
        n_b = int(part["count"])
        if n_b == 0:
            continue
        mean_b = np.asarray(part["mean"], np.float64)
        m2_b = np.asarray(part["m2"], np.float64)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta**2 * (count * n_b / total)
        count = total
    return count, mean, m2


def _norm_stats(fields: Sequence[str], parts: Iterable[dict[str, Any]]) -> NormStats:
    """NormStats of merged moments (mean 0, std 1 when they cover no frame)."""
    count, mean, m2 = _merge_moments(parts, len(fields))
    if count == 0:
        return NormStats(tuple(fields), np.zeros(len(fields)), np.ones(len(fields)), 0)
    return NormStats(tuple(fields), mean, np.sqrt(m2 / count), count)


def _stats_json(ego_state_fields: Sequence[str], train: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's ``stats``: NormStats of the train episodes' metas, as JSON."""
    return {
        "ego_motion": _norm_stats(
            EGO_MOTION_FIELDS, (m["moments"]["ego_motion"] for m in train)
        ).to_json(),
        "ego_state": _norm_stats(
            ego_state_fields, (m["moments"]["ego_state"] for m in train)
        ).to_json(),
    }
