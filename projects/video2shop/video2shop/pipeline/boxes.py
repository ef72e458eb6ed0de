"""Box helpers for the pipeline: IoU through torchvision, greedy one-to-one matching, clipping.

Boxes are `(x1, y1, x2, y2)` floats in pixels everywhere in the pipeline; OpenCV's trackers speak
`(x, y, w, h)`, so the conversions live here too. Matching is greedy by IoU (scipy's Hungarian
solver is not a dependency, and with few objects per frame greedy gives the same pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import box_iou

Box = tuple[float, float, float, float]


def iou_matrix(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]]) -> torch.Tensor:
    """IoU of every box in `first` against every box in `second`: [len(first), len(second)]."""
    if len(first) == 0 or len(second) == 0:
        return torch.zeros(len(first), len(second))
    a = torch.as_tensor([list(b) for b in first], dtype=torch.float64)
    b = torch.as_tensor([list(b) for b in second], dtype=torch.float64)
    return box_iou(a, b)


def greedy_match(iou: torch.Tensor, threshold: float) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs, highest IoU first, each at least `threshold`."""
    pairs: list[tuple[int, int]] = []
    if iou.numel() == 0:
        return pairs
    order = torch.argsort(iou.flatten(), descending=True).tolist()
    columns = iou.shape[1]
    used_rows: set[int] = set()
    used_columns: set[int] = set()
    for flat in order:
        row, column = divmod(flat, columns)
        if float(iou[row, column]) < threshold:
            break
        if row in used_rows or column in used_columns:
            continue
        pairs.append((row, column))
        used_rows.add(row)
        used_columns.add(column)
    return pairs


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """The box clipped to a `width` x `height` frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))


def box_size(box: Sequence[float]) -> tuple[float, float]:
    return float(box[2]) - float(box[0]), float(box[3]) - float(box[1])


def to_xywh(box: Sequence[float]) -> tuple[int, int, int, int]:
    """Integer (x, y, w, h) for OpenCV trackers."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return int(round(x1)), int(round(y1)), max(1, int(round(x2 - x1))), max(1, int(round(y2 - y1)))


def from_xywh(box: Sequence[float]) -> Box:
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)
