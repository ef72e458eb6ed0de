"""The linear surrogate shortlists for a pair scorer through an inner-product index."""

import numpy as np
import pytest
import torch

from mmf_ext.retrieval.scoring import exact_score_matrix
from mmf_ext.retrieval.shortlist import ShortlistIndex, rerank
from mmf_ext.retrieval.surrogate import LinearSurrogate, ridge_fit, score_logits
from tests.mmf_ext.retrieval.test_scoring import StandInScorer


class LinearLogitScorer(StandInScorer):
    """A scorer whose logit is exactly linear in the gallery feature: sigmoid(sum_t (A q_t + B g))."""

    def score_preactivations(self, pre):  # [T, Q, G, H]
        return torch.sigmoid(pre.sum(-1).mean(0))


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_inner_product_index_returns_the_largest_inner_products(index_type):
    torch.manual_seed(0)
    gallery = torch.randn(2000, 16) * torch.rand(2000, 1) * 3  # norms vary: cosine would rank differently
    queries = torch.randn(10, 16)
    index = ShortlistIndex(gallery, index_type, nlist=16, nprobe=16, metric="inner_product")
    found = index.search(queries, 10)
    truth = (queries @ gallery.t()).topk(10).indices.numpy()
    overlap = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert overlap == 1.0 if index_type == "flat" else overlap >= 0.9
    cosine = ShortlistIndex(gallery, "flat").search(queries, 10)
    assert np.mean([len(set(c) & set(t)) / 10 for c, t in zip(cosine, truth)]) < 0.9


def test_ridge_fit_recovers_a_linear_function():
    torch.manual_seed(0)
    features, weights = torch.randn(300, 8), torch.randn(8)
    assert torch.allclose(ridge_fit(features, features @ weights + 3.0, ridge=1e-8), weights, atol=1e-3)


def test_surrogate_is_exact_when_the_logit_is_linear():
    torch.manual_seed(0)
    scorer = LinearLogitScorer(state_dim=6, item_dim=5, hidden=4)
    queries, gallery = torch.randn(4, 3, 6) * 0.3, torch.randn(500, 5) * 0.3
    surrogate = LinearSurrogate(scorer, gallery, probe_size=100, ridge=1e-7)
    vectors = surrogate.query_vectors(scorer.query_projection(queries))
    logits = score_logits(exact_score_matrix(scorer, queries, gallery))
    assert torch.equal((vectors @ gallery.t()).topk(20).indices, logits.topk(20).indices)


def test_surrogate_shortlist_keeps_more_of_the_exact_top_k_than_pooled_features():
    torch.manual_seed(3)
    scorer = StandInScorer(state_dim=6, item_dim=5, hidden=16)
    queries, gallery = torch.randn(20, 4, 6), torch.randn(5000, 5)
    exact_top = exact_score_matrix(scorer, queries, gallery).topk(20).indices
    query_part, gallery_part = scorer.query_projection(queries), scorer.gallery_projection(gallery)
    surrogate = LinearSurrogate(scorer, gallery, probe_size=512)
    index = ShortlistIndex(gallery, "flat", metric="inner_product")
    kept_surrogate, kept_pooled = [], []
    pooled_index = ShortlistIndex(gallery, "flat")
    for q in range(len(queries)):
        part = query_part[q : q + 1]
        first = index.search(surrogate.query_vectors(part), 100)
        rows = torch.as_tensor(first[0], dtype=torch.long)
        refined = index.search(surrogate.refit(part, gallery[rows], gallery_part[rows]), 100)
        _, found = rerank(scorer, part, gallery_part, refined, 20)
        kept_surrogate.append(len(set(found[0].tolist()) & set(exact_top[q].tolist())) / 20)
        _, pooled = rerank(scorer, part, gallery_part, pooled_index.search(queries[q : q + 1, :, :5].mean(1), 100), 20)
        kept_pooled.append(len(set(pooled[0].tolist()) & set(exact_top[q].tolist())) / 20)
    assert np.mean(kept_surrogate) >= 0.9
    assert np.mean(kept_surrogate) > np.mean(kept_pooled) + 0.3
