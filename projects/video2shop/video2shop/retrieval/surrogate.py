"""A query-side linear surrogate of a pair scorer, so that an inner-product index can shortlist for it.

A pair network's score is not an inner product of two fixed embeddings, so no query embedding
ranks the gallery the way the network does (pooled IFN features keep only a small share of the
exact top-20). For one query, though, the score's logit is a smooth function of the gallery
feature m, and a ridge regression of the query's logits on a fixed probe sample of the gallery
gives a vector u_q with u_q . m ~ logit(q, m) + c_q. The probe's exact scores cost `probe_size`
pairs per query on the factorized fast path; the regression operator is computed once per gallery.
A second, optional round refits on the first shortlist, where the ranking matters.

Linear in m is too coarse for large galleries: the first layer is x_t = relu(a_t + u) with
u = B m, so the logit is piecewise linear in u, with a kink per hidden unit where a_t + u
crosses zero. `ReluFeatureMap` gives the regression those kinks: phi(m) = [u, relu(u + c_1), ...,
relu(u + c_K)] for K centres c_k of typical query pre-activations a_t, reduced by PCA. For a query
whose a_t lies near some c_k the logit is then close to linear in phi(m). The centres come from
the scorer's `reference_query_parts` (for AsymNet: still trajectories of gallery images), so the
map is fitted from the gallery and the model alone, at indexing time.
"""

from __future__ import annotations

import torch

from video2shop.retrieval.faiss_threads import faiss
from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import score_parts


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


class ReluFeatureMap:
    """phi(u) = PCA([u, relu(u + c_1), ..., relu(u + c_K)]) of gallery projections u [N, H]."""

    def __init__(self, centres: torch.Tensor, mean: torch.Tensor, projection: torch.Tensor) -> None:
        self.centres, self.mean, self.projection = centres.float(), mean.float(), projection.float()

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    @classmethod
    def fit(
        cls,
        gallery_part: torch.Tensor,
        query_parts: torch.Tensor,
        clusters: int = 8,
        dim: int = 384,
        sample: int = 4096,
        seed: int = 0,
    ) -> ReluFeatureMap:
        """Centres: k-means (FAISS) of query pre-activations [N, H]; PCA on a sample of the gallery."""
        generator = torch.Generator().manual_seed(seed)
        queries = query_parts.detach().float().cpu()
        clusters = max(1, min(clusters, len(queries) // 39))  # FAISS wants 39 points per centre
        kmeans = faiss.Kmeans(queries.shape[1], clusters, niter=20, seed=seed)
        kmeans.train(queries.numpy().astype("float32"))
        centres = torch.from_numpy(kmeans.centroids.copy())
        rows = torch.randperm(len(gallery_part), generator=generator)[:sample]
        raw = cls._expand(gallery_part[rows].detach().float().cpu(), centres)
        mean = raw.mean(0)
        dim = max(1, min(dim, raw.shape[1], len(rows)))
        _, _, basis = torch.linalg.svd(raw - mean, full_matrices=False)
        return cls(centres, mean, basis[:dim].t().contiguous())

    @staticmethod
    def _expand(part: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        return torch.cat([part] + [torch.relu(part + c) for c in centres], 1)

    @torch.no_grad()
    def __call__(self, gallery_part: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
        """[N, H] -> [N, dim], in chunks so a million rows never expand at once."""
        part = gallery_part.detach().float().cpu()
        return (
            torch.cat(
                [
                    (self._expand(part[i : i + chunk], self.centres) - self.mean) @ self.projection
                    for i in range(0, len(part), chunk)
                ]
            )
            if len(part)
            else part.new_zeros(0, self.dim)
        )

    def state(self) -> dict[str, torch.Tensor]:
        return {"centres": self.centres, "mean": self.mean, "projection": self.projection}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> ReluFeatureMap:
        return cls(state["centres"], state["mean"], state["projection"])


def fit_feature_map(
    scorer: FactorizedPairScorer,
    gallery_features: torch.Tensor,
    gallery_part: torch.Tensor,
    clusters: int = 8,
    dim: int = 384,
    references: int = 512,
    seed: int = 0,
) -> ReluFeatureMap | None:
    """The scorer's ReluFeatureMap, or None when it cannot give reference query pre-activations."""
    reference = getattr(scorer, "reference_query_parts", None)
    if reference is None or clusters < 1:
        return None
    rows = torch.randperm(len(gallery_features), generator=torch.Generator().manual_seed(seed))[:references]
    with torch.no_grad():
        query_parts = reference(gallery_features[rows])
    return ReluFeatureMap.fit(gallery_part, query_parts.reshape(-1, query_parts.shape[-1]), clusters, dim, seed=seed)


class LinearSurrogate:
    """Per-query vectors u_q whose inner products with index vectors rank like the scorer.

    The index vectors are the gallery features, or `feature_map(gallery_projection)` when a map is
    given (then `index_vectors(gallery_part)` gives what the index must hold).
    """

    def __init__(
        self,
        scorer: FactorizedPairScorer,
        gallery_features: torch.Tensor,
        probe_size: int = 2048,
        ridge: float = 1e-2,
        seed: int = 0,
        feature_map: ReluFeatureMap | None = None,
    ) -> None:
        generator = torch.Generator().manual_seed(seed)
        count = gallery_features.shape[0]
        picked = torch.randperm(count, generator=generator)[: min(probe_size, count)]
        self.scorer = scorer
        self.ridge = ridge
        self.feature_map = feature_map
        with torch.no_grad():
            self.probe_part = scorer.gallery_projection(gallery_features[picked])
        self.probe_features = self.index_vectors(self.probe_part, gallery_features[picked])
        self.operator = ridge_operator(self.probe_features, ridge)

    def index_vectors(self, gallery_part: torch.Tensor, gallery_features: torch.Tensor | None = None) -> torch.Tensor:
        """What the inner-product index holds for these gallery rows."""
        if self.feature_map is not None:
            return self.feature_map(gallery_part).to(gallery_part.device)
        if gallery_features is None:
            raise ValueError("without a feature map the index holds gallery features; pass them")
        return gallery_features.float()

    @torch.no_grad()
    def query_vectors(self, query_part: torch.Tensor) -> torch.Tensor:
        """[Q, T, H] query projections -> [Q, E] surrogate vectors (fit on the probe sample)."""
        logits = self._logits(query_part, self.probe_part)  # [Q, P]
        return (logits - logits.mean(1, keepdim=True)) @ self.operator.t()

    @torch.no_grad()
    def refit(
        self, query_part: torch.Tensor, candidate_features: torch.Tensor, candidate_part: torch.Tensor
    ) -> torch.Tensor:
        """One query [1, T, H], fit again on probe + its candidates (index vectors [C, E], projections [C, H])."""
        features = torch.cat([self.probe_features, candidate_features.float()])
        part = torch.cat([self.probe_part, candidate_part])
        return ridge_fit(features, self._logits(query_part, part)[0], self.ridge)[None]

    def _logits(self, query_part: torch.Tensor, gallery_part: torch.Tensor) -> torch.Tensor:
        return score_logits(score_parts(self.scorer.pair_head(), query_part, gallery_part))
