"""Sample and SampleList: MMF's container types for one example and a batch of them.

A Sample is an ordered dict with attribute access. A SampleList collates Samples: tensor fields
of one shape are stacked, anything else (strings, ragged tensors, missing values) becomes a list,
so a dataset may mix kinds of items (say, queries and gallery images) in one batch.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Sequence

import torch


class Sample(OrderedDict):
    """One example: fields by name, reachable as attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Sample has no field {key!r}; fields: {list(self.keys())}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


class SampleList(OrderedDict):
    """A batch: fields by name; carries `dataset_name` and `dataset_type` like MMF's."""

    _META = ("dataset_name", "dataset_type")

    def __init__(self, samples: Sequence[Sample] | dict | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "dataset_name", None)
        object.__setattr__(self, "dataset_type", None)
        if samples is None:
            return
        if isinstance(samples, dict):
            for key, value in samples.items():
                self[key] = value
            return
        samples = list(samples)
        if not samples:
            return
        keys: list[str] = []
        for sample in samples:
            for key in sample.keys():
                if key not in keys:
                    keys.append(key)
        for key in keys:
            values = [sample.get(key) for sample in samples]
            if key in self._META:
                object.__setattr__(self, key, values[0])
                continue
            self[key] = collate_values(values)

    # attribute access to fields
    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"SampleList has no field {key!r}; fields: {list(self.keys())}"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self._META:
            object.__setattr__(self, key, value)
        else:
            self[key] = value

    def get_batch_size(self) -> int:
        for value in self.values():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                return int(value.shape[0])
            if isinstance(value, list):
                return len(value)
        return 0

    def get_fields(self) -> list[str]:
        return list(self.keys())

    def to(self, device: torch.device | str, non_blocking: bool = True) -> "SampleList":
        """Move every tensor (also inside lists) to a device; returns a new SampleList."""
        moved = SampleList({k: _move(v, device, non_blocking) for k, v in self.items()})
        object.__setattr__(moved, "dataset_name", self.dataset_name)
        object.__setattr__(moved, "dataset_type", self.dataset_type)
        return moved

    def pin_memory(self) -> "SampleList":
        for key, value in self.items():
            if isinstance(value, torch.Tensor):
                self[key] = value.pin_memory()
        return self


def collate_values(values: list[Any]) -> Any:
    """Stack tensors of one shape and dtype; keep anything else as a list."""
    first = values[0]
    if all(isinstance(v, torch.Tensor) for v in values):
        if all(v.shape == first.shape and v.dtype == first.dtype for v in values):
            return torch.stack(values)
        return values
    if all(isinstance(v, (bool, int, float)) and not isinstance(v, str) for v in values) and all(
        type(v) is type(first) for v in values
    ):
        return torch.tensor(values)
    return values


def _move(value: Any, device: torch.device | str, non_blocking: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, list):
        return [_move(v, device, non_blocking) for v in value]
    return value


def collate_samples(samples: Iterable[Sample]) -> SampleList:
    """DataLoader collate_fn producing a SampleList."""
    return SampleList(list(samples))


def split_batch_output(output: dict[str, Any], batch_size: int) -> list[dict[str, Any]]:
    """Cut a batched model output into one dict per sample (tensors on dim 0, lists by index).

    Fields that are not per-sample (scalars, values of another length) are left out.
    """
    per_sample: list[dict[str, Any]] = [{} for _ in range(batch_size)]
    for key, value in output.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch_size:
            for i in range(batch_size):
                per_sample[i][key] = value[i]
        elif isinstance(value, list) and len(value) == batch_size:
            for i in range(batch_size):
                per_sample[i][key] = value[i]
    return per_sample


def convert_batch_to_sample_list(batch: Any) -> SampleList:
    """MMF's helper: a SampleList as it is; a one-element list of one unwrapped; a dict wrapped."""
    if isinstance(batch, list) and len(batch) == 1 and isinstance(batch[0], SampleList):
        return batch[0]
    if isinstance(batch, SampleList):
        return batch
    return SampleList(batch)
