"""A self-contained HTML search report: each trajectory's crops beside its top-k shop images.

Images are embedded as base64 PNG data URIs, so the file opens in any browser without a server and
can be mailed or archived as one file. Elements carry data- attributes (trajectory id, product id,
rank) so tests and scripts can read what a browser shows.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmf_ext.utils.file_io import atomic_write_text
from video2shop.video.crops import model_crop
from video2shop.video.image_io import read_rgb

THUMBNAIL = 112

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .meta{color:#666;font-size:13px;margin-bottom:20px}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin-bottom:16px}
h2{font-size:15px;margin:0 0 8px} .row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:11px;width:THUMBpx}
figure img{width:THUMBpx;height:THUMBpx;object-fit:contain;background:#eee;border-radius:4px}
.label{color:#666;font-size:12px;margin:10px 0 4px}
.empty{color:#a00}
""".replace("THUMB", str(THUMBNAIL))


def png_data_uri(image: np.ndarray) -> str:
    """RGB [H, W, 3] or CHW uint8 -> a data: URI holding a PNG thumbnail."""
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = image.transpose(1, 2, 0)
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _shop_thumbnail(item: dict[str, Any]) -> str:
    """The shop image cropped to its box as indexed (a narrower margin than the model's: for the eye)."""
    try:
        image = read_rgb(item["path"])
    except Exception:  # the catalog moved since indexing: show a grey tile, keep the report
        return png_data_uri(np.full((THUMBNAIL, THUMBNAIL, 3), 200, np.uint8))
    return png_data_uri(model_crop(image, item.get("box"), 0.05, THUMBNAIL))


def write_report(
    path: str | os.PathLike,
    video: str,
    result: dict[str, Any],
    trajectories: list[Any],
    items_by_id: dict[str, dict[str, Any]],
) -> Path:
    """Write the report for one search (`result` is the JSON written beside it)."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>video2shop: {e(Path(video).name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>video2shop search: {e(Path(video).name)}</h1>",
        f"<div class='meta'>{len(trajectories)} clothing trajectories; {result['frames_decoded']} frames decoded at "
        f"{result['fps']:.2f} fps; gallery {e(str(result['gallery']))} ({result['gallery_items']} images)</div>",
    ]
    if not trajectories:
        parts.append(f"<p class='empty' data-empty='1'>{e(result.get('message') or 'No clothing found.')}</p>")
    for trajectory in trajectories:
        span = f"frames {trajectory.frames[0]}-{trajectory.frames[-1]}"
        parts.append(
            f"<section data-trajectory='{trajectory.trajectory_id}'><h2>Trajectory {trajectory.trajectory_id}: "
            f"{e(trajectory.category or 'clothing')}, {span}</h2><div class='label'>video crops</div><div class='row'>"
        )
        for frame, crop in zip(trajectory.crop_frames, trajectory.crops):
            image = f"<img src='{png_data_uri(crop)}' alt='frame {frame}'>"
            parts.append(f"<figure>{image}<figcaption>frame {frame}</figcaption></figure>")
        parts.append(f"</div><div class='label'>top-{len(trajectory.results)} shop items</div><div class='row'>")
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
