"""Learning-rate schedulers with MMF's names and parameters, stepped once per update.

`training.lr_scheduler: true` turns the `scheduler: {type, params}` section on, as in MMF:
- `warmup_linear` / `warmup_cosine`: `num_warmup_steps`, `num_training_steps` (and `num_cycles`
  for cosine), the Hugging Face schedules MMF uses: a linear warmup from 0, then a linear or
  cosine decay to 0 at `num_training_steps`.
- `multi_step`: `lr_steps`, `lr_ratio`, `use_warmup`, `warmup_iterations`, `warmup_factor`.
- `pythia` (the default type): the same rule read from `training.lr_steps`, `training.lr_ratio`,
  `training.use_warmup`, `training.warmup_iterations`, `training.warmup_factor`.
- a torch.optim.lr_scheduler class name with its own params, or a registered plugin scheduler.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LambdaLR

from mmf_ext.common.registry import registry
from mmf_ext.utils.configuration import get_global_config
from mmf_ext.utils.errors import ConfigError


def warmup_linear_factor(num_warmup_steps: int, num_training_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < num_warmup_steps:
            return step / max(1, num_warmup_steps)
        return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))

    return factor


def warmup_cosine_factor(
    num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5
) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < num_warmup_steps:
            return step / max(1, num_warmup_steps)
        progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))

    return factor


def multi_step_factor(
    lr_steps: list[int],
    lr_ratio: float,
    use_warmup: bool = False,
    warmup_iterations: int = 0,
    warmup_factor: float = 1.0,
) -> Callable[[int], float]:
    """MMF's step rule: a linear warmup from `warmup_factor`, then x lr_ratio at every step in lr_steps."""
    steps = sorted(int(s) for s in lr_steps)

    def factor(step: int) -> float:
        if use_warmup and step <= warmup_iterations:
            alpha = step / max(1, warmup_iterations)
            return warmup_factor * (1.0 - alpha) + alpha
        return lr_ratio ** bisect_right(steps, step)

    return factor


@registry.register_scheduler("warmup_linear")
class WarmupLinearScheduler(LambdaLR):
    def __init__(
        self, optimizer: torch.optim.Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
    ) -> None:
        super().__init__(optimizer, warmup_linear_factor(int(num_warmup_steps), int(num_training_steps)), last_epoch)


@registry.register_scheduler("warmup_cosine")
class WarmupCosineScheduler(LambdaLR):
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int,
        num_training_steps: int,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
    ) -> None:
        rule = warmup_cosine_factor(int(num_warmup_steps), int(num_training_steps), float(num_cycles))
        super().__init__(optimizer, rule, last_epoch)


@registry.register_scheduler("multi_step")
class MultiStepScheduler(LambdaLR):
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr_steps: list[int],
        lr_ratio: float = 0.1,
        use_warmup: bool = False,
        warmup_iterations: int = 0,
        warmup_factor: float = 0.2,
        last_epoch: int = -1,
    ) -> None:
        if use_warmup and lr_steps and warmup_iterations >= min(lr_steps):
            raise ConfigError("scheduler.params.warmup_iterations must end before the first of lr_steps")
        rule = multi_step_factor(
            list(lr_steps), float(lr_ratio), bool(use_warmup), int(warmup_iterations), float(warmup_factor)
        )
        super().__init__(optimizer, rule, last_epoch)


@registry.register_scheduler("pythia")
class PythiaScheduler(MultiStepScheduler):
    """MMF's default scheduler: the multi-step rule configured by the training.* keys."""

    def __init__(self, optimizer: torch.optim.Optimizer, last_epoch: int = -1) -> None:
        training = get_global_config("training")
        super().__init__(
            optimizer,
            list(training.lr_steps),
            float(training.lr_ratio),
            bool(training.use_warmup),
            int(training.warmup_iterations),
            float(training.warmup_factor),
            last_epoch,
        )


def build_scheduler(optimizer: torch.optim.Optimizer, config: DictConfig) -> Any:
    """MMF's `build_scheduler`: the scheduler of `scheduler`, or None when training.lr_scheduler is false."""
    scheduler = config.scheduler
    name = scheduler.type
    if not config.training.lr_scheduler:
        if name:
            raise ConfigError(
                f"scheduler.type={name} is set but training.lr_scheduler is false (MMF would ignore the scheduler); "
                "set training.lr_scheduler=true to use it, or remove the scheduler section"
            )
        return None
    name = name or "pythia"
    params = OmegaConf.to_container(scheduler.params, resolve=True) if scheduler.params is not None else {}
    if registry.has("scheduler", name):
        scheduler_class = registry.get_scheduler_class(name)
    elif hasattr(torch.optim.lr_scheduler, name):
        scheduler_class = getattr(torch.optim.lr_scheduler, name)
    else:
        raise ConfigError(
            f"scheduler.type={name!r} is unknown; choose a torch.optim.lr_scheduler class or one of "
            + ", ".join(registry.names("scheduler"))
        )
    try:
        return scheduler_class(optimizer, **params)
    except TypeError as error:
        raise ConfigError(f"scheduler.params {params} do not fit {name}: {error}") from None
