"""FV / VLAD encodings: hand-checked sums, normalisation, fitting with FAISS, and asymnet's use of them."""

import math
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.configuration import load_yaml
from video2shop.models.asymnet.encodings import SoftFisherVector, SoftVLAD, fit_on_training_regions, normalise_encoding
from video2shop.retrieval.scoring import exact_score_matrix, naive_score_matrix

ASYMNET = load_yaml(registry.get_model_class("asymnet").config_path()).model_config.asymnet


def test_vlad_sums_residuals_to_the_assigned_centres_as_by_hand():
    vlad = SoftVLAD(2, 2, None)
    with torch.no_grad():
        vlad.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 3.0]]))
        vlad.log_alpha.fill_(math.log(50.0))  # hard assignment
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [4.0, 3.0]]])
    # x0, x1 -> c0: (0,0) + (1,0); x2 -> c1: (4,3) - (3,3) = (1,0)
    assert torch.allclose(vlad.aggregate(x), torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]), atol=1e-5)

    with torch.no_grad():
        vlad.log_alpha.fill_(math.log(0.5))  # soft: a_k(x) proportional to exp(-0.5 ||x - c_k||^2)
    expected = torch.zeros(2, 2)
    centres = vlad.centers.detach()
    for point in x[0]:
        weights = [math.exp(-0.5 * float(((point - c) ** 2).sum())) for c in centres]
        for k, c in enumerate(centres):
            expected[k] += weights[k] / sum(weights) * (point - c)
    assert torch.allclose(vlad.aggregate(x)[0], expected, atol=1e-5)


def test_fisher_vector_blocks_match_the_per_descriptor_formula():
    torch.manual_seed(0)
    fv = SoftFisherVector(3, 2, None)
    with torch.no_grad():
        fv.means.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, -1.0]]))
        fv.log_variances.copy_(torch.log(torch.tensor([[1.0, 0.5, 2.0], [0.3, 1.0, 1.5]])))
        fv.weight_logits.copy_(torch.log(torch.tensor([0.3, 0.7])))
    x = torch.randn(1, 4, 3)
    pi, mu, var = torch.tensor([0.3, 0.7]), fv.means.detach(), fv.log_variances.detach().exp()
    g_mu, g_sigma = torch.zeros(2, 3), torch.zeros(2, 3)
    for point in x[0]:
        density = torch.stack(
            [
                pi[k]
                * torch.exp(-0.5 * ((point - mu[k]) ** 2 / var[k]).sum())
                / torch.sqrt((2 * math.pi * var[k]).prod())
                for k in range(2)
            ]
        )
        posterior = density / density.sum()
        for k in range(2):
            z = (point - mu[k]) / var[k].sqrt()
            g_mu[k] += posterior[k] * z / (4 * pi[k].sqrt())
            g_sigma[k] += posterior[k] * (z * z - 1) / (4 * (2 * pi[k]).sqrt())
    assert torch.allclose(fv.aggregate(x)[0], torch.cat([g_mu, g_sigma]), atol=1e-5)


def test_unnormalised_vlad_is_the_mean_residual_so_sets_of_any_size_share_a_scale():
    vlad = SoftVLAD(2, 2, None)  # the default: raw statistics
    with torch.no_grad():
        vlad.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 3.0]]))
        vlad.log_alpha.fill_(math.log(50.0))
    frames = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [4.0, 3.0], [4.0, 3.0]]])
    assert torch.allclose(vlad(frames), torch.tensor([[0.5, 0.0, 0.5, 0.0]]), atol=1e-5)
    assert torch.allclose(vlad(frames[:, :1]), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), atol=1e-5)


def test_intra_normalisation_keeps_an_empty_block_near_zero():
    blocks = torch.tensor([[[3.0, 4.0], [1e-6, 0.0]]])
    out = normalise_encoding(blocks, 1.0, intra_eps=0.1)
    assert out[0, 2] < 1e-4 and out[0, :2].norm() > 0.99  # eps = 0 would make the empty block a unit vector
    assert normalise_encoding(blocks, 1.0)[0, 2] > 0.7


