"""Losses from a model config's `losses:` list, reported as `<split>/<dataset>/<loss>`.

A loss is a registered nn.Module with forward(sample_list, model_output) returning a tensor or a
dict of tensors; `MMFLoss` wraps one entry (a name or `{type, params}`) and names its result:
a tensor is `<split>/<dataset>/<type>`, a dict `{child: v}` is `<split>/<dataset>/<type>/<child>`.
As in MMF, a loss whose type starts with "multi" gets the whole entry (for `multi`'s list of
weighted sub-losses), and a loss with a `datasets` list attribute runs only on those datasets.

Where we differ from MMF, on purpose: 0-d results stay 0-d (MMF made them 1-d; Lightning logs
scalars); targets are read from the sample list, else from the model output; `Losses` skips
(with a warning) only when neither holds `targets` (MMF looked at the sample list only).
"""

from __future__ import annotations

import collections.abc
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mmf_ext.common.registry import registry, unavailable_class
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.distributed import gather_tensor_along_batch_with_backward, get_rank
from mmf_ext.utils.errors import ConfigError


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _meta(sample_list: Any, key: str) -> Any:
    """dataset_name / dataset_type of a SampleList (attributes) or of a plain dict batch (keys)."""
    value = getattr(sample_list, key, None)
    return value if value is not None else sample_list.get(key)


class MMFLoss(nn.Module):
    """One configured loss: builds it from a name or `{type, params}` and names its values."""

    def __init__(self, params: str | dict | None = None) -> None:
        super().__init__()
        params = _plain(params) if params is not None else {}
        if isinstance(params, collections.abc.Mapping):
            if "type" not in params:
                raise ConfigError(f"losses entry {params!r} needs a 'type' naming the loss")
            loss_name = str(params["type"])
        elif isinstance(params, str):
            loss_name = params
        else:
            raise ConfigError(f"losses entry {params!r} must be a name or {{type: NAME, params: {{...}}}}")
        self.name = loss_name
        loss_class = registry.get_loss_class(loss_name)
        if loss_name.startswith("multi"):
            if not isinstance(params, collections.abc.Mapping):
                raise ConfigError(f"loss {loss_name!r} needs {{type: {loss_name}, params: [...]}}")
            self.loss_criterion = loss_class(params)
            return
        loss_params = (params.get("params") or {}) if isinstance(params, collections.abc.Mapping) else {}
        try:
            self.loss_criterion = loss_class(**loss_params)
        except TypeError as error:
            raise ConfigError(f"losses: loss {loss_name!r} rejected its params {loss_params}: {error}") from None

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        dataset_name, dataset_type = _meta(sample_list, "dataset_name"), _meta(sample_list, "dataset_type")
        datasets = getattr(self.loss_criterion, "datasets", None)
        if isinstance(datasets, list) and dataset_name not in datasets:
            return {}
        result = self.loss_criterion(sample_list, model_output)
        if not isinstance(result, collections.abc.Mapping):
            result = {"": result}
        prefix = f"{dataset_type}/{dataset_name}/{self.name}"
        named = {}
        for child, value in result.items():
            value = value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float)
            named[f"{prefix}/{child}" if child else prefix] = value
        return named


class Losses(nn.Module):
    """Every configured loss (`losses: [...]` of the model config); forward merges their dicts."""

    def __init__(self, loss_list: Any) -> None:
        super().__init__()
        loss_list = _plain(loss_list)
        if loss_list is None:
            loss_list = []
        elif isinstance(loss_list, (str, collections.abc.Mapping)):
            loss_list = [loss_list]
        self.losses = nn.ModuleList(MMFLoss(entry) for entry in loss_list)
        self._warned_no_targets = False

    def __len__(self) -> int:
        return len(self.losses)

    @property
    def names(self) -> list[str]:
        return [loss.name for loss in self.losses]

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        if len(self.losses) and "targets" not in sample_list and "targets" not in model_output:
            if not self._warned_no_targets:
                warnings.warn(
                    "Sample list has no field 'targets' (nor does the model output); the configured "
                    "losses are skipped. Are you sure your dataset has labels?",
                    stacklevel=2,
                )
                self._warned_no_targets = True
            return {}
        output: dict[str, torch.Tensor] = {}
        for loss in self.losses:
            output.update(loss(sample_list, model_output))
        return output


