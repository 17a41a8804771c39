"""worldsim-train end to end: configs, both stages, checkpoints, resume, DDP."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

import worldsim
from tests.conftest import TINY, TRAIN, train
from worldsim.cli.train import TASKS
from worldsim.data.episode import EGO_MOTION_FIELDS
from worldsim.paths import config_dir

GROUPS = [
    "tokenizer",
    "model",
    "text",
    "diffusion",
    "sampler",
    "optimizer",
    "trainer",
    "callbacks",
    "logger",
    "eval_heads",
]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, str) and isinstance(want, str) and os.sep in want:  # a path
        return os.path.abspath(got) == os.path.abspath(want)
    return got == want


def assert_built_from(obj: Any, node: DictConfig) -> None:
    """``obj`` is of the class ``node`` targets and holds its settings: every one for a
    dataclass config, the plain-valued ones it exposes under the same name otherwise."""
    values = OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    assert type(obj) is get_class(values.pop("_target_")), (type(obj), node)
    for key, want in values.items():
        exposed = hasattr(obj, key) and isinstance(
            getattr(obj, key), (bool, int, float, str, tuple, list)
        )
        if dataclasses.is_dataclass(obj) or exposed:
            assert _same(getattr(obj, key), want), (
                type(obj).__name__,
                key,
                getattr(obj, key),
                want,
            )


@pytest.mark.parametrize("group", GROUPS)
def test_every_config_group_composes_and_instantiates(group: str) -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for option in options(group):
            overrides = [f"{group}={option}"]
            if group == "model":
                overrides += [
                    "model.latent_channels=4",
                    "model.latent_height=16",
                    "model.latent_width=28",
                    "model.text_dim=32",
                ]
            if group == "text" and option == "hf":
                overrides.append("text.name_or_path=some/model")  # the config only, no download
            cfg = compose(config_name="train", overrides=overrides)
            node = cfg[group]
            if group == "trainer" and option == "gpu" and not torch.cuda.is_available():
                continue
            if group in ("callbacks", "logger"):
                base = L.Callback if group == "callbacks" else Logger
                for name, sub in node.items():
                    if name == "wandb" and importlib.util.find_spec("wandb") is None:
                        continue  # optional logger
                    built = instantiate(sub)
                    assert isinstance(built, base), (option, name, built)
                    assert_built_from(built, sub)
            elif group == "optimizer":
                param = torch.nn.Parameter(torch.zeros(1))
                opt = instantiate(node)([param])
                assert isinstance(opt, torch.optim.Optimizer)
                assert opt.param_groups[0]["params"] == [param]
                assert opt.defaults["lr"] == node.lr
            elif group == "trainer":
                trainer = instantiate(node)
                assert isinstance(trainer, L.Trainer)
                assert trainer.max_steps == node.max_steps and trainer.num_devices == node.devices
                assert_built_from(trainer, node)
            else:
                built = instantiate(node)
                assert dataclasses.is_dataclass(built), (option, built)
                assert_built_from(built, node)


def test_experiments_compose() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for path in (config_dir() / "experiment").glob("*.yaml"):
            cfg = compose(config_name="train", overrides=[f"experiment={path.stem}"])
            assert cfg.task in TASKS
            if path.stem == "world_model_gym":  # a recorded env's own actions, from its store
                assert cfg.data.condition == "actions" and cfg.data.height is None
                continue
            # ego-motion data: speed and yaw rate, the fields every source records
            assert cfg.data.get("condition", "ego_motion") == "ego_motion", path.stem
            assert cfg.data.action_dim == len(EGO_MOTION_FIELDS), path.stem


def test_debug_tiny_wins_over_the_preset_and_loses_to_the_command_line() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for name in ("tokenizer_tiny", "world_model_tiny", "eval_heads"):
            cfg = compose(config_name="train", overrides=[f"experiment={name}", "debug=tiny"])
            assert (cfg.data.batch_size, cfg.model.dim, cfg.warmup_steps) == (2, 32, 2), name
        cfg = compose(config_name="train", overrides=["debug=tiny", "data.clip_len=2"])
        assert cfg.data.clip_len == 2


def test_root_tokenizer_loss_holds_the_module_defaults() -> None:
    """``tokenizer_loss`` in train.yaml declares TokenizerModule's loss weights as they are."""
    import inspect

    from worldsim.training.tokenizer_module import TokenizerModule

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        declared = dict(compose(config_name="train").tokenizer_loss)
    params = inspect.signature(TokenizerModule).parameters
    assert declared == {key: params[key].default for key in declared}
    assert set(declared) == {"kl_weight", "edge_weight", "scale_momentum"}


