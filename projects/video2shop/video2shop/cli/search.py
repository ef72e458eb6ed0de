"""`video2shop index` and `video2shop search`: a shop catalog into a gallery, a video into shop items.

    video2shop index --images DIR_OR_MANIFEST --checkpoint CKPT --out GALLERY [--detector DET_CKPT]
    video2shop search VIDEO --gallery GALLERY --checkpoint CKPT [--detector DET_CKPT|coco[:ARCH]|hog|none]
                      [--topk 20] [--out results.json] [--report report.html] [pipeline.tracker.redetect_interval=3 ...]

User errors print one line naming the argument and exit 2: a missing file, a checkpoint of the
wrong kind of model (a detector as --checkpoint, a retrieval model as --detector), one saved before
any training update (unless --allow-untrained), a gallery indexed with another checkpoint. A video
with no clothing found is an empty result, exit 0. Which detector search uses, given or not, is
pipeline/detector_choice.py's; people become clothing-region trajectories (pipeline/subjects.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write_text
from mmf_ext.utils.threads import apply_thread_policy
from video2shop.cli.main import fail
from video2shop.pipeline.catalog import list_catalog
from video2shop.pipeline.checkpoints import (
    TRAIN_DETECTOR,
    TRAIN_RETRIEVAL,
    CheckpointFile,
    read_checkpoint,
    require_detector_model,
    require_retrieval_model,
    require_trained,
)
from video2shop.pipeline.config import (
    load_pipeline_config,
    people_settings,
    person_detector_settings,
    shot_settings,
    tracker_config,
)
from video2shop.pipeline.detection import ClothingDetector
from video2shop.pipeline.detector_choice import CLOTHING, NONE, DetectorChoice, build_person_detector, choose_detector
from video2shop.pipeline.gallery import Gallery, build_gallery
from video2shop.pipeline.html_report import write_report
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import SearchTimings, Trajectory, find_trajectories, rank_products
from video2shop.pipeline.video_stream import VideoInfo
from video2shop.wording import counted, span_text


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return name


def _warn(program: str, message: str | None) -> None:
    if message:
        print(f"video2shop {program}: warning: {message}", file=sys.stderr)


def _retrieval_checkpoint(path: Path, allow_untrained: bool, program: str) -> CheckpointFile:
    """--checkpoint read and checked: a file, a model search can run, trained (or --allow-untrained)."""
    missing = f"no such file; train one with {TRAIN_RETRIEVAL} (it writes <save_dir>/current.ckpt; see README)"
    checkpoint = read_checkpoint(path, f"--checkpoint {path}", missing)
    require_retrieval_model(checkpoint)
    _warn(program, require_trained(checkpoint, allow_untrained))
    return checkpoint


def _detector(
    path: Path | None, device: str, allow_untrained: bool, program: str, settings: DictConfig | None = None
) -> ClothingDetector | None:
    """--detector read, checked like --checkpoint, and built with the pipeline.detector settings."""
    if path is None:
        return None
    missing = f"no such file; train one with {TRAIN_DETECTOR} (see README) or leave --detector out"
    checkpoint = read_checkpoint(path, f"--detector {path}", missing)
    options = settings.pipeline.detector if settings is not None else OmegaConf.create({})
    if options.get("config") is None:  # else ClothingDetector checks the config given for it
        require_detector_model(checkpoint)
    _warn(program, require_trained(checkpoint, allow_untrained))
    return ClothingDetector(
        checkpoint,
        config=options.get("config"),
        device=_device(str(options.device)) if options.get("device") else device,
        batch_size=int(options.get("batch_size") or 8),
        score_threshold=options.get("score_threshold"),
        frame_short_side=options.get("frame_short_side"),
    )


def _add_model_options(
    parser: argparse.ArgumentParser, checkpoint_help: str, detector_help: str, detector: type = Path
) -> None:
    parser.add_argument(
        "--checkpoint", required=True, type=Path, metavar="CKPT", help=f"{checkpoint_help} (mmf_run's *.ckpt)"
    )
    metavar = "DET_CKPT" if detector is Path else "DETECTOR"
    parser.add_argument("--detector", type=detector, default=None, metavar=metavar, help=detector_help)
    parser.add_argument(
        "--allow-untrained",
        action="store_true",
        help="use a checkpoint saved before any training update (a warning instead of an error)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")


def index_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="video2shop index", description="Build a searchable gallery from shop images."
    )
    parser.add_argument(
        "--images", required=True, type=Path, help="a folder of images or a video2shop manifest (<split>.json)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="the gallery folder to write (replaced only when finished)"
    )
    _add_model_options(
        parser,
        "the trained retrieval model",
        "a clothing_detector checkpoint: crop images without a shop box to its best box",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--shortlist-min", type=int, default=50_000, help="save a shortlist index from this many images up"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        apply_thread_policy()  # the framework's CPU threads (OMP_NUM_THREADS wins), logged in one line
        device = _device(args.device)
        items = list_catalog(args.images, f"--images {args.images}")
        checkpoint = _retrieval_checkpoint(args.checkpoint, args.allow_untrained, "index")
        detector = _detector(args.detector, device, args.allow_untrained, "index")
        trained = load_trained_model(checkpoint, device)
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
                source=args.images,
            )
    except UserError as error:
        return fail("index", error)
    print(f"indexed {counted(len(items), 'shop image')} into {out} in {time.perf_counter() - start:.1f}s")
    return 0


def _search_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video2shop search", description="Find the shop items worn in a video.")
    parser.add_argument("video", type=Path, metavar="VIDEO", help="the video file to search")
    parser.add_argument("--gallery", required=True, type=Path, help="a folder written by video2shop index")
    _add_model_options(
        parser,
        "the model the gallery was indexed with",
        "a clothing_detector checkpoint; coco (torchvision's COCO person detector in the torch cache; coco:ARCH "
        "picks which) or its file; hog (OpenCV's people detector); none (each shot whole). Default: the best available",
        detector=str,
    )
    parser.add_argument("--topk", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: <video name>.results.json here)")
    parser.add_argument("--report", type=Path, default=None, help="also write a self-contained HTML report")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a pipeline settings file (see projects/video2shop/video2shop/configs/pipeline/defaults.yaml)",
    )
    parser.add_argument("settings", nargs="*", help="pipeline overrides, e.g. pipeline.tracker.redetect_interval=3")
    return parser


@dataclass
class SearchRun:
    """What one search found, and with what."""

    info: VideoInfo
    trajectories: list[Trajectory]
    gallery: Gallery
    detector: DetectorChoice  # the detector used, and why
    seconds: float  # the search once everything was loaded


def _run_search(args: argparse.Namespace, timings: SearchTimings) -> SearchRun:
    """Check the inputs, load the model, detector and gallery, find the video's trajectories and rank products."""
    settings = load_pipeline_config(args.config, args.settings)
    device = _device(args.device)
    if not args.video.is_file():
        raise UserError(f"VIDEO {args.video}: no such file; give the video file to search")
    checkpoint = _retrieval_checkpoint(args.checkpoint, args.allow_untrained, "search")
    if not args.gallery.exists() and not args.gallery.with_name(args.gallery.name + ".partial").exists():
        raise UserError(
            f"--gallery {args.gallery}: no such folder; build it with "
            f"video2shop index --images DIR_OR_MANIFEST --checkpoint {args.checkpoint} --out {args.gallery}"
        )
    persons, people, shots = person_detector_settings(settings), people_settings(settings), shot_settings(settings)
    choice = choose_detector(args.detector, settings.pipeline.detector.get("checkpoint"), persons)
    detector = None
    if choice.kind == CLOTHING:
        detector = _detector(choice.path, device, args.allow_untrained, "search", settings)
    elif choice.kind != NONE:
        detector = build_person_detector(choice, persons, device)
    trained = load_trained_model(checkpoint, device)
    gallery = Gallery(args.gallery, checkpoint, f"--gallery {args.gallery}")
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
        shots,
        people if choice.kind not in (CLOTHING, NONE) else None,
    )
    begin = time.perf_counter()
    rank_products(trained, gallery, trajectories, args.topk, int(search.shortlist_size))
    timings.score_s = time.perf_counter() - begin
    return SearchRun(info, trajectories, gallery, choice, time.perf_counter() - start)


