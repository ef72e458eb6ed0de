"""Where torchvision keeps the weights it downloads, so the project reads the user's own cached files.

Nothing is downloaded at run time; a user who has torchvision's files has them where torchvision
put them: `torch.hub.get_dir()/checkpoints` (`$TORCH_HOME/hub/checkpoints`), under the file name of
the weights' URL (torch.hub.load_state_dict_from_url's rule), e.g. `resnet18-f37072fd.pth`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum

from mmf_ext.utils.errors import ConfigError


def torchvision_file_name(weights: WeightsEnum) -> str:
    """The file name torchvision downloads `weights` to (the last part of its URL)."""
    return Path(urlparse(weights.url).path).name


def cached_torchvision_file(weights: WeightsEnum, setting: str, what: str) -> Path:
    """The cached file of `weights`; a missing one is a ConfigError naming the file and where it goes.

    `setting` is the config key and value the user gave (e.g. "ifn.pretrained=imagenet"), `what`
    names the weights in words (e.g. "torchvision's ImageNet resnet18").
    """
    name = torchvision_file_name(weights)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / name
    if not path.is_file():
        raise ConfigError(
            f"{setting}: {name} ({what}) is not in the torch cache {folder} and nothing is downloaded at run time; "
            f"put the file there (or set TORCH_HOME to a folder holding hub/checkpoints/{name}), give its path "
            "instead, or set it to null"
        )
    return path
