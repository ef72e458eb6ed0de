"""Progress lines in train.log (losses and the learning rate), and MMF's stop on a NaN loss."""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from mmf_ext.utils.errors import UserError

logger = logging.getLogger("mmf_ext")


class NaNLossError(UserError):
    """A training loss became NaN (training.exit_on_nan_losses)."""


class IntervalLogger(Callback):
    """Every `log_interval` updates: the update, the logged training losses and each group's lr."""

    def __init__(self, log_interval: int) -> None:
        self.log_interval = max(1, int(log_interval))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step % self.log_interval or not trainer.is_global_zero:
            return
        values = {k: round(float(v), 6) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("train/")}
        lrs = [group["lr"] for optimizer in trainer.optimizers for group in optimizer.param_groups]
        values["lr"] = lrs[0] if len(lrs) == 1 else lrs
        text = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in values.items())
        logger.info(
            "progress: %d/%d, %s",
            step,
            trainer.max_steps,
            text,
            extra={"progress": f"{step}/{trainer.max_steps}", "values": values},
        )


class NaNLossStop(Callback):
    """MMF's training.exit_on_nan_losses: stop at the first update whose loss is NaN, naming it."""

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or not math.isnan(float(loss)):
            return
        names = [k for k, v in trainer.callback_metrics.items() if k.startswith("train/") and math.isnan(float(v))]
        raise NaNLossError(
            f"NaN in the training loss at update {trainer.global_step} ({', '.join(names) or 'train/total_loss'}); "
            "lower optimizer.params.lr or set training.exit_on_nan_losses=false to continue"
        )
