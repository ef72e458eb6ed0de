import numpy as np
import pytest
import torch

from video2shop.retrieval.feature_bank import StaleFeatureBank, file_fingerprint, load_feature_bank, save_feature_bank
from video2shop.retrieval.scoring import exact_score_matrix
from video2shop.retrieval.shortlist import ShortlistIndex, shortlist_scores
from mmf_ext.utils.errors import UserError
from tests.video2shop.retrieval.test_scoring import StandInScorer


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
    queries, gallery = torch.randn(3, 4, 6), torch.randn(30, 5)
    scores = shortlist_scores(scorer, queries, torch.randn(3, 5), gallery, gallery, "flat", size=30, embedding=embedding)
    assert torch.allclose(scores, exact_score_matrix(scorer, queries, gallery), atol=1e-5)
    partial = shortlist_scores(scorer, queries, torch.randn(3, 5), gallery, gallery, "flat", size=5, embedding=embedding)
    assert torch.isfinite(partial).sum(1).tolist() == [5, 5, 5]
