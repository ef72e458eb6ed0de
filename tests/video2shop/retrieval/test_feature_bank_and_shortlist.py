import numpy as np
import pytest
import torch

from mmf_ext.utils.errors import UserError
from tests.video2shop.retrieval.test_scoring import StandInScorer
from video2shop.retrieval.feature_bank import StaleFeatureBank, file_fingerprint, load_feature_bank, save_feature_bank
from video2shop.retrieval.scoring import exact_score_matrix
from video2shop.retrieval.search import ShortlistSettings, search
from video2shop.retrieval.shortlist import ShortlistIndex


def test_feature_bank_round_trip_is_tied_to_its_checkpoint(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights v1")
    fingerprint = file_fingerprint(checkpoint)
    features = torch.randn(4, 3)
    save_feature_bank(tmp_path / "bank.pt", features, ["a", "b", "c", "d"], fingerprint)
    loaded, ids, _ = load_feature_bank(tmp_path / "bank.pt", fingerprint)
    assert torch.equal(loaded, features) and ids == ["a", "b", "c", "d"]
    checkpoint.write_bytes(b"weights v2")
    with pytest.raises(StaleFeatureBank, match="another checkpoint"):
        load_feature_bank(tmp_path / "bank.pt", file_fingerprint(checkpoint))


def test_a_damaged_feature_bank_is_reported_and_a_failed_write_keeps_the_old_one(tmp_path):
    path = tmp_path / "bank.pt"
    save_feature_bank(path, torch.ones(2, 2), ["a", "b"], "f")
    good = path.read_bytes()
    with pytest.raises(ValueError):
        save_feature_bank(path, torch.ones(3, 2), ["a"], "f")
    assert path.read_bytes() == good
    path.write_bytes(good[:20])
    with pytest.raises(UserError, match="not a readable feature bank"):
        load_feature_bank(path)


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_shortlist_search_finds_the_nearest_embeddings(index_type):
    torch.manual_seed(0)
    gallery = torch.randn(500, 16)
    index = ShortlistIndex(gallery, index_type, nlist=8, nprobe=8)
    found = index.search(gallery[:20] + 0.01 * torch.randn(20, 16), 5)
    assert np.mean(found[:, 0] == np.arange(20)) >= 0.9


@pytest.mark.parametrize("embedding", ["surrogate", "pooled"])
def test_a_full_flat_shortlist_reranked_equals_exact_scoring(embedding):
    torch.manual_seed(1)
    scorer = StandInScorer()
    queries, gallery, pooled = torch.randn(3, 4, 6), torch.randn(30, 5), torch.randn(3, 5)
    exact = search(scorer, queries, gallery)
    assert torch.equal(exact, exact_score_matrix(scorer, queries, gallery))
    whole = ShortlistSettings(size=30, index="flat", embedding=embedding)
    scores = search(scorer, queries, gallery, shortlist=whole, query_embeddings=pooled)
    assert torch.allclose(scores, exact, atol=1e-5)
    values, rows = search(scorer, queries, gallery, shortlist=whole, topk=7, query_embeddings=pooled)
    best = exact.topk(7, dim=1)
    assert torch.equal(rows, best.indices) and torch.allclose(values, best.values, atol=1e-5)
    partial = search(
        scorer, queries, gallery, shortlist=ShortlistSettings(size=5, embedding=embedding), query_embeddings=pooled
    )
    assert torch.isfinite(partial).sum(1).tolist() == [5, 5, 5]


def test_exact_search_averages_a_query_over_its_windows_and_ranks_with_topk():
    torch.manual_seed(2)
    scorer = StandInScorer()
    windows, gallery = torch.randn(2, 3, 4, 6), torch.randn(12, 5)
    expected = torch.stack([exact_score_matrix(scorer, w, gallery).mean(0) for w in windows])
    assert torch.allclose(search(scorer, windows, gallery), expected, atol=1e-6)
    values, rows = search(scorer, windows, gallery, topk=3)
    assert torch.equal(rows, expected.topk(3, dim=1).indices)


def test_a_saved_shortlist_index_gives_the_same_ranking_as_one_built_on_the_spot():
    from video2shop.retrieval.search import Shortlist, surrogate_index

    torch.manual_seed(3)
    scorer = StandInScorer(state_dim=6, item_dim=5, hidden=16)
    queries, gallery = torch.randn(4, 2, 6), torch.randn(300, 5)
    settings = ShortlistSettings(size=40, clusters=0)
    built = search(scorer, queries, gallery, shortlist=Shortlist.build(scorer, gallery, settings), topk=10)
    index, feature_map = surrogate_index(scorer, gallery, scorer.gallery_projection(gallery), settings)
    again = ShortlistIndex.from_bytes(index.to_bytes(), "inner_product")
    saved = search(
        scorer, queries, gallery, topk=10, shortlist=Shortlist.from_index(scorer, gallery, again, feature_map, 40)
    )
    assert torch.equal(built[1], saved[1]) and torch.allclose(built[0], saved[0])


def test_shortlist_settings_defaults_equal_asymnets_config_defaults():
    from dataclasses import asdict

    from mmf_ext.utils.configuration import load_yaml
    from video2shop.paths import model_defaults
    from video2shop.retrieval.search import ShortlistSettings

    node = load_yaml(model_defaults("asymnet")).model_config.asymnet.shortlist
    assert node.enabled is False
    node.enabled = True
    assert ShortlistSettings.from_config(node) == ShortlistSettings()
    assert set(asdict(ShortlistSettings())) == set(node) - {"enabled"}


def test_faiss_threads_follow_the_thread_policy_and_the_shortlist_adapts_per_query(monkeypatch):
    from mmf_ext.utils import adaptive_threads
    from mmf_ext.utils.threads import CpuBudget, apply_thread_plan, thread_plan
    from video2shop.retrieval import search as search_module
    from video2shop.retrieval.faiss_threads import faiss

    before = torch.get_num_threads()
    try:
        apply_thread_plan(thread_plan(None, 0, 1, CpuBudget(1, None), environ={}))
        assert faiss.omp_get_max_threads() == 1  # FAISS's own OpenMP pool, set with torch's
        apply_thread_plan(thread_plan(None, 0, 1, CpuBudget(2, None), environ={}))
        assert faiss.omp_get_max_threads() == 2
        chooser = adaptive_threads.AdaptiveThreads(stretch_s=0.0)
        monkeypatch.setattr(search_module, "SHORTLIST_THREADS", chooser)
        torch.manual_seed(2)
        scorer, queries, gallery = StandInScorer(), torch.randn(3, 4, 6), torch.randn(30, 5)
        seen = []
        real_rerank = search_module.rerank

        def rerank(*args, **kwargs):
            seen.append((torch.get_num_threads(), faiss.omp_get_max_threads()))
            return real_rerank(*args, **kwargs)

        monkeypatch.setattr(search_module, "rerank", rerank)
        exact = search(scorer, queries, gallery)
        scores = search(scorer, queries, gallery, shortlist=ShortlistSettings(size=30, index="flat"))
        assert torch.allclose(scores, exact, atol=1e-5)
        assert seen[:2] == [(2, 2), (1, 1)] and set(chooser.pace) == {2, 1}  # each query one stretch
        assert torch.get_num_threads() == 2 and faiss.omp_get_max_threads() == 2  # restored
    finally:
        apply_thread_plan(thread_plan(before, 0, 1, CpuBudget(before, None), environ={}))
