"""The registered asymnet model: approximate training, phases, factorized scoring, baselines."""

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError
from video2shop.retrieval.interfaces import FactorizedPairScorer
from video2shop.retrieval.scoring import exact_score_matrix, naive_score_matrix
from video2shop.video.sampling import window_starts

DEFAULTS = load_yaml(registry.get_model_class("asymnet").config_path()).model_config.asymnet


def build(**overrides):
    config = OmegaConf.merge(
        DEFAULTS,
        {
            "ifn": {"feature_dim": 16, "spp_levels": [1, 2]},
            "vfn": {"hidden_dim": 12},
            "ssn": {"hidden": 8},
            "tree": [2, 2],
        },
        overrides,
    )
    model = registry.get_model_class("asymnet")(config)
    model.build()
    return model


def train_batch(n=2, pairs=4, frames=4, size=24):
    torch.manual_seed(3)
    return SampleList(
        {
            "video": torch.randint(0, 255, (n, frames, 3, size, size), dtype=torch.uint8),
            "images": torch.randint(0, 255, (n, pairs, 3, size, size), dtype=torch.uint8),
            "labels": torch.tensor([[1.0] * (pairs // 2) + [0.0] * (pairs // 2)] * n),
        }
    )


@pytest.mark.parametrize("phase", ["ssn", "fusion"])
def test_approximate_training_gives_the_same_loss_and_gradients(phase):
    torch.manual_seed(0)
    approximate = build(phase=phase, approximate_training=True)
    for gate in approximate.tree.gates:
        torch.nn.init.normal_(gate, std=0.3)
    exact = build(phase=phase, approximate_training=False)
    exact.load_state_dict(approximate.state_dict())
    batch = train_batch()
    losses = []
    for model in (approximate, exact):
        output = model(batch)
        loss = sum(output["losses"].values())
        loss.backward()
        losses.append(loss.detach())
    assert torch.allclose(losses[0], losses[1], atol=1e-5)
    for (name, a), (_, b) in zip(approximate.named_parameters(), exact.named_parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-5, rtol=1e-4), name


def test_phase_ssn_trains_encoders_and_phase_fusion_only_the_gates():
    batch = train_batch()
    ssn_model = build(phase="ssn")
    sum(ssn_model(batch)["losses"].values()).backward()
    assert ssn_model.ifn.fc[0].weight.grad is not None and ssn_model.ssn.fc1.weight.grad is not None
    assert all(g.grad is None for g in ssn_model.tree.gates)

    fusion_model = build(phase="fusion")
    output = fusion_model(batch)
    assert set(output["losses"]) == {"fusion_nll"}
    output["losses"]["fusion_nll"].backward()
    assert all(g.grad is not None for g in fusion_model.tree.gates)
    assert all(p.grad is None for m in (fusion_model.ifn, fusion_model.vfn, fusion_model.ssn) for p in m.parameters())


def test_asymnet_implements_the_factorized_scorer_and_matches_naive_scores():
    model = build()
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.5)
    model.eval()
    assert isinstance(model, FactorizedPairScorer)
    states, gallery = torch.randn(5, 4, 12), torch.randn(9, 16)
    exact = exact_score_matrix(model, states, gallery, memory_budget_mb=0.001)
    naive = naive_score_matrix(model, states, gallery)
    assert torch.allclose(exact, naive, atol=1e-5)


def test_trajectories_longer_than_the_leaves_use_sliding_windows_and_shorter_ones_loop():
    assert window_starts(8, 4) == [0, 4] and window_starts(10, 4) == [0, 3, 6] and window_starts(4, 4) == [0]
    model = build()
    assert model.encode_trajectories(torch.randn(2, 10, 16)).shape == (2, 3, 4, 12)
    assert model.encode_trajectories(torch.randn(2, 3, 16)).shape == (2, 1, 4, 12)


def test_evaluation_forward_and_aggregation_score_every_query_against_the_gallery():
    model = build()
    model.eval()
    samples = [Sample(is_query=True, video=torch.randint(0, 255, (4, 3, 24, 24), dtype=torch.uint8)) for _ in range(2)]
    samples += [Sample(is_query=False, image=torch.randint(0, 255, (3, 24, 24), dtype=torch.uint8)) for _ in range(3)]
    batch = SampleList(samples)
    with torch.no_grad():
        output = model(batch)
        aggregated = model.aggregate_eval_outputs(batch, output)
    assert aggregated["scores"].shape == (2, 3)
    assert aggregated["query_positions"].tolist() == [0, 1] and aggregated["gallery_positions"].tolist() == [2, 3, 4]


@pytest.mark.parametrize(
    "overrides",
    [
        {"fusion": "avg"},
        {"fusion": "max"},
        {"fusion": "last"},
        {"fusion": "kvm"},
        {"representation": "avg_pool"},
        {"representation": "max_pool"},
        {"vfn": {"levels": 1}},
        {"vfn": {"levels": 3}},
        {"vfn": {"levels": 4}},
    ],
)
def test_baselines_train_and_score(overrides):
    model = build(**overrides)
    output = model(train_batch())
    sum(output["losses"].values()).backward()
    model.eval()
    with torch.no_grad():
        states = model.encode_trajectories(torch.randn(2, 4, 16)).flatten(0, 1)
    gallery = torch.randn(3, 16)
    scores = exact_score_matrix(model, states, gallery)
    assert scores.shape == (states.shape[0], 3)
    assert torch.allclose(scores, naive_score_matrix(model, states, gallery), atol=1e-5)


def test_with_phase_both_only_the_two_step_model_may_become_best(monkeypatch):
    staged = build(phase="both")
    monkeypatch.setattr(staged, "current_phase", lambda: "ssn")
    assert not staged.selectable_as_best()  # its gates are still untrained
    monkeypatch.setattr(staged, "current_phase", lambda: "fusion")
    assert staged.selectable_as_best()
    assert build(phase="ssn").selectable_as_best()  # a phase-ssn run selects among its own evaluations
    assert build(phase="both", fusion="avg").selectable_as_best()  # no gates to wait for


# -- the paper's sliding window: trajectories longer than the leaves ---------------------------------
def with_fixed_image_features(model):
    """Frame / image features that depend on each image alone (no BatchNorm batch statistics), so a trajectory's
    windows can be compared with the same frames given as trajectories of their own."""
    projection = torch.randn(3, 16, generator=torch.Generator().manual_seed(4))
    model.encode_images = lambda images: images.float().mean((-1, -2)) @ projection / 255.0
    return model


@pytest.mark.parametrize("phase", ["ssn", "fusion"])
def test_training_on_a_long_trajectory_is_the_pairs_of_each_of_its_windows(phase):
    torch.manual_seed(0)
    model = with_fixed_image_features(build(phase=phase))  # 4 leaves
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.5)
    batch = train_batch(frames=8)  # windows [0, 4) and [4, 8)
    assert window_starts(8, model.num_leaves) == [0, 4]

    def loss(video):
        output = model(SampleList({"video": video, "images": batch.images, "labels": batch.labels}))
        return sum(output["losses"].values())

    per_window = [loss(batch.video[:, start : start + 4]) for start in (0, 4)]
    assert torch.allclose(loss(batch.video), torch.stack(per_window).mean(), atol=1e-6)


def test_a_long_query_scores_the_mean_over_its_windows():
    model = build()
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.5)
    model.eval()
    with torch.no_grad():
        states, embedding = model.encode_query_videos(torch.randint(0, 255, (3, 10, 3, 24, 24), dtype=torch.uint8))
        assert states.shape[1] == len(window_starts(10, 4)) == 3
        gallery = torch.randn(5, 16)
        scores = model.score_gallery(states, embedding, gallery)
        per_window = [model.score_gallery(states[:, w : w + 1], embedding, gallery) for w in range(3)]
    assert torch.allclose(scores, torch.stack(per_window).mean(0), atol=1e-6)


@pytest.mark.parametrize("budget", [0, -2.5, "big", True])
def test_a_bad_scoring_block_size_is_one_config_error(budget):
    with pytest.raises(ConfigError, match=r"scoring\.memory_budget_mb=.*above 0, or null"):
        build(scoring={"memory_budget_mb": budget})