def test_normalisation_is_intra_then_signed_power_then_l2():
    blocks = torch.tensor([[[3.0, -4.0], [0.0, 2.0]]])
    expected = torch.tensor([0.6**0.5, -(0.8**0.5), 0.0, 1.0]) / math.sqrt(2.4)
    assert torch.allclose(normalise_encoding(blocks, 0.5)[0], expected, atol=1e-3)
    assert torch.allclose(
        normalise_encoding(blocks, 1.0)[0], torch.tensor([0.6, -0.8, 0.0, 1.0]) / math.sqrt(2), atol=1e-6
    )


@pytest.mark.parametrize("kind", [SoftVLAD, SoftFisherVector])
def test_encodings_have_the_right_size_and_unit_norm_for_sets_and_single_images(kind):
    torch.manual_seed(1)
    encoder = kind(16, 4, 6, normalise=True)
    factor = 2 if kind is SoftFisherVector else 1
    assert encoder.output_dim == factor * 4 * 6
    for count in (5, 1):  # a trajectory of 5 frames; a shop image, a set of one
        out = encoder(torch.randn(3, count, 16))
        assert out.shape == (3, encoder.output_dim)
        assert torch.allclose(out.norm(dim=-1), torch.full((3,), math.sqrt(encoder.output_dim)), atol=1e-4)  # unit RMS
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())  # codebooks follow the IFN


def blobs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three tight, well-separated clusters (50%, 30%, 20%) in 8-D, living in a 4-D subspace."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(8, 4, generator=generator))[0].t()  # [4, 8] orthonormal rows
    centres = torch.tensor([[6.0, 0, 0, 0], [0, 6.0, 0, 0], [0, 0, 6.0, 3.0]])
    sizes = [300, 180, 120]
    points = torch.cat([c + 0.3 * torch.randn(n, 4, generator=generator) for c, n in zip(centres, sizes)])
    return points @ basis + 1.0, torch.tensor(sizes) / sum(sizes)


def test_vlad_fit_finds_the_pca_subspace_and_the_cluster_centres():
    features, _ = blobs()
    vlad = SoftVLAD(8, 3, 4)
    vlad.fit(features, seed=0)
    assert bool(vlad.fitted)
    projected = vlad.project(features).detach()
    # the PCA keeps (almost) all of the variance, which lives in 4 dimensions
    assert projected.var(0).sum() / features.var(0).sum() > 0.999
    labels = torch.arange(3).repeat_interleave(torch.tensor([300, 180, 120]))
    means = torch.stack([projected[labels == k].mean(0) for k in range(3)])
    distances = torch.cdist(means, vlad.centers.detach())
    assert distances.min(1).values.max() < 0.2 and distances.argmin(1).unique().numel() == 3
    # alpha starts where the nearest centre outweighs the second by 100 at the median descriptor
    top_two = vlad.assignments(projected[None])[0].detach().topk(2, dim=1).values
    assert float((top_two[:, 0] / top_two[:, 1]).median()) == pytest.approx(100.0, rel=0.01)


def test_fisher_vector_fit_recovers_weights_means_and_variances():
    features, proportions = blobs(1)
    fv = SoftFisherVector(8, 3, 4, em_iterations=5)
    fv.fit(features, seed=0)
    projected = fv.project(features).detach()
    labels = torch.arange(3).repeat_interleave(torch.tensor([300, 180, 120]))
    order = torch.cdist(torch.stack([projected[labels == k].mean(0) for k in range(3)]), fv.means.detach()).argmin(1)
    weights = torch.softmax(fv.weight_logits.detach(), 0)[order]
    assert torch.allclose(weights, proportions.float(), atol=0.02)
    variances = fv.log_variances.detach().exp()[order]
    assert torch.allclose(variances, torch.full_like(variances, 0.09), atol=0.04)


