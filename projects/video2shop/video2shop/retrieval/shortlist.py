"""Large catalogs: the pieces of a FAISS shortlist and of the exact re-ranking of its candidates.

Two ways to shortlist: by default a per-query linear surrogate of the scorer searched by maximum
inner product over the gallery features (video2shop.retrieval.surrogate; it keeps the exact top-k
far better), or the cosine of pooled embeddings (a query's mean IFN frame feature against each
shop image's IFN feature). Only the shortlisted items are scored by the pair network, exactly.
They are put together in one place, video2shop.retrieval.search.
"""

from __future__ import annotations

import numpy as np
import torch

from mmf_ext.utils.errors import ConfigError
from video2shop.retrieval.faiss_threads import faiss
from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import score_parts

INDEX_TYPES = ("flat", "sq8", "ivf", "hnsw")
METRICS = ("cosine", "inner_product")
EMBEDDINGS = ("surrogate", "pooled")


class ShortlistIndex:
    """FAISS index over gallery vectors, searched by cosine or by maximum inner product.

    `metric="inner_product"` (for surrogate query vectors): flat and sq8 scan inner products as
    they are; ivf and hnsw use the usual reduction of maximum inner product search to nearest
    neighbours: each gallery vector m gets one more coordinate, sqrt(R^2 - |m|^2), and a query u a
    zero there, so |phi(m) - (u, 0)|^2 = R^2 + |u|^2 - 2 u.m and the nearest item is the one with
    the largest inner product. (The reduction would ruin sq8: quantisation errors in the large extra
    coordinate swamp the small differences in u.m.)
    """

    def __init__(
        self,
        embeddings: torch.Tensor,
        index_type: str = "flat",
        nlist: int | None = None,
        nprobe: int = 32,
        hnsw_m: int = 32,
        ef_search: int = 128,
        train_size: int = 100_000,
        seed: int = 0,
        metric: str = "cosine",
    ) -> None:
        if index_type not in INDEX_TYPES:
            raise ConfigError(f"shortlist index={index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        if metric not in METRICS:
            raise ConfigError(f"shortlist metric={metric!r}; choose one of {', '.join(METRICS)}")
        self.metric = metric
        # exhaustive indexes take inner products as they are; ivf and hnsw need the L2 reduction
        self.augmented = metric == "inner_product" and index_type in ("ivf", "hnsw")
        vectors = (
            _normalised(embeddings)
            if metric == "cosine"
            else _augmented(embeddings)
            if self.augmented
            else _as_float32(embeddings)
        )
        dim = vectors.shape[1]
        faiss_metric = faiss.METRIC_L2 if self.augmented else faiss.METRIC_INNER_PRODUCT
        if index_type == "flat":
            index = faiss.IndexFlat(dim, faiss_metric)
        elif index_type == "sq8":  # an exhaustive scan of 8-bit codes: a quarter of flat's memory traffic
            index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss_metric)
            index.train(vectors)
        elif index_type == "ivf":
            nlist = min(len(vectors), nlist or max(1, int(4 * np.sqrt(len(vectors)))))
            quantizer = faiss.IndexFlatIP(dim) if metric == "cosine" else faiss.IndexFlatL2(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(len(vectors), min(len(vectors), max(train_size, 40 * nlist)), replace=False)]
            index.train(sample)
            index.nprobe = min(nprobe, nlist)
            index.set_direct_map_type(faiss.DirectMap.Array)  # so rows can be reconstructed
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss_metric)
            index.hnsw.efSearch = ef_search
        index.add(vectors)
        self.index = index
        self.size = len(vectors)

    def to_bytes(self) -> bytes:
        """The FAISS index serialised, to keep beside a gallery's features."""
        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, metric: str, nprobe: int = 64) -> ShortlistIndex:
        index = cls.__new__(cls)
        index.index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if hasattr(index.index, "nprobe"):
            index.index.nprobe = nprobe
        index.metric, index.size = metric, index.index.ntotal
        index.augmented = metric == "inner_product" and index.index.metric_type == faiss.METRIC_L2
        return index

    def reconstruct(self, rows: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The vectors the index holds for these rows [n, dim] (decoded 8-bit codes for sq8).

        Cheaper than recomputing them from the gallery, and what a refit surrogate re-ranks.
        """
        rows = np.ascontiguousarray(np.asarray(rows, dtype=np.int64))
        vectors = self.index.reconstruct_batch(rows) if len(rows) else np.zeros((0, self.index.d), np.float32)
        if self.augmented:
            vectors = vectors[:, :-1]
        return torch.from_numpy(np.ascontiguousarray(vectors))

    def search(self, query_embeddings: torch.Tensor, size: int) -> np.ndarray:
        """Indices [Q, size] of the best candidates (-1 where fewer exist)."""
        if self.metric == "cosine":
            queries = _normalised(query_embeddings)
        elif self.augmented:
            queries = np.concatenate(
                [_as_float32(query_embeddings), np.zeros((len(query_embeddings), 1), np.float32)], 1
            )
        else:
            queries = _as_float32(query_embeddings)
        _, indices = self.index.search(queries, min(size, self.size))
        return indices


def _as_float32(vectors: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(torch.as_tensor(vectors).detach().float().cpu().numpy(), dtype=np.float32)


def _augmented(embeddings: torch.Tensor) -> np.ndarray:
    """Gallery vectors with the extra coordinate of the inner-product-to-L2 reduction."""
    vectors = _as_float32(embeddings)
    norms = np.einsum("ij,ij->i", vectors, vectors)
    extra = np.sqrt(np.maximum(norms.max() - norms, 0.0))[:, None].astype(np.float32)
    return np.ascontiguousarray(np.concatenate([vectors, extra], 1))


def _normalised(embeddings: torch.Tensor) -> np.ndarray:
    vectors = torch.nn.functional.normalize(torch.as_tensor(embeddings).float(), dim=-1)
    return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)


@torch.no_grad()
def rerank(
    scorer: FactorizedPairScorer,
    query_part: torch.Tensor,
    gallery_part: torch.Tensor,
    candidates: np.ndarray,
    topk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scores of each query's candidates; returns (scores [Q, k], gallery indices [Q, k]).

    `query_part` is scorer.query_projection of the queries [Q, T, H]; `gallery_part` the
    gallery projection [G, H], both computed once.
    """
    head = scorer.pair_head()
    rows_scores, rows_indices = [], []
    for q, row in enumerate(candidates):
        row = torch.as_tensor(row[row >= 0], dtype=torch.long, device=gallery_part.device)
        scores = score_parts(head, query_part[q : q + 1], gallery_part[row])[0]
        k = min(topk, len(row))
        values, order = scores.topk(k)
        rows_scores.append(values)
        rows_indices.append(row[order])
    return torch.stack(rows_scores), torch.stack(rows_indices)


def surrogate_candidates(
    surrogate,
    index: ShortlistIndex,
    query_part: torch.Tensor,
    gallery_part: torch.Tensor,
    size: int,
    refine: bool = True,
    widen: int = 4,
) -> np.ndarray:
    """Shortlists [Q, size]: one index search per query.

    With `refine`, the search returns `widen * size` rows; the surrogate is refit on its best
    `size` and re-ranks all of them, and the best `size` of that order are kept: the refit's
    sharper view of the top at the cost of one index scan, not two. The candidates' vectors are
    read back from the index, so a million-row gallery is never expanded at search time.
    """
    first = index.search(surrogate.query_vectors(query_part), size * widen if refine else size)
    if not refine:
        return first
    candidates = np.full((len(first), min(size, first.shape[1])), -1, dtype=first.dtype)
    for q, row in enumerate(first):
        rows = torch.as_tensor(row[row >= 0], dtype=torch.long)
        vectors = index.reconstruct(rows).to(query_part.device)
        vector = surrogate.refit(query_part[q : q + 1], vectors[:size], gallery_part[rows[:size]])
        order = (vectors @ vector[0].float().to(vectors.device)).argsort(descending=True)[:size].cpu()
        picked = rows[order].numpy()
        candidates[q, : len(picked)] = picked
    return candidates
