"""The ego warp moves a rendered frame the way the camera turns and travels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from worldsim.diffusion.ego_warp import EgoWarp, ego_warp_for
from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.sim.camera import Camera, world_to_camera
from worldsim.sim.conditions import Conditions
from worldsim.sim.vehicle import EgoState, _integrate
from worldsim.sim.world import World


def _to_tensor(frame_HWC: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame_HWC).permute(2, 0, 1)[None].float() / 255.0


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / (a - b).pow(2).mean()))


def _turned(world: World, yaw: float) -> np.ndarray:
    state = world.get_state()
    state.ego = dataclasses.replace(state.ego, heading=state.ego.heading + yaw)
    turned = world.clone()
    turned.set_state(state)
    return turned.render()


@pytest.mark.parametrize("yaw", [0.03, -0.05])
def test_warp_matches_the_camera_turning_in_the_simulator(yaw: float) -> None:
    camera = Camera()
    world = World(seed=4, conditions=Conditions(lanes=2, traffic="light"), camera=camera)
    before = _to_tensor(world.render())
    after = _to_tensor(_turned(world, yaw))
    warp = EgoWarp(camera.hfov_deg, camera.horizon)
    right = _psnr(warp(before, torch.tensor([yaw])), after)
    unwarped = _psnr(before, after)
    wrong_way = _psnr(warp(before, torch.tensor([-yaw])), after)
    assert right > unwarped + 3.0, (right, unwarped)
    assert wrong_way < unwarped, (wrong_way, unwarped)


@pytest.mark.parametrize(("travel", "yaw"), [(1.2, 0.0), (2.0, 0.04), (1.5, -0.05)])
def test_ground_warp_reads_where_the_simulator_camera_saw_the_ground(
    travel: float, yaw: float
) -> None:
    camera = Camera()
    before = EgoState(x=3.0, y=-2.0, heading=0.4, speed=10.0)
    after = _integrate(before, travel, yaw, 1.0)  # an arc of `travel` metres turning by `yaw`
    warp = EgoWarp(camera.hfov_deg, camera.horizon, camera.mount_height)
    grid = warp.grid(torch.tensor([yaw]), camera.height, camera.width, torch.tensor([travel]))[0]
    rows = np.arange(int(camera.cy) + 2, camera.height, 5)
    cols = np.arange(0, camera.width, 9)
    v, u = np.meshgrid(rows + 0.5, cols + 0.5, indexing="ij")
    # The ground point each output pixel shows, in the world, then where the old camera saw it.
    depth = camera.mount_height * camera.fy / (v - camera.cy)
    right = (u - camera.cx) / camera.fx * depth
    c, s = np.cos(after.heading), np.sin(after.heading)
    world = np.stack([after.x + depth * c + right * s, after.y + depth * s - right * c], -1)
    points = np.concatenate([world.reshape(-1, 2), np.zeros((world.size // 2, 1))], axis=1)
    seen = camera.project(world_to_camera(points, before.x, before.y, before.heading, 1.5))
    src = grid[rows][:, cols].reshape(-1, 2).numpy()
    read = np.stack([(src[:, 0] + 1) / 2 * camera.width, (src[:, 1] + 1) / 2 * camera.height], 1)
    np.testing.assert_allclose(read, seen, atol=1e-3)
    # Above the principal row nothing is on the ground: far scenery only turns.
    turned = EgoWarp(camera.hfov_deg, camera.horizon).grid(torch.tensor([yaw]), 64, 112)[0]
    assert torch.equal(grid[: int(camera.cy)], turned[: int(camera.cy)])


def test_ground_view_brings_the_rendered_ground_closer_to_the_next_frame() -> None:
    camera = Camera()
    world = World(seed=7, conditions=Conditions(lanes=2, traffic="none"), camera=camera)
    world.step(np.array([0.0, 0.5]))
    world.step(np.array([0.0, 0.5]))
    start = world.render()
    motion = torch.tensor(world.step(np.array([0.3, 0.5])), dtype=torch.float32)[None]
    nxt = _to_tensor(world.render())
    base, views = EgoWarp(70.0, camera.horizon, camera.mount_height).views(
        _to_tensor(start), motion, world.dt
    )
    assert views.shape == (1, 6, camera.height, camera.width)
    assert torch.equal(views[:, :3], base)
    moved = views[:, 3:]
    # The dashes travel down the image: the moved view matches the next frame's ground where
    # the turned base does not (their differences sit in different places).
    ground = int(np.ceil(camera.cy)) + 2
    err_moved = (moved - nxt)[..., ground:, :].abs().mean()
    err_base = (base - nxt)[..., ground:, :].abs().mean()
    assert err_moved < err_base, (float(err_moved), float(err_base))


def test_zero_yaw_is_the_identity_and_patch_latents_warp_as_pixels() -> None:
    rng = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 16, 24, generator=rng) * 2 - 1
    warp = EgoWarp(70.0, 0.42, 1.5)
    assert torch.allclose(warp(pixels, torch.zeros(2), torch.zeros(2)), pixels, atol=1e-5)
    tokenizer = PatchTokenizer(PatchTokenizerConfig(factor=2))
    latent_warp = ego_warp_for(70.0, 0.42, 1.5, tokenizer.config)
    assert latent_warp is not None and latent_warp.block == 2
    yaw, travel = torch.tensor([0.04, -0.02]), torch.tensor([1.0, 0.5])
    via_latents = tokenizer.decode(latent_warp(tokenizer.encode(pixels), yaw, travel))
    assert torch.allclose(via_latents, warp(pixels, yaw, travel), atol=1e-5)
    motion = torch.stack([travel / 0.1, yaw / 0.1], dim=-1)  # (B, 2) [speed, yaw_rate]
    base, views = warp.views(pixels, motion, 0.1)
    assert torch.equal(base, warp(pixels, yaw))
    assert torch.allclose(views[:, 3:], warp(pixels, yaw, travel), atol=1e-6)
    moved = dataclasses.replace(warp, base="moved").views(pixels, motion, 0.1)
    assert torch.equal(moved[0], views[:, 3:]) and torch.equal(moved[1][:, 3:], base)
    assert ego_warp_for(0.0, 0.5, 0.0, tokenizer.config) is None


def test_bad_warp_settings_name_the_value() -> None:
    with pytest.raises(ValueError, match="hfov_deg=0.5"):
        EgoWarp(0.5)
    with pytest.raises(ValueError, match="horizon=1.5"):
        EgoWarp(70.0, horizon=1.5)
    with pytest.raises(ValueError, match="mount_height=-1.5"):
        EgoWarp(70.0, mount_height=-1.5)
    with pytest.raises(ValueError, match="interpolation=.cubic"):
        EgoWarp(70.0, interpolation="cubic")
    with pytest.raises(ValueError, match="base=.moved"):
        EgoWarp(70.0, base="moved")
