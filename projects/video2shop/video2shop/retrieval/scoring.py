"""Exact scoring of every (query, gallery item) pair without running the pair network per pair.

A FactorizedPairScorer's first layer splits as A q_t + B g + b: A q_t is computed once per query
state, B g once per gallery item, and each pair's pre-activation is a broadcast sum, formed in
chunks that fit a memory budget. The scores equal the naive per-pair network's.
"""

from __future__ import annotations

import torch

from video2shop.retrieval.interfaces import FactorizedPairScorer


def chunk_sizes(
    queries: int,
    gallery: int,
    states: int,
    width: int,
    memory_budget_mb: float,
    bytes_per_value: int = 4,
    temporaries: int = 4,
) -> tuple[int, int]:
    """Query and gallery chunk sizes whose [q, g, T, H] blocks (and temporaries) fit the budget."""
    per_pair = states * width * bytes_per_value * temporaries
    pairs = max(1, int(memory_budget_mb * 2**20 // per_pair))
    gallery_chunk = max(1, min(gallery, pairs))
    query_chunk = max(1, min(queries, pairs // gallery_chunk))
    return query_chunk, gallery_chunk


@torch.no_grad()
def exact_score_matrix(
    scorer: FactorizedPairScorer,
    query_states: torch.Tensor,
    gallery_features: torch.Tensor,
    memory_budget_mb: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """[Q, T, D] query states and [G, E] gallery features -> [Q, G] scores, chunked under a budget.

    The default budget depends on the device: small chunks stay in the CPU's caches (16 MB was
    fastest on 2 cores, see scripts/benchmarks/scoring.py); a GPU prefers large ones (1 GB).
    """
    device = torch.device(device) if device is not None else query_states.device
    if memory_budget_mb is None:
        memory_budget_mb = 1024 if device.type == "cuda" else 16
    query_part = scorer.query_projection(query_states.to(device))  # [Q, T, H], bias included
    gallery_part = scorer.gallery_projection(gallery_features.to(device))  # [G, H]
    queries, states, width = query_part.shape
    gallery = gallery_part.shape[0]
    scores = torch.empty(queries, gallery, device=device, dtype=query_part.dtype)
    q_chunk, g_chunk = chunk_sizes(queries, gallery, states, width, memory_budget_mb)
    time_major = query_part.transpose(0, 1).contiguous()[:, :, None, :]  # [T, Q, 1, H], so pairs come out time-major
    for q0 in range(0, queries, q_chunk):
        q_block = time_major[:, q0 : q0 + q_chunk]
        for g0 in range(0, gallery, g_chunk):
            pre = q_block + gallery_part[None, None, g0 : g0 + g_chunk]  # [T, q, g, H]
            scores[q0 : q0 + q_chunk, g0 : g0 + g_chunk] = scorer.score_preactivations(pre)
    return scores


@torch.no_grad()
def naive_score_matrix(
    scorer: FactorizedPairScorer,
    query_states: torch.Tensor,
    gallery_features: torch.Tensor,
    pairs_per_batch: int = 4096,
) -> torch.Tensor:
    """The reference: the pair network run on every concatenated pair (slow; for tests and benchmarks)."""
    queries, gallery = query_states.shape[0], gallery_features.shape[0]
    q_index = torch.arange(queries).repeat_interleave(gallery)
    g_index = torch.arange(gallery).repeat(queries)
    out = torch.empty(queries * gallery, dtype=query_states.dtype)
    for start in range(0, queries * gallery, pairs_per_batch):
        stop = min(start + pairs_per_batch, queries * gallery)
        out[start:stop] = scorer.score_pairs(
            query_states[q_index[start:stop]], gallery_features[g_index[start:stop]]
        ).cpu()
    return out.view(queries, gallery)
