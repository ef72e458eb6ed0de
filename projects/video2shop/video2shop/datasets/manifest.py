"""The video2shop manifest: MovingFashion's schema as-is, plus documented optional extensions.

`<split>.json` maps a product id to {img_path, video_paths, source, tracklets} (MovingFashion), and
may add `category`, `img_paths` (several shop images; an `img_path` not among them is added last,
an image listed twice counts once), `shop_boxes` (one box or null per image, in img_paths order).
`distractors.json` (optional) lists gallery-only images: [{"id", "img_path", "category"}].

A manifest is untrusted input: paths must stay inside the data directory, JSON errors are
reported with line and column, boxes must be well-formed, and files must exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmf_ext.utils.errors import UserError


class ManifestError(UserError):
    """A manifest that cannot be used, with the file, key and fix in one line."""


@dataclass
class ProductEntry:
    product_id: str
    image_paths: list[Path]
    video_paths: list[Path]
    source: int = -1
    category: str | None = None
    tracklets: list[dict[int, list[float]] | None] = field(default_factory=list)
    shop_boxes: list[list[float] | None] = field(default_factory=list)


@dataclass
class Distractor:
    distractor_id: str
    image_path: Path
    category: str | None = None


def load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found; a dataset folder needs train.json and test.json") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(
            f"{path}: malformed JSON at line {error.lineno} column {error.colno} ({error.msg})"
        ) from None


def safe_path(root: Path, relative: Any, where: str) -> Path:
    """`relative` resolved inside root; absolute paths and paths escaping root are rejected."""
    if not isinstance(relative, str) or not relative:
        raise ManifestError(f"{where}: expected a relative path string, found {relative!r}")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise ManifestError(f"{where}: absolute path {relative!r} is not allowed; use a path relative to {root}")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ManifestError(f"{where}: path {relative!r} escapes the data directory {root}; keep files inside it")
    return resolved


def _box(value: Any, where: str) -> list[float]:
    if not (isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        raise ManifestError(f"{where}: a box must be [x1, y1, x2, y2] numbers, found {value!r}")
    x1, y1, x2, y2 = (float(v) for v in value)
    if x2 <= x1 or y2 <= y1 or min(x1, y1) < 0:
        raise ManifestError(f"{where}: box {list(value)} is empty or negative; need 0 <= x1 < x2 and 0 <= y1 < y2")
    return [x1, y1, x2, y2]


def parse_manifest(root: Path, split: str) -> list[ProductEntry]:
    path = root / f"{split}.json"
    data = load_json(path)
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: the top level must map product ids to entries")
    products = []
    for product_id, entry in data.items():
        where = f"{path}: product {product_id!r}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: entry must be an object")
        raw_images = entry.get("img_paths") or []
        if not isinstance(raw_images, list):
            raise ManifestError(f"{where}: img_paths must be a list of image paths")
        if entry.get("img_path") and entry["img_path"] not in raw_images:
            raw_images = [*raw_images, entry["img_path"]]  # after img_paths, so shop_boxes stay aligned
        if not raw_images:
            raise ManifestError(f"{where}: needs img_path (or img_paths)")
        images = [safe_path(root, p, f"{where} img_path") for p in raw_images]
        raw_videos = entry.get("video_paths") or []
        if not isinstance(raw_videos, list):
            raise ManifestError(f"{where}: video_paths must be a list")
        videos = [safe_path(root, p, f"{where} video_paths") for p in raw_videos]
        raw_tracklets = entry.get("tracklets") or []
        if raw_tracklets and len(raw_tracklets) != len(videos):
            raise ManifestError(
                f"{where}: {len(raw_tracklets)} tracklets for {len(videos)} videos; give one per video (or none)"
            )
        tracklets: list[dict[int, list[float]] | None] = []
        for v, tracklet in enumerate(raw_tracklets):
            if tracklet is None or tracklet == {}:
                tracklets.append(None)
                continue
            if not isinstance(tracklet, dict):
                raise ManifestError(f"{where}: tracklet {v} must map frame indices to boxes")
            parsed = {}
            for frame, box in tracklet.items():
                if not str(frame).isdigit():
                    raise ManifestError(f"{where}: tracklet {v} frame key {frame!r} is not a frame index")
                parsed[int(frame)] = _box(box, f"{where} tracklet {v} frame {frame}")
            tracklets.append(parsed)
        while len(tracklets) < len(videos):
            tracklets.append(None)
        raw_boxes = entry.get("shop_boxes") or []
        if not isinstance(raw_boxes, list) or len(raw_boxes) > len(images):
            raise ManifestError(
                f"{where}: shop_boxes must be a list with at most one box (or null) per shop image "
                f"({len(images)} here), in the order of img_paths"
            )
        boxes = [None if b is None else _box(b, f"{where} shop_boxes") for b in raw_boxes]
        boxes += [None] * (len(images) - len(boxes))
        first = {image: k for k, image in reversed(list(enumerate(images)))}  # an image listed twice counts once
        images, boxes = [images[k] for k in sorted(first.values())], [boxes[k] for k in sorted(first.values())]
        source = entry.get("source", -1)
        if not isinstance(source, int):
            raise ManifestError(f"{where}: source must be an integer (1 = regular, other = hard)")
        category = entry.get("category")
        if category is not None and not isinstance(category, str):
            raise ManifestError(f"{where}: category must be a string")
        products.append(
            ProductEntry(str(product_id), images, videos, source, category, tracklets, boxes[: len(images)])
        )
    return products


def parse_distractors(root: Path) -> list[Distractor]:
    path = root / "distractors.json"
    if not path.exists():
        return []
    data = load_json(path)
    if not isinstance(data, list):
        raise ManifestError(f"{path}: must be a list of {{id, img_path, category}}")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "img_path" not in item:
            raise ManifestError(f"{path}: item {i} needs img_path")
        category = item.get("category")
        if category is not None and not isinstance(category, str):
            raise ManifestError(f"{path}: item {i} category must be a string")
        out.append(
            Distractor(
                str(item.get("id", f"distractor_{i}")), safe_path(root, item["img_path"], f"{path} item {i}"), category
            )
        )
    return out


def check_files(products: list[ProductEntry], distractors: list[Distractor] = ()) -> list[str]:
    """One problem per line: missing files and products without videos."""
    problems = []
    for product in products:
        for image in product.image_paths:
            if not image.is_file():
                problems.append(f"product {product.product_id}: missing shop image {image}")
        for video in product.video_paths:
            if not video.is_file():
                problems.append(f"product {product.product_id}: missing video {video}")
        if not product.video_paths:
            problems.append(f"product {product.product_id}: has no videos")
    for distractor in distractors:
        if not distractor.image_path.is_file():
            problems.append(f"distractor {distractor.distractor_id}: missing image {distractor.image_path}")
    return problems
