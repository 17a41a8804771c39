"""The yaw warp turns a rendered frame the way the camera turns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from worldsim.diffusion.ego_warp import YawWarp, yaw_warp_for
from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.sim.camera import Camera
from worldsim.sim.conditions import Conditions
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
    warp = YawWarp(camera.hfov_deg, camera.horizon)
    right = _psnr(warp(before, torch.tensor([yaw])), after)
    unwarped = _psnr(before, after)
    wrong_way = _psnr(warp(before, torch.tensor([-yaw])), after)
    assert right > unwarped + 3.0, (right, unwarped)
    assert wrong_way < unwarped, (wrong_way, unwarped)


def test_zero_yaw_is_the_identity_and_patch_latents_warp_as_pixels() -> None:
    rng = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 16, 24, generator=rng) * 2 - 1
    warp = YawWarp(70.0, 0.42)
    assert torch.allclose(warp(pixels, torch.zeros(2)), pixels, atol=1e-5)
    tokenizer = PatchTokenizer(PatchTokenizerConfig(factor=2))
    latent_warp = yaw_warp_for(70.0, 0.42, tokenizer.config)
    assert latent_warp is not None and latent_warp.block == 2
    yaw = torch.tensor([0.04, -0.02])
    via_latents = tokenizer.decode(latent_warp(tokenizer.encode(pixels), yaw))
    assert torch.allclose(via_latents, warp(pixels, yaw), atol=1e-5)
    assert yaw_warp_for(0.0, 0.5, tokenizer.config) is None


def test_bad_warp_settings_name_the_value() -> None:
    with pytest.raises(ValueError, match="hfov_deg=0.5"):
        YawWarp(0.5)
    with pytest.raises(ValueError, match="horizon=1.5"):
        YawWarp(70.0, horizon=1.5)
