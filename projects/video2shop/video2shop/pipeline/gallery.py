"""`video2shop index`: a gallery folder of shop-image features, resumable and replaced atomically.

Layout of a finished gallery folder:
  gallery.json      what it was built from (the checkpoint's path and fingerprint, the catalog, preprocessing,
                    the detector's fingerprint, the gallery format and the versions of the crop code); written last
  features.pt       the feature bank (video2shop.retrieval.feature_bank), tied to the checkpoint
  items.json        per row: item id, product id, image path, box, category
  shortlist.faiss   an inner-product index for the shortlist, for galleries of `shortlist_min` items or more:
                    8-bit codes of the surrogate's ReLU feature map of every image (video2shop.retrieval.surrogate)
  feature_map.pt    that feature map (centres, PCA), fitted from the gallery and the model at indexing time
The build happens in `<out>.partial/`, in shards written atomically, so an interrupted build
resumes where it stopped; only a finished build replaces `<out>`, so a good gallery is never lost.
A gallery made by other code (another FORMAT, or crops made by other code: video2shop.video.versions)
is refused in one line naming what differs and the command that indexes it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write_bytes, atomic_write_text, replace_dir
from video2shop.pipeline.catalog import CatalogItem
from video2shop.pipeline.checkpoints import CheckpointFile
from video2shop.pipeline.trained_model import TrainedModel
from video2shop.retrieval.feature_bank import StaleFeatureBank, file_fingerprint, load_feature_bank, save_feature_bank
from video2shop.retrieval.search import Shortlist, ShortlistSettings, surrogate_index
from video2shop.retrieval.shortlist import ShortlistIndex
from video2shop.retrieval.surrogate import ReluFeatureMap
from video2shop.video.crops import model_crop
from video2shop.video.image_io import read_rgb
from video2shop.video.versions import input_code

logger = logging.getLogger("mmf_ext")
FORMAT = 2  # bump whenever this module or the shortlist code writes other files or contents for the same inputs
GALLERY_SHORTLIST = ShortlistSettings(index="sq8")  # 8-bit codes of the surrogate's feature map (RESULTS.md: 1M items)


class GalleryError(UserError):
    """A gallery folder that cannot be used as it is."""


def catalog_digest(items: list[CatalogItem]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.item_id, item.product_id, str(item.path), item.box, item.category]).encode())
    return digest.hexdigest()


def build_gallery(
    items: list[CatalogItem],
    trained: TrainedModel,
    out: str | os.PathLike,
    batch_size: int = 64,
    shard_size: int = 4096,
    detector: Any | None = None,
    shortlist_min: int = 50_000,
    progress: Callable[[int, int], None] | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Encode every item's crop with the model's IFN and write the gallery folder `out`.

    `source` (the folder or manifest the items came from) is recorded so that a refusal of this
    gallery can print the command that indexes it again.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    plan = {
        "format": FORMAT,
        "checkpoint": str(trained.checkpoint.resolve()),
        "fingerprint": file_fingerprint(trained.checkpoint),
        "catalog": catalog_digest(items),
        "items": len(items),
        "image_size": trained.image_size,
        "context_margin": trained.context_margin,
        "shard_size": shard_size,
        "detector": _detector_name(detector),
        "detector_fingerprint": _detector_fingerprint(detector),
        "code": input_code(),
    }
    _start_or_resume(partial, plan)
    device = next(trained.model.parameters()).device
    shards = range(0, len(items), shard_size)
    done = 0
    for number, start in enumerate(shards):
        shard_path = partial / "shards" / f"shard_{number:05d}.pt"
        chunk = items[start : start + shard_size]
        if shard_path.is_file():
            done += len(chunk)
            if progress:
                progress(done, len(items))
            continue
        features, boxes = [], []
        for b in range(0, len(chunk), batch_size):
            batch = chunk[b : b + batch_size]
            crops, used = _crops(batch, trained, detector)
            with torch.no_grad():
                features.append(trained.model.encode_images(torch.from_numpy(np.stack(crops)).to(device)).float().cpu())
            boxes += used
            done += len(batch)
            if progress:
                progress(done, len(items))
        payload = {"features": torch.cat(features), "boxes": boxes}
        shard_bytes = _torch_bytes(payload)
        atomic_write_bytes(shard_path, shard_bytes)
    _finish(partial, items, {**plan, "images": str(Path(source).resolve()) if source else None}, shortlist_min, trained)
    replace_dir(partial, out)  # the old gallery (if any) goes only after the new one is in place
    return out


def _detector_name(detector: Any | None) -> str | None:
    return None if detector is None else str(getattr(detector, "checkpoint", type(detector).__name__))


def _detector_fingerprint(detector: Any | None) -> str | None:
    """The detector checkpoint's fingerprint: its boxes crop the images that have none."""
    path = getattr(detector, "checkpoint", None)
    return file_fingerprint(path) if path is not None and Path(path).is_file() else None


