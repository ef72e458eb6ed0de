"""Metric-learning losses shared by the cosine baselines and AsymNet's IFN pretraining phase.

Kept apart from both model packages so AsymNet can pretrain its IFN with the very objectives the
CS and InfoNCE baselines train with (the baselines import the IFN from asymnet, so asymnet cannot
import them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NOT_A_NEGATIVE = -1e4  # masked logit: finite, so an anchor without negatives gets zero loss, not NaN


def contrastive_loss(
    cosine: torch.Tensor, labels: torch.Tensor, negative_margin: float, positive_margin: float = 0.0
) -> torch.Tensor:
    """Mean of y max(0, d - m_pos)^2 + (1 - y) max(0, m_neg - d)^2 with d = ||a - b|| = sqrt(2 - 2 cos).

    m_pos = 0 is Hadsell et al.'s loss (written as 2 - 2 cos, smooth at d = 0); m_pos > 0 the
    robust variant that leaves positives closer than m_pos alone.
    """
    squared = (2 - 2 * cosine).clamp_min(0)
    distance = (squared + 1e-8).sqrt()
    positive = squared if positive_margin <= 0 else F.relu(distance - positive_margin).pow(2)
    negative = F.relu(negative_margin - distance).pow(2)
    labels = labels.to(cosine.dtype)
    return (labels * positive + (1 - labels) * negative).mean()


def multi_positive_infonce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean over (anchor a, positive p) of -log(exp(s_ap) / (exp(s_ap) + sum_negatives exp(s_an))).

    logits [A, C], positives bool [A, C]; = softplus(logsumexp(negatives) - s_ap). Positives never
    compete with each other: each gets its own term against the anchor's negatives only.
    """
    if not positives.any():
        return logits.sum() * 0.0
    negatives = torch.logsumexp(logits.masked_fill(positives, NOT_A_NEGATIVE), dim=1, keepdim=True)
    return F.softplus(negatives - logits)[positives].mean()


def same_product_mask(product_ids: list[str], device: torch.device) -> torch.Tensor:
    """[n, n] bool: items i and j show the same product."""
    return torch.tensor([[a == b for b in product_ids] for a in product_ids], dtype=torch.bool, device=device)
