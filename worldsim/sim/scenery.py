"""Static roadside objects: poles, trees and buildings, placed along the road."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldsim.sim.road import Road

POLE, TREE, BUILDING = 0, 1, 2


@dataclass(frozen=True)
class Scenery:
    """Objects sorted by arclength ``s``; ``d`` is the lateral offset of the object centre."""

    kind_N: np.ndarray
    s_N: np.ndarray
    d_N: np.ndarray
    size_N3: np.ndarray  # (N, 3) length along road, width across, height; metres
    color_N3: np.ndarray  # (N, 3) base colour in [0, 1]

    def window(self, s_lo: float, s_hi: float) -> np.ndarray:
        """Indices of objects whose ``s`` lies in [s_lo, s_hi]."""
        lo, hi = np.searchsorted(self.s_N, [s_lo, s_hi])
        return np.arange(lo, hi)


def make_scenery(rng: np.random.Generator, road: Road, spacing: float = 9.0) -> Scenery:
    """Scatter objects on both sides beyond the shoulder, about one per ``spacing`` metres."""
    edge = road.half_width + road.shoulder_width
    n = int(road.length / spacing * 2)
    s = np.sort(rng.uniform(0, road.length, n))
    side = rng.choice([-1.0, 1.0], size=n)
    kind = rng.choice([POLE, TREE, BUILDING], size=n, p=[0.3, 0.5, 0.2])
    size = np.zeros((n, 3))
    color = np.zeros((n, 3))
    offset = np.zeros(n)
    poles = kind == POLE
    size[poles] = [0.25, 0.25, 6.0]
    color[poles] = [0.55, 0.55, 0.55]
    offset[poles] = rng.uniform(0.8, 2.0, poles.sum())
    trees = kind == TREE
    canopy = rng.uniform(2.5, 4.5, trees.sum())
    size[trees, 0] = canopy
    size[trees, 1] = canopy
    size[trees, 2] = rng.uniform(5.0, 9.0, trees.sum())
    color[trees] = np.array([0.12, 0.35, 0.12]) * rng.uniform(0.7, 1.3, (trees.sum(), 1))
    offset[trees] = rng.uniform(3.0, 14.0, trees.sum())
    builds = kind == BUILDING
    nb = int(builds.sum())
    size[builds, 0] = rng.uniform(8.0, 25.0, nb)
    size[builds, 1] = rng.uniform(8.0, 16.0, nb)
    size[builds, 2] = rng.uniform(5.0, 20.0, nb)
    palette = np.array(
        [[0.65, 0.55, 0.45], [0.55, 0.35, 0.30], [0.70, 0.70, 0.68], [0.45, 0.50, 0.55]]
    )
    color[builds] = palette[rng.integers(0, len(palette), nb)]
    offset[builds] = rng.uniform(10.0, 22.0, nb) + size[builds, 1] / 2
    d = side * (edge + offset + size[:, 1] / 2 * (kind != BUILDING))
    keep = _drop_overlaps(s, d, size)
    return Scenery(kind[keep], s[keep], d[keep], size[keep], color[keep])


def _drop_overlaps(s: np.ndarray, d: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Greedy filter so objects on the same side do not intersect."""
    keep = np.ones(s.size, dtype=bool)
    last_end = {-1.0: -np.inf, 1.0: -np.inf}
    for i in range(s.size):
        side = float(np.sign(d[i]))
        start = s[i] - size[i, 0] / 2
        if start < last_end[side] and size[i, 1] > 1.0:
            keep[i] = False
            continue
        if size[i, 1] > 1.0:
            last_end[side] = s[i] + size[i, 0] / 2
    return keep
