"""The contract between a pair-scoring model and the exact scoring engine.

A network that scores (query, item) pairs with an MLP whose first layer reads the concatenation
[q_t; g] can be split as A q_t + B g + b. The engine computes A q_t (+ b) once per query state and
B g once per gallery item, then forms every pair's first-layer activation by broadcast addition
in chunks; the model finishes each pair from those activations. Same scores as the naive
per-pair network, far less work.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class FactorizedPairScorer(Protocol):
    def query_projection(self, query_states: torch.Tensor) -> torch.Tensor:
        """[Q, T, D] query states -> [Q, T, H] first-layer contribution, bias included."""

    def gallery_projection(self, gallery_features: torch.Tensor) -> torch.Tensor:
        """[G, E] gallery features -> [G, H] first-layer contribution, no bias."""

    def score_preactivations(self, preactivations: torch.Tensor) -> torch.Tensor:
        """[T, Q, G, H] first-layer pre-activations of every pair -> [Q, G] final scores.

        Time-major, so the pairs of one state are contiguous for batched matrix products; the
        engine builds a fresh tensor per call, so a scorer may modify it in place.
        """

    def score_pairs(self, query_states: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
        """Naive reference: [N, T, D] and [N, E] paired row by row -> [N] scores."""
