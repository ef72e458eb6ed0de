"""The shop images a gallery is built from: a folder of images or a video2shop-format manifest.

A folder gives one item per image file (id: its path relative to the folder, subfolders and
extension included, e.g. `dresses/item001.png`, so `a.jpg` and `a.png` stay two items). A
manifest (`<split>.json` of the video2shop / MovingFashion format) gives one item per shop image
of every product, with its shop box and category, plus the folder's gallery-only distractors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mmf_ext.utils.errors import UserError
from video2shop.datasets.manifest import parse_distractors, parse_manifest

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class CatalogItem:
    item_id: str  # unique per image
    product_id: str  # what a search returns; several images may share it
    path: Path
    box: tuple[float, float, float, float] | None = None
    category: str | None = None


def list_catalog(source: str | os.PathLike, label: str | None = None) -> list[CatalogItem]:
    """The catalog's items; errors name the source as `label` (e.g. "--images shop/"), else its path."""
    source = Path(source)
    label = label or str(source)
    if not source.exists():
        raise UserError(
            f"{label}: no such file or folder; give a folder of shop images or a video2shop manifest (<split>.json)"
        )
    if source.is_dir():
        items = _from_folder(source)
    elif source.is_file() and source.suffix == ".json":
        items = _from_manifest(source)
    else:
        raise UserError(
            f"{label}: not a folder of images or a video2shop manifest (.json); pass --images DIR_OR_MANIFEST"
        )
    if not items:
        raise UserError(f"{label}: no shop images found ({', '.join(IMAGE_SUFFIXES)})")
    ids = [item.item_id for item in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"{label}: item id {duplicate!r} appears twice; ids must be unique")
    return items


def _from_folder(folder: Path) -> list[CatalogItem]:
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        item_id = path.relative_to(folder).as_posix()
        items.append(CatalogItem(item_id, item_id, path))
    return items


def _from_manifest(manifest: Path) -> list[CatalogItem]:
    root, split = manifest.parent, manifest.stem
    items = []
    for product in parse_manifest(root, split):
        for k, path in enumerate(product.image_paths):
            box = product.shop_boxes[k] if k < len(product.shop_boxes) else None
            item_id = product.product_id if len(product.image_paths) == 1 else f"{product.product_id}#{k}"
            items.append(CatalogItem(item_id, product.product_id, path, tuple(box) if box else None, product.category))
    for distractor in parse_distractors(root):
        items.append(
            CatalogItem(
                distractor.distractor_id, distractor.distractor_id, distractor.image_path, None, distractor.category
            )
        )
    return items
