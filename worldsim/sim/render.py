"""Vectorised numpy rasteriser: sky, skyline, textured road, 3D boxes, lights, weather."""

from __future__ import annotations

import numpy as np

from worldsim.sim.camera import Camera, world_to_camera
from worldsim.sim.conditions import Conditions
from worldsim.sim.raster import (
    FACES,
    Z_NEAR,
    Boxes,
    Frame,
    coverage,
    fill_polygon,
    value_noise,
)
from worldsim.sim.road import Road
from worldsim.sim.scenery import TREE, Scenery
from worldsim.sim.traffic import CAR_COLORS, Traffic

MAX_GROUND_DEPTH = 400.0  # metres; the ground is clamped here, fog hides the rest
OBJECT_RANGE = 220.0  # metres of scenery and traffic drawn ahead
SKYLINE_DEPTH = 900.0
SUN_DIR = np.array([0.45, -0.35, 0.82]) / np.linalg.norm([0.45, -0.35, 0.82])

ASPHALT = np.array([0.27, 0.27, 0.29])
SHOULDER = np.array([0.46, 0.43, 0.38])
GRASS = np.array([0.26, 0.44, 0.17])
MARKING = np.array([0.92, 0.92, 0.88])
SNOW = np.array([0.90, 0.92, 0.96])
HILLS = np.array([0.20, 0.30, 0.26])
GLASS = np.array([0.10, 0.12, 0.15])
TAIL_LIGHT = np.array([1.0, 0.08, 0.04])

_SKY = {  # (zenith, horizon)
    "day": (np.array([0.30, 0.52, 0.86]), np.array([0.74, 0.84, 0.95])),
    "dusk": (np.array([0.20, 0.20, 0.42]), np.array([0.96, 0.58, 0.32])),
    "night": (np.array([0.01, 0.01, 0.035]), np.array([0.05, 0.05, 0.09])),
}
_AMBIENT = {"day": 1.0, "dusk": 0.6, "night": 0.09}
_HEADLIGHT = {"day": 0.0, "dusk": 0.5, "night": 1.6}
_WEATHER_LIGHT = {"clear": 1.0, "rain": 0.7, "fog": 0.85, "snow": 0.92}
_VISIBILITY = {"clear": 2500.0, "rain": 220.0, "fog": 32.0, "snow": 160.0}
_SKY_FOG = {"clear": 0.0, "rain": 0.65, "fog": 0.97, "snow": 0.6}
_FOG_COLOR = {
    "day": np.array([0.74, 0.76, 0.79]),
    "dusk": np.array([0.58, 0.50, 0.46]),
    "night": np.array([0.035, 0.035, 0.05]),
}


