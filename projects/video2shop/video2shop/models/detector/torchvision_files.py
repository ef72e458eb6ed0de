"""torchvision's pretrained weight files as a user has them: in the local torch cache, under torchvision's names.

torchvision downloads `<Weights>.url` into `torch.hub.get_dir()/checkpoints` ($TORCH_HOME/hub/checkpoints,
by default ~/.cache/torch/hub/checkpoints) and reads it from there ever after. Nothing here downloads:
a file is looked up by the name in its Weights enum's url (never a guessed name), and a missing one
is one line naming the file and where to put it. `load_torchvision_state` loads such a file (from
the cache or any path) into the network torchvision builds for it, checking every key and shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.errors import ConfigError

# torchvision builds these networks with FrozenBatchNorm2d when it loads pretrained weights and with
# BatchNorm2d otherwise; the two compute the same in eval mode, and only BatchNorm2d counts batches
BATCH_COUNTER = "num_batches_tracked"


def cache_dir() -> Path:
    """Where torchvision keeps (and looks for) its downloaded weight files."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def file_name(weights: Any) -> str:
    """torchvision's own file name for a Weights enum member (the last part of its url)."""
    return Path(weights.url).name


def cached_file(weights: Any) -> Path:
    """The path torchvision reads `weights` from (it may not exist)."""
    return cache_dir() / file_name(weights)


def is_cached(weights: Any) -> bool:
    return cached_file(weights).is_file()


def missing_file_message(weights: Any, setting: str, alternatives: str) -> str:
    """One line: the file is not in the cache, nothing downloads, where to copy it, what else to do."""
    path = cached_file(weights)
    return (
        f"{setting}: {path} is not in the local torch cache and nothing is downloaded at run time; copy "
        f"{file_name(weights)} there (torchvision's file from {weights.url}), {alternatives}"
    )


def load_torchvision_state(model: nn.Module, path: Path, label: str) -> None:
    """Load torchvision's weight file at `path` into `model` (built by torchvision with weights=None).

    Every tensor in the file must have a place of its shape in the model and every model tensor a
    value, except BatchNorm's batch counters (see BATCH_COUNTER); anything else is a ConfigError
    naming the file, since it is then not the file torchvision made for this network.
    """
    state = load_checkpoint_file(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{label}: {path} is not a state dict of tensors (torchvision's weight files are)")
    own = model.state_dict()
    unexpected = sorted(k for k in state if k not in own)
    missing = sorted(k for k in own if k not in state and not k.endswith(BATCH_COUNTER))
    wrong = sorted(k for k in state if k in own and own[k].shape != state[k].shape)
    problem = (
        f"{len(unexpected)} tensors the network lacks ({unexpected[0]}...)"
        if unexpected
        else f"{len(missing)} of the network's tensors missing ({missing[0]}...)"
        if missing
        else f"{len(wrong)} tensors of another shape ({wrong[0]}: {tuple(state[wrong[0]].shape)}, "
        f"the network's {tuple(own[wrong[0]].shape)})"
        if wrong
        else None
    )
    if problem:
        raise ConfigError(f"{label}: {path} does not fit {type(model).__name__}: {problem}; is it torchvision's file?")
    model.load_state_dict(state, strict=False)
