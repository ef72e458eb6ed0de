"""What AsymNet trains on: the phase schedule, the IFN pretraining objective, pair losses, hard negatives.

The paper (Sec. 4.3, Alg. 1) starts from an ImageNet-pretrained IFN, trains IFN + VFN + SSN by the
log loss of Eq. 5 and the fusion nodes by Eq. 9. Here, as options beside that recipe:
- phase `pretrain` first (`ifn_pretraining.until` > 0): metric learning of the IFN alone on the
  training items' frames and shop images, to give it the strong image representation the paper
  gets from ImageNet when no pretrained file exists (offline clusters, this project's machines);
- `two_step: alternate`: Alg. 1 read literally, SSN and fusion nodes both updated in every
  iteration (the fusion loss sees the SSN's outputs detached, so each loss trains its own part);
  `sequential` switches once, at `fusion_start`;
- `pair_loss: ranking` (or `log+ranking`): a softmax over each item's 2S (+ hard) shop images per
  positive, beside Eq. 5's per-pair log loss;
- `hard_negatives: k`: each trajectory also meets the k shop images of other products in its batch
  that it currently scores highest (the near-duplicates of the paper's Fig. 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mmf_ext.utils.errors import ConfigError
from video2shop.models.metric_losses import contrastive_loss, multi_positive_infonce, same_product_mask

PRETRAINING_LOSSES = ("contrastive", "infonce")
AFTER_PRETRAINING = ("finetune", "freeze")
TWO_STEP = ("sequential", "alternate")
PAIR_LOSSES = ("log", "ranking", "log+ranking")


@dataclass(frozen=True)
class PhaseSchedule:
    """Which phase an update belongs to, from the share of the run's updates already made."""

    phase: str  # ssn | fusion | both
    two_step: str  # sequential | alternate
    pretrain_until: float  # share of updates in phase pretrain
    fusion_start: float  # with phase both + sequential: share of updates before phase fusion

    @classmethod
    def from_config(cls, config: Any) -> PhaseSchedule:
        phase, two_step = str(config.phase), str(config.two_step)
        if phase not in ("ssn", "fusion", "both"):
            raise ConfigError(f"model_config.asymnet.phase={phase!r}; choose ssn, fusion or both")
        if two_step not in TWO_STEP:
            raise ConfigError(f"model_config.asymnet.two_step={two_step!r}; choose {', '.join(TWO_STEP)}")
        until, start = float(config.ifn_pretraining.until), float(config.fusion_start)
        if not 0.0 <= until < 1.0:
            raise ConfigError(
                f"model_config.asymnet.ifn_pretraining.until={until} must be in [0, 1): the share of updates "
                "spent pretraining the IFN"
            )
        if phase == "both" and two_step == "sequential" and not until < start <= 1.0:
            raise ConfigError(
                f"model_config.asymnet.fusion_start={start} must lie in (ifn_pretraining.until={until}, 1]: "
                "phase fusion starts after phase ssn"
            )
        return cls(phase, two_step, until, start)

    def at(self, progress: float) -> str:
        """pretrain | ssn | fusion | alternate at `progress` = updates made / max updates."""
        if progress < self.pretrain_until:
            return "pretrain"
        if self.phase != "both":
            return self.phase
        if self.two_step == "alternate":
            return "alternate"
        return "ssn" if progress < self.fusion_start else "fusion"