class Renderer:
    """Renders the procedural world from the ego camera; pure function of its inputs."""

    def __init__(
        self, camera: Camera, conditions: Conditions, road: Road, scenery: Scenery, seed: int
    ) -> None:
        self.camera = camera
        self.conditions = conditions
        self.road = road
        self.scenery = scenery
        rng = np.random.default_rng(seed)
        self._skyline_phase = rng.uniform(0, 2 * np.pi, 4)
        self._particles = _make_particles(rng, camera, conditions.weather)

    # -- public -----------------------------------------------------------------------------
    def render(
        self, x: float, y: float, heading: float, traffic: Traffic, step: int, ego_s: float
    ) -> np.ndarray:
        """The camera image as uint8 ``(H, W, 3)``."""
        cam = self.camera
        frame = Frame(
            albedo_HW3=np.zeros((cam.height, cam.width, 3)),
            emissive_HW3=np.zeros((cam.height, cam.width, 3)),
            depth_HW=np.full((cam.height, cam.width), np.inf),
        )
        self._sky(frame, heading)
        self._ground(frame, x, y, heading, ego_s)
        self._draw_boxes(frame, self._boxes(traffic, ego_s), x, y, heading)
        image = self._shade(frame)
        self._weather_particles(image, step)
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    # -- layers -----------------------------------------------------------------------------
    def _sky(self, frame: Frame, heading: float) -> None:
        cam = self.camera
        zenith, horizon = _SKY[self.conditions.time_of_day]
        v = np.arange(cam.height) + 0.5
        t = np.clip(v / max(cam.cy, 1.0), 0.0, 1.0) ** 1.5
        sky_H3 = zenith[None, :] * (1 - t[:, None]) + horizon[None, :] * t[:, None]
        frame.emissive_HW3[:] = sky_H3[:, None, :]
        # Distant hills whose outline depends on the world azimuth, so yaw shows in the sky.
        u = np.arange(cam.width) + 0.5
        azimuth_W = heading + np.arctan2(cam.cx - u, cam.fx)
        p = self._skyline_phase
        elevation = (
            0.03
            + 0.018 * np.sin(2 * azimuth_W + p[0])
            + 0.012 * np.sin(5 * azimuth_W + p[1])
            + 0.006 * np.sin(13 * azimuth_W + p[2])
        )
        top_W = cam.cy - cam.fy * np.tan(np.maximum(elevation, 0.004))
        hills = v[:, None] >= top_W[None, :]
        color = HILLS if self.conditions.weather != "snow" else 0.5 * HILLS + 0.5 * SNOW
        frame.emissive_HW3[hills] = 0.0
        frame.albedo_HW3[hills] = color
        frame.depth_HW[hills] = SKYLINE_DEPTH

    def _ground(self, frame: Frame, x: float, y: float, heading: float, ego_s: float) -> None:
        cam, road, cond = self.camera, self.road, self.conditions
        rows = np.flatnonzero(np.arange(cam.height) + 0.5 > cam.cy)
        if rows.size == 0:
            return
        rays = cam.rays_HW3[rows]  # (R, W, 3)
        z_RW = np.minimum(cam.mount_height / rays[..., 1], MAX_GROUND_DEPTH)
        x_RW = rays[..., 0] * z_RW
        c, s = np.cos(heading), np.sin(heading)
        wx = x + z_RW * c + x_RW * s
        wy = y + z_RW * s - x_RW * c
        s_RW, d_RW = road.project(wx, wy, ego_s - 30.0, ego_s + MAX_GROUND_DEPTH + 40.0)
        fp_d = np.maximum(z_RW / cam.fx, 1e-3)  # metres per pixel across
        fp_s = np.maximum(z_RW**2 / (cam.fy * cam.mount_height), fp_d)  # metres per row

        half, shoulder = road.half_width, road.shoulder_width
        cov_road = coverage(d_RW, -half, half, fp_d)
        cov_paved = coverage(d_RW, -half - shoulder, half + shoulder, fp_d) - cov_road
        cov_verge = 1.0 - cov_road - cov_paved

        snow = cond.weather == "snow"
        asphalt = ASPHALT * 0.75 + SNOW * 0.25 if snow else ASPHALT
        verge = SNOW if snow else GRASS
        side = 0.7 * SHOULDER + 0.3 * SNOW if snow else SHOULDER
        fade = np.clip(1.6 - fp_s / 0.8, 0.0, 1.0)
        grain = 1.0 + 0.10 * fade * (value_noise(s_RW / 0.8, d_RW / 0.8) - 0.5)
        verge_fade = np.clip(1.6 - fp_s / 3.0, 0.0, 1.0)
        bands = 1.0 + verge_fade * (
            0.12 * (value_noise(s_RW / 3.0, d_RW / 3.0) - 0.5)
            + 0.07 * np.cos(2 * np.pi * s_RW / 7.0) * np.clip(1.6 - fp_s / 2.0, 0, 1)
        )
        albedo = (
            cov_road[..., None] * asphalt * grain[..., None]
            + cov_paved[..., None] * side * grain[..., None]
            + cov_verge[..., None] * verge * bands[..., None]
        )
        marks = self._markings(s_RW, d_RW, fp_s, fp_d)
        mark_color = 0.6 * MARKING + 0.4 * SNOW if snow else MARKING
        strength = 0.55 if snow else 1.0
        albedo = (
            albedo * (1 - strength * marks[..., None]) + strength * marks[..., None] * mark_color
        )
        frame.albedo_HW3[rows] = albedo
        frame.emissive_HW3[rows] = 0.0
        frame.depth_HW[rows] = z_RW
        if cond.weather == "rain" and cond.time_of_day != "night":
            # Wet sheen: the road reflects the bright horizon, more strongly at grazing angles.
            _, horizon = _SKY[cond.time_of_day]
            grazing = np.clip(1.0 - (rows[:, None] + 0.5 - cam.cy) / (cam.height - cam.cy), 0, 1)
            sheen = 0.22 * cov_road * grazing**2
            frame.emissive_HW3[rows] += sheen[..., None] * horizon

    def _markings(
        self, s_RW: np.ndarray, d_RW: np.ndarray, fp_s: np.ndarray, fp_d: np.ndarray
    ) -> np.ndarray:
        """Coverage in [0, 1] of lane markings: solid edge lines and dashed lane dividers."""
        road = self.road
        width = 0.15
        half = road.half_width
        marks = np.zeros_like(d_RW)
        for edge in (-half + 0.25, half - 0.25):
            marks = np.maximum(marks, coverage(d_RW, edge - width / 2, edge + width / 2, fp_d))
        period, dash = 12.0, 4.0
        phase = np.mod(s_RW, period) - dash / 2
        along = coverage(phase, -dash / 2, dash / 2, fp_s)
        along = np.where(fp_s > period, dash / period, along)
        for k in range(1, road.num_lanes):
            line = -half + k * road.lane_width
            across = coverage(d_RW, line - width / 2, line + width / 2, fp_d)
            marks = np.maximum(marks, across * along)
        return marks

    def _boxes(self, traffic: Traffic, ego_s: float) -> Boxes:
        """All boxes near the ego: roadside objects and the traffic's bodies, cabins and lights."""
        road, scenery, cond = self.road, self.scenery, self.conditions
        parts: list[Boxes] = []
        snow = cond.weather == "snow"
        idx = scenery.window(ego_s - 30.0, ego_s + OBJECT_RANGE)
        if idx.size:
            wx, wy, hd = road.to_world(scenery.s_N[idx], scenery.d_N[idx])
            kind = scenery.kind_N[idx]
            size = scenery.size_N3[idx]
            color = scenery.color_N3[idx]
            n = idx.size
            tree = kind == TREE
            # Poles and buildings are one box; a tree is a trunk plus a canopy.
            parts.append(
                Boxes.of(
                    wx,
                    wy,
                    hd,
                    size[:, 0],
                    size[:, 1],
                    np.where(tree, 1.8, 0.0),
                    size[:, 2],
                    np.where(snow & tree[:, None], 0.6 * color + 0.4 * SNOW, color),
                )
            )
            if tree.any():
                trunk = np.tile([0.30, 0.20, 0.12], (int(tree.sum()), 1))
                m = int(tree.sum())
                parts.append(
                    Boxes.of(
                        wx[tree],
                        wy[tree],
                        hd[tree],
                        np.full(m, 0.4),
                        np.full(m, 0.4),
                        np.zeros(m),
                        np.full(m, 2.0),
                        trunk,
                    )
                )
            del n
        near = np.flatnonzero((traffic.s_N > ego_s - 30.0) & (traffic.s_N < ego_s + OBJECT_RANGE))
        if near.size:
            parts.append(self._cars(traffic, near, cond.time_of_day != "day"))
        return Boxes.concat(parts)

    def _cars(self, traffic: Traffic, idx: np.ndarray, lit: bool) -> Boxes:
        """Body, cabin and two tail-lights per vehicle."""
        road = self.road
        s, d = traffic.s_N[idx], traffic.d_N[idx]
        length, width, height = traffic.length_N[idx], traffic.width_N[idx], traffic.height_N[idx]
        lateral_v = np.clip(traffic.target_d_N[idx] - d, -1.0, 1.0)
        wx, wy, hd = road.to_world(s, d)
        hd = hd + np.arctan2(lateral_v, np.maximum(traffic.speed_N[idx], 1.0))
        color = CAR_COLORS[traffic.color_N[idx]]
        c, sn = np.cos(hd), np.sin(hd)
        n = idx.size
        top = 0.58 * height
        body = Boxes.of(wx, wy, hd, length, width, np.full(n, 0.18), top, color)
        cabin = Boxes.of(
            wx - 0.12 * length * c,
            wy - 0.12 * length * sn,
            hd,
            0.55 * length,
            0.88 * width,
            top,
            height,
            0.75 * GLASS + 0.25 * color,
        )
        glow = (0.35 if lit else 0.0) + 0.9 * traffic.braking()[idx]
        lights = []
        for side in (-1.0, 1.0):
            off = side * (width / 2 - 0.28)
            lights.append(
                Boxes.of(
                    wx - (length / 2 + 0.02) * c - off * sn,
                    wy - (length / 2 + 0.02) * sn + off * c,
                    hd,
                    np.full(n, 0.05),
                    np.full(n, 0.35),
                    0.385 * height,
                    0.52 * height,
                    np.tile([0.45, 0.04, 0.03], (n, 1)),
                    glow[:, None] * TAIL_LIGHT,
                    flat=True,
                )
            )
        return Boxes.concat([body, cabin, *lights])

    def _draw_boxes(self, frame: Frame, boxes: Boxes, x: float, y: float, heading: float) -> None:
        """Project every box at once, cull hidden and off-screen faces, then fill the rest."""
        if boxes.count == 0:
            return
        cam = self.camera
        c, s = np.cos(boxes.heading), np.sin(boxes.heading)
        hl, hw = boxes.length / 2, boxes.width / 2
        sx = np.array([-1.0, 1.0, 1.0, -1.0])
        sy = np.array([-1.0, -1.0, 1.0, 1.0])
        lx = hl[:, None] * sx[None, :]
        ly = hw[:, None] * sy[None, :]
        gx = boxes.x[:, None] + lx * c[:, None] - ly * s[:, None]  # (B, 4)
        gy = boxes.y[:, None] + lx * s[:, None] + ly * c[:, None]
        world = np.empty((boxes.count, 8, 3))
        world[:, :4, 0] = world[:, 4:, 0] = gx
        world[:, :4, 1] = world[:, 4:, 1] = gy
        world[:, :4, 2] = boxes.z0[:, None]
        world[:, 4:, 2] = boxes.z1[:, None]
        pts = world_to_camera(world, x, y, heading, cam.mount_height)  # (B, 8, 3)
        # Face normals in world coordinates: front, rear, right, left, top, bottom.
        zeros, ones = np.zeros_like(c), np.ones_like(c)
        normals = np.stack(
            [
                np.stack([c, s, zeros], -1),
                np.stack([-c, -s, zeros], -1),
                np.stack([s, -c, zeros], -1),
                np.stack([-s, c, zeros], -1),
                np.stack([zeros, zeros, ones], -1),
                np.stack([zeros, zeros, -ones], -1),
            ],
            axis=1,
        )  # (B, 6, 3)
        face_pts = pts[:, FACES]  # (B, 6, 4, 3)
        centre = world[:, FACES].mean(axis=2)  # (B, 6, 3)
        eye = np.array([x, y, cam.mount_height])
        facing = np.einsum("bfk,bfk->bf", normals, eye - centre) > 1e-6
        z = face_pts[..., 2]
        in_front = (z > Z_NEAR).any(axis=2)
        zc = np.maximum(z, Z_NEAR)
        u = cam.cx + cam.fx * face_pts[..., 0] / zc
        v = cam.cy + cam.fy * face_pts[..., 1] / zc
        on_screen = (
            (u.max(2) > 0) & (u.min(2) < cam.width) & (v.max(2) > 0) & (v.min(2) < cam.height)
        )
        # A face crossing the near plane may project anywhere: keep it for exact clipping.
        crossing = (z < Z_NEAR).any(axis=2) & in_front
        keep = facing & in_front & (on_screen | crossing)
        shade = 0.55 + 0.45 * np.maximum(np.einsum("bfk,k->bf", normals, SUN_DIR), 0.0)
        shade[:, 5] = 0.35
        # Tail-lights are flat decals: only their rear face is drawn.
        keep &= ~(boxes.flat[:, None] & (np.arange(6)[None, :] != 1))
        for b, f in zip(*np.nonzero(keep), strict=True):
            emissive = boxes.emissive[b] if boxes.has_emissive[b] else None
            fill_polygon(frame, cam, face_pts[b, f], boxes.color[b] * shade[b, f], emissive)

    def _shade(self, frame: Frame) -> np.ndarray:
        """Ambient light, headlights and fog applied to the buffers."""
        cam, cond = self.camera, self.conditions
        ambient = _AMBIENT[cond.time_of_day] * _WEATHER_LIGHT[cond.weather]
        depth = frame.depth_HW
        light = np.full(depth.shape, ambient)
        beam = _HEADLIGHT[cond.time_of_day]
        if beam > 0:
            finite = np.isfinite(depth) & (depth < SKYLINE_DEPTH)
            z = np.where(finite, depth, 1e6)
            lateral = cam.rays_HW3[..., 0] * z
            height = cam.mount_height - cam.rays_HW3[..., 1] * z
            cone = np.exp(-((lateral / (0.30 * z + 1.2)) ** 2)) * np.exp(-z / 28.0)
            cone *= np.clip((z - 2.0) / 4.0, 0.0, 1.0) * (height < 3.5)
            light += beam * cone * finite
        image = frame.albedo_HW3 * light[..., None] + frame.emissive_HW3
        fog_color = _FOG_COLOR[cond.time_of_day]
        if cond.weather == "fog" and cond.time_of_day == "day":
            fog_color = np.array([0.80, 0.82, 0.84])
        visibility = _VISIBILITY[cond.weather]
        fog = np.where(np.isinf(depth), _SKY_FOG[cond.weather], 1.0 - np.exp(-depth / visibility))
        return image * (1 - fog[..., None]) + fog[..., None] * fog_color

    def _weather_particles(self, image: np.ndarray, step: int) -> None:
        """Rain streaks or snow flakes that move coherently from frame to frame."""
        if self._particles is None:
            return
        cam = self.camera
        u0, v0, du, dv, length, color, alpha = self._particles
        u = np.mod(u0 + du * step, cam.width)
        v = np.mod(v0 + dv * step, cam.height)
        k = np.arange(length)[None, :]  # (1, L)
        uu = np.clip((u[:, None] + k * du / max(dv, 1e-3)).astype(int), 0, cam.width - 1)
        vv = np.clip((v[:, None] + k).astype(int), 0, cam.height - 1)
        cond = self.conditions
        floor = 0.65 if cond.weather == "snow" else 0.3
        color = color * max(_AMBIENT[cond.time_of_day] * _WEATHER_LIGHT[cond.weather], floor)
        image[vv, uu] = image[vv, uu] * (1 - alpha) + alpha * color


def _make_particles(
    rng: np.random.Generator, cam: Camera, weather: str
) -> tuple[np.ndarray, np.ndarray, float, float, int, np.ndarray, float] | None:
    area = cam.height * cam.width
    if weather == "rain":
        n = max(8, area // 220)
        length = max(3, int(0.09 * cam.height))
        return (
            rng.uniform(0, cam.width, n),
            rng.uniform(0, cam.height, n),
            -0.06 * cam.height,
            0.45 * cam.height,
            length,
            np.array([0.78, 0.80, 0.85]),
            0.35,
        )
    if weather == "snow":
        n = max(12, area // 110)
        return (
            rng.uniform(0, cam.width, n),
            rng.uniform(0, cam.height, n),
            0.01 * cam.height,
            0.045 * cam.height,
            max(1, cam.height // 128),
            np.array([0.97, 0.97, 1.0]),
            0.85,
        )
    return None
