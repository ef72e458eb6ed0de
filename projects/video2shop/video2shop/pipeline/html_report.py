"""A self-contained HTML search report: per trajectory, where it is in the video and its top-k shop images.

Images are embedded as base64 PNG data URIs, so the file opens in any browser without a server and
can be mailed or archived as one file. Elements carry data- attributes (trajectory id, product id,
rank, the frame shown whole) so tests and scripts can read what a browser shows.

Per trajectory the report shows its middle frame whole, downscaled to FRAME_SIDE pixels with the
track's box drawn, and crops of the original frames at the trajectory's crop frames with their
aspect ratio kept. Those are read again from the video after the search (a few frames per
trajectory, decoded on demand), so the stream keeps only the model's square input crops in memory.
A photo query (`result["media"] == "photo"`) is shown the same way, the photo as its one frame.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write_text
from video2shop.video.crops import crop_box
from video2shop.video.image_io import read_rgb
from video2shop.video.reader import VideoReadError, read_frames
from video2shop.wording import counted, region_text, span_text

THUMBNAIL = 112  # longer side of a crop or shop thumbnail
FRAME_SIDE = 360  # longer side of the whole frame shown per trajectory (larger frames are downscaled)
VIEW_MARGIN = 0.05  # context around a box in a thumbnail (narrower than the model's: for the eye)
BOX_COLOUR = (40, 230, 60)
READ_CHUNK = 8  # frames decoded at once when reading a trajectory's frames back

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .meta{color:#666;font-size:13px;margin-bottom:20px}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin-bottom:16px}
h2{font-size:15px;margin:0 0 8px} .row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:11px;width:THUMBpx}
figure img{width:THUMBpx;height:THUMBpx;object-fit:contain;background:#eee;border-radius:4px}
figure.frame{width:auto} figure.frame img{width:auto;height:auto;max-width:100%}
.label{color:#666;font-size:12px;margin:10px 0 4px}
.empty{color:#a00}
""".replace("THUMB", str(THUMBNAIL))


def _png(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_data_uri(image: np.ndarray, side: int = THUMBNAIL) -> str:
    """RGB [H, W, 3] or CHW uint8 -> a data: URI holding a PNG at most `side` pixels long, aspect kept."""
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = image.transpose(1, 2, 0)
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail((side, side))
    return _png(picture)


def framed_data_uri(frame: np.ndarray, box: Sequence[float]) -> tuple[str, tuple[int, int]]:
    """The whole frame downscaled to at most FRAME_SIDE pixels with `box` drawn; the URI and (width, height)."""
    picture = Image.fromarray(np.ascontiguousarray(frame))
    picture.thumbnail((FRAME_SIDE, FRAME_SIDE))
    scale = picture.width / frame.shape[1]
    x1, y1, x2, y2 = (float(v) * scale for v in box)
    width = max(2, round(max(picture.size) / 120))
    ImageDraw.Draw(picture).rectangle(
        [x1, y1, min(x2, picture.width - 1), min(y2, picture.height - 1)], outline=BOX_COLOUR, width=width
    )
    return _png(picture), picture.size


def _shop_thumbnail(item: dict[str, Any]) -> str:
    """The shop image cropped to its box as indexed, aspect kept."""
    try:
        image = read_rgb(item["path"])
    except Exception:  # the catalog moved since indexing: show a grey tile, keep the report
        return png_data_uri(np.full((THUMBNAIL, THUMBNAIL, 3), 200, np.uint8))
    box = item.get("box")
    return png_data_uri(crop_box(image, box, VIEW_MARGIN) if box is not None else image)


def _frames(video: str, indices: list[int], photo: bool = False) -> dict[int, np.ndarray] | None:
    """The frames at `indices` read back from the video (of a photo: the photo), or None when it cannot be read."""
    if photo:
        try:
            image = read_rgb(video)
        except UserError:
            return None
        return dict.fromkeys(indices, image)
    frames: dict[int, np.ndarray] = {}
    wanted = sorted(set(indices))
    try:
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start : start + READ_CHUNK]
            images, _ = read_frames(video, chunk)
            frames.update(zip(chunk, images))
    except VideoReadError:
        return None
    return frames


