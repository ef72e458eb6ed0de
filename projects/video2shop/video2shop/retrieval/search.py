"""The one retrieval entry: exact factorised scoring, or a shortlist re-ranked exactly.

`search(scorer, query_states, gallery_features)` scores every query against every gallery item
with the exact engine (video2shop.retrieval.scoring). With `shortlist=` it narrows each query to
a shortlist first (video2shop.retrieval.shortlist, surrogate) and scores only that exactly:
`ShortlistSettings` build the index over this gallery on the spot (evaluation, benchmarks); a
`Shortlist` is one built before, e.g. from the index a gallery folder keeps (`video2shop search`).
Evaluation, `video2shop search` and the benchmarks all come here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mmf_ext.utils.adaptive_threads import AdaptiveThreads
from mmf_ext.utils.errors import ConfigError
from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import exact_score_matrix
from video2shop.retrieval.shortlist import EMBEDDINGS, ShortlistIndex, rerank, surrogate_candidates
from video2shop.retrieval.surrogate import LinearSurrogate, ReluFeatureMap, fit_feature_map

SHORTLIST_THREADS = AdaptiveThreads()  # per query: shared by every search, so one query's call uses what many learnt


@dataclass(frozen=True)
class ShortlistSettings:
    """How to shortlist (`model_config.asymnet.shortlist`; see configs/models/asymnet/defaults.yaml)."""

    size: int = 200  # candidates re-ranked exactly per query
    index: str = "flat"  # flat | sq8 | ivf | hnsw
    embedding: str = "surrogate"  # surrogate (of the scorer, inner product) | pooled (cosine of embeddings)
    probe: int = 2048  # gallery sample the surrogate is fit on
    refine: bool = True  # refit the surrogate once on the first shortlist
    clusters: int = 8  # ReLU feature map centres (0: the surrogate is linear in the features)
    dim: int = 384  # the feature map's PCA size
    nprobe: int = 32  # ivf: clusters scanned per search

    def __post_init__(self) -> None:
        if self.embedding not in EMBEDDINGS:
            raise ConfigError(f"shortlist embedding={self.embedding!r}; choose one of {', '.join(EMBEDDINGS)}")

    @classmethod
    def from_config(cls, node: Any) -> ShortlistSettings | None:
        """The settings of a `shortlist:` config section (asymnet's defaults); None when disabled.

        The field defaults above are for code that builds settings itself (gallery indexing,
        benchmarks); a test checks they equal asymnet's yaml defaults.
        """
        if node is None or not node.enabled:
            return None
        return cls(
            size=int(node.size),
            index=str(node.index),
            embedding=str(node.embedding),
            probe=int(node.probe),
            refine=bool(node.refine),
            clusters=int(node.clusters),
            dim=int(node.dim),
            nprobe=int(node.nprobe),
        )


def surrogate_index(
    scorer: FactorizedPairScorer,
    gallery_features: torch.Tensor,
    gallery_part: torch.Tensor,
    settings: ShortlistSettings,
) -> tuple[ShortlistIndex, ReluFeatureMap | None]:
    """The inner-product index of the surrogate's vectors over a gallery, and its ReLU feature map.

    The vectors are the feature map of the gallery projections (None when the scorer gives no
    reference queries or `clusters` is 0: then the gallery features themselves).
    """
    feature_map = fit_feature_map(scorer, gallery_features, gallery_part, settings.clusters, settings.dim)
    vectors = feature_map(gallery_part) if feature_map is not None else gallery_features.float()
    return ShortlistIndex(vectors, settings.index, nprobe=settings.nprobe, metric="inner_product"), feature_map


class Shortlist:
    """A gallery made searchable: an index over it and what re-ranks its candidates exactly.

    `gallery_part` is the scorer's gallery projection [G, H], computed once; `surrogate` is None
    for a pooled-embedding index (cosine of query embeddings against the gallery's).
    """

    def __init__(
        self,
        index: ShortlistIndex,
        gallery_part: torch.Tensor,
        size: int,
        surrogate: LinearSurrogate | None = None,
        refine: bool = True,
    ) -> None:
        self.index, self.gallery_part, self.size = index, gallery_part, int(size)
        self.surrogate, self.refine = surrogate, refine

    @classmethod
    @torch.no_grad()
    def build(
        cls, scorer: FactorizedPairScorer, gallery_features: torch.Tensor, settings: ShortlistSettings
    ) -> Shortlist:
        """Index this gallery as `settings` say (pooled: the gallery features, by cosine)."""
        gallery_part = scorer.gallery_projection(gallery_features)
        if settings.embedding == "pooled":
            index = ShortlistIndex(gallery_features, settings.index, nprobe=settings.nprobe)  # cosine
            return cls(index, gallery_part, settings.size)
        index, feature_map = surrogate_index(scorer, gallery_features, gallery_part, settings)
        surrogate = LinearSurrogate(scorer, gallery_features, probe_size=settings.probe, feature_map=feature_map)
        return cls(index, gallery_part, settings.size, surrogate, settings.refine)

    @classmethod
    @torch.no_grad()
    def from_index(
        cls,
        scorer: FactorizedPairScorer,
        gallery_features: torch.Tensor,
        index: ShortlistIndex,
        feature_map: ReluFeatureMap | None,
        size: int,
    ) -> Shortlist:
        """A surrogate shortlist over an index built before (by `surrogate_index`, e.g. a gallery folder's)."""
        surrogate = LinearSurrogate(scorer, gallery_features, feature_map=feature_map)
        return cls(index, scorer.gallery_projection(gallery_features), size, surrogate)

    def candidates(self, query_part: torch.Tensor, query_embeddings: torch.Tensor | None = None) -> np.ndarray:
        """Each query's shortlist [Q, size] of gallery rows (-1 where fewer exist)."""
        if self.surrogate is None:
            if query_embeddings is None:
                raise ValueError("a pooled-embedding shortlist searches by query embeddings; pass query_embeddings")
            return self.index.search(query_embeddings, self.size)
        return surrogate_candidates(self.surrogate, self.index, query_part, self.gallery_part, self.size, self.refine)


@torch.no_grad()
def search(
    scorer: FactorizedPairScorer,
    query_states: torch.Tensor,
    gallery_features: torch.Tensor,
    shortlist: ShortlistSettings | Shortlist | None = None,
    topk: int | None = None,
    query_embeddings: torch.Tensor | None = None,
    memory_budget_mb: float | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Scores of queries against a gallery: [Q, G], or with `topk` (scores [Q, k], gallery rows [Q, k]), best first.

    `query_states` [Q, W, T, D] (W sliding windows of T states; [Q, T, D] is one window each),
    `gallery_features` [G, E]. Exact: every pair, a query's score the mean over its windows.
    With a shortlist, each query is shortlisted and re-ranked by its first window; the dense
    matrix then holds exact scores on the shortlist and -inf elsewhere (`topk` = the shortlist's
    size gives the whole shortlist ranked). `query_embeddings` [Q, E] are read by a
    pooled-embedding shortlist only.
    """
    states = query_states if query_states.dim() == 4 else query_states[:, None]
    if shortlist is None:
        return _exact(scorer, states, gallery_features, topk, memory_budget_mb)
    if isinstance(shortlist, ShortlistSettings):
        shortlist = Shortlist.build(scorer, gallery_features, shortlist)
    query_part = scorer.query_projection(states[:, 0])
    values, rows = _shortlisted(scorer, shortlist, query_part, query_embeddings, topk or shortlist.size)
    if topk is not None:
        return values, rows
    scores = torch.full((states.shape[0], gallery_features.shape[0]), -torch.inf)
    scores.scatter_(1, rows.cpu(), values.cpu())
    return scores


def _shortlisted(
    scorer: FactorizedPairScorer,
    shortlist: Shortlist,
    query_part: torch.Tensor,
    query_embeddings: torch.Tensor | None,
    topk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's shortlist re-ranked exactly, one query at a time: (scores [Q, k], gallery rows [Q, k]).

    One query is a run of small operations (the surrogate, a FAISS search, a ridge refit, the
    re-rank) in torch's and FAISS's pools, which a busy machine slows most at two threads; so each
    query runs at the threads or at one, whichever measured faster (SHORTLIST_THREADS).
    """
    values, rows = [], []
    with SHORTLIST_THREADS.run(enabled=query_part.device.type == "cpu") as done:
        for q in range(query_part.shape[0]):
            embedding = None if query_embeddings is None else query_embeddings[q : q + 1]
            candidates = shortlist.candidates(query_part[q : q + 1], embedding)
            value, row = rerank(scorer, query_part[q : q + 1], shortlist.gallery_part, candidates, topk)
            values.append(value)
            rows.append(row)
            done(1)
    return torch.cat(values), torch.cat(rows)


def _exact(
    scorer: FactorizedPairScorer,
    states: torch.Tensor,
    gallery_features: torch.Tensor,
    topk: int | None,
    memory_budget_mb: float | None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    queries, windows = states.shape[:2]
    scores = exact_score_matrix(scorer, states.flatten(0, 1), gallery_features, memory_budget_mb=memory_budget_mb)
    scores = scores.view(queries, windows, -1).mean(1)
    if topk is None:
        return scores
    return scores.topk(min(topk, scores.shape[1]), dim=1)
