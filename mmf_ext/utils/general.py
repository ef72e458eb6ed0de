"""MMF's light helpers (`mmf.utils.general`): paths, devices, batch sizes, small tensor utilities.

Also `mmf_alias_status()`: whether `import mmf` reaches this framework's alias or a real MMF
installation that shadows it, so commands can warn in one line.
"""

from __future__ import annotations

import collections.abc
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.utils.distributed import get_rank, get_world_size
from mmf_ext.utils.errors import ConfigError

logger = logging.getLogger("mmf_ext")

# Written into the alias package's __init__.py; how an installed `mmf` is recognised as ours.
ALIAS_MARKER = "__mmf_ext_alias__"


# -- paths ----------------------------------------------------------------------------------
def get_mmf_root() -> str:
    """The framework's package folder (MMF: the `mmf` package folder), cached in the registry."""
    root = registry.get("mmf_root", no_warning=True)
    if root is None:
        root = str(Path(__file__).resolve().parents[1])
        registry.register("mmf_root", root)
    return root


def _user_dir() -> str | None:
    config = registry.get("config", no_warning=True)
    env = config.get("env") if config is not None else None
    user_dir = env.get("user_dir") if env is not None else None
    return str(user_dir) if user_dir else os.environ.get("MMF_USER_DIR") or None


def get_absolute_path(paths: str | Iterable[str]) -> str | list[str]:
    """Resolve a path as MMF does: as given, then under env.user_dir, then beside and under the root.

    An absolute path or a URI is returned as is; a path found nowhere is returned unchanged, so
    opening it raises an error that names it.
    """
    if isinstance(paths, os.PathLike):
        paths = os.fspath(paths)
    if isinstance(paths, str):
        if os.path.isabs(paths) or "://" in paths:
            return paths
        root = get_mmf_root()
        candidates = [paths]
        user_dir = _user_dir()
        if user_dir:
            candidates += [os.path.join(user_dir, paths), os.path.join(root, "..", user_dir, paths)]
        candidates += [os.path.join(root, "..", paths), os.path.join(root, paths)]
        for candidate in candidates:
            if os.path.exists(candidate):
                return os.path.abspath(candidate)
        return paths
    if isinstance(paths, collections.abc.Iterable):
        return [get_absolute_path(path) for path in paths]  # type: ignore[misc]
    raise TypeError("Paths passed to dataset should either be string or list")


def updir(d: str, n: int) -> str:
    """Given path d, go up n folders."""
    for _ in range(n):
        d = os.path.dirname(d)
    return d


# -- devices and batch sizes ------------------------------------------------------------------
def get_current_device() -> torch.device:
    """This process's CUDA device when CUDA is in use, else the CPU (MMF returned a str for CUDA)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.device(f"cuda:{torch.cuda.current_device()}")
    return torch.device("cpu")


def log_device_names() -> None:
    if torch.cuda.is_available():
        logger.info("CUDA Device %d is: %s", get_rank(), torch.cuda.get_device_name())


def global_batch(training: Any, world_size: int) -> int:
    """MMF's rule: training.batch_size is global, or batch_size_per_device x world size; divisible by it."""
    per_device = training.get("batch_size_per_device")
    size = int(per_device) * world_size if per_device is not None else int(training.get("batch_size"))
    if size % world_size:
        raise ConfigError(
            f"training.batch_size={size} is not divisible by the {world_size} processes; "
            f"choose a multiple of {world_size}"
        )
    return size


def get_batch_size() -> int:
    """MMF's helper: the per-process batch size of the registered run config."""
    config = registry.get("config", no_warning=True)
    if config is None:
        raise RuntimeError("get_batch_size() needs the run config; it is registered when a run starts")
    world_size = get_world_size()
    return global_batch(config.get("training") or {}, world_size) // world_size


# -- small tensor and model helpers --------------------------------------------------------------
def dict_to_string(dictionary: dict[str, Any] | None) -> str:
    """`key: 0.1234, key2: ...` for logging."""
    if dictionary is None:
        return ""
    parts = []
    for key, value in dictionary.items():
        value = value.item() if hasattr(value, "item") else value
        parts.append(f"{key}: {value:.4f}")
    return ", ".join(parts)


def get_overlap_score(candidate: str, target: str) -> float:
    """Share of the longer word covered by the longest prefix of the shorter one it contains."""
    if len(candidate) < len(target):
        candidate, target = target, candidate
    while len(target) >= 2:
        if target in candidate:
            return len(target) / len(candidate)
        target = target[:-1]
    return 0.0


