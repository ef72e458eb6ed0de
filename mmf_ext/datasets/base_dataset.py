"""BaseDataset: MMF's dataset contract (a torch Dataset of Samples that knows its name and split).

As in MMF, the processors named in the dataset's config (`processors:`) are built by
`init_processors()` (the builder's `load_dataset` calls it) and set as attributes, e.g.
`self.text_processor`.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch.utils.data import Dataset

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.datasets.processors.processors import build_processors
from mmf_ext.utils.general import get_current_device
from mmf_ext.utils.predictions import default_prediction_rows


class BaseDataset(Dataset):
    """Items are `Sample`s. The framework adds `sample_index` to each item it loads.

    `eval_sample_fields` names the light per-sample fields (ids, targets) that evaluation gathers
    across ranks beside the model's outputs; heavy inputs (frames, images) are never gathered.
    """

    eval_sample_fields: tuple[str, ...] = ("targets",)

    def __init__(self, dataset_name: str, config: Any, dataset_type: str = "train", *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.config = {} if config is None else config
        self._dataset_name = dataset_name
        self._dataset_type = dataset_type
        self._global_config = registry.get("config", no_warning=True)
        self._device = get_current_device()
        self.use_cuda = "cuda" in str(self._device)

    # -- MMF's properties ---------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return self._dataset_name

    @dataset_name.setter
    def dataset_name(self, name: str) -> None:
        self._dataset_name = name

    @property
    def name(self) -> str:
        return self._dataset_name

    @name.setter
    def name(self, name: str) -> None:
        self._dataset_name = name

    @property
    def dataset_type(self) -> str:
        return self._dataset_type

    @dataset_type.setter
    def dataset_type(self, dataset_type: str) -> None:
        self._dataset_type = dataset_type

    # -- items --------------------------------------------------------------------------------
    def load_item(self, idx: int) -> Any:
        """Override to load (and cache) an item separately from `__getitem__`."""
        return None

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def init_processors(self) -> None:
        """Build `config.processors`, set each as an attribute and register it as `<dataset>_<key>`."""
        processors = self.config.get("processors") if hasattr(self.config, "get") else None
        if not processors:
            return
        extra = {"data_dir": self.config.get("data_dir")} if self.config.get("data_dir") is not None else {}
        registry_key = f"{self._dataset_name}_{{}}"
        for key, processor in build_processors(processors, registry_key, **extra).items():
            setattr(self, key, processor)
            registry.register(registry_key.format(key), processor)

    def prepare_batch(self, batch: Any) -> SampleList:
        """MMF's hook: a SampleList on this dataset's device (the Lightning trainer does not call it)."""
        batch = batch if isinstance(batch, SampleList) else SampleList(batch)
        return batch.to(self._device)

    # -- predictions --------------------------------------------------------------------------
    def format_for_prediction(
        self, sample_list: SampleList, model_output: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows written by `mmf_predict`; the default writes each sample's index, fields and outputs.

        MMF's one-argument form `format_for_prediction(report)` is accepted too: the report then
        holds both the batch's fields and the model's outputs.
        """
        if model_output is None:
            report = sample_list if isinstance(sample_list, SampleList) else SampleList(dict(sample_list))
            return default_prediction_rows(report, {})
        return default_prediction_rows(sample_list, model_output)

    def verbose_dump(self, *args: Any, **kwargs: Any) -> None:
        return None


def prediction_rows(dataset: Any, sample_list: SampleList, model_output: dict[str, Any]) -> list[dict[str, Any]]:
    """`dataset.format_for_prediction` in either form: ours `(sample_list, model_output)` or MMF's `(report)`.

    An override written for MMF takes one argument, a report of the batch's fields and the model's
    outputs; it gets a SampleList merging both.
    """
    method = dataset.format_for_prediction
    try:
        parameters = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) == 1:
        report = sample_list.copy()
        for key, value in model_output.items():
            report[key] = value
        return list(method(report) or [])
    return method(sample_list, model_output)
