"""Pure tensor scores behind the built-in metrics: F1 / precision / recall, ROC AUC, AP, ranks.

They follow scikit-learn's definitions (which MMF called) without depending on it: binary
scores per column, then "micro" (all columns pooled), "macro" (plain mean over columns),
"weighted" (mean weighted by each column's positives) or "samples" (per row) averaging.
Undefined values are 0 where scikit-learn's default gives 0 (a precision with no predicted
positives, an AP without positives); a ROC AUC of a column with one class is left out of the
average with a warning (scikit-learn raised), and is nan when no column is defined.
"""

from __future__ import annotations

import warnings

import torch

AVERAGES = ("binary", "micro", "macro", "weighted", "samples")


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    numerator, denominator = numerator.double(), denominator.double()
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / safe, torch.zeros_like(numerator))


def _fbeta(precision: torch.Tensor, recall: torch.Tensor) -> torch.Tensor:
    return _ratio(2 * precision * recall, precision + recall)


def one_hot_like(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Index targets [B] as one-hot [B, C] when the scores have C columns (MMF's _convert_to_one_hot)."""
    if targets.dim() == 1 and scores.dim() == 2 and scores.size(-1) > 1:
        return torch.nn.functional.one_hot(targets.long(), num_classes=scores.size(-1))
    return targets


def precision_recall_f1(
    truth: torch.Tensor, predicted: torch.Tensor, average: str = "binary", pos_label: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(precision, recall, f1) of label vectors [B] or indicator matrices [B, C], as scikit-learn's."""
    truth, predicted = truth.detach().cpu().long(), predicted.detach().cpu().long()
    if average not in AVERAGES:
        raise ValueError(f"average={average!r}: choose one of {', '.join(AVERAGES)}")
    if truth.dim() == 2:
        if average == "binary":
            raise ValueError(
                "Target is multilabel-indicator but average='binary'; choose micro, macro, weighted or samples"
            )
        truth_cols, predicted_cols = truth.bool(), predicted.bool()
    else:
        labels = torch.unique(torch.cat([truth, predicted]))
        if average == "binary":
            if len(labels) > 2 or (len(labels) == 2 and pos_label not in labels.tolist()):
                raise ValueError(
                    f"Target is multiclass (labels {labels.tolist()}) but average='binary'; "
                    "choose micro, macro or weighted"
                )
            labels = torch.tensor([pos_label])
        elif average == "samples":
            raise ValueError("average='samples' needs multilabel (indicator) targets")
        truth_cols = truth[:, None] == labels[None, :]
        predicted_cols = predicted[:, None] == labels[None, :]
    if average == "samples":
        return _averaged(truth_cols.t(), predicted_cols.t(), "macro")
    return _averaged(truth_cols, predicted_cols, average)


def _averaged(
    truth: torch.Tensor, predicted: torch.Tensor, average: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of boolean columns [N, C] combined over the columns."""
    tp = (truth & predicted).sum(0)
    support, predicted_count = truth.sum(0), predicted.sum(0)
    if average == "micro":
        precision, recall = _ratio(tp.sum(), predicted_count.sum()), _ratio(tp.sum(), support.sum())
        return precision, recall, _fbeta(precision, recall)
    precision, recall = _ratio(tp, predicted_count), _ratio(tp, support)
    f1 = _fbeta(precision, recall)
    if average == "weighted":
        weights = support.double() / support.sum().clamp(min=1)
        return (precision * weights).sum(), (recall * weights).sum(), (f1 * weights).sum()
    return precision.mean(), recall.mean(), f1.mean()


def _binary_columns(targets: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    targets, scores = targets.detach().cpu(), scores.detach().cpu().double()
    if scores.dim() == 1:
        scores, targets = scores[:, None], targets.reshape(-1, 1)
    return targets.reshape(scores.shape).long(), scores


def roc_auc(targets: torch.Tensor, scores: torch.Tensor, average: str = "macro") -> torch.Tensor:
    """ROC AUC of indicator targets [B, C] (or [B]) against scores of the same shape."""
    targets, scores = _binary_columns(targets, scores)
    if average == "micro":
        targets, scores = targets.reshape(-1, 1), scores.reshape(-1, 1)
    defined = [(c, targets[:, c]) for c in range(targets.size(1)) if targets[:, c].unique().numel() == 2]
    if len(defined) < targets.size(1):
        warnings.warn(
            f"roc_auc: {targets.size(1) - len(defined)} of {targets.size(1)} column(s) hold one class "
            "only; their ROC AUC is undefined and left out",
            stacklevel=2,
        )
    if not defined:
        return torch.tensor(float("nan"), dtype=torch.float64)
    values = torch.stack([binary_roc_auc(column, scores[:, c]).double() for c, column in defined])
    return _column_average(values, torch.stack([column.sum() for _, column in defined]), average)


def average_precision(targets: torch.Tensor, scores: torch.Tensor, average: str = "macro") -> torch.Tensor:
    """Average precision (step-wise, scikit-learn's) of indicator targets against scores."""
    targets, scores = _binary_columns(targets, scores)
    if average == "micro":
        targets, scores = targets.reshape(-1, 1), scores.reshape(-1, 1)
    values = [binary_average_precision(targets[:, c], scores[:, c]) for c in range(targets.size(1))]
    return _column_average(torch.stack(values), targets.sum(0), average)


def _column_average(values: torch.Tensor, positives: torch.Tensor, average: str) -> torch.Tensor:
    if average in ("macro", "micro", "binary"):
        return values.mean()
    if average == "weighted":
        weights = positives.double()
        return (values * weights).sum() / weights.sum() if weights.sum() > 0 else values.new_tensor(0.0)
    raise ValueError(f"average={average!r}: choose macro, micro or weighted")


def binary_roc_auc(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Probability that a positive outscores a negative (ties count half): the Mann-Whitney form."""
    targets, scores = targets.reshape(-1).double(), scores.reshape(-1).double()
    positives = targets.sum()
    negatives = len(targets) - positives
    ordered, order = torch.sort(scores, stable=True)
    _, inverse, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    ranks = torch.empty_like(scores)
    ranks[order] = (ends - (counts.double() - 1) / 2)[inverse]  # average 1-based rank of each tie group
    return (ranks[targets > 0].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def _precision_recall_points(targets: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall at each distinct score threshold, highest threshold first."""
    targets, scores = targets.reshape(-1).double(), scores.reshape(-1).double()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, targets = scores[order], targets[order]
    last = torch.cat([scores[1:] != scores[:-1], torch.tensor([True])])  # last item of each tie group
    tps = torch.cumsum(targets, 0)[last]
    counts = torch.arange(1, len(scores) + 1, dtype=torch.float64)[last]
    return tps / counts, tps / targets.sum()


def binary_average_precision(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Sum over thresholds of (recall gained) x precision; 0 without positives."""
    if targets.sum() == 0:
        return torch.tensor(0.0, dtype=torch.float64)
    precision, recall = _precision_recall_points(targets, scores)
    gained = torch.diff(recall, prepend=recall.new_zeros(1))
    return (gained * precision).sum()


def recall_at_precision(targets: torch.Tensor, scores: torch.Tensor, p_threshold: float) -> torch.Tensor:
    """The highest recall at a score threshold whose precision is at least `p_threshold` (0 if none)."""
    targets, scores = targets.detach().cpu(), scores.detach().cpu()
    if targets.sum() == 0:
        return torch.tensor(0.0, dtype=torch.float64)
    precision, recall = _precision_recall_points(targets, scores)
    ok = precision >= p_threshold
    return recall[ok].max() if ok.any() else torch.tensor(0.0, dtype=torch.float64)


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based rank of each row's target among its candidates (descending scores, ties by position).

    Targets are indices [B] or scores/one-hot [B, N] (their arg-max is the target).
    """
    scores = scores.detach().cpu()
    targets = targets.detach().cpu()
    index = targets.argmax(dim=1) if targets.dim() == 2 else targets.reshape(-1).long()
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    return (order == index[:, None]).float().argmax(dim=1).double() + 1
