"""Folder-level checks (`video2shop validate`) and cache preparation (`video2shop prepare`)."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf
from PIL import Image

from mmf_ext.common.registry import registry
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import UserError
from video2shop.datasets.manifest import (
    ManifestError,
    ProductEntry,
    check_files,
    parse_distractors,
    parse_manifest,
)
from video2shop.video.reader import VideoReadError, read_frames
from video2shop.wording import counted


def _frame_size(video: Path) -> tuple[int, int] | None:
    """(width, height) of the first frame, through the same reader (and fallbacks) training uses."""
    try:
        frames, _ = read_frames(video, [0])
    except VideoReadError:
        return None
    return int(frames.shape[2]), int(frames.shape[1])


def _image_size(image: Path) -> tuple[int, int] | None:
    """(width, height) from the image header (Pillow, see image_io), or None when unreadable."""
    try:
        with Image.open(image) as opened:
            opened.verify()
            return opened.size
    except Exception:
        return None


def _media_problems(split: str, product: ProductEntry, problems: list[str]) -> None:
    """Unreadable videos and shop images, and boxes outside their frame or image."""
    for video, tracklet in zip(product.video_paths, product.tracklets):
        if not video.is_file():
            continue
        size = _frame_size(video)
        if size is None:
            problems.append(f"{split}: product {product.product_id}: unreadable video {video}")
            continue
        width, height = size
        for frame, (x1, y1, x2, y2) in (tracklet or {}).items():
            if x2 > width + 1 or y2 > height + 1:
                problems.append(
                    f"{split}: product {product.product_id}: box {[x1, y1, x2, y2]} at frame {frame} "
                    f"lies outside the {width}x{height} frame of {video.name}"
                )
                break
    for image, box in zip(product.image_paths, product.shop_boxes or [None] * len(product.image_paths)):
        if not image.is_file():
            continue
        size = _image_size(image)
        if size is None:
            problems.append(f"{split}: product {product.product_id}: unreadable shop image {image}")
        elif box is not None and (box[2] > size[0] + 1 or box[3] > size[1] + 1):
            problems.append(
                f"{split}: product {product.product_id}: shop box {box} lies outside the "
                f"{size[0]}x{size[1]} image {image.name}"
            )


def validate_folder(root: Path, splits: list[str], check_media: bool = True) -> tuple[list[str], list[str]]:
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    problems: list[str] = []
    summary: list[str] = []
    product_ids: set[str] = set()
    found = False
    for split in splits:
        if not (root / f"{split}.json").exists():
            continue
        found = True
        try:
            products = parse_manifest(root, split)
        except ManifestError as error:
            problems.append(str(error))
            continue
        problems += [f"{split}: {p}" for p in check_files(products)]
        videos = sum(len(p.video_paths) for p in products)
        summary.append(f"{split}: {counted(len(products), 'product')}, {counted(videos, 'video')}")
        product_ids.update(p.product_id for p in products)
        if check_media:
            for product in products:
                _media_problems(split, product, problems)
    if not found:
        raise UserError(f"{root}: no manifest found (expected {', '.join(s + '.json' for s in splits)})")
    try:
        distractors = parse_distractors(root)
        problems += check_files([], distractors)
        problems += [
            f"distractors.json: distractor id {d.distractor_id!r} is also a product id; a distractor must never "
            f"count as an answer, so give it an id no product uses"
            for d in distractors
            if d.distractor_id in product_ids
        ]
        if check_media:
            problems += [
                f"distractor {d.distractor_id}: unreadable image {d.image_path}"
                for d in distractors
                if d.image_path.is_file() and _image_size(d.image_path) is None
            ]
        if distractors:
            summary.append(f"distractors: {counted(len(distractors), 'image')}")
    except ManifestError as error:
        problems.append(str(error))
    return problems, summary


def prepare_cache(root: Path, dataset: str, cache_dir: Path | None, options: list[str]) -> str:
    """Decode every video of every split once into the frame cache; report counts."""
    root = Path(root)
    if not any((root / f"{split}.json").is_file() for split in ("train", "val", "test")):
        raise UserError(f"{root}: no train.json, val.json or test.json here; point prepare at a dataset folder")
    builder = registry.get_builder_class(dataset)()
    config = load_yaml(builder.config_path()).dataset_config[dataset]
    config.data_dir = str(root)
    env_cache = cache_dir or Path(os.environ.get("MMF_CACHE_DIR", "./.cache"))
    config.cache_dir = str(env_cache)
    for option in options:
        key, _, value = option.partition("=")
        if key not in config:
            raise UserError(f"prepare: unknown dataset option {key!r}; known: {', '.join(str(k) for k in config)}")
        OmegaConf.update(config, key, value)
    OmegaConf.resolve(config) if OmegaConf.is_config(config) else None
    counts = []
    failed = 0
    for split in ("train", "val", "test"):
        if not (root / f"{split}.json").exists():
            continue
        dataset_object = builder.load_dataset(config, split)
        loader = dataset_object.trajectories
        loader.warn = True  # no workers here: the loader itself names each unreadable file
        items = (
            [(v, t) for _, v, t in dataset_object.items]
            if split == "train"
            else [(q["video"], q["tracklet"]) for q in dataset_object.queries]
        )
        for video, tracklet in items:
            loader.load(video, tracklet)
        failed += len(loader.failed)
        counts.append(f"{split}: {counted(len(items), 'trajectory')}")
    cache = f"{env_cache / dataset}"
    return f"prepared {', '.join(counts)} into {cache}; {counted(failed, 'unreadable video')} skipped"
