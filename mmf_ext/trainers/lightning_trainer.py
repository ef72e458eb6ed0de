"""The trainer: one composed config run as the requested run_type on a Lightning Trainer.

Lightning does the loop, devices, precision, DDP, multi-node and checkpoint plumbing;
mmf_ext.trainers.lightning_setup maps MMF's keys onto it, the callbacks keep MMF's save-dir layout,
early stopping and evaluation. As in MMF, a training run with validation ends by restoring
best.ckpt (when one was written) and writing `<model>_final.pth`; testing then uses those weights.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from mmf_ext.common.registry import registry
from mmf_ext.modules.metrics import Metrics
from mmf_ext.trainers import lightning_setup as setup
from mmf_ext.trainers.callbacks import EvaluationLoop, IntervalLogger, LoadAwareThreads, MMFCheckpoint, NaNLossStop
from mmf_ext.trainers.callbacks.checkpoint import check_criteria_at_start
from mmf_ext.trainers.resume import StartPoint, check_start_checkpoint, load_start_weights, start_point
from mmf_ext.utils.build import build_model
from mmf_ext.utils.checkpoint import AtomicCheckpointIO, load_checkpoint_file
from mmf_ext.utils.configuration import log_detailed_config, save_config
from mmf_ext.utils.distributed import detect_launch
from mmf_ext.utils.errors import ConfigError
from mmf_ext.utils.file_io import atomic_write
from mmf_ext.utils.logger import setup_logging

logger = logging.getLogger("mmf_ext")

RUN_TYPES = ("train", "val", "test", "train_val", "train_val_test", "train_inference", "predict")


def evaluation_run_dir(save_dir: Path, run_type: str) -> Path:
    """`<save_dir>/<run_type>/<time>/` for a run that does not train (a number added if it exists)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    folder = save_dir / run_type / stamp
    count = 1
    while folder.exists():
        folder = save_dir / run_type / f"{stamp}_{count}"
        count += 1
    return folder


