"""Top-k retrieval accuracy: whole gallery and within category side by side, multi-answer queries, ties, splits,
reports."""

import json
import math

import pytest
import torch

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.errors import ConfigError
from video2shop.modules.retrieval_metrics import TopKRetrievalAccuracy, best_correct_ranks


def split_list(queries, gallery):
    samples = [
        Sample(is_query=True, query_id=q, target_ids=t, category=c, category_name=f"c{c}", source=s)
        for q, t, c, s in queries
    ]
    samples += [Sample(is_query=False, gallery_id=g, category=c, category_name=f"c{c}") for g, c in gallery]
    return SampleList(samples)


GALLERY = [("a", 0), ("b", 0), ("c", 1), ("d", 1)]
QUERIES = [("q0", ["a"], 0, 1), ("q1", ["c", "d"], 1, 2), ("q2", ["b"], 0, 1)]
SCORES = torch.tensor(
    [
        [0.9, 0.1, 0.5, 0.2],  # q0: a is first
        [0.1, 0.9, 0.3, 0.8],  # q1: d is second overall; multi-answer (c or d)
        [0.2, 0.3, 0.9, 0.8],  # q2: b is third overall, first within category 0
    ]
)


def output():
    return {
        "scores": SCORES,
        "query_positions": torch.tensor([0, 1, 2]),
        "gallery_positions": torch.tensor([3, 4, 5, 6]),
    }


def test_whole_gallery_topk_and_median_rank_with_multi_answer_queries():
    metric = TopKRetrievalAccuracy(k=[1, 2, 3])
    values = metric.calculate(split_list(QUERIES, GALLERY), output())
    assert math.isclose(values["top1_accuracy"].item(), 1 / 3)
    assert math.isclose(values["top2_accuracy"].item(), 2 / 3)
    assert math.isclose(values["top3_accuracy"].item(), 1.0)
    assert values["median_rank"].item() == 2.0


def test_both_protocols_are_reported_and_within_category_ranks_only_same_category_items():
    values = TopKRetrievalAccuracy(k=[1]).calculate(split_list(QUERIES, GALLERY), output())
    assert math.isclose(values["top1_accuracy"].item(), 1 / 3)  # whole gallery: only q0 is first
    assert values["within_category/top1_accuracy"].item() == 1.0  # q1: d beats a, b no longer; q2: b beats a
    assert values["median_rank"].item() == 2.0 and values["within_category/median_rank"].item() == 1.0
    assert values["within_category/regular/top1_accuracy"].item() == 1.0
    assert values["within_category/category/c0/top1_accuracy"].item() == 1.0
    assert values["category/c0/top1_accuracy"].item() == 0.5


def test_within_category_is_the_whole_gallery_for_unknown_categories():
    queries = [("q0", ["a"], -1, 1), ("q1", ["c", "d"], 1, 2), ("q2", ["b"], 0, 1)]
    values = TopKRetrievalAccuracy(k=[1]).calculate(split_list(queries, GALLERY), output())
    assert values["within_category/top1_accuracy"].item() == 1.0  # q0 (unknown) ranks a first among all four
    no_categories = SampleList(
        [Sample(is_query=True, query_id=q, target_ids=t) for q, t, _, _ in QUERIES]
        + [Sample(is_query=False, gallery_id=g) for g, _ in GALLERY]
    )
    metric = TopKRetrievalAccuracy(k=[1])
    values, report = metric.calculate_with_report(no_categories, output())
    assert values["within_category/top1_accuracy"] == values["top1_accuracy"]
    assert report["categories_known"] is False


def test_the_old_within_category_switch_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="within_category/median_rank") as error:
        TopKRetrievalAccuracy(k=[1], within_category=True)
    assert "\n" not in str(error.value)


def test_reported_names_cover_both_protocols():
    names = TopKRetrievalAccuracy(k=[1, 5]).reported_names()
    assert names == [
        "top1_accuracy",
        "top5_accuracy",
        "median_rank",
        "within_category/top1_accuracy",
        "within_category/top5_accuracy",
        "within_category/median_rank",
    ]


def test_split_by_source_and_overall_is_query_weighted():
    values = TopKRetrievalAccuracy(k=[1]).calculate(split_list(QUERIES, GALLERY), output())
    assert math.isclose(values["regular/top1_accuracy"].item(), 0.5)  # q0 hit, q2 miss
    assert values["hard/top1_accuracy"].item() == 0.0
    assert math.isclose(values["top1_accuracy"].item(), (2 * 0.5 + 1 * 0.0) / 3)


