"""worldsim-train experiment=eval_heads: the evaluation heads learn, save plain metadata, resume and load."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import train
from worldsim.data.store import EpisodeStore
from worldsim.runtime.checkpoint import CheckpointError
from worldsim.runtime.heads import EvalHeads, load_eval_heads
from worldsim.sim.conditions import TIMES_OF_DAY, WEATHERS

# many short episodes at half the default resolution: scene variety matters more than length,
# and a whole episode is one clip (3 frame pairs), so a short CPU run generalises to val
SMALL = [
    "experiment=eval_heads",
    "data.generate.episodes=96",
    "data.generate.frames=4",
    "data.generate.seed=1",
    "data.generate.workers=2",
    "data.height=32",
    "data.width=56",
    "data.clip_len=4",
    "data.stride=4",
    "data.val_stride=4",
    "data.batch_size=16",
    "data.num_workers=0",
    "eval_heads.width=16",
    "eval_heads.feature_dim=32",
    "trainer.limit_val_batches=1",
    "callbacks.checkpoint.every_n_train_steps=50",
    "warmup_steps=20",
]


@pytest.fixture(scope="module")
def heads_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short heads run, stopped and resumed once with ckpt_path=last."""
    root = tmp_path_factory.mktemp("eval_heads")
    first = train(
        root,
        *SMALL,
        "trainer.max_steps=150",
        "trainer.val_check_interval=150",
    )
    assert "checkpoint:" in first.stdout
    resumed = train(
        root,
        *SMALL,
        "trainer.max_steps=200",
        "trainer.val_check_interval=50",
        "ckpt_path=last",
    )
    assert "resuming from" in resumed.stdout
    return root


def last_ckpt(root: Path) -> Path:
    return root / "runs" / "eval_heads" / "checkpoints" / "last.ckpt"


def test_resumed_run_continues_to_max_steps(heads_run: Path) -> None:
    ckpt = torch.load(last_ckpt(heads_run), map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 200
    with open(heads_run / "runs" / "eval_heads" / "csv" / "metrics.csv") as fh:
        header = set(next(csv.reader(fh)))
    assert {
        "train/loss",
        "train/idm_loss",
        "train/cls_loss",
        "val/idm_mae_speed",
        "val/idm_mae_yaw_rate",
        "val/time_acc",
        "val/weather_acc",
    } <= header


def test_checkpoint_holds_plain_heads_metadata(heads_run: Path) -> None:
    ckpt = torch.load(last_ckpt(heads_run), map_location="cpu", weights_only=False)
    meta = ckpt["hyper_parameters"]["worldsim_heads"]
    store = EpisodeStore(heads_run / "data" / "procedural")
    assert meta["format_version"] == 1
    assert meta["config"] == {"width": 16, "feature_dim": 32}
    np.testing.assert_allclose(meta["motion_mean"], store.stats.ego_motion.mean, rtol=1e-6)
    np.testing.assert_allclose(meta["motion_std"], store.stats.ego_motion.std, rtol=1e-6)
    assert meta["time_labels"] == list(TIMES_OF_DAY) and meta["weather_labels"] == list(WEATHERS)
    assert meta["store"] == str(store.root)
    assert all(type(v) in (int, str, list, dict) for v in meta.values())


def test_trained_heads_beat_the_constant_prediction_on_val_frames(heads_run: Path) -> None:
    heads = load_eval_heads(last_ckpt(heads_run))
    assert isinstance(heads, EvalHeads) and not heads.idm.training
    store = EpisodeStore(heads_run / "data" / "procedural")
    stats = store.stats.ego_motion
    errors, baseline = [], []
    for key in store.keys("val"):
        frames = store.frames(key)
        motion = store.ego_motion(key)[:-1]  # motion from frame t to t+1
        pred = heads.idm.predict(frames[None])[0]
        assert pred.shape == motion.shape
        errors.append(np.abs(stats.normalize(pred) - stats.normalize(motion)))
        baseline.append(np.abs(stats.normalize(motion)))  # the training mean predicted
    mae, const = np.concatenate(errors).mean(), np.concatenate(baseline).mean()
    print(f"IDM normalised MAE {mae:.3f} vs constant {const:.3f}")
    assert mae <= 0.7 * const, f"IDM normalised MAE {mae:.3f} vs constant {const:.3f}"

    times, weathers = heads.classifier.predict(frames)
    assert times.shape == weathers.shape == (len(frames),)
    assert heads.classifier.embed(frames[:4]).shape == (4, 32)


def test_load_eval_heads_rejects_other_checkpoints(tmp_path: Path) -> None:
    other = tmp_path / "tokenizer.ckpt"
    torch.save({"hyper_parameters": {"tokenizer_config": {}}, "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="experiment=eval_heads"):
        load_eval_heads(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_eval_heads(tmp_path / "missing.ckpt")


def test_heads_ckpt_fixture_loads(heads_ckpt: Path) -> None:
    heads = load_eval_heads(heads_ckpt)
    frames = np.zeros((1, 3, 64, 112, 3), np.uint8)
    assert heads.idm.predict(frames).shape == (1, 2, 2)
    assert heads.metadata["global_step"] > 0