def _trajectory_views(video: str, trajectory: Any, photo: bool = False) -> str:
    """The whole middle frame with its box, then the crops of the original frames (model crops as a fallback)."""
    middle = trajectory.middle_frame()
    frames = _frames(video, [middle, *trajectory.crop_frames], photo)
    parts = []
    if frames is not None:
        uri, (width, height) = framed_data_uri(frames[middle], trajectory.box_at(middle))
        parts.append(
            f"<div class='label'>{'photo' if photo else 'middle frame'}</div><div class='row'>"
            f"<figure class='frame' data-frame='{middle}'>"
            f"<img data-full-frame='{trajectory.trajectory_id}' src='{uri}' width='{width}' height='{height}' "
            f"alt='frame {middle}'><figcaption>frame {middle}</figcaption></figure></div>"
        )
    parts.append(f"<div class='label'>{'photo' if photo else 'video'} crops</div><div class='row'>")
    for k, frame in enumerate(trajectory.crop_frames):
        if frames is not None:
            crop = crop_box(frames[frame], trajectory.box_at(frame), VIEW_MARGIN)
        else:
            crop = trajectory.crops[k]
        parts.append(
            f"<figure data-crop-frame='{frame}'><img src='{png_data_uri(crop)}' alt='frame {frame}'>"
            f"<figcaption>frame {frame}</figcaption></figure>"
        )
    parts.append("</div>")
    return "".join(parts)


def _detector_text(result: dict[str, Any]) -> str:
    """The detector used, as the results name it (kind, file) and why it was chosen when it was not named."""
    kind, label, note = result.get("detector_kind"), result.get("detector"), result.get("detector_note")
    if kind == "hog":
        text = "hog (OpenCV's HOG people detector)"
    elif kind == "coco":
        text = f"coco person detector {label}"
    elif label:
        text = str(label)
    elif result.get("media") == "photo":
        text = "none: the whole photo is one trajectory"
    else:
        text = "none: each shot's whole frame is one trajectory"
    return text + (f" ({note})" if note else "")


def _header(video: str, result: dict[str, Any], found: int) -> list[str]:
    e = html.escape
    photo = result.get("media") == "photo"
    detector_text = e(_detector_text(result))
    if photo:
        source = f"photo {result['width']}x{result['height']}"
    else:
        source = (
            f"{counted(result['frames_decoded'], 'frame')} decoded at {result['fps']:.2f} fps "
            f"({result['width']}x{result['height']})"
        )
    warning = result.get("decode_warning")
    return [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>video2shop: {e(Path(video).name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>video2shop search: {e(Path(video).name)}</h1>",
        f"<div class='meta'>{counted(found, 'clothing trajectory')}; {source}; gallery "
        f"{e(str(result['gallery']))} ({counted(result['gallery_items'], 'image')}); model "
        f"{e(str(result['checkpoint']))}; <span data-detector>detector: {detector_text}</span></div>",
        f"<p class='empty' data-decode-warning>{e(warning)}</p>" if warning else "",
    ]


def write_report(
    path: str | os.PathLike,
    video: str,
    result: dict[str, Any],
    trajectories: list[Any],
    items_by_id: dict[str, dict[str, Any]],
) -> Path:
    """Write the report for one search of a video or a photo (`result` is the JSON written beside it)."""
    e = html.escape
    parts = _header(video, result, len(trajectories))
    if not trajectories:
        parts.append(f"<p class='empty' data-empty='1'>{e(result.get('message') or 'No clothing found.')}</p>")
    photo = result.get("media") == "photo"
    for trajectory in trajectories:
        if photo:
            span = region_text(trajectory.boxes[0], result["width"], result["height"])
        else:
            span = span_text(trajectory.frames[0], trajectory.frames[-1], result["fps"])
        region = f" data-region='{e(trajectory.region)}'" if trajectory.region else ""
        parts.append(
            f"<section data-trajectory='{trajectory.trajectory_id}'{region}><h2>Trajectory {trajectory.trajectory_id}: "
            f"{e(trajectory.describe())}, <span data-span>{span}</span></h2>"
        )
        parts.append(_trajectory_views(video, trajectory, photo))
        parts.append(f"<div class='label'>top-{len(trajectory.results)} shop items</div><div class='row'>")
        for hit in trajectory.results:
            item = items_by_id.get(hit["item_id"], {})
            parts.append(
                f"<figure data-product='{e(hit['product_id'])}' data-rank='{hit['rank']}'>"
                f"<img src='{_shop_thumbnail(item)}' alt='{e(hit['product_id'])}'>"
                f"<figcaption>#{hit['rank']} {e(hit['product_id'])}<br>{hit['score']:.3f}</figcaption></figure>"
            )
        parts.append("</div></section>")
    parts.append("</body></html>")
    return atomic_write_text(path, "".join(parts))
