"""Feature bank: atomic write, tied to its checkpoint; shortlist: flat index + exact re-rank equals exact."""

import os

import pytest
import torch

from mmf_ext.retrieval.feature_bank import FeatureBank, StaleFeatureBank, fingerprint
from mmf_ext.retrieval.scoring import exact_score_matrix
from mmf_ext.retrieval.shortlist import ShortlistConfig, ShortlistIndex, shortlist_search, topk_overlap

from torch import nn


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

    def score_preactivations(self, pre):
        return torch.sigmoid(self.fc2(torch.relu(pre)).squeeze(-1)).mean(-1)

    def score_pairs(self, q, g):
        pairs = torch.cat([q, g[:, None].expand(-1, q.shape[1], -1)], -1)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(pairs))).squeeze(-1)).mean(-1)


def _checkpoint(path, value):
    torch.save({"w": torch.tensor([value])}, path)
    return path


def test_feature_bank_round_trip_and_staleness(tmp_path):
    ckpt = _checkpoint(tmp_path / "a.ckpt", 1.0)
    fp = fingerprint(ckpt, {"model": "asymnet"})
    bank = FeatureBank(tmp_path / "bank" / "gallery.pt", fp)
    calls = []

    def build():
        calls.append(1)
        return torch.arange(6.0).view(3, 2), ["g0", "g1", "g2"]

    feats, ids = bank.load_or_build(build)
    feats2, ids2 = bank.load_or_build(build)
    assert calls == [1] and torch.equal(feats, feats2) and ids2 == ["g0", "g1", "g2"]
    assert not [p for p in os.listdir(bank.path.parent) if p.endswith(".tmp")]

    _checkpoint(ckpt, 2.0)  # the checkpoint changed: the bank is stale
    stale = FeatureBank(bank.path, fingerprint(ckpt, {"model": "asymnet"}))
    assert not stale.is_fresh()
    with pytest.raises(StaleFeatureBank):
        stale.load()
    stale.load_or_build(build)
    assert calls == [1, 1] and stale.is_fresh()
    assert fingerprint(ckpt, {"model": "other"}) != stale.fingerprint


def test_feature_bank_write_is_atomic(tmp_path, monkeypatch):
    bank = FeatureBank(tmp_path / "gallery.pt", "fp")
    bank.save(torch.ones(2, 2), ["a", "b"])

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        bank.save(torch.zeros(2, 2), ["c", "d"])
    monkeypatch.undo()
    feats, ids = bank.load()  # the previous bank is intact, no temporary left behind
    assert ids == ["a", "b"] and torch.equal(feats, torch.ones(2, 2))
    assert os.listdir(tmp_path) == ["gallery.pt"]


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_shortlist_then_exact_rerank(kind):
    torch.manual_seed(0)
    scorer = StandInScorer()
    queries, gallery = torch.randn(5, 4, 6), torch.randn(300, 5)
    exact = exact_score_matrix(scorer, queries, gallery)
    exact_scores, exact_ids = exact.topk(10, dim=1)
    config = ShortlistConfig(enabled=True, size=300, index=kind, nlist=8, nprobe=8)
    index = ShortlistIndex(gallery, config)
    scores, ids = shortlist_search(scorer, queries, queries.mean(1)[:, :5], gallery, index, topk=10)
    if kind == "flat":  # shortlist of the whole gallery: exactly the exact ranking
        assert torch.equal(ids, exact_ids)
        assert torch.allclose(scores, exact_scores, atol=1e-5)
    assert topk_overlap(ids, exact_ids) >= (1.0 if kind != "hnsw" else 0.9)


def test_shortlist_config_from_mapping_and_bad_index():
    config = ShortlistConfig.from_config({"enabled": True, "size": 50, "index": "ivf", "unknown": 1})
    assert config.enabled and config.size == 50 and config.index == "ivf"
    with pytest.raises(ValueError):
        ShortlistIndex(torch.randn(10, 4), ShortlistConfig(index="lsh"))