def code_difference(meta: dict[str, Any]) -> str | None:
    """In words, how the code that made a gallery differs from this code (None: it does not)."""
    if meta.get("format") != FORMAT:
        return f"gallery format {meta.get('format')}, this code writes format {FORMAT}"
    made, now = meta.get("code") or {}, input_code()
    changed = [f"{key} {made.get(key)} -> {now[key]}" for key in now if made.get(key) != now[key]]
    return f"its crops were made by other code ({', '.join(changed)})" if changed else None


def _start_or_resume(partial: Path, plan: dict[str, Any]) -> None:
    plan_path = partial / "plan.json"
    if plan_path.is_file():
        try:
            previous = json.loads(plan_path.read_text())
        except json.JSONDecodeError:
            previous = None
        if previous == plan:
            logger.info("resuming the gallery build in %s", partial)
            return
        logger.info("%s was started with another checkpoint, catalog or settings; starting over", partial)
        shutil.rmtree(partial)
    elif partial.exists():
        shutil.rmtree(partial)
    (partial / "shards").mkdir(parents=True)
    atomic_write_text(plan_path, json.dumps(plan, indent=2))


def _crops(batch: list[CatalogItem], trained: TrainedModel, detector: Any | None) -> tuple[list[np.ndarray], list[Any]]:
    images = [read_rgb(item.path) for item in batch]
    boxes: list[Any] = [item.box for item in batch]
    if detector is not None:
        for k, detections in enumerate(detector.detect(images)):
            if boxes[k] is None and detections:
                boxes[k] = tuple(max(detections, key=lambda d: d.score).box)
    crops = [model_crop(image, box, trained.context_margin, trained.image_size) for image, box in zip(images, boxes)]
    return crops, [list(map(float, b)) if b is not None else None for b in boxes]


