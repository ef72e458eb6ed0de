"""Progress: lines in train.log (losses, learning rate), one bar over the updates; MMF's stop on a NaN loss."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from tqdm.auto import tqdm

from mmf_ext.utils.errors import UserError

logger = logging.getLogger("mmf_ext")


class NaNLossError(UserError):
    """A training loss became NaN (training.exit_on_nan_losses)."""


class IntervalLogger(Callback):
    """Every `log_interval` updates: the update, the logged training losses and each group's lr.

    With a progress bar on the terminal the lines go to train.log only (`console=False`).
    """

    def __init__(self, log_interval: int, console: bool = True) -> None:
        self.log_interval = max(1, int(log_interval))
        self.console = console

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step % self.log_interval or not trainer.is_global_zero:
            return
        # Lightning keeps a loss's last value after a model stops returning it (a model with phases): show the
        # losses of this update only, when the model says which they are
        current = getattr(pl_module, "current_loss_names", None)
        values = {
            k: round(float(v), 6)
            for k, v in sorted(trainer.callback_metrics.items())
            if k.startswith("train/") and (current is None or k in current)
        }
        lrs = [group["lr"] for optimizer in trainer.optimizers for group in optimizer.param_groups]
        values["lr"] = lrs[0] if len(lrs) == 1 else lrs
        text = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in values.items())
        logger.info(
            "progress: %d/%d, %s",
            step,
            trainer.max_steps,
            text,
            extra={"progress": f"{step}/{trainer.max_steps}", "values": values, "console": self.console},
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


class UpdateProgressBar(Callback):
    """One bar over the whole run in updates (`350/800 updates`, ETA), with the model's phase and loss.

    Lightning's bar counts batches per epoch (an epoch here is `checkpoint_interval` updates),
    which never says how far the run is. The model may name its current phase (`progress_label()`).
    """

    def __init__(self) -> None:
        self._bar: Any = None
        self._shown = 0
        self._consoles: list[tuple[logging.StreamHandler, Any]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self._shown = int(trainer.global_step)
            # log lines printed while the bar is shown go above it, not through it
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler:
                    self._consoles.append((handler, handler.setStream(_AboveTheBar())))
            self._bar = tqdm(
                total=int(trainer.max_steps),
                initial=self._shown,
                unit="update",
                desc="training",
                dynamic_ncols=True,
                file=sys.stdout,
            )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._bar is None or trainer.global_step == self._shown:
            return
        self._bar.update(trainer.global_step - self._shown)
        self._shown = int(trainer.global_step)
        label = getattr(pl_module, "progress_label", lambda: None)()
        loss = trainer.callback_metrics.get("train/total_loss")
        postfix = {"loss": f"{float(loss):.4f}"} if loss is not None else {}
        self._bar.set_description(f"training ({label})" if label else "training", refresh=False)
        self._bar.set_postfix(postfix, refresh=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        for handler, stream in self._consoles:
            handler.setStream(stream)
        self._consoles = []


class _AboveTheBar:
    """A stream for a logging handler that prints through tqdm, so the progress bar stays whole."""

    def write(self, text: str) -> None:
        if text.strip():
            tqdm.write(text.rstrip("\n"), file=sys.stdout)

    def flush(self) -> None:
        sys.stdout.flush()
