"""Procedural world: determinism, cloning, visible effect of actions, and conditions."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import luminance, make_world
from worldsim.sim import Camera, Conditions, World

STRAIGHT = np.array([0.0, 0.0])


def drive(world: World, actions: list[np.ndarray]) -> np.ndarray:
    frames = []
    for action in actions:
        world.step(action)
        frames.append(world.render())
    return np.stack(frames)


def test_same_seed_gives_identical_frames() -> None:
    cond = Conditions(time_of_day="dusk", weather="rain", lanes=3, traffic="heavy")
    rng = np.random.default_rng(0)
    actions = list(rng.uniform(-1, 1, (12, 2)))
    a = drive(World(seed=11, conditions=cond), actions)
    b = drive(World(seed=11, conditions=cond), actions)
    c = drive(World(seed=12, conditions=cond), actions)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_clone_restores_state_and_branches(straight_day: Conditions) -> None:
    cond = straight_day.replace(traffic="heavy")
    world = make_world(cond)
    drive(world, [np.array([0.1, 0.3])] * 5)
    snapshot = world.get_state()
    fork = world.clone()
    same = [np.array([0.0, 0.2])] * 6
    np.testing.assert_array_equal(drive(world, same), drive(fork, same))
    # Restoring the snapshot replays traffic (which draws random numbers) identically.
    world.set_state(snapshot)
    again = world.clone()
    np.testing.assert_array_equal(drive(world, same), drive(again, same))
    world.set_state(snapshot)
    braking = drive(world, [np.array([0.0, -1.0])] * 6)
    assert np.abs(braking.astype(int) - drive(again.clone(), same).astype(int)).mean() > 0


def road_centroid(frame_HW3: np.ndarray) -> float:
    """Mean column of grey road pixels in the lower image, measured from pixels only."""
    img = frame_HW3.astype(np.int64)
    lower = img[img.shape[0] // 2 :]
    r, g, b = lower[..., 0], lower[..., 1], lower[..., 2]
    grey = (np.abs(r - g) < 18) & (np.abs(g - b) < 18) & (lower.mean(-1) < 200)
    cols = np.nonzero(grey)[1]
    assert cols.size > 50, "no road pixels found"
    return float(cols.mean())


def test_steering_moves_the_road_the_opposite_way_in_the_image(straight_day: Conditions) -> None:
    start = make_world(straight_day, size=(96, 168))
    drive(start, [STRAIGHT] * 3)
    base = road_centroid(start.render())
    left = start.clone()
    right = start.clone()
    left_frames = drive(left, [np.array([0.6, 0.0])] * 8)
    right_frames = drive(right, [np.array([-0.6, 0.0])] * 8)
    assert left.state.ego_motion[1] > 0 > right.state.ego_motion[1]
    # Steering left turns the car left, so the road drifts right in the image, and vice versa.
    left_c = road_centroid(left_frames[-1])
    right_c = road_centroid(right_frames[-1])
    assert left_c > base + 3.0
    assert right_c < base - 3.0


def test_yaw_shifts_the_skyline(straight_day: Conditions) -> None:
    start = make_world(straight_day, size=(96, 168))
    left, right = start.clone(), start.clone()
    a = drive(left, [np.array([1.0, 0.0])] * 6)[-1]
    b = drive(right, [np.array([-1.0, 0.0])] * 6)[-1]
    horizon = int(start.camera.cy)
    sky_a = luminance(a[horizon - 10 : horizon])
    sky_b = luminance(b[horizon - 10 : horizon])
    assert np.abs(sky_a - sky_b).mean() > 2.0


def test_braking_lowers_recorded_speed(straight_day: Conditions) -> None:
    world = make_world(straight_day)
    speeds = [world.step(np.array([0.0, -1.0]))[0] for _ in range(5)]
    assert speeds[0] < 10.0
    assert all(b < a for a, b in zip(speeds, speeds[1:], strict=False) if a > 0)
    accelerating = make_world(straight_day)
    assert accelerating.step(np.array([0.0, 1.0]))[0] > speeds[0]


def test_night_is_darker_than_day(straight_day: Conditions) -> None:
    day = make_world(straight_day).render()
    night = make_world(straight_day.replace(time_of_day="night")).render()
    dusk = make_world(straight_day.replace(time_of_day="dusk")).render()
    assert luminance(night).mean() < 0.5 * luminance(day).mean()
    assert luminance(night).mean() < luminance(dusk).mean() < luminance(day).mean()


def rms_contrast(region_HW3: np.ndarray) -> float:
    lum = luminance(region_HW3)
    return float(lum.std() / max(lum.mean(), 1.0))


def test_fog_lowers_contrast_with_distance(straight_day: Conditions) -> None:
    cond = straight_day.replace(traffic="moderate", road="winding")
    size = (128, 224)
    clear = make_world(cond, size=size).render()
    foggy = make_world(cond.replace(weather="fog"), size=size).render()
    cy = int(Camera(*size).cy)
    far = slice(cy - 12, cy + 6)  # distant scenery and road near the horizon
    near = slice(size[0] - 30, size[0])  # road just ahead of the car
    far_ratio = rms_contrast(foggy[far]) / rms_contrast(clear[far])
    near_ratio = rms_contrast(foggy[near]) / rms_contrast(clear[near])
    assert far_ratio < 0.5
    assert far_ratio < near_ratio


@pytest.mark.parametrize("weather", ["rain", "snow"])
def test_rain_and_snow_particles_move_coherently(straight_day: Conditions, weather: str) -> None:
    world = make_world(straight_day.replace(weather=weather), size=(96, 168))
    clear = make_world(straight_day, size=(96, 168))
    assert np.abs(world.render().astype(int) - clear.render().astype(int)).mean() > 1.0
    first = world.render()
    assert np.array_equal(first, world.render()), "rendering must be a pure function of state"


def test_snow_whitens_the_ground(straight_day: Conditions) -> None:
    clear = make_world(straight_day).render()
    snow = make_world(straight_day.replace(weather="snow")).render()
    lower = slice(clear.shape[0] // 2, None)
    assert luminance(snow[lower]).mean() > luminance(clear[lower]).mean() + 20


def test_renders_up_to_256x448_and_rejects_odd_sizes() -> None:
    world = World(seed=1, camera=Camera(256, 448))
    frame = world.render()
    assert frame.shape == (256, 448, 3) and frame.dtype == np.uint8
    with pytest.raises(ValueError, match="even"):
        Camera(63, 112)


def test_leaving_the_road_and_collisions_are_detected(straight_day: Conditions) -> None:
    world = make_world(straight_day)
    for _ in range(80):
        world.step(np.array([1.0, 0.3]))
        if world.state.offroad:
            break
    assert world.state.offroad
    assert abs(world.state.d) > world.road.half_width

    crowded = make_world(straight_day.replace(traffic="light"))
    traffic = crowded.state.traffic
    traffic.s_N[0] = crowded.state.s + 12.0
    traffic.d_N[0] = traffic.target_d_N[0] = crowded.state.d
    traffic.speed_N[0] = traffic.target_speed_N[0] = 0.0
    hit = False
    for _ in range(30):
        crowded.step(np.array([0.0, 1.0]))
        hit |= crowded.state.collision
    assert hit
