"""`mmf`: MMF's import paths, served by this framework (`mmf.X.Y` is the module `mmf_ext.X.Y`).

`import mmf.common.registry` gives the very module object `mmf_ext.common.registry`, so
`mmf.common.registry.registry is mmf_ext.common.registry.registry`: MMF plugins run unchanged.
A meta-path finder, first on `sys.meta_path`, aliases every `mmf.<rest>` to `mmf_ext.<rest>`
lazily, on import. A module MMF has and this framework does not raises ModuleNotFoundError
with one line saying why and what to use instead.

The source lives in the framework tree (mmf_ext/compat/mmf) and is installed as the top-level
package `mmf` (setup.py's package_dir).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

__mmf_ext_alias__ = True  # how mmf_ext.utils.general.mmf_alias_status() recognises this package

ALIAS = "mmf"
TARGET = "mmf_ext"

_ZOO = (
    "it is part of MMF's model zoo, which is out of scope here",
    "subclass mmf.models.base_model.BaseModel and register it with @registry.register_model",
)
_TEXT = (
    "MMF's text processing needs downloaded vocabularies, embeddings or tokenizers (out of scope here)",
    "the simple_word / simple_sentence processors of mmf.datasets.processors, or your own tokenizer",
)
_DATA_ZOO = (
    "MMF's dataset zoo downloads its data, which is out of scope here",
    "subclass mmf.datasets.base_dataset_builder.BaseDatasetBuilder and register it with @registry.register_builder",
)
_BLOCKS = (
    "it holds building blocks of MMF's model zoo, not provided here",
    "your own nn.Module (register it with registry.register_fusion / register_pooler / register_encoder)",
)
_LOOP = (
    "MMF's own training loop is replaced by the Lightning trainer",
    "trainer=lightning (mmf_ext.trainers)",
)
_ONE_DATASET = (
    "runs here use exactly one dataset, so MMF's multi-dataset machinery is not provided",
    "one dataset per run (dataset=<name>)",
)

# MMF module (or package prefix) -> (why it is missing, what to use instead); the longest match wins.
OUT_OF_SCOPE: dict[str, tuple[str, str]] = {
    "mmf.models": _ZOO,
    "mmf.utils.text": _TEXT,
    "mmf.utils.vocab": _TEXT,
    "mmf.utils.phoc": _TEXT,
    "mmf.utils.m4c_evaluators": _TEXT,
    "mmf.utils.process_answers": _TEXT,
    "mmf.utils.download": ("downloads are out of scope here", "data you place under env.data_dir"),
    "mmf.datasets.builders": _DATA_ZOO,
    "mmf.datasets.databases": _DATA_ZOO,
    "mmf.datasets.mmf_dataset": _DATA_ZOO,
    "mmf.datasets.mmf_dataset_builder": _DATA_ZOO,
    "mmf.datasets.processors.bert_processors": _TEXT,
    "mmf.datasets.processors.frcnn_processor": _ZOO,
    "mmf.datasets.processors.video_processors": _BLOCKS,
    "mmf.datasets.processors.detection_transforms": _BLOCKS,
    "mmf.datasets.processors.prediction_processors": _BLOCKS,
    "mmf.modules.encoders": (
        "MMF's encoders load pretrained weights and tokenizers (downloads, out of scope here)",
        "torchvision models or your own nn.Module, registered with @registry.register_encoder",
    ),
    **{
        f"mmf.modules.{name}": _BLOCKS
        for name in (
            "attention",
            "bottleneck",
            "decoders",
            "embeddings",
            "fusions",
            "hf_layers",
            "layers",
            "ot",
            "poolers",
            "vit",
        )
    },
    **{f"mmf.trainers.{name}": _LOOP for name in ("mmf_trainer", "base_trainer", "core", "lightning_core")},
    **{
        f"mmf.datasets.{name}": _ONE_DATASET
        for name in (
            "multi_datamodule",
            "multi_dataset_loader",
            "lightning_multi_datamodule",
            "lightning_multi_dataset_loader",
            "concat_dataset",
            "iteration_strategies",
            "subset_dataset",
        )
    },
    **{
        f"mmf.common.{name}": (
            "MMF's loop internals are not provided; the Lightning trainer reports metrics itself",
            "the dicts your model returns and Metrics.compute",
        )
        for name in (
            "report",
            "meter",
            "test_reporter",
            "dataset_loader",
            "batch_collator",
        )
    },
}
# The entries above that are packages in MMF: their submodules are refused with them.
PACKAGES = frozenset(
    {
        "mmf.models",
        "mmf.utils.phoc",
        "mmf.datasets.builders",
        "mmf.datasets.databases",
        "mmf.trainers.core",
        "mmf.trainers.lightning_core",
    }
)


def missing_message(fullname: str) -> str:
    """One line: which MMF module is not available, why, and what to use instead."""
    matches = [key for key in OUT_OF_SCOPE if fullname == key or fullname.startswith(key + ".")]
    if matches:
        key = max(matches, key=len)
        why, instead = OUT_OF_SCOPE[key]
        scope = " (nor anything under it)" if key in PACKAGES and key == fullname else ""
        return f"{fullname}{scope} is not available: {why}. Instead: {instead}."
    target = TARGET + fullname[len(ALIAS) :]
    return (
        f"{fullname} is not available: mmf is this framework's alias of mmf_ext, which has no {target}. "
        "See the 'Coming from MMF' docs page."
    )


class MmfAliasLoader(importlib.abc.Loader):
    """Hands out the already-imported `mmf_ext` module for an `mmf` name."""

    def __init__(self, target_name: str) -> None:
        self.target_name = target_name
        self._target_spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target_name)
        self._target_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # importlib has set module.__spec__ to the alias spec; the module stays mmf_ext's.
        module.__spec__ = self._target_spec


class MmfAliasFinder(importlib.abc.MetaPathFinder):
    """Finds `mmf.<rest>` as `mmf_ext.<rest>`; raises a one-line ModuleNotFoundError when absent."""

    mmf_ext_alias_finder = True

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS + "."):
            return None
        target_name = TARGET + fullname[len(ALIAS) :]
        try:
            target_spec = importlib.util.find_spec(target_name)
        except ModuleNotFoundError:  # a parent of the target is missing or is not a package
            target_spec = None
        if target_spec is None:
            raise ModuleNotFoundError(missing_message(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(
            fullname,
            MmfAliasLoader(target_name),
            origin=target_spec.origin,
            is_package=target_spec.submodule_search_locations is not None,
        )


def install() -> None:
    """Put the finder first on sys.meta_path (once, also when this package is re-imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "mmf_ext_alias_finder", False)]
    sys.meta_path.insert(0, MmfAliasFinder())


install()

# MMF's top-level names, imported lazily (MMF's `import mmf` imported them all eagerly).
_LAZY = {
    "common": "mmf.common",
    "datasets": "mmf.datasets",
    "models": "mmf.models",
    "modules": "mmf.modules",
    "utils": "mmf.utils",
    "trainers": "mmf.trainers",
    "losses": "mmf.modules.losses",
    "metrics": "mmf.modules.metrics",
    "optimizers": "mmf.modules.optimizers",
    "poolers": "mmf.modules.poolers",
    "schedulers": "mmf.modules.schedulers",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        try:
            return version("video2shop")
        except PackageNotFoundError:
            return "0+unknown"
    if name in _LAZY:
        try:
            return importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as error:
            raise AttributeError(str(error)) from None
    raise AttributeError(f"module 'mmf' has no attribute {name!r}")
