"""Every AsymNet component and equation, on small tensors."""

import math

import pytest
import torch

from mmf_ext.utils.errors import ConfigError
from video2shop.models.asymnet.fusion_tree import (
    PAPER_TREES,
    FusionTree,
    closed_form_gate_gradients,
    mixture_log_likelihood,
)
from video2shop.models.asymnet.ifn import ImageFeatureNetwork, SpatialPyramidPooling
from video2shop.models.asymnet.ssn import SingleSimilarityNetwork
from video2shop.models.asymnet.vfn import VideoFeatureNetwork


def test_spp_gives_a_fixed_length_for_any_input_size():
    spp = SpatialPyramidPooling((1, 2, 4))
    for height, width in [(5, 7), (16, 16), (33, 12)]:
        assert spp(torch.randn(2, 8, height, width)).shape == (2, 8 * (1 + 4 + 16))


def test_ifn_accepts_crops_of_any_size_and_uint8():
    ifn = ImageFeatureNetwork("tiny", (1, 2), feature_dim=32)
    assert ifn(torch.randint(0, 255, (3, 3, 48, 40), dtype=torch.uint8)).shape == (3, 32)
    assert ifn(torch.rand(1, 3, 72, 64)).shape == (1, 32)


def test_on_the_cpu_the_backbone_computes_on_nhwc_with_the_features_of_nchw():
    torch.manual_seed(0)
    ifn = ImageFeatureNetwork("tiny", (1, 2), feature_dim=32).eval()
    seen = []
    ifn.backbone[0].register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    images = torch.randint(0, 255, (4, 3, 40, 40), dtype=torch.uint8)
    features = ifn(images)
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and not seen[0].is_contiguous()
    ifn.nhwc_on_cpu = False  # the same network on NCHW, as before the NHWC path: the same features
    with torch.no_grad():
        expected = ifn(images)
    assert seen[1].is_contiguous()
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "vgg16"])
def test_torchvision_backbones_build_offline(name):
    ifn = ImageFeatureNetwork(name, (1, 2), feature_dim=16)
    assert ifn(torch.rand(1, 3, 64, 64)).shape == (1, 16)


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_vfn_keeps_every_hidden_state(levels):
    vfn = VideoFeatureNetwork(12, 10, levels)
    assert vfn(torch.randn(3, 7, 12)).shape == (3, 7, 10)
    assert vfn.lstm.num_layers == levels


def test_glorot_orthogonal_init_sets_each_gate_block():
    vfn = VideoFeatureNetwork(12, 10, levels=2, init="glorot_orthogonal")
    hidden = 10
    for level in range(2):
        bias_ih, bias_hh = vfn.lstm.get_parameter(f"bias_ih_l{level}"), vfn.lstm.get_parameter(f"bias_hh_l{level}")
        expected = torch.zeros(4 * hidden)
        expected[hidden : 2 * hidden] = 1.0  # the forget gate (PyTorch's order: input, forget, cell, output)
        assert torch.equal(bias_ih + bias_hh, expected)
        for block in vfn.lstm.get_parameter(f"weight_hh_l{level}").split(hidden):
            assert torch.allclose(block @ block.t(), torch.eye(hidden), atol=1e-5)
        inputs = 12 if level == 0 else hidden
        bound = math.sqrt(6 / (inputs + hidden))
        assert vfn.lstm.get_parameter(f"weight_ih_l{level}").abs().max() <= bound


def test_with_glorot_orthogonal_init_four_levels_still_follow_their_input():
    """PyTorch's default init leaves 4-level top states nearly input-independent (spread ~5% of their size)."""
    torch.manual_seed(0)
    frames = torch.relu(torch.randn(16, 8, 64))
    for init, low, high in (("glorot_orthogonal", 0.5, None), ("torch", None, 0.15)):
        states = VideoFeatureNetwork(64, 64, levels=4, init=init)(frames).detach()
        spread = (states.std(0).mean() / states.abs().mean()).item()
        assert (low is None or spread > low) and (high is None or spread < high), (init, spread)


def test_an_unknown_lstm_init_is_one_line():
    with pytest.raises(ConfigError, match=r"vfn\.init='xavier'; choose glorot_orthogonal or torch"):
        VideoFeatureNetwork(4, 4, init="xavier")


def test_ssn_is_logistic_of_fc2_of_relu_fc1_and_splits_exactly():
    ssn = SingleSimilarityNetwork(6, 5, hidden=256)
    h, m = torch.randn(4, 6), torch.randn(4, 5)
    x, z = ssn(h, m)
    expected = ssn.fc2(torch.relu(ssn.fc1(torch.cat([h, m], -1)))).squeeze(-1)
    assert torch.allclose(z, expected, atol=1e-6) and x.shape == (4, 256)
    _, z_split = ssn.from_preactivation(ssn.state_projection(h) + ssn.image_projection(m))
    assert torch.allclose(z_split, z, atol=1e-5)
    assert torch.all((torch.sigmoid(z) > 0) & (torch.sigmoid(z) < 1))  # Eq. 2