def _result(args: argparse.Namespace, run: SearchRun, timings: SearchTimings) -> dict[str, Any]:
    """What results.json holds."""
    info, fps = run.info, run.info.fps
    return {
        "video": str(args.video),
        "fps": fps,
        "frames_claimed": info.claimed_frames,
        "frames_decoded": timings.frames,
        "width": info.width,
        "height": info.height,
        "gallery": str(args.gallery),
        "gallery_items": len(run.gallery.ids),
        "checkpoint": str(args.checkpoint),
        "detector": run.detector.label,
        "detector_kind": run.detector.kind,
        "detector_note": run.detector.note,
        "seconds": round(run.seconds, 3),
        "message": None if run.trajectories else _nothing_found(args.video, run.detector.kind),
        "trajectories": [
            {
                "id": t.trajectory_id,
                "kind": t.kind,
                "shot": t.shot,
                "person": t.person,
                "region": t.region,
                "frame_span": [t.frames[0], t.frames[-1]],
                "time_span_s": [round(t.frames[0] / fps, 3), round(t.frames[-1] / fps, 3)],
                "duration_s": round((t.frames[-1] - t.frames[0] + 1) / fps, 3),
                "category": t.category,
                "detection_score": round(t.detection_score, 4),
                "boxes": [[f, *[round(v, 1) for v in b]] for f, b in zip(t.frames, t.boxes)],
                "topk": t.results,
            }
            for t in run.trajectories
        ],
    }


