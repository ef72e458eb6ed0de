"""The one evaluator: reset / process / evaluate, gathered over ranks, aggregated once, metrics return reports."""

import torch

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.modules.metrics import BaseMetric, Metrics
from mmf_ext.trainers import evaluator as evaluator_module
from mmf_ext.trainers.evaluator import DatasetEvaluator


class CountingMetric(BaseMetric):
    """Accuracy of `scores` against `targets`, with a report; counts its calls."""

    calls = 0

    def __init__(self) -> None:
        super().__init__("counted")

    def calculate_with_report(self, sample_list, model_output):
        type(self).calls += 1
        hits = (model_output["scores"].argmax(-1) == sample_list["targets"]).double()
        return hits.mean(), {"items": len(hits)}

    def calculate(self, sample_list, model_output):
        return self.calculate_with_report(sample_list, model_output)[0]


def batch(indices, targets):
    return SampleList([Sample(sample_index=i, targets=torch.tensor(t)) for i, t in zip(indices, targets)])


def test_shards_are_gathered_ordered_deduplicated_and_aggregated_once(monkeypatch):
    scores = torch.eye(3)[[0, 1, 2, 0, 1]]  # sample i's prediction
    targets = [0, 1, 2, 1, 1]  # sample 3 is wrong: 4 of 5 right
    shards = [[0, 2, 4], [1, 3, 0]]  # uneven, sample 0 seen by both ranks
    records = []
    for shard in shards:
        rank = DatasetEvaluator("val", "toy", ("targets",), Metrics([]), lambda s, o: o)
        rank.reset()
        rank.process(batch(shard, [targets[i] for i in shard]), {"scores": scores[shard], "losses": {"x": 1}})
        records.append(rank.records)
    monkeypatch.setattr(evaluator_module, "all_gather_objects", lambda mine: records)

    seen = []

    def aggregate(sample_list, output):
        seen.append(sample_list.sample_index.tolist())
        return output

    CountingMetric.calls = 0
    metrics = Metrics([])
    metrics.metrics["counted"] = CountingMetric()
    result = DatasetEvaluator("val", "toy", ("targets",), metrics, aggregate).evaluate()
    assert seen == [[0, 1, 2, 3, 4]]  # once, in dataset order, each sample once
    assert "losses" not in result.output  # losses are logged per batch, never gathered
    assert result.values == {"val/toy/counted": torch.tensor(0.8, dtype=torch.float64)}
    assert CountingMetric.calls == 1 and result.reports[0][1] == {"items": 5}


def test_a_metric_limited_to_other_datasets_is_skipped_and_predict_measures_nothing():
    metric = CountingMetric()
    metric.set_applicable_datasets(["other"])
    metrics = Metrics([])
    metrics.metrics["counted"] = metric
    evaluator = DatasetEvaluator("test", "toy", ("targets",), metrics, lambda s, o: o)
    evaluator.process(batch([0, 1], [0, 1]), {"scores": torch.eye(2)})
    assert evaluator.evaluate().values == {}
    evaluator.process(batch([0, 1], [0, 1]), {"scores": torch.eye(2)})
    assert evaluator.evaluate(measure=False).reports == []
