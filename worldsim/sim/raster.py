"""Rasterisation primitives: render buffers, box arrays and the z-buffered polygon fill."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldsim.sim.camera import Camera

Z_NEAR = 0.3  # metres; polygons are clipped against this plane


@dataclass
class Frame:
    """Render buffers: albedo and emitted light, depth along Z, and a sky mask."""

    albedo_HW3: np.ndarray
    emissive_HW3: np.ndarray
    depth_HW: np.ndarray


@dataclass
class Boxes:
    """Upright boxes as arrays: ground-centre, heading, size, colour and emitted light."""

    x: np.ndarray  # (B,)
    y: np.ndarray
    heading: np.ndarray
    length: np.ndarray
    width: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    color: np.ndarray  # (B, 3)
    emissive: np.ndarray  # (B, 3)
    has_emissive: np.ndarray  # (B,) bool
    flat: np.ndarray  # (B,) bool: draw only the rear face

    @property
    def count(self) -> int:
        return int(self.x.size)

    @staticmethod
    def of(x, y, heading, length, width, z0, z1, color, emissive=None, flat=False) -> Boxes:
        n = np.asarray(x).size
        emit = np.zeros((n, 3)) if emissive is None else np.asarray(emissive, dtype=np.float64)
        return Boxes(
            *(
                np.asarray(a, dtype=np.float64).reshape(n)
                for a in (x, y, heading, length, width, z0, z1)
            ),
            color=np.asarray(color, dtype=np.float64).reshape(n, 3),
            emissive=emit.reshape(n, 3),
            has_emissive=(emit.reshape(n, 3) > 0).any(axis=1),
            flat=np.full(n, flat, dtype=bool),
        )

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        if not parts:
            return Boxes.of(*(np.zeros(0) for _ in range(7)), np.zeros((0, 3)))
        return Boxes(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in Boxes.__dataclass_fields__)
        )


# Corner indices of each face (bottom 0-3, top 4-7), counter-clockwise seen from outside.
FACES = np.array(
    [[1, 2, 6, 5], [3, 0, 4, 7], [0, 1, 5, 4], [2, 3, 7, 6], [4, 5, 6, 7], [3, 2, 1, 0]]
)


def coverage(x: np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray, fp: np.ndarray):
    """Fraction of a pixel footprint ``[x - fp/2, x + fp/2]`` inside ``[lo, hi]``."""
    overlap = np.minimum(hi, x + fp / 2) - np.maximum(lo, x - fp / 2)
    return np.clip(overlap / fp, 0.0, 1.0)


def value_noise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Deterministic value noise in [0, 1) on the integer lattice of ``(a, b)``."""
    i = np.floor(a).astype(np.int64)
    j = np.floor(b).astype(np.int64)
    h = (i * 73856093) ^ (j * 19349663)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h >> 8) & 0xFFFF).astype(np.float64) / 65536.0


NEXT_VERTEX = [np.roll(np.arange(n), -1) for n in range(9)]


def clip_near(points_N3: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon against the plane Z = Z_NEAR."""
    if (points_N3[:, 2] >= Z_NEAR).all():
        return points_N3
    out = []
    n = len(points_N3)
    for i in range(n):
        a, b = points_N3[i], points_N3[(i + 1) % n]
        a_in, b_in = a[2] >= Z_NEAR, b[2] >= Z_NEAR
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (Z_NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def fill_polygon(
    frame: Frame,
    cam: Camera,
    points_N3: np.ndarray,
    color: np.ndarray,
    emissive: np.ndarray | None,
) -> None:
    """Z-buffered, edge-antialiased fill of a planar convex polygon given in camera space."""
    poly = clip_near(points_N3)
    if len(poly) < 3:
        return
    u = cam.cx + cam.fx * poly[:, 0] / poly[:, 2]
    v = cam.cy + cam.fy * poly[:, 1] / poly[:, 2]
    u_lo = max(int(u.min()), 0)
    u_hi = min(int(u.max()) + 2, cam.width)
    v_lo = max(int(v.min()), 0)
    v_hi = min(int(v.max()) + 2, cam.height)
    if u_lo >= u_hi or v_lo >= v_hi:
        return
    nxt = (
        NEXT_VERTEX[len(poly)]
        if len(poly) < len(NEXT_VERTEX)
        else np.roll(np.arange(len(poly)), -1)
    )
    u_next, v_next = u[nxt], v[nxt]
    area = 0.5 * float(np.sum(u * v_next - u_next * v))
    if abs(area) < 1e-6:
        return
    eu, ev = u_next - u, v_next - v
    scale = (1.0 if area > 0 else -1.0) / np.maximum(np.sqrt(eu * eu + ev * ev), 1e-9)
    pu = np.arange(u_lo, u_hi) + 0.5
    pv = np.arange(v_lo, v_hi) + 0.5
    # Signed distance of every pixel centre to every edge, positive inside: (E, h, w).
    dist = (eu * scale)[:, None, None] * (pv[None, :, None] - v[:, None, None]) - (ev * scale)[
        :, None, None
    ] * (pu[None, None, :] - u[:, None, None])
    alpha = np.clip(dist.min(axis=0) + 0.5, 0.0, 1.0)
    p0, p1, p2 = poly[0], poly[1], poly[2]
    a, b = p1 - p0, p2 - p0
    normal = np.array(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )
    k = float(normal @ p0)
    denom = cam.rays_HW3[v_lo:v_hi, u_lo:u_hi] @ normal
    z = np.divide(k, denom, out=np.full_like(denom, -1.0), where=np.abs(denom) > 1e-12)
    depth = frame.depth_HW[v_lo:v_hi, u_lo:u_hi]
    visible = (alpha > 0) & (z > 0) & (z < depth)
    if not visible.any():
        return
    w = np.where(visible, alpha, 0.0)[..., None]
    albedo = frame.albedo_HW3[v_lo:v_hi, u_lo:u_hi]
    albedo += w * (color - albedo)
    emit = frame.emissive_HW3[v_lo:v_hi, u_lo:u_hi]
    if emissive is not None:
        emit += w * (emissive - emit)
    else:
        emit *= 1 - w
    solid = visible & (alpha >= 0.5)
    depth[solid] = z[solid]
