"""Top-k retrieval accuracy: whole gallery, within category, multi-answer queries, ties, splits, reports."""

import json
import math

import torch

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.modules.retrieval_metrics import TopKRetrievalAccuracy, best_correct_ranks


def split_list(queries, gallery):
    samples = [Sample(is_query=True, query_id=q, target_ids=t, category=c, category_name=f"c{c}", source=s)
               for q, t, c, s in queries]
    samples += [Sample(is_query=False, gallery_id=g, category=c, category_name=f"c{c}") for g, c in gallery]
    return SampleList(samples)


GALLERY = [("a", 0), ("b", 0), ("c", 1), ("d", 1)]
QUERIES = [("q0", ["a"], 0, 1), ("q1", ["c", "d"], 1, 2), ("q2", ["b"], 0, 1)]
SCORES = torch.tensor([
    [0.9, 0.1, 0.5, 0.2],   # q0: a is first
    [0.1, 0.9, 0.3, 0.8],   # q1: d is second overall; multi-answer (c or d)
    [0.2, 0.3, 0.9, 0.8],   # q2: b is third overall, first within category 0
])


def output():
    return {"scores": SCORES, "query_positions": torch.tensor([0, 1, 2]), "gallery_positions": torch.tensor([3, 4, 5, 6])}


def test_whole_gallery_topk_and_median_rank_with_multi_answer_queries():
    metric = TopKRetrievalAccuracy(k=[1, 2, 3])
    values = metric.calculate(split_list(QUERIES, GALLERY), output())
    assert math.isclose(values["top1_accuracy"].item(), 1 / 3)
    assert math.isclose(values["top2_accuracy"].item(), 2 / 3)
    assert math.isclose(values["top3_accuracy"].item(), 1.0)
    assert values["median_rank"].item() == 2.0


def test_within_category_ranks_only_same_category_items():
    values = TopKRetrievalAccuracy(k=[1], within_category=True).calculate(split_list(QUERIES, GALLERY), output())
    assert values["top1_accuracy"].item() == 1.0  # q1: d beats a, b no longer; q2: b beats a


def test_split_by_source_and_overall_is_query_weighted():
    values = TopKRetrievalAccuracy(k=[1]).calculate(split_list(QUERIES, GALLERY), output())
    assert math.isclose(values["regular/top1_accuracy"].item(), 0.5)  # q0 hit, q2 miss
    assert values["hard/top1_accuracy"].item() == 0.0
    assert math.isclose(values["top1_accuracy"].item(), (2 * 0.5 + 1 * 0.0) / 3)


def test_ties_count_against_the_query_and_missing_answers_never_hit():
    ranks = best_correct_ranks(torch.zeros(2, 4), torch.tensor([[True, False, False, False], [False] * 4]),
                               torch.ones(2, 4, dtype=torch.bool))
    assert ranks[0].item() == 4 and math.isinf(ranks[1].item())


def test_report_files_and_per_category_rows(tmp_path):
    metric = TopKRetrievalAccuracy(k=[1, 2])
    metric.calculate(split_list(QUERIES, GALLERY), output())
    text = metric.write_report("test", "toy", tmp_path)
    report = json.loads((tmp_path / "test_retrieval.json").read_text())
    assert report["categories"]["c0"]["queries"] == 2 and report["categories"]["c1"]["images"] == 2
    table = (tmp_path / "test_retrieval.md").read_text()
    assert "| c0 | 2 | 2 | 2 | 50.00 | 50.00 | 2.0 |" in table and "| c1 | 2 | 1 | 1 |" in table
    assert (tmp_path / "test_retrieval.png").read_bytes()[:4] == b"\x89PNG"
    assert "Overall" in text
