"""A procedurally generated Video2Shop dataset: a real retrieval problem that exists everywhere.

Products of the paper's 14 categories get a silhouette by category, colours, a pattern and small
decorative details. Near-duplicate groups differ only in a detail or a colour (the hard negatives
of the paper's Fig. 6). Shop images show the item on a plain or studio background; videos (real
mp4 files) move it over cluttered, drifting backgrounds with viewpoint and scale change, motion
blur, lighting change, partial occlusion and compression, with a tracklet box per frame. Splits
are by product, so test products are never seen in training. Output is the `video2shop` format.

Every dataset folder carries `generator.json`: the generator's version and every generation
parameter. A folder is reused only when that stamp equals what this code would write
(`ensure_generated`); otherwise it is generated again, so figures never come from data made by
older code. Bump GENERATOR_VERSION whenever the output for the same parameters changes, and record
the new GENERATOR_FINGERPRINTS (tests/video2shop/datasets/test_synthetic_version.py computes it from
a tiny dataset and fails when it changes without the version). OpenCV draws and warps the pixels,
and its releases draw them differently (5.1.0 against 5.0.0), so the stamp records the OpenCV
version and there is one fingerprint per OpenCV version the generator was checked with.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmf_ext.utils.file_io import atomic_write_text, replace_dir
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.datasets.manifest import ManifestError
from video2shop.video.image_io import write_rgb

logger = logging.getLogger("mmf_ext")

GENERATOR_VERSION = 1  # bump whenever generate() writes anything different for the same parameters
# sha256 of the tiny dataset test_synthetic_version.py generates (manifests, shop image pixels, video
# frames as rendered, encoder settings), by the OpenCV version that drew it: update with GENERATOR_VERSION
GENERATOR_FINGERPRINTS = {
    "5.0.0": "a0733635ff0f55377ff37d3c308916bf5099a01b2025d2b2b5a0ac6aa8c0d04c",  # the docs' figures (constraints.txt)
    "5.1.0": "074f4abbb060091bbd626f029509d040668e0257fee16905f2d5c8c90593a0fe",
}
STAMP_FILE = "generator.json"
VIDEO_FPS = 12.0
VIDEO_FOURCC = "mp4v"
_OLD_README = "Synthetic Video2Shop dataset:"  # how folders generated before the stamp existed begin README.txt

# Silhouettes in a unit square, one polygon (or several) per category.
_SILHOUETTES: dict[str, list[list[tuple[float, float]]]] = {
    "Outwear": [
        [
            (0.2, 0.1),
            (0.8, 0.1),
            (0.95, 0.35),
            (0.85, 0.4),
            (0.8, 0.3),
            (0.8, 0.95),
            (0.2, 0.95),
            (0.2, 0.3),
            (0.15, 0.4),
            (0.05, 0.35),
        ]
    ],
    "Dress": [[(0.35, 0.05), (0.65, 0.05), (0.62, 0.35), (0.9, 0.95), (0.1, 0.95), (0.38, 0.35)]],
    "Top": [
        [
            (0.25, 0.15),
            (0.75, 0.15),
            (0.92, 0.35),
            (0.8, 0.42),
            (0.75, 0.35),
            (0.75, 0.85),
            (0.25, 0.85),
            (0.25, 0.35),
            (0.2, 0.42),
            (0.08, 0.35),
        ]
    ],
    "Mini skirt": [[(0.3, 0.3), (0.7, 0.3), (0.85, 0.7), (0.15, 0.7)]],
    "Hat": [[(0.3, 0.3), (0.7, 0.3), (0.75, 0.6), (0.95, 0.65), (0.95, 0.72), (0.05, 0.72), (0.05, 0.65), (0.25, 0.6)]],
    "Sunglass": [
        [(0.05, 0.4), (0.45, 0.4), (0.42, 0.62), (0.08, 0.62)],
        [(0.55, 0.4), (0.95, 0.4), (0.92, 0.62), (0.58, 0.62)],
        [(0.4, 0.42), (0.6, 0.42), (0.6, 0.47), (0.4, 0.47)],
    ],
    "Bag": [
        [(0.15, 0.35), (0.85, 0.35), (0.9, 0.9), (0.1, 0.9)],
        [(0.3, 0.1), (0.7, 0.1), (0.7, 0.35), (0.62, 0.35), (0.62, 0.18), (0.38, 0.18), (0.38, 0.35), (0.3, 0.35)],
    ],
    "Skirt": [[(0.3, 0.1), (0.7, 0.1), (0.9, 0.9), (0.1, 0.9)]],
    "Suit": [[(0.15, 0.08), (0.85, 0.08), (0.95, 0.9), (0.55, 0.9), (0.5, 0.4), (0.45, 0.9), (0.05, 0.9)]],
    "Shoes": [[(0.05, 0.55), (0.5, 0.5), (0.6, 0.35), (0.75, 0.35), (0.95, 0.6), (0.95, 0.75), (0.05, 0.75)]],
    "Shorts": [[(0.15, 0.2), (0.85, 0.2), (0.92, 0.75), (0.55, 0.75), (0.5, 0.45), (0.45, 0.75), (0.08, 0.75)]],
    "Pants": [[(0.25, 0.05), (0.75, 0.05), (0.8, 0.95), (0.56, 0.95), (0.5, 0.35), (0.44, 0.95), (0.2, 0.95)]],
    "Breeches": [[(0.22, 0.1), (0.78, 0.1), (0.82, 0.7), (0.56, 0.7), (0.5, 0.35), (0.44, 0.7), (0.18, 0.7)]],
    "High shoes": [[(0.35, 0.05), (0.6, 0.05), (0.62, 0.55), (0.95, 0.7), (0.95, 0.9), (0.3, 0.9)]],
}
_PATTERNS = ("plain", "stripes", "checks", "dots", "diagonal")
_DETAILS = ("circle", "square", "star", "triangle", "bar")


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    base: tuple[int, int, int]
    accent: tuple[int, int, int]
    pattern: str
    pattern_scale: float
    detail: str
    detail_pos: tuple[float, float]
    detail_color: tuple[int, int, int]


def _color(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(90, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def make_products(count: int, rng: np.random.Generator, near_duplicate_share: float = 0.4) -> list[Product]:
    """Products, with groups of near-duplicates that differ only in a detail or a colour."""
    products: list[Product] = []
    while len(products) < count:
        category = (
            PAPER_CATEGORIES[len(products) % len(PAPER_CATEGORIES)]
            if rng.random() < 0.7
            else str(rng.choice(PAPER_CATEGORIES))
        )
        base = Product(
            product_id=f"p{len(products):05d}",
            category=category,
            base=_color(rng),
            accent=_color(rng),
            pattern=str(rng.choice(_PATTERNS)),
            pattern_scale=float(rng.uniform(0.06, 0.16)),
            detail=str(rng.choice(_DETAILS)),
            detail_pos=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.4, 0.7))),
            detail_color=_color(rng),
        )
        products.append(base)
        if rng.random() < near_duplicate_share and len(products) < count:
            twin_kind = rng.integers(0, 3)
            changes: dict = {"product_id": f"p{len(products):05d}"}
            if twin_kind == 0:
                changes["detail"] = str(rng.choice([d for d in _DETAILS if d != base.detail]))
            elif twin_kind == 1:
                changes["detail_color"] = _color(rng)
            else:
                changes["base"] = _color(rng)
            products.append(Product(**{**base.__dict__, **changes}))
    return products[:count]


def render_item(product: Product, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The item as an RGB image and a 0/255 mask, both size x size."""
    texture = np.empty((size, size, 3), np.uint8)
    texture[:] = product.base
    step = max(2, int(product.pattern_scale * size))
    if product.pattern == "stripes":
        for y in range(0, size, 2 * step):
            texture[y : y + step] = product.accent
    elif product.pattern == "checks":
        yy, xx = np.mgrid[0:size, 0:size]
        texture[((yy // step) + (xx // step)) % 2 == 0] = product.accent
    elif product.pattern == "dots":
        for y in range(step // 2, size, 2 * step):
            for x in range(step // 2, size, 2 * step):
                cv2.circle(texture, (x, y), max(1, step // 2), product.accent, -1)
    elif product.pattern == "diagonal":
        yy, xx = np.mgrid[0:size, 0:size]
        texture[((yy + xx) // step) % 2 == 0] = product.accent
    mask = np.zeros((size, size), np.uint8)
    for polygon in _SILHOUETTES[product.category]:
        cv2.fillPoly(mask, [np.int32([(x * (size - 1), y * (size - 1)) for x, y in polygon])], 255)
    cx, cy = int(product.detail_pos[0] * size), int(product.detail_pos[1] * size)
    r = max(2, size // 10)
    if product.detail == "circle":
        cv2.circle(texture, (cx, cy), r, product.detail_color, -1)
    elif product.detail == "square":
        cv2.rectangle(texture, (cx - r, cy - r), (cx + r, cy + r), product.detail_color, -1)
    elif product.detail == "star":
        points = [
            (cx + r * math.cos(a) * (1 if i % 2 == 0 else 0.45), cy + r * math.sin(a) * (1 if i % 2 == 0 else 0.45))
            for i, a in enumerate(np.linspace(-math.pi / 2, 3 * math.pi / 2, 10, endpoint=False))
        ]
        cv2.fillPoly(texture, [np.int32(points)], product.detail_color)
    elif product.detail == "triangle":
        cv2.fillPoly(texture, [np.int32([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)])], product.detail_color)
    else:
        cv2.rectangle(texture, (cx - r, cy - r // 3), (cx + r, cy + r // 3), product.detail_color, -1)
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    texture[edge > 0] = (texture[edge > 0] * 0.5).astype(np.uint8)
    return texture, mask


def _composite(background: np.ndarray, item: np.ndarray, mask: np.ndarray) -> np.ndarray:
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    return (background * (1 - alpha) + item * alpha).astype(np.uint8)


def _box_of(mask: np.ndarray) -> list[int] | None:
    ys, xs = np.nonzero(mask > 127)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def render_shop_image(product: Product, size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """The item centred on a plain or studio (gradient) background; returns RGB image and box."""
    top, bottom = np.array(_color(rng)) * 0.15 + 200, np.array(_color(rng)) * 0.1 + 215
    if rng.random() < 0.5:
        background = np.empty((size, size, 3), np.float32)
        background[:] = top
    else:
        ramp = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
        background = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (size, size, 3)).copy()
    item_size = int(size * rng.uniform(0.7, 0.85))
    item, mask = render_item(product, item_size)
    canvas_item = np.zeros((size, size, 3), np.uint8)
    canvas_mask = np.zeros((size, size), np.uint8)
    offset = (size - item_size) // 2
    canvas_item[offset : offset + item_size, offset : offset + item_size] = item
    canvas_mask[offset : offset + item_size, offset : offset + item_size] = mask
    image = _composite(background.astype(np.uint8), canvas_item, canvas_mask)
    return image, _box_of(canvas_mask) or [0, 0, size, size]


def _clutter(size: int, rng: np.random.Generator) -> np.ndarray:
    """A cluttered scene larger than the frame, so the camera can pan over it."""
    big = size * 2
    scene = np.empty((big, big, 3), np.uint8)
    scene[:] = _color(rng)
    for _ in range(int(rng.integers(25, 45))):
        color = _color(rng)
        x, y = int(rng.integers(0, big)), int(rng.integers(0, big))
        w, h = int(rng.integers(6, big // 4)), int(rng.integers(6, big // 4))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + w, y + h), color, -1)
        else:
            cv2.ellipse(scene, (x, y), (w // 2, h // 2), float(rng.uniform(0, 180)), 0, 360, color, -1)
    noise = rng.normal(0, 8, scene.shape)
    return np.clip(scene + noise, 0, 255).astype(np.uint8)


def render_video(
    product: Product, frames: int, size: int, rng: np.random.Generator, hard: bool
) -> tuple[list[np.ndarray], list[list[int] | None]]:
    """Frames (RGB) and a tracklet box per frame of the item moving over clutter."""
    scene = _clutter(size, rng)
    item_size = size
    item, mask = render_item(product, item_size)
    flip = rng.random() < 0.5
    if flip:  # the back/side view: details swap sides
        item, mask = item[:, ::-1].copy(), mask[:, ::-1].copy()
    start, end = rng.uniform(0.3, 0.7, 2), rng.uniform(0.3, 0.7, 2)
    scale0, scale1 = rng.uniform(0.35, 0.6 if hard else 0.7, 2)
    angle0, angle1 = rng.uniform(-25, 25, 2) if hard else rng.uniform(-12, 12, 2)
    squash0, squash1 = rng.uniform(0.7, 1.0, 2)
    light0, light1 = rng.uniform(0.6 if hard else 0.75, 1.25, 2)
    pan = rng.uniform(0, size, 2)
    occlusion_at = rng.uniform(0.2, 0.8) if rng.random() < (0.7 if hard else 0.4) else None
    occluder_color = _color(rng)
    out_frames, boxes = [], []
    for i in range(frames):
        t = i / max(1, frames - 1)
        scale = scale0 + (scale1 - scale0) * t
        angle = angle0 + (angle1 - angle0) * t
        squash = squash0 + (squash1 - squash0) * t  # viewpoint: the item turns
        cx, cy = (start + (end - start) * t) * size
        matrix = cv2.getRotationMatrix2D((item_size / 2, item_size / 2), angle, scale)
        matrix[0, :2] *= squash
        matrix[:, 2] += (cx - item_size / 2, cy - item_size / 2)
        warped = cv2.warpAffine(item, matrix, (size, size), flags=cv2.INTER_LINEAR)
        warped_mask = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_NEAREST)
        px, py = (pan + t * size * 0.5).astype(int) % size
        background = scene[py : py + size, px : px + size]
        frame = _composite(background, warped, warped_mask).astype(np.float32)
        frame *= light0 + (light1 - light0) * t
        if occlusion_at is not None and abs(t - occlusion_at) < 0.2:
            ox = int(cx + (t - occlusion_at) * size * 2)
            cv2.rectangle(frame, (ox - size // 8, 0), (ox + size // 8, size), occluder_color, -1)
        if rng.random() < (0.4 if hard else 0.2):  # motion blur along the motion direction
            length = int(rng.integers(3, 8))
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2, :] = 1.0 / length
            frame = cv2.filter2D(frame, -1, kernel)
        frame = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
        out_frames.append(frame)
        boxes.append(_box_of(warped_mask))
    return out_frames, boxes


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float = VIDEO_FPS) -> None:
    """RGB frames (a list, or a generator for long videos: each is encoded as it comes) into an mp4v file."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an mp4v writer")
    for frame in itertools.chain([first], frames):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


class StaleDatasetFolder(ManifestError):
    """A dataset folder the synthetic generator did not write: it is never overwritten."""


def generation_stamp(
    products: int = 240,
    seed: int = 0,
    frames: int = 24,
    video_size: int = 112,
    image_size: int = 96,
    test_share: float = 0.25,
    val_share: float = 0.1,
    videos_per_train_product: int = 2,
) -> dict[str, Any]:
    """What a dataset generated with these parameters by this code records in its STAMP_FILE."""
    return {
        "generator": "video2shop.datasets.synthetic",
        "version": GENERATOR_VERSION,
        "params": {
            "products": int(products),
            "seed": int(seed),
            "frames": int(frames),
            "video_size": int(video_size),
            "image_size": int(image_size),
            "test_share": float(test_share),
            "val_share": float(val_share),
            "videos_per_train_product": int(videos_per_train_product),
        },
        # the encoder and the drawing code are OpenCV's: another OpenCV may write other mp4 bytes
        "video": {"fourcc": VIDEO_FOURCC, "fps": VIDEO_FPS, "opencv": cv2.__version__},
    }


def read_stamp(root: str | Path) -> dict[str, Any] | None:
    """The folder's generation stamp, or None when it has none (or an unreadable one)."""
    path = Path(root) / STAMP_FILE
    try:
        stamp = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def stamp_difference(found: dict[str, Any] | None, wanted: dict[str, Any]) -> str:
    """In words, why a folder's stamp is not what this code would write (for the log line)."""
    if found is None:
        return "it has no generator stamp (it was made before datasets were stamped)"
    if found.get("version") != wanted["version"]:
        return f"it was made by generator version {found.get('version')}, this code is version {wanted['version']}"
    for section in ("params", "video"):
        old, new = found.get(section) or {}, wanted[section]
        changed = [f"{key} {old.get(key)!r} -> {new[key]!r}" for key in new if old.get(key) != new[key]]
        if changed:
            return "it was made with " + ", ".join(changed)
    return "its stamp differs from this code's"


def generate(out_dir: str | Path, replace: bool = False, **params: Any) -> Path:
    """Write the dataset to out_dir atomically: built and stamped in a temporary folder, then renamed
    into place (`replace`: swapping out the folder there; otherwise an existing out_dir is an error).
    `params` are generation_stamp's parameters."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not replace:
        raise FileExistsError(f"{out_dir} already exists; choose a new folder or delete it first")
    stamp = generation_stamp(**params)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _generate_into(tmp, **stamp["params"])
        atomic_write_text(tmp / STAMP_FILE, json.dumps(stamp, indent=1))  # last: a stamped folder is complete
        if out_dir.exists() and read_stamp(out_dir) == stamp:
            return out_dir  # someone else finished the same dataset first: keep theirs
        try:
            replace_dir(tmp, out_dir)
        except OSError:
            if read_stamp(out_dir) != stamp:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_generated(root: str | Path, **params: Any) -> str:
    """The synthetic dataset at `root` as this code makes it with `params` (generation_stamp's).

    Returns "reused" (its stamp matches), "generated" (there was none) or "regenerated" (made by
    other code or parameters: generated again into a temporary folder, then swapped in). A folder
    the generator did not write is never touched: StaleDatasetFolder, in one line.
    """
    root = Path(root)
    wanted = generation_stamp(**params)
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        logger.info("generating the synthetic dataset into %s (once)", root)
        generate(root, replace=True, **params)
        return "generated"
    found = read_stamp(root)
    if found == wanted:
        return "reused"
    if found is None and not _generated_before_stamps(root):
        raise StaleDatasetFolder(
            f"{root}: exists but was not written by the synthetic generator (no {STAMP_FILE}); "
            "move it away or set dataset_config.synthetic_video2shop.data_dir to a new folder"
        )
    logger.warning("regenerating the synthetic dataset in %s: %s", root, stamp_difference(found, wanted))
    generate(root, replace=True, **params)
    return "regenerated"


def _generated_before_stamps(root: Path) -> bool:
    """Whether an unstamped folder is one this generator wrote before it stamped its output."""
    try:
        return (root / "README.txt").read_text().startswith(_OLD_README)
    except OSError:
        return False


def _generate_into(
    root: Path,
    products: int,
    seed: int,
    frames: int,
    video_size: int,
    image_size: int,
    test_share: float,
    val_share: float,
    videos_per_train_product: int,
) -> None:
    count = products
    rng = np.random.default_rng(seed)
    (root / "videos").mkdir()
    (root / "imgs").mkdir()
    catalog = make_products(count, rng)
    order = rng.permutation(len(catalog))
    n_test = max(1, int(round(len(catalog) * test_share)))
    n_val = max(1, int(round(len(catalog) * val_share)))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[catalog[index].product_id] = "test" if rank < n_test else ("val" if rank < n_test + n_val else "train")
    manifests: dict[str, dict] = {"train": {}, "val": {}, "test": {}}
    for product in catalog:
        split = split_of[product.product_id]
        product_rng = np.random.default_rng([seed, int(product.product_id[1:])])
        image, box = render_shop_image(product, image_size, product_rng)
        image_path = f"imgs/{product.product_id}.png"
        write_rgb(root / image_path, image)
        hard = bool(product_rng.random() < 0.35)
        entry = {
            "img_path": image_path,
            "video_paths": [],
            "source": 2 if hard else 1,
            "tracklets": [],
            "category": product.category,
            "shop_boxes": [box],
        }
        n_videos = videos_per_train_product if split == "train" else 1
        for v in range(n_videos):
            video_frames, boxes = render_video(product, frames, video_size, product_rng, hard)
            video_path = f"videos/{product.product_id}_{v}.mp4"
            write_mp4(root / video_path, video_frames)
            entry["video_paths"].append(video_path)
            entry["tracklets"].append({str(i): b for i, b in enumerate(boxes) if b is not None})
        manifests[split][product.product_id] = entry
    for split, manifest in manifests.items():
        (root / f"{split}.json").write_text(json.dumps(manifest, indent=1))
    (root / "README.txt").write_text(
        f"Synthetic Video2Shop dataset: {count} products, seed {seed}, generated by `video2shop make-synthetic`; "
        f"what made it: {STAMP_FILE}.\n"
    )
