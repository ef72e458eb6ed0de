"""BaseModel: MMF's model contract on a LightningModule.

A model gets its own section of the config (`model_config.<name>`), builds its submodules in
`build()`, and maps a SampleList to a dict with `scores` and/or `losses`. The framework owns the
loop: the Lightning step methods below call `forward`, add configured losses, log them as
`<split>/<dataset>/<loss>`, and collect evaluation outputs, which are gathered over ranks and
passed once through `aggregate_eval_outputs` before metrics run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from mmf_ext.common.sample import SampleList
from mmf_ext.modules.losses import Losses
from mmf_ext.modules.metrics import Metrics
from mmf_ext.trainers.evaluation import EvaluationCollector

logger = logging.getLogger("mmf_ext")


class BaseModel(pl.LightningModule):
    """Subclass, register with `@registry.register_model("name")`, implement build/forward."""

    def __init__(self, config: DictConfig) -> None:
        super().__init__()
        self.config = config
        self._is_built = False
        self.losses = Losses(None)
        # Set by the trainer before a run: the whole run config, metrics and the reports folder.
        self.run_config: DictConfig | None = None
        self.metrics = Metrics(None)
        self.reports_dir: Path | None = None
        self.last_eval_results: dict[str, dict[str, float]] = {}
        self.last_eval_steps: dict[str, int] = {}
        self.last_predictions: list[dict[str, Any]] = []
        self._collector: EvaluationCollector | None = None

    # -- MMF contract -----------------------------------------------------------------------
    @classmethod
    def config_path(cls) -> str | None:
        """Path of this model's defaults yaml (`model_config: {<name>: {...}}`), or None."""
        return None

    def build(self) -> None:
        """Create submodules. Called once by the framework before training or loading."""
        raise NotImplementedError

    def selectable_as_best(self) -> bool:
        """Whether the current weights may become best.ckpt; a staged model says no mid-recipe."""
        return True

    def init_losses(self) -> None:
        self.losses = Losses(self.config.get("losses") if self.config is not None else None)

    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        """Return a dict with `scores` and optionally `losses` (name -> scalar tensor)."""
        raise NotImplementedError

    def format_state_key(self, key: str) -> str:
        """Map a checkpoint key of an older layout to this model's (for pretrained loading)."""
        return key

    def aggregate_eval_outputs(
        self, sample_list: SampleList, model_output: dict[str, Any]
    ) -> dict[str, Any]:
        """Combine the per-sample outputs of a whole evaluation split, gathered from all ranks.

        The default keeps them as they are. A retrieval model overrides this to score every
        query against every gallery item once all of them have been encoded.
        """
        return model_output

    # -- training ---------------------------------------------------------------------------
    def _named_losses(self, batch: SampleList, output: dict[str, Any]) -> dict[str, torch.Tensor]:
        prefix = f"{batch.dataset_type}/{batch.dataset_name}"
        losses = {
            (name if name.count("/") >= 2 else f"{prefix}/{name}"): value
            for name, value in (output.get("losses") or {}).items()
        }
        if len(self.losses):
            losses.update(self.losses(batch, output))
        return losses

    def training_step(self, batch: SampleList, batch_idx: int) -> torch.Tensor:
        batch.dataset_type = "train"
        output = self(batch)
        losses = self._named_losses(batch, output)
        if not losses:
            raise RuntimeError(
                f"{type(self).__name__}.forward returned no losses in training and the model config "
                "lists none; return {'losses': {...}} or add `losses:` to the model config"
            )
        total = sum(losses.values())
        batch_size = batch.get_batch_size()
        for name, value in losses.items():
            self.log(name, value.detach(), batch_size=batch_size, prog_bar=False)
        self.log("train/total_loss", total.detach(), batch_size=batch_size, prog_bar=True)
        return total

    # -- evaluation -------------------------------------------------------------------------
    def _eval_fields(self, split: str) -> tuple[str, ...]:
        datamodule = getattr(self.trainer, "datamodule", None)
        dataset = datamodule.get_dataset(split) if datamodule is not None else None
        return tuple(getattr(dataset, "eval_sample_fields", ("targets",)))

    def _eval_step(self, batch: SampleList, split: str) -> None:
        batch.dataset_type = split
        if self._collector is None:
            self._collector = EvaluationCollector(self._eval_fields(split))
        output = self(batch)
        losses = self._named_losses(batch, output) if output.get("losses") else {}
        for name, value in losses.items():
            self.log(name, value.detach(), batch_size=batch.get_batch_size(), sync_dist=True)
        self._collector.add(batch, output)

    def validation_step(self, batch: SampleList, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: SampleList, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: SampleList, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = self.trainer.datamodule.predict_split() if getattr(self.trainer, "datamodule", None) else "test"
        self._eval_step(batch, split)

    def _finish_eval(self, split: str) -> tuple[SampleList, dict[str, Any]] | None:
        collector, self._collector = self._collector, None
        if collector is None:
            collector = EvaluationCollector(())
        sample_list, output = collector.gather()
        datamodule = getattr(self.trainer, "datamodule", None)
        dataset_name = getattr(datamodule, "dataset_name", "dataset")
        sample_list.dataset_name, sample_list.dataset_type = dataset_name, split
        with torch.no_grad():
            output = self.aggregate_eval_outputs(sample_list, output)
        return sample_list, output

    def _evaluate_split(self, split: str) -> None:
        if self.trainer.sanity_checking:
            self._collector = None
            return
        sample_list, output = self._finish_eval(split)
        dataset_name = sample_list.dataset_name
        values = self.metrics.compute(sample_list, output) if len(self.metrics) else {}
        named = {f"{split}/{dataset_name}/{key}": value.float() for key, value in values.items()}
        if named:
            self.log_dict(named, sync_dist=False, rank_zero_only=False)
        self.last_eval_results[split] = {k: float(v) for k, v in named.items()}
        self.last_eval_steps[split] = int(self.global_step)
        if self.trainer.is_global_zero:
            for name, value in named.items():
                logger.info("%s: %.4f", name, float(value))
            if self.reports_dir is not None:
                for metric in self.metrics:
                    text = metric.write_report(split, dataset_name, self.reports_dir)
                    if text:
                        logger.info("%s", text)

    def on_validation_epoch_end(self) -> None:
        self._evaluate_split("val")

    def on_test_epoch_end(self) -> None:
        self._evaluate_split("test")

    def on_predict_epoch_end(self) -> None:
        split = self.trainer.datamodule.predict_split() if getattr(self.trainer, "datamodule", None) else "test"
        sample_list, output = self._finish_eval(split)
        dataset = self.trainer.datamodule.get_dataset(split)
        self.last_predictions = dataset.format_for_prediction(sample_list, output)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        from mmf_ext.trainers.optim import build_optimizer, build_scheduler

        optimizer = build_optimizer(self.parameters(), self.run_config)
        scheduler = build_scheduler(optimizer, self.run_config, int(self.trainer.max_steps))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
