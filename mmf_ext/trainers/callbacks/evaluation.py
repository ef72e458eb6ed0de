"""The evaluation loop as a callback: each val / test / predict split goes through a DatasetEvaluator.

The model's step returns its per-batch output; this callback hands it to the split's evaluator,
and at the end of the split logs the gathered values (identical on every rank, so early stopping
and best.ckpt decide alike everywhere), writes the metrics' reports and, for prediction, the rows
the dataset formats. The trainer reads `results` and `prediction_files` from here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from mmf_ext.datasets.base_dataset import prediction_rows
from mmf_ext.modules.metrics import Metrics
from mmf_ext.trainers.evaluator import DatasetEvaluator, EvaluationResult
from mmf_ext.utils.logger import FILE_ONLY
from mmf_ext.utils.predictions import write_predictions

logger = logging.getLogger("mmf_ext")


class EvaluationLoop(Callback):
    """Drives one DatasetEvaluator per evaluated split and keeps what they produced."""

    def __init__(
        self,
        metrics: Metrics,
        reports_dir: Path,
        predict: bool = False,
        predict_file_format: str = "json",
        use_cpu: bool = False,
    ) -> None:
        self.metrics = metrics
        self.reports_dir = Path(reports_dir)
        self.predict = predict
        self.predict_file_format = predict_file_format
        self.use_cpu = use_cpu
        self.results: dict[str, dict[str, float]] = {}
        self.steps: dict[str, int] = {}
        self.prediction_files: list[Path] = []
        self._evaluator: DatasetEvaluator | None = None

    # -- one split ------------------------------------------------------------------------------
    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> None:
        datamodule = trainer.datamodule
        dataset = datamodule.get_dataset(split)
        self._evaluator = DatasetEvaluator(
            split,
            datamodule.dataset_name,
            tuple(getattr(dataset, "eval_sample_fields", ("targets",))),
            self.metrics,
            pl_module.aggregate_eval_outputs,
            device=None if self.use_cpu else pl_module.device,
        )

    def _process(self, outputs: Any, batch: Any) -> None:
        if self._evaluator is not None and isinstance(outputs, dict):
            self._evaluator.process(batch, outputs)

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule, predict: bool = False) -> None:
        evaluator, self._evaluator = self._evaluator, None
        if evaluator is None:
            return
        result = evaluator.evaluate(measure=not predict)
        if result.values:
            pl_module.log_dict({k: v.float() for k, v in result.values.items()}, sync_dist=False, rank_zero_only=False)
        self.results[result.split] = {k: float(v) for k, v in result.values.items()}
        self.steps[result.split] = int(trainer.global_step)
        if trainer.is_global_zero:
            self._report(result)
            if predict:
                self._write_predictions(trainer, result)

    def _report(self, result: EvaluationResult) -> None:
        """Headline values on the terminal and in train.log; per-group values and report tables in train.log."""
        for name, value in result.values.items():
            logger.info("%s: %.4f", name, float(value), extra=None if self.metrics.is_headline(name) else FILE_ONLY)
        for metric, report in result.reports:
            text = metric.write_report(report, result.split, result.dataset_name, self.reports_dir)
            if text:
                logger.info("%s", text, extra=FILE_ONLY)

    def _write_predictions(self, trainer: pl.Trainer, result: EvaluationResult) -> None:
        dataset = trainer.datamodule.get_dataset(result.split)
        rows = prediction_rows(dataset, result.sample_list, result.output)
        stem = f"{result.dataset_name}_{result.split}_predictions"
        path = write_predictions(rows, self.reports_dir, stem, self.predict_file_format)
        self.prediction_files.append(path)
        logger.info("predictions: %d rows written to %s", len(rows), path)

    # -- Lightning hooks ------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._start(trainer, pl_module, "val")

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self._process(outputs, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._finish(trainer, pl_module, predict=self.predict and trainer.state.fn != "fit")

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module, "test")

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._process(outputs, batch)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, pl_module, predict=self.predict)

    def on_predict_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module, trainer.datamodule.predict_split())

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._process(outputs, batch)

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, pl_module, predict=True)
