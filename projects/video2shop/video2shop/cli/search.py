"""`video2shop index` and `video2shop search`: a shop catalog into a gallery, a video into shop items.

    video2shop index --images DIR_OR_MANIFEST --checkpoint CKPT --out GALLERY [--detector DET_CKPT]
    video2shop search VIDEO --gallery GALLERY --checkpoint CKPT [--detector DET_CKPT] [--topk 20]
                      [--out results.json] [--report report.html] [pipeline.tracker.redetect_interval=3 ...]

User errors print one line and exit 2; a video with no clothing found is an empty result, exit 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write_text
from video2shop.cli.main import fail
from video2shop.pipeline.catalog import list_catalog
from video2shop.pipeline.config import load_pipeline_config, tracker_config
from video2shop.pipeline.detection import ClothingDetector
from video2shop.pipeline.gallery import Gallery, build_gallery
from video2shop.pipeline.html_report import write_report
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import SearchTimings, Trajectory, find_trajectories, rank_products
from video2shop.pipeline.video_stream import VideoInfo


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return name


def _detector(path: Path | None, device: str) -> ClothingDetector | None:
    return None if path is None else ClothingDetector(path, device=device)


def index_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="video2shop index", description="Build a searchable gallery from shop images."
    )
    parser.add_argument(
        "--images", required=True, type=Path, help="a folder of images or a video2shop manifest (<split>.json)"
    )
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="a trained model (mmf_run's current.ckpt / best.ckpt)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="the gallery folder to write (replaced only when finished)"
    )
    parser.add_argument("--detector", type=Path, default=None, help="crop each image to its best clothing detection")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--shortlist-min", type=int, default=50_000, help="save a shortlist index from this many images up"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        device = _device(args.device)
        items = list_catalog(args.images)
        trained = load_trained_model(args.checkpoint, device)
        detector = _detector(args.detector, device)
        start = time.perf_counter()
        with tqdm(total=len(items), unit="img", desc="indexing", disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            out = build_gallery(
                items,
                trained,
                args.out,
                batch_size=args.batch_size,
                detector=detector,
                shortlist_min=args.shortlist_min,
                progress=progress,
            )
    except UserError as error:
        return fail("index", error)
    print(f"indexed {len(items)} shop images into {out} in {time.perf_counter() - start:.1f}s")
    return 0


def _search_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video2shop search", description="Find the shop items worn in a video.")
    parser.add_argument("video", type=Path)
    parser.add_argument("--gallery", required=True, type=Path, help="a folder written by video2shop index")
    parser.add_argument("--checkpoint", required=True, type=Path, help="the model the gallery was indexed with")
    parser.add_argument(
        "--detector",
        type=Path,
        default=None,
        help="a clothing_detector checkpoint; without it the whole frame is one trajectory",
    )
    parser.add_argument("--topk", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: <video name>.results.json here)")
    parser.add_argument("--report", type=Path, default=None, help="also write a self-contained HTML report")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a pipeline settings file (see projects/video2shop/video2shop/configs/pipeline/defaults.yaml)",
    )
    parser.add_argument("settings", nargs="*", help="pipeline overrides, e.g. pipeline.tracker.redetect_interval=3")
    return parser


def _run_search(args: argparse.Namespace, timings: SearchTimings) -> tuple[VideoInfo, list[Trajectory], Gallery, float]:
    """Load the model, gallery and detector, find the video's trajectories and rank products for each;
    the last value is the seconds the search took once everything was loaded."""
    settings = load_pipeline_config(args.config, args.settings)
    device = _device(args.device)
    trained = load_trained_model(args.checkpoint, device)
    gallery = Gallery(args.gallery, args.checkpoint)
    detector = _detector(args.detector, device)
    search = settings.pipeline.search
    start = time.perf_counter()
    info, trajectories = find_trajectories(
        str(args.video),
        trained,
        detector,
        tracker_config(settings),
        int(search.frame_stride),
        int(search.crop_capacity),
        timings,
        settings.pipeline.trajectories.get("length"),
    )
    begin = time.perf_counter()
    rank_products(trained, gallery, trajectories, args.topk, int(search.shortlist_size))
    timings.score_s = time.perf_counter() - begin
    return info, trajectories, gallery, time.perf_counter() - start


def _result(
    args: argparse.Namespace,
    info: VideoInfo,
    trajectories: list[Trajectory],
    gallery: Gallery,
    timings: SearchTimings,
    seconds: float,
) -> dict[str, Any]:
    """What results.json holds."""
    return {
        "video": str(args.video),
        "fps": info.fps,
        "frames_claimed": info.claimed_frames,
        "frames_decoded": timings.frames,
        "width": info.width,
        "height": info.height,
        "gallery": str(args.gallery),
        "gallery_items": len(gallery.ids),
        "checkpoint": str(args.checkpoint),
        "detector": str(args.detector) if args.detector else None,
        "seconds": round(seconds, 3),
        "message": None if trajectories else f"no clothing found in {args.video}",
        "trajectories": [
            {
                "id": t.trajectory_id,
                "frame_span": [t.frames[0], t.frames[-1]],
                "time_span_s": [round(t.frames[0] / info.fps, 3), round(t.frames[-1] / info.fps, 3)],
                "category": t.category,
                "detection_score": round(t.detection_score, 4),
                "boxes": [[f, *[round(v, 1) for v in b]] for f, b in zip(t.frames, t.boxes)],
                "topk": t.results,
            }
            for t in trajectories
        ],
    }


def search_main(argv: list[str]) -> int:
    args = _search_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.topk < 1:
        return fail("search", UserError(f"--topk {args.topk}: must be at least 1"))
    timings = SearchTimings()
    try:
        info, trajectories, gallery, seconds = _run_search(args, timings)
    except UserError as error:
        return fail("search", error)
    result = _result(args, info, trajectories, gallery, timings, seconds)
    out = args.out or Path(f"{args.video.stem}.results.json")
    atomic_write_text(out, json.dumps(result, indent=2))
    if args.report is not None:
        items = {row["item_id"]: row for row in gallery.items}
        write_report(args.report, str(args.video), result, trajectories, items)
    if result["message"]:
        print(result["message"])
    for t in trajectories:
        best = ", ".join(f"{hit['product_id']} ({hit['score']:.3f})" for hit in t.results[:3])
        print(f"trajectory {t.trajectory_id} ({t.category or 'clothing'}, frames {t.frames[0]}-{t.frames[-1]}): {best}")
    print(f"results written to {out}" + (f", report to {args.report}" if args.report else ""))
    return 0
