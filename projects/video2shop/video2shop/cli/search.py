"""`video2shop index` and `video2shop search`: a shop catalog into a gallery, a video or photo into shop items.

    video2shop index --images DIR_OR_MANIFEST --checkpoint CKPT --out GALLERY [--detector DET_CKPT]
    video2shop search VIDEO_PHOTO_OR_FOLDER --gallery GALLERY --checkpoint CKPT
                      [--detector DET_CKPT|coco[:ARCH]|hog|none] [--topk 20] [--out results.json]
                      [--report report.html] [--debug] [pipeline.tracker.redetect_interval=3 ...]

A photo is searched as a video of one frame (pipeline/photo_search.py); a folder searches each video
and photo in it. Decoder log lines are hidden unless --debug; frames a header claims that do not
decode are one warning line.

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
import os
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
from video2shop.pipeline.catalog import IMAGE_SUFFIXES, list_catalog
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
from video2shop.pipeline.person_detectors import CocoPersonDetector, HogPersonDetector
from video2shop.pipeline.photo_search import VIDEO_SUFFIXES, find_photo_trajectories, is_photo, query_files
from video2shop.pipeline.shots import ShotSettings
from video2shop.pipeline.subjects import PeopleSettings
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import SearchTimings, Trajectory, find_trajectories, rank_products
from video2shop.pipeline.video_stream import VideoInfo
from video2shop.video.native_stderr import hidden_native_stderr, show_native_stderr
from video2shop.wording import counted, region_text, span_text


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
    parser = argparse.ArgumentParser(
        prog="video2shop search", description="Find the shop items worn in a video or a photo."
    )
    parser.add_argument(
        "video",
        type=Path,
        metavar="VIDEO",
        help=f"a video file, a photo ({', '.join(IMAGE_SUFFIXES)}) or a folder of them to search each",
    )
    parser.add_argument("--gallery", required=True, type=Path, help="a folder written by video2shop index")
    _add_model_options(
        parser,
        "the model the gallery was indexed with",
        "a clothing_detector checkpoint; coco (torchvision's COCO person detector in the torch cache; coco:ARCH "
        "picks which) or its file; hog (OpenCV's people detector); none (each shot, or photo, whole). "
        "Default: the best available",
        detector=str,
    )
    parser.add_argument("--topk", type=int, default=20)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results JSON (default: <video name>.results.json here); for a folder, the folder to write "
        "<file name>.results.json into (default: <folder name>.results)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="also write a self-contained HTML report (for a folder: a folder)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a pipeline settings file (see projects/video2shop/video2shop/configs/pipeline/defaults.yaml)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the decoders' own log lines (ffmpeg, decord, OpenCV); or MMF_DEBUG=1"
    )
    parser.add_argument("settings", nargs="*", help="pipeline overrides, e.g. pipeline.tracker.redetect_interval=3")
    return parser


@dataclass
class SearchSetup:
    """What every query of one command searches with: loaded once for a folder of queries."""

    settings: DictConfig
    trained: Any
    gallery: Gallery
    detector: ClothingDetector | CocoPersonDetector | HogPersonDetector | None  # None: each shot (photo) whole
    choice: DetectorChoice  # the detector used, and why
    shots: ShotSettings
    people: PeopleSettings | None  # the clothing regions cut from each person (None: not a person detector)


@dataclass
class SearchRun:
    """What one search found, and with what."""

    info: VideoInfo
    trajectories: list[Trajectory]
    gallery: Gallery
    detector: DetectorChoice  # the detector used, and why
    seconds: float  # the search once everything was loaded
    photo: bool = False  # the query was a still photo (one frame)


def _load_search(args: argparse.Namespace) -> SearchSetup:
    """Check the inputs and load the model, detector and gallery."""
    settings = load_pipeline_config(args.config, args.settings)
    device = _device(args.device)
    if not args.video.exists():
        raise UserError(f"VIDEO {args.video}: no such file; give the video file, photo or folder to search")
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
    people = people if choice.kind not in (CLOTHING, NONE) else None
    return SearchSetup(settings, trained, gallery, detector, choice, shots, people)


def _run_search(args: argparse.Namespace, timings: SearchTimings, setup: SearchSetup | None = None) -> SearchRun:
    """Find the video's (or photo's) trajectories and rank products (loading everything first unless given)."""
    setup = setup or _load_search(args)
    settings, trained = setup.settings, setup.trained
    if not args.video.is_file():
        raise UserError(f"VIDEO {args.video}: no such file; give the video file or photo to search")
    search = settings.pipeline.search
    photo = is_photo(args.video)
    start = time.perf_counter()
    if photo:
        info, trajectories = find_photo_trajectories(
            args.video, trained, setup.detector, tracker_config(settings), setup.people
        )
        timings.frames = 1
    else:
        info, trajectories = find_trajectories(
            str(args.video),
            trained,
            setup.detector,
            tracker_config(settings),
            int(search.frame_stride),
            int(search.crop_capacity),
            timings,
            settings.pipeline.trajectories.get("length"),
            setup.shots,
            setup.people,
        )
    begin = time.perf_counter()
    rank_products(trained, setup.gallery, trajectories, args.topk, int(search.shortlist_size))
    timings.score_s = time.perf_counter() - begin
    return SearchRun(info, trajectories, setup.gallery, setup.choice, time.perf_counter() - start, photo)


def _result(args: argparse.Namespace, run: SearchRun, timings: SearchTimings) -> dict[str, Any]:
    """What results.json holds (a photo: no fps or times, its one frame is frame 0)."""
    info, fps = run.info, run.info.fps

    def seconds(value: float) -> float | None:
        return None if run.photo else round(value, 3)

    return {
        "video": str(args.video),
        "media": "photo" if run.photo else "video",
        "fps": None if run.photo else fps,
        "frames_claimed": info.claimed_frames,
        "frames_decoded": timings.frames,
        "decoders": info.decoders,
        "decode_warning": info.shortfall,
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
                "time_span_s": None if run.photo else [seconds(t.frames[0] / fps), seconds(t.frames[-1] / fps)],
                "duration_s": seconds((t.frames[-1] - t.frames[0] + 1) / fps),
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


def _announce_detector(choice: DetectorChoice) -> None:
    """One line on stderr when the detector was chosen for the user: which, and why."""
    if choice.note and choice.kind != CLOTHING:
        print(f"video2shop search: detector: {choice.description} ({choice.note})", file=sys.stderr)


def _search_one(args: argparse.Namespace, setup: SearchSetup | None = None) -> int:
    """Search one video or photo: results JSON, the report when asked, a line per trajectory (and, when
    it loaded everything itself, the detector chosen)."""
    timings = SearchTimings()
    run = _run_search(args, timings, setup)
    result = _result(args, run, timings)
    out = args.out or Path(f"{args.video.stem}.results.json")
    atomic_write_text(out, json.dumps(result, indent=2))
    if args.report is not None:
        items = {row["item_id"]: row for row in run.gallery.items}
        write_report(args.report, str(args.video), result, run.trajectories, items)
    _warn("search", run.info.shortfall)
    if setup is None:
        _announce_detector(run.detector)
    if result["message"]:
        print(result["message"])
    for t in run.trajectories:
        best = ", ".join(f"{hit['product_id']} ({hit['score']:.3f})" for hit in t.results[:3])
        if run.photo:
            where = region_text(t.boxes[0], run.info.width, run.info.height)
        else:
            where = span_text(t.frames[0], t.frames[-1], run.info.fps)
        print(f"trajectory {t.trajectory_id} ({t.describe()}, {where}): {best}")
    found = counted(len(run.trajectories), "clothing trajectory")
    print(f"{found}; results written to {out}" + (f", report to {args.report}" if args.report else ""))
    return 0


def _search_folder(args: argparse.Namespace) -> int:
    """Search every video and photo in a folder (subfolders included) with one loaded model and gallery.

    Each file's results go to <out>/<its relative path>.results.json (and <report>/<its path>.html);
    a file that cannot be searched is one error line and the others go on; exit 2 when any failed.
    """
    folder = args.video
    queries = query_files(folder)
    if not queries:
        raise UserError(
            f"VIDEO {folder}: no videos or photos in this folder ({', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)})"
        )
    setup = _load_search(args)
    _announce_detector(setup.choice)
    out_dir = args.out or Path(f"{folder.name}.results")
    failed = 0
    for path in queries:
        name = path.relative_to(folder).as_posix()
        one = argparse.Namespace(**{**vars(args), "video": path, "out": out_dir / f"{name}.results.json"})
        one.report = args.report / f"{name}.html" if args.report is not None else None
        print(f"{name}:")
        try:
            _search_one(one, setup)
        except UserError as error:
            failed += 1
            fail("search", error)
    searched = counted(len(queries) - failed, "file")
    print(f"searched {searched} of {len(queries)} in {folder}; results in {out_dir}")
    return 2 if failed else 0


def search_main(argv: list[str]) -> int:
    args = _search_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.topk < 1:
        return fail("search", UserError(f"--topk {args.topk}: must be at least 1"))
    show_native_stderr(args.debug or os.environ.get("MMF_DEBUG", "") not in ("", "0", "false", "False"))
    with hidden_native_stderr():  # decoder threads may print between the reads that hide their lines
        try:
            apply_thread_policy()  # the framework's CPU threads (OMP_NUM_THREADS wins)
            return _search_folder(args) if args.video.is_dir() else _search_one(args)
        except UserError as error:
            return fail("search", error)