class _Items:
    """A training split of 3 items: 4 frames and 2 shop images each."""

    product_ids = ["p0", "p1", "p2"]

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> Sample:
        generator = torch.Generator().manual_seed(index)
        return Sample(
            video=torch.randint(0, 255, (4, 3, 24, 24), dtype=torch.uint8, generator=generator),
            images=torch.randint(0, 255, (2, 3, 24, 24), dtype=torch.uint8, generator=generator),
        )


def build_asymnet(representation: str, normalise: bool = False):
    config = OmegaConf.merge(
        ASYMNET,
        {
            "ifn": {"feature_dim": 16, "spp_levels": [1, 2]},
            "ssn": {"hidden": 8},
            "representation": representation,
            "encoding": {"num_clusters": 3, "pca_dim": 6, "fit_samples": 10, "normalise": normalise},
        },
    )
    model = registry.get_model_class("asymnet")(config)
    model.build()
    return model


@pytest.mark.parametrize("representation", ["vlad", "fisher_vector"])
def test_training_start_fits_once_on_sampled_regions_and_leaves_batchnorm_alone(representation):
    torch.manual_seed(0)
    model = build_asymnet(representation)
    assert model.ssn.fc1.in_features == 2 * model.encoding.output_dim
    before = {k: v.clone() for k, v in model.ifn.named_buffers()}
    trainer = SimpleNamespace(datamodule=SimpleNamespace(get_dataset=lambda split: _Items()))
    fit_on_training_regions(model.encoding, model.ifn, trainer, model.config.encoding)
    assert bool(model.encoding.fitted)
    assert all(torch.equal(before[k], v) for k, v in model.ifn.named_buffers())
    fitted = {k: v.clone() for k, v in model.encoding.state_dict().items()}
    fit_on_training_regions(model.encoding, model.ifn, trainer, model.config.encoding)  # resumed runs never refit
    assert all(torch.equal(fitted[k], v) for k, v in model.encoding.state_dict().items())


def train_batch(n=2, pairs=4, frames=4, size=24):
    generator = torch.Generator().manual_seed(3)
    return SampleList(
        {
            "video": torch.randint(0, 255, (n, frames, 3, size, size), dtype=torch.uint8, generator=generator),
            "images": torch.randint(0, 255, (n, pairs, 3, size, size), dtype=torch.uint8, generator=generator),
            "labels": torch.tensor([[1.0] * (pairs // 2) + [0.0] * (pairs // 2)] * n),
        }
    )


@pytest.mark.parametrize(
    "representation, normalise", [("vlad", False), ("fisher_vector", False), ("vlad", True), ("fisher_vector", True)]
)
def test_asymnet_with_an_encoding_learns_and_scores_exactly(representation, normalise):
    torch.manual_seed(0)
    model = build_asymnet(representation, normalise)
    batch = train_batch()
    with torch.no_grad():
        model.encoding.fit(model.ifn(torch.cat([batch.video.flatten(0, 1), batch.images.flatten(0, 1)])))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = sum(model(batch)["losses"].values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    # raw statistics learn fast; the normalised encodings learn too, slowly (they stalled on real data)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - (0.03 if normalise else 0.1)

    model.eval()
    samples = [Sample(is_query=True, video=torch.randint(0, 255, (4, 3, 24, 24), dtype=torch.uint8)) for _ in range(2)]
    samples += [Sample(is_query=False, image=torch.randint(0, 255, (3, 24, 24), dtype=torch.uint8)) for _ in range(3)]
    eval_batch = SampleList(samples)
    with torch.no_grad():
        output = model(eval_batch)
        aggregated = model.aggregate_eval_outputs(eval_batch, output)
        states = torch.stack(output["query_states"][:2]).flatten(0, 1)
        gallery = torch.stack(output["gallery_features"][2:])
    assert aggregated["scores"].shape == (2, 3)
    assert torch.allclose(aggregated["scores"], naive_score_matrix(model, states, gallery), atol=1e-5)
    assert torch.allclose(
        exact_score_matrix(model, states, gallery, memory_budget_mb=1e-4), aggregated["scores"], atol=1e-6
    )