def _nothing_found(video: Path, kind: str) -> str:
    if kind == CLOTHING:
        return f"no clothing found in {video}"
    if kind == NONE:
        return (
            f"no shot found in {video}: every frame is empty (pipeline.shots.empty_std) or in a shot shorter than "
            "pipeline.shots.min_frames"
        )
    return f"no person found in {video}"


def search_main(argv: list[str]) -> int:
    args = _search_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.topk < 1:
        return fail("search", UserError(f"--topk {args.topk}: must be at least 1"))
    timings = SearchTimings()
    try:
        apply_thread_policy()  # the framework's CPU threads (OMP_NUM_THREADS wins)
        run = _run_search(args, timings)
    except UserError as error:
        return fail("search", error)
    result = _result(args, run, timings)
    out = args.out or Path(f"{args.video.stem}.results.json")
    atomic_write_text(out, json.dumps(result, indent=2))
    if args.report is not None:
        items = {row["item_id"]: row for row in run.gallery.items}
        write_report(args.report, str(args.video), result, run.trajectories, items)
    if run.detector.note and run.detector.kind != CLOTHING:  # chosen for the user: say which, and why
        print(f"video2shop search: detector: {run.detector.description} ({run.detector.note})", file=sys.stderr)
    if result["message"]:
        print(result["message"])
    for t in run.trajectories:
        best = ", ".join(f"{hit['product_id']} ({hit['score']:.3f})" for hit in t.results[:3])
        span = span_text(t.frames[0], t.frames[-1], run.info.fps)
        print(f"trajectory {t.trajectory_id} ({t.describe()}, {span}): {best}")
    found = counted(len(run.trajectories), "clothing trajectory")
    print(f"{found}; results written to {out}" + (f", report to {args.report}" if args.report else ""))
    return 0
