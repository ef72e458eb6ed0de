"""The exact scorer's pair head (fc2 and the fusion from leaf projections) gives the per-pair network's scores."""

import pytest
import torch

from tests.video2shop.models.asymnet.test_model import build
from video2shop.models.asymnet.pair_head import LeafProjectionHead
from video2shop.retrieval.interfaces import PairHead
from video2shop.retrieval.scoring import exact_score_matrix, naive_score_matrix
from video2shop.retrieval.search import search

MODELS = {
    "tree 2-2": {},
    "tree 3-2": {"tree": [3, 2]},
    "flat tree 4": {"tree": [4]},
    "avg": {"fusion": "avg"},
    "max": {"fusion": "max"},
    "last": {"fusion": "last"},
    "kvm": {"fusion": "kvm"},
    "avg_pool": {"representation": "avg_pool"},
    "max_pool": {"representation": "max_pool"},
    "fisher_vector": {"representation": "fisher_vector", "encoding": {"num_clusters": 3, "pca_dim": 6}},
    "vlad": {"representation": "vlad", "encoding": {"num_clusters": 3, "pca_dim": 6}},
}


def scoring_model(overrides):
    torch.manual_seed(0)
    model = build(**overrides)
    if model.encoding is not None:
        model.encoding.fit(torch.randn(64, 16))
    with torch.no_grad():
        for gate in model.tree.gates if model.tree is not None else []:
            gate.normal_(std=0.5)  # untrained gates are uniform: give the tree something to fuse
        if model.key_volume is not None:
            model.key_volume.weight.normal_(std=0.5)
    return model.eval()


def assert_same_scores_and_ranking(exact, naive):
    assert exact.shape == naive.shape
    assert float((exact - naive).abs().max()) <= 1e-5
    assert torch.equal(exact.argsort(dim=1, descending=True), naive.argsort(dim=1, descending=True))


@pytest.mark.parametrize("pairs_per_chunk", [1, 3, 27, 10_000])
@pytest.mark.parametrize("name", list(MODELS))
def test_exact_scores_equal_the_per_pair_network_for_every_fusion_and_chunking(name, pairs_per_chunk):
    model = scoring_model(MODELS[name])
    assert isinstance(model.pair_head(), PairHead)
    with torch.no_grad():
        states = model.encode_trajectories(torch.randn(5, 4, 16)).flatten(0, 1)  # [Q, L, D]
    gallery = torch.randn(13, 16)
    # 3 pairs: chunks end inside a query's row (13 = 4 x 3 + 1) and fusions run over several chunks;
    # 27: two whole rows per chunk; 1 and 10,000: a pair, everything at once
    chunk_mb = pairs_per_chunk * states.shape[1] * model.ssn.fc1.out_features * 4 / 2**20
    exact = exact_score_matrix(model, states, gallery, memory_budget_mb=chunk_mb)
    assert_same_scores_and_ranking(exact, naive_score_matrix(model, states, gallery))


@pytest.mark.parametrize("name", ["tree 2-2", "kvm"])
def test_a_query_of_several_windows_scores_the_mean_of_its_windows(name):
    model = scoring_model(MODELS[name])
    with torch.no_grad():
        windows = model.encode_trajectories(torch.randn(3, 19, 16))  # [Q, W, L, D]
    assert windows.shape[1] > 1
    gallery = torch.randn(11, 16)
    naive = torch.stack([naive_score_matrix(model, w, gallery).mean(0) for w in windows])
    assert_same_scores_and_ranking(search(model, windows, gallery, memory_budget_mb=0.0005), naive)


def test_last_projects_only_the_last_leaf_and_shared_weights_project_every_leaf_at_once():
    model = scoring_model({"fusion": "last"})
    pre = torch.randn(4, 2, 3, model.ssn.fc1.out_features)  # [L, Q, G, H]
    assert LeafProjectionHead("last", model.ssn.fc2).project(pre.clone()).shape == (1, 1, 6)
    assert LeafProjectionHead("avg", model.ssn.fc2).project(pre.clone()).shape == (1, 4, 6)
    tree = scoring_model({})
    assert tree.pair_head().project(pre.clone()).shape == (1 + 2, 4, 6)  # fc2 and one gate per level
