"""The linear surrogate shortlists for a pair scorer through an inner-product index."""

import numpy as np
import pytest
import torch

from tests.video2shop.retrieval.test_scoring import StandInScorer
from video2shop.retrieval.scoring import exact_score_matrix
from video2shop.retrieval.shortlist import ShortlistIndex, rerank
from video2shop.retrieval.surrogate import LinearSurrogate, ridge_fit, score_logits


class LinearLogitScorer(StandInScorer):
    """A scorer whose logit is exactly linear in the gallery feature: sigmoid(sum_t (A q_t + B g))."""

    def pair_head(self):
        return self

    def project(self, pre):  # [T, Q, G, H] -> [T, Q * G]
        return pre.sum(-1).flatten(1)

    def fuse(self, projections):
        return torch.sigmoid(projections.mean(0))


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


@pytest.mark.parametrize("index_type", ["flat", "sq8", "ivf", "hnsw"])
def test_an_index_gives_back_the_vectors_it_holds(index_type):
    torch.manual_seed(0)
    gallery = torch.randn(2000, 16)
    index = ShortlistIndex(gallery, index_type, nlist=16, metric="inner_product")
    rows = torch.tensor([3, 1999, 42])
    tolerance = 0.05 if index_type == "sq8" else 0.0  # 8-bit codes: a small quantisation error
    assert (index.reconstruct(rows) - gallery[rows]).abs().max() <= tolerance
    again = ShortlistIndex.from_bytes(index.to_bytes(), "inner_product")
    assert torch.equal(again.reconstruct(rows), index.reconstruct(rows))


def _kept(scorer, queries, gallery, feature_map, shortlist=100):
    from video2shop.retrieval.shortlist import surrogate_candidates

    exact_top = exact_score_matrix(scorer, queries, gallery).topk(20).indices
    query_part, gallery_part = scorer.query_projection(queries), scorer.gallery_projection(gallery)
    surrogate = LinearSurrogate(scorer, gallery, probe_size=512, ridge=1e-6, feature_map=feature_map)
    index = ShortlistIndex(surrogate.index_vectors(gallery_part, gallery), "flat", metric="inner_product")
    candidates = surrogate_candidates(surrogate, index, query_part, gallery_part, shortlist)
    _, found = rerank(scorer, query_part, gallery_part, candidates, 20)
    return np.mean([len(set(f.tolist()) & set(t.tolist())) / 20 for f, t in zip(found, exact_top)])


def test_the_relu_feature_map_makes_the_surrogate_exact_for_a_query_at_a_centre():
    from video2shop.retrieval.surrogate import ReluFeatureMap

    torch.manual_seed(0)
    scorer = StandInScorer(state_dim=6, item_dim=5, hidden=16)
    query, gallery = torch.randn(1, 1, 6), torch.randn(3000, 5)
    query_part, gallery_part = scorer.query_projection(query), scorer.gallery_projection(gallery)
    feature_map = ReluFeatureMap.fit(gallery_part, query_part.reshape(1, -1).repeat(40, 1), clusters=1, dim=32)
    assert feature_map.dim == 32 and torch.allclose(feature_map.centres[0], query_part[0, 0], atol=1e-5)
    surrogate = LinearSurrogate(scorer, gallery, probe_size=3000, ridge=1e-9, feature_map=feature_map)
    vectors = surrogate.index_vectors(gallery_part)
    logits = score_logits(exact_score_matrix(scorer, query, gallery))[0]
    # logit = w2 . relu(a + u) + b2 is linear in relu(u + a), one block of phi
    assert torch.equal((vectors @ surrogate.query_vectors(query_part)[0]).topk(50).indices, logits.topk(50).indices)
    again = ReluFeatureMap.from_state(feature_map.state())
    assert torch.equal(again(gallery_part[:5]), feature_map(gallery_part[:5]))


def test_the_feature_map_keeps_more_of_the_exact_top_k_than_the_linear_surrogate():
    from video2shop.retrieval.surrogate import ReluFeatureMap

    torch.manual_seed(5)
    scorer = StandInScorer(state_dim=6, item_dim=5, hidden=16)
    queries, references, gallery = torch.randn(20, 2, 6), torch.randn(200, 2, 6), torch.randn(20000, 5)
    gallery_part = scorer.gallery_projection(gallery)
    feature_map = ReluFeatureMap.fit(
        gallery_part, scorer.query_projection(references).reshape(-1, 16), clusters=8, dim=144
    )
    linear, mapped = _kept(scorer, queries, gallery, None), _kept(scorer, queries, gallery, feature_map)
    assert mapped >= 0.95 and mapped > linear
