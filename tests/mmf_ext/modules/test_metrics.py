"""Metrics: MMF's BaseMetric constructor, entries, result naming, and the built-ins' values."""

import math

import pytest
import torch

from mmf_ext.common.registry import RegistryOverrideWarning, registry
from mmf_ext.common.sample import SampleList
from mmf_ext.modules.metrics import BaseMetric, Metrics, named_results
from mmf_ext.utils.errors import ConfigError


def batch(targets, name="d", split="val", **fields):
    sample_list = SampleList({"targets": torch.as_tensor(targets), **fields})
    sample_list.dataset_name, sample_list.dataset_type = name, split
    return sample_list


def compute(entry, targets, scores, **output):
    return Metrics([entry]).compute(batch(targets), {"scores": torch.as_tensor(scores, dtype=torch.float), **output})


def one_hot_logits(labels, classes):
    return torch.nn.functional.one_hot(torch.tensor(labels), classes).float() * 5


def two_class_logits(probabilities):
    p = torch.tensor(probabilities, dtype=torch.double)
    return torch.stack([torch.log(1 - p), torch.log(p)], dim=1)


def pairwise_auc(targets, scores):
    pos = [s for s, t in zip(scores, targets) if t]
    neg = [s for s, t in zip(scores, targets) if not t]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


@registry.register_metric("test_named_mine")
class NamedMine(BaseMetric):
    def __init__(self):
        super().__init__("mine")

    def calculate(self, sample_list, model_output, *args, **kwargs):
        return torch.tensor(1.0)


@registry.register_metric("test_unnamed")
class Unnamed(BaseMetric):
    def __init__(self, value=2.0):
        super().__init__()
        self.value = value

    def calculate(self, sample_list, model_output, *args, **kwargs):
        return {"a": self.value, "b": torch.tensor(self.value * 2)}


@registry.register_metric("test_flat")
class Flat(BaseMetric):
    flat_result_keys = True
    required_params = ("scores", "query_positions")

    def calculate(self, sample_list, model_output, *args, **kwargs):
        return {"top1_accuracy": 0.5, "median_rank": 3.0}


# -- constructor and entries ------------------------------------------------------------------
def test_a_subclass_naming_itself_or_not_gets_its_name_or_the_registered_one():
    assert NamedMine().name == "mine"
    assert Unnamed().name == "test_unnamed"
    assert Unnamed().required_params == ["scores", "targets"]  # MMF's default, as a fresh list
    flat = Flat()
    flat.required_params.append("x")
    assert Flat.required_params == ("scores", "query_positions") and Flat().required_params[-1] == "query_positions"


def test_entries_pass_params_as_keyword_arguments_and_are_named_by_key():
    metrics = Metrics(["test_named_mine", {"type": "test_unnamed", "params": {"value": 3.0}, "key": "other"}])
    assert list(metrics.metrics) == ["test_named_mine", "other"]
    assert metrics.metrics["other"].value == 3.0 and metrics.metrics["test_named_mine"].name == "test_named_mine"
    assert metrics.required_params == {"dataset_name", "dataset_type", "scores", "targets"}


def test_result_naming_tensor_is_the_name_dict_is_name_slash_child_flat_keeps_children():
    values = Metrics(["test_named_mine", "test_unnamed", "test_flat"]).compute(batch([0]), {"scores": torch.ones(1)})
    assert set(values) == {
        "test_named_mine",
        "test_unnamed/a",
        "test_unnamed/b",
        "top1_accuracy",
        "median_rank",
    }
    assert values["test_unnamed/b"].dtype == torch.float64 and values["test_unnamed/b"].dim() == 0
    assert named_results(NamedMine(), {"": 1.0, "x": 2.0}) == {
        "mine": torch.tensor(1.0, dtype=torch.float64),
        "mine/x": torch.tensor(2.0, dtype=torch.float64),
    }


def test_calling_metrics_gives_mmf_prefixed_names_and_registers_them():
    values = Metrics([{"type": "test_named_mine", "key": "k"}])(batch([0], name="ds", split="test"), {})
    assert list(values) == ["test/ds/k"] and registry.get("metrics.ds.test") == values


def test_a_metric_limited_to_datasets_skips_the_others():
    metrics = Metrics([{"type": "test_named_mine", "datasets": ["other"]}, "test_unnamed"])
    assert set(metrics.compute(batch([0], name="d"), {})) == {"test_unnamed/a", "test_unnamed/b"}
    assert "test_named_mine" in metrics.compute(batch([0], name="other"), {})


