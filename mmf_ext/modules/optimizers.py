"""Optimizers from `optimizer: {type, params}`: torch.optim names, MMF's registered names, plugins'.

MMF registers `adam_w` (and `adam_w_skip_params_with_zero_grad`); its configs also write torch's
names (`AdamW`, `SGD`, `Adam`). Both spellings work here, plus lower-case aliases `adam`, `sgd`.
A model may group its parameters with `get_optimizer_parameters(config)`, as in MMF.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.errors import ConfigError

registry.register_optimizer("adam_w")(torch.optim.AdamW)
registry.register_optimizer("adam")(torch.optim.Adam)
registry.register_optimizer("sgd")(torch.optim.SGD)


@registry.register_optimizer("adam_w_skip_params_with_zero_grad")
class AdamWSkipParamsWithZeroGrad(torch.optim.AdamW):
    """AdamW that leaves a parameter alone while its gradient is all zeros (MMF's optimizer)."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        hidden: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None and not parameter.grad.any():
                    hidden.append((parameter, parameter.grad))
                    parameter.grad = None  # AdamW skips parameters without a gradient
        try:
            return super().step(closure)
        finally:
            for parameter, grad in hidden:
                parameter.grad = grad


def optimizer_class(name: str) -> Any:
    """The class for `optimizer.type`: registered names first, then torch.optim's."""
    if registry.has("optimizer", name):
        return registry.get_optimizer_class(name)
    if hasattr(torch.optim, name) and isinstance(getattr(torch.optim, name), type):
        return getattr(torch.optim, name)
    known = sorted(n for n in dir(torch.optim) if n[0].isupper() and n != "Optimizer")
    raise ConfigError(
        f"optimizer.type={name!r} is neither a torch.optim optimizer nor registered; "
        f"choose one of {', '.join(registry.names('optimizer') + known)}"
    )


def optimizer_parameters(model: torch.nn.Module, config: DictConfig) -> list[dict[str, Any]]:
    """The model's parameter groups (its `get_optimizer_parameters(config)`, else all parameters)."""
    custom = getattr(model, "get_optimizer_parameters", None)
    parameters = list(custom(config) if custom is not None else model.parameters())
    if not parameters:
        raise ConfigError(f"{type(model).__name__} has no parameters to optimise")
    groups = parameters if isinstance(parameters[0], dict) else [{"params": parameters}]
    for group in groups:
        group["params"] = list(group["params"])
    if not config.optimizer.allow_unused_parameters:
        _check_every_parameter_is_optimised(model, groups)
    return groups


def _check_every_parameter_is_optimised(model: torch.nn.Module, groups: list[dict[str, Any]]) -> None:
    optimised = {id(p) for group in groups for p in group["params"]}
    missing = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in optimised]
    if missing:
        raise ConfigError(
            f"get_optimizer_parameters leaves {len(missing)} trainable parameters out (first: {missing[0]}); "
            "add them or set optimizer.allow_unused_parameters=true"
        )


def build_optimizer(model: torch.nn.Module, config: DictConfig) -> torch.optim.Optimizer:
    """MMF's `build_optimizer(model, config)`."""
    name = config.optimizer.type
    if not name:
        raise ConfigError("optimizer.type is empty; name an optimizer, e.g. optimizer.type=adam_w")
    params = (
        OmegaConf.to_container(config.optimizer.params, resolve=True) if config.optimizer.params is not None else {}
    )
    try:
        return optimizer_class(str(name))(optimizer_parameters(model, config), **params)
    except TypeError as error:
        raise ConfigError(f"optimizer.params {params} do not fit {name}: {error}") from None
    except ValueError as error:
        raise ConfigError(f"optimizer.params {params} are invalid for {name}: {error}") from None