def test_correlation_init_starts_the_ssn_as_a_correlation_of_projections_of_h_and_m():
    torch.manual_seed(0)
    ssn = SingleSimilarityNetwork(12, 10, hidden=32, init="correlation")
    projection_h, projection_m = ssn.fc1.weight[:8, :12], ssn.fc1.weight[:8, 12:]
    assert torch.allclose(projection_h @ projection_h.t(), torch.eye(8), atol=1e-5)  # orthonormal rows
    assert torch.allclose(projection_m @ projection_m.t(), torch.eye(8), atol=1e-5)
    h, m = torch.randn(5, 12), 7 * torch.randn(5, 10)
    p, q = h @ projection_h.t(), m @ projection_m.t()
    expected = ((p + q).abs() - (p - q).abs()).sum(-1) / 8**0.5
    assert torch.allclose(ssn(h, m)[1], expected, atol=1e-4)
    # a correlation: an image whose projection is h's scores 2 |p|_1 (scaled), its opposite minus that
    aligned = p @ projection_m
    assert torch.allclose(ssn(h, aligned)[1], 2 * p.abs().sum(-1) / 8**0.5, atol=1e-4)
    assert torch.allclose(ssn(h, -aligned)[1], -2 * p.abs().sum(-1) / 8**0.5, atol=1e-4)


@pytest.mark.parametrize(
    ("hidden", "message"),
    [(30, r"ssn\.hidden=30: init correlation needs a multiple of 4"), (64, r"give hidden <= 40")],
)
def test_correlation_init_refuses_a_width_it_cannot_fill(hidden, message):
    with pytest.raises(ConfigError, match=message):
        SingleSimilarityNetwork(12, 10, hidden=hidden, init="correlation")


def test_an_unknown_ssn_init_is_one_line():
    with pytest.raises(ConfigError, match=r"ssn\.init='xavier'; choose torch or correlation"):
        SingleSimilarityNetwork(4, 4, init="xavier")


def test_fusion_tree_equals_a_hand_computation_of_eq_6():
    torch.manual_seed(0)
    tree = FusionTree([2, 2], feature_dim=3)
    for gate in tree.gates:
        torch.nn.init.normal_(gate)
    y = torch.rand(4)
    x = torch.randn(4, 3)
    v_leaf, v_top = tree.gates[0], tree.gates[1]
    g_leaf = [
        torch.softmax(torch.stack([v_leaf[2 * j] @ x[2 * j], v_leaf[2 * j + 1] @ x[2 * j + 1]]), 0) for j in range(2)
    ]
    x_top = [x[0:2].mean(0), x[2:4].mean(0)]
    g_top = torch.softmax(torch.stack([v_top[0] @ x_top[0], v_top[1] @ x_top[1]]), 0)
    expected = sum(g_top[j] * sum(g_leaf[j][i] * y[2 * j + i] for i in range(2)) for j in range(2))
    assert torch.allclose(tree(y, x), expected, atol=1e-6)


@pytest.mark.parametrize("name, branches", sorted(PAPER_TREES.items()))
def test_paper_tree_variants_build_with_32_leaves(name, branches):
    tree = FusionTree(branches, feature_dim=4)
    assert tree.num_leaves == 32
    assert sum(g.shape[0] for g in tree.gates) == {1: 32}.get(
        len(branches), sum(32 // math.prod(branches[:i]) for i in range(len(branches)))
    )
    out = tree(torch.rand(5, 32), torch.randn(5, 32, 4))
    assert out.shape == (5,) and torch.all((out > 0) & (out < 1))
    if branches == [2, 2, 2, 2, 2]:
        assert [g.shape[0] for g in tree.gates] == [32, 16, 8, 4, 2]  # the paper's 62 fusion nodes


def test_untrained_tree_is_the_average_of_its_leaves():
    tree = FusionTree([2, 4], feature_dim=3)
    y = torch.rand(6, 8)
    assert torch.allclose(tree(y, torch.randn(6, 8, 3)), y.mean(-1), atol=1e-6)


@pytest.mark.parametrize("branches", [[2, 2], [2, 2, 2], [4, 2], [8]])
def test_autograd_gradients_of_eq_9_equal_the_closed_form_eqs_10_11(branches):
    torch.manual_seed(1)
    tree = FusionTree(branches, feature_dim=5)
    for gate in tree.gates:
        torch.nn.init.normal_(gate, std=0.5)
    leaves = tree.num_leaves
    similarity = torch.rand(7, leaves).clamp(0.05, 0.95)
    features = torch.randn(7, leaves, 5)
    labels = torch.randint(0, 2, (7,))
    mixture_log_likelihood(tree, similarity, features, labels).backward()
    closed = closed_form_gate_gradients(tree, similarity, features, labels)
    for gate, expected in zip(tree.gates, closed):
        assert torch.allclose(gate.grad, expected, atol=1e-5)


def test_mixture_log_likelihood_is_the_log_loss_of_the_fused_score():
    tree = FusionTree([2, 2], feature_dim=3)
    for gate in tree.gates:
        torch.nn.init.normal_(gate)
    similarity, features = torch.rand(6, 4), torch.randn(6, 4, 3)
    labels = torch.tensor([1, 0, 1, 1, 0, 0])
    fused = tree(similarity, features)
    expected = -torch.nn.functional.binary_cross_entropy(fused, labels.float(), reduction="sum")
    assert torch.allclose(mixture_log_likelihood(tree, similarity, features, labels), expected, atol=1e-5)
