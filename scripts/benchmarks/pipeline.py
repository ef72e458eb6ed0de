"""Video search pipeline speed and memory: decoding, detection and tracking frames/s, end to end s per minute
of video, and the peak RSS of a search as the video gets longer.

    python scripts/benchmark.py pipeline [--checkpoint ASYMNET_CKPT] [--detector DETECTOR_CKPT]
                                         [--seconds 60] [--width 640 --height 360 --fps 25]
                                         [--memory-seconds 60 600] [--memory-size 1920x1080 --memory-fps 5]

Default settings of `video2shop search` (redetect every 5th frame, every frame decoded and tracked)
on CPU. The test video is generated: two garment-coloured shapes moving over a cluttered
background for `--seconds`. Without checkpoints, untrained models of the default configs are used
(same architecture, same compute; an untrained detector's score threshold is lowered and its
best two boxes per frame kept, so that it still hands a realistic number of boxes to the tracker). The gallery is
1,000 features scored exactly.

Memory: the same search, each in a fresh child process so the benchmark's own memory never counts, over
generated `--memory-size` videos of each `--memory-seconds` length (default 1 and 10 minutes of 1080p at 5 fps:
the length is what matters, and 5 fps keeps the 10-minute one at 3,000 frames), reporting the child's peak
resident set (VmHWM), beside a child that only loads the models and gallery. Frames are streamed, never held,
so the peak should not grow with the video's length. Every stage streams its frames here too.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from benchmarks.common import print_result
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, save_config
from mmf_ext.utils.errors import UserError
from video2shop.datasets.synthetic import write_mp4
from video2shop.pipeline.config import load_pipeline_config, tracker_config
from video2shop.pipeline.detection import ClothingDetector
from video2shop.pipeline.tracking import MultiObjectTracker
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import SearchTimings, find_trajectories, rank_products
from video2shop.pipeline.video_stream import stream_frames
from video2shop.wording import counted

REPO = Path(__file__).resolve().parents[2]


def video_frames(seconds: float, width: int, height: int, fps: float) -> Iterator[np.ndarray]:
    """The test video's RGB frames, made one at a time (a long 1080p video never sits in memory)."""
    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    background = np.pad(background, ((0, height - background.shape[0]), (0, width - background.shape[1]), (0, 0)))
    count = int(seconds * fps)
    for i in range(count):
        frame = background.copy()
        t = i / max(1, count - 1)
        x1, y1 = int(0.1 * width + 0.5 * width * t), int(0.3 * height)
        frame[y1 : y1 + height // 3, x1 : x1 + width // 8] = (200, 30, 40)
        x2 = int(0.8 * width - 0.5 * width * t)
        frame[int(0.2 * height) : int(0.2 * height) + height // 2, x2 : x2 + width // 10] = (30, 60, 190)
        yield frame


def make_video(path: Path, seconds: float, width: int, height: int, fps: float) -> int:
    """Write the test video (streamed to the project's mp4 writer); returns its frame count."""
    write_mp4(path, video_frames(seconds, width, height, fps), fps=fps)
    return int(seconds * fps)


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


def model_files(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """The retrieval and detector checkpoints: the given ones, else untrained models of the default configs."""
    checkpoint = args.checkpoint or untrained("asymnet", "asymnet.yaml", work / "asymnet")
    detector_checkpoint = args.detector or untrained("clothing_detector", "detector.yaml", work / "detector")
    return checkpoint, detector_checkpoint


def load_models(
    checkpoint: Path, detector_checkpoint: Path, trained_detector: bool
) -> tuple[Any, ClothingDetector, Any]:
    """The retrieval model, the detector and the pipeline settings (an untrained detector keeps its best two boxes)."""
    detector = ClothingDetector(detector_checkpoint, device="cpu", score_threshold=None if trained_detector else 0.0)
    if not trained_detector:
        detector.detector.roi_heads.detections_per_img = 2
    settings = load_pipeline_config(None, [] if trained_detector else ["pipeline.tracker.min_detection_score=0.0"])
    return load_trained_model(checkpoint), detector, settings


def random_gallery(trained: Any, size: int) -> SimpleNamespace:
    """`size` random gallery features in the shape `rank_products` reads, scored exactly (no shortlist)."""
    features = torch.randn(size, trained.model.ifn.feature_dim).clamp_min(0)
    ids = [f"g{i}" for i in range(size)]
    return SimpleNamespace(features=features, ids=ids, product_ids=ids, shortlist=lambda *_: None)


def stage_speeds(video: Path, frames: int, detector: ClothingDetector, settings: Any) -> dict[str, float]:
    """Frames per second of decoding, detection (every redetect_interval-th frame) and tracking, one at a time.

    Each stage streams the video again and times only its own calls, so no frames are held.
    """
    start = time.perf_counter()
    stream = stream_frames(video, frames)
    decoded = sum(1 for _ in stream)
    decode_fps = decoded / (time.perf_counter() - start)
    print(f"decoding:  {decode_fps:8.1f} frames/s ({' then '.join(stream.decoders)}, {decoded} frames)")

    interval = int(settings.pipeline.tracker.redetect_interval)
    detections, seconds = {}, 0.0
    for index, frame in stream_frames(video, frames, stride=interval):
        start = time.perf_counter()
        detections[index] = detector.detect([frame])[0]
        seconds += time.perf_counter() - start
    detect_fps = len(detections) / seconds
    print(f"detection: {detect_fps:8.1f} frames/s (Faster R-CNN, one frame at a time, {len(detections)} frames)")

    tracker = MultiObjectTracker(tracker_config(settings))
    seconds = 0.0
    for index, frame in stream_frames(video, frames):
        start = time.perf_counter()
        tracker.update(index, frame, detections.get(index))
        seconds += time.perf_counter() - start
    start = time.perf_counter()
    tracks = tracker.finish()
    track_fps = decoded / (seconds + time.perf_counter() - start)
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
    gallery = random_gallery(trained, gallery_size)
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


def _memory_status() -> dict[str, float]:
    """This process's resident set now (VmRSS) and at its peak (VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS count from the current RSS (Linux 4.0+: clear_refs 5); False where refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _search_memory_child(video: Path, files: tuple[Path, Path, bool], gallery_size: int, answer: Any) -> None:
    """In the child: load the models and gallery, search `video`, and send back the RSS figures in MB."""
    torch.manual_seed(0)
    trained, detector, settings = load_models(*files)
    gallery = random_gallery(trained, gallery_size)
    gc.collect()
    loaded = _memory_status()
    reset = _reset_peak()
    _, trajectories = find_trajectories(str(video), trained, detector, tracker_config(settings))
    rank_products(trained, gallery, trajectories, topk=20)
    searched = _memory_status()
    answer.put(
        {
            "loaded_rss_mb": round(loaded["VmRSS"], 1),
            "search_peak_rss_mb": round(searched["VmHWM"], 1) if reset else None,
            "peak_rss_mb": round(max(loaded["VmHWM"], searched["VmHWM"]), 1),
            "trajectories": len(trajectories),
        }
    )


def search_memory(video: Path, files: tuple[Path, Path, bool], gallery_size: int) -> dict[str, Any]:
    """RSS of a search of `video` in a fresh child process (spawned: nothing of this process counts).

    `peak_rss_mb` is the child's peak over its whole run (loading included: what a user's process
    reaches), `search_peak_rss_mb` its peak while searching (the count restarted once the models and
    gallery were loaded), `loaded_rss_mb` its RSS just before the search.
    """
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    child = context.Process(target=_search_memory_child, args=(video, files, gallery_size, answer))
    child.start()
    while True:
        try:
            result = answer.get(timeout=5)
            break
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the memory child exited with status {child.exitcode} before answering") from None
    child.join()
    return result


def memory(
    work: Path, lengths: list[float], width: int, height: int, fps: float, files: tuple[Path, Path, bool], gallery: int
) -> dict[str, Any]:
    """RSS searching a generated video of each length (seconds), each in its own child; {} without lengths."""
    figures: dict[str, Any] = {"video": f"{width}x{height} at {fps:g} fps"}
    for seconds in lengths:
        video = work / f"memory_{seconds:g}s.mp4"
        frames = make_video(video, seconds, width, height, fps)
        found = search_memory(video, files, gallery)
        video.unlink()
        figures[f"{seconds:g}s"] = {"frames": frames, **found}
        during = found["search_peak_rss_mb"]
        while_searching = f"{during:,.0f} MB" if during is not None else "not measured (clear_refs refused)"
        print(
            f"memory: {seconds:g} s of {width}x{height} at {fps:g} fps ({frames} frames, "
            f"{counted(found['trajectories'], 'trajectory')}): peak RSS {found['peak_rss_mb']:,.0f} MB; "
            f"while searching {while_searching} (loaded: {found['loaded_rss_mb']:,.0f} MB)"
        )
    return {"memory": figures} if lengths else {}


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) < 16 or int(height) < 16:
        raise UserError(f"--memory-size {text}: give WIDTHxHEIGHT, each at least 16 (e.g. 1920x1080)")
    return int(width), int(height)


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
    parser.add_argument(
        "--memory-seconds",
        type=float,
        nargs="*",
        default=[60.0, 600.0],
        help="lengths of the videos whose search's peak RSS is measured (none: skip the memory column)",
    )
    parser.add_argument("--memory-size", default="1920x1080", help="WIDTHxHEIGHT of those videos")
    parser.add_argument("--memory-fps", type=float, default=5.0, help="their frame rate")
    args = parser.parse_args(argv)
    memory_size = _size(args.memory_size)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="pipeline_bench_"))
    video = work / "clip.mp4"
    frames = make_video(video, args.seconds, args.width, args.height, args.fps)
    print(f"video: {frames} frames, {args.width}x{args.height} at {args.fps} fps ({args.seconds:.0f} s)")
    checkpoint, detector_checkpoint = model_files(args, work)
    files = (checkpoint, detector_checkpoint, args.detector is not None)
    trained, detector, settings = load_models(*files)
    speeds = stage_speeds(video, frames, detector, settings)
    whole = end_to_end(video, trained, detector, settings, args.gallery, frames / args.fps)
    peaks = memory(work, args.memory_seconds, *memory_size, args.memory_fps, files, args.gallery)
    print_result(
        {
            "benchmark": "pipeline",
            "frames": frames,
            "resolution": f"{args.width}x{args.height}",
            "fps": args.fps,
            "weights": "trained" if args.detector and args.checkpoint else "untrained",
            **speeds,
            **whole,
            **peaks,
        }
    )
    return 0
