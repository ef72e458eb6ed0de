"""Video search pipeline speed: decoding, detection and tracking frames/s, end to end s per minute of video.

    python scripts/benchmark.py pipeline [--checkpoint ASYMNET_CKPT] [--detector DETECTOR_CKPT]
                                         [--seconds 60] [--width 640 --height 360 --fps 25]

Default settings of `video2shop search` (redetect every 5th frame, every frame decoded and tracked)
on CPU. The test video is generated: two garment-coloured shapes moving over a cluttered
background for `--seconds`. Without checkpoints, untrained models of the default configs are used
(same architecture, same compute; an untrained detector's score threshold is lowered and its
best two boxes per frame kept, so that it still hands a realistic number of boxes to the tracker). The gallery is
1,000 features scored exactly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from benchmarks.common import print_result
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, save_config
from video2shop.datasets.synthetic import write_mp4
from video2shop.pipeline.config import load_pipeline_config, tracker_config
from video2shop.pipeline.detection import ClothingDetector
from video2shop.pipeline.tracking import MultiObjectTracker
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import SearchTimings, find_trajectories, rank_products
from video2shop.pipeline.video_stream import stream_frames

REPO = Path(__file__).resolve().parents[2]


def make_video(path: Path, seconds: float, width: int, height: int, fps: float) -> int:
    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    frames = []
    count = int(seconds * fps)
    for i in range(count):
        frame = background.copy()
        t = i / max(1, count - 1)
        x1, y1 = int(0.1 * width + 0.5 * width * t), int(0.3 * height)
        frame[y1 : y1 + height // 3, x1 : x1 + width // 8] = (200, 30, 40)
        x2 = int(0.8 * width - 0.5 * width * t)
        frame[int(0.2 * height) : int(0.2 * height) + height // 2, x2 : x2 + width // 10] = (30, 60, 190)
        frames.append(frame)
    write_mp4(path, frames, fps=fps)
    return count


def untrained(model_name: str, config: str, folder: Path) -> Path:
    """An untrained model of a project config, saved as an mmf_run save dir would hold it."""
    run_config = build_config(
        [
            f"config={REPO / 'projects/video2shop/configs' / config}",
            f"model={model_name}",
            "dataset=synthetic_video2shop",
            f"env.save_dir={folder}",
            f"env.data_dir={folder}",
        ]
    )
    model = build_model(run_config)
    save_config(run_config, folder)
    torch.save({"state_dict": model.state_dict()}, folder / "current.ckpt")
    return folder / "current.ckpt"


def load_models(args: argparse.Namespace, work: Path) -> tuple[Any, ClothingDetector, Any]:
    """The retrieval model, the detector and the pipeline settings (untrained models of the configs by default)."""
    checkpoint = args.checkpoint or untrained("asymnet", "asymnet.yaml", work / "asymnet")
    detector_checkpoint = args.detector or untrained("clothing_detector", "detector.yaml", work / "detector")
    detector = ClothingDetector(detector_checkpoint, device="cpu", score_threshold=None if args.detector else 0.0)
    if not args.detector:
        detector.detector.roi_heads.detections_per_img = 2
    settings = load_pipeline_config(None, [] if args.detector else ["pipeline.tracker.min_detection_score=0.0"])
    return load_trained_model(checkpoint), detector, settings


def stage_speeds(video: Path, frames: int, detector: ClothingDetector, settings: Any) -> dict[str, float]:
    """Frames per second of decoding, detection (every redetect_interval-th frame) and tracking, one at a time."""
    start = time.perf_counter()
    decoded = [frame for _, frame in stream_frames(video, frames)]
    decode_fps = len(decoded) / (time.perf_counter() - start)
    print(f"decoding:  {decode_fps:8.1f} frames/s (decord, {len(decoded)} frames)")

    interval = int(settings.pipeline.tracker.redetect_interval)
    sample = decoded[::interval]
    start = time.perf_counter()
    detections = [detector.detect([frame])[0] for frame in sample]
    detect_fps = len(sample) / (time.perf_counter() - start)
    print(f"detection: {detect_fps:8.1f} frames/s (Faster R-CNN, one frame at a time, {len(sample)} frames)")

    tracker = MultiObjectTracker(tracker_config(settings))
    start = time.perf_counter()
    for index, frame in enumerate(decoded):
        tracker.update(index, frame, detections[index // interval] if index % interval == 0 else None)
    tracks = tracker.finish()
    track_fps = len(decoded) / (time.perf_counter() - start)
    print(f"tracking:  {track_fps:8.1f} frames/s (KCF, {len(tracks)} tracks)")
    return {
        "decode_fps": round(decode_fps, 1),
        "detect_fps": round(detect_fps, 2),
        "track_fps": round(track_fps, 1),
        "tracks": len(tracks),
    }


def end_to_end(
    video: Path, trained: Any, detector: ClothingDetector, settings: Any, gallery_size: int, video_seconds: float
) -> dict[str, float]:
    """`video2shop search`'s path over the whole video against `gallery_size` random features, scored exactly."""
    features = torch.randn(gallery_size, trained.model.ifn.feature_dim).clamp_min(0)
    ids = [f"g{i}" for i in range(gallery_size)]
    gallery = SimpleNamespace(features=features, ids=ids, product_ids=ids, shortlist=lambda *_: None)
    timings = SearchTimings()
    start = time.perf_counter()
    _, trajectories = find_trajectories(str(video), trained, detector, tracker_config(settings), timings=timings)
    begin = time.perf_counter()
    rank_products(trained, gallery, trajectories, topk=20)
    timings.score_s = time.perf_counter() - begin
    total = time.perf_counter() - start
    per_minute = total / (video_seconds / 60.0)
    print(
        f"end to end: {total:.1f} s for {video_seconds:.0f} s of video = {per_minute:.1f} s per minute of video "
        f"(decode {timings.decode_s:.1f} s, detect {timings.detect_s:.1f} s, track {timings.track_s:.1f} s, "
        f"score {timings.score_s:.2f} s; {len(trajectories)} trajectories)"
    )
    return {
        "trajectories": len(trajectories),
        "end_to_end_s": round(total, 1),
        "seconds_per_video_minute": round(per_minute, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py pipeline")
    parser.add_argument("--checkpoint", type=Path, default=None, help="an asymnet checkpoint (default: untrained)")
    parser.add_argument(
        "--detector", type=Path, default=None, help="a clothing_detector checkpoint (default: untrained)"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--gallery", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="pipeline_bench_"))
    video = work / "clip.mp4"
    frames = make_video(video, args.seconds, args.width, args.height, args.fps)
    print(f"video: {frames} frames, {args.width}x{args.height} at {args.fps} fps ({args.seconds:.0f} s)")
    trained, detector, settings = load_models(args, work)
    speeds = stage_speeds(video, frames, detector, settings)
    whole = end_to_end(video, trained, detector, settings, args.gallery, frames / args.fps)
    print_result(
        {
            "benchmark": "pipeline",
            "frames": frames,
            "resolution": f"{args.width}x{args.height}",
            "fps": args.fps,
            "weights": "trained" if args.detector and args.checkpoint else "untrained",
            **speeds,
            **whole,
        }
    )
    return 0
