"""BaseModel: MMF's model contract on a LightningModule.

A model gets its own section of the config (`model_config.<name>`, with `model` set to its name),
builds its submodules in `build()`, and maps a SampleList to a dict with `scores` and/or
`losses`. As in MMF, the configured `losses:` are added to the output when `forward` returns none of
its own. The step methods below train on the total loss and return each
evaluation batch's output; gathering and measuring evaluation splits is the trainer's evaluator's
job (mmf_ext.trainers.evaluator), not the model's.
"""

from __future__ import annotations

import collections.abc
from dataclasses import dataclass
from typing import Any, Optional

import lightning.pytorch as pl
import torch
from omegaconf import MISSING, DictConfig, OmegaConf

from mmf_ext.common.sample import SampleList, convert_batch_to_sample_list
from mmf_ext.modules.losses import Losses
from mmf_ext.modules.optimizers import build_optimizer
from mmf_ext.modules.schedulers import build_scheduler
from mmf_ext.utils.configuration import get_global_config


class BaseModel(pl.LightningModule):
    """Subclass, register with `@registry.register_model("name")`, implement build/forward."""

    @dataclass
    class Config:
        model: str = MISSING
        losses: Optional[list[Any]] = MISSING  # noqa: UP045  (OmegaConf needs typing.Optional)

    def __init__(self, config: DictConfig | Any) -> None:
        super().__init__()
        if not isinstance(config, DictConfig) and isinstance(config, self.Config):
            config = OmegaConf.structured(config)
        self.config = config
        self._is_pretrained = False
        self.losses = Losses([])

    @classmethod
    def from_params(cls, **kwargs: Any) -> BaseModel:
        """MMF's constructor from keyword arguments of the model's `Config` dataclass."""
        return cls(OmegaConf.structured(cls.Config(**kwargs)))

    @property
    def is_pretrained(self) -> bool:
        return self._is_pretrained

    @is_pretrained.setter
    def is_pretrained(self, value: bool) -> None:
        self._is_pretrained = value

    # -- MMF contract -----------------------------------------------------------------------
    @classmethod
    def config_path(cls) -> str | None:
        """Path of this model's defaults yaml (`model_config: {<name>: {...}}`), or None."""
        return None

    def build(self) -> None:
        """Create submodules. Called once by the framework before training or loading."""
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    def init_losses(self) -> None:
        """The configured `losses:` (MMF's Losses); a model may also return its own from forward."""
        losses = self.config.get("losses") if self.config is not None else None
        self.losses = Losses(losses if losses is not None and not OmegaConf.is_missing(self.config, "losses") else [])

    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        """Return a dict with `scores` and optionally `losses` (name -> scalar tensor)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def forward_with_losses(self, sample_list: SampleList) -> dict[str, Any]:
        """MMF's model call: the forward output, with the configured losses when forward has none.

        (MMF overrides `__call__` for this; Lightning routes DDP's forward through `__call__`, so
        here the step methods call this instead.)
        """
        output = self(sample_list)
        if self.is_pretrained:
            return output
        if not isinstance(output, collections.abc.Mapping):
            raise TypeError(f"{type(self).__name__}.forward must return a dict, got {type(output).__name__}")
        if "losses" in output:
            if not isinstance(output["losses"], collections.abc.Mapping):
                raise TypeError(f"{type(self).__name__}.forward returned 'losses' that is not a dict")
        elif len(self.losses) and "targets" in sample_list:
            output = dict(output)
            output["losses"] = self.losses(sample_list, output)
        return output

    @classmethod
    def format_state_key(cls, key: str) -> str:
        """Map a checkpoint key of an older layout to this model's (applied by load_state_dict)."""
        return key

    def load_state_dict(self, state_dict: collections.abc.Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        renamed = collections.OrderedDict((self.format_state_key(k), v) for k, v in state_dict.items())
        return super().load_state_dict(renamed, *args, **kwargs)

    def weights_source(self) -> str | None:
        """What gave this model meaningful weights in build() without a checkpoint (e.g. a pretrained
        file its config names), so a run that does not train may evaluate it as is; None: its
        weights are random until trained or loaded (such a run needs checkpoint.allow_untrained)."""
        return None

    def selectable_as_best(self) -> bool:
        """Whether the current weights may become best.ckpt; a staged model says no mid-recipe."""
        return True

    def progress_label(self) -> str | None:
        """A few words for the progress bar (e.g. a staged model's current phase), or None."""
        return None

    def aggregate_eval_outputs(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, Any]:
        """Combine the per-sample outputs of a whole evaluation split, gathered from all ranks.

        The default keeps them as they are. A retrieval model overrides this to score every
        query against every gallery item once all of them have been encoded.
        """
        return model_output

    # -- Lightning steps --------------------------------------------------------------------
    def _named_losses(self, batch: SampleList, output: dict[str, Any]) -> dict[str, torch.Tensor]:
        prefix = f"{batch.dataset_type}/{batch.dataset_name}"
        return {
            (name if name.count("/") >= 2 else f"{prefix}/{name}"): value
            for name, value in (output.get("losses") or {}).items()
        }

    def training_step(self, batch: SampleList, batch_idx: int) -> torch.Tensor:
        batch = convert_batch_to_sample_list(batch)
        batch.dataset_type = "train"
        output = self.forward_with_losses(batch)
        losses = self._named_losses(batch, output)
        if not losses:
            raise RuntimeError(
                f"{type(self).__name__}.forward returned no losses in training and the model config "
                "lists none; return {'losses': {...}} or add `losses:` to the model config"
            )
        total = sum(value.mean() for value in losses.values())
        batch_size = batch.get_batch_size()
        for name, value in losses.items():
            self.log(name, value.detach().mean(), batch_size=batch_size, prog_bar=False)
        self.log("train/total_loss", total.detach(), batch_size=batch_size, prog_bar=True)
        self.current_loss_names = frozenset([*losses, "train/total_loss"])  # the progress line shows only these
        return total

    def _evaluation_step(self, batch: SampleList, split: str, log_losses: bool = True) -> dict[str, Any]:
        batch = convert_batch_to_sample_list(batch)
        batch.dataset_type = split
        output = self.forward_with_losses(batch)
        losses = self._named_losses(batch, output) if log_losses else {}
        if losses:
            size = batch.get_batch_size()
            for name, value in losses.items():
                self.log(name, value.detach().mean(), batch_size=size, sync_dist=True)
            total = sum(value.detach().mean() for value in losses.values())
            self.log(f"{split}/total_loss", total, batch_size=size, sync_dist=True)
        return output

    def validation_step(self, batch: SampleList, batch_idx: int) -> dict[str, Any]:
        return self._evaluation_step(batch, "val")

    def test_step(self, batch: SampleList, batch_idx: int) -> dict[str, Any]:
        return self._evaluation_step(batch, "test")

    def predict_step(self, batch: SampleList, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        datamodule = getattr(self.trainer, "datamodule", None)
        split = datamodule.predict_split() if datamodule is not None else "test"
        return self._evaluation_step(batch, split, log_losses=False)  # Lightning allows no logging here

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """MMF's: the optimizer of `optimizer`, and the scheduler when training.lr_scheduler is true."""
        config = get_global_config()
        optimizer = build_optimizer(self, config)
        scheduler = build_scheduler(optimizer, config)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
