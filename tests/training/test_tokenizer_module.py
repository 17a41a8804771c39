"""TokenizerModule: a real Lightning fit on a tiny procedural store, logs, checkpoints, resume."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from worldsim.data.clips import ClipDataset
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import write_store
from worldsim.models.tokenizer import FrameTokenizer, TokenizerConfig
from worldsim.runtime.checkpoint import load_tokenizer
from worldsim.training.tokenizer_module import TokenizerModule, image_gradients


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 16-frame procedural episodes: one train, one val (the smallest key hash)."""
    root = tmp_path_factory.mktemp("tokstore") / "store"
    source = ProceduralSource(episodes=2, frames=16, seed=1, height=32, width=56)
    write_store(source, root, workers=1, val_fraction=0.01, progress=False)
    return root


def loaders(store: Path) -> tuple[DataLoader, DataLoader]:
    train = ClipDataset(store, split="train", clip_len=2, stride=2)
    val = ClipDataset(store, split="val", clip_len=2, stride=4)
    return DataLoader(train, batch_size=4, shuffle=True), DataLoader(val, batch_size=4)


def module(**kwargs: Any) -> TokenizerModule:
    torch.manual_seed(0)
    tokenizer = FrameTokenizer(TokenizerConfig(base_channels=8, channel_mult=(1, 2, 2)))
    optimizer = functools.partial(torch.optim.AdamW, lr=2e-3, weight_decay=0.01)
    return TokenizerModule(tokenizer, optimizer=optimizer, warmup_steps=2, **kwargs)


def fit(
    mod: TokenizerModule, store: Path, root: Path, max_steps: int, ckpt_path: str | None = None
) -> L.Trainer:
    version = 0 if ckpt_path is None else 1
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        logger=CSVLogger(root, name="logs", version=version),
        callbacks=[ModelCheckpoint(root / f"ckpt{version}", save_last=True, every_n_train_steps=3)],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    trainer.fit(mod, *loaders(store), ckpt_path=ckpt_path)
    return trainer


def plain(value: Any) -> bool:
    """Whether ``value`` is built only from JSON-like Python values."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def test_fit_logs_calibrates_and_checkpoints_the_scale(tiny_store: Path, tmp_path: Path) -> None:
    mod = module()
    trainer = fit(mod, tiny_store, tmp_path, max_steps=6)
    assert trainer.global_step == 6
    scale = float(mod.tokenizer.latent_scale)
    assert scale != 1.0

    with open(tmp_path / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for name in (
        "train/loss",
        "train/psnr",
        "val/loss",
        "val/psnr",
        "val/latent_std",
        "train/latent_scale",
    ):
        assert any(row.get(name) for row in rows), name
    psnrs = [float(r["train/psnr"]) for r in rows if r.get("train/psnr")]
    assert all(5.0 < p < 60.0 for p in psnrs)

    ckpt = torch.load(tmp_path / "ckpt0" / "last.ckpt", map_location="cpu", weights_only=False)
    assert float(ckpt["state_dict"]["tokenizer.latent_scale"]) == pytest.approx(scale)
    assert plain(ckpt["hyper_parameters"])
    assert ckpt["hyper_parameters"]["tokenizer_config"]["channel_mult"] == [1, 2, 2]
    loaded = load_tokenizer(tmp_path / "ckpt0" / "last.ckpt")
    assert float(loaded.latent_scale) == pytest.approx(scale)
    x = torch.rand(2, 3, 32, 56) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), mod.tokenizer.eval().encode(x))


@pytest.mark.filterwarnings("ignore:.*dirpath has changed", "ignore:.*resuming from a checkpoint")
def test_resume_keeps_the_checkpointed_scale(tiny_store: Path, tmp_path: Path) -> None:
    first = module(scale_momentum=0.0)
    fit(first, tiny_store, tmp_path, max_steps=3)
    scale = float(first.tokenizer.latent_scale)
    assert scale != 1.0
    resumed = module(scale_momentum=0.0)
    trainer = fit(resumed, tiny_store, tmp_path, 6, ckpt_path=str(tmp_path / "ckpt0" / "last.ckpt"))
    assert trainer.global_step == 6
    assert float(resumed.tokenizer.latent_scale) == pytest.approx(scale)  # not re-calibrated


def test_scale_tracking_follows_the_latent_variance() -> None:
    mod = module(scale_momentum=0.5)
    mod.tokenizer.latent_scale.fill_(1.0)
    mod._track_scale(torch.randn(4, 4, 8, 8) * 4.0)  # variance 16: scale -> 1 / sqrt(8.5)
    assert float(mod.tokenizer.latent_scale) == pytest.approx(8.5**-0.5, rel=0.05)


def test_bad_arguments_and_edges() -> None:
    with pytest.raises(ValueError, match="scale_momentum"):
        module(scale_momentum=1.0)
    with pytest.raises(ValueError, match="kl_weight"):
        module(kl_weight=-1.0)
    x = torch.zeros(1, 3, 4, 5)
    x[..., 2:] = 1.0
    grads = image_gradients(x)
    assert grads.shape == (1, 6, 3, 4) and float(grads.abs().sum()) == 3 * 3  # one edge column
