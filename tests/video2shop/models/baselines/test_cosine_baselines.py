"""The cosine baselines (contrastive_softmax: CS / RC; infonce_dual_encoder): losses, learning, exact scores."""

import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.configuration import load_yaml
from video2shop.models.baselines.cosine import naive_cosine_scores
from video2shop.models.metric_losses import contrastive_loss, multi_positive_infonce

SMALL_IFN = {"ifn": {"feature_dim": 16, "spp_levels": [1, 2]}, "embedding_dim": 8}


def build(name: str, **overrides):
    defaults = load_yaml(registry.get_model_class(name).config_path()).model_config[name]
    model = registry.get_model_class(name)(OmegaConf.merge(defaults, SMALL_IFN, overrides))
    model.build()
    return model


def train_batch(n=3, pairs=4, frames=4, size=24, products=("a", "b", "c")):
    generator = torch.Generator().manual_seed(3)
    return SampleList(
        {
            "video": torch.randint(0, 255, (n, frames, 3, size, size), dtype=torch.uint8, generator=generator),
            "images": torch.randint(0, 255, (n, pairs, 3, size, size), dtype=torch.uint8, generator=generator),
            "labels": torch.tensor([[1.0] * (pairs // 2) + [0.0] * (pairs // 2)] * n),
            "product_id": list(products[:n]),
            "category": torch.tensor([0, 5, -1][:n]),
        }
    )


def eval_batch(queries=3, gallery=5, frames=4, size=24):
    generator = torch.Generator().manual_seed(7)
    samples = [
        Sample(
            is_query=True, video=torch.randint(0, 255, (frames, 3, size, size), dtype=torch.uint8, generator=generator)
        )
        for _ in range(queries)
    ]
    samples += [
        Sample(is_query=False, image=torch.randint(0, 255, (3, size, size), dtype=torch.uint8, generator=generator))
        for _ in range(gallery)
    ]
    return SampleList(samples)


def test_contrastive_loss_by_hand():
    cosine = torch.tensor([1.0, 0.5, 0.5, -1.0])  # distances 0, 1, 1, 2
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    # classic: positives d^2 (0, 1); negatives max(0, 1.5 - d)^2 (0.25, 0)
    assert float(contrastive_loss(cosine, labels, 1.5)) == pytest.approx((0 + 1 + 0.25 + 0) / 4, abs=1e-4)
    # robust: a positive at d = 1 costs (1 - 0.6)^2; the one at d = 0 nothing
    assert float(contrastive_loss(cosine, labels, 1.5, 0.6)) == pytest.approx((0 + 0.16 + 0.25 + 0) / 4, abs=1e-4)


def test_multi_positive_infonce_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    positives = torch.tensor([[True, True, False], [False, False, True]])
    expected = [
        -math.log(math.exp(2) / (math.exp(2) + 1)),
        -math.log(math.exp(1) / (math.exp(1) + 1)),
        -math.log(math.exp(3) / (math.exp(3) + 2)),
    ]  # positives never sit in each other's denominators
    assert float(multi_positive_infonce(logits, positives)) == pytest.approx(sum(expected) / 3, abs=1e-5)
    leaf = torch.zeros(1, 2, requires_grad=True)
    no_negatives = multi_positive_infonce(leaf, torch.ones(1, 2, dtype=torch.bool))
    no_negatives.backward()  # finite masking: zero loss with a defined gradient, not NaN
    assert float(no_negatives.detach()) == pytest.approx(0.0, abs=1e-6) and torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("contrastive_softmax", {}),  # CS
        ("contrastive_softmax", {"softmax_over": "category", "positive_margin": 0.3}),  # RC
        ("infonce_dual_encoder", {}),
        ("infonce_dual_encoder", {"temporal": "mean", "shared_ifn": False}),
    ],
)
def test_losses_decrease_over_a_few_steps(name, overrides):
    torch.manual_seed(0)
    model = build(name, **overrides)
    batch = train_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        loss = sum(model(batch)["losses"].values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0]


def test_cs_numbers_products_and_rc_uses_categories_ignoring_unknown_ones():
    cs = build("contrastive_softmax", num_identities=2)
    assert cs.class_targets(train_batch(n=2)).tolist() == [0, 1]
    with pytest.raises(Exception, match="num_identities"):
        cs.class_targets(train_batch(n=3))  # a third product does not fit two classes
    rc = build("contrastive_softmax", softmax_over="category")
    assert rc.class_targets(train_batch()).tolist() == [0, 5, -1]
    output = rc(train_batch())
    assert torch.isfinite(output["losses"]["softmax_loss"])  # the unknown category is ignored, not NaN


def naive_cs_scores(model, batch):
    """Average over frames of the cosine of raw (unnormalised) frame and shop-image embeddings, pair by pair."""
    videos = torch.stack([v for v, q in zip(batch.video, batch.is_query) if q and v is not None])
    images = torch.stack([i for i, q in zip(batch.image, batch.is_query) if not q])
    frames = model.embedding(model.ifn(videos.flatten(0, 1))).view(*videos.shape[:2], -1)
    shop = model.embedding(model.ifn(images))
    return torch.tensor(
        [
            [float(sum(F.cosine_similarity(f, g, dim=0) for f in frames[q]) / frames.shape[1]) for g in shop]
            for q in range(len(videos))
        ]
    )


def naive_dual_encoder_scores(model, batch):
    videos = torch.stack([v for v, q in zip(batch.video, batch.is_query) if q and v is not None])
    images = torch.stack([i for i, q in zip(batch.image, batch.is_query) if not q])
    frames = model.video_ifn(videos.flatten(0, 1)).view(*videos.shape[:2], -1)
    video = model.video_head(model.temporal_pool(frames))
    shop = model.image_head(model.image_ifn(images))
    return torch.tensor([[float(F.cosine_similarity(v, g, dim=0)) for g in shop] for v in video])


@pytest.mark.parametrize(
    "name, naive", [("contrastive_softmax", naive_cs_scores), ("infonce_dual_encoder", naive_dual_encoder_scores)]
)
def test_evaluation_scores_equal_the_naive_per_pair_cosine(name, naive):
    torch.manual_seed(1)
    model = build(name)
    model.eval()
    batch = eval_batch()
    with torch.no_grad():
        output = model(batch)
        aggregated = model.aggregate_eval_outputs(batch, output)
        expected = naive(model, batch)
        states = torch.stack(output["query_states"][:3])
        gallery = torch.stack(output["gallery_features"][3:])
    assert aggregated["query_positions"].tolist() == [0, 1, 2] and aggregated["gallery_positions"].tolist() == [
        3,
        4,
        5,
        6,
        7,
    ]
    assert aggregated["scores"].shape == (3, 5)
    assert torch.allclose(aggregated["scores"], expected, atol=1e-5)
    pairs = naive_cosine_scores(states.repeat_interleave(5, 0), gallery.repeat(3, 1)).view(3, 5)
    assert torch.allclose(aggregated["scores"], pairs, atol=1e-5)
    assert torch.allclose(gallery.norm(dim=-1), torch.ones(5), atol=1e-5)  # L2-normalised gallery embeddings
