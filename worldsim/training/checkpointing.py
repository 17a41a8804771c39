"""Periodic checkpoints that also keep the final step of a ``max_steps`` run."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class StepCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also writes ``last.ckpt`` at the run's final step.

    Lightning saves every ``every_n_train_steps`` steps and, at the end of training, writes
    ``last.ckpt`` only when nothing was saved before; so a run of 1,600 steps checkpointed
    every 250 ended with the weights of step 1,500. Here the final step is written too, before
    the weight-averaging callback copies its average into the model at the end of training,
    so that the checkpoint holds both the average and the raw weights as any other does.
    """

    def __init__(self, *args: Any, every_n_train_steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, every_n_train_steps=every_n_train_steps, **kwargs)
        self.every_n_steps = every_n_train_steps or 0
        self.final_written = False

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        step = trainer.global_step
        final = trainer.max_steps is not None and 0 < trainer.max_steps <= step
        saved_here = self.every_n_steps > 0 and step % self.every_n_steps == 0
        if self.save_last and final and not saved_here and not trainer.sanity_checking:
            trainer.save_checkpoint(self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST))
            self.final_written = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.final_written:  # else the average would overwrite the raw weights
            super().on_train_end(trainer, pl_module)