def test_a_key_listed_twice_and_rejected_params_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="'test_unnamed' is listed more than once"):
        Metrics(["test_unnamed", "test_unnamed"])
    with pytest.raises(ConfigError, match="metric 'test_unnamed' rejected its params {'nope': 1}"):
        Metrics([{"type": "test_unnamed", "params": {"nope": 1}}])
    with pytest.raises(ConfigError, match="must be a name or"):
        Metrics([{"params": {}}])


def test_a_plugin_metric_named_like_a_builtin_replaces_it_with_a_warning():
    table = registry.mapping["metric_name_mapping"]
    builtin = table["accuracy"]
    try:
        with pytest.warns(RegistryOverrideWarning, match="replaces the built-in mmf_ext.modules.metrics.Accuracy"):

            @registry.register_metric("accuracy")
            class MyAccuracy(BaseMetric):
                def calculate(self, sample_list, model_output, *args, **kwargs):
                    return torch.tensor(0.25)

        assert Metrics(["accuracy"]).compute(batch([0]), {"scores": torch.ones(1, 2)}) == {
            "accuracy": torch.tensor(0.25, dtype=torch.float64)
        }
    finally:
        table["accuracy"] = builtin


@pytest.mark.parametrize(
    "name",
    [
        "vqa_evalai_accuracy",
        "caption_bleu4",
        "textvqa_accuracy",
        "stvqa_anls",
        "stvqa_accuracy",
        "textcaps_bleu4",
        "detection_mean_ap",
    ],
)
def test_mmf_metrics_needing_text_or_reports_are_refused_in_one_line(name):
    with pytest.raises(ConfigError) as error:
        Metrics([name])
    assert f"metric {name!r} (MMF's) is not available here" in str(error.value) and "\n" not in str(error.value)


def test_the_optional_write_report_hook_is_still_reached_through_the_collection(tmp_path):
    class Reporting(BaseMetric):
        def calculate(self, sample_list, model_output, *args, **kwargs):
            return torch.tensor(1.0)

        def write_report(self, split, dataset_name, reports_dir):
            return f"{split}/{dataset_name} -> {reports_dir}"

    registry.register_metric("test_reporting")(Reporting)
    assert [m.write_report("val", "d", tmp_path) for m in Metrics(["test_reporting"])] == [f"val/d -> {tmp_path}"]


# -- accuracy ----------------------------------------------------------------------------------
def test_accuracy_with_index_one_hot_and_soft_targets():
    scores = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
    assert float(compute("accuracy", [1, 0, 1, 1], scores)["accuracy"]) == 0.5
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 0, 1, 1]), 3)
    assert float(compute("accuracy", one_hot, scores)["accuracy"]) == 0.5
    soft = [[0.0, 0.7, 0.3], [0.9, 0.1, 0.0], [0.1, 0.6, 0.3], [0.2, 0.5, 0.3]]
    assert float(compute("accuracy", soft, scores)["accuracy"]) == 0.5


def test_accuracy_topk_and_topk_accuracy_count_a_target_anywhere_in_the_top_k():
    scores = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
    assert float(compute({"type": "accuracy", "params": {"topk": 2}}, [1, 0, 1, 1], scores)["accuracy"]) == 1.0
    scores[1] = [0.8, 0.05, 0.15]
    values = compute({"type": "topk_accuracy", "params": {"k": 2}}, [2, 2, 0, 2], scores)
    assert float(values["topk_accuracy"]) == 0.25  # only the second row has its target in its top 2


def test_accuracy_of_one_logit_per_sample_thresholds_at_zero():
    targets = [1, 0, 1, 0]
    assert float(compute("accuracy", targets, [2.0, -1.0, -0.5, 0.3])["accuracy"]) == 0.5
    assert (
        float(compute("accuracy", torch.tensor(targets).float()[:, None], [[2.0], [-1.0], [0.1], [-3.0]])["accuracy"])
        == 1.0
    )


def test_accuracy_reads_other_keys():
    sample_list = batch([0], labels=torch.tensor([1, 1]))
    metrics = Metrics([{"type": "accuracy", "params": {"score_key": "logits", "target_key": "labels"}}])
    assert float(metrics.compute(sample_list, {"logits": torch.tensor([[0.0, 1.0], [1.0, 0.0]])})["accuracy"]) == 0.5