@pytest.mark.parametrize(
    "experiment", sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))
)
def test_a_data_group_on_the_command_line_wins_over_the_preset(experiment: str) -> None:
    """`experiment=... data=nuscenes` trains on the nuScenes store, never on procedural data."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}", "data=nuscenes"])
        assert cfg.data.store.endswith("/nuscenes"), (experiment, cfg.data.store)
        assert cfg.data.generate is None
        assert (cfg.data.height, cfg.data.width) == (128, 224)


def test_presets_pick_their_own_store_by_default() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        stores = {
            name: compose(config_name="train", overrides=[f"experiment={name}"]).data.store
            for name in (
                "tokenizer_s",
                "world_model_pretrained",
                "eval_heads",
                "world_model_nuscenes",
            )
        }
    assert stores["tokenizer_s"].endswith("/procedural_128")
    assert stores["world_model_pretrained"].endswith("/procedural_300")
    assert stores["eval_heads"].endswith("/procedural")
    assert stores["world_model_nuscenes"].endswith("/nuscenes")


def test_tiny_training_writes_checkpoints_logs_and_rollout_media(trained: Path) -> None:
    wm = trained / "runs" / "world_model_tiny"
    assert (wm / "checkpoints" / "last.ckpt").is_file()
    with open(wm / "csv" / "metrics.csv") as fh:
        header = next(csv.reader(fh))
    assert {"train/loss", "val/loss", "rollout/psnr@1"} <= set(header)
    assert list((wm / "tensorboard").glob("events.*"))
    media = sorted((wm / "rollouts").glob("step_*"))
    assert media and (media[-1] / "rollout.mp4").is_file() and (media[-1] / "grid.png").is_file()
    tok = trained / "runs" / "tokenizer_tiny"
    with open(tok / "csv" / "metrics.csv") as fh:
        assert "val/psnr" in next(csv.reader(fh))


def test_load_world_model_rolls_out_600_frames_with_bounded_memory(trained: Path) -> None:
    model = worldsim.load_world_model(
        trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    )
    model.sampling.steps = 1
    h, w = model.resolution
    g = torch.Generator().manual_seed(0)
    model.reset(np.zeros((1, 2, h, w, 3), np.uint8), "day, clear weather", generator=g)
    sizes = []
    for i in range(600):
        frame = model.step(np.array([[10.0, 0.05]]), generator=g)
        if i % 100 == 99:
            sizes.append(model.cache.nbytes())
    assert frame.shape == (1, h, w, 3)
    assert len(set(sizes)) == 1 and model.position == 602


def test_checkpoint_holds_plain_metadata(trained: Path) -> None:
    ckpt = torch.load(
        trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt", weights_only=False
    )
    meta = ckpt["hyper_parameters"]["worldsim"]
    assert {"tokenizer", "dit", "text", "motion_mean", "motion_std", "config"} <= set(meta)
    assert "current_model_state" in ckpt  # EMA weights are in state_dict, raw ones kept aside
    assert type(meta["config"]) is dict


def test_a_run_between_checkpoint_intervals_keeps_its_final_step(trained: Path) -> None:
    train(
        trained,
        "experiment=world_model_tiny",
        "run_name=final_step",
        "data.clip_len=4",
        "trainer.max_steps=6",
        "trainer.val_check_interval=1000",
        "callbacks.checkpoint.every_n_train_steps=4",
        "callbacks.rollout=null",
    )
    checkpoints = trained / "runs" / "final_step" / "checkpoints"
    assert (checkpoints / "step0000004.ckpt").is_file()
    last = torch.load(checkpoints / "last.ckpt", weights_only=False)
    assert last["global_step"] == 6
    # Written before the average is copied into the model: the raw weights are still apart.
    raw, average = last["current_model_state"], last["state_dict"]
    assert any(not torch.equal(raw[k], average[k]) for k in average if k in raw)


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(trained: Path) -> None:
    args = [
        TRAIN,
        f"paths.runs_dir={trained / 'runs'}",
        f"paths.data_dir={trained / 'data'}",
        *TINY,
        "experiment=world_model_tiny",
        "run_name=resume",
        "data.clip_len=4",
        "trainer.max_steps=400",
        "trainer.val_check_interval=1000",
        "callbacks.checkpoint.every_n_train_steps=4",
        "callbacks.rollout=null",
    ]
    proc = subprocess.Popen(
        args,
        cwd=trained,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = trained / "runs" / "resume" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not last.exists():
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    step_at_kill = torch.load(last, weights_only=False)["global_step"]
    assert 4 <= step_at_kill < 400
    resumed = train(
        trained,
        *args[3 + len(TINY) : -3],
        "trainer.max_steps=" + str(step_at_kill + 4),
        "trainer.val_check_interval=1000",
        "callbacks.checkpoint.every_n_train_steps=4",
        "ckpt_path=last",
    )
    assert "resuming from" in resumed.stdout
    assert torch.load(last, weights_only=False)["global_step"] == step_at_kill + 4


@pytest.mark.slow
def test_two_process_ddp_run_completes(trained: Path) -> None:
    train(
        trained,
        "experiment=world_model_tiny",
        "run_name=ddp",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.max_steps=3",
        "trainer.val_check_interval=1000",
        "callbacks.rollout=null",
        "trainer.limit_val_batches=0",
    )
    assert (trained / "runs" / "ddp" / "checkpoints" / "last.ckpt").is_file()


def test_missing_tokenizer_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    proc = train(
        tmp_path,
        "experiment=world_model_tiny",
        "tokenizer_ckpt=nowhere.ckpt",
        "data.generate.episodes=2",
        check=False,
    )
    assert proc.returncode == 2
    assert "nowhere.ckpt" in proc.stderr and "experiment=tokenizer_tiny" in proc.stderr


@pytest.mark.slow
def test_train_only_fine_tunes_the_chosen_parameters_and_freezes_the_rest(trained: Path) -> None:
    start = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    common = [
        "experiment=world_model_tiny",
        f"init_weights={start}",
        "trainer.max_steps=2",
        "trainer.val_check_interval=1000",
        "callbacks.rollout=null",
        "trainer.limit_val_batches=0",
    ]
    train(
        trained, *common, "run_name=text_only", "train_only=[dit.blocks.*.attn_x.*,text_encoder.*]"
    )
    before = worldsim.load_world_model(start).dit.state_dict()
    after = worldsim.load_world_model(
        trained / "runs" / "text_only" / "checkpoints" / "last.ckpt"
    ).dit.state_dict()
    # The weight average of a frozen parameter rounds at float precision only.
    changed = {k for k in before if not torch.allclose(before[k], after[k], rtol=0, atol=1e-6)}
    assert changed and all(".attn_x." in k for k in changed), sorted(changed)
    proc = train(
        trained, *common, "run_name=typo", "train_only=[dit.blocks.*.atn_x.*]", check=False
    )
    assert proc.returncode == 2
    assert "dit.blocks.*.atn_x.*" in proc.stderr and "match no parameter" in proc.stderr


@pytest.mark.slow
def test_bf16_autocast_option_trains(trained: Path) -> None:
    train(
        trained,
        "experiment=world_model_tiny",
        "run_name=bf16",
        "trainer.precision=bf16-mixed",
        "trainer.max_steps=2",
        "trainer.val_check_interval=1000",
        "callbacks.rollout=null",
        "trainer.limit_val_batches=0",
    )
    model = worldsim.load_world_model(trained / "runs" / "bf16" / "checkpoints" / "last.ckpt")
    assert model.dit.config.depth == 1
