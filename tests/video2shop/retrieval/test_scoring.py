"""Exact batched scoring equals naive per-pair scoring, for any chunking."""

import pytest
import torch
from torch import nn

from video2shop.retrieval import scoring
from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import (
    chunk_sizes,
    chunk_spans,
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


def test_chunk_spans_cover_the_matrix_in_order_whatever_size_each_chunk_is_asked():
    sizes = iter([4, 4, 1, 25, 25, 3, 7, 100, 100, 100])  # the threads change between chunks
    spans = list(chunk_spans(6, 10, lambda: next(sizes)))
    assert spans == [
        (0, 1, 0, 4), (0, 1, 4, 8), (0, 1, 8, 9), (0, 1, 9, 10),  # a chunk ends at its row's end
        (1, 3, 0, 10),  # whole rows: 25 pairs give two
        (3, 4, 0, 3), (3, 4, 3, 10),
        (4, 6, 0, 10),  # at most the rows left
    ]  # fmt: skip
    covered = [(q, g) for q0, q1, g0, g1 in spans for q in range(q0, q1) for g in range(g0, g1)]
    assert covered == [(q, g) for q in range(6) for g in range(10)]


def test_at_one_thread_of_two_the_chunks_halve_and_the_scores_stay(monkeypatch):
    torch.manual_seed(0)
    scorer, queries, gallery = StandInScorer(), torch.randn(7, 3, 6), torch.randn(11, 5)
    seen = []
    spans = scoring.chunk_spans

    def recording(queries, gallery, pairs):
        for span in spans(queries, gallery, pairs):
            seen.append((torch.get_num_threads(), (span[1] - span[0]) * (span[3] - span[2])))
            yield span

    monkeypatch.setattr(scoring, "chunk_spans", recording)
    chooser = scoring.SCORING_THREADS
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        chooser.reset(2)
        chooser.pace, chooser.threads = {2: 1.0, 1: 1e12}, 2  # measured: two threads faster
        both = exact_score_matrix(scorer, queries, gallery, memory_budget_mb=0.004)  # 43 pairs: 3 rows of 11
        at_two = list(seen)
        seen.clear()
        chooser.pace, chooser.threads = {2: 1.0, 1: 1e12}, 1  # measured: one thread faster (another job runs)
        one = exact_score_matrix(scorer, queries, gallery, memory_budget_mb=0.004)
    finally:
        chooser.reset(before)
        torch.set_num_threads(before)
    assert {threads for threads, _ in at_two} == {2} and max(pairs for _, pairs in at_two) == 33
    assert {threads for threads, _ in seen} == {1} and max(pairs for _, pairs in seen) == 11  # 16 pairs: 1 row
    assert torch.allclose(both, one, rtol=0, atol=1e-6)


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
