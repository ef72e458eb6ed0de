"""Callbacks: MMF's save-dir layout of checkpoints, and interval logging to train.log."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

logger = logging.getLogger("mmf_ext")


class MMFCheckpoint(Callback):
    """Writes current.ckpt and models/model_<step>.ckpt at every block end, best.ckpt on improvement.

    The trainer makes one Lightning epoch = `checkpoint_interval` updates, so every checkpoint is
    taken at a block boundary and a resumed run continues on exactly the batches it would have seen.
    """

    def __init__(
        self, save_dir: Path, criteria: str | None, minimize: bool, max_to_keep: int = -1, interval: int = 1
    ) -> None:
        self.save_dir = Path(save_dir)
        self.interval = max(1, interval)
        self.criteria = criteria
        self.minimize = minimize
        self.max_to_keep = max_to_keep
        self.best_value: float | None = None
        self.best_step: int | None = None
        self._saved_steps: list[int] = []

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_value = state_dict.get("best_value")
        self.best_step = state_dict.get("best_step")

    def _save(self, trainer: pl.Trainer, path: Path) -> None:
        trainer.save_checkpoint(str(path), weights_only=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        step = trainer.global_step
        self._save(trainer, self.save_dir / "current.ckpt")
        if step % self.interval and step != trainer.max_steps:
            return  # a short block after a resume: current.ckpt is enough
        self._save(trainer, self.save_dir / "models" / f"model_{step}.ckpt")
        self._saved_steps.append(step)
        if self.max_to_keep > 0 and trainer.is_global_zero:
            while len(self._saved_steps) > self.max_to_keep:
                old = self._saved_steps.pop(0)
                (self.save_dir / "models" / f"model_{old}.ckpt").unlink(missing_ok=True)
        logger.info("checkpoint: step %d saved to %s", step, self.save_dir / "current.ckpt")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        selectable = getattr(pl_module, "selectable_as_best", None)
        if selectable is not None and not selectable():
            logger.info("checkpoint: step %d is not a candidate for best.ckpt (the model is mid-recipe)", trainer.global_step)
            return
        value = self._criteria_value(trainer)
        if value is None or math.isnan(value):
            return
        better = self.best_value is None or (value < self.best_value if self.minimize else value > self.best_value)
        if better:
            self.best_value, self.best_step = value, trainer.global_step
            self._save(trainer, self.save_dir / "best.ckpt")
            logger.info("checkpoint: best %s=%.4f at step %d", self.criteria, value, trainer.global_step)

    def _criteria_value(self, trainer: pl.Trainer) -> float | None:
        metrics = trainer.callback_metrics
        key = self.criteria
        if key is None:
            candidates = [k for k in metrics if k.startswith("val/") and "loss" not in k]
            if not candidates:
                return None
            # overall metrics before per-group ones (val/<dataset>/<group>/<name>/...)
            key = self.criteria = min(candidates, key=lambda k: (k.count("/"), k))
            logger.info("checkpoint: best.ckpt follows %s (set training.early_stop.criteria to choose)", key)
        if key not in metrics:
            return None
        return float(metrics[key])


class IntervalLogger(Callback):
    """Writes the logged training values to train.log every `log_interval` updates."""

    def __init__(self, log_interval: int) -> None:
        self.log_interval = max(1, int(log_interval))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.log_interval == 0 and trainer.is_global_zero:
            values = ", ".join(
                f"{k}: {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("train/")
            )
            logger.info("progress: %d/%d, %s", step, trainer.max_steps, values)
