"""Metrics: MMF's BaseMetric contract plus a collection built from `evaluation.metrics`.

Metrics run once per evaluation on the whole split, after outputs are gathered from every rank,
so ranking metrics are exact (MMF averaged per-rank values instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError


class BaseMetric:
    """Subclass, register with `@registry.register_metric("name")`, implement calculate()."""

    required_params: tuple[str, ...] = ()

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        self.params = params

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor | dict:
        raise NotImplementedError

    # result keys are the children of a dict result as they are (else MMF's `<name>/<child>`)
    flat_result_keys: bool = False

    def calculate_with_report(self, sample_list: SampleList, model_output: dict[str, Any]) -> tuple[Any, Any]:
        """The values and a report object for `write_report`; metrics without a report return None."""
        return self.calculate(sample_list, model_output), None

    def named_values(self, values: Any) -> dict[str, torch.Tensor]:
        """A calculated value under this metric's name; a dict's children as `<name>/<child>`."""
        if isinstance(values, dict):
            return {
                (key if self.flat_result_keys else f"{self.name}/{key}"): torch.as_tensor(v, dtype=torch.float64)
                for key, v in values.items()
            }
        return {self.name: torch.as_tensor(values, dtype=torch.float64)}

    def write_report(self, report: Any, split: str, dataset_name: str, reports_dir: Path) -> str | None:
        """Optional: write report files for one evaluation's report; return text for train.log."""
        return None

    def __call__(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.named_values(self.calculate(sample_list, model_output))


class Metrics:
    """The metrics named in `evaluation.metrics`: entries are names or {type, params}."""

    def __init__(self, metric_list: Any) -> None:
        from mmf_ext.utils.configuration import component_entries

        self.metrics: list[BaseMetric] = []
        for name, params in component_entries(metric_list, "evaluation.metrics"):
            metric_class = registry.get_metric_class(name)
            try:
                self.metrics.append(metric_class(name=name, **params))
            except TypeError as error:
                raise ConfigError(f"evaluation.metrics: metric {name!r} rejected its params {params}: {error}") from None

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def compute(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        values: dict[str, torch.Tensor] = {}
        for metric in self.metrics:
            values.update(metric(sample_list, model_output))
        return values


def _targets(sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
    if "targets" in model_output:
        return torch.as_tensor(model_output["targets"])
    return torch.as_tensor(sample_list["targets"])


@registry.register_metric("accuracy")
class Accuracy(BaseMetric):
    """Share of samples whose arg-max score equals the integer target."""

    required_params = ("scores", "targets")

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores = torch.as_tensor(model_output["scores"])
        targets = _targets(sample_list, model_output)
        predicted = scores.argmax(dim=-1) if scores.dim() > 1 else (scores > 0).long()
        return (predicted.cpu() == targets.cpu().long()).double().mean()


@registry.register_metric("mean_squared_error")
class MeanSquaredError(BaseMetric):
    required_params = ("scores", "targets")

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores = torch.as_tensor(model_output["scores"]).double().cpu()
        targets = _targets(sample_list, model_output).double().cpu().reshape(scores.shape)
        return ((scores - targets) ** 2).mean()
