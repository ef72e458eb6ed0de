"""MMF's checkpoint layout and early stopping on Lightning.

current.ckpt and models/model_<step>.ckpt at every block end (one Lightning epoch is
`checkpoint_interval` updates, so a resumed run continues on exactly the batches it would have
seen), best.ckpt when the criteria improves. Early stopping is MMF's: stop when the criteria has
not improved for `patience` updates. Every checkpoint carries the resolved run config (MMF's
`config` entry) and, with `checkpoint.save_git_details`, the code's git state.
"""

from __future__ import annotations

import logging
import math
import subprocess
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from mmf_ext.modules.metrics import Metrics
from mmf_ext.utils.build import CONFIG_KEY
from mmf_ext.utils.errors import ConfigError

logger = logging.getLogger("mmf_ext")


def criteria_key(criteria: str | None) -> str | None:
    """MMF's `dataset/metric` (and `total_loss`) as the logged `val/dataset/metric` key."""
    if not criteria:
        return None
    return criteria if criteria.startswith("val/") else f"val/{criteria}"


def check_criteria_at_start(criteria: str | None, metrics: Metrics, dataset_name: str) -> None:
    """A criteria that can name no metric of this run is an error before training starts.

    Accepted: a loss (`total_loss`, `<dataset>/<loss>`), `<dataset>/<metric key>` and its
    `/<child>` names, or, for a metric reporting flat names, one whose last part it declares.
    A flat metric that declares nothing is checked at the first validation instead.
    """
    key = criteria_key(criteria)
    if key is None or "loss" in key:
        return
    prefix = f"val/{dataset_name}/"
    expected: list[str] = []
    for metric in metrics:
        if not metric.flat_result_keys:
            expected.append(prefix + metric.name)
            if key == prefix + metric.name or key.startswith(prefix + metric.name + "/"):
                return
            continue
        names = metric.reported_names()
        if names is None:
            return
        expected += [prefix + name for name in names]
        if key.startswith(prefix) and key.rsplit("/", 1)[-1] in names:
            return
    raise ConfigError(
        f"training.early_stop.criteria={criteria} names no metric this run reports; "
        f"its metrics report {', '.join(expected) or 'nothing (evaluation.metrics is empty)'} "
        "(a `dataset/metric` criteria means val/dataset/metric)"
    )


class MMFCheckpoint(Callback):
    """Writes MMF's save-dir checkpoints, follows the best value, and stops early when told to."""

    def __init__(
        self,
        save_dir: Path,
        criteria: str | None,
        minimize: bool,
        max_to_keep: int = -1,
        interval: int = 1,
        patience: int | None = None,
        run_config: DictConfig | None = None,
        save_git_details: bool = False,
    ) -> None:
        self.save_dir = Path(save_dir)
        self.interval = max(1, interval)
        self.criteria = criteria_key(criteria)
        self.minimize = minimize
        self.max_to_keep = max_to_keep
        self.patience = patience  # updates without improvement before stopping; None: never stop
        self.run_config = run_config
        self.git_details = _git_details() if save_git_details else {}
        self.best_value: float | None = None
        self.best_step: int | None = None
        self._saved_steps: list[int] = []

    # -- state kept in checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_value = state_dict.get("best_value")
        self.best_step = state_dict.get("best_step")

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.run_config is not None:
            checkpoint[CONFIG_KEY] = OmegaConf.to_container(self.run_config, resolve=True)
        checkpoint.update(self.git_details)

    # -- saving -------------------------------------------------------------------------------
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
        logger.info("checkpoint: update %d saved to %s", step, self.save_dir / "current.ckpt")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        selectable = getattr(pl_module, "selectable_as_best", None)
        if selectable is not None and not selectable():
            logger.info(
                "checkpoint: update %d is not compared for best.ckpt (the model's training "
                "recipe has not finished yet)",
                trainer.global_step,
            )
            return
        value = self._criteria_value(trainer)
        if value is None or math.isnan(value):
            return
        better = self.best_value is None or (value < self.best_value if self.minimize else value > self.best_value)
        if better:
            self.best_value, self.best_step = value, trainer.global_step
            self._save(trainer, self.save_dir / "best.ckpt")
            logger.info("checkpoint: best %s=%.4f at update %d", self.criteria, value, trainer.global_step)
        elif self.patience is not None and trainer.global_step - (self.best_step or 0) > self.patience:
            logger.info(
                "early stop: %s has not improved for %d updates (best %.4f at update %d)",
                self.criteria,
                trainer.global_step - (self.best_step or 0),
                self.best_value,
                self.best_step,
            )
            trainer.should_stop = True

    def _criteria_value(self, trainer: pl.Trainer) -> float | None:
        metrics = trainer.callback_metrics
        if self.criteria is None:
            candidates = [k for k in metrics if k.startswith("val/") and "loss" not in k]
            if not candidates:
                return None
            # overall metrics before per-group ones (val/<dataset>/<group>/<name>/...)
            self.criteria = min(candidates, key=lambda k: (k.count("/"), k))
            logger.info("checkpoint: best.ckpt follows %s (set training.early_stop.criteria to choose)", self.criteria)
        if self.criteria not in metrics:
            reported = ", ".join(sorted(k for k in metrics if k.startswith("val/"))) or "none"
            raise ConfigError(
                f"training.early_stop.criteria={self.criteria} names no reported metric; "
                f"validation reported: {reported}"
            )
        return float(metrics[self.criteria])


def _git_details() -> dict[str, str]:
    """MMF's git fields of the working copy, when the code runs from one (nothing otherwise)."""
    root = Path(__file__).resolve().parents[3]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    details = {
        "git/commit_hash": commit,
        "git/branch": git("rev-parse", "--abbrev-ref", "HEAD") or "",
        "git/commit_author": git("log", "-1", "--format=%an") or "",
        "git/commit_message": git("log", "-1", "--format=%s") or "",
    }
    details["git/dirty"] = "true" if git("status", "--porcelain", "--untracked-files=no") else "false"
    return details
