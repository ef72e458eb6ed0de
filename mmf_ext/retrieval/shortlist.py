"""Large catalogs: a FAISS shortlist over pooled embeddings, then exact re-ranking of the shortlist.

The shortlist uses inner products of L2-normalised embeddings (a query's mean IFN frame feature
against each shop image's IFN feature: the IFN is shared by frames and shop images, so they live
in one space). Only the shortlisted items are scored by the pair network, exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from mmf_ext.retrieval.interfaces import FactorizedPairScorer
from mmf_ext.utils.errors import ConfigError

INDEX_TYPES = ("flat", "ivf", "hnsw")


class ShortlistIndex:
    def __init__(self, embeddings: torch.Tensor, index_type: str = "flat", nlist: int | None = None, nprobe: int = 32,
                 hnsw_m: int = 32, ef_search: int = 128, train_size: int = 100_000, seed: int = 0) -> None:
        import faiss

        if index_type not in INDEX_TYPES:
            raise ConfigError(f"retrieval.shortlist.index={index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        vectors = _normalised(embeddings)
        dim = vectors.shape[1]
        if index_type == "flat":
            index = faiss.IndexFlatIP(dim)
        elif index_type == "ivf":
            nlist = nlist or max(1, int(4 * np.sqrt(len(vectors))))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(len(vectors), min(len(vectors), max(train_size, 40 * nlist)), replace=False)]
            index.train(sample)
            index.nprobe = min(nprobe, nlist)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = ef_search
        index.add(vectors)
        self.index = index
        self.size = len(vectors)

    def search(self, query_embeddings: torch.Tensor, size: int) -> np.ndarray:
        """Indices [Q, size] of the best candidates by inner product (-1 where fewer exist)."""
        _, indices = self.index.search(_normalised(query_embeddings), min(size, self.size))
        return indices


def _normalised(embeddings: torch.Tensor) -> np.ndarray:
    vectors = torch.nn.functional.normalize(torch.as_tensor(embeddings).float(), dim=-1)
    return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)


@torch.no_grad()
def rerank(scorer: FactorizedPairScorer, query_part: torch.Tensor, gallery_part: torch.Tensor,
           candidates: np.ndarray, topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scores of each query's candidates; returns (scores [Q, k], gallery indices [Q, k]).

    `query_part` is scorer.query_projection of the queries [Q, T, H]; `gallery_part` the
    gallery projection [G, H], both computed once.
    """
    rows_scores, rows_indices = [], []
    for q, row in enumerate(candidates):
        row = torch.as_tensor(row[row >= 0], dtype=torch.long)
        pre = query_part[q][:, None, None, :] + gallery_part[row][None, None]  # [T, 1, g, H]
        scores = scorer.score_preactivations(pre)[0]
        k = min(topk, len(row))
        values, order = scores.topk(k)
        rows_scores.append(values)
        rows_indices.append(row[order])
    return torch.stack(rows_scores), torch.stack(rows_indices)


def shortlist_scores(scorer: FactorizedPairScorer, query_states: torch.Tensor, query_embeddings: torch.Tensor,
                     gallery_features: torch.Tensor, gallery_embeddings: torch.Tensor, index_type: str = "flat",
                     size: int = 200) -> torch.Tensor:
    """A [Q, G] score matrix: exact scores for each query's shortlist, -inf elsewhere."""
    index = ShortlistIndex(gallery_embeddings, index_type)
    candidates = index.search(query_embeddings, size)
    query_part = scorer.query_projection(query_states)
    gallery_part = scorer.gallery_projection(gallery_features)
    values, indices = rerank(scorer, query_part, gallery_part, candidates, size)
    scores = torch.full((query_states.shape[0], gallery_features.shape[0]), -torch.inf)
    scores.scatter_(1, indices, values)
    return scores
