"""Training on the model's own rollouts (``diffusion.rollout_prob``) and starting a run from a
trained model's weights (``init_weights``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import train
from tests.runtime.test_world_model import context, tiny_world_model
from worldsim.diffusion.flow import FlowConfig, sample_forcing_levels
from worldsim.diffusion.samplers import SamplingConfig
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.world_model import WorldModel
from worldsim.training.world_model_module import WorldModelModule

SAMPLING = SamplingConfig(steps=1, temperature=0.0, context_noise=0.0)  # deterministic


def module(rollout_prob: float = 1.0, **settings: Any) -> WorldModelModule:
    """A tiny residual world model with the yaw warp, wrapped for training (``settings``: more
    ``FlowConfig`` fields)."""
    parts = tiny_world_model(residual=True, warp=True).parts
    flow = FlowConfig(
        prediction="x0_residual", rollout_prob=rollout_prob, rollout_frames=3, **settings
    )
    return WorldModelModule(
        parts.tokenizer,
        parts.dit,
        parts.text_encoder,
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
        flow=flow,
        motion_mean=parts.motion_mean,
        motion_std=parts.motion_std,
        dt=parts.dt,
        sampling=SAMPLING,
    )


def clip(m: WorldModelModule, frames: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``(2, T, C, h, w)`` of random frames and normalised motion ``(2, T, 2)``."""
    runtime = WorldModel.from_parts(m.parts(), SAMPLING)
    x0 = torch.stack([runtime.encode(torch.from_numpy(f)) for f in context(2, frames)], dim=0)
    cond = torch.randn(2, frames, 2, generator=torch.Generator().manual_seed(1)) * 0.5
    return x0, cond


def test_a_fixed_context_prefix_is_clean_and_out_of_the_loss() -> None:
    cfg = FlowConfig()
    levels, mask = sample_forcing_levels(3, 6, cfg, torch.Generator().manual_seed(0), context=4)
    assert (mask[:, :4] == 0).all() and (mask[:, 4:] == 1).all()
    assert (levels[:, :4] <= cfg.context_noise_max).all()
    for bad in (0, 6):
        with pytest.raises(ValueError, match=f"context={bad}"):
            sample_forcing_levels(3, 6, cfg, context=bad)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rollout_prob": 0.5, "rollout_frames": 0, "prediction": "x0_residual"}, "rollout_frames"),
        ({"rollout_prob": 1.5, "rollout_frames": 2, "prediction": "x0_residual"}, "rollout_prob"),
        ({"rollout_prob": 0.5, "rollout_frames": 2}, "x0_residual"),
    ],
)
def test_bad_rollout_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlowConfig(**settings)


def test_rollout_context_is_the_runtime_continuation_of_the_true_frames() -> None:
    m = module()
    x0, cond = clip(m)
    m.train()
    prompts = ["day", "night, rain"]
    torch.manual_seed(3)
    x_in, split = m.rollout_context(x0, cond, (prompts, prompts, torch.zeros(2, dtype=torch.long)))
    assert m.dit.training and m.text_encoder.training  # the training modes are restored
    assert 2 <= split <= x0.shape[1] - 1
    changed = [not torch.equal(x_in[:, i], x0[:, i]) for i in range(x0.shape[1])]
    first = changed.index(True)
    assert first >= 1 and all(changed[first:split]) and not any(changed[split:])
    # The same continuation from the run-time API, with the motion in physical units.
    motion = cond * m.motion_std + m.motion_mean
    runtime = WorldModel.from_parts(m.parts(), SAMPLING)
    runtime.reset_latents(x0[:, :first], prompts, motion[:, : first - 1] if first > 1 else None)
    for j in range(first, split):
        assert torch.allclose(runtime.step_latents(motion[:, j - 1]), x_in[:, j], atol=1e-5)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_rollout_context_switches_the_prompt_where_the_clip_caption_switches(seed: int) -> None:
    m = module()
    x0, cond = clip(m)
    m.train()
    firsts, lasts = ["day", "day"], ["night, rain", "day"]
    switch_at = torch.tensor([2, 0])
    torch.manual_seed(seed)
    x_in, split = m.rollout_context(x0, cond, (firsts, lasts, switch_at))
    changed = [not torch.equal(x_in[:, i], x0[:, i]) for i in range(x0.shape[1])]
    first = changed.index(True)
    motion = cond * m.motion_std + m.motion_mean
    runtime = WorldModel.from_parts(m.parts(), SAMPLING)
    start = [lasts[0] if first - 1 >= 2 else "day", "day"]
    runtime.reset_latents(x0[:, :first], start, motion[:, : first - 1] if first > 1 else None)
    for j in range(first, split):
        prompts = [lasts[0] if j >= 2 else "day", "day"]
        step = runtime.step_latents(motion[:, j - 1], prompts)
        assert torch.allclose(step, x_in[:, j], atol=1e-5)
        assert runtime.prompts == tuple(prompts)


