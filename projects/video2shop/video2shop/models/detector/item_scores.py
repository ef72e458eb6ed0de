"""Item scoring for Faster R-CNN: one detection per proposal, scored by P(not background).

torchvision scores each (proposal, class) pair by that class's softmax probability. With many
similar categories (a shirt, a blouse, a top) a confident "this is clothing" spreads over them, so
every per-class score stays low (0.2 to 0.4 on our synthetic data) and a tracker threshold
rejects items the detector has clearly found. Here a proposal's score is 1 - P(background), its
label the most probable category and its box that category's regression: what tracking and search
need (is there an item, where, of what kind). NMS runs over all categories, since one item should
give one box.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops

SCORE_MODES = ("item", "category")


def item_detections(
    heads: RoIHeads,
    class_logits: torch.Tensor,
    box_regression: torch.Tensor,
    proposals: list[torch.Tensor],
    image_shapes: list[tuple[int, int]],
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Boxes, item scores and category labels (1..N) per image, after thresholding and NMS."""
    probabilities = F.softmax(class_logits, -1)
    decoded = heads.box_coder.decode(box_regression, proposals)  # [R, classes, 4]
    counts = [len(p) for p in proposals]
    all_boxes, all_scores, all_labels = [], [], []
    for probs, boxes, shape in zip(probabilities.split(counts), decoded.split(counts), image_shapes):
        labels = probs[:, 1:].argmax(1) + 1
        scores = 1.0 - probs[:, 0]
        boxes = box_ops.clip_boxes_to_image(boxes[torch.arange(len(labels), device=labels.device), labels], shape)
        keep = torch.where(scores > heads.score_thresh)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.nms(boxes, scores, heads.nms_thresh)[: heads.detections_per_img]
        all_boxes.append(boxes[keep])
        all_scores.append(scores[keep])
        all_labels.append(labels[keep])
    return all_boxes, all_scores, all_labels


def use_item_scores(heads: RoIHeads) -> None:
    """Make `heads` report item scores at inference (training losses are unchanged)."""
    heads.postprocess_detections = types.MethodType(item_detections, heads)
