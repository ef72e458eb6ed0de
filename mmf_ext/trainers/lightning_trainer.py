"""The trainer: turns a composed config into a Lightning run of the requested run_type.

Lightning does the loop, devices, precision, DDP, multi-node and checkpoint plumbing; this module
maps MMF's config keys onto it and keeps MMF's save-dir layout.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.modules.metrics import Metrics
from mmf_ext.trainers.callbacks import IntervalLogger, MMFCheckpoint
from mmf_ext.utils.checkpoint import AtomicCheckpointIO, load_model_weights
from mmf_ext.utils.configuration import save_config
from mmf_ext.utils.distributed import detect_launch
from mmf_ext.utils.errors import ConfigError
from mmf_ext.utils.logger import setup_logging
from mmf_ext.utils.predictions import write_predictions

logger = logging.getLogger("mmf_ext")

RUN_TYPES = ("train", "val", "test", "train_val", "train_val_test", "train_inference", "predict")


@registry.register_trainer("lightning")
class LightningTrainer:
    """Runs one config: build model and data, then train / evaluate / predict as run_type says."""

    def __init__(self, config: DictConfig) -> None:
        self.config = config
        self.run_type = str(config.run_type)
        if self.run_type not in RUN_TYPES:
            raise ConfigError(f"run_type={self.run_type!r} is unknown; choose one of {', '.join(RUN_TYPES)}")
        self.launch = detect_launch()
        self.save_dir = Path(config.env.save_dir).expanduser()
        self.results: dict[str, dict[str, float]] = {}
        self.prediction_files: tuple[Path, Path] | None = None

    # -- building ---------------------------------------------------------------------------
    def build_model(self) -> Any:
        name = self.config.model
        model = registry.get_model_class(name)(self.config.model_config[name])
        model.build()
        model.init_losses()
        model.run_config = self.config
        model.metrics = Metrics(self.config.evaluation.get("metrics"))
        model.reports_dir = self.save_dir / "reports"
        return model

    def build_datamodule(self) -> Any:
        names = [n for n in str(self.config.datasets).split(",") if n]
        if len(names) != 1:
            raise ConfigError(f"datasets={self.config.datasets!r}: runs use exactly one dataset; pass dataset=<name>")
        name = names[0]
        datamodule = registry.get_builder_class(name)()
        datamodule.dataset_name = name
        datamodule.configure(self.config.dataset_config[name], self.config)
        return datamodule

    def _resolve_max_updates(self, datamodule: Any) -> int:
        training = self.config.training
        if training.max_updates is not None:
            return int(training.max_updates)
        if training.max_epochs is None:
            raise ConfigError("set training.max_updates or training.max_epochs")
        train_size = len(datamodule.get_dataset("train"))
        per_epoch = max(1, train_size // int(training.batch_size))
        return int(math.ceil(float(training.max_epochs) * per_epoch))

    def _pl_trainer(self, max_updates: int, validate_during_fit: bool) -> pl.Trainer:
        training, distributed = self.config.training, self.config.distributed
        on_cuda = torch.cuda.is_available() and distributed.accelerator in ("auto", "gpu", "cuda")
        accelerator = "gpu" if on_cuda else "cpu"
        devices = self.launch.devices_per_node
        num_nodes = int(distributed.num_nodes or self.launch.num_nodes)
        world = devices * num_nodes
        backend = distributed.backend or ("nccl" if on_cuda else "gloo")
        strategy: Any = DDPStrategy(process_group_backend=backend) if world > 1 else "auto"
        if training.fp16:
            precision = "16-mixed" if on_cuda else "bf16-mixed"
        else:
            precision = "32-true"

        criteria = training.early_stop.get("criteria")
        callbacks: list[Any] = [
            MMFCheckpoint(
                self.save_dir,
                criteria,
                bool(training.early_stop.minimize),
                int(self.config.checkpoint.get("max_to_keep", -1)),
                int(training.checkpoint_interval),
            ),
            IntervalLogger(int(training.log_interval)),
        ]
        if training.early_stop.enabled:
            if not criteria:
                raise ConfigError("training.early_stop.enabled=true needs training.early_stop.criteria, e.g. val/<dataset>/<metric>")
            callbacks.append(
                EarlyStopping(
                    monitor=criteria,
                    mode="min" if training.early_stop.minimize else "max",
                    patience=int(training.early_stop.patience),
                    check_on_train_epoch_end=False,
                )
            )
        if training.progress_bar:
            callbacks.append(TQDMProgressBar(refresh_rate=max(1, int(training.log_interval) // 10)))

        loggers: list[Any] = [CSVLogger(save_dir=str(self.save_dir), name="logs")]
        try:
            from lightning.pytorch.loggers import TensorBoardLogger
            import tensorboard  # noqa: F401

            loggers.append(TensorBoardLogger(save_dir=str(self.save_dir), name="tensorboard"))
        except ImportError:
            pass

        evaluation_interval = min(int(training.evaluation_interval), max_updates)
        return pl.Trainer(
            accelerator=accelerator,
            devices=devices,
            num_nodes=num_nodes,
            strategy=strategy,
            precision=precision,
            max_steps=max_updates,
            max_epochs=-1,
            val_check_interval=evaluation_interval if validate_during_fit else 1.0,
            check_val_every_n_epoch=None if validate_during_fit else 1,
            limit_val_batches=None if validate_during_fit else 0,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
            use_distributed_sampler=False,
            log_every_n_steps=max(1, int(training.log_interval)),
            gradient_clip_val=training.get("gradient_clip_val"),
            accumulate_grad_batches=int(training.get("accumulate_grad_batches", 1)),
            callbacks=callbacks,
            logger=loggers,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=str(self.save_dir),
            enable_progress_bar=bool(training.progress_bar),
            enable_model_summary=self.launch.rank == 0,
            detect_anomaly=bool(training.get("detect_anomaly", False)),
        )

    # -- checkpoints ------------------------------------------------------------------------
    def _resume_path(self) -> str | None:
        checkpoint = self.config.checkpoint
        if checkpoint.resume_file and not checkpoint.resume_pretrained:
            path = Path(checkpoint.resume_file).expanduser()
            if not path.is_file():
                raise ConfigError(f"checkpoint.resume_file={checkpoint.resume_file}: no such file")
            return str(path)
        if checkpoint.resume or checkpoint.resume_best:
            name = "best.ckpt" if checkpoint.resume_best else "current.ckpt"
            path = self.save_dir / name
            if path.is_file():
                logger.info("resuming from %s", path)
                return str(path)
            if checkpoint.resume_best:
                raise ConfigError(f"checkpoint.resume_best=true but {path} does not exist")
            logger.info("checkpoint.resume=true but %s does not exist yet; starting fresh", path)
        return None

    def _load_pretrained(self, model: Any) -> None:
        checkpoint = self.config.checkpoint
        if not checkpoint.resume_pretrained:
            return
        if not checkpoint.resume_file:
            raise ConfigError("checkpoint.resume_pretrained=true needs checkpoint.resume_file=PATH")
        mapping = checkpoint.get("pretrained_state_mapping")
        mapping = OmegaConf.to_container(mapping, resolve=True) if OmegaConf.is_config(mapping) else dict(mapping or {})
        missing, unexpected = load_model_weights(model, checkpoint.resume_file, mapping)
        logger.info(
            "loaded pretrained weights from %s (%d missing, %d unexpected keys)",
            checkpoint.resume_file, len(missing), len(unexpected),
        )

    # -- running ----------------------------------------------------------------------------
    def run(self) -> dict[str, dict[str, float]]:
        is_main = self.launch.rank == 0
        setup_logging(self.save_dir, is_main)
        pl.seed_everything(int(self.config.training.seed), workers=True, verbose=False)
        if is_main:
            save_config(self.config, self.save_dir)
        model = self.build_model()
        datamodule = self.build_datamodule()
        self._load_pretrained(model)
        ckpt_path = self._resume_path()

        training = "train" in self.run_type
        datamodule.prepare_data()
        if training:
            datamodule.setup("fit")
            max_updates = self._resume_max(datamodule)
        else:
            max_updates = 1
        validate_during_fit = self.run_type in ("train_val", "train_val_test")
        trainer = self._pl_trainer(max_updates, validate_during_fit)

        if training:
            logger.info("training %s on %s for %d updates", self.config.model, self.config.datasets, max_updates)
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
            ckpt_path = None  # evaluate the weights training ended with
            if validate_during_fit and model.last_eval_steps.get("val") != trainer.global_step:
                trainer.validate(model, datamodule=datamodule)
        elif self.run_type == "val":
            trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if self.run_type in ("test", "train_val_test", "train_inference"):
            trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if self.run_type in ("predict", "train_inference"):
            trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt_path, return_predictions=False)
            if trainer.is_global_zero:
                split = datamodule.predict_split()
                stem = f"{datamodule.dataset_name}_{split}_predictions"
                self.prediction_files = write_predictions(model.last_predictions, self.save_dir / "reports", stem)
                logger.info("predictions written to %s and %s", *self.prediction_files)
        self.results = {k: v for k, v in model.last_eval_results.items() if isinstance(v, dict)}
        self.model, self.trainer = model, trainer
        return self.results

    def _resume_max(self, datamodule: Any) -> int:
        max_updates = self._resolve_max_updates(datamodule)
        self.config.training.max_updates = max_updates
        return max_updates
