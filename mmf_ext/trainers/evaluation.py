"""Exact evaluation: collect per-sample outputs, gather them from every rank, then score once.

Each rank sees a disjoint shard of the split (no sampler padding). At the end of the split the
per-sample records are gathered, ordered by `sample_index`, de-duplicated, collated, passed once
through the model's `aggregate_eval_outputs`, and only then measured.
"""

from __future__ import annotations

from typing import Any

import torch

from mmf_ext.common.sample import Sample, SampleList, collate_values, split_batch_output
from mmf_ext.utils.distributed import all_gather_objects

_NEVER_GATHERED = ("losses",)


class EvaluationCollector:
    """Per-sample records of one evaluation split on this rank."""

    def __init__(self, sample_fields: tuple[str, ...]) -> None:
        self.sample_fields = tuple(sample_fields)
        self.records: list[tuple[int, dict[str, Any], dict[str, Any]]] = []

    def add(self, batch: SampleList, output: dict[str, Any]) -> None:
        indices = batch["sample_index"]
        indices = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        kept = {k: v for k, v in output.items() if k not in _NEVER_GATHERED}
        per_sample_output = split_batch_output(_to_cpu(kept), len(indices))
        for position, index in enumerate(indices):
            fields = {}
            for name in self.sample_fields:
                if name in batch:
                    value = batch[name]
                    fields[name] = _to_cpu(value[position]) if value is not None else None
            self.records.append((int(index), fields, per_sample_output[position]))

    def gather(self) -> tuple[SampleList, dict[str, Any]]:
        """All ranks' records, each sample once, in dataset order."""
        merged: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for rank_records in all_gather_objects(self.records):
            for index, fields, output in rank_records:
                merged.setdefault(index, (fields, output))
        order = sorted(merged)
        samples = []
        for index in order:
            fields = Sample(merged[index][0])
            fields["sample_index"] = index
            samples.append(fields)
        sample_list = SampleList(samples) if samples else SampleList()
        output_keys: list[str] = []
        for index in order:
            for key in merged[index][1]:
                if key not in output_keys:
                    output_keys.append(key)
        outputs = {
            key: collate_values([merged[index][1].get(key) for index in order]) for key in output_keys
        } if order else {}
        self.records = []
        return sample_list, outputs


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value
