"""Road geometry: a centreline of piecewise curvature, lanes, and Frenet projection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DS = 0.5  # centreline sample spacing, metres
MIN_RADIUS = 80.0  # metres; keeps the nearest-point projection unambiguous in view
TRANSITION = 24.0  # metres over which curvature ramps between segments


@dataclass(frozen=True)
class Road:
    """A one-way carriageway. Lateral offset ``d`` is positive to the left of the centreline."""

    s_N: np.ndarray  # (N,) arclength, metres
    xy_N2: np.ndarray  # (N, 2) centreline position, metres
    heading_N: np.ndarray  # (N,) tangent direction, radians, counter-clockwise from +x
    curvature_N: np.ndarray  # (N,) 1/metres, positive = turning left
    num_lanes: int
    lane_width: float = 3.5
    shoulder_width: float = 1.6

    @property
    def length(self) -> float:
        return float(self.s_N[-1])

    @property
    def half_width(self) -> float:
        """Distance from the centreline to the paved lane edge."""
        return 0.5 * self.num_lanes * self.lane_width

    def lane_center(self, lane: int | np.ndarray) -> np.ndarray:
        """Lateral offset of lane centres; lane 0 is the rightmost lane."""
        return (np.asarray(lane, dtype=np.float64) + 0.5) * self.lane_width - self.half_width

    def lane_of(self, d: np.ndarray | float) -> np.ndarray:
        """Index of the lane that contains lateral offset ``d`` (clipped to the road)."""
        lane = np.floor((np.asarray(d) + self.half_width) / self.lane_width)
        return np.clip(lane, 0, self.num_lanes - 1).astype(np.int64)

    def pose(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centreline ``x, y, heading`` at arclength ``s`` (linear interpolation)."""
        s = np.clip(s, 0.0, self.length)
        x = np.interp(s, self.s_N, self.xy_N2[:, 0])
        y = np.interp(s, self.s_N, self.xy_N2[:, 1])
        heading = np.interp(s, self.s_N, self.heading_N)
        return x, y, heading

    def to_world(
        self, s: np.ndarray | float, d: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World ``x, y`` and road heading of the Frenet point ``(s, d)``."""
        x, y, heading = self.pose(s)
        return x - d * np.sin(heading), y + d * np.cos(heading), heading

    def curvature(self, s: np.ndarray | float) -> np.ndarray:
        return np.interp(np.clip(s, 0.0, self.length), self.s_N, self.curvature_N)

    def project(
        self,
        x: np.ndarray,
        y: np.ndarray,
        s_lo: float,
        s_hi: float,
        coarse_step: float = 6.0,
        iterations: int = 2,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frenet ``(s, d)`` of world points whose nearest centreline point lies in [s_lo, s_hi].

        A coarse nearest-sample search is refined by Newton steps along the local tangent.
        """
        s_lo = max(0.0, s_lo)
        s_hi = min(self.length, max(s_hi, s_lo + coarse_step))
        cand_s_C = np.arange(s_lo, s_hi + 1e-9, coarse_step)
        cx, cy, _ = self.pose(cand_s_C)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)
        best = np.empty(flat_x.shape, dtype=np.int64)
        chunk = 16384
        for i in range(0, flat_x.size, chunk):
            dx = flat_x[i : i + chunk, None] - cx[None, :]
            dy = flat_y[i : i + chunk, None] - cy[None, :]
            best[i : i + chunk] = np.argmin(dx * dx + dy * dy, axis=1)
        s = cand_s_C[best]
        for _ in range(iterations):
            px, py, heading = self.pose(s)
            s = s + (flat_x - px) * np.cos(heading) + (flat_y - py) * np.sin(heading)
            s = np.clip(s, 0.0, self.length)
        px, py, heading = self.pose(s)
        d = -(flat_x - px) * np.sin(heading) + (flat_y - py) * np.cos(heading)
        return s.reshape(x.shape), d.reshape(x.shape)


def curvature_profile(rng: np.random.Generator, length: float, shape: str) -> np.ndarray:
    """Piecewise-constant curvature with smooth transitions; ``shape`` sets the first bend."""
    n = int(np.ceil(length / DS)) + 1
    kappa = np.zeros(n)
    pos = 0.0
    first = True
    while pos < length:
        if first:
            seg_len, k = _first_segment(rng, shape)
            first = False
        else:
            seg_len, k = _random_segment(rng, shape)
        i0, i1 = int(pos / DS), min(n, int((pos + seg_len) / DS))
        kappa[i0:i1] = k
        pos += seg_len
    width = int(TRANSITION / DS)
    kernel = np.ones(width) / width
    padded = np.pad(kappa, (width, width), mode="edge")
    return np.convolve(padded, kernel, mode="same")[width:-width]


def _first_segment(rng: np.random.Generator, shape: str) -> tuple[float, float]:
    if shape == "left":
        return float(rng.uniform(150, 300)), 1.0 / float(rng.uniform(MIN_RADIUS, 250))
    if shape == "right":
        return float(rng.uniform(150, 300)), -1.0 / float(rng.uniform(MIN_RADIUS, 250))
    if shape == "straight":
        return float(rng.uniform(250, 450)), 0.0
    return float(rng.uniform(60, 140)), float(rng.choice([-1, 1])) / float(rng.uniform(100, 300))


def _random_segment(rng: np.random.Generator, shape: str) -> tuple[float, float]:
    p_straight = {"straight": 0.7, "winding": 0.25}.get(shape, 0.4)
    if rng.random() < p_straight:
        return float(rng.uniform(60, 250)), 0.0
    radius = float(rng.uniform(MIN_RADIUS, 600))
    if shape == "straight":
        radius = max(radius, 400.0)
    return float(rng.uniform(50, 200)), float(rng.choice([-1, 1])) / radius


def make_road(
    rng: np.random.Generator,
    num_lanes: int,
    shape: str = "winding",
    length: float = 3000.0,
    lead_in: float = 40.0,
) -> Road:
    """Generate a road; the first ``lead_in`` metres are straight so every episode starts calmly."""
    kappa = curvature_profile(rng, length, shape)
    lead = int(lead_in / DS)
    kappa = np.concatenate([np.zeros(lead), kappa])
    n = kappa.size
    s = np.arange(n) * DS
    heading = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * DS)])
    xy = np.zeros((n, 2))
    xy[1:, 0] = np.cumsum(0.5 * (np.cos(heading[1:]) + np.cos(heading[:-1])) * DS)
    xy[1:, 1] = np.cumsum(0.5 * (np.sin(heading[1:]) + np.sin(heading[:-1])) * DS)
    return Road(s_N=s, xy_N2=xy, heading_N=heading, curvature_N=kappa, num_lanes=num_lanes)
