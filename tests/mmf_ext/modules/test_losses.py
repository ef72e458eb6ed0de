"""Losses: MMFLoss naming, the Losses collection, and MMF's generic losses' values."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.common.registry import RegistryOverrideWarning, registry
from mmf_ext.common.sample import SampleList
from mmf_ext.modules.losses import Losses, MMFLoss
from mmf_ext.utils.errors import ConfigError

torch.manual_seed(0)
SCORES = torch.randn(4, 3)
INDEX = torch.tensor([0, 2, 1, 2])
ONE_HOT = F.one_hot(INDEX, 3).float()
SOFT = torch.tensor([[0.0, 2.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.3, 0.3, 0.4]])


def batch(targets, name="d", split="train", **fields):
    sample_list = SampleList({"targets": targets, **fields})
    sample_list.dataset_name, sample_list.dataset_type = name, split
    return sample_list


def loss(entry, target_values, scores=SCORES, **output):
    (value,) = Losses([entry])(batch(target_values), {"scores": scores, **output}).values()
    return value


@registry.register_loss("test_parts")
class Parts(nn.Module):
    datasets = ["d"]

    def forward(self, sample_list, model_output):
        return {"first": torch.tensor(1.0), "second": 2.0}


# -- naming and collection -----------------------------------------------------------------------
def test_a_tensor_loss_is_named_split_dataset_type_and_stays_0_d():
    values = Losses(["cross_entropy"])(batch(INDEX, "ds", "val"), {"scores": SCORES})
    assert list(values) == ["val/ds/cross_entropy"] and values["val/ds/cross_entropy"].dim() == 0


def test_a_dict_loss_is_named_per_child_and_a_dataset_list_limits_it():
    values = MMFLoss({"type": "test_parts"})(batch(INDEX), {})
    assert values == {
        "train/d/test_parts/first": torch.tensor(1.0),
        "train/d/test_parts/second": torch.tensor(2.0),
    }
    assert MMFLoss("test_parts")(batch(INDEX, name="other"), {}) == {}
    plain = {"targets": INDEX, "dataset_name": "d", "dataset_type": "val"}  # MMF also took plain dict batches
    assert list(MMFLoss("test_parts")(plain, {})) == ["val/d/test_parts/first", "val/d/test_parts/second"]


def test_losses_merge_every_entry_and_accept_none_a_name_or_a_list():
    assert len(Losses(None)) == 0 and Losses(None)(batch(INDEX), {}) == {}
    assert Losses("mse").names == ["mse"]
    values = Losses(["cross_entropy", {"type": "logit_bce", "params": {}}])(batch(ONE_HOT), {"scores": SCORES})
    assert set(values) == {"train/d/cross_entropy", "train/d/logit_bce"}


def test_losses_are_skipped_with_a_warning_when_no_targets_exist():
    sample_list = SampleList({"x": torch.ones(2)})
    sample_list.dataset_name, sample_list.dataset_type = "d", "test"
    with pytest.warns(UserWarning, match="no field 'targets'"):
        assert Losses(["cross_entropy"])(sample_list, {"scores": SCORES}) == {}


def test_targets_in_the_model_output_are_used_when_the_sample_list_has_none():
    sample_list = SampleList({"x": torch.ones(4)})
    sample_list.dataset_name, sample_list.dataset_type = "d", "train"
    values = Losses(["cross_entropy"])(sample_list, {"scores": SCORES, "targets": INDEX})
    assert torch.allclose(values["train/d/cross_entropy"], F.cross_entropy(SCORES, INDEX))


def test_bad_entries_and_params_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="needs a 'type'"):
        MMFLoss({"params": {}})
    with pytest.raises(ConfigError, match="loss 'mse' rejected its params {'nope': 1}"):
        MMFLoss({"type": "mse", "params": {"nope": 1}})
    with pytest.raises(ConfigError, match="loss 'cross_entropy' rejected its params {'nope': 1}"):
        MMFLoss({"type": "cross_entropy", "params": {"nope": 1}})
    with pytest.raises(ConfigError, match="loss 'ms_loss' \\(MMF's\\) is not available here"):
        MMFLoss("ms_loss")


def test_a_plugin_loss_named_like_a_builtin_replaces_it_with_a_warning():
    table = registry.mapping["loss_name_mapping"]
    builtin = table["cross_entropy"]
    try:
        with pytest.warns(
            RegistryOverrideWarning, match="replaces the built-in mmf_ext.modules.losses.CrossEntropyLoss"
        ):

            @registry.register_loss("cross_entropy")
            class MyCrossEntropy(nn.Module):
                def forward(self, sample_list, model_output):
                    return torch.tensor(7.0)

        assert float(loss("cross_entropy", INDEX)) == 7.0
    finally:
        table["cross_entropy"] = builtin


# -- values -------------------------------------------------------------------------------------
def test_logit_bce_and_bce_scale_the_mean_by_the_number_of_classes_as_mmf():
    expected = F.binary_cross_entropy_with_logits(SCORES, ONE_HOT) * 3
    assert torch.allclose(loss("logit_bce", ONE_HOT), expected)
    assert torch.allclose(loss("bce", ONE_HOT, torch.sigmoid(SCORES)), expected, atol=1e-6)
    stacked = torch.stack([SCORES, SCORES * 2, SCORES * 3], dim=1)
    triple = sum(F.binary_cross_entropy_with_logits(SCORES * i, ONE_HOT) for i in (1, 2, 3)) * 3
    assert torch.allclose(loss("triple_logit_bce", ONE_HOT, stacked), triple)


def test_plain_binary_cross_entropy_with_logits_is_kept():
    value = loss("binary_cross_entropy_with_logits", torch.tensor([1, 0]), torch.tensor([[2.0], [-1.0]]))
    assert torch.allclose(
        value, F.binary_cross_entropy_with_logits(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))
    )


def test_cross_entropy_passes_its_params_and_takes_indices_or_probabilities():
    weight = [1.0, 2.0, 0.5]
    weighted = loss({"type": "cross_entropy", "params": {"weight": weight, "label_smoothing": 0.1}}, INDEX)
    assert torch.allclose(weighted, F.cross_entropy(SCORES, INDEX, weight=torch.tensor(weight), label_smoothing=0.1))
    assert "weight" not in Losses([{"type": "cross_entropy", "params": {"weight": weight}}]).state_dict()
    assert torch.allclose(loss("cross_entropy", INDEX[:, None]), F.cross_entropy(SCORES, INDEX))
    probabilities = torch.softmax(torch.randn(4, 3), dim=1)
    assert torch.allclose(loss("cross_entropy", probabilities), F.cross_entropy(SCORES, probabilities))


def test_nll_loss_takes_the_argmax_of_one_hot_targets_and_scales_by_classes():
    log_probabilities = F.log_softmax(SCORES, dim=1)
    assert torch.allclose(loss("nll_loss", ONE_HOT, log_probabilities), F.nll_loss(log_probabilities, INDEX) * 3)


def test_soft_label_cross_entropy_normalises_targets_and_skips_empty_and_ignored_rows():
    assert torch.allclose(loss("soft_label_cross_entropy", INDEX), F.cross_entropy(SCORES, INDEX))
    normalised = SOFT / (SOFT.sum(1, keepdim=True) + torch.finfo(torch.float32).eps)
    expected = (-normalised * F.log_softmax(SCORES, dim=1)).sum() / 3  # the all-zero row does not count
    assert torch.allclose(loss("soft_label_cross_entropy", SOFT), expected)
    ignored = torch.tensor([0, -100, 1, 2])
    keep = ignored != -100
    assert torch.allclose(loss("soft_label_cross_entropy", ignored), F.cross_entropy(SCORES[keep], ignored[keep]))


def test_label_smoothing_cross_entropy_spreads_the_smoothing_over_the_other_classes():
    assert torch.allclose(
        loss({"type": "label_smoothing_cross_entropy", "params": {"label_smoothing": 0.0}}, INDEX),
        F.cross_entropy(SCORES, INDEX),
    )
    smoothed = torch.full((4, 3), 0.1 / 2).scatter_(1, INDEX[:, None], 0.9)
    expected = (-smoothed * F.log_softmax(SCORES, dim=1)).sum() / 4
    assert torch.allclose(loss("label_smoothing_cross_entropy", INDEX), expected)


def test_kl_losses_against_normalised_soft_targets():
    row_sums = SOFT.sum(1, keepdim=True)
    normalised = SOFT / torch.where(row_sums == 0, torch.full_like(row_sums, 1e-6), row_sums)
    log_p = F.log_softmax(SCORES, dim=1)
    per_row = F.kl_div(log_p, normalised, reduction="none").sum(1, keepdim=True)
    assert torch.allclose(loss("softmax_kldiv", SOFT), per_row.sum() / 4)
    assert torch.allclose(loss("weighted_softmax", SOFT), (per_row * row_sums).sum() / 4)
    element_mean = F.kl_div(log_p, normalised, reduction="sum") / SOFT.numel()  # torch's reduction="mean"
    assert torch.allclose(loss("wrong", SOFT), element_mean * 3)
    bce = F.binary_cross_entropy_with_logits(SCORES, SOFT) * 3
    both = Losses([{"type": "bce_kl", "params": {"weight_softmax": 0.5}}])(batch(SOFT), {"scores": SCORES})
    assert torch.allclose(both["train/d/bce_kl/kl"], 0.5 * per_row.sum() / 4)
    assert torch.allclose(both["train/d/bce_kl/bce"], bce)
    combined = loss({"type": "bce_kl_combined", "params": {"weight_softmax": 0.5}}, SOFT)
    assert torch.allclose(combined, 0.5 * per_row.sum() / 4 + bce)


def test_multi_is_the_weighted_sum_of_its_sub_losses():
    entry = {
        "type": "multi",
        "params": [
            {"type": "logit_bce", "weight": 0.3, "params": {}},
            {"type": "softmax_kldiv", "weight": 0.7},
        ],
    }
    expected = 0.3 * loss("logit_bce", ONE_HOT) + 0.7 * loss("softmax_kldiv", ONE_HOT)
    assert torch.allclose(loss(entry, ONE_HOT), expected)


def test_mse_and_cosine_embedding_loss():
    targets = torch.randn(4, 3)
    assert torch.allclose(loss("mse", targets), F.mse_loss(SCORES, targets))
    cosine = (1 - F.cosine_similarity(SCORES, targets)).mean()
    assert torch.allclose(loss("cos_emb_loss", targets), cosine)


def test_in_batch_hinge_sums_margin_violations_of_the_other_items():
    images, texts = torch.eye(2), torch.tensor([[1.0, 0.0], [0.8, 0.5]])
    correlations = images @ texts.t()
    margin = 0.2
    expected = 0.0
    for i in range(2):
        for j in range(2):
            if i != j:
                expected += max(0.0, margin + correlations[i, j] - correlations[i, i])
                expected += max(0.0, margin + correlations[i, j] - correlations[j, j])
    value = loss({"type": "in_batch_hinge", "params": {"margin": margin}}, INDEX, images, targets=texts)
    assert math.isclose(float(value), float(expected), rel_tol=1e-6)
    hard = loss({"type": "in_batch_hinge", "params": {"margin": margin, "hard": True}}, INDEX, images, targets=texts)
    assert float(hard) <= float(value) + 1e-6


def test_contrastive_loss_in_one_process_is_the_symmetric_cross_entropy():
    first, second = torch.randn(3, 4), torch.randn(3, 4)
    temperature = torch.tensor(0.5)
    labels = torch.arange(3)
    expected = (
        F.cross_entropy(first @ second.t() / 0.5, labels) + F.cross_entropy(second @ first.t() / 0.5, labels)
    ) / 2
    value = loss("contrastive_loss", INDEX, embedding_1=first, embedding_2=second, temperature=temperature)
    assert torch.allclose(value, expected)
