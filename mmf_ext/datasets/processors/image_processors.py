"""Image processors: torchvision transforms composed by name, as MMF's `torchvision_transforms`.

    image_processor:
      type: torchvision_transforms
      params:
        transforms:
          - ToTensor
          - type: Normalize
            params: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
          - GrayScaleTo3Channels        # a registered processor works as a transform too

A transform is looked up in torchvision.transforms first, then among registered processors
(MMF also looked in torchaudio, which is not a dependency here). A dict of params is passed as
keyword arguments, a list as positional ones.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import OmegaConf
from torchvision import transforms

from mmf_ext.common.registry import registry
from mmf_ext.datasets.processors.processors import BaseProcessor
from mmf_ext.utils.errors import ConfigError


def _transform_entry(entry: Any) -> tuple[str, Any]:
    entry = OmegaConf.to_container(entry, resolve=True) if OmegaConf.is_config(entry) else entry
    if isinstance(entry, str):
        return entry, []
    if isinstance(entry, collections.abc.Mapping) and "type" in entry:
        return str(entry["type"]), entry.get("params") or {}
    raise ConfigError(f"torchvision_transforms: transform {entry!r} must be a name or {{type: NAME, params: ...}}")


def build_transform(entry: Any) -> Callable:
    """One transform from a name or `{type, params}`: torchvision's, else a registered processor."""
    name, params = _transform_entry(entry)
    transform = getattr(transforms, name, None)
    if transform is None:
        transform = registry.get_class("processor", name, None)
    if transform is None:
        raise ConfigError(
            f"torchvision_transforms: {name!r} is neither in torchvision.transforms nor a "
            f"registered processor (processors: {', '.join(registry.names('processor'))})"
        )
    return transform(**params) if isinstance(params, collections.abc.Mapping) else transform(*params)


@registry.register_processor("torchvision_transforms")
class TorchvisionTransforms(BaseProcessor):
    """Composes `params.transforms` (one entry or a list); takes an image or `{"image": image}`."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        entries = config.get("transforms") if config is not None else None
        if entries is None:
            raise ConfigError("processor 'torchvision_transforms' needs params.transforms (a list of transforms)")
        if isinstance(entries, str) or OmegaConf.is_dict(entries) or isinstance(entries, collections.abc.Mapping):
            entries = [entries]
        self.transform = transforms.Compose([build_transform(entry) for entry in entries])

    def __call__(self, x: Any) -> Any:
        if isinstance(x, collections.abc.Mapping):
            return {"image": self.transform(x["image"])}
        return self.transform(x)


@registry.register_processor("GrayScaleTo3Channels")
class GrayScaleTo3Channels(BaseProcessor):
    """A 1-channel image tensor [1, H, W] repeated to 3 channels; 3-channel ones pass unchanged."""

    def __call__(self, x: Any) -> Any:
        if isinstance(x, collections.abc.Mapping):
            return {"image": self.transform(x["image"])}
        return self.transform(x)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"GrayScaleTo3Channels expects a tensor, got {type(x).__name__}")
        return torch.cat([x] * 3, dim=0) if x.size(0) == 1 else x
