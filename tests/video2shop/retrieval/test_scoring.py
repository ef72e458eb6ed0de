"""Exact batched scoring equals naive per-pair scoring, for any chunking."""

import pytest
import torch
from torch import nn

from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import chunk_sizes, exact_score_matrix, naive_score_matrix


class StandInScorer(nn.Module):
    """fc1 on [q_t; g] -> relu -> fc2 -> sigmoid, averaged over t (a small AsymNet-shaped scorer)."""

    def __init__(self, state_dim=6, item_dim=5, hidden=8):
        super().__init__()
        self.state_dim = state_dim
        self.fc1, self.fc2 = nn.Linear(state_dim + item_dim, hidden), nn.Linear(hidden, 1)

    def query_projection(self, q):
        return q @ self.fc1.weight[:, : self.state_dim].t() + self.fc1.bias

    def gallery_projection(self, g):
        return g @ self.fc1.weight[:, self.state_dim :].t()

    def score_preactivations(self, pre):  # [T, Q, G, H]
        return torch.sigmoid(self.fc2(torch.relu(pre)).squeeze(-1)).mean(0)

    def score_pairs(self, q, g):
        pairs = torch.cat([q, g[:, None].expand(-1, q.shape[1], -1)], -1)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(pairs))).squeeze(-1)).mean(-1)


@pytest.mark.parametrize("budget_mb", [1e-5, 0.002, 256])
def test_exact_scores_equal_naive_scores_for_every_chunking(budget_mb):
    torch.manual_seed(0)
    scorer = StandInScorer()
    assert isinstance(scorer, FactorizedPairScorer)
    queries, gallery = torch.randn(7, 3, 6), torch.randn(11, 5)
    exact = exact_score_matrix(scorer, queries, gallery, memory_budget_mb=budget_mb)
    assert exact.shape == (7, 11)
    assert torch.allclose(exact, naive_score_matrix(scorer, queries, gallery), atol=1e-5)


def test_chunks_respect_the_memory_budget():
    q, g = chunk_sizes(1000, 10000, 32, 256, memory_budget_mb=64)
    assert q * g * 32 * 256 * 4 * 4 <= 64 * 2**20 and q >= 1 and g >= 1