def get_sizes_list(dim: int, chunks: int) -> list[int]:
    """MMF's split of `dim` into `chunks` sizes: ceil(dim / chunks) each, the shortfall taken from the end."""
    split = -(-dim // chunks)
    sizes = [split] * chunks
    sizes[-1] = dim - split * (chunks - 1)
    if sizes[-1] < 0:  # too short: the last ones give one each until the sum fits
        missing = split - sizes[-1]
        sizes[-1] = split
        for j in range(missing):
            sizes[-j - 1] -= 1
    return sizes


def get_chunks(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """Split `x` along dim 1 into pieces of `sizes`."""
    out, begin = [], 0
    for size in sizes:
        out.append(x.narrow(1, begin, size))
        begin += size
    return out


def filter_grads(parameters: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [param for param in parameters if param.requires_grad]


def get_optimizer_parameters(model: nn.Module, config: Any = None) -> Any:
    """The model's own parameter groups (`model.get_optimizer_parameters(config)`) or its trainable ones."""
    if hasattr(model, "get_optimizer_parameters"):
        return model.get_optimizer_parameters(config)
    return filter_grads(model.parameters())


def print_model_parameters(model: nn.Module, return_only: bool = False) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not return_only:
        logger.info("Total Parameters: %d. Trained Parameters: %d", total, trained)
    return total, trained


def scalarize_dict_values(dict_with_tensors: dict[str, Any]) -> dict[str, Any]:
    """A new dict whose tensor values are means (0-d)."""
    return {
        key: value.mean() if torch.is_tensor(value) and value.dim() != 0 else value
        for key, value in dict_with_tensors.items()
    }


def assert_iterator_finished(iterator: Iterator) -> None:
    try:
        next(iterator)
    except StopIteration:
        return
    raise AssertionError("iterator has items left")


def retry_n(n: int, fn: Callable, *args: Any, log_tries: bool = False, **kwargs: Any) -> Any:
    """Call fn, retrying up to n times after 1, 2, 4, ... seconds; the last error is raised."""
    for attempt in range(n + 1):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if attempt == n:
                raise
            if log_tries:
                logger.info(
                    "Try %d/%d failed for %s. Will retry after %d second(s).",
                    attempt + 1,
                    n,
                    getattr(fn, "__name__", fn),
                    2**attempt,
                )
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def rfft(
    input_tensor: torch.Tensor,
    signal_ndim: int = 1,
    n: int | None = None,
    dim: int = -1,
    norm: str | None = None,
) -> torch.Tensor:
    """MMF's wrapper over torch.fft.rfft (the pre-1.7 torch.rfft signature)."""
    return torch.fft.rfft(input_tensor, n, dim, norm)


def irfft(
    input_tensor: torch.Tensor, s: Any = None, signal_ndim: int = 1, dim: Any = None, norm: str | None = None
) -> torch.Tensor:
    """MMF's wrapper over torch.fft.irfftn."""
    return torch.fft.irfftn(input_tensor, s, dim, norm)


# -- the `mmf` alias ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MmfAliasStatus:
    """What `import mmf` reaches: "alias" (ours), "mmf" (a real MMF installation) or "missing"."""

    kind: str
    path: str | None

    @property
    def message(self) -> str | None:
        """One line for the log when `mmf` is not our alias; None when all is well."""
        if self.kind == "mmf":
            return (
                f"`import mmf` finds a real MMF installation at {self.path}, which shadows this framework's "
                "mmf alias; MMF-style imports will load it instead of mmf_ext. Uninstall it "
                "(pip uninstall mmf) or import mmf_ext directly."
            )
        if self.kind == "missing":
            return (
                "`import mmf` finds nothing: the mmf alias of mmf_ext is not installed "
                "(reinstall with pip install -e .); MMF-style imports will fail."
            )
        return None


def mmf_alias_status() -> MmfAliasStatus:
    """Whether `importlib.util.find_spec("mmf")` resolves to our alias, a real MMF, or nothing."""
    try:
        spec = importlib.util.find_spec("mmf")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return MmfAliasStatus("missing", None)
    origin = spec.origin if spec.origin not in (None, "namespace") else None
    if origin is None and spec.submodule_search_locations:
        origin = os.path.join(list(spec.submodule_search_locations)[0], "__init__.py")
    if origin is None:
        return MmfAliasStatus("mmf", None)
    try:
        text = Path(origin).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return MmfAliasStatus("alias" if ALIAS_MARKER in text else "mmf", str(Path(origin).parent))