def _torch_bytes(payload: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _finish(
    partial: Path, items: list[CatalogItem], plan: dict[str, Any], shortlist_min: int, trained: TrainedModel
) -> None:
    shard_files = sorted((partial / "shards").glob("shard_*.pt"))
    loaded = [torch.load(path, map_location="cpu", weights_only=True) for path in shard_files]
    features = torch.cat([shard["features"] for shard in loaded])
    boxes = [box for shard in loaded for box in shard["boxes"]]
    if features.shape[0] != len(items):
        raise GalleryError(
            f"{partial}: {features.shape[0]} features for {len(items)} items; delete the folder and index again"
        )
    rows = [
        {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(item).items()}, "box": box}
        for item, box in zip(items, boxes)
    ]
    atomic_write_text(partial / "items.json", json.dumps(rows))
    save_feature_bank(partial / "features.pt", features, [item.item_id for item in items], plan["fingerprint"])
    if len(items) >= shortlist_min:
        _save_shortlist(partial, features, trained)
    atomic_write_text(
        partial / "gallery.json", json.dumps({**plan, "built": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2)
    )
    shutil.rmtree(partial / "shards")
    (partial / "plan.json").unlink()


def stale_message(label: str, meta: dict[str, Any], folder: Path, given: Path, given_label: str, now: str) -> str:
    """Why the gallery does not fit the checkpoint given now: both checkpoints named, and what to do."""
    old = str(meta.get("fingerprint"))[:12]
    indexed = meta.get("checkpoint")
    images = meta.get("images") or "DIR_OR_MANIFEST"
    again = f"index again with `video2shop index --images {images} --checkpoint {given} --out {folder}`"
    if indexed and Path(indexed) == given.resolve():
        return (
            f"{label}: made by another checkpoint: it was indexed with {indexed} (fingerprint {old}), which has "
            f"changed since (now {now[:12]}); {again}"
        )
    made_with = f"{indexed} (fingerprint {old})" if indexed else f"a checkpoint of fingerprint {old}"
    search_with = f"search with --checkpoint {indexed}" if indexed else "search with the checkpoint it was indexed with"
    return (
        f"{label}: made by another checkpoint: it was indexed with {made_with}, not with {given_label} "
        f"(fingerprint {now[:12]}); {again}, or {search_with}"
    )


def _save_shortlist(partial: Path, features: torch.Tensor, trained: TrainedModel) -> None:
    """shortlist.faiss (and feature_map.pt when the model gives one) for a large gallery."""
    model = trained.model
    device = next(model.parameters()).device
    with torch.no_grad():
        part = torch.cat(
            [model.gallery_projection(features[i : i + 65536].to(device)).cpu() for i in range(0, len(features), 65536)]
        )
        index, feature_map = surrogate_index(model, features.to(device), part, GALLERY_SHORTLIST)
    if feature_map is not None:
        atomic_write_bytes(partial / "feature_map.pt", _torch_bytes(feature_map.state()))
    atomic_write_bytes(partial / "shortlist.faiss", index.to_bytes())


class Gallery:
    """A finished gallery folder, checked against the checkpoint that will score it."""

    def __init__(
        self,
        folder: str | os.PathLike,
        checkpoint: str | os.PathLike | CheckpointFile | None = None,
        label: str | None = None,
    ) -> None:
        """`checkpoint`: the one that will score it (None: unchecked); errors name the folder as `label`."""
        folder = Path(folder)
        label = label or str(folder)
        meta_path = folder / "gallery.json"
        if not meta_path.is_file():
            interrupted = folder.with_name(folder.name + ".partial").exists()
            if not folder.exists() and not interrupted:
                raise GalleryError(
                    f"{label}: no such folder; build it with "
                    f"video2shop index --images DIR_OR_MANIFEST --checkpoint CKPT --out {folder}"
                )
            hint = " (an index build was interrupted: run video2shop index again to finish it)" if interrupted else ""
            raise GalleryError(
                f"{label}: not a finished gallery, gallery.json missing{hint}; build it with video2shop index"
            )
        self.folder = folder
        self.meta = json.loads(meta_path.read_text())
        other_code = code_difference(self.meta)
        if other_code:
            images = self.meta.get("images") or "DIR_OR_MANIFEST"
            indexed_with = self.meta.get("checkpoint") or "CKPT"
            raise GalleryError(
                f"{label}: indexed by other code: {other_code}; index it again with "
                f"`video2shop index --images {images} --checkpoint {indexed_with} --out {folder}`"
            )
        fingerprint = None
        if checkpoint is not None:
            given = checkpoint.path if isinstance(checkpoint, CheckpointFile) else Path(checkpoint)
            fingerprint = file_fingerprint(given)
            if self.meta.get("fingerprint") not in (None, fingerprint):
                given_label = checkpoint.label if isinstance(checkpoint, CheckpointFile) else str(given)
                raise StaleFeatureBank(stale_message(label, self.meta, folder, given, given_label, fingerprint))
        self.features, self.ids, _ = load_feature_bank(folder / "features.pt", fingerprint)
        self.items = json.loads((folder / "items.json").read_text())
        self.product_ids = [row["product_id"] for row in self.items]

    def shortlist_index(self) -> ShortlistIndex | None:
        """The saved FAISS index for the shortlist, or None for galleries small enough to score whole."""
        path = self.folder / "shortlist.faiss"
        if not path.is_file():
            return None
        return ShortlistIndex.from_bytes(path.read_bytes(), "inner_product")

    def feature_map(self) -> ReluFeatureMap | None:
        """The shortlist's ReLU feature map, or None (a linear surrogate on the features, or no shortlist)."""
        path = self.folder / "feature_map.pt"
        if not path.is_file():
            return None
        return ReluFeatureMap.from_state(torch.load(path, map_location="cpu", weights_only=True))

    def shortlist(self, scorer: Any, features: torch.Tensor, size: int) -> Shortlist | None:
        """The surrogate shortlist of `size` over the saved index (features: this gallery's, on the
        scorer's device), or None when the gallery has no index."""
        index = self.shortlist_index()
        if index is None:
            return None
        return Shortlist.from_index(scorer, features, index, self.feature_map(), size)
