"""MMF's training keys mapped onto a Lightning Trainer: devices, processes, precision, clipping, loggers.

Each function reads one group of keys and returns what Lightning needs, so every key has one place
where it takes effect.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.trainers.callbacks.base import Callback as MMFStyleCallback
from mmf_ext.trainers.callbacks.base import MMFCallbackAdapter
from mmf_ext.trainers.callbacks.logistics import UpdateProgressBar
from mmf_ext.utils.configuration import component_entries
from mmf_ext.utils.distributed import LaunchInfo
from mmf_ext.utils.errors import ConfigError
from mmf_ext.utils.general import global_batch
from mmf_ext.utils.threads import ThreadPlan, apply_thread_policy

logger = logging.getLogger("mmf_ext")


@dataclass(frozen=True)
class DevicePlan:
    """Where the run goes: Lightning's accelerator, devices per node, nodes and the process backend."""

    accelerator: str
    devices: int
    num_nodes: int
    backend: str

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes


def device_plan(config: DictConfig, launch: LaunchInfo) -> DevicePlan:
    """training.device, distributed.world_size / no_spawn / num_nodes / backend, and the launcher."""
    device = str(config.training.device)
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"training.device={device!r}; choose cuda or cpu")
    on_cuda = device.startswith("cuda") and torch.cuda.is_available()
    if device.startswith("cuda") and not on_cuda and launch.rank == 0:
        logger.info("training.device=cuda but no GPU is visible: running on the CPU")
    distributed = config.distributed
    if launch.launcher != "none":
        if distributed.world_size is not None and int(distributed.world_size) != launch.world_size:
            raise ConfigError(
                f"distributed.world_size={distributed.world_size} but the launcher ({launch.launcher}) started "
                f"{launch.world_size} processes; remove distributed.world_size or launch that many"
            )
        devices, num_nodes = launch.devices_per_node, int(distributed.num_nodes or launch.num_nodes)
    else:
        num_nodes = int(distributed.num_nodes or 1)
        world = (
            1 if distributed.no_spawn else int(distributed.world_size or (torch.cuda.device_count() if on_cuda else 1))
        )
        devices = max(1, world // num_nodes)
    backend = distributed.backend or ("nccl" if on_cuda else "gloo")
    return DevicePlan("gpu" if on_cuda else "cpu", devices, num_nodes, str(backend))


def cpu_threads(config: DictConfig, plan: DevicePlan, log: bool, datamodule: Any = None) -> ThreadPlan:
    """training.cpu_threads and num_workers through the thread policy; the node's CPUs shared by its processes,
    each worker taking the share of a CPU its dataset says it keeps busy (a whole one for a datamodule that
    does not say: BaseDatasetBuilder.worker_cpu_share)."""
    share = datamodule.worker_cpu_share() if hasattr(datamodule, "worker_cpu_share") else 1.0
    workers = int(config.training.num_workers)
    return apply_thread_policy(config.training.cpu_threads, workers, plan.devices, log, share)


def apply_init_method(config: DictConfig) -> None:
    """distributed.init_method (tcp://host:port) and distributed.port as Lightning's MASTER_ADDR / PORT."""
    init_method = config.distributed.init_method
    if init_method:
        parsed = urlparse(str(init_method))
        if parsed.scheme == "tcp" and parsed.hostname and parsed.port:
            os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = parsed.hostname, str(parsed.port)
        elif parsed.scheme != "env":
            raise ConfigError(f"distributed.init_method={init_method}: write tcp://HOST:PORT (or env://)")
    if int(config.distributed.port) > 0:
        os.environ["MASTER_PORT"] = str(int(config.distributed.port))


def strategy(config: DictConfig, plan: DevicePlan) -> Any:
    if plan.world_size == 1:
        return "auto"
    return DDPStrategy(
        process_group_backend=plan.backend, find_unused_parameters=bool(config.training.find_unused_parameters)
    )


def precision(config: DictConfig, plan: DevicePlan) -> str:
    if not config.training.fp16:
        return "32-true"
    return "16-mixed" if plan.accelerator == "gpu" else "bf16-mixed"


def gradient_clipping(config: DictConfig) -> dict[str, Any]:
    """MMF's clip_gradients + max_grad_l2_norm (clip_norm_mode `all`): Lightning's norm clipping."""
    training = config.training
    if not training.clip_gradients:
        return {"gradient_clip_val": None}
    if training.max_grad_l2_norm is None:
        raise ConfigError("training.clip_gradients=true needs training.max_grad_l2_norm (e.g. 0.25)")
    return {"gradient_clip_val": float(training.max_grad_l2_norm), "gradient_clip_algorithm": "norm"}


def global_batch_size(config: DictConfig, world_size: int) -> int:
    """training.batch_size, or MMF's batch_size_per_device x world size (mmf_ext.utils.general's rule)."""
    size = global_batch(config.training, world_size)
    if config.training.batch_size_per_device is not None:
        logger.info(
            "training.batch_size_per_device=%s: global batch %d over %d processes",
            config.training.batch_size_per_device,
            size,
            world_size,
        )
    return size


def max_updates(config: DictConfig, train_size: int) -> int:
    """MMF's rule: max_epochs wins when both are set; an epoch is the updates one pass takes."""
    training = config.training
    if training.max_epochs is None and training.max_updates is None:
        raise ConfigError("set training.max_updates or training.max_epochs")
    if training.max_epochs is None:
        return int(training.max_updates)
    if training.max_updates is not None:
        logger.info(
            "both training.max_updates and training.max_epochs are set; max_epochs=%s wins (as in MMF)",
            training.max_epochs,
        )
    batches = max(1, train_size // int(training.batch_size))
    per_epoch = math.ceil(batches / int(training.update_frequency))
    return int(math.ceil(float(training.max_epochs) * per_epoch))


def loggers(config: DictConfig, save_dir: Path, log_dir: Path) -> list[Logger]:
    """CSV logs always; TensorBoard (training.tensorboard) and wandb (training.wandb.enabled) on request."""
    training, env = config.training, config.env
    chosen: list[Logger] = [CSVLogger(save_dir=str(log_dir), name="logs")]
    if training.tensorboard:
        try:
            import tensorboard  # noqa: F401, PLC0415  (optional: only with training.tensorboard)
            from lightning.pytorch.loggers import TensorBoardLogger  # noqa: PLC0415  (needs tensorboard)
        except ImportError:
            raise ConfigError(
                "training.tensorboard=true needs the tensorboard package: pip install tensorboard"
            ) from None
        directory = Path(env.tensorboard_logdir) if env.tensorboard_logdir else save_dir / "tensorboard"
        chosen.append(TensorBoardLogger(save_dir=str(directory), name=str(training.experiment_name)))
    if training.wandb.enabled:
        chosen.append(_wandb_logger(config, save_dir))
    return chosen


def _wandb_logger(config: DictConfig, save_dir: Path) -> Logger:
    try:
        import wandb  # noqa: F401, PLC0415  (optional: only with training.wandb.enabled)
        from lightning.pytorch.loggers import WandbLogger  # noqa: PLC0415  (needs wandb)
    except ImportError:
        raise ConfigError(
            "training.wandb.enabled=true needs the wandb package: pip install wandb "
            "(WANDB_MODE=offline keeps runs local)"
        ) from None
    settings = config.training.wandb
    directory = Path(config.env.wandb_logdir) if config.env.wandb_logdir else save_dir
    extra = {
        k: v
        for k, v in OmegaConf.to_container(settings, resolve=True).items()
        if k not in ("enabled", "entity", "project", "name", "log_checkpoint")
    }
    return WandbLogger(
        project=settings.project,
        entity=settings.entity,
        name=settings.name,
        save_dir=str(directory),
        log_model=bool(settings.log_checkpoint),
        **extra,
    )


def user_callbacks(config: DictConfig, trainer: Any) -> list[Callback]:
    """training.callbacks: registered Lightning callbacks, or MMF-style ones run through an adapter."""
    callbacks: list[Callback] = []
    for name, params in component_entries(config.training.callbacks, "training.callbacks"):
        callback_class = registry.get_callback_class(name)
        try:
            if isinstance(callback_class, type) and issubclass(callback_class, MMFStyleCallback):
                callbacks.append(
                    MMFCallbackAdapter(callback_class(config, trainer, **params), int(config.training.update_frequency))
                )
            else:
                callbacks.append(callback_class(**params))
        except TypeError as error:
            raise ConfigError(f"training.callbacks: {name!r} rejected its params {params}: {error}") from None
    return callbacks


def shows_progress_bar(config: DictConfig) -> bool:
    """training.progress_bar on a terminal; a log file or a CI console gets the progress lines instead."""
    return bool(config.training.progress_bar) and sys.stdout.isatty()


def progress_callbacks(config: DictConfig) -> list[Callback]:
    """The learning rate logged every update, and (training.progress_bar) one bar over the updates."""
    callbacks: list[Callback] = [LearningRateMonitor(logging_interval="step")]
    if shows_progress_bar(config):
        callbacks.append(UpdateProgressBar())
    return callbacks


# Lightning's advice and known, harmless deprecation notices that a run's reader cannot act on.
_NOISE = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r"The number of training batches .* is smaller than the logging interval.*",
    r".*returned None if it was on purpose.*",
    r"The '\w+_dataloader' does not have many workers.*",
    r"Found \d+ module\(s\) in eval mode at the start of training.*",  # frozen parts a model keeps in eval mode
)


def quiet_lightning() -> None:
    """Keep Lightning's warnings but not its info lines (device banners, tips) or known noise."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
