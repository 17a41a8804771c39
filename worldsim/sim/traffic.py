"""Other vehicles: lane-following cars with car-following, random braking and lane changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldsim.sim.road import Road

TRAFFIC_COUNTS = {"none": 0, "light": 3, "moderate": 7, "heavy": 14}
CAR_COLORS = np.array(
    [
        [0.75, 0.10, 0.10],
        [0.10, 0.25, 0.65],
        [0.85, 0.85, 0.85],
        [0.12, 0.12, 0.12],
        [0.55, 0.55, 0.58],
        [0.90, 0.75, 0.15],
        [0.15, 0.45, 0.25],
        [0.95, 0.45, 0.10],
    ]
)
AHEAD_RANGE = 260.0  # metres ahead of the ego that traffic is kept in
BEHIND_RANGE = 40.0


@dataclass
class Traffic:
    """State arrays for ``N`` vehicles, one entry per vehicle."""

    s_N: np.ndarray
    d_N: np.ndarray
    speed_N: np.ndarray
    target_speed_N: np.ndarray
    target_d_N: np.ndarray
    accel_N: np.ndarray
    brake_timer_N: np.ndarray  # seconds of forced braking left
    color_N: np.ndarray  # index into CAR_COLORS
    length_N: np.ndarray
    width_N: np.ndarray
    height_N: np.ndarray

    @property
    def count(self) -> int:
        return int(self.s_N.size)

    def copy(self) -> Traffic:
        return Traffic(**{k: v.copy() for k, v in self.__dict__.items()})

    def braking(self) -> np.ndarray:
        return self.accel_N < -1.5


def spawn_traffic(
    rng: np.random.Generator, road: Road, level: str, ego_s: float, ego_d: float
) -> Traffic:
    """Place vehicles in lanes around the ego, keeping the ego's own lane clear nearby."""
    n = TRAFFIC_COUNTS[level]
    s = np.empty(n)
    lanes = rng.integers(0, road.num_lanes, size=n)
    d = road.lane_center(lanes)
    for i in range(n):
        for _ in range(50):
            cand = ego_s + rng.uniform(-BEHIND_RANGE * 0.5, AHEAD_RANGE * 0.8)
            same_lane = abs(d[i] - ego_d) < 2.5
            if same_lane and -15.0 < cand - ego_s < 25.0:
                continue
            others = (np.abs(d[:i] - d[i]) < 2.5) & (np.abs(s[:i] - cand) < 12.0)
            if not others.any():
                break
        s[i] = cand
    target = rng.uniform(8.0, 24.0, size=n)
    return Traffic(
        s_N=s,
        d_N=d.astype(np.float64),
        speed_N=target * rng.uniform(0.8, 1.0, size=n),
        target_speed_N=target,
        target_d_N=d.astype(np.float64),
        accel_N=np.zeros(n),
        brake_timer_N=np.zeros(n),
        color_N=rng.integers(0, len(CAR_COLORS), size=n),
        length_N=rng.uniform(4.0, 5.2, size=n),
        width_N=rng.uniform(1.7, 2.0, size=n),
        height_N=rng.uniform(1.35, 1.7, size=n),
    )


def step_traffic(
    traffic: Traffic,
    rng: np.random.Generator,
    road: Road,
    dt: float,
    ego_s: float,
    ego_d: float,
    ego_speed: float,
) -> Traffic:
    """Advance all vehicles by ``dt`` with the intelligent driver model plus random events."""
    t = traffic.copy()
    n = t.count
    if n == 0:
        return t
    # Leaders: every vehicle and the ego, in overlapping lanes, ahead.
    all_s = np.concatenate([t.s_N, [ego_s]])
    all_d = np.concatenate([t.d_N, [ego_d]])
    all_v = np.concatenate([t.speed_N, [ego_speed]])
    all_len = np.concatenate([t.length_N, [4.5]])
    ds = all_s[None, :] - t.s_N[:, None]  # (N, N+1)
    overlap = np.abs(all_d[None, :] - t.d_N[:, None]) < 2.2
    ahead = (ds > 0) & overlap
    ahead[np.arange(n), np.arange(n)] = False
    gap_all = np.where(ahead, ds - 0.5 * (all_len[None, :] + t.length_N[:, None]), np.inf)
    leader = np.argmin(gap_all, axis=1)
    gap = np.maximum(gap_all[np.arange(n), leader], 0.1)
    dv = t.speed_N - all_v[leader]
    a_max, b_comf, s0, headway = 1.5, 2.5, 3.0, 1.3
    s_star = s0 + t.speed_N * headway + t.speed_N * dv / (2 * np.sqrt(a_max * b_comf))
    free = 1.0 - (t.speed_N / np.maximum(t.target_speed_N, 0.1)) ** 4
    interaction = np.where(np.isfinite(gap), (np.maximum(s_star, 0.0) / gap) ** 2, 0.0)
    accel = a_max * (free - interaction)
    # Random braking events.
    start_brake = rng.random(n) < 0.004 * dt / 0.1
    t.brake_timer_N = np.where(start_brake, rng.uniform(0.8, 2.5, n), t.brake_timer_N)
    accel = np.where(t.brake_timer_N > 0, np.minimum(accel, -4.0), accel)
    t.brake_timer_N = np.maximum(t.brake_timer_N - dt, 0.0)
    accel = np.clip(accel, -8.0, 2.0)
    new_speed = np.clip(t.speed_N + accel * dt, 0.0, 35.0)
    t.s_N = t.s_N + 0.5 * (t.speed_N + new_speed) * dt
    t.accel_N = (new_speed - t.speed_N) / dt
    t.speed_N = new_speed
    # Lane changes: pick an adjacent lane when the gap there is free.
    if road.num_lanes > 1:
        settled = np.abs(t.d_N - t.target_d_N) < 0.05
        want = settled & (rng.random(n) < 0.003 * dt / 0.1)
        for i in np.flatnonzero(want):
            lane = int(road.lane_of(t.d_N[i]))
            new_lane = lane + int(rng.choice([-1, 1]))
            if not 0 <= new_lane < road.num_lanes:
                continue
            new_d = float(road.lane_center(new_lane))
            near = np.abs(all_s - t.s_N[i]) < 14.0
            near[i] = False
            if not (near & (np.abs(all_d - new_d) < 2.5)).any():
                t.target_d_N[i] = new_d
        step = np.clip(t.target_d_N - t.d_N, -1.0 * dt, 1.0 * dt)
        t.d_N = t.d_N + step
    # Keep traffic around the ego: vehicles that fall out of range reappear far ahead.
    out = (t.s_N < ego_s - BEHIND_RANGE) | (t.s_N > ego_s + AHEAD_RANGE)
    for i in np.flatnonzero(out):
        lane = int(rng.integers(0, road.num_lanes))
        t.d_N[i] = t.target_d_N[i] = float(road.lane_center(lane))
        t.s_N[i] = ego_s + rng.uniform(0.6, 0.95) * AHEAD_RANGE
        t.target_speed_N[i] = rng.uniform(8.0, 24.0)
        t.speed_N[i] = t.target_speed_N[i] * 0.9
        t.brake_timer_N[i] = 0.0
    return t
