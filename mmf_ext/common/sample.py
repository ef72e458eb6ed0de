"""Sample and SampleList: MMF's container types for one example and a batch of them.

A Sample is an ordered dict with attribute access; Mapping values become nested Samples. A
SampleList is a batch: a dict of fields, built from a list of Samples (collated), a dict or a list
of (key, value) pairs, with MMF's methods (`fields`, `get_fields`, `get_field`, `add_field`,
`copy`, `to`, `pin_memory`, `detach`, `to_dict`, `get_batch_size`, `get_device`).

Where we differ from MMF, on purpose:

- collation takes the union of the samples' fields (a missing value is None) instead of the
  first sample's fields, and never raises: tensors of one shape and dtype are stacked, anything
  else (ragged tensors, strings, None) becomes a list, so a dataset may mix kinds of items (say,
  queries and gallery images) in one batch. MMF raised on ragged tensors.
- Python numbers of one type collate to a tensor (MMF kept a list).
- `dataset_name` and `dataset_type` are attributes, not fields: they do not show in `keys()`
  or `in`, but `sample_list["dataset_name"]` and `.get("dataset_name")` still read them.
- building from a dict does not check that tensor fields share a batch size (`add_field` does).
- `to()` and `detach()` also reach tensors inside list fields.
- `get_item_list(key)` returns a SampleList holding just that field.
"""

from __future__ import annotations

import collections.abc
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch


class Sample(OrderedDict):
    """One example: fields by name, reachable as attributes; dict values become Samples."""

    def __init__(self, init_dict: Mapping[str, Any] | Iterable | None = None, **fields: Any) -> None:
        super().__init__()
        for key, value in OrderedDict(init_dict or {}, **fields).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, collections.abc.Mapping) and not isinstance(value, Sample):
            value = Sample(value)
        super().__setitem__(key, value)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Sample has no field {key!r}; fields: {list(self.keys())}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def fields(self) -> list[str]:
        return list(self.keys())


