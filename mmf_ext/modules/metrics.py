"""Metrics: MMF's BaseMetric contract, the `Metrics` collection of `evaluation.metrics`, built-ins.

A metric entry is a name or `{type, params, key, datasets}`: `params` go to the class as keyword
arguments, `key` reports it under another name, `datasets` limits it to those datasets. A
subclass calls `super().__init__("name")` or `super().__init__()` (the registered name is used).

Result names follow MMF: a tensor result is `<key>`, a dict result `{child: v}` is
`<key>/<child>`; a metric whose children are already full names sets `flat_result_keys = True`
and reports `<child>` as is. `Metrics.compute` returns those names without MMF's
`<split>/<dataset>/` prefix (the trainer adds it); `Metrics(...)(sample_list, output)` returns
them with the prefix, as MMF's `Metrics.__call__` did.

Where we differ from MMF, on purpose: metrics run once per evaluation on the whole split,
after outputs are gathered from every rank, so ranking metrics are exact (MMF averaged
per-batch values); results stay 0-d float64 tensors (MMF made them 1-d float32); targets are
read from the sample list, else from the model output; scikit-learn's scores are computed with
torch (mmf_ext.modules.scoring).
"""

from __future__ import annotations

import collections.abc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry, unavailable_class
from mmf_ext.common.sample import SampleList
from mmf_ext.modules import scoring
from mmf_ext.utils.errors import ConfigError


class BaseMetric:
    """Subclass, register with `@registry.register_metric("name")`, implement calculate()."""

    required_params: Any = ("scores", "targets")
    # True: a dict result's keys are full metric names (reported as is, not as <name>/<key>).
    flat_result_keys: bool = False

    def __init__(self, name: str | None = None, *args: Any, **kwargs: Any) -> None:
        self.name = name if name is not None else registered_name(type(self))
        self.required_params = list(type(self).required_params)
        self.params = dict(kwargs)
        self._dataset_names: set[str] = set()

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self._name = name

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor | dict:
        raise NotImplementedError("'calculate' must be implemented in the child class")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.calculate(*args, **kwargs)

    def _calculate_with_checks(self, *args: Any, **kwargs: Any) -> Any:
        return self.calculate(*args, **kwargs)

    def set_applicable_datasets(self, dataset_names: Any) -> None:
        self._dataset_names = set(dataset_names or [])

    def is_dataset_applicable(self, dataset_name: str | None) -> bool:
        return not self._dataset_names or dataset_name in self._dataset_names

    def calculate_with_report(self, sample_list: SampleList, model_output: dict[str, Any]) -> tuple[Any, Any]:
        """The values and a report object for `write_report`; metrics without a report return None."""
        return self.calculate(sample_list, model_output), None

    def named_values(self, values: Any) -> dict[str, torch.Tensor]:
        """A calculated value under its report names (see `named_results`)."""
        return named_results(self, values)

    def write_report(self, report: Any, split: str, dataset_name: str, reports_dir: Path) -> str | None:
        """Optional: write report files for one evaluation's report; return text for train.log."""
        return None

    def reported_names(self) -> list[str] | None:
        """The headline result names a `flat_result_keys` metric reports (as after `<split>/<dataset>/`;
        finer breakdowns may add path parts), so a run can check training.early_stop.criteria before
        it starts and show them in its closing summary; None when not declared."""
        return None


def registered_name(metric_class: type) -> str:
    """The name a metric class is registered under (its class name if it is not registered)."""
    return registry.name_of("metric", metric_class) or metric_class.__name__


def named_results(metric: BaseMetric, value: Any) -> dict[str, torch.Tensor]:
    """A metric's result under its report names: `<name>`, `<name>/<child>`, or `<child>` if flat."""
    if not isinstance(value, collections.abc.Mapping):
        return {metric.name: _as_scalar(value)}
    named = {}
    for child, child_value in value.items():
        key = child if metric.flat_result_keys else (f"{metric.name}/{child}" if child else metric.name)
        named[key] = _as_scalar(child_value)
    return named


def _as_scalar(value: Any) -> torch.Tensor:
    tensor = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    return tensor.to(torch.float64)


