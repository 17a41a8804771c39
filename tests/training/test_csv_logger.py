"""Resuming a run keeps every metric row logged before it (Lightning's CSVLogger drops them)."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger

from worldsim.paths import config_dir
from worldsim.training.csv_logger import ResumableCSVLogger


class _Logged(BoringModel):
    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"])
        return out


def _fit(root: Path, logger_cls: type, steps: int, resume: bool) -> Path:
    logger = logger_cls(save_dir=root, name="csv", version="")
    ckpt = ModelCheckpoint(dirpath=root / "checkpoints", save_last=True, every_n_train_steps=2)
    trainer = L.Trainer(
        max_steps=steps,
        logger=logger,
        callbacks=[ckpt],
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    last = root / "checkpoints" / "last.ckpt"
    trainer.fit(_Logged(), ckpt_path=str(last) if resume else None, weights_only=True)
    return root / "csv" / "metrics.csv"


def _steps(path: Path) -> list[int]:
    return sorted(int(r["step"]) for r in csv.DictReader(path.open()) if r.get("train/loss"))


@pytest.mark.parametrize(("logger_cls", "keeps"), [(ResumableCSVLogger, True), (CSVLogger, False)])
def test_resume_keeps_earlier_rows(tmp_path: Path, logger_cls: type, keeps: bool) -> None:
    _fit(tmp_path, logger_cls, 4, resume=False)
    metrics = _fit(tmp_path, logger_cls, 8, resume=True)
    steps = _steps(metrics)
    assert steps[-1] == 7
    assert (steps[0] == 0) is keeps, steps  # the stock logger is what this module fixes


def test_the_training_configs_use_it() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for logger in ("default", "csv", "wandb"):
            cfg = compose(config_name="train", overrides=[f"logger={logger}"])
            assert cfg.logger.csv._target_ == "worldsim.training.csv_logger.ResumableCSVLogger"