class SampleList(OrderedDict):
    """A batch: fields by name; carries `dataset_name` and `dataset_type` like MMF's."""

    _META = ("dataset_name", "dataset_type")

    def __init__(self, samples: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "dataset_name", None)
        object.__setattr__(self, "dataset_type", None)
        if samples is None:
            return
        if isinstance(samples, collections.abc.Mapping):
            self._load_dict(samples)
            return
        samples = list(samples)
        if not samples:
            return
        if isinstance(samples[0], (tuple, list)) and samples[0] and isinstance(samples[0][0], str):
            for key, value in samples:  # MMF's list of (key, value) pairs
                self[key] = _nest(value)
            return
        self._collate(samples)

    def _load_dict(self, values: Mapping[str, Any]) -> None:
        if isinstance(values, SampleList):  # a SampleList passed as a dict keeps its meta
            for key in self._META:
                object.__setattr__(self, key, getattr(values, key))
        for key, value in values.items():
            self[key] = _nest(value)

    def _collate(self, samples: list[Mapping[str, Any]]) -> None:
        keys: list[str] = []
        for sample in samples:
            for key in sample:
                if key not in keys:
                    keys.append(key)
        for key in keys:
            values = [sample.get(key) for sample in samples]
            self[key] = values[0] if key in self._META else collate_values(values)

    # -- attribute access to fields -----------------------------------------------------------
    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Key {key} not found in the SampleList. Valid choices are {self.fields()}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._META:
            object.__setattr__(self, key, value)
        else:
            super().__setitem__(key, value)

    def __getitem__(self, key: str) -> Any:
        if key in self._META:
            return object.__getattribute__(self, key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._META:
            value = object.__getattribute__(self, key)
            return default if value is None else value
        return super().get(key, default)

    # -- MMF's methods ------------------------------------------------------------------------
    def fields(self) -> list[str]:
        return list(self.keys())

    def get_fields(self, fields: Iterable[str] | None = None) -> SampleList | list[str]:
        """A new SampleList with only `fields`; without an argument, the field names (our old API)."""
        if fields is None:
            return self.fields()
        picked = self._empty_like()
        for field in fields:
            if field not in self:
                raise AttributeError(f"{field} not present in SampleList. Valid choices are {self.fields()}")
            picked[field] = self[field]
        return picked

    def get_field(self, field: str) -> Any:
        return self[field]

    def get_item_list(self, key: str) -> SampleList:
        return self.get_fields([key])

    def add_field(self, field: str, data: Any) -> None:
        """Add a field; a tensor must match the batch size of the tensors already here (as MMF)."""
        tensor_field = self._get_tensor_field()
        if (
            isinstance(data, torch.Tensor)
            and data.dim() > 0
            and tensor_field is not None
            and data.size(0) != self[tensor_field].size(0)
        ):
            raise AssertionError(
                f"A tensor field to be added must have same size as existing tensor fields in SampleList. "
                f"Passed size: {data.size(0)}, Required size: {self[tensor_field].size(0)} (field {field!r})"
            )
        self[field] = _nest(data)

    def copy(self) -> SampleList:
        copied = self._empty_like()
        for key, value in self.items():
            copied[key] = value
        return copied

    def _empty_like(self) -> SampleList:
        empty = SampleList()
        for key in self._META:
            object.__setattr__(empty, key, getattr(self, key))
        return empty

    def _get_tensor_field(self) -> str | None:
        return next((key for key, value in self.items() if isinstance(value, torch.Tensor)), None)

    def get_batch_size(self) -> int:
        """Length of the first batched field (a tensor of dim > 0 or a list); 0 if there is none."""
        for value in self.values():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                return int(value.shape[0])
            if isinstance(value, list):
                return len(value)
            if isinstance(value, SampleList):
                size = value.get_batch_size()
                if size:
                    return size
        return 0

    def get_device(self) -> torch.device:
        tensor_field = self._get_tensor_field()
        if tensor_field is None:
            raise AssertionError(f"No tensor field in sample list, available keys: {self.fields()}")
        return self[tensor_field].device

    def to(self, device: torch.device | str, non_blocking: bool = True) -> SampleList:
        """Move every tensor (also in lists and nested SampleLists) to a device; returns a new SampleList."""
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be either 'str' or 'torch.device' type, {type(device)} found")
        moved = self._empty_like()
        for key, value in self.items():
            moved[key] = _move(value, torch.device(device), non_blocking)
        return moved

    def pin_memory(self) -> SampleList:
        for key, value in self.items():
            if hasattr(value, "pin_memory"):
                self[key] = value.pin_memory()
        return self

    def detach(self) -> SampleList:
        for key, value in self.items():
            self[key] = detach_tensor(value)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields (nested SampleLists too); meta attributes are left out."""
        return {key: value.to_dict() if isinstance(value, SampleList) else value for key, value in self.items()}


def _nest(value: Any) -> Any:
    """A Mapping value becomes a nested SampleList (MMF's add_field)."""
    if isinstance(value, collections.abc.Mapping) and not isinstance(value, SampleList):
        return SampleList(value)
    return value


def collate_values(values: list[Any]) -> Any:
    """Stack tensors of one shape and dtype, nest mappings, tensorise numbers; anything else is a list."""
    first = values[0]
    if all(isinstance(v, torch.Tensor) for v in values):
        if all(v.shape == first.shape and v.dtype == first.dtype for v in values):
            return torch.stack(values)
        return values
    if all(isinstance(v, collections.abc.Mapping) for v in values):
        return SampleList([Sample(v) for v in values])
    if all(isinstance(v, (bool, int, float)) for v in values) and all(type(v) is type(first) for v in values):
        return torch.tensor(values)
    return values


def _move(value: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, SampleList):
        return value.to(device, non_blocking)
    if isinstance(value, list):
        return [_move(v, device, non_blocking) for v in value]
    return value


def detach_tensor(value: Any) -> Any:
    """Detach anything with `.detach` (tensors, SampleLists), also the tensors inside a list."""
    if isinstance(value, list):
        return [detach_tensor(v) for v in value]
    return value.detach() if hasattr(value, "detach") else value


def convert_batch_to_sample_list(batch: SampleList | Mapping[str, Any] | list) -> SampleList:
    """MMF's helper: a SampleList from a SampleList, a one-item list holding one, a dict or Samples."""
    if isinstance(batch, list) and len(batch) == 1 and isinstance(batch[0], SampleList):
        return batch[0]
    if isinstance(batch, SampleList):
        return batch
    return SampleList(batch)


def to_device(sample_list: SampleList | Mapping[str, Any], device: torch.device | str = "cuda") -> Any:
    """MMF's helper: move a batch to a device, falling back to the CPU when CUDA is missing."""
    if isinstance(sample_list, collections.abc.Mapping):
        sample_list = convert_batch_to_sample_list(sample_list)
    if not isinstance(sample_list, SampleList):
        warnings.warn(
            "You are not returning SampleList/Sample from your dataset. "
            "MMF expects you to move your tensors to cuda yourself.",
            stacklevel=2,
        )
        return sample_list
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn("Selected device is cuda, but it is NOT available!!! Falling back on cpu.", stacklevel=2)
        device = torch.device("cpu")
    return sample_list.to(device)


def collate_samples(samples: Iterable[Sample]) -> SampleList:
    """DataLoader collate_fn producing a SampleList."""
    return SampleList(list(samples))


def split_batch_output(output: dict[str, Any], batch_size: int) -> list[dict[str, Any]]:
    """Cut a batched model output into one dict per sample (tensors on dim 0, lists by index).

    Fields that are not per-sample (scalars, values of another length) are left out.
    """
    per_sample: list[dict[str, Any]] = [{} for _ in range(batch_size)]
    for key, value in output.items():
        if (
            isinstance(value, torch.Tensor)
            and value.dim() > 0
            and value.shape[0] == batch_size
            or isinstance(value, list)
            and len(value) == batch_size
        ):
            for i in range(batch_size):
                per_sample[i][key] = value[i]
    return per_sample