def test_vqa_accuracy_scores_the_best_answer_other_than_unknown_by_its_soft_target():
    values = compute("vqa_accuracy", [[0.0, 0.6, 1.0], [0.0, 0.3, 0.9]], [[5.0, 1.0, 0.0], [9.0, 0.0, 2.0]])
    assert math.isclose(float(values["vqa_accuracy"]), 0.75)


def test_mean_squared_error():
    assert float(compute("mean_squared_error", [1.0, 2.0], [[1.5], [2.0]])["mean_squared_error"]) == 0.125


# -- F1 family ---------------------------------------------------------------------------------
TRUTH, PREDICTED = [0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1]  # scikit-learn's f1_score example


@pytest.mark.parametrize(
    "name, expected",
    [
        ("macro_f1", 0.26666),
        ("micro_f1", 0.33333),
        ({"type": "f1", "params": {"average": "weighted"}}, 0.26666),
    ],
)
def test_multiclass_f1_averages_match_scikit_learn(name, expected):
    (value,) = compute(name, TRUTH, one_hot_logits(PREDICTED, 3)).values()
    assert math.isclose(float(value), expected, abs_tol=1e-4)


def test_binary_f1_and_f1_default_to_the_positive_class():
    truth, predicted = [0, 1, 1, 0, 1], [0, 1, 0, 0, 1]  # precision 1, recall 2/3
    for name in ("f1", "binary_f1"):
        assert math.isclose(float(compute(name, truth, one_hot_logits(predicted, 2))[name]), 0.8)
    assert math.isclose(float(compute("f1", truth, [-1.0, 2.0, -2.0, -0.1, 0.5])["f1"]), 0.8)  # one logit each
    with pytest.raises(ValueError, match="multiclass"):
        compute("f1", TRUTH, one_hot_logits(PREDICTED, 3))


def test_f1_precision_recall_reports_three_children():
    values = compute("macro_f1_precision_recall", TRUTH, one_hot_logits(PREDICTED, 3))
    assert set(values) == {
        "macro_f1_precision_recall/precision",
        "macro_f1_precision_recall/recall",
        "macro_f1_precision_recall/f1",
    }
    assert math.isclose(float(values["macro_f1_precision_recall/precision"]), 2 / 9)
    assert math.isclose(float(values["macro_f1_precision_recall/recall"]), 1 / 3)


def test_multilabel_f1_rounds_sigmoids_and_needs_an_average():
    targets = [[0, 1, 1], [1, 0, 1]]
    scores = [[-3.0, 2.0, -1.0], [4.0, 0.5, 1.0]]  # predicted [[0, 1, 0], [1, 1, 1]]
    micro = compute("multilabel_micro_f1", targets, scores)["multilabel_micro_f1"]
    assert math.isclose(float(micro), 0.75)  # tp 3, fp 1, fn 1
    with pytest.raises(ConfigError, match="multilabel targets need params.average"):
        Metrics(["multilabel_f1"])
    with pytest.raises(ConfigError, match="unsupported params \\['zero_division'\\]"):
        Metrics([{"type": "f1", "params": {"zero_division": 1}}])


# -- ROC AUC and average precision ------------------------------------------------------------------
PROBABILITIES, BINARY = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]


def test_binary_roc_auc_and_average_precision_of_two_class_scores():
    scores = two_class_logits(PROBABILITIES)
    assert math.isclose(float(compute("roc_auc", BINARY, scores)["roc_auc"]), 0.75)
    assert math.isclose(float(compute("binary_ap", BINARY, scores)["binary_ap"]), (1 + 2 / 3) / 2)
    assert math.isclose(float(compute("ap", BINARY, scores)["ap"]), (5 / 6 + pairwise_ap_column0()) / 2)


def pairwise_ap_column0():
    # column 0 (class 0): scores 0.9, 0.6, 0.65, 0.2 for targets 1, 1, 0, 0 -> hits at ranks 1 and 3
    return (1 + 2 / 3) / 2


