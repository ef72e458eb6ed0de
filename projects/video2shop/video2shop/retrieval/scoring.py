"""Exact scoring of every (query, gallery item) pair without running the pair network per pair.

A FactorizedPairScorer's first layer splits as A q_t + B g + b: A q_t is computed once per query
state, B g once per gallery item, and each pair's pre-activation is a broadcast sum, written
chunk by chunk into one reused block small enough to stay in the CPU's caches. The scorer's pair
head reduces each chunk to a few numbers per pair (`project`) and turns a run of consecutive
chunks into scores at once (`fuse`), so per chunk only three large operations run (the sum, the
ReLU, one matrix product). On a CPU the loop runs at all intra-op threads or at one, whichever
the machine's load lets run faster (mmf_ext.utils.adaptive_threads), and its chunks shrink with
the threads running, so that one thread's chunk fits its caches as each thread's share did. The
scores equal the naive per-pair network's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from mmf_ext.utils.adaptive_threads import AdaptiveThreads
from video2shop.retrieval.interfaces import FactorizedPairScorer, PairHead

CUDA_CHUNK_MB = 1024.0
CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
FALLBACK_L2_BYTES = 1 << 20  # where the CPU's caches cannot be read
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}  # sysfs cache sizes: 48K, 1024K, 32M
SCORING_THREADS = AdaptiveThreads()  # shared by every call, so short loops use what long ones measured


@functools.cache
def cpu_cache_bytes(level: int, caches: Path = CPU_CACHES) -> int | None:
    """Size of one data or unified cache of that level (Linux sysfs of CPU 0), or None where unknown."""
    for index in sorted(caches.glob("index*")):
        try:
            if int((index / "level").read_text()) != level or (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip().upper()
            return int(text[:-1]) * UNITS[text[-1]] if text[-1] in UNITS else int(text)
        except (OSError, ValueError, IndexError):
            continue
    return None


def default_chunk_mb(caches: Path = CPU_CACHES) -> float:
    """The CPU block: two L2 caches' worth (a two-core run's threads each hold half), so a chunk's
    sum, ReLU and product read it from cache; larger blocks spill to L3 and are slower (see
    scripts/benchmarks/scoring.py --memory-budget-mb)."""
    return 2 * (cpu_cache_bytes(2, caches) or FALLBACK_L2_BYTES) / 2**20


def chunk_sizes(
    queries: int, gallery: int, states: int, width: int, chunk_mb: float, bytes_per_value: int = 4
) -> tuple[int, int]:
    """Query and gallery chunk sizes whose [T, q, g, H] pre-activation block fits `chunk_mb`.

    A chunk is either part of one query's row (q = 1) or whole rows, so consecutive chunks cover
    consecutive entries of the row-major [Q, G] score matrix.
    """
    pairs = max(1, int(chunk_mb * 2**20 // (states * width * bytes_per_value)))
    gallery_chunk = max(1, min(gallery, pairs))
    query_chunk = max(1, min(queries, pairs // gallery_chunk))
    return query_chunk, gallery_chunk


def chunk_spans(queries: int, gallery: int, pairs: Callable[[], int]) -> Iterator[tuple[int, int, int, int]]:
    """Chunks (q0, q1, g0, g1) of the row-major [Q, G] score matrix, in order: each part of one query's
    row or whole rows, of at most `pairs()` pairs (asked before every chunk, as the threads may change)."""
    q = g = 0
    while q < queries:
        size = max(1, pairs())
        if g > 0 or size < gallery:  # part of a row, up to its end
            end = min(gallery, g + size)
            yield q, q + 1, g, end
            q, g = (q + 1, 0) if end == gallery else (q, end)
        else:
            end = min(queries, q + size // gallery)
            yield q, end, 0, gallery
            q = end


@torch.no_grad()
def score_parts(
    head: PairHead, query_part: torch.Tensor, gallery_part: torch.Tensor, chunk_mb: float | None = None
) -> torch.Tensor:
    """First-layer parts [Q, T, H] (bias included) and [G, H] -> [Q, G] scores, chunk by chunk.

    Each chunk's pre-activations are written into one reused block of `chunk_mb` (default: see
    default_chunk_mb; 1 GB on CUDA) and projected at once; the projections of consecutive chunks
    are fused together once they fill as much memory as the block.
    """
    if chunk_mb is None:
        chunk_mb = CUDA_CHUNK_MB if query_part.device.type == "cuda" else default_chunk_mb()
    queries, states, width = query_part.shape
    gallery = gallery_part.shape[0]
    scores = torch.empty(queries, gallery, device=query_part.device, dtype=query_part.dtype)
    flat_scores = scores.view(-1)
    q_chunk, g_chunk = chunk_sizes(queries, gallery, states, width, chunk_mb, query_part.element_size())
    block = torch.empty(states * q_chunk * g_chunk * width, device=query_part.device, dtype=query_part.dtype)
    time_major = query_part.transpose(0, 1).contiguous()[:, :, None, :]  # [T, Q, 1, H], so pairs come out time-major
    pending: list[torch.Tensor] = []
    pending_values = fused_pairs = 0

    def fuse_pending() -> None:
        nonlocal pending, pending_values, fused_pairs
        if pending:
            fused = head.fuse(pending[0] if len(pending) == 1 else torch.cat(pending, dim=-1))
            flat_scores[fused_pairs : fused_pairs + fused.shape[0]] = fused
            fused_pairs += fused.shape[0]
        pending, pending_values = [], 0

    on_cpu = query_part.device.type == "cpu"
    configured = torch.get_num_threads()
    block_pairs = q_chunk * g_chunk

    def chunk_pairs() -> int:
        """The block's pairs at the configured threads; at fewer (chosen by the adaptive loop) a part in
        proportion, so that each running thread's share of a chunk stays what fits its caches."""
        return block_pairs if not on_cpu else max(1, block_pairs * torch.get_num_threads() // configured)

    with SCORING_THREADS.run(enabled=on_cpu) as done:
        for q0, q1, g0, g1 in chunk_spans(queries, gallery, chunk_pairs):
            q_block, g_block = time_major[:, q0:q1], gallery_part[g0:g1]
            shape = (states, q1 - q0, g1 - g0, width)
            pre = block[: states * shape[1] * shape[2] * width].view(shape)
            torch.add(q_block, g_block, out=pre)
            projected = head.project(pre)
            pending.append(projected)
            pending_values += projected.numel()
            if pending_values >= block.numel():
                fuse_pending()
            done(shape[1] * shape[2])
        fuse_pending()
    return scores


@torch.no_grad()
def exact_score_matrix(
    scorer: FactorizedPairScorer,
    query_states: torch.Tensor,
    gallery_features: torch.Tensor,
    memory_budget_mb: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """[Q, T, D] query states and [G, E] gallery features -> [Q, G] scores (see score_parts).

    `memory_budget_mb` is the size of the pre-activation block; None: the device's default.
    """
    device = torch.device(device) if device is not None else query_states.device
    query_part = scorer.query_projection(query_states.to(device))  # [Q, T, H], bias included
    gallery_part = scorer.gallery_projection(gallery_features.to(device))  # [G, H]
    return score_parts(scorer.pair_head(), query_part, gallery_part, memory_budget_mb)


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
