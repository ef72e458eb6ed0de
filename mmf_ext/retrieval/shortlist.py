"""Approximate shortlist for large catalogs, then exact re-ranking.

`retrieval.shortlist: {enabled, size, index: flat | ivf | hnsw}`. A FAISS inner-product index
over L2-normalised pooled gallery embeddings returns `size` candidates per query; the exact
pair scorer (FactorizedPairScorer) then re-scores only those candidates. With `index: flat`
and `size >= gallery` the result equals exact scoring of the whole gallery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mmf_ext.retrieval.interfaces import FactorizedPairScorer


@dataclass
class ShortlistConfig:
    enabled: bool = False
    size: int = 200
    index: str = "flat"  # flat | ivf | hnsw
    nlist: int | None = None  # ivf lists (default ~ 4 sqrt(G))
    nprobe: int = 16
    hnsw_m: int = 32
    ef_search: int = 128

    @classmethod
    def from_config(cls, config) -> "ShortlistConfig":
        if config is None:
            return cls()
        items = dict(config.items()) if hasattr(config, "items") else dict(config)
        return cls(**{k: v for k, v in items.items() if k in cls.__dataclass_fields__})


def _normalised(x: torch.Tensor | np.ndarray) -> np.ndarray:
    x = torch.as_tensor(x).float()
    return np.ascontiguousarray(torch.nn.functional.normalize(x, dim=-1).numpy())


class ShortlistIndex:
    def __init__(self, gallery_embeddings: torch.Tensor, config: ShortlistConfig | None = None) -> None:
        import faiss

        self.config = config or ShortlistConfig(enabled=True)
        data = _normalised(gallery_embeddings)
        count, dim = data.shape
        kind = self.config.index
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "ivf":
            nlist = self.config.nlist or max(1, min(count // 39, int(4 * math.sqrt(count))))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(data)
            index.nprobe = min(self.config.nprobe, nlist)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(self.config.ef_search, self.config.size)
        else:
            raise ValueError(f"retrieval.shortlist.index must be flat, ivf or hnsw, not {kind!r}")
        index.add(data)
        self.index, self.size = index, count

    def search(self, query_embeddings: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """[Q, E] -> [Q, S] candidate gallery indices (-1 padding when fewer are found)."""
        size = min(size or self.config.size, self.size)
        _, ids = self.index.search(_normalised(query_embeddings), size)
        return torch.from_numpy(ids).long()


@torch.no_grad()
def rerank_candidates(scorer: FactorizedPairScorer, query_states: torch.Tensor, gallery_features: torch.Tensor,
                      candidates: torch.Tensor, topk: int = 20,
                      gallery_part: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scores of each query's candidates -> ([Q, k] scores, [Q, k] gallery indices), best first.

    `gallery_part` ([G, H], the scorer's gallery projection) can be precomputed once for a catalog.
    """
    query_part = scorer.query_projection(query_states)  # [Q, T, H]
    out_scores, out_ids = [], []
    for q in range(query_part.shape[0]):
        cand = candidates[q]
        cand = cand[cand >= 0]
        if gallery_part is not None:
            g = gallery_part[cand]
        else:
            g = scorer.gallery_projection(gallery_features[cand])
        scores = scorer.score_preactivations(query_part[q][None, None] + g[None, :, None])[0]  # [S]
        k = min(topk, scores.shape[0])
        best, order = scores.topk(k)
        out_scores.append(best)
        out_ids.append(cand[order])
    width = max((len(s) for s in out_scores), default=0)
    scores_t = torch.full((len(out_scores), width), -math.inf)
    ids_t = torch.full((len(out_ids), width), -1, dtype=torch.long)
    for i, (s, ids) in enumerate(zip(out_scores, out_ids)):
        scores_t[i, : len(s)], ids_t[i, : len(ids)] = s, ids
    return scores_t, ids_t


def shortlist_search(scorer: FactorizedPairScorer, query_states: torch.Tensor, query_embeddings: torch.Tensor,
                     gallery_features: torch.Tensor, index: ShortlistIndex, topk: int = 20,
                     gallery_part: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """FAISS shortlist of `index.config.size` items, then exact re-ranking; returns top-k scores and indices."""
    candidates = index.search(query_embeddings)
    return rerank_candidates(scorer, query_states, gallery_features, candidates, topk, gallery_part)


def topk_overlap(approx_ids: torch.Tensor, exact_ids: torch.Tensor) -> float:
    """Share of the exact top-k ids kept by the approximate result (averaged over queries)."""
    kept = [len(set(a.tolist()) & set(e.tolist())) / max(1, len(e)) for a, e in zip(approx_ids, exact_ids)]
    return float(np.mean(kept)) if kept else 1.0