def _targets(sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
    return sample_list["targets"] if "targets" in sample_list else model_output["targets"]


def _scores_and_targets(sample_list: SampleList, model_output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores, and float targets of the scores' dtype (for the BCE / KL family)."""
    scores = model_output["scores"]
    return scores, _targets(sample_list, model_output).to(scores.dtype)


def _width(targets: torch.Tensor) -> int:
    """MMF scales BCE-style means by the number of classes, targets.size(1); 1 for [B] targets."""
    return targets.size(1) if targets.dim() > 1 else 1


def kl_div(log_x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise KL(y || x) from log x, with 0 log 0 = 0; shape [B, 1]."""
    safe_y = torch.where(y > 0, y, torch.ones_like(y))
    terms = torch.where(y > 0, y * (torch.log(safe_y) - log_x), torch.zeros_like(y))
    return terms.sum(dim=1, keepdim=True)


def _normalised_targets(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets divided by their row sums (all-zero rows: by 1e-6), and the row sums."""
    row_sums = targets.sum(dim=1, keepdim=True)
    row_sums = torch.where(row_sums == 0, torch.full_like(row_sums, 1e-6), row_sums)
    return targets / row_sums, row_sums


# -- binary cross entropy family ------------------------------------------------------------------
@registry.register_loss("logit_bce")
class LogitBinaryCrossEntropy(nn.Module):
    """BCE with logits, mean over elements, times the number of classes (MMF's scaling)."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        return F.binary_cross_entropy_with_logits(scores, targets, reduction="mean") * _width(targets)


@registry.register_loss("triple_logit_bce")
class TripleLogitBinaryCrossEntropy(nn.Module):
    """`logit_bce` summed over three branches when scores are [B, 3, C]."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        branches = [scores[:, i] for i in range(3)] if scores.dim() == 3 else [scores]
        loss = sum(F.binary_cross_entropy_with_logits(b, targets, reduction="mean") for b in branches)
        return loss * targets.size(-1)


@registry.register_loss("bce")
class BinaryCrossEntropyLoss(nn.Module):
    """BCE of probabilities, times the number of classes (MMF's scaling)."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        return F.binary_cross_entropy(scores, targets, reduction="mean") * _width(targets)


@registry.register_loss("binary_cross_entropy_with_logits")
class BinaryCrossEntropyWithLogits(nn.Module):
    """Plain BCE with logits (no scaling); targets reshaped to the scores."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        return F.binary_cross_entropy_with_logits(scores, targets.reshape(scores.shape))


@registry.register_loss("m4c_decoding_bce_with_mask")
class M4CDecodingBCEWithMaskLoss(nn.Module):
    """BCE with logits over [B, T, C] decoding steps, masked by `train_loss_mask` [B, T]."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        mask = sample_list["train_loss_mask"].to(scores.dtype)
        if scores.dim() != 3 or mask.dim() != 2:
            raise ValueError("m4c_decoding_bce_with_mask needs scores [B, T, C] and train_loss_mask [B, T]")
        losses = F.binary_cross_entropy_with_logits(scores, targets, reduction="none") * mask.unsqueeze(-1)
        return losses.sum() / mask.sum().clamp(min=1.0)


# -- cross entropy family -----------------------------------------------------------------------
@registry.register_loss("cross_entropy")
class CrossEntropyLoss(nn.Module):
    """torch's cross entropy with `params` (weight, ignore_index, label_smoothing, ...).

    Targets are class indices, or class probabilities when float and shaped like the scores.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__()
        weight = params.pop("weight", None)
        nn.CrossEntropyLoss(**params)  # unknown params fail here, when the model is built
        self.params = params
        # A list from the config works too; not persistent, so checkpoints do not change with it.
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float), persistent=False
        )

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = model_output["scores"], _targets(sample_list, model_output)
        if not (targets.is_floating_point() and targets.shape == scores.shape):
            targets = targets.long()
            if targets.dim() == scores.dim() and targets.size(-1) == 1:
                targets = targets.squeeze(-1)
        weight = None if self.weight is None else self.weight.to(scores.dtype)
        return F.cross_entropy(scores, targets, weight=weight, **self.params)


@registry.register_loss("nll_loss")
class NLLLoss(nn.Module):
    """NLL of log-probabilities; targets one-hot / soft [B, C] (arg-max) or indices [B]; times C."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = model_output["scores"], _targets(sample_list, model_output)
        index = targets.argmax(dim=1) if targets.dim() > 1 else targets.long()
        return F.nll_loss(scores, index, reduction="mean") * scores.size(1)


@registry.register_loss("caption_cross_entropy")
class CaptionCrossEntropyLoss(nn.Module):
    """Cross entropy over the decoded steps of captions [B, T, V], shortened by `caption_len`."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = model_output["scores"], _targets(sample_list, model_output)
        if "caption_len" in sample_list:
            lengths = (sample_list["caption_len"].sort(dim=0, descending=True).values - 1).tolist()
        else:
            lengths = [targets.size(1)] * targets.size(0)
        scores = pack_padded_sequence(scores, lengths, batch_first=True).data
        targets = pack_padded_sequence(targets, lengths, batch_first=True).data
        return F.cross_entropy(scores, targets)


@registry.register_loss("soft_label_cross_entropy")
class SoftLabelCrossEntropyLoss(nn.Module):
    """Cross entropy against soft targets [B, C] (or indices [B]); ignored / all-zero rows add nothing."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean", normalize_targets: bool = True) -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ConfigError("soft_label_cross_entropy: reduction must be 'mean' or 'sum'")
        self.ignore_index, self.reduction, self.normalize_targets = ignore_index, reduction, normalize_targets
        self.eps = torch.finfo(torch.float32).eps

    def compute_loss(self, targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if targets.size(0) != scores.size(0):
            raise ValueError("`targets` and `scores` should have the same batch size")
        if targets.dim() == 1:
            targets = targets.unsqueeze(1)
            mask = targets.ne(self.ignore_index).float()
        else:
            mask = targets.sum(-1, keepdim=True).ne(0).float()
        if targets.size(1) == 1:
            index = torch.where(mask.bool(), targets.long(), torch.zeros_like(targets.long()))
            targets = torch.zeros_like(scores).scatter_(1, index, 1.0)
        targets = targets.float() * mask
        if self.normalize_targets:
            targets = targets / (self.eps + targets.sum(dim=1, keepdim=True))
        loss = (-targets * F.log_softmax(scores, dim=-1)).sum()
        if self.reduction == "mean":
            loss = loss / (mask.sum(-1) > 0).sum().clamp(min=1)
        return loss

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        return self.compute_loss(_targets(sample_list, model_output), model_output["scores"])


@registry.register_loss("label_smoothing_cross_entropy")
class LabelSmoothingCrossEntropyLoss(SoftLabelCrossEntropyLoss):
    """Cross entropy with 1 - s on the true class and s / (C - 1) on each other one."""

    def __init__(self, label_smoothing: float = 0.1, reduction: str = "mean", ignore_index: int = -100) -> None:
        if not 0 <= label_smoothing < 1:
            raise ConfigError("label_smoothing_cross_entropy: label_smoothing must be in [0, 1)")
        super().__init__(ignore_index, reduction, False)
        self.label_smoothing = label_smoothing

    def smooth_targets(self, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
        targets = targets.unsqueeze(1) if targets.dim() == 1 else targets
        mask = targets.ne(self.ignore_index)
        smoothed = torch.full(
            (targets.size(0), n_classes), self.label_smoothing / (n_classes - 1), device=targets.device
        )
        smoothed.scatter_(1, targets.long() * mask.long(), 1 - self.label_smoothing)
        return smoothed * mask.float()

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores = model_output["scores"]
        return self.compute_loss(self.smooth_targets(_targets(sample_list, model_output), scores.size(1)), scores)


# -- soft-target KL family ------------------------------------------------------------------------
@registry.register_loss("weighted_softmax")
class WeightedSoftmaxLoss(nn.Module):
    """KL to the normalised targets, weighted by each row's target sum, averaged over rows."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        normalised, row_sums = _normalised_targets(targets)
        loss = kl_div(F.log_softmax(scores, dim=1), normalised) * row_sums
        return loss.sum() / loss.size(0)


@registry.register_loss("softmax_kldiv")
class SoftmaxKlDivLoss(nn.Module):
    """KL to the normalised targets, averaged over rows."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        loss = kl_div(F.log_softmax(scores, dim=1), _normalised_targets(targets)[0])
        return loss.sum() / loss.size(0)


@registry.register_loss("wrong")
class WrongLoss(nn.Module):
    """MMF's `wrong`: torch's element-mean KL to the normalised targets, times the number of classes."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        terms = kl_div(F.log_softmax(scores, dim=1), _normalised_targets(targets)[0])  # torch's kl_div, summed
        return terms.sum() / targets.numel() * targets.size(1)


def _kl_and_bce(sample_list: SampleList, model_output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    scores, targets = _scores_and_targets(sample_list, model_output)
    kl = kl_div(F.log_softmax(scores, dim=1), _normalised_targets(targets)[0])
    bce = F.binary_cross_entropy_with_logits(scores, targets, reduction="mean") * targets.size(1)
    return kl.sum() / kl.size(0), bce


@registry.register_loss("bce_kl_combined")
class CombinedLoss(nn.Module):
    """weight_softmax x `softmax_kldiv` + `logit_bce`."""

    def __init__(self, weight_softmax: float) -> None:
        super().__init__()
        self.weight_softmax = weight_softmax

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        kl, bce = _kl_and_bce(sample_list, model_output)
        return self.weight_softmax * kl + bce


@registry.register_loss("bce_kl")
class BCEAndKLLoss(nn.Module):
    """Both parts of `bce_kl_combined`, reported as `<...>/bce_kl/kl` and `<...>/bce_kl/bce`."""

    def __init__(self, weight_softmax: float) -> None:
        super().__init__()
        self.weight_softmax = weight_softmax

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        kl, bce = _kl_and_bce(sample_list, model_output)
        return {"kl": self.weight_softmax * kl, "bce": bce}


# -- regression and embeddings ----------------------------------------------------------------------
@registry.register_loss("mse")
class MSELoss(nn.Module):
    """Mean squared error; targets reshaped to the scores and cast to their dtype."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        return F.mse_loss(scores, targets.reshape(scores.shape))


@registry.register_loss("cos_emb_loss")
class CosineEmbeddingLoss(nn.Module):
    """1 - cosine similarity of scores and target embeddings, averaged."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores, targets = _scores_and_targets(sample_list, model_output)
        return F.cosine_embedding_loss(scores, targets, torch.ones(targets.size(0), device=targets.device))


@registry.register_loss("attention_supervision")
class AttentionSupervisionLoss(nn.Module):
    """BCE of the first attention map against `sample_list.info.attention_supervision`, times its width."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        supervision = sample_list["info"]["attention_supervision"].float()
        loss = F.binary_cross_entropy(model_output["attentions"][0], supervision, weight=supervision)
        return loss * supervision.size(1)


@registry.register_loss("in_batch_hinge")
class InBatchHinge(nn.Module):
    """VSE++ hinge over in-batch negatives: `scores` [B, D] against `targets` [F*B, D] (model output)."""

    def __init__(self, margin: float = 0.0, hard: bool = False) -> None:
        super().__init__()
        self.margin, self.hard = margin, hard

    def _compute_loss(self, correlations: torch.Tensor) -> torch.Tensor:
        diagonal = correlations.diag()[:, None]
        cost_s = (self.margin + correlations - diagonal).clamp(min=0)
        cost_im = (self.margin + correlations - diagonal.t()).clamp(min=0)
        off_diagonal = 1 - torch.eye(correlations.size(0), device=correlations.device)
        cost_s, cost_im = cost_s * off_diagonal, cost_im * off_diagonal
        if self.hard:
            cost_s, cost_im = cost_s.max(1)[0], cost_im.max(0)[0]
        return cost_s.sum() + cost_im.sum()

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        images, texts = model_output["scores"], model_output["targets"]
        if images.size(0) == texts.size(0):
            return self._compute_loss(images @ texts.t())
        if texts.size(0) % images.size(0):
            raise ValueError("in_batch_hinge: targets must hold a whole number of embeddings per score row")
        batch_size, dim = images.shape
        texts = texts.reshape(batch_size, texts.size(0) // batch_size, dim)
        return sum(self._compute_loss(corr) for corr in images @ texts.permute(1, 2, 0))


@registry.register_loss("contrastive_loss")
class ContrastiveLoss(nn.Module):
    """Symmetric InfoNCE of `embedding_1` / `embedding_2` against every rank's batch, at `temperature`."""

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        if "embedding_1" not in model_output or "embedding_2" not in model_output:
            raise KeyError("contrastive_loss needs embedding_1 and embedding_2 in the model output")
        first, second = model_output["embedding_1"], model_output["embedding_2"]
        if first.size(0) != second.size(0):
            raise ValueError("contrastive_loss: embedding_1 and embedding_2 must have the same batch size")
        temperature = model_output["temperature"]
        logits_1 = first @ gather_tensor_along_batch_with_backward(second).t() / temperature
        logits_2 = second @ gather_tensor_along_batch_with_backward(first).t() / temperature
        labels = first.size(0) * get_rank() + torch.arange(first.size(0), device=first.device)
        return (F.cross_entropy(logits_1, labels) + F.cross_entropy(logits_2, labels)) / 2


# -- combining ------------------------------------------------------------------------------------
@registry.register_loss("multi")
class MultiLoss(nn.Module):
    """Weighted sum of sub-losses, MMF's format (a missing weight is 1)::

    losses:
      - type: multi
        params:
          - {type: logit_bce, weight: 0.3, params: {}}
          - {type: softmax_kldiv, weight: 0.7}
    """

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__()
        entries = params.get("params") or []
        if not isinstance(entries, list):
            raise ConfigError("loss 'multi' needs params: a list of {type, weight, params} sub-losses")
        self.losses = nn.ModuleList(MMFLoss(entry) for entry in entries)
        self.losses_weights = [float(entry.get("weight", 1.0)) if isinstance(entry, dict) else 1.0 for entry in entries]
        self.loss_names = [loss.name for loss in self.losses]

    def forward(self, sample_list: SampleList, model_output: dict[str, Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        total: Any = 0
        for weight, loss in zip(self.losses_weights, self.losses):
            total = total + weight * sum(loss(sample_list, model_output).values())
        return total


# -- MMF losses we do not provide -------------------------------------------------------------------
for _name in ("refiner_ms", "ms_loss", "refiner_contrastive_loss"):
    registry.register_loss(_name)(
        unavailable_class(
            "loss",
            _name,
            "it belongs to MMF's Refiner / multi-similarity projects (not provided here); register "
            f"your own nn.Module with @registry.register_loss({_name!r})",
            nn.Module,
        )
    )