def metric_entries(metric_list: Any) -> list[tuple[str, str, dict, list]]:
    """`evaluation.metrics` as (type, key, params, datasets) tuples."""
    if metric_list is None:
        return []
    if OmegaConf.is_config(metric_list):
        metric_list = OmegaConf.to_container(metric_list, resolve=True)
    if isinstance(metric_list, (str, collections.abc.Mapping)):
        metric_list = [metric_list]
    entries = []
    for entry in metric_list:
        if isinstance(entry, str):
            entries.append((entry, entry, {}, []))
        elif isinstance(entry, collections.abc.Mapping) and "type" in entry:
            metric_type = str(entry["type"])
            entries.append(
                (
                    metric_type,
                    str(entry.get("key") or metric_type),
                    dict(entry.get("params") or {}),
                    list(entry.get("datasets") or []),
                )
            )
        else:
            raise ConfigError(
                f"evaluation.metrics entry {entry!r} must be a name or "
                "{type: NAME, params: {...}, key: NAME, datasets: [...]}"
            )
    return entries


class Metrics:
    """The metrics named in `evaluation.metrics`, by report key (`self.metrics`, as MMF's)."""

    def __init__(self, metric_list: Any) -> None:
        self.metrics: dict[str, BaseMetric] = {}
        self.required_params: set[str] = {"dataset_name", "dataset_type"}
        for metric_type, key, params, datasets in metric_entries(metric_list):
            if key in self.metrics:
                raise ConfigError(
                    f"evaluation.metrics: metric with type/key {key!r} is listed more than once; "
                    "give one of them another `key:`"
                )
            metric_class = registry.get_metric_class(metric_type)
            try:
                metric = metric_class(**params)
            except TypeError as error:
                raise ConfigError(
                    f"evaluation.metrics: metric {metric_type!r} rejected its params {params}: {error}"
                ) from None
            metric.name = key
            metric.set_applicable_datasets(datasets)
            self.metrics[key] = metric
            self.required_params.update(getattr(metric, "required_params", ()) or ())

    def __iter__(self) -> Iterator[BaseMetric]:
        return iter(self.metrics.values())

    def is_headline(self, key: str) -> bool:
        """Whether a reported `<split>/<dataset>/<name>` value is a headline (terminal, closing summary):
        an unnested name, or one a metric declares in `reported_names`; finer breakdowns go to the log."""
        parts = key.split("/", 2)
        if len(parts) < 3:
            return False
        name = parts[2]
        return "/" not in name or any(name in (metric.reported_names() or ()) for metric in self)

    def __len__(self) -> int:
        return len(self.metrics)

    def compute(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        """{report name: 0-d float64 tensor}, without the `<split>/<dataset>/` prefix."""
        values: dict[str, torch.Tensor] = {}
        dataset_name = getattr(sample_list, "dataset_name", None)
        with torch.no_grad():
            for metric in self:
                if metric.is_dataset_applicable(dataset_name):
                    values.update(named_results(metric, metric._calculate_with_checks(sample_list, model_output)))
        return values

    def __call__(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """MMF's form: names prefixed `<split>/<dataset>/`, also registered as `metrics.<dataset>.<split>`."""
        prefix = f"{sample_list.dataset_type}/{sample_list.dataset_name}"
        values = {f"{prefix}/{key}": value.float() for key, value in self.compute(sample_list, model_output).items()}
        registry.register(f"metrics.{sample_list.dataset_name}.{sample_list.dataset_type}", values)
        return values


# -- reading inputs -----------------------------------------------------------------------------
def _field(sample_list: SampleList, model_output: dict[str, Any], key: str) -> torch.Tensor:
    """A field from the sample list, else from the model output, as a CPU tensor."""
    if key in sample_list:
        value = sample_list[key]
    elif key in model_output:
        value = model_output[key]
    else:
        raise KeyError(
            f"metric input {key!r} is neither in the sample list ({list(sample_list.keys())}) nor in "
            f"the model output ({list(model_output.keys())})"
        )
    return torch.as_tensor(value).detach().cpu()


def _scores(model_output: dict[str, Any], key: str = "scores") -> torch.Tensor:
    if key not in model_output:
        raise KeyError(f"metric input {key!r} is not in the model output ({list(model_output.keys())})")
    return torch.as_tensor(model_output[key]).detach().cpu()


def _is_binary(scores: torch.Tensor) -> bool:
    """One logit per sample: [B] or [B, 1]."""
    return scores.dim() == 1 or (scores.dim() == 2 and scores.size(1) == 1)


def _class_predictions(scores: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Predicted labels [B]: arg-max of class scores, or logit > threshold for one logit per sample."""
    return (scores.reshape(-1) > threshold).long() if _is_binary(scores) else scores.argmax(dim=-1)


def _target_labels(targets: torch.Tensor) -> torch.Tensor:
    """Labels [B]: arg-max of one-hot / soft targets [B, C]; indices [B] or [B, 1] as they are, but
    float targets within [0, 1] (binary, maybe soft) thresholded at 0.5."""
    if targets.dim() == 2 and targets.size(-1) > 1:
        return targets.argmax(dim=-1)
    targets = targets.reshape(-1)
    soft_binary = targets.is_floating_point() and targets.numel() > 0 and bool(targets.max() <= 1)
    return (targets >= 0.5).long() if soft_binary else targets.long()


def _probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over classes (MMF's); a single logit per sample stays as is (monotone for AUC / AP)."""
    return scores.reshape(-1).double() if _is_binary(scores) else torch.softmax(scores.double(), dim=-1)


# -- accuracy -----------------------------------------------------------------------------------
@registry.register_metric("accuracy")
class Accuracy(BaseMetric):
    """Share of samples whose target is among the top-k scores.

    Targets: indices [B], one-hot or soft [B, C] (their arg-max). Scores [B, C] rank classes;
    one logit per sample ([B] or [B, 1]) predicts 1 when above `binary_threshold` (0, a logit).
    MMF left the one-logit case undefined (it compared raw logits), and for soft targets with
    topk > 1 matched the targets' own top k position by position; here the arg-max target counts.
    """

    def __init__(
        self,
        score_key: str = "scores",
        target_key: str = "targets",
        topk: int = 1,
        binary_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.score_key, self.target_key = score_key, target_key
        self.topk, self.binary_threshold = int(topk), float(binary_threshold)

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        scores = _scores(model_output, self.score_key)
        targets = _field(sample_list, model_output, self.target_key)
        if scores.dim() > 2 or targets.dim() > 2:
            raise ValueError(
                f"accuracy: scores {tuple(scores.shape)} and targets {tuple(targets.shape)} must have "
                "at most 2 dimensions"
            )
        labels = _target_labels(targets)
        if _is_binary(scores):
            predicted = _class_predictions(scores, self.binary_threshold)[:, None]
        else:
            predicted = scores.topk(min(self.topk, scores.size(-1)), dim=-1).indices
        return (predicted == labels[:, None]).any(dim=1).double().mean()


@registry.register_metric("topk_accuracy")
class TopKAccuracy(Accuracy):
    """`accuracy` with `k` (MMF required score_key and k; here they default to "scores" and 1)."""

    def __init__(self, score_key: str = "scores", k: int = 1, target_key: str = "targets") -> None:
        super().__init__(score_key=score_key, target_key=target_key, topk=k)


@registry.register_metric("vqa_accuracy")
class VQAAccuracy(BaseMetric):
    """Soft VQA accuracy: the target score of the arg-max answer, index 0 (unknown) excluded."""

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        scores = _scores(model_output)
        scores = scores[:, 0] if scores.dim() == 3 else scores
        targets = _field(sample_list, model_output, "targets").double()
        predicted = scores[:, 1:].argmax(dim=1) + 1 if scores.size(1) > 1 else scores.argmax(dim=1)
        return targets.gather(1, predicted[:, None]).sum() / targets.size(0)


@registry.register_metric("mean_squared_error")
class MeanSquaredError(BaseMetric):
    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        scores = _scores(model_output).double()
        targets = _field(sample_list, model_output, "targets").double().reshape(scores.shape)
        return ((scores - targets) ** 2).mean()


# -- F1, precision, recall ----------------------------------------------------------------------
class _ClassificationMetric(BaseMetric):
    """Shared by the F1 family: MMF passed `params` to scikit-learn; `average`, `pos_label` and
    `multilabel` are understood here (average: binary, micro, macro, weighted, samples)."""

    default_average = "binary"
    multilabel_default = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._multilabel = bool(kwargs.pop("multilabel", self.multilabel_default))
        self._average = str(kwargs.pop("average", self.default_average))
        self._pos_label = int(kwargs.pop("pos_label", 1))
        if kwargs:
            raise ConfigError(
                f"metric {self.name!r}: unsupported params {sorted(kwargs)}; supported: average, pos_label, multilabel"
            )
        if self._average not in scoring.AVERAGES:
            raise ConfigError(
                f"metric {self.name!r}: average={self._average!r}; choose one of {', '.join(scoring.AVERAGES)}"
            )
        if self._multilabel and self._average == "binary":
            raise ConfigError(
                f"metric {self.name!r}: multilabel targets need params.average: micro, macro, "
                "weighted or samples (scikit-learn, hence MMF, refuses 'binary')"
            )

    def _scores_of(self, sample_list: SampleList, model_output: dict[str, Any]) -> tuple:
        scores, targets = _scores(model_output), _field(sample_list, model_output, "targets")
        if self._multilabel:
            predicted = torch.sigmoid(scores.double()).round().long()
            truth = scoring.one_hot_like(targets, predicted)
        else:
            predicted, truth = _class_predictions(scores), _target_labels(targets)
        return scoring.precision_recall_f1(truth, predicted, self._average, self._pos_label)


def _register_averaged(base: type, names: dict[str, tuple[str, bool]]) -> None:
    """Register subclasses of `base` with a fixed default average (and multilabel switch)."""
    for name, (average, multilabel) in names.items():
        cls = type(
            f"{base.__name__}_{name}",
            (base,),
            {
                "default_average": average,
                "multilabel_default": multilabel,
                "__module__": __name__,
                "__doc__": f"{base.__name__} with average={average!r}" + (" (multilabel)." if multilabel else "."),
            },
        )
        registry.register_metric(name)(cls)


@registry.register_metric("f1")
class F1(_ClassificationMetric):
    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return self._scores_of(sample_list, model_output)[2]


@registry.register_metric("f1_precision_recall")
class F1PrecisionRecall(_ClassificationMetric):
    """`{precision, recall, f1}`, reported as `<name>/precision`, ..."""

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        precision, recall, f1 = self._scores_of(sample_list, model_output)
        return {"precision": precision, "recall": recall, "f1": f1}


_register_averaged(
    F1,
    {
        "macro_f1": ("macro", False),
        "micro_f1": ("micro", False),
        "binary_f1": ("binary", False),
        "multilabel_f1": ("binary", True),
        "multilabel_micro_f1": ("micro", True),
        "multilabel_macro_f1": ("macro", True),
    },
)
_register_averaged(
    F1PrecisionRecall,
    {
        "binary_f1_precision_recall": ("binary", False),
        "macro_f1_precision_recall": ("macro", False),
        "micro_f1_precision_recall": ("micro", False),
    },
)


# -- ROC AUC, average precision -------------------------------------------------------------------
class _RankingMetric(BaseMetric):
    """Softmax scores against one-hot targets; `average`: macro (default), micro or weighted."""

    default_average = "macro"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._average = str(kwargs.pop("average", self.default_average))
        if kwargs:
            raise ConfigError(f"metric {self.name!r}: unsupported params {sorted(kwargs)}; supported: average")
        if self._average not in ("macro", "micro", "weighted"):
            raise ConfigError(f"metric {self.name!r}: average={self._average!r}; choose macro, micro or weighted")

    def _inputs(self, sample_list: SampleList, model_output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = _probabilities(_scores(model_output))
        targets = _field(sample_list, model_output, "targets")
        return scoring.one_hot_like(targets, probabilities), probabilities


@registry.register_metric("roc_auc")
class ROC_AUC(_RankingMetric):
    """ROC AUC; a column with one class only is left out of the average (scikit-learn raised)."""

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return scoring.roc_auc(*self._inputs(sample_list, model_output), average=self._average)


@registry.register_metric("ap")
class AveragePrecision(_RankingMetric):
    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return scoring.average_precision(*self._inputs(sample_list, model_output), average=self._average)


_register_averaged(ROC_AUC, {"micro_roc_auc": ("micro", False), "macro_roc_auc": ("macro", False)})
_register_averaged(AveragePrecision, {"micro_ap": ("micro", False), "macro_ap": ("macro", False)})


def _positive_scores(sample_list: SampleList, model_output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-1 probability (softmax column 1, or the single logit) and 0/1 targets."""
    scores = _scores(model_output)
    positive = _probabilities(scores) if _is_binary(scores) else torch.softmax(scores.double(), dim=-1)[:, 1]
    return _target_labels(_field(sample_list, model_output, "targets")), positive


@registry.register_metric("binary_ap")
class BinaryAP(BaseMetric):
    """Average precision of class 1 (softmax column 1 of two-class scores, or a single logit)."""

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return scoring.binary_average_precision(*_positive_scores(sample_list, model_output))


@registry.register_metric("r@pk")
class RecallAtPrecisionK(BaseMetric):
    """Highest recall of class 1 at a precision of at least `p_threshold` (0-1 or 1-100)."""

    def __init__(self, p_threshold: float, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.p_threshold = float(p_threshold) if p_threshold < 1 else float(p_threshold) / 100

    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return scoring.recall_at_precision(*_positive_scores(sample_list, model_output), self.p_threshold)


# -- recall at k: ranking candidates (MMF's visual dialog metrics) -------------------------------
class RecallAtK(BaseMetric):
    """Share of rows whose target candidate ranks in the top k of `scores` [B, N].

    Targets: the target's index [B] or scores / one-hot [B, N] (arg-max). MMF assumed exactly
    100 candidates (VisDial) and dropped ranks above 100; any N works here.
    """

    k = 1

    def __init__(self, name: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)

    def get_ranks(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return scoring.target_ranks(_scores(model_output), _field(sample_list, model_output, "targets"))

    def calculate(
        self,
        sample_list: SampleList,
        model_output: dict[str, Any],
        k: int | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        ranks = self.get_ranks(sample_list, model_output)
        return (ranks <= (self.k if k is None else k)).double().mean()


@registry.register_metric("r@1")
class RecallAt1(RecallAtK):
    k = 1


@registry.register_metric("r@5")
class RecallAt5(RecallAtK):
    k = 5


@registry.register_metric("r@10")
class RecallAt10(RecallAtK):
    k = 10


@registry.register_metric("mean_r")
class MeanRank(RecallAtK):
    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return self.get_ranks(sample_list, model_output).mean()


@registry.register_metric("mean_rr")
class MeanReciprocalRank(RecallAtK):
    def calculate(
        self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return self.get_ranks(sample_list, model_output).reciprocal().mean()


# -- recall at k: in-batch retrieval (MMF's r@k_retrieval family) -----------------------------------
def retrieval_recall(queries: torch.Tensor, candidates: torch.Tensor, k: int, flip: bool = False) -> torch.Tensor:
    """Recall@k of in-batch retrieval: row i of `queries` [B, D] matches candidates i*F .. i*F+F-1
    of `candidates` [F*B, D]; `flip` retrieves queries from candidates instead."""
    correlations = queries.double() @ candidates.double().t()
    batch_size = correlations.size(0)
    if correlations.size(1) % batch_size:
        raise ValueError(
            f"retrieval recall: {correlations.size(1)} candidates is not a multiple of {batch_size} queries"
        )
    factor = correlations.size(1) // batch_size
    labels = torch.arange(batch_size) * factor
    if flip:
        correlations, labels, factor = correlations.t(), torch.arange(batch_size).repeat_interleave(factor), 1
    top = correlations.topk(min(k, correlations.size(1)), dim=1).indices
    hits = ((top >= labels[:, None]) & (top < labels[:, None] + factor)).any(dim=1)
    return hits.double().mean()


@registry.register_metric("r@k_retrieval")
class RecallAtK_ret(BaseMetric):
    """`scores` are query embeddings [B, D], `targets` (model output) candidate embeddings [F*B, D]."""

    k = 1
    flip = False

    def __init__(
        self,
        name: str | None = None,
        k: int | None = None,
        flip: bool | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, *args, **kwargs)
        self.k = int(k) if k is not None else type(self).k
        self.flip = bool(flip) if flip is not None else type(self).flip

    def calculate(
        self,
        sample_list: SampleList,
        model_output: dict[str, Any],
        k: int | None = None,
        flip: bool | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        queries, candidates = _scores(model_output), _scores(model_output, "targets")
        return retrieval_recall(queries, candidates, self.k if k is None else k, self.flip if flip is None else flip)


for _k in (1, 5, 10):
    for _flip in (False, True):
        _name = f"r@{_k}{'_rev' if _flip else ''}_retrieval"
        registry.register_metric(_name)(
            type(
                f"RecallAt{_k}{'_rev' if _flip else ''}_ret",
                (RecallAtK_ret,),
                {
                    "k": _k,
                    "flip": _flip,
                    "__module__": __name__,
                    "__doc__": f"`r@k_retrieval` with k={_k}, flip={_flip}.",
                },
            )
        )


# -- MMF metrics we do not provide ----------------------------------------------------------------
_NEEDS_TEXT = "it needs MMF's answer/caption vocabularies or text evaluators (out of scope here)"
UNAVAILABLE_METRICS: dict[str, str] = {
    **dict.fromkeys(
        (
            "vqa_evalai_accuracy",
            "caption_bleu4",
            "textvqa_accuracy",
            "stvqa_anls",
            "stvqa_accuracy",
            "ocrvqa_accuracy",
            "textcaps_bleu4",
        ),
        _NEEDS_TEXT,
    ),
    "detection_mean_ap": "it reads MMF's COCO prediction reports; write a BaseMetric over "
    "torchmetrics.detection.MeanAveragePrecision instead",
}
for _name, _reason in UNAVAILABLE_METRICS.items():
    registry.register_metric(_name)(
        unavailable_class(
            "metric",
            _name,
            f"{_reason}; register your own with @registry.register_metric({_name!r})",
            BaseMetric,
        )
    )
