"""detection_map: COCO mAP of gathered per-image predictions, overall and per image kind."""

import torch

from mmf_ext.common.sample import SampleList
from video2shop.modules.detection_metrics import DetectionMAP

TRUTH = [torch.tensor([[10.0, 10.0, 50.0, 60.0]]), torch.tensor([[5.0, 5.0, 30.0, 30.0], [40.0, 40.0, 70.0, 90.0]])]
LABELS = [torch.tensor([1]), torch.tensor([2, 3])]


def samples(kinds=("video", "shop")):
    return SampleList({"boxes": list(TRUTH), "labels": list(LABELS), "kind": list(kinds)})


def output(boxes, labels, scores=None):
    scores = scores if scores is not None else [torch.full((len(b),), 0.9) for b in boxes]
    return {
        "pred_boxes": boxes,
        "pred_scores": scores,
        "pred_labels": labels,
        "category_names": ["Top", "Dress", "Bag"],
    }


def test_perfect_predictions_score_one_and_report_each_kind(tmp_path):
    metric = DetectionMAP()
    values, report = metric.calculate_with_report(samples(), output(list(TRUTH), list(LABELS)))
    assert float(values["map"]) == 1.0 and float(values["map_50"]) == 1.0
    assert float(values["video/map"]) == 1.0 and float(values["shop/map"]) == 1.0
    text = metric.write_report(report, "test", "toy", tmp_path)
    assert "| Dress | 100.0 |" in text and (tmp_path / "test_detection.json").is_file()


def test_wrong_labels_and_shifted_boxes_lower_the_map():
    wrong = DetectionMAP()(samples(), output(list(TRUTH), [torch.tensor([2]), torch.tensor([3, 2])]))
    assert float(wrong["map"]) == 0.0 and float(wrong["agnostic/map"]) == 1.0  # right boxes, wrong categories
    shifted = [b + torch.tensor([8.0, 0.0, 8.0, 0.0]) for b in TRUTH]  # IoU about 0.6-0.7: counts at 0.5, not at 0.75
    values = DetectionMAP()(samples(), output(shifted, list(LABELS)))
    assert float(values["map_50"]) == 1.0 and float(values["map_75"]) == 0.0 and 0.0 < float(values["map"]) < 0.7


def test_stacked_outputs_from_gathering_are_read_per_image():
    same = SampleList(
        {"boxes": torch.stack([TRUTH[0], TRUTH[0] + 1]), "labels": torch.tensor([[1], [1]]), "kind": ["shop", "shop"]}
    )
    values = DetectionMAP()(
        same, output(torch.stack([TRUTH[0], TRUTH[0] + 1]), torch.tensor([[1], [1]]), torch.tensor([[0.8], [0.7]]))
    )
    assert float(values["map"]) == 1.0 and "shop/map" not in values  # one kind only: no split
    assert float(values["agnostic/map"]) == 1.0
