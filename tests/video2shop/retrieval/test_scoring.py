"""Exact batched scoring equals naive per-pair scoring, for any chunking."""

import pytest
import torch
from torch import nn

from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import (
    chunk_sizes,
    cpu_cache_bytes,
    default_chunk_mb,
    exact_score_matrix,
    naive_score_matrix,
)


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

    def pair_head(self):
        return StandInHead(self)

    def score_pairs(self, q, g):
        pairs = torch.cat([q, g[:, None].expand(-1, q.shape[1], -1)], -1)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(pairs))).squeeze(-1)).mean(-1)


class StandInHead:
    def __init__(self, scorer):
        self.scorer = scorer

    def project(self, pre):  # [T, Q, G, H] -> [T, Q * G]
        return self.scorer.fc2(torch.relu(pre)).flatten(1)

    def fuse(self, projections):
        return torch.sigmoid(projections).mean(0)


@pytest.mark.parametrize("budget_mb", [1e-5, 0.002, 256])
def test_exact_scores_equal_naive_scores_for_every_chunking(budget_mb):
    torch.manual_seed(0)
    scorer = StandInScorer()
    assert isinstance(scorer, FactorizedPairScorer)
    queries, gallery = torch.randn(7, 3, 6), torch.randn(11, 5)
    exact = exact_score_matrix(scorer, queries, gallery, memory_budget_mb=budget_mb)
    assert exact.shape == (7, 11)
    assert torch.allclose(exact, naive_score_matrix(scorer, queries, gallery), atol=1e-5)


def test_chunks_fit_the_block_and_are_parts_of_one_row_or_whole_rows():
    q, g = chunk_sizes(1000, 10000, 32, 256, chunk_mb=64)
    assert q * g * 32 * 256 * 4 <= 64 * 2**20 and q == 1 and g == 2048
    assert chunk_sizes(1000, 100, 32, 256, chunk_mb=64) == (20, 100)
    assert chunk_sizes(3, 5, 32, 256, chunk_mb=1e-9) == (1, 1)


def write_cache(root, name, level, kind, size):
    folder = root / name
    folder.mkdir(parents=True)
    for file, text in (("level", str(level)), ("type", kind), ("size", size)):
        (folder / file).write_text(text + "\n")


def test_cache_sizes_are_read_from_sysfs_data_and_unified_caches_only(tmp_path):
    write_cache(tmp_path, "index0", 1, "Data", "48K")
    write_cache(tmp_path, "index1", 1, "Instruction", "32K")
    write_cache(tmp_path, "index2", 2, "Unified", "512K")
    write_cache(tmp_path, "index3", 3, "Unified", "32M")
    assert [cpu_cache_bytes(level, tmp_path) for level in (1, 2, 3, 4)] == [48 << 10, 512 << 10, 32 << 20, None]
    assert default_chunk_mb(tmp_path) == 1.0  # two L2 caches
    assert default_chunk_mb(tmp_path / "missing") == 2.0  # unreadable: a 1 MB L2 is assumed
