"""What `ifn.pretrained` reads: torchvision's own ImageNet file, or the IFN of a project checkpoint.

- `imagenet`: the file torchvision would download for the backbone (its Weights enum's URL), read
  from the torch cache (video2shop.models.detector.torchvision_files, which the detector's
  `pretrained: coco` reads through too); nothing is downloaded.
- a path to a torchvision file: the same weights, from wherever the user keeps them.
- a path to a checkpoint of any project model (`mmf_run`'s .ckpt or `<model>_final.pth`): that
  model's IFN, the weights under `ifn.` (asymnet, contrastive_softmax) or `video_ifn.`
  (infonce_dual_encoder's frame tower, which is its only IFN with `shared_ifn: true`).

Each is checked whole, every key and shape: a file of another backbone, or a checkpoint whose IFN
was built with other settings, is one line, never a half-loaded network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import WeightsEnum

from mmf_ext.utils.build import CONFIG_KEY, weights_mismatch
from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.errors import ConfigError
from video2shop.models.detector.torchvision_files import (
    cached_file,
    file_name,
    is_cached,
    load_torchvision_state,
    missing_file_message,
)

IFN_PREFIXES = ("ifn.", "video_ifn.")  # where project models keep their (frame) IFN


@dataclass(frozen=True)
class PretrainedFile:
    """The file `ifn.pretrained` names: torchvision's weights, or a project checkpoint (read once)."""

    path: Path
    setting: str  # how messages name it, e.g. "ifn.pretrained=imagenet"
    checkpoint: Mapping[str, Any] | None  # the whole project checkpoint; None for a torchvision file

    @property
    def is_torchvision(self) -> bool:
        return self.checkpoint is None


def read_pretrained(pretrained: str, weights: WeightsEnum | None, backbone: str) -> PretrainedFile:
    """The file `ifn.pretrained` names (`imagenet` or a path); a one-line ConfigError when there is none."""
    setting = f"ifn.pretrained={pretrained}"
    if pretrained == "imagenet":
        if weights is None:
            raise ConfigError(
                f"{setting}: the {backbone} backbone has no ImageNet weights; use resnet18, mobilenet_v3_small or "
                "vgg16, a project checkpoint's path, or ifn.pretrained=null"
            )
        if not is_cached(weights):
            alternatives = f"give ifn.pretrained=/path/to/{file_name(weights)}, or set ifn.pretrained=null"
            raise ConfigError(missing_file_message(weights, setting, alternatives))
        return PretrainedFile(cached_file(weights), setting, None)
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"{setting}: no such file; give torchvision's {backbone} weights file, a project checkpoint "
            "(.ckpt / _final.pth), imagenet or null"
        )
    loaded = load_checkpoint_file(path)
    state = loaded.get("state_dict", loaded) if isinstance(loaded, Mapping) else None
    is_project = isinstance(state, Mapping) and (
        "state_dict" in loaded or any(str(key).startswith(IFN_PREFIXES) for key in state)
    )
    return PretrainedFile(path, setting, loaded if is_project else None)  # torchvision's: loaded when needed


def load_torchvision(network: nn.Module, file: PretrainedFile) -> None:
    """torchvision's whole `network` from the file, every key and shape checked (its classifier included)."""
    load_torchvision_state(network, file.path, file.setting)


def checkpoint_ifn_state(file: PretrainedFile) -> dict[str, torch.Tensor]:
    """The IFN weights of a project checkpoint, prefix removed; one line when it holds none."""
    state = (file.checkpoint or {}).get("state_dict", file.checkpoint or {})
    for prefix in IFN_PREFIXES:
        found = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if found:
            return found
    raise ConfigError(
        f"{file.setting}: {file.path} holds no IFN (no weights under {' or '.join(IFN_PREFIXES)}; model "
        f"{_model_of(file)}); give a checkpoint of asymnet, contrastive_softmax or infonce_dual_encoder"
    )


def load_checkpoint_ifn(ifn: nn.Module, file: PretrainedFile) -> None:
    """A project checkpoint's IFN into `ifn`, every key and shape matching (else one line naming its settings)."""
    state = checkpoint_ifn_state(file)
    mismatch = weights_mismatch(ifn, state)
    if mismatch:
        raise ConfigError(
            f"{file.setting}: the IFN in {file.path} ({_ifn_settings(file)}) does not fit this IFN ({mismatch}); "
            "set ifn.backbone, feature_dim, spp_levels and vgg_fc as that run did, or give another checkpoint"
        )
    ifn.load_state_dict(state)


def _run_config(file: PretrainedFile) -> Mapping[str, Any]:
    saved = (file.checkpoint or {}).get(CONFIG_KEY)
    return saved if isinstance(saved, Mapping) else {}


def _model_of(file: PretrainedFile) -> str:
    return str(_run_config(file).get("model") or "not recorded")


def _ifn_settings(file: PretrainedFile) -> str:
    """The checkpoint's own IFN settings, from the run config it carries, for the message."""
    config = _run_config(file)
    model = config.get("model")
    ifn = ((config.get("model_config") or {}).get(model) or {}).get("ifn") if model else None
    if not isinstance(ifn, Mapping):
        return f"model {_model_of(file)}"
    keys = ("backbone", "feature_dim", "spp_levels", "vgg_fc")
    return f"model {model}: " + ", ".join(f"{key} {ifn.get(key)}" for key in keys if key in ifn)