@dataclass(frozen=True)
class PretrainingObjective:
    """The IFN's metric-learning objective of phase pretrain (the CS / InfoNCE baselines' own losses)."""

    loss: str
    negative_margin: float
    temperature: float

    @classmethod
    def from_config(cls, config: Any) -> PretrainingObjective:
        loss = str(config.loss)
        if loss not in PRETRAINING_LOSSES:
            raise ConfigError(
                f"model_config.asymnet.ifn_pretraining.loss={loss!r}; choose {', '.join(PRETRAINING_LOSSES)}"
            )
        if str(config.afterwards) not in AFTER_PRETRAINING:
            raise ConfigError(
                f"model_config.asymnet.ifn_pretraining.afterwards={config.afterwards!r}; "
                f"choose {', '.join(AFTER_PRETRAINING)}"
            )
        temperature = float(config.temperature)
        if temperature <= 0:
            raise ConfigError(f"model_config.asymnet.ifn_pretraining.temperature={temperature} must be positive")
        return cls(loss, float(config.negative_margin), temperature)

    def __call__(
        self,
        frame_embeddings: torch.Tensor,
        image_embeddings: torch.Tensor,
        labels: torch.Tensor,
        product_ids: list[str],
    ) -> torch.Tensor:
        """L2-normalised frame embeddings [n, T, d] and shop-image embeddings [n, 2S, d], labels [n, 2S].

        contrastive: every frame against each of its item's 2S images (CS's contrastive term);
        infonce: the trajectory's mean embedding against every image of the batch, positives being the
        positive images of items with its product.
        """
        if self.loss == "contrastive":
            cosine = frame_embeddings @ image_embeddings.transpose(1, 2)  # [n, T, 2S]
            return contrastive_loss(cosine, labels[:, None, :].expand_as(cosine), self.negative_margin)
        n, pairs = labels.shape
        videos = F.normalize(frame_embeddings.mean(1), dim=-1)
        logits = videos @ image_embeddings.reshape(n * pairs, -1).t() / self.temperature  # [n, n * 2S]
        same = same_product_mask(product_ids, logits.device)
        positives = (same[:, :, None] & (labels > 0.5)[None]).reshape(n, n * pairs)
        return multi_positive_infonce(logits, positives)


def check_pair_loss(name: str) -> str:
    if name not in PAIR_LOSSES:
        raise ConfigError(f"model_config.asymnet.pair_loss={name!r}; choose {', '.join(PAIR_LOSSES)}")
    return name


def pair_loss(logits: torch.Tensor, labels: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    """Leaf logits [n, P, W, L] of each item's P shop images and labels [n, P] -> the named losses.

    log: Eq. 5 over every pair and leaf. ranking: per item, window and leaf, each positive's logit
    against the item's negatives by a softmax (the multi-positive InfoNCE form, temperature 1 on
    the SSN's logit), so the SSN learns to order an item's images, not only to threshold them.
    """
    losses: dict[str, torch.Tensor] = {}
    if name in ("log", "log+ranking"):
        target = labels[:, :, None, None].expand_as(logits)
        losses["ssn_log_loss"] = F.binary_cross_entropy_with_logits(logits, target)
    if name in ("ranking", "log+ranking"):
        n, pairs, windows, leaves = logits.shape
        per_leaf = logits.permute(0, 2, 3, 1).reshape(n * windows * leaves, pairs)
        positives = (labels > 0.5)[:, None, None, :].expand(n, windows, leaves, pairs).reshape(-1, pairs)
        losses["ssn_ranking_loss"] = multi_positive_infonce(per_leaf, positives)
    return losses


def hard_negative_positions(scores: torch.Tensor, labels: torch.Tensor, product_ids: list[str], k: int) -> torch.Tensor:
    """The batch's k hardest negative shop images per trajectory.

    scores [n, n, 2S]: trajectory i against item j's images (no gradient needed). Candidates are the
    positive images of items with another product (a negative image of another item may show i's
    product: items do not name their negatives' products). Returns flat image positions [n, k] into
    the batch's n * 2S images; -1 where fewer than k candidates exist.
    """
    n, _, pairs = scores.shape
    other = ~same_product_mask(product_ids, scores.device)  # [n, n]
    candidate = other[:, :, None] & (labels > 0.5)[None]  # [n, n, 2S]
    masked = scores.masked_fill(~candidate, float("-inf")).reshape(n, n * pairs)
    k = min(k, n * pairs)
    values, positions = masked.topk(k, dim=1)
    return positions.masked_fill(torch.isinf(values), -1)
