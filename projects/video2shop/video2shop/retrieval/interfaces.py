"""The contract between a pair-scoring model and the exact scoring engine.

A network that scores (query, item) pairs with an MLP whose first layer reads the concatenation
[q_t; g] can be split as A q_t + B g + b. The engine computes A q_t (+ b) once per query state and
B g once per gallery item, then forms every pair's first-layer activation by broadcast addition
in cache-sized chunks; the model's pair head finishes each pair from those activations in two
steps: `project` reduces a chunk's activations to the few numbers per pair the head needs, and
`fuse` turns many chunks' worth of them into scores at once, so the small operations of the
fusion run on large tensors. Same scores as the naive per-pair network, far less work.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class PairHead(Protocol):
    """What comes after a pair network's first layer, with its weights prepared once per search."""

    def project(self, preactivations: torch.Tensor) -> torch.Tensor:
        """[T, Q, G, H] first-layer pre-activations -> [..., Q * G], pairs last (row-major over Q, G).

        Time-major, so the pairs of one state are contiguous for batched matrix products. The
        engine reuses its buffer for the next chunk: the head may overwrite it, and returns a new
        tensor, never a view of it.
        """

    def fuse(self, projections: torch.Tensor) -> torch.Tensor:
        """[..., N] outputs of `project`, concatenated along pairs -> [N] final scores."""


@runtime_checkable
class FactorizedPairScorer(Protocol):
    def query_projection(self, query_states: torch.Tensor) -> torch.Tensor:
        """[Q, T, D] query states -> [Q, T, H] first-layer contribution, bias included."""

    def gallery_projection(self, gallery_features: torch.Tensor) -> torch.Tensor:
        """[G, E] gallery features -> [G, H] first-layer contribution, no bias."""

    def pair_head(self) -> PairHead:
        """The head that finishes pairs from their pre-activations (see PairHead)."""

    def score_pairs(self, query_states: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
        """Naive reference: [N, T, D] and [N, E] paired row by row -> [N] scores."""