class _RestoreOptimizerState(Callback):
    """checkpoint.reset.counts: the optimizer's state from the checkpoint, the update count from 0."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for optimizer, state in zip(trainer.optimizers, self.states):
            optimizer.load_state_dict(state)


@registry.register_trainer("mmf")
@registry.register_trainer("lightning")
class LightningTrainer:
    """Runs one config: build model and data, then train / evaluate / predict as run_type says."""

    def __init__(self, config: DictConfig) -> None:
        self.config = config
        self.run_type = str(config.run_type)
        if self.run_type not in RUN_TYPES:
            raise ConfigError(f"run_type={self.run_type!r} is unknown; choose one of {', '.join(RUN_TYPES)}")
        registry.register("config", config)
        self.launch = detect_launch()
        self.save_dir = Path(config.env.save_dir).expanduser()
        # A run that does not train never touches the training run's files: it gets its own folder.
        self.run_dir = self.save_dir if "train" in self.run_type else evaluation_run_dir(self.save_dir, self.run_type)
        self.log_dir = Path(config.env.log_dir).expanduser() if config.env.log_dir else self.run_dir
        self.reports_dir = (
            Path(config.env.report_dir).expanduser() if config.env.report_dir else self.run_dir / "reports"
        )
        self.results: dict[str, dict[str, float]] = {}
        self.prediction_files: list[Path] = []
        self.model: Any = None
        self.trainer: pl.Trainer | None = None

    @property
    def num_updates(self) -> int:
        """The update count (MMF's trainer attribute, read by MMF-style callbacks)."""
        return int(self.trainer.global_step) if self.trainer is not None else 0

    # -- building ---------------------------------------------------------------------------
    def build_model(self) -> Any:
        return build_model(self.config)

    def build_datamodule(self) -> Any:
        names = [n for n in str(self.config.datasets).split(",") if n]
        if len(names) != 1:
            raise ConfigError(f"datasets={self.config.datasets!r}: runs use exactly one dataset; pass dataset=<name>")
        datamodule = registry.get_builder_class(names[0])()
        datamodule.dataset_name = names[0]
        datamodule.configure(self.config.dataset_config[names[0]], self.config)
        return datamodule

    def _pl_trainer(self, plan: setup.DevicePlan, max_updates: int, callbacks: list[Callback]) -> pl.Trainer:
        training = self.config.training
        validate_during_fit = self.run_type in ("train_val", "train_val_test")
        skip_validation = "train" in self.run_type and not validate_during_fit
        evaluation_interval = min(int(training.evaluation_interval), max_updates)
        return pl.Trainer(
            accelerator=plan.accelerator,
            devices=plan.devices,
            num_nodes=plan.num_nodes,
            strategy=setup.strategy(self.config, plan),
            precision=setup.precision(self.config, plan),
            max_steps=max_updates,
            max_epochs=-1,
            val_check_interval=evaluation_interval * int(training.update_frequency) if validate_during_fit else 1.0,
            check_val_every_n_epoch=None if validate_during_fit else 1,
            limit_val_batches=0 if skip_validation else None,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
            use_distributed_sampler=False,
            log_every_n_steps=max(1, int(training.log_interval)),
            accumulate_grad_batches=int(training.update_frequency),
            benchmark=bool(training.cudnn_benchmark),
            callbacks=callbacks,
            logger=setup.loggers(self.config, self.run_dir, self.log_dir),
            plugins=[AtomicCheckpointIO()],
            default_root_dir=str(self.run_dir),
            enable_progress_bar=False,  # UpdateProgressBar (training.progress_bar) counts updates instead
            enable_model_summary=False,
            detect_anomaly=bool(training.detect_anomaly),
            **setup.gradient_clipping(self.config),
        )

    def _callbacks(
        self, point: StartPoint, plan: setup.DevicePlan
    ) -> tuple[list[Callback], MMFCheckpoint, EvaluationLoop]:
        training, evaluation = self.config.training, self.config.evaluation
        checkpoint = MMFCheckpoint(
            self.save_dir,
            training.early_stop.criteria,
            bool(training.early_stop.minimize),
            int(self.config.checkpoint.max_to_keep),
            int(training.checkpoint_interval),
            patience=int(training.early_stop.patience) if training.early_stop.enabled else None,
            run_config=self.config,
            save_git_details=bool(self.config.checkpoint.save_git_details),
        )
        predict = bool(evaluation.predict) or self.run_type == "predict"
        metrics = Metrics(evaluation.metrics)
        if self.run_type in ("train_val", "train_val_test"):
            check_criteria_at_start(training.early_stop.criteria, metrics, str(self.config.datasets))
        loop = EvaluationLoop(
            metrics, self.reports_dir, predict, str(evaluation.predict_file_format), bool(evaluation.use_cpu)
        )
        callbacks: list[Callback] = [
            loop,
            checkpoint,
            IntervalLogger(int(training.log_interval), not setup.shows_progress_bar(self.config)),
        ]
        if training.exit_on_nan_losses:
            callbacks.append(NaNLossStop())
        if training.load_aware_threads and plan.accelerator == "cpu":
            callbacks.append(LoadAwareThreads())
        if point.optimizer_state:
            callbacks.append(_RestoreOptimizerState(point.optimizer_state))
        callbacks += setup.user_callbacks(self.config, self) + setup.progress_callbacks(self.config)
        return callbacks, checkpoint, loop

    # -- running ----------------------------------------------------------------------------
    def _setup_run(self) -> None:
        training = self.config.training
        is_main = self.launch.rank == 0
        setup_logging(
            self.log_dir,
            is_main,
            str(training.logger_level),
            str(training.log_format),
            bool(training.colored_logs),
            bool(training.should_not_log),
        )
        setup.quiet_lightning()
        seed = training.seed
        if seed is not None:
            if int(seed) == -1:
                seed = training.seed = random.randint(1, 100_000)
                logger.info("training.seed=-1: using seed %d", seed)
            pl.seed_everything(int(seed) + self.launch.rank, workers=True, verbose=False)  # MMF: seed + rank
        setup.apply_init_method(self.config)

    def run(self) -> dict[str, dict[str, float]]:
        self._setup_run()
        plan = setup.device_plan(self.config, self.launch)
        datamodule = self.build_datamodule()
        setup.cpu_threads(self.config, plan, log=self.launch.rank == 0, datamodule=datamodule)
        self.config.training.batch_size = setup.global_batch_size(self.config, plan.world_size)
        model = self.model = self.build_model()
        point = start_point(self.config, self.save_dir)
        self._check_weights(model, point)
        load_start_weights(model, self.config, point)
        callbacks, checkpoint, loop = self._callbacks(point, plan)  # config errors before any data work
        datamodule.prepare_data()
        max_updates = 1
        if "train" in self.run_type:
            datamodule.setup("fit")
            max_updates = setup.max_updates(self.config, len(datamodule.get_dataset("train")))
            self.config.training.max_updates = max_updates
        if self.launch.rank == 0:  # the resolved values (global batch, updates) as the run uses them
            save_config(self.config, self.run_dir)
            log_detailed_config(self.config)
            total = sum(p.numel() for p in model.parameters())
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            logger.info("model %s: %s parameters (%s trainable)", self.config.model, f"{total:,}", f"{trainable:,}")
        trainer = self.trainer = self._pl_trainer(plan, max_updates, callbacks)
        try:
            self._run_stages(trainer, model, datamodule, point, checkpoint, loop)
        finally:
            if point.temporary is not None:
                point.temporary.unlink(missing_ok=True)
        self.results = dict(loop.results)
        self.prediction_files = list(loop.prediction_files)
        if self.launch.rank == 0:
            self._summary(checkpoint, loop.metrics)
        return self.results

    def _check_weights(self, model: Any, point: StartPoint) -> None:
        """No silent runs of untrained weights; no checkpoint of another model or shape."""
        check_start_checkpoint(model, self.config, point)
        if "train" in self.run_type or point.ckpt_path is not None or point.weights_from is not None:
            return
        source = model.weights_source()  # a model whose config gave it its weights (pretrained features)
        if source is not None:
            logger.info("model %s: no checkpoint; evaluating the weights of %s", self.config.model, source)
            return
        if not self.config.checkpoint.allow_untrained:
            raise ConfigError(
                f"run_type={self.run_type} would evaluate untrained weights: give checkpoint.resume_file=PATH "
                "(or checkpoint.resume=true for <save_dir>/current.ckpt), or checkpoint.allow_untrained=true "
                "to measure an untrained model on purpose"
            )

    def _summary(self, checkpoint: MMFCheckpoint, metrics: Metrics) -> None:
        """The closing lines: headline metrics, rounded, one line per name group, and where everything went."""
        for split, values in self.results.items():
            groups: dict[str, dict[str, float]] = {}  # `within_category/median_rank` -> group within_category
            for key, value in values.items():
                if metrics.is_headline(key):
                    group, _, name = key.split("/", 2)[2].rpartition("/")
                    groups.setdefault(group, {})[name] = value
            for group, headline in groups.items():
                text = ", ".join(f"{name} {value:.4g}" for name, value in headline.items())
                logger.info("%s: %s", f"{split} {group}" if group else split, text)
        if "train" in self.run_type:
            best = f", best.ckpt (update {checkpoint.best_step})" if checkpoint.best_step is not None else ""
            logger.info("checkpoints: %s (current.ckpt%s, models/)", self.save_dir, best)
        for path in self.prediction_files:
            logger.info("predictions: %s", path)
        logger.info(
            "reports: %s; log: %s; config: %s",
            self.reports_dir,
            self.log_dir / "train.log",
            self.run_dir / "config.yaml",
        )

    def _run_stages(
        self,
        trainer: pl.Trainer,
        model: Any,
        datamodule: Any,
        point: StartPoint,
        checkpoint: MMFCheckpoint,
        loop: EvaluationLoop,
    ) -> None:
        ckpt_path = point.ckpt_path
        if "train" in self.run_type:
            logger.info("training %s on %s for %d updates", self.config.model, self.config.datasets, trainer.max_steps)
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
            ckpt_path = None  # evaluate the weights training ended with (or the restored best)
            validates = self.run_type in ("train_val", "train_val_test")
            if validates and loop.steps.get("val") != trainer.global_step:
                trainer.validate(model, datamodule=datamodule, verbose=False)
            if validates:
                self._restore_best(model, checkpoint)
            self._write_final(model)
        elif self.run_type == "val" or (self.config.evaluation.predict and "val" in self.run_type):
            trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
        if self.run_type in ("test", "train_val_test", "train_inference"):
            trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
        if self.run_type == "predict":
            trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt_path, return_predictions=False)

    def _restore_best(self, model: Any, checkpoint: MMFCheckpoint) -> None:
        """MMF's end of training: the best checkpoint's weights, when this run wrote one."""
        best = self.save_dir / "best.ckpt"
        if checkpoint.best_step is None or not best.is_file():
            return
        state = load_checkpoint_file(best)["state_dict"]
        model.load_state_dict(state)
        logger.info(
            "restored best.ckpt (update %d, %s=%.4f) for what follows",
            checkpoint.best_step,
            checkpoint.criteria,
            checkpoint.best_value,
        )

    def _write_final(self, model: Any) -> None:
        if self.launch.rank != 0:
            return
        path = self.save_dir / f"{self.config.model}_final.pth"
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        atomic_write(path, lambda handle: torch.save(state, handle))
