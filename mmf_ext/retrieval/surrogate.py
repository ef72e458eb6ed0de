"""A query-side linear surrogate of a pair scorer, so that an inner-product index can shortlist for it.

A pair network's score is not an inner product of two fixed embeddings, so no query embedding
ranks the gallery the way the network does (pooled IFN features keep only a small share of the
exact top-20). For one query, though, the score's logit is a smooth function of the gallery
feature m, and a ridge regression of the query's logits on a fixed probe sample of the gallery
gives a vector u_q with u_q . m ~ logit(q, m) + c_q. The probe's exact scores cost `probe_size`
pairs per query on the factorized fast path; the regression operator is computed once per gallery.
A second, optional round refits on the first shortlist, where the ranking matters.
"""

from __future__ import annotations

import torch

from mmf_ext.retrieval.interfaces import FactorizedPairScorer


def score_logits(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scores in (0, 1) -> logits; the surrogate fits logits, where the network is closer to linear."""
    scores = scores.clamp(eps, 1 - eps)
    return torch.log(scores) - torch.log1p(-scores)


def _regularised_gram(centred: torch.Tensor, ridge: float) -> torch.Tensor:
    gram = centred.t() @ centred
    scale = gram.diagonal().mean().clamp_min(1e-12)
    return gram + ridge * scale * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)


def ridge_operator(features: torch.Tensor, ridge: float) -> torch.Tensor:
    """W [E, P] such that W @ (z - z.mean()) is the ridge fit of z on the centred features."""
    centred = features - features.mean(0)
    return torch.linalg.solve(_regularised_gram(centred, ridge), centred.t())


def ridge_fit(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """The ridge coefficients [E] of targets [P] on the centred features [P, E] (one right-hand side)."""
    centred = features - features.mean(0)
    return torch.linalg.solve(_regularised_gram(centred, ridge), centred.t() @ (targets - targets.mean()))


class LinearSurrogate:
    """Per-query vectors u_q whose inner products with gallery features rank like the scorer."""

    def __init__(self, scorer: FactorizedPairScorer, gallery_features: torch.Tensor, probe_size: int = 2048,
                 ridge: float = 1e-2, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        count = gallery_features.shape[0]
        picked = torch.randperm(count, generator=generator)[: min(probe_size, count)]
        self.scorer = scorer
        self.ridge = ridge
        self.probe_features = gallery_features[picked].float()
        with torch.no_grad():
            self.probe_part = scorer.gallery_projection(gallery_features[picked])
        self.operator = ridge_operator(self.probe_features, ridge)

    @torch.no_grad()
    def query_vectors(self, query_part: torch.Tensor) -> torch.Tensor:
        """[Q, T, H] query projections -> [Q, E] surrogate vectors (fit on the probe sample)."""
        logits = self._logits(query_part, self.probe_part)  # [Q, P]
        return (logits - logits.mean(1, keepdim=True)) @ self.operator.t()

    @torch.no_grad()
    def refit(self, query_part: torch.Tensor, candidate_features: torch.Tensor, candidate_part: torch.Tensor) -> torch.Tensor:
        """One query [1, T, H], fit again on probe + its candidates [C, E] / [C, H]: sharper where the top is."""
        features = torch.cat([self.probe_features, candidate_features.float()])
        part = torch.cat([self.probe_part, candidate_part])
        return ridge_fit(features, self._logits(query_part, part)[0], self.ridge)[None]

    def _logits(self, query_part: torch.Tensor, gallery_part: torch.Tensor) -> torch.Tensor:
        pre = query_part.transpose(0, 1)[:, :, None, :] + gallery_part[None, None]  # [T, Q, P, H]
        return score_logits(self.scorer.score_preactivations(pre))
