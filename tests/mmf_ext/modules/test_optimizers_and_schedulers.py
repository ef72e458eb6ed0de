"""MMF's optimizer and scheduler names and parameters (mmf_ext.modules.optimizers / schedulers)."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.modules.optimizers import AdamWSkipParamsWithZeroGrad, build_optimizer, optimizer_class
from mmf_ext.modules.schedulers import (
    MultiStepScheduler,
    WarmupCosineScheduler,
    WarmupLinearScheduler,
    build_scheduler,
    multi_step_factor,
)
from mmf_ext.utils.configuration import default_config
from mmf_ext.utils.errors import ConfigError


def config(**sections):
    return OmegaConf.merge(default_config(), sections)


def lrs(scheduler, optimizer, steps):
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def sgd(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_mmf_optimizer_names_and_torch_names_resolve():
    assert optimizer_class("adam_w") is torch.optim.AdamW and optimizer_class("AdamW") is torch.optim.AdamW
    assert optimizer_class("adam") is torch.optim.Adam and optimizer_class("sgd") is torch.optim.SGD
    assert registry.get_optimizer_class("adam_w_skip_params_with_zero_grad") is AdamWSkipParamsWithZeroGrad
    with pytest.raises(ConfigError, match="optimizer.type='adamm'.*adam_w"):
        optimizer_class("adamm")


def test_build_optimizer_passes_exactly_the_configured_params():
    model = torch.nn.Linear(2, 1)
    optimizer = build_optimizer(model, config(optimizer={"type": "adam_w", "params": {"lr": 5e-5, "eps": 1e-8}}))
    group = optimizer.param_groups[0]
    assert (group["lr"], group["eps"]) == (5e-5, 1e-8)
    with pytest.raises(ConfigError, match="do not fit SGD"):
        build_optimizer(model, config(optimizer={"type": "SGD", "params": {"lr": 0.1, "bogus": 1}}))


def test_get_optimizer_parameters_groups_and_unused_parameters_are_refused_unless_allowed():
    class Grouped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def get_optimizer_parameters(self, config):
            return [{"params": self.a.parameters(), "lr": 0.5}]

    with pytest.raises(ConfigError, match="leaves 2 trainable parameters out"):
        build_optimizer(Grouped(), config(optimizer={"type": "SGD", "params": {"lr": 0.1}}))
    optimizer = build_optimizer(
        Grouped(), config(optimizer={"type": "SGD", "params": {"lr": 0.1}, "allow_unused_parameters": True})
    )
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_adam_w_skip_params_with_zero_grad_leaves_a_zero_gradient_parameter_alone():
    moving, still = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = AdamWSkipParamsWithZeroGrad([moving, still], lr=0.1, weight_decay=0.1)
    moving.grad, still.grad = torch.ones(2), torch.zeros(2)
    optimizer.step()
    assert not torch.equal(moving.detach(), torch.ones(2)) and torch.equal(still.detach(), torch.ones(2))
    assert still.grad is not None  # its gradient is kept


def test_warmup_linear_rises_from_zero_then_decays_to_zero():
    optimizer = sgd()
    values = lrs(WarmupLinearScheduler(optimizer, num_warmup_steps=4, num_training_steps=12), optimizer, 13)
    assert values[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert values[8] == pytest.approx(0.5) and values[12] == 0.0


def test_warmup_cosine_follows_the_half_cosine_after_the_warmup():
    optimizer = sgd()
    values = lrs(WarmupCosineScheduler(optimizer, num_warmup_steps=2, num_training_steps=10), optimizer, 11)
    assert values[:3] == [0.0, 0.5, 1.0]
    assert values[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5))) and values[10] == pytest.approx(0.0)


def test_multi_step_warms_up_from_the_factor_then_steps_down_by_the_ratio():
    optimizer = sgd()
    scheduler = MultiStepScheduler(
        optimizer, lr_steps=[6, 8], lr_ratio=0.1, use_warmup=True, warmup_iterations=4, warmup_factor=0.2
    )
    values = lrs(scheduler, optimizer, 10)
    assert values[0] == pytest.approx(0.2) and values[4] == pytest.approx(1.0)
    assert values[5] == 1.0 and values[6] == pytest.approx(0.1) and values[8] == pytest.approx(0.01)
    assert multi_step_factor([3], 0.5)(2) == 1.0 and multi_step_factor([3], 0.5)(3) == 0.5
    with pytest.raises(ConfigError, match="warmup_iterations must end before"):
        MultiStepScheduler(sgd(), lr_steps=[3], use_warmup=True, warmup_iterations=3)


def test_pythia_is_the_default_type_and_reads_the_training_keys():
    run = config(training={"lr_scheduler": True, "lr_steps": [2], "lr_ratio": 0.5})
    previous = registry.get("config")
    registry.register("config", run)  # MMF's pythia reads the run's global config
    try:
        optimizer = sgd()
        scheduler = build_scheduler(optimizer, run)
        assert type(scheduler).__name__ == "PythiaScheduler"
        assert lrs(scheduler, optimizer, 4) == [1.0, 1.0, 0.5, 0.5]
    finally:
        registry.register("config", previous)


def test_a_scheduler_is_used_only_with_lr_scheduler_true_and_never_silently_dropped():
    assert build_scheduler(sgd(), config()) is None
    with pytest.raises(ConfigError, match="training.lr_scheduler is false"):
        build_scheduler(sgd(), config(scheduler={"type": "warmup_linear"}))
    torch_named = build_scheduler(
        sgd(), config(training={"lr_scheduler": True}, scheduler={"type": "StepLR", "params": {"step_size": 2}})
    )
    assert isinstance(torch_named, torch.optim.lr_scheduler.StepLR)
    with pytest.raises(ConfigError, match="do not fit warmup_linear"):
        build_scheduler(
            sgd(), config(training={"lr_scheduler": True}, scheduler={"type": "warmup_linear", "params": {"x": 1}})
        )
