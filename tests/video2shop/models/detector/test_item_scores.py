"""Item scores: a proposal's score is 1 - P(background), whatever category it most resembles."""

import pytest
import torch

from mmf_ext.utils.errors import ConfigError
from video2shop.models.detector.factory import build_faster_rcnn

PROPOSALS = [torch.tensor([[10.0, 10.0, 50.0, 50.0], [11.0, 10.0, 51.0, 50.0], [60.0, 60.0, 90.0, 90.0]])]
# background, category 1, category 2: the first two proposals are clearly clothing but split between
# two similar categories; the third is background
PROBABILITIES = torch.tensor([[0.10, 0.46, 0.44], [0.20, 0.32, 0.48], [0.90, 0.05, 0.05]])


def heads(score):
    model = build_faster_rcnn(
        "fasterrcnn_resnet18_fpn", 3, representation_size=16, score=score, box_score_thresh=0.5, box_nms_thresh=0.5
    )
    return model.roi_heads


def postprocess(score):
    logits = PROBABILITIES.log()
    regression = torch.zeros(3, 3 * 4)  # every category keeps the proposal's box
    return heads(score).postprocess_detections(logits, regression, PROPOSALS, [(100, 100)])


def test_item_scores_keep_one_confident_box_per_item_with_its_likeliest_category():
    boxes, scores, labels = (values[0] for values in postprocess("item"))
    assert len(boxes) == 1  # the two overlapping proposals are one item; the background one is gone
    assert scores.tolist() == pytest.approx([0.90])  # 1 - 0.10, not 0.46
    assert labels.tolist() == [1]
    assert torch.allclose(boxes[0], PROPOSALS[0][0], atol=1e-3)


def test_category_scores_are_torchvisions_and_miss_the_split_item():
    boxes, scores, labels = (values[0] for values in postprocess("category"))
    assert scores.tolist() == []  # no single category reaches 0.5: the item is lost at this threshold


def test_an_unknown_score_mode_names_the_key():
    with pytest.raises(ConfigError, match="clothing_detector.score='max'"):
        build_faster_rcnn("fasterrcnn_resnet18_fpn", 3, representation_size=16, score="max")