def test_reset_from_latents_matches_reset_from_frames() -> None:
    model = tiny_world_model(residual=True, warp=True, context_noise=0.0, temperature=0.0)
    frames = context(2, 3)
    past = torch.tensor([[[10.0, 0.1]] * 2] * 2)
    motion = torch.tensor([[10.0, 0.2], [8.0, -0.2]])
    model.reset(frames, "day", past)
    want = model.step_latents(motion)
    latents = torch.stack([model.encode(torch.from_numpy(f)) for f in frames], dim=0)
    model.reset_latents(latents, "day", past)
    assert torch.allclose(model.step_latents(motion), want, atol=1e-6)


def test_a_training_step_on_rollouts_learns() -> None:
    m = module(rollout_prob=1.0)
    x0, cond = clip(m)
    m.train()
    batch = {"cond": cond, "caption": ["day", "night"]}
    loss = m.flow_step(batch, x0=x0)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.dit.parameters())


ROLLOUT = [
    "experiment=world_model_rollout",
    "~tokenizer.base_channels",  # the patch tokenizer has no channels
    "data.clip_len=4",
    "diffusion.rollout_prob=1.0",
    "trainer.val_check_interval=2",
    "callbacks.checkpoint.every_n_train_steps=2",
    "callbacks.rollout.sampling_steps=1",
]


@pytest.mark.slow
def test_rollout_training_runs_and_init_weights_starts_from_a_trained_model(
    tmp_path: Path,
) -> None:
    train(tmp_path, *ROLLOUT, "init_weights=null", "trainer.max_steps=3", "run_name=first")
    first = tmp_path / "runs" / "first" / "checkpoints" / "last.ckpt"
    source = load_world_model(first)
    # An almost-zero learning rate: the second run's weights are the first run's.
    train(
        tmp_path,
        *ROLLOUT,
        f"init_weights={first}",
        "trainer.max_steps=3",
        "optimizer.lr=1e-12",
        "run_name=second",
    )
    second = load_world_model(tmp_path / "runs" / "second" / "checkpoints" / "last.ckpt")
    theirs = second.dit.state_dict()
    for name, a in source.dit.state_dict().items():
        assert torch.allclose(a, theirs[name], atol=1e-6), name
    proc = train(
        tmp_path, *ROLLOUT, f"init_weights={first}", "model.dim=16", "run_name=third", check=False
    )
    assert proc.returncode == 2
    assert "different architecture" in proc.stderr and "dim: 32 there, 16 here" in proc.stderr
    # Another warp interpolation keeps every weight: it is fine-tuned from the same model.
    train(
        tmp_path,
        *ROLLOUT,
        f"init_weights={first}",
        "model.yaw_warp_interpolation=nearest",
        "trainer.max_steps=3",
        "run_name=nearest",
    )
    nearest = load_world_model(tmp_path / "runs" / "nearest" / "checkpoints" / "last.ckpt")
    assert nearest.dit.config.yaw_warp_interpolation == "nearest"
    proc = train(tmp_path, *ROLLOUT, "init_weights=nowhere.ckpt", "run_name=fourth", check=False)
    assert proc.returncode == 2 and "init_weights=nowhere.ckpt" in proc.stderr


def test_sampler_start_clips_get_level_one_and_the_sampler_temperature() -> None:
    m = module()
    m.flow.sampler_prob = 1.0
    levels = torch.full((2, 4), 0.5)
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    noise = torch.ones(2, 4, 1, 1, 1)
    got_levels, got_noise = m.at_sampler_start(levels, mask, noise, None)
    assert torch.equal(got_levels, torch.where(mask > 0, 1.0, 0.5))
    assert torch.equal(got_noise[:, :, 0, 0, 0], torch.where(mask > 0, 0.0, 1.0))  # temperature 0
    m.flow.sampler_prob = 0.0
    assert torch.equal(m.at_sampler_start(levels, mask, noise, None)[0], levels)


def test_a_turn_only_model_grows_the_ground_view_and_starts_as_itself() -> None:
    import dataclasses

    from tests.runtime.test_world_model import run
    from worldsim.cli.train import grown_patch_in
    from worldsim.models.dit import VideoDiT

    source = tiny_world_model(residual=True, warp=True, steps=1, temperature=0.0)
    parts = source.parts
    config = dataclasses.replace(parts.dit.config, yaw_warp_mount_height=1.5)
    assert config.prev_views == 2
    state = parts.dit.state_dict()
    state["patch_in.weight"] = grown_patch_in(state["patch_in.weight"], config)
    grown = VideoDiT(config)
    grown.load_state_dict(state)
    model = WorldModel.from_parts(dataclasses.replace(parts, dit=grown), source.sampling)
    assert model.ego_warp is not None and model.ego_warp.mount_height == 1.5
    same = run(model).astype(int) - run(source)
    assert np.abs(same).max() <= 1  # float32 summation order only
    # Once the new input weights (the ground view's channels) move, the frames change.
    g = torch.Generator().manual_seed(1)
    p, c = config.patch_size, config.latent_channels
    with torch.no_grad():
        new = model.dit.patch_in.weight.view(config.dim, p, p, 3 * c)[..., 2 * c :]
        new.add_(torch.randn(new.shape, generator=g) * 0.2)
    assert np.abs(run(model).astype(int) - run(source)).max() > 8


