"""The evaluator: one split's per-sample outputs gathered from every rank, then measured once.

detectron2's DatasetEvaluator shape: `reset()` before a split, `process(batch, output)` after each
batch, `evaluate()` once at the end. Each rank sees a disjoint shard of the split (no sampler
padding); `evaluate` gathers every rank's records, orders them by `sample_index`, drops
duplicates, collates them into one SampleList and one output dict, passes them once through the
model's `aggregate_eval_outputs` (a retrieval model scores every query against the whole gallery
there), and only then runs the metrics. Ranking metrics are therefore exact under DDP (MMF
averaged per-rank values). Metrics return their values and their report; nothing is kept in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from mmf_ext.common.sample import Sample, SampleList, collate_values, split_batch_output
from mmf_ext.modules.metrics import BaseMetric, Metrics
from mmf_ext.utils.distributed import all_gather_objects

_NEVER_GATHERED = ("losses",)


@dataclass
class EvaluationResult:
    """What one split's evaluation produced: values keyed `<split>/<dataset>/<name>`, and reports."""

    split: str
    dataset_name: str
    sample_list: SampleList
    output: dict[str, Any]
    values: dict[str, torch.Tensor] = field(default_factory=dict)
    reports: list[tuple[BaseMetric, Any]] = field(default_factory=list)


class DatasetEvaluator:
    """Per-sample records of one evaluation split on this rank, and their evaluation."""

    def __init__(
        self,
        split: str,
        dataset_name: str,
        sample_fields: tuple[str, ...],
        metrics: Metrics,
        aggregate: Callable[[SampleList, dict[str, Any]], dict[str, Any]],
        device: torch.device | str | None = None,
    ) -> None:
        self.split = split
        self.dataset_name = dataset_name
        self.sample_fields = tuple(sample_fields)
        self.metrics = metrics
        self.aggregate = aggregate
        self.device = device
        self.records: list[tuple[int, dict[str, Any], dict[str, Any]]] = []

    def reset(self) -> None:
        self.records = []

    def process(self, batch: SampleList, output: dict[str, Any]) -> None:
        """Keep each sample's light fields and its share of the model output, on the CPU."""
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
        """Every rank's records, each sample once, in dataset order."""
        merged: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for rank_records in all_gather_objects(self.records):
            for index, fields, output in rank_records:
                merged.setdefault(index, (fields, output))
        order = sorted(merged)
        samples = []
        for index in order:
            sample = Sample(merged[index][0])
            sample["sample_index"] = index
            samples.append(sample)
        sample_list = SampleList(samples) if samples else SampleList()
        sample_list.dataset_name, sample_list.dataset_type = self.dataset_name, self.split
        keys: list[str] = []
        for index in order:
            keys.extend(key for key in merged[index][1] if key not in keys)
        outputs = {key: collate_values([merged[index][1].get(key) for index in order]) for key in keys}
        self.records = []
        return sample_list, outputs

    def evaluate(self, measure: bool = True) -> EvaluationResult:
        """Gather, aggregate once, and (with `measure`) run every metric on the whole split."""
        sample_list, output = self.gather()
        if self.device is not None:
            output = _to_device(output, self.device)
        with torch.no_grad():
            output = self.aggregate(sample_list, output)
        result = EvaluationResult(self.split, self.dataset_name, sample_list, output)
        if measure:
            for metric in self.metrics:
                if not metric.is_dataset_applicable(self.dataset_name):
                    continue  # MMF's `datasets:` of a metric entry
                values, report = metric.calculate_with_report(sample_list, output)
                for name, value in metric.named_values(values).items():
                    result.values[f"{self.split}/{self.dataset_name}/{name}"] = value
                result.reports.append((metric, report))
        return result


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _to_device(value: Any, device: torch.device | str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value