def test_ties_count_against_the_query_and_missing_answers_never_hit():
    ranks = best_correct_ranks(
        torch.zeros(2, 4), torch.tensor([[True, False, False, False], [False] * 4]), torch.ones(2, 4, dtype=torch.bool)
    )
    assert ranks[0].item() == 4 and math.isinf(ranks[1].item())


def test_report_files_and_per_category_rows(tmp_path):
    metric = TopKRetrievalAccuracy(k=[1, 2])
    _, report = metric.calculate_with_report(split_list(QUERIES, GALLERY), output())
    text = metric.write_report(report, "test", "toy", tmp_path)
    report = json.loads((tmp_path / "test_retrieval.json").read_text())
    assert report["categories"]["c0"]["queries"] == 2 and report["categories"]["c1"]["images"] == 2
    table = (tmp_path / "test_retrieval.md").read_text()
    # whole gallery (q0 first, q2 third: 50 / 50, median 2), then within category (both first)
    assert "| c0 | 2 | 2 | 2 | 50.00 | 50.00 | 2.0 | 100.00 | 100.00 | 1.0 |" in table and "| c1 | 2 | 1 | 1 |" in table
    assert "in-category top-1" in table and "in-category median rank" in table
    assert report["within_category"]["overall"]["top1_accuracy"] == 1.0
    assert report["within_category"]["categories"]["c0"]["median_rank"] == 1.0
    assert (tmp_path / "test_retrieval.png").read_bytes()[:4] == b"\x89PNG"
    assert "Overall" in text and "within category" in text


def test_metric_is_exact_under_uneven_rank_shards(monkeypatch):
    """Shards of unequal size (one sample also seen twice) gathered and re-assembled give the single-process value."""
    from mmf_ext.modules.metrics import Metrics
    from mmf_ext.trainers import evaluator
    from mmf_ext.trainers.evaluator import DatasetEvaluator

    torch.manual_seed(0)
    n_gallery, n_query = 13, 9
    gallery = [
        Sample(
            is_query=False,
            gallery_id=f"g{i}",
            category=i % 3,
            category_name=f"c{i % 3}",
            source=None,
            query_id=None,
            target_ids=None,
            sample_index=i,
        )
        for i in range(n_gallery)
    ]
    queries = [
        Sample(
            is_query=True,
            query_id=f"q{i}",
            target_ids=[f"g{i}", f"g{(i + 3) % n_gallery}"],
            category=i % 3,
            category_name=f"c{i % 3}",
            source=1 + i % 2,
            gallery_id=None,
            sample_index=n_gallery + i,
        )
        for i in range(n_query)
    ]
    samples = gallery + queries
    embeddings = torch.randn(len(samples), 4)
    fields = ("is_query", "query_id", "target_ids", "gallery_id", "category", "category_name", "source")

    def run(shards):
        ranks = []
        for shard in shards:
            collector = DatasetEvaluator("test", "toy", fields, Metrics([]), lambda s, o: o)
            for start in range(0, len(shard), 3):
                batch = [samples[i] for i in shard[start : start + 3]]
                collector.process(SampleList(batch), {"embedding": embeddings[[s.sample_index for s in batch]]})
            ranks.append(collector.records)
        monkeypatch.setattr(evaluator, "all_gather_objects", lambda records: ranks)
        sample_list, outputs = collector.gather()
        is_query = torch.tensor([bool(v) for v in sample_list.is_query])
        q, g = torch.nonzero(is_query).flatten(), torch.nonzero(~is_query).flatten()
        emb = outputs["embedding"]
        model_output = {"scores": emb[q] @ emb[g].t(), "query_positions": q, "gallery_positions": g}
        metric = TopKRetrievalAccuracy(k=[1, 2, 5])
        return {k: float(v) for k, v in metric.calculate(sample_list, model_output).items()}

    everything = list(range(len(samples)))
    single = run([everything])
    order = torch.randperm(len(samples)).tolist()
    shards = [order[:3], order[3:15] + [order[0]], order[15:]]  # uneven, one duplicate
    assert run(shards) == single
    assert "regular/top1_accuracy" in single and "hard/median_rank" in single
    assert "within_category/top5_accuracy" in single and "within_category/hard/median_rank" in single


def test_per_category_keys_are_returned():
    metric = TopKRetrievalAccuracy(k=[1, 5])
    result = metric.calculate(split_list(QUERIES, GALLERY), output())
    assert {"category/c0/top1_accuracy", "category/c1/top1_accuracy", "category/c0/median_rank"} <= set(result)
    overall = float(result["top1_accuracy"])
    weighted = (2 * float(result["category/c0/top1_accuracy"]) + float(result["category/c1/top1_accuracy"])) / 3
    assert math.isclose(overall, weighted)
