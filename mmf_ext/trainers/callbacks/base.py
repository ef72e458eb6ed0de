"""MMF-style callbacks (`training.callbacks`), run on Lightning's hooks.

An MMF callback subclasses `Callback` here (MMF's `mmf.trainers.callbacks.base.Callback`):
`__init__(self, config, trainer)` and hooks such as `on_train_start`, `on_update_end`,
`on_validation_end`, called with keyword arguments. `trainer` is this framework's trainer, with
`config`, `model` and `num_updates`. A registered Lightning `Callback` class is used as it is.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig


class Callback:
    """MMF's callback base class: override the hooks you need."""

    def __init__(self, config: DictConfig, trainer: Any) -> None:
        self.config = config
        self.trainer = trainer
        self.training_config = config.training

    def teardown(self, **kwargs: Any) -> None: ...
    def on_init_start(self, **kwargs: Any) -> None: ...
    def on_init_end(self, **kwargs: Any) -> None: ...
    def on_train_start(self, **kwargs: Any) -> None: ...
    def on_train_end(self, **kwargs: Any) -> None: ...
    def on_batch_start(self, **kwargs: Any) -> None: ...
    def on_batch_end(self, **kwargs: Any) -> None: ...
    def on_update_start(self, **kwargs: Any) -> None: ...
    def on_update_end(self, **kwargs: Any) -> None: ...
    def on_validation_start(self, **kwargs: Any) -> None: ...
    def on_validation_end(self, **kwargs: Any) -> None: ...
    def on_validation_batch_start(self, **kwargs: Any) -> None: ...
    def on_validation_batch_end(self, **kwargs: Any) -> None: ...
    def on_test_start(self, **kwargs: Any) -> None: ...
    def on_test_end(self, **kwargs: Any) -> None: ...
    def on_test_batch_start(self, **kwargs: Any) -> None: ...
    def on_test_batch_end(self, **kwargs: Any) -> None: ...
    def on_prediction_start(self, **kwargs: Any) -> None: ...
    def on_prediction_end(self, **kwargs: Any) -> None: ...


class MMFCallbackAdapter(pl.Callback):
    """Calls an MMF-style callback's hooks from the matching Lightning hooks."""

    def __init__(self, callback: Callback, update_frequency: int = 1) -> None:
        self.callback = callback
        self.update_frequency = max(1, update_frequency)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_init_start()
        self.callback.on_init_end()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_train_start()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_train_end()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.callback.on_batch_start(batch=batch)
        if batch_idx % self.update_frequency == 0:
            self.callback.on_update_start(batch=batch)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.callback.on_batch_end(batch=batch, outputs=outputs)
        if (batch_idx + 1) % self.update_frequency == 0:
            self.callback.on_update_end(batch=batch, outputs=outputs, update=trainer.global_step)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.callback.on_validation_start()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.callback.on_validation_end(metrics=dict(trainer.callback_metrics))

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.callback.on_validation_batch_end(batch=batch, outputs=outputs)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_test_start()

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_test_end(metrics=dict(trainer.callback_metrics))

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.callback.on_test_batch_end(batch=batch, outputs=outputs)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_prediction_start()

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.callback.on_prediction_end()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.callback.teardown()