def test_the_warp_interpolation_is_a_model_setting_that_reaches_the_runtime() -> None:
    import dataclasses

    from tests.runtime.test_world_model import run
    from worldsim.models.dit import DiTConfig, VideoDiT

    source = tiny_world_model(residual=True, warp=True, steps=1, temperature=0.0)
    parts = source.parts
    assert source.ego_warp is not None and source.ego_warp.interpolation == "bilinear"
    config = dataclasses.replace(parts.dit.config, yaw_warp_interpolation="nearest")
    dit = VideoDiT(config)
    dit.load_state_dict(parts.dit.state_dict())  # the same weights
    model = WorldModel.from_parts(dataclasses.replace(parts, dit=dit), source.sampling)
    assert model.ego_warp is not None and model.ego_warp.interpolation == "nearest"
    assert DiTConfig(**config.to_dict()).yaw_warp_interpolation == "nearest"
    # The rollouts turn, so the same weights resampling another way give other frames.
    assert np.abs(run(model).astype(int) - run(source)).max() > 0
    with pytest.raises(ValueError, match="yaw_warp_interpolation='cubic'.*bilinear"):
        dataclasses.replace(config, yaw_warp_interpolation="cubic")


@pytest.mark.slow
def test_the_switched_prompt_stage_trains_on_episodes_whose_caption_switches(
    tmp_path: Path,
) -> None:
    from worldsim.data.store import EpisodeStore

    train(
        tmp_path,
        *[o if o != ROLLOUT[0] else "experiment=world_model_switch" for o in ROLLOUT],
        "init_weights=null",
        "data.stride=1",
        "trainer.max_steps=3",
    )
    store = EpisodeStore(tmp_path / "data" / "procedural_switch")
    assert all(store.caption_switch(key) is not None for key in store.keys())
    ckpt = tmp_path / "runs" / "world_model_switch" / "checkpoints" / "last.ckpt"
    config = load_world_model(ckpt).dit.config  # the ground stage's model, grown no further
    assert (config.yaw_warp_mount_height, config.yaw_warp_base) == (1.5, "moved")


@pytest.mark.slow
def test_the_switch_mix_stage_trains_on_two_stores_and_refuses_a_missing_one(
    tmp_path: Path,
) -> None:
    from worldsim.data.sources.procedural import ProceduralSource
    from worldsim.data.store.writer import write_store

    switch = tmp_path / "switch16"
    source = ProceduralSource(episodes=3, frames=16, seed=7, switch_prob=1.0)
    write_store(source, switch, workers=1, val_fraction=0.34, progress=False)
    stage = [o if o != ROLLOUT[0] else "experiment=world_model_switch_mix" for o in ROLLOUT]
    missing = train(tmp_path, *stage, "init_weights=null", "data.mix.store=nowhere", check=False)
    assert missing.returncode == 2
    assert "error: data.mix.store=nowhere is not an episode store" in missing.stderr
    assert "Traceback" not in missing.stderr
    train(tmp_path, *stage, "init_weights=null", f"data.mix.store={switch}", "trainer.max_steps=3")
    ckpt = tmp_path / "runs" / "world_model_switch_mix" / "checkpoints" / "last.ckpt"
    assert load_world_model(ckpt).dit.config.yaw_warp_base == "moved"
    run_config = OmegaConf.load(ckpt.parent.parent / ".hydra" / "config.yaml")
    assert (run_config.data.mix.store, run_config.data.mix.share) == (str(switch), 0.5)
    # The two passes after it start from the stage before them, with no path given.
    for name in ("world_model_switch_mix2", "world_model_long_rollout"):
        after = [o if o != ROLLOUT[0] else f"experiment={name}" for o in ROLLOUT]
        train(tmp_path, *after, f"data.mix.store={switch}", "trainer.max_steps=3")
    long_dir = tmp_path / "runs" / "world_model_long_rollout"
    long_config = OmegaConf.load(long_dir / ".hydra" / "config.yaml")
    assert long_config.init_weights == str(
        tmp_path / "runs" / "world_model_switch_mix2" / "checkpoints" / "last.ckpt"
    )
    assert (long_config.diffusion.rollout_frames, long_config.optimizer.lr) == (12, 1.5e-4)
    assert load_world_model(long_dir / "checkpoints" / "last.ckpt").dit.config.prev_frame_input
    # The driving heads learn from one store's signals: a mix is refused, not ignored.
    heads = train(tmp_path, "experiment=driving_heads", f"data.mix.store={switch}", check=False)
    assert heads.returncode == 2 and "the driving heads train on one store" in heads.stderr
