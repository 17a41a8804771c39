"""The procedural driving world: road, scenery, traffic and the ego car, stepped at ``dt``."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from worldsim.sim.camera import Camera
from worldsim.sim.conditions import Conditions
from worldsim.sim.render import Renderer
from worldsim.sim.road import Road, make_road
from worldsim.sim.scenery import Scenery, make_scenery
from worldsim.sim.traffic import Traffic, spawn_traffic, step_traffic
from worldsim.sim.vehicle import EgoState, VehicleParams, step_speed_yaw_rate, step_steer_accel

EGO_STATE_FIELDS: tuple[str, ...] = (
    "x",
    "y",
    "heading",
    "speed",
    "steer",
    "accel",
    "s",
    "d",
    "lane",
    "offroad",
    "collision",
    "lane_offset",
    "heading_error",
    "lead_gap",
)
LEAD_GAP_MAX = 50.0  # metres; the recorded lead gap is capped here (and is this with no lead)
ACTION_MODES: tuple[str, ...] = ("steer_accel", "speed_yaw_rate")


@dataclass
class WorldState:
    """Everything that changes while driving; a deep copy restores the world exactly."""

    ego: EgoState
    traffic: Traffic
    rng_state: dict
    step: int = 0
    s: float = 0.0  # ego arclength along the road
    d: float = 0.0  # ego lateral offset, positive left
    offroad: bool = False
    collision: bool = False
    ego_motion: np.ndarray = field(default_factory=lambda: np.zeros(2))


class World:
    """A seeded procedural world. ``step`` takes a normalised action, ``render`` draws the camera.

    All randomness comes from one ``numpy.random.Generator`` seeded from ``seed``; road, scenery
    and weather particles are fixed by the seed, and traffic draws from the generator each step.
    """

    def __init__(
        self,
        seed: int,
        conditions: Conditions | None = None,
        camera: Camera | None = None,
        dt: float = 0.1,
        params: VehicleParams | None = None,
        road_length: float = 3000.0,
        start_lane: int | None = None,
        start_speed: float | None = None,
    ) -> None:
        if not dt > 0:
            raise ValueError(f"dt={dt} must be positive (seconds per step, e.g. 0.1)")
        self.seed = int(seed)
        self.conditions = conditions or Conditions()
        self.camera = camera or Camera()
        self.dt = float(dt)
        self.params = params or VehicleParams()
        seq = np.random.SeedSequence(self.seed)
        road_seed, scenery_seed, render_seed, traffic_seed = seq.spawn(4)
        self.road: Road = make_road(
            np.random.default_rng(road_seed),
            self.conditions.lanes,
            self.conditions.road,
            length=road_length,
        )
        self.scenery: Scenery = make_scenery(np.random.default_rng(scenery_seed), self.road)
        self._render_seed = int(render_seed.generate_state(1)[0])
        self.renderer = Renderer(
            self.camera, self.conditions, self.road, self.scenery, self._render_seed
        )
        rng = np.random.default_rng(traffic_seed)
        lane = int(rng.integers(0, self.road.num_lanes)) if start_lane is None else start_lane
        if not 0 <= lane < self.road.num_lanes:
            raise ValueError(
                f"start_lane={lane} is out of range for a {self.road.num_lanes}-lane road"
            )
        speed = float(rng.uniform(6.0, 18.0)) if start_speed is None else float(start_speed)
        s0 = 30.0
        d0 = float(self.road.lane_center(lane))
        x0, y0, h0 = self.road.to_world(s0, d0)
        ego = EgoState(x=float(x0), y=float(y0), heading=float(h0), speed=speed)
        traffic = spawn_traffic(rng, self.road, self.conditions.traffic, s0, d0)
        self._rng = rng
        self.state = WorldState(ego=ego, traffic=traffic, rng_state={}, s=s0, d=d0)

    # -- state ------------------------------------------------------------------------------
    def get_state(self) -> WorldState:
        """A deep copy of the mutable state, including the random generator."""
        state = copy.deepcopy(self.state)
        state.rng_state = copy.deepcopy(self._rng.bit_generator.state)
        return state

    def set_state(self, state: WorldState) -> None:
        self.state = copy.deepcopy(state)
        self._rng.bit_generator.state = copy.deepcopy(state.rng_state)

    def clone(self) -> World:
        """An independent world at the same state; road, scenery and renderer are shared."""
        other = copy.copy(self)
        other._rng = np.random.default_rng()
        other.set_state(self.get_state())
        return other

    def change_look(self, conditions: Conditions) -> None:
        """Render from now on under another time of day and weather; road, lanes and traffic stay.

        The scenery and the weather particles keep their seed, so only the look changes.
        """
        fixed = ("lanes", "road", "traffic")
        changed = [k for k in fixed if getattr(conditions, k) != getattr(self.conditions, k)]
        if changed:
            raise ValueError(
                f"change_look can change only time_of_day and weather, not {changed}: the road "
                "and its traffic are built once; make a new World for other ones"
            )
        self.conditions = conditions
        self.renderer = Renderer(
            self.camera, conditions, self.road, self.scenery, self._render_seed
        )

    # -- dynamics ---------------------------------------------------------------------------
    def step(self, action: np.ndarray, mode: str = "steer_accel") -> np.ndarray:
        """Advance ``dt`` under a normalised action; returns ego motion ``[speed, yaw_rate]``."""
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (2,) or not np.isfinite(action).all():
            raise ValueError(f"action must be 2 finite numbers, got {action!r}")
        st = self.state
        if mode == "steer_accel":
            ego, motion = step_steer_accel(st.ego, action, self.dt, self.params)
        elif mode == "speed_yaw_rate":
            ego, motion = step_speed_yaw_rate(st.ego, action, self.dt, self.params)
        else:
            raise ValueError(f"action mode {mode!r} is unknown; choose one of {list(ACTION_MODES)}")
        traffic = step_traffic(st.traffic, self._rng, self.road, self.dt, st.s, st.d, st.ego.speed)
        s, d = self.road.project(np.array([ego.x]), np.array([ego.y]), st.s - 15.0, st.s + 25.0)
        s_new, d_new = float(s[0]), float(d[0])
        offroad = abs(d_new) > self.road.half_width + 0.9
        self.state = replace(
            st,
            ego=ego,
            traffic=traffic,
            step=st.step + 1,
            s=s_new,
            d=d_new,
            offroad=bool(offroad),
            collision=self._collides(traffic, s_new, d_new),
            ego_motion=motion,
        )
        return motion

    def _collides(self, traffic: Traffic, s: float, d: float) -> bool:
        if traffic.count == 0:
            return False
        along = np.abs(traffic.s_N - s) < 0.5 * (traffic.length_N + self.params.length)
        across = np.abs(traffic.d_N - d) < 0.5 * (traffic.width_N + self.params.width)
        return bool((along & across).any())

    # -- observation ------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        """The ego camera image, uint8 ``(H, W, 3)``; a pure function of the state."""
        st = self.state
        return self.renderer.render(st.ego.x, st.ego.y, st.ego.heading, st.traffic, st.step, st.s)

    def ego_state_vector(self) -> np.ndarray:
        """Ego state in the order of ``EGO_STATE_FIELDS``."""
        st = self.state
        e = st.ego
        lane = float(self.road.lane_of(st.d))
        return np.array(
            [
                e.x,
                e.y,
                e.heading,
                e.speed,
                e.steer,
                e.accel,
                st.s,
                st.d,
                lane,
                float(st.offroad),
                float(st.collision),
                self.lane_offset(),
                self.heading_error(),
                min(self.lead_gap(), LEAD_GAP_MAX),
            ],
            dtype=np.float64,
        )

    def lane_offset(self) -> float:
        """Signed lateral distance (m, positive left) from the centre of the ego's lane."""
        d = self.state.d
        return float(d - self.road.lane_center(self.road.lane_of(d)))

    def heading_error(self) -> float:
        """Ego heading minus the road's heading at the ego, wrapped to [-pi, pi) (rad)."""
        _, _, road_heading = self.road.pose(self.state.s)
        error = self.state.ego.heading - float(road_heading)
        return float((error + np.pi) % (2 * np.pi) - np.pi)

    def lead_gap(self) -> float:
        """Bumper gap to the nearest vehicle ahead in the ego's lane (inf when none)."""
        t, st = self.state.traffic, self.state
        if t.count == 0:
            return float("inf")
        ahead = (t.s_N > st.s) & (np.abs(t.d_N - st.d) < 2.0)
        if not ahead.any():
            return float("inf")
        gaps = t.s_N[ahead] - st.s - 0.5 * (t.length_N[ahead] + self.params.length)
        return float(gaps.min())

    def caption(self) -> str:
        return self.conditions.caption()