def test_multiclass_macro_and_micro_roc_auc_match_a_pairwise_count():
    logits = torch.tensor([[2.0, 0.1, 0.3], [0.2, 1.5, 0.1], [0.1, 0.4, 0.9], [1.0, 1.2, 0.0], [0.3, 0.2, 0.8]])
    targets = [0, 1, 2, 1, 0]
    probabilities = torch.softmax(logits.double(), dim=1)
    one_hot = torch.nn.functional.one_hot(torch.tensor(targets), 3)
    columns = [pairwise_auc(one_hot[:, c].tolist(), probabilities[:, c].tolist()) for c in range(3)]
    assert math.isclose(float(compute("macro_roc_auc", targets, logits)["macro_roc_auc"]), sum(columns) / 3)
    micro = pairwise_auc(one_hot.reshape(-1).tolist(), probabilities.reshape(-1).tolist())
    assert math.isclose(float(compute("micro_roc_auc", targets, logits)["micro_roc_auc"]), micro)


def test_roc_auc_leaves_out_a_column_with_one_class_with_a_warning():
    logits = torch.tensor([[2.0, 0.1, 0.3], [0.2, 1.5, 0.1], [1.0, 0.4, 0.9]])
    with pytest.warns(UserWarning, match="1 of 3 column"):
        value = compute("roc_auc", [0, 1, 0], logits)["roc_auc"]
    assert 0.0 <= float(value) <= 1.0


def test_micro_and_macro_ap_of_multiclass_scores():
    logits = torch.tensor([[2.0, 0.1], [0.2, 1.5], [1.0, 1.2]])
    values = Metrics(["micro_ap", "macro_ap"]).compute(batch([0, 1, 0]), {"scores": logits})
    assert 0.0 < float(values["micro_ap"]) <= 1.0 and 0.0 < float(values["macro_ap"]) <= 1.0


@pytest.mark.parametrize("threshold, expected", [(0.6, 1.0), (0.9, 0.5), (90, 0.5)])
def test_recall_at_precision_k(threshold, expected):
    entry = {"type": "r@pk", "params": {"p_threshold": threshold}}
    assert math.isclose(float(compute(entry, BINARY, two_class_logits(PROBABILITIES))["r@pk"]), expected)


# -- recall at k ---------------------------------------------------------------------------------
CANDIDATES = [[0.1, 0.5, 0.4], [0.9, 0.1, 0.2], [0.3, 0.2, 0.1]]  # targets 2, 2, 0 rank 2, 2, 1


@pytest.mark.parametrize("targets", [[2, 2, 0], torch.nn.functional.one_hot(torch.tensor([2, 2, 0]), 3)])
def test_recall_at_k_and_mean_ranks_of_candidate_scores(targets):
    values = Metrics(["r@1", "r@5", "r@10", "mean_r", "mean_rr"]).compute(
        batch(targets), {"scores": torch.tensor(CANDIDATES)}
    )
    assert math.isclose(float(values["r@1"]), 1 / 3) and float(values["r@5"]) == 1.0 == float(values["r@10"])
    assert math.isclose(float(values["mean_r"]), 5 / 3) and math.isclose(float(values["mean_rr"]), 2 / 3)


def test_in_batch_retrieval_recall_and_its_reverse():
    queries = torch.eye(2)
    candidates = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.2, 0.0], [0.0, 1.0]])  # two per query
    names = [
        "r@1_retrieval",
        "r@5_retrieval",
        "r@1_rev_retrieval",
        {"type": "r@k_retrieval", "params": {"k": 2}},
    ]
    values = Metrics(names).compute(batch([0]), {"scores": queries, "targets": candidates})
    assert values == {
        key: torch.tensor(v, dtype=torch.float64)
        for key, v in {
            "r@1_retrieval": 0.5,
            "r@5_retrieval": 1.0,
            "r@1_rev_retrieval": 0.5,
            "r@k_retrieval": 1.0,
        }.items()
    }


@registry.register_metric("test_flat_declared")
class FlatDeclared(BaseMetric):
    flat_result_keys = True

    def calculate(self, sample_list, model_output, *args, **kwargs):
        return {"median_rank": 3.0, "strict/median_rank": 1.0, "group/a/median_rank": 2.0}

    def reported_names(self):
        return ["median_rank", "strict/median_rank"]


def test_headlines_are_unnested_names_and_the_nested_ones_a_metric_declares():
    metrics = Metrics(["test_flat_declared", "test_unnamed"])
    assert metrics.is_headline("test/d/median_rank") and metrics.is_headline("test/d/strict/median_rank")
    assert not metrics.is_headline("test/d/group/a/median_rank")  # a breakdown: train.log only
    assert not metrics.is_headline("test/d/test_unnamed/a")  # nested, declared by no metric
    assert not metrics.is_headline("total_loss")
